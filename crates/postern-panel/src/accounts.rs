//! Outgoing > Manage accounts (seeds 000/002, SPEC.md §1–§3): the list of accounts with
//! its filters, the form that adds one of the three kinds, and one page per account that
//! configures every setting, shows its live counters, locks, unlocks and deletes it.
//!
//! In: the logged-in user's requests. Out: pages, and redirects after each change
//! (`?done=`). Every read and change is an operation of [`postern_ops::accounts`] (and
//! [`postern_ops::limits`] for counters) called with the user's caller, so a domain admin
//! sees and changes only its own domains' accounts: another tenant's account is the 404
//! page, whether its id is in the address or in a form.
//!
//! Defends against: passwords shown again (never echoed, not even after a refusal),
//! settings the page did not show being changed ([`settings`]), and cross-site posts (the
//! [`Form`] extractor).
//!
//! Here: the list and the add form. [`page`]: one account's page. [`settings`]: its
//! settings form, field by field.

mod page;
mod settings;

pub use page::{delete, lock, save, show, unlock};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use postern_core::tenancy::{Account, AccountKind, LockKind, LockState};
use postern_ops::accounts::{self, AccountCreate, AccountQuery};
use postern_ops::domains::{self, DomainQuery};
use postern_ops::limits::{self, Counters};
use postern_ops::{Caller, ErrorKind, OpError};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::forms::{FieldError, checked};
use crate::session::{Form, Session};
use crate::view::{PER_PAGE, Pager, offset_of, page_number, when};
use crate::{PanelError, PanelState};

/// The most domains a domain select offers; past it the field is typed in.
const MOST_DOMAINS: u32 = 1000;

/// The domains `caller` may see, by name, and whether that is all of them.
pub(crate) async fn visible_domains(state: &PanelState, caller: &Caller) -> Result<(Vec<String>, bool), OpError> {
    let q = DomainQuery { limit: MOST_DOMAINS, ..DomainQuery::default() };
    let page = domains::list(&state.ops, caller, q).await?;
    let complete = page.total <= page.items.len() as u64;
    Ok((page.items.into_iter().map(|d| d.name).collect(), complete))
}

/// How a lock reads on a page; empty when unlocked.
pub(crate) fn lock_text(lock: &LockState) -> String {
    if !lock.locked {
        return String::new();
    }
    let mut text = match lock.kind() {
        LockKind::Administrator => "Locked by an administrator".to_string(),
        LockKind::Automatic => "Locked automatically".to_string(),
    };
    if let Some(since) = lock.since_ms {
        text.push_str(&format!(" since {}", when(since)));
    }
    match lock.until_ms {
        Some(until) => text.push_str(&format!(", until {}", when(until))),
        None if lock.kind() == LockKind::Automatic => text.push_str(", until unlocked by hand"),
        None => {}
    }
    if let (LockKind::Automatic, Some(reason)) = (lock.kind(), &lock.reason) {
        text.push_str(&format!(": {reason}"));
    }
    text
}

fn kind_of(text: &str) -> Option<AccountKind> {
    match text {
        "ip" => Some(AccountKind::Ip),
        "user" => Some(AccountKind::User),
        "domain" => Some(AccountKind::Domain),
        _ => None,
    }
}

fn kind_label(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Ip => "IP address or range",
        AccountKind::User => "User",
        AccountKind::Domain => "Domain",
    }
}

// ---------------------------------------------------------------------------------------
// The list

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    /// `yes`, `no` or empty (either).
    #[serde(default)]
    locked: String,
    page: Option<String>,
    done: Option<String>,
}

