//! The queue: messages waiting for delivery, filtered by sender, recipient, domain and
//! state (`/queue`), one message with its envelope, state, attempts and each recipient's
//! last reply (`/queue/{id}`, its headers on request), and the actions on it — retry now,
//! hold, release, delete — and "retry all" for a superadmin.
//!
//! In: a session, filters in the query string, form posts. Out: pages, and redirects after
//! every action. Everything goes through [`postern_ops::queue`] with the user's caller.
//!
//! Defends against: a domain admin reaching another tenant's message (the operation answers
//! "no such message": the 404 page for pages and posts alike), message text run as markup
//! (headers are shown as escaped text, never rendered), and lists that read the whole spool
//! for one page (the operation is asked for one page's rows and one more, at most
//! [`crate::view::LAST_PAGE`] pages deep).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use postern_ops::queue::{self, QueueAction, QueueQuery};
use postern_ops::{ErrorKind, OpError};
use postern_queue::{QUEUE_STATES, QueueEntry, RcptStatus};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::session::{Form, Session};
use crate::view::{PER_PAGE, Pager, offset_of, page_number, size, when, with_status};
use crate::{PanelError, PanelState};

/// The most header bytes shown of a message.
const MOST_HEADER_BYTES: usize = 32 * 1024;

struct Row {
    id: String,
    sender: String,
    recipients: String,
    state: &'static str,
    attempts: u32,
    size: String,
    received: String,
    next_attempt: String,
}

struct RecipientRow {
    address: String,
    status: &'static str,
    reply: String,
}

fn recipients_text(e: &QueueEntry) -> String {
    let text: Vec<&str> = e.recipients.iter().take(3).map(|r| r.address.as_str()).collect();
    let more = e.recipients.len().saturating_sub(3);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{}{more}", text.join(", "))
}

fn next_attempt(e: &QueueEntry) -> String {
    if e.state == "held" || e.state == "active" { String::new() } else { when(e.next_attempt_ms) }
}

fn row(e: QueueEntry) -> Row {
    Row {
        recipients: recipients_text(&e),
        next_attempt: next_attempt(&e),
        id: e.queue_id.to_string(),
        sender: e.sender,
        state: e.state,
        attempts: e.attempts,
        size: size(e.size),
        received: when(e.received_at_ms),
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    rows: Vec<Row>,
    pager: Pager,
    sender: String,
    recipient: String,
    domain: String,
    state: String,
    states: &'static [&'static str],
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    sender: Option<String>,
    recipient: Option<String>,
    domain: Option<String>,
    state: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

pub async fn list(State(state): State<PanelState>, session: Session, Query(q): Query<ListQuery>) -> Response {
    let page = page_number(q.page.as_deref());
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let (sender, recipient, domain, queue_state) =
        (text(&q.sender), text(&q.recipient), text(&q.domain), text(&q.state));
    let given = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
    let skip = offset_of(page) as usize;
    let query = QueueQuery {
        sender: given(&sender),
        recipient: given(&recipient),
        domain: given(&domain),
        state: given(&queue_state),
        limit: skip + PER_PAGE as usize + 1,
    };
    let (mut entries, error, status) = match queue::list(&state.ops, &session.caller, query).await {
        Ok(entries) => (entries, None, StatusCode::OK),
        Err(e) if e.kind == ErrorKind::BadInput => (Vec::new(), Some(e.to_string()), StatusCode::BAD_REQUEST),
        Err(e) => return PanelError::from(e).into_response(),
    };
    let entries: Vec<QueueEntry> = entries.drain(skip.min(entries.len())..).collect();
    let more = entries.len() > PER_PAGE as usize;
    let rows: Vec<Row> = entries.into_iter().take(PER_PAGE as usize).map(row).collect();
    let filters =
        [("sender", sender.as_str()), ("recipient", &recipient), ("domain", &domain), ("state", &queue_state)];
    let page = QueuePage {
        chrome: Chrome::new(&session, "/queue").with_notice(q.done.as_deref()),
        pager: Pager::new("/queue", &filters, page, rows.len(), None, more),
        rows,
        sender,
        recipient,
        domain,
        state: queue_state,
        states: &QUEUE_STATES,
        error,
    };
    with_status(status, render(&page))
}

#[derive(Template)]
#[template(path = "queue_message.html")]
struct MessagePage {
    chrome: Chrome,
    id: String,
    sender: String,
    state: &'static str,
    attempts: u32,
    size: String,
    received: String,
    next_attempt: String,
    recipients: Vec<RecipientRow>,
    /// The header section, when asked for (`?headers=1`).
    headers: Option<String>,
    error: Option<String>,
}

fn status_name(status: RcptStatus) -> &'static str {
    match status {
        RcptStatus::Pending => "pending",
        RcptStatus::Delivered => "delivered",
        RcptStatus::Bounced => "bounced",
    }
}

