//! Web panel logins: a user name and password become a session ([`login`]), a session
//! secret from a cookie becomes a [`PanelSession`] with its [`Caller`] ([`session`]), and
//! [`logout`] ends it. The first superadmin is made on first start ([`first_superadmin`]).
//!
//! In: the panel's user store, its session rules (idle time, lifetime, from `[panel]`),
//! the client's address. Out: sessions whose secret is shown once, to the browser; the
//! store keeps its SHA-256 only.
//!
//! Defends against: password guessing (after [`MAX_FAILURES`] failures within
//! [`FAILURE_WINDOW`] from one client network or for one user name, every login from it or
//! for it is refused for [`BLOCK_TIME`], right password or not; the throttle's memory is
//! bounded), telling users apart (an unknown name costs the same argon2 work as a wrong
//! password and gets the same answer), sessions outliving their idle time, their lifetime,
//! a change of their user or its deletion, and cross-site requests (each session has its
//! own CSRF token, compared in constant time by [`PanelSession::csrf_matches`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postern_core::event::now_ms;
use postern_core::tenancy::{AdminUser, Role};
use postern_store::{AdminUserStore, NewAdminSession, NewAdminUser, Scope};

use crate::token_secret::secret_hash;
use crate::{Caller, ErrorKind, OpError, Ops, Result, blocking};

/// Failed logins allowed within [`FAILURE_WINDOW`] before a block.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const BLOCK_TIME: Duration = Duration::from_secs(15 * 60);
/// Client networks and names the throttle remembers at most.
const THROTTLE_ENTRIES: usize = 10_000;
/// Prefix of session secrets (cookies), as `pst_` is of API tokens.
const SESSION_PREFIX: &str = "pss_";
/// The longest user name and password a login reads.
const LONGEST_NAME: usize = 64;
const LONGEST_PASSWORD: usize = 1024;

/// What the panel's logins need: the store, the session rules and the throttle.
pub struct PanelAuth {
    pub users: Arc<dyn AdminUserStore>,
    rules: Mutex<SessionRules>,
    throttle: LoginThrottle,
}

/// How long sessions last (from `[panel]`; replaced on reload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRules {
    pub idle: Duration,
    pub lifetime: Duration,
}

impl PanelAuth {
    pub fn new(users: Arc<dyn AdminUserStore>, rules: SessionRules) -> PanelAuth {
        PanelAuth { users, rules: Mutex::new(rules), throttle: LoginThrottle::default() }
    }

