//! [`Chrome`]: what every page of a logged-in user shows around its content — the menu
//! (the superadmin's entries only for a superadmin), who is logged in, the logout form
//! with the session's CSRF token, and a notice after a change.

use crate::session::Session;

/// One menu entry: its path and its label.
pub struct MenuItem {
    pub path: &'static str,
    pub label: &'static str,
    /// Only a superadmin sees it.
    pub superadmin: bool,
}

/// The menu, in the seeds' order.
pub const MENU: &[MenuItem] = &[
    MenuItem { path: "/", label: "Dashboard", superadmin: false },
    MenuItem { path: "/accounts", label: "Accounts", superadmin: false },
    MenuItem { path: "/identities", label: "Identities", superadmin: false },
    MenuItem { path: "/quarantine", label: "Quarantine", superadmin: false },
    MenuItem { path: "/log", label: "Log search", superadmin: false },
    MenuItem { path: "/archive", label: "Archive", superadmin: false },
    MenuItem { path: "/domains", label: "Domains", superadmin: false },
    MenuItem { path: "/queue", label: "Queue", superadmin: false },
    MenuItem { path: "/admin-users", label: "Admin users", superadmin: true },
    MenuItem { path: "/tokens", label: "API tokens", superadmin: true },
];

pub struct Chrome {
    pub user: String,
    /// "superadmin" or "domain admin of a.example, b.example".
    pub role: String,
    pub superadmin: bool,
    pub csrf: String,
    /// The menu entry this page belongs to.
    pub active: &'static str,
    /// A notice after a change ("Saved."), shown once.
    pub notice: Option<String>,
}

impl Chrome {
    pub fn new(session: &Session, active: &'static str) -> Chrome {
        let superadmin = session.caller.is_superadmin();
        let role = if superadmin {
            "superadmin".to_string()
        } else {
            format!("domain admin of {}", session.user.domains.join(", "))
        };
        Chrome { user: session.user.name.clone(), role, superadmin, csrf: session.csrf.clone(), active, notice: None }
    }

    /// Adds the notice a redirect asked for (`?done=...`), from a fixed list: the query
    /// string never puts text of its own on the page.
    pub fn with_notice(mut self, done: Option<&str>) -> Chrome {
        self.notice = done.and_then(notice).map(str::to_string);
        self
    }

    pub fn menu(&self) -> Vec<&'static MenuItem> {
        MENU.iter().filter(|m| self.superadmin || !m.superadmin).collect()
    }
}

/// The notices a redirect may ask for.
fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "Saved.",
        "created" => "Created.",
        "deleted" => "Deleted.",
        "locked" => "Locked.",
        "unlocked" => "Unlocked.",
        "released" => "Released.",
        "requested" => "Release requested.",
        "confirmed" => "Confirmed as spam.",
        "retried" => "Queued for a new attempt.",
        "held" => "Held.",
        "password" => "Password changed.",
        "rotated" => "Rotated: the new key signs from now on.",
        _ => return None,
    })
}
