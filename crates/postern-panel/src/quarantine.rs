//! The quarantine's pages (SPEC.md §5): held messages listed and searched, one shown (its
//! envelope, header fields, a text preview, the verdict trace, the ARF feedback fields, the
//! whole ARF report as a download), and the actions on it: release (superadmin), request
//! release (domain admin), delete, confirm as spam.
//!
//! In: GET filters, a held message's id, CSRF-checked forms. Out: pages; after an action a
//! 303 to the message (the list after a delete) with `?done=...`. Every read and action is
//! a [`postern_ops::quarantine`] operation with the session's caller: a domain admin sees
//! only its domains' messages, another tenant's id is the HTML 404 for a page and a post
//! alike, and a release by a domain admin is refused there even if its button were shown.
//!
//! Defends against: script injection from a held message (every value — subject,
//! addresses, header fields, the preview, the trace — is escaped by askama; the preview is
//! the text part or the HTML part converted to text, shown in a `<pre>`; the ARF report is
//! an attachment, never rendered as a page) and actions by mistake (each button asks).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::quarantine::{self, HeldMessageDetail, QuarantineQuery, ReleaseRequest};
use postern_store::{HeldMessage, HeldState};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::format::{self, given};
use crate::session::{Form, Session};
use crate::view::{self, PER_PAGE, Pager};
use crate::{PanelError, PanelState};

/// Recipients a list row names.
const SHOWN_RECIPIENTS: usize = 3;

/// The list's filters, as the form sends them (an empty field is no filter).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    domain: String,
    account: String,
    identity: String,
    sender: String,
    recipient: String,
    rule: String,
    since: String,
    until: String,
    state: String,
    page: String,
    done: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &str); 9] {
        [
            ("domain", &self.domain),
            ("account", &self.account),
            ("identity", &self.identity),
            ("sender", &self.sender),
            ("recipient", &self.recipient),
            ("rule", &self.rule),
            ("since", &self.since),
            ("until", &self.until),
            ("state", &self.state),
        ]
    }

    /// The operation's query; a time that is not one is an error naming its field.
    fn query(&self) -> Result<QuarantineQuery, String> {
        let since_ms = format::unix_ms(&self.since).map_err(|e| format!("Held from: {e}"))?;
        let until_ms = format::unix_ms(&self.until).map_err(|e| format!("Held until: {e}"))?;
        Ok(QuarantineQuery {
            domain: given(&self.domain),
            account: given(&self.account),
            identity: given(&self.identity),
            sender: given(&self.sender),
            recipient: given(&self.recipient),
            rule: given(&self.rule),
            since_ms,
            until_ms,
            state: given(&self.state),
            limit: PER_PAGE,
            offset: view::offset_of(view::page_number(Some(&self.page))),
        })
    }
}

/// One row of the list, written for people.
struct Row {
    id: i64,
    held_at: String,
    state: &'static str,
    state_class: &'static str,
    release_requested: bool,
    account: String,
    sender: String,
    recipients: String,
    subject: String,
    rule: String,
    reaction: String,
    size: String,
}

fn state_class(state: HeldState) -> &'static str {
    match state {
        HeldState::Held => "bad",
        HeldState::Releasing | HeldState::Purging => "warn",
        HeldState::Released => "ok",
    }
}

