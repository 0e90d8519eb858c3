//! One account's page (`/accounts/{id}`): every setting on one form ([`settings`]), the
//! live counters, the domain's DKIM keys offered for the selector, and the buttons that
//! lock, unlock and delete the account.
//!
//! In: the logged-in user's requests. Out: the page, or a redirect to it after a change
//! (`?done=`). A refused save shows the page again with the refusal next to its field and
//! what was typed, but never a password, and changes nothing (the operation checks the
//! whole change before it writes). Another tenant's account is the 404 page, whichever
//! form names it.
//!
//! [`settings`]: super::settings

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use postern_core::tenancy::{Account, AccountKind};
use postern_ops::accounts::{self, AccountPatch};
use postern_ops::dkim::{self, DomainKeyQuery};
use postern_ops::identities::{self, IdentityQuery};
use postern_ops::{ErrorKind, limits};
use serde::Deserialize;

use super::settings::{self, SectionView, Values};
use super::{counter_label, kind_label, lock_text};
use crate::chrome::Chrome;
use crate::error::render;
use crate::forms::{FieldError, NoFields};
use crate::session::{Form, Session};
use crate::view::when;
use crate::{PanelError, PanelState};

struct CounterView {
    label: String,
    count: u64,
    /// "no limit" for 0.
    limit: String,
}

#[derive(Template)]
#[template(path = "accounts_edit.html")]
struct AccountPage {
    chrome: Chrome,
    account: Account,
    kind: &'static str,
    lock: String,
    sections: Vec<SectionView>,
    /// A refusal about no field of the form, or about a field the page does not show.
    general_error: Option<String>,
    password_error: Option<String>,
    /// `None`: the server keeps no counters.
    counters: Option<Vec<CounterView>>,
    spam: String,
    selectors: Vec<(String, &'static str)>,
    identities: u64,
    created: String,
    changed: String,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

async fn account_page(
    state: &PanelState,
    session: &Session,
    account: Account,
    values: &Values,
    error: Option<FieldError>,
    done: Option<&str>,
) -> Response {
    let caller = &session.caller;
    let id = account.id.to_string();
    let (counters, spam) = match limits::account_counters(&state.ops, caller, &id).await {
        Ok(c) => {
            let rows = c
                .counters
                .iter()
                .map(|r| CounterView {
                    label: counter_label(&r.name),
                    count: r.count,
                    limit: if r.limit == 0 { "no limit".into() } else { r.limit.to_string() },
                })
                .collect();
            let spam = format!(
                "{} spam message(s) in the last {} minute(s); more than {} lock when automatic locking is on",
                c.spam.count,
                c.spam.window_secs / 60,
                c.spam.threshold
            );
            (Some(rows), spam)
        }
        Err(e) if e.kind == ErrorKind::Unavailable => (None, String::new()),
        Err(e) => return PanelError::from(e).into_response(),
    };
    let keys = DomainKeyQuery { limit: 100, offset: 0 };
    let selectors = match dkim::list(&state.ops, caller, &account.domain, keys).await {
        Ok(page) => page.items.into_iter().map(|k| (k.selector, k.state.name())).collect(),
        Err(_) => Vec::new(),
    };
    let q = IdentityQuery { account_id: Some(account.id), limit: 1, ..IdentityQuery::default() };
    let identities = identities::list(&state.ops, caller, q).await.map_or(0, |p| p.total);
    let shown = |f: &str| settings::is_field(account.kind, f) || (f == "password" && account.kind != AccountKind::Ip);
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let general_error = error.as_ref().filter(|e| !e.field.as_deref().is_some_and(shown)).map(|e| match &e.field {
        Some(f) => format!("{f}: {}", e.message),
        None => e.message.clone(),
    });
    let page = AccountPage {
        chrome: Chrome::new(session, "/accounts").with_notice(done),
        kind: kind_label(account.kind),
        lock: lock_text(&account.lock),
        sections: settings::view(account.kind, values, error.as_ref()),
        password_error: error.as_ref().and_then(|e| e.at("password")).map(str::to_string),
        general_error,
        counters,
        spam,
        selectors,
        identities,
        created: when(account.created_at_ms),
        changed: when(account.updated_at_ms),
        account,
    };
    (status, render(&page)).into_response()
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match accounts::show(&state.ops, &session.caller, &id).await {
        Ok(account) => {
            let values = settings::values_of(&account.settings);
            account_page(&state, &session, account, &values, None, q.done.as_deref()).await
        }
        Err(e) => PanelError::from(e).into_response(),
    }
}

/// Save: the shown settings merged over the account's, and a new password if one was typed.
pub async fn save(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Values>) -> Response {
    let Form { session, data: mut values } = form;
    let password = values.remove("password").filter(|p| !p.is_empty());
    let confirm = values.remove("password_confirm").unwrap_or_default();
    let account = match accounts::show(&state.ops, &session.caller, &id).await {
        Ok(a) => a,
        Err(e) => return PanelError::from(e).into_response(),
    };
    let refused = |error| account_page(&state, &session, account.clone(), &values, Some(error), None);
    if password.as_deref().is_some_and(|p| p != confirm) {
        return refused(FieldError::bad("password", "the two passwords differ")).await;
    }
    let patch = match settings::patch(account.kind, &values) {
        Ok(p) => p,
        Err(error) => return refused(error).await,
    };
    let change = AccountPatch { settings: Some(patch), password, locked: None };
    match accounts::update(&state.ops, &session.caller, &id, change).await {
        Ok(a) => Redirect::to(&format!("/accounts/{}?done=saved", a.id)).into_response(),
        Err(e) => match FieldError::from_op(e, settings::form_field) {
            Ok(error) => refused(error).await,
            Err(page) => page.into_response(),
        },
    }
}

async fn set_lock(state: &PanelState, session: &Session, id: &str, locked: bool) -> Response {
    let change = AccountPatch { locked: Some(locked), ..AccountPatch::default() };
    match accounts::update(&state.ops, &session.caller, id, change).await {
        Ok(a) => {
            let done = if locked { "locked" } else { "unlocked" };
            Redirect::to(&format!("/accounts/{}?done={done}", a.id)).into_response()
        }
        Err(e) => PanelError::from(e).into_response(),
    }
}

pub async fn lock(State(state): State<PanelState>, Path(id): Path<String>, form: Form<NoFields>) -> Response {
    set_lock(&state, &form.session, &id, true).await
}

pub async fn unlock(State(state): State<PanelState>, Path(id): Path<String>, form: Form<NoFields>) -> Response {
    set_lock(&state, &form.session, &id, false).await
}

pub async fn delete(State(state): State<PanelState>, Path(id): Path<String>, form: Form<NoFields>) -> Response {
    match accounts::delete(&state.ops, &form.session.caller, &id).await {
        Ok(_) => Redirect::to("/accounts?done=deleted").into_response(),
        Err(e) => PanelError::from(e).into_response(),
    }
}