struct AccountRow {
    id: i64,
    name: String,
    kind: &'static str,
    domain: String,
    locked: bool,
    lock: String,
    counters: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct ListPage {
    chrome: Chrome,
    q: ListQuery,
    domains: Vec<String>,
    domains_complete: bool,
    rows: Vec<AccountRow>,
    pager: Pager,
    error: Option<String>,
}

/// The counters of a list row in a few words: the counted ones with their limits, and
/// spam; empty when the server keeps no counters.
async fn counters_summary(state: &PanelState, caller: &Caller, account: &Account) -> String {
    match limits::account_counters(&state.ops, caller, &account.id.to_string()).await {
        Ok(c) => summary(&c),
        Err(_) => String::new(),
    }
}

fn counter_label(name: &str) -> String {
    name.replace("_per_", "/").replace('_', " ")
}

fn summary(c: &Counters) -> String {
    let mut parts: Vec<String> = c
        .counters
        .iter()
        .filter(|r| r.counted)
        .map(|r| format!("{} {} of {}", counter_label(&r.name), r.count, r.limit))
        .collect();
    if c.spam.count > 0 {
        parts.push(format!("spam {}", c.spam.count));
    }
    if parts.is_empty() { "no limits".to_string() } else { parts.join(" · ") }
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    let caller = &session.caller;
    let page = page_number(q.page.as_deref());
    let mut error = None;
    let kind = match q.kind.as_str() {
        "" => None,
        text => {
            let kind = kind_of(text);
            if kind.is_none() {
                error = Some("kind: ip, user or domain".to_string());
            }
            kind
        }
    };
    let locked = match q.locked.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let nonempty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let query = AccountQuery {
        domain: nonempty(&q.domain),
        kind,
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
        match accounts::list(&state.ops, caller, query).await {
            Ok(p) => (p.items, p.total),
            Err(e) if e.kind == ErrorKind::BadInput => {
                error = Some(e.to_string());
                (Vec::new(), 0)
            }
            Err(e) => return PanelError::from(e).into_response(),
        }
    };
    let mut rows = Vec::with_capacity(items.len());
    for a in &items {
        rows.push(AccountRow {
            id: a.id,
            name: a.name.clone(),
            kind: kind_label(a.kind),
            domain: a.domain.clone(),
            locked: a.lock.locked,
            lock: lock_text(&a.lock),
            counters: counters_summary(&state, caller, a).await,
        });
    }
    let filters = [("domain", q.domain.as_str()), ("kind", &q.kind), ("name", &q.name), ("locked", &q.locked)];
    let more = offset_of(page) + (rows.len() as u64) < total;
    let pager = Pager::new("/accounts", &filters, page, rows.len(), Some(total), more);
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let chrome = Chrome::new(&session, "/accounts").with_notice(q.done.as_deref());
    let page = ListPage { chrome, q, domains, domains_complete, rows, pager, error };
    (status, render(&page)).into_response()
}

// ---------------------------------------------------------------------------------------
// Adding an account

/// What the add form shows (never a password).
#[derive(Default)]
struct NewValues {
    kind: String,
    domain: String,
    ip: String,
    user: String,
    cover_trusted: bool,
}

#[derive(Template)]
#[template(path = "accounts_new.html")]
struct NewPage {
    chrome: Chrome,
    domains: Vec<String>,
    domains_complete: bool,
    v: NewValues,
    error: Option<FieldError>,
}

impl NewPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.at(field))
    }

    /// A refusal that names no field of the form.
    fn general_error(&self) -> Option<&str> {
        let fields = ["kind", "domain", "ip", "user", "user_password", "domain_password", "cover_trusted"];
        self.error.as_ref().filter(|e| !e.field.as_deref().is_some_and(|f| fields.contains(&f))).map(|e| &*e.message)
    }
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    domain: String,
}

async fn new_page(state: &PanelState, session: &Session, v: NewValues, error: Option<FieldError>) -> Response {
    let (domains, domains_complete) = match visible_domains(state, &session.caller).await {
        Ok(d) => d,
        Err(e) => return PanelError::from(e).into_response(),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = NewPage { chrome: Chrome::new(session, "/accounts"), domains, domains_complete, v, error };
    (status, render(&page)).into_response()
}

pub async fn new_form(State(state): State<PanelState>, session: Session, Query(q): Query<NewQuery>) -> Response {
    let v = NewValues { kind: "user".into(), domain: q.domain, ..NewValues::default() };
    new_page(&state, &session, v, None).await
}

/// The add form: the kind chosen, its own fields, the domain.
#[derive(Deserialize)]
pub struct NewForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    user_password: String,
    #[serde(default)]
    domain_password: String,
    #[serde(default, deserialize_with = "checked")]
    cover_trusted: bool,
}

pub async fn create(State(state): State<PanelState>, form: Form<NewForm>) -> Response {
    let Form { session, data } = form;
    let values = NewValues {
        kind: data.kind.clone(),
        domain: data.domain.clone(),
        ip: data.ip.clone(),
        user: data.user.clone(),
        cover_trusted: data.cover_trusted,
    };
    let Some(kind) = kind_of(&data.kind) else {
        let error = FieldError::bad("kind", "choose the kind of account");
        return new_page(&state, &session, values, Some(error)).await;
    };
    let given = |s: String| Some(s).filter(|s| !s.is_empty());
    let (name, password, name_field, password_field) = match kind {
        AccountKind::Ip => (given(data.ip), None, "ip", "ip"),
        AccountKind::User => (given(data.user), given(data.user_password), "user", "user_password"),
        AccountKind::Domain => (None, given(data.domain_password), "domain", "domain_password"),
    };
    let input = AccountCreate {
        domain: data.domain,
        kind,
        name,
        password,
        settings: None,
        cover_trusted: kind == AccountKind::Ip && data.cover_trusted,
    };
    match accounts::create(&state.ops, &session.caller, input).await {
        Ok(account) => Redirect::to(&format!("/accounts/{}?done=created", account.id)).into_response(),
        Err(e) => {
            let rename = |f: &str| match f {
                "name" => name_field.to_string(),
                "password" => password_field.to_string(),
                other => other.to_string(),
            };
            match FieldError::from_op(e, rename) {
                Ok(error) => new_page(&state, &session, values, Some(error)).await,
                Err(page) => page.into_response(),
            }
        }
    }
}