/// The header section of a message as text (up to the first empty line, at most
/// [`MOST_HEADER_BYTES`]).
fn header_text(bytes: &[u8]) -> String {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or(bytes, |end| &bytes[..end + 2]);
    let cut = &head[..head.len().min(MOST_HEADER_BYTES)];
    String::from_utf8_lossy(cut).replace("\r\n", "\n")
}

async fn message_page(
    state: &PanelState,
    session: &Session,
    id: &str,
    headers: bool,
) -> Result<MessagePage, PanelError> {
    let e = queue::show(&state.ops, &session.caller, id).await?;
    let headers = match headers {
        true => Some(header_text(&queue::content(&state.ops, &session.caller, id).await?.bytes)),
        false => None,
    };
    Ok(MessagePage {
        chrome: Chrome::new(session, "/queue"),
        id: e.queue_id.to_string(),
        next_attempt: next_attempt(&e),
        sender: e.sender,
        state: e.state,
        attempts: e.attempts,
        size: size(e.size),
        received: when(e.received_at_ms),
        recipients: e
            .recipients
            .into_iter()
            .map(|r| RecipientRow {
                address: r.address,
                status: status_name(r.status),
                reply: r.reply.unwrap_or_default(),
            })
            .collect(),
        headers,
        error: None,
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    headers: Option<String>,
    done: Option<String>,
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match message_page(&state, &session, &id, q.headers.is_some()).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_notice(q.done.as_deref());
            render(&page)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

async fn act(state: PanelState, form: Form<Nothing>, id: String, action: QueueAction) -> Response {
    let Form { session, data: Nothing {} } = form;
    let e: OpError = match queue::act(&state.ops, &session.caller, &id, action).await {
        Ok(done) => {
            let id = done.queue_id;
            return match action {
                QueueAction::Retry => Redirect::to(&format!("/queue/{id}?done=retried")),
                QueueAction::Hold => Redirect::to(&format!("/queue/{id}?done=held")),
                QueueAction::Release => Redirect::to(&format!("/queue/{id}?done=released")),
                QueueAction::Delete => Redirect::to("/queue?done=deleted"),
            }
            .into_response();
        }
        Err(e) => e,
    };
    // A message the user may see but that is not in a state for this (being tried, not
    // held): its page again with the operation's answer. Anything else: the error page.
    match message_page(&state, &session, &id, false).await {
        Ok(mut page) if e.kind == ErrorKind::NotFound => {
            page.error = Some(format!("{}: {}", action_name(action), e.message));
            with_status(StatusCode::CONFLICT, render(&page))
        }
        _ => PanelError::from(e).into_response(),
    }
}

fn action_name(action: QueueAction) -> &'static str {
    match action {
        QueueAction::Retry => "retry",
        QueueAction::Hold => "hold",
        QueueAction::Release => "release",
        QueueAction::Delete => "delete",
    }
}

pub async fn retry(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    act(state, form, id, QueueAction::Retry).await
}

pub async fn hold(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    act(state, form, id, QueueAction::Hold).await
}

pub async fn release(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    act(state, form, id, QueueAction::Release).await
}

pub async fn delete(State(state): State<PanelState>, Path(id): Path<String>, form: Form<Nothing>) -> Response {
    act(state, form, id, QueueAction::Delete).await
}

/// Every message not on hold is due now (a domain admin's: its own, as the operation says).
pub async fn retry_all(State(state): State<PanelState>, form: Form<Nothing>) -> Response {
    let Form { session, data: Nothing {} } = form;
    match queue::retry_all(&state.ops, &session.caller).await {
        Ok(_) => Redirect::to("/queue?done=retried").into_response(),
        Err(e) => PanelError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_end_at_the_empty_line_and_are_bounded() {
        assert_eq!(header_text(b"Subject: a\r\nFrom: b\r\n\r\nbody"), "Subject: a\nFrom: b\n");
        assert_eq!(header_text(b"no end"), "no end");
        assert_eq!(header_text(&vec![b'x'; MOST_HEADER_BYTES * 2]).len(), MOST_HEADER_BYTES);
    }
}