    /// New rules for every session's next request (a reload).
    pub fn set_rules(&self, rules: SessionRules) {
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    pub fn rules(&self) -> SessionRules {
        *self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A logged-in user: who it is as an operation's [`Caller`], and its form token.
#[derive(Debug, Clone)]
pub struct PanelSession {
    pub caller: Caller,
    pub user: AdminUser,
    /// Sent in every form as `csrf`; a post without it is refused.
    pub csrf: String,
    pub expires_at_ms: i64,
}

impl PanelSession {
    /// Whether a form's token is this session's, in constant time.
    pub fn csrf_matches(&self, given: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A new session: the secret goes to the browser (a cookie) and nowhere else.
pub struct LoggedIn {
    pub secret: String,
    pub session: PanelSession,
}

fn auth(ops: &Ops) -> Result<&Arc<PanelAuth>> {
    ops.panel.as_ref().ok_or_else(|| OpError::unavailable("the web panel's logins are not available"))
}

/// The caller a panel user is. `token_id` is 0: no API token stands behind it.
pub fn caller_of(user: &AdminUser) -> Caller {
    let scope = match user.role {
        Role::Superadmin => Scope::All,
        Role::DomainAdmin => Scope::Domains(user.domains.clone()),
    };
    Caller { token_id: 0, name: user.name.clone(), role: user.role, scope }
}

/// Checks a user name and password and opens a session. Wrong name and wrong password get
/// the same [`ErrorKind::Unauthenticated`]; a throttled client or name gets
/// [`ErrorKind::Throttled`] without the password being checked.
pub async fn login(ops: &Ops, name: &str, password: &str, client: IpAddr) -> Result<LoggedIn> {
    let auth = Arc::clone(auth(ops)?);
    let name = name.trim().to_string();
    if let Some(wait) = auth.throttle.blocked(client, &name, Instant::now()) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return Err(OpError::new(
            ErrorKind::Throttled,
            format!("too many failed logins; try again in {minutes} minute{}", if minutes == 1 { "" } else { "s" }),
        ));
    }
    let wrong = || OpError::new(ErrorKind::Unauthenticated, "wrong user name or password");
    if name.is_empty() || name.len() > LONGEST_NAME || password.is_empty() || password.len() > LONGEST_PASSWORD {
        auth.throttle.failed(client, &name, Instant::now());
        return Err(wrong());
    }
    let users = Arc::clone(&auth.users);
    let lookup = name.clone();
    let found = blocking(move || users.admin_user_by_name(&lookup)).await??;
    let password = password.as_bytes().to_vec();
    let user = blocking(move || match found {
        Some((user, hash)) if postern_policy::password::verify(&hash, &password) => Some(user),
        Some(_) => None,
        None => {
            postern_policy::password::verify_nothing(&password);
            None
        }
    })
    .await?;
    let Some(user) = user else {
        auth.throttle.failed(client, &name, Instant::now());
        tracing::warn!(user = %name, client = %client, "web panel login failed");
        return Err(wrong());
    };
    auth.throttle.succeeded(&name);
    open_session(&auth, user).await
}

async fn open_session(auth: &Arc<PanelAuth>, user: AdminUser) -> Result<LoggedIn> {
    let secret = random_hex().map(|hex| format!("{SESSION_PREFIX}{hex}")).map_err(OpError::internal)?;
    let csrf = random_hex().map_err(OpError::internal)?;
    let now = now_ms();
    let lifetime = i64::try_from(auth.rules().lifetime.as_millis()).unwrap_or(i64::MAX);
    let new = NewAdminSession {
        secret_hash: secret_hash(&secret),
        user_id: user.id,
        csrf: csrf.clone(),
        created_at_ms: now,
        expires_at_ms: now.saturating_add(lifetime),
    };
    let users = Arc::clone(&auth.users);
    let id = user.id;
    let expires_at_ms = new.expires_at_ms;
    blocking(move || {
        users.create_admin_session(&new)?;
        users.admin_user_logged_in(id, now)
    })
    .await??;
    tracing::info!(user = %user.name, "web panel login");
    let session = PanelSession { caller: caller_of(&user), user, csrf, expires_at_ms };
    Ok(LoggedIn { secret, session })
}

/// The session a cookie's secret opens, or `None` (unknown, ended, idle too long).
pub async fn session(ops: &Ops, secret: &str) -> Result<Option<PanelSession>> {
    let auth = auth(ops)?;
    if !secret.starts_with(SESSION_PREFIX) || secret.len() != SESSION_PREFIX.len() + 64 {
        return Ok(None);
    }
    let hash = secret_hash(secret);
    let now = now_ms();
    let idle = i64::try_from(auth.rules().idle.as_millis()).unwrap_or(i64::MAX);
    let users = Arc::clone(&auth.users);
    let found = blocking(move || users.touch_admin_session(&hash, now, now.saturating_sub(idle))).await??;
    Ok(found.map(|s| PanelSession {
        caller: caller_of(&s.user),
        user: s.user,
        csrf: s.csrf,
        expires_at_ms: s.expires_at_ms,
    }))
}

/// Ends the session of this secret (nothing when there is none).
pub async fn logout(ops: &Ops, secret: &str) -> Result<()> {
    let auth = auth(ops)?;
    let hash = secret_hash(secret);
    let users = Arc::clone(&auth.users);
    blocking(move || users.delete_admin_session(&hash)).await??;
    Ok(())
}

/// Removes ended sessions; returns how many.
pub async fn purge_sessions(ops: &Ops) -> Result<u64> {
    let auth = auth(ops)?;
    let now = now_ms();
    let idle = i64::try_from(auth.rules().idle.as_millis()).unwrap_or(i64::MAX);
    let users = Arc::clone(&auth.users);
    Ok(blocking(move || users.purge_admin_sessions(now, now.saturating_sub(idle))).await??)
}

/// On first start (no panel user at all): a superadmin `admin` with a fresh random
/// password, which is returned to be shown once. `None` when users exist.
pub fn first_superadmin(users: &dyn AdminUserStore) -> Result<Option<(String, String)>> {
    if !users.list_admin_users()?.is_empty() {
        return Ok(None);
    }
    let password = random_hex().map_err(OpError::internal)?[..24].to_string();
    let password_hash = postern_policy::password::hash(&password).map_err(OpError::internal)?;
    let new = NewAdminUser { name: "admin".into(), role: Role::Superadmin, domains: Vec::new(), password_hash };
    users.create_admin_user(&new)?;
    Ok(Some(("admin".into(), password)))
}

/// 256 random bits from the operating system, as 64 hex digits.
fn random_hex() -> std::result::Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Failed logins per client network (an IPv4 address, an IPv6 /64) and per user name.
#[derive(Default)]
struct LoginThrottle {
    entries: Mutex<HashMap<ThrottleKey, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Client(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    blocked_until: Option<Instant>,
}

fn client_key(ip: IpAddr) -> ThrottleKey {
    match ip {
        IpAddr::V4(v4) => ThrottleKey::Client(IpAddr::V4(v4)),
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            ThrottleKey::Client(IpAddr::V6(octets.into()))
        }
    }
}

impl LoginThrottle {
    fn keys(client: IpAddr, name: &str) -> [ThrottleKey; 2] {
        [client_key(client), ThrottleKey::Name(name.to_lowercase())]
    }

    /// How long until a login from `client` or for `name` is allowed, if it is blocked.
    fn blocked(&self, client: IpAddr, name: &str, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::keys(client, name)
            .iter()
            .filter_map(|k| entries.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    fn failed(&self, client: IpAddr, name: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() + 2 > THROTTLE_ENTRIES {
            entries.retain(|_, f| {
                now.duration_since(f.first) < FAILURE_WINDOW || f.blocked_until.is_some_and(|u| u > now)
            });
        }
        for key in Self::keys(client, name) {
            if entries.len() >= THROTTLE_ENTRIES && !entries.contains_key(&key) {
                // Full of live entries: forget the oldest one, never grow without bound.
                if let Some(oldest) = entries.iter().min_by_key(|(_, f)| f.first).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
            let f = entries.entry(key).or_insert(Failures { count: 0, first: now, blocked_until: None });
            if now.duration_since(f.first) >= FAILURE_WINDOW && f.blocked_until.is_none_or(|u| u <= now) {
                *f = Failures { count: 0, first: now, blocked_until: None };
            }
            f.count += 1;
            if f.count >= MAX_FAILURES {
                f.blocked_until = Some(now + BLOCK_TIME);
            }
        }
    }

    /// A right password clears the name's failures (not the client's: one client trying
    /// many names stays counted).
    fn succeeded(&self, name: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&ThrottleKey::Name(name.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_block_the_client_and_the_name_for_a_while() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed(ip("192.0.2.1"), "admin", now);
        }
        assert_eq!(t.blocked(ip("192.0.2.1"), "admin", now), None, "four failures are allowed");
        t.failed(ip("192.0.2.1"), "admin", now);
        assert_eq!(t.blocked(ip("192.0.2.1"), "someone", now), Some(BLOCK_TIME), "the client is blocked");
        assert_eq!(t.blocked(ip("198.51.100.7"), "ADMIN", now), Some(BLOCK_TIME), "the name is blocked");
        assert_eq!(t.blocked(ip("198.51.100.7"), "other", now), None);
        assert_eq!(t.blocked(ip("192.0.2.1"), "admin", now + BLOCK_TIME), None, "the block ends");
    }

    #[test]
    fn failures_age_out_and_ipv6_counts_per_64() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES - 1 {
            t.failed(ip(&format!("2001:db8::{i}")), &format!("u{i}"), now);
        }
        t.failed(ip("2001:db8::ffff"), "x", now);
        assert!(t.blocked(ip("2001:db8::1:2"), "y", now).is_some(), "one /64 is one client");
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed(ip("192.0.2.1"), "admin", now);
        }
        t.failed(ip("192.0.2.1"), "admin", now + FAILURE_WINDOW);
        assert_eq!(t.blocked(ip("192.0.2.1"), "admin", now + FAILURE_WINDOW), None, "old failures aged out");
    }

    #[test]
    fn the_throttle_is_bounded() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..(THROTTLE_ENTRIES as u32) {
            t.failed(IpAddr::V4(i.into()), &format!("n{i}"), now);
        }
        assert!(t.entries.lock().unwrap().len() <= THROTTLE_ENTRIES);
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let user = AdminUser {
            id: 1,
            name: "a".into(),
            role: Role::Superadmin,
            domains: vec![],
            created_at_ms: 0,
            last_login_ms: None,
        };
        let s = PanelSession { caller: caller_of(&user), user, csrf: "abcd".into(), expires_at_ms: 0 };
        assert!(s.csrf_matches("abcd"));
        assert!(!s.csrf_matches("abc"));
        assert!(!s.csrf_matches("abce"));
        assert!(!s.csrf_matches(""));
    }
}