impl Row {
    fn of(m: &HeldMessage) -> Row {
        let message = &m.message;
        Row {
            id: m.id,
            held_at: view::when(message.held_at_ms),
            state: m.state.name(),
            state_class: state_class(m.state),
            release_requested: m.release_requested_by.is_some() && m.state == HeldState::Held,
            account: message.account.clone().unwrap_or_default(),
            sender: message.sender.clone(),
            recipients: format::addresses(&message.recipients, message.recipients.len(), SHOWN_RECIPIENTS),
            subject: message.subject.clone(),
            rule: message.rule.clone(),
            reaction: message.reaction.clone(),
            size: view::size(message.size),
        }
    }
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct ListPage {
    chrome: Chrome,
    filters: Filters,
    /// A domain admin's domains, offered in the domain filter; empty for a superadmin.
    domains: Vec<String>,
    states: [&'static str; 4],
    rows: Vec<Row>,
    pager: Pager,
    error: Option<String>,
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(filters): Query<Filters>) -> Response {
    let chrome = Chrome::new(&session, "/quarantine").with_notice(given(&filters.done).as_deref());
    let domains = session.caller.domains().map(<[String]>::to_vec).unwrap_or_default();
    let found = match filters.query() {
        Ok(q) => quarantine::list(&state.ops, &session.caller, q).await.map_err(PanelError::from),
        Err(e) => Err(PanelError::new(StatusCode::BAD_REQUEST, e)),
    };
    let page_number = view::page_number(given(&filters.page).as_deref());
    let (rows, pager, error, status) = match found {
        Ok(list) => {
            let pager = Pager::of("/quarantine", &filters.pairs(), page_number, &list);
            (list.items.iter().map(Row::of).collect(), pager, None, StatusCode::OK)
        }
        // A filter the operation refuses is said on the form; anything else is the error page.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            (Vec::new(), Pager::new("/quarantine", &[], 1, 0, None, false), Some(e.message), e.status)
        }
        Err(e) => return e.into_response(),
    };
    let states = ["held", "releasing", "released", "purging"];
    let page = ListPage { chrome, filters, domains, states, rows, pager, error };
    (status, render(&page)).into_response()
}

/// A check of the verdict trace, written for people.
struct Check {
    stage: String,
    engine: String,
    rule: String,
    part: String,
    result: String,
    score: String,
    micros: u64,
}

#[derive(Template)]
#[template(path = "quarantine_message.html")]
struct MessagePage {
    chrome: Chrome,
    id: i64,
    row: Row,
    /// The envelope and the row's history, as (label, value).
    facts: Vec<(&'static str, String)>,
    checks: Vec<Check>,
    headers: Vec<(String, String)>,
    preview: Option<String>,
    arf: Option<String>,
    /// Actions the state allows (the operations decide again).
    held: bool,
    deletable: bool,
}

fn facts(m: &HeldMessage) -> Vec<(&'static str, String)> {
    let message = &m.message;
    let mut facts = vec![
        ("Queue id", message.queue_id.clone()),
        ("Domain", message.domain.clone().unwrap_or_default()),
        ("Account", message.account.clone().unwrap_or_default()),
        ("Identity", message.identity.clone().unwrap_or_default()),
        ("Envelope sender", message.sender.clone()),
        ("Recipients", message.recipients.join(", ")),
        ("Subject", message.subject.clone()),
        ("Client IP", message.client_ip.clone()),
        ("Rule", message.rule.clone()),
        ("Client heard", message.reaction.clone()),
        ("Size", view::size(message.size)),
        ("Held at", view::when(message.held_at_ms)),
        ("Expires at", view::when(message.expires_at_ms)),
    ];
    if let Some(by) = &m.release_requested_by {
        facts.push(("Release requested by", by.clone()));
        facts.push(("Release requested at", format::when_opt(m.release_requested_at_ms)));
        facts.push(("Note", m.release_note.clone().unwrap_or_default()));
    }
    if let Some(by) = &m.released_by {
        facts.push(("Released by", by.clone()));
        facts.push(("Released at", format::when_opt(m.released_at_ms)));
    }
    if let Some(by) = &m.confirmed_by {
        facts.push(("Confirmed as spam by", by.clone()));
        facts.push(("Confirmed at", format::when_opt(m.confirmed_at_ms)));
    }
    facts
}

/// A held message's id from the path; anything else is no such page.
fn id_of(text: &str) -> Result<i64, PanelError> {
    let digits = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().ok_or_else(PanelError::not_found)
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    let detail: HeldMessageDetail = quarantine::show(&state.ops, &session.caller, id).await?;
    let checks = detail
        .row
        .message
        .checks
        .iter()
        .map(|c| Check {
            stage: c.stage.clone(),
            engine: c.engine.clone(),
            rule: c.rule.clone().unwrap_or_default(),
            part: c.part.clone().unwrap_or_default(),
            result: c.result.clone(),
            score: c.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
            micros: c.micros,
        })
        .collect();
    let held = detail.row.state == HeldState::Held;
    let deletable = matches!(detail.row.state, HeldState::Held | HeldState::Released);
    let page = MessagePage {
        chrome: Chrome::new(&session, "/quarantine").with_notice(q.done.as_deref()),
        id: detail.row.id,
        row: Row::of(&detail.row),
        facts: facts(&detail.row),
        checks,
        headers: detail.headers,
        preview: detail.preview,
        arf: detail.arf,
        held,
        deletable,
    };
    Ok(render(&page))
}

/// The whole ARF report, as a download (`message/rfc822`, never shown as a page).
pub async fn report(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    let report = quarantine::report(&state.ops, &session.caller, id).await?;
    let mut response = report.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("message/rfc822"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"arf-{}.eml\"", report.id)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A form with nothing but its token.
#[derive(Deserialize)]
pub struct Confirmed {}

/// The request-release form: an optional note.
#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    note: String,
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/quarantine/{id}?done={done}")).into_response()
}

pub async fn release(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form<Confirmed>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    quarantine::release(&state.ops, &form.session.caller, id).await?;
    Ok(back(id, "released"))
}

pub async fn request_release(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form<RequestForm>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    let input = ReleaseRequest { note: given(&form.data.note) };
    quarantine::request_release(&state.ops, &form.session.caller, id, input).await?;
    Ok(back(id, "requested"))
}

pub async fn confirm(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form<Confirmed>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    quarantine::confirm(&state.ops, &form.session.caller, id).await?;
    Ok(back(id, "confirmed"))
}

pub async fn delete(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form<Confirmed>,
) -> Result<Response, PanelError> {
    let id = id_of(&id)?;
    quarantine::delete(&state.ops, &form.session.caller, id).await?;
    Ok(Redirect::to("/quarantine?done=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_name_a_held_message() {
        assert_eq!(id_of("42").map_err(|e| e.status), Ok(42));
        for bad in ["", "-1", "4x", "1e3", "9999999999999999999", " 1"] {
            assert_eq!(id_of(bad).map_err(|e| e.status), Err(StatusCode::NOT_FOUND), "{bad:?}");
        }
    }

    #[test]
    fn empty_filters_are_no_filters_and_times_are_checked() {
        let q = Filters { sender: " ".into(), rule: "GTUBE".into(), page: "2".into(), ..Filters::default() };
        let q = q.query().unwrap();
        assert_eq!((q.sender, q.rule.as_deref(), q.offset, q.limit), (None, Some("GTUBE"), 50, PER_PAGE));
        let bad = Filters { since: "last week".into(), ..Filters::default() };
        assert!(bad.query().unwrap_err().starts_with("Held from:"));
    }
}
