//! Outgoing > Manage identities (SPEC.md §1): the senders behind accounts, registered on
//! first sight, with when they were first and last seen and how many messages they sent;
//! filtered by account, domain, name and state; locked and unlocked by hand.
//!
//! In: the logged-in user's requests. Out: the list page, and a redirect back to the same
//! list after a lock or unlock (`?done=`). Every read and change is an operation of
//! [`postern_ops::identities`] with the user's caller: another tenant's identity is the
//! 404 page, and its account is never named.
//!
//! Defends against: open redirects (the page a lock returns to is one of this panel's own
//! lists, else the identities list) and cross-site posts (the [`Form`] extractor).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::accounts;
use postern_ops::identities::{self, IdentityPatch, IdentityQuery};
use serde::Deserialize;

use crate::accounts::{lock_text, visible_domains};
use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session, local_path};
use crate::view::{PER_PAGE, Pager, link, offset_of, page_number, when};
use crate::{PanelError, PanelState};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// An account's id.
    #[serde(default)]
    account: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    name: String,
    /// `yes`, `no` or empty (either).
    #[serde(default)]
    locked: String,
    page: Option<String>,
    done: Option<String>,
}

struct IdentityRow {
    id: i64,
    name: String,
    account_id: i64,
    account: String,
    domain: String,
    first_seen: String,
    last_seen: String,
    messages: u64,
    locked: bool,
    lock: String,
}

#[derive(Template)]
#[template(path = "identities.html")]
struct ListPage {
    chrome: Chrome,
    q: ListQuery,
    /// The filtered account's name, when the filter names one the user may see.
    account_name: Option<String>,
    domains: Vec<String>,
    domains_complete: bool,
    rows: Vec<IdentityRow>,
    pager: Pager,
    /// This very list (filters and page), where a lock or unlock comes back to.
    back: String,
    error: Option<String>,
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    let caller = &session.caller;
    let page = page_number(q.page.as_deref());
    let mut error = None;
    let account_id = match q.account.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                error = Some("account: not an account's id".to_string());
                None
            }
        },
    };
    let locked = match q.locked.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let nonempty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let query = IdentityQuery {
        account_id,
        domain: nonempty(&q.domain),
        name: nonempty(&q.name),
        locked,
        limit: PER_PAGE,
        offset: offset_of(page),
    };
    let (domains, domains_complete) = match visible_domains(&state, caller).await {
        Ok(d) => d,
        Err(e) => return PanelError::from(e).into_response(),
    };
    let (items, total) = if error.is_some() {
        (Vec::new(), 0)
    } else {
        match identities::list(&state.ops, caller, query).await {
            Ok(p) => (p.items, p.total),
            Err(e) => return PanelError::from(e).into_response(),
        }
    };
    // The accounts' names, each looked up once (only the caller's own: the list has no other).
    let mut names: HashMap<i64, String> = HashMap::new();
    for id in account_id.into_iter().chain(items.iter().map(|i| i.account_id)) {
        if !names.contains_key(&id)
            && let Ok(a) = accounts::show(&state.ops, caller, &id.to_string()).await
        {
            names.insert(id, a.name);
        }
    }
    let rows = items
        .into_iter()
        .map(|i| IdentityRow {
            account: names.get(&i.account_id).cloned().unwrap_or_else(|| format!("#{}", i.account_id)),
            id: i.id,
            name: i.name,
            account_id: i.account_id,
            domain: i.domain,
            first_seen: when(i.first_seen_ms),
            last_seen: when(i.last_seen_ms),
            messages: i.messages,
            locked: i.lock.locked,
            lock: lock_text(&i.lock),
        })
        .collect::<Vec<_>>();
    let filters = [("account", q.account.as_str()), ("domain", &q.domain), ("name", &q.name), ("locked", &q.locked)];
    let more = offset_of(page) + (rows.len() as u64) < total;
    let pager = Pager::new("/identities", &filters, page, rows.len(), Some(total), more);
    let number = page.to_string();
    let mut here = filters.to_vec();
    if page > 1 {
        here.push(("page", &number));
    }
    let back = link("/identities", &here);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(&session, "/identities").with_notice(q.done.as_deref());
    let account_name = account_id.and_then(|id| names.get(&id).cloned());
    let page = ListPage { chrome, q, account_name, domains, domains_complete, rows, pager, back, error };
    (status, render(&page)).into_response()
}

/// A lock or unlock button's form: the list to come back to.
#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default)]
    back: String,
}

/// `back` when it is one of the panel's lists of identities or an account's page.
fn back_to(back: &str) -> &str {
    match local_path(back) {
        Some(path) if path.starts_with("/identities") || path.starts_with("/accounts/") => path,
        _ => "/identities",
    }
}

async fn set_lock(state: &PanelState, form: Form<LockForm>, id: &str, locked: bool) -> Response {
    let Form { session, data } = form;
    match identities::update(&state.ops, &session.caller, id, IdentityPatch { locked }).await {
        Ok(_) => {
            let back = back_to(&data.back);
            let join = if back.contains('?') { '&' } else { '?' };
            let done = if locked { "locked" } else { "unlocked" };
            Redirect::to(&format!("{back}{join}done={done}")).into_response()
        }
        Err(e) => PanelError::from(e).into_response(),
    }
}

pub async fn lock(State(state): State<PanelState>, Path(id): Path<String>, form: Form<LockForm>) -> Response {
    set_lock(&state, form, &id, true).await
}

pub async fn unlock(State(state): State<PanelState>, Path(id): Path<String>, form: Form<LockForm>) -> Response {
    set_lock(&state, form, &id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_comes_back_only_to_a_list_of_this_panel() {
        assert_eq!(back_to("/identities?domain=a.example&page=2"), "/identities?domain=a.example&page=2");
        assert_eq!(back_to("/accounts/7"), "/accounts/7");
        for bad in ["", "//evil.example/identities", "https://evil.example/", "/login", "/identities\u{0}"] {
            assert_eq!(back_to(bad), "/identities", "{bad:?}");
        }
    }
}
