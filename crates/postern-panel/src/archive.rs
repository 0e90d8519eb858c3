//! The archive's pages (SPEC.md §6): archived copies searched by their fields and by full
//! text, one copy viewed (its index row, the state of its file, its header fields and a
//! text preview), its `.eml` downloaded, and the search result exported as mbox or zip.
//!
//! In: GET filters, a copy's id. Out: pages; the `.eml` and exports as attachments, the
//! export streamed as the archive writes it ([`postern_ops::archive::Export::stream`]),
//! exactly as the JSON API does. Every read is a [`postern_ops::archive`] operation with
//! the session's caller: a domain admin finds and exports only copies of its domains, and
//! another tenant's copy is the HTML 404.
//!
//! Defends against: script injection from an archived message (the preview is the text
//! part, or the HTML part converted to text, in a `<pre>`; header fields and every other
//! value are escaped by askama; the message itself is only ever an attachment) and
//! unbounded work (pages of 50; an export is bounded by the archive's own streaming).

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use postern_archive::FileState;
use postern_ops::archive::{self, ArchiveQuery, Entry};
use serde::Deserialize;

use crate::chrome::Chrome;
use crate::error::render;
use crate::format::{self, given};
use crate::session::Session;
use crate::view::{self, PER_PAGE, Pager};
use crate::{PanelError, PanelState};

/// Recipients a list row names.
const SHOWN_RECIPIENTS: usize = 3;

/// The search's filters, as the form sends them (an empty field is no filter).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    domain: String,
    account: String,
    identity: String,
    sender: String,
    recipient: String,
    subject: String,
    message_id: String,
    queue_id: String,
    text: String,
    since: String,
    until: String,
    page: String,
    /// Exports only: `mbox` or `zip`.
    format: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &str); 11] {
        [
            ("domain", &self.domain),
            ("account", &self.account),
            ("identity", &self.identity),
            ("sender", &self.sender),
            ("recipient", &self.recipient),
            ("subject", &self.subject),
            ("message_id", &self.message_id),
            ("queue_id", &self.queue_id),
            ("text", &self.text),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }

    /// The operation's query: a page of a search, or (`export`) the whole result.
    fn query(&self, export: bool) -> ArchiveQuery {
        ArchiveQuery {
            domain: given(&self.domain),
            account: given(&self.account),
            account_id: None,
            identity: given(&self.identity),
            sender: given(&self.sender),
            recipient: given(&self.recipient),
            subject: given(&self.subject),
            message_id: given(&self.message_id),
            queue_id: given(&self.queue_id),
            text: given(&self.text),
            since: format::rfc3339(&self.since),
            until: format::rfc3339(&self.until),
            limit: if export { 0 } else { PER_PAGE },
            offset: if export { 0 } else { view::offset_of(view::page_number(Some(&self.page))) },
            format: if export { Some(given(&self.format).unwrap_or_else(|| "mbox".into())) } else { None },
        }
    }
}

/// One row, written for people.
struct Row {
    id: i64,
    received: String,
    account: String,
    identity: String,
    sender: String,
    recipients: String,
    subject: String,
    size: String,
}

impl Row {
    fn of(e: &Entry) -> Row {
        Row {
            id: e.id,
            received: view::when(e.received_at_ms),
            account: e.account.clone(),
            identity: e.identity.clone(),
            sender: if e.sender.is_empty() { "<>".into() } else { e.sender.clone() },
            recipients: format::addresses(&e.recipients, e.recipients.len(), SHOWN_RECIPIENTS),
            subject: e.subject.clone(),
            size: view::size(e.size),
        }
    }
}

#[derive(Template)]
#[template(path = "archive.html")]
struct SearchPage {
    chrome: Chrome,
    filters: Filters,
    domains: Vec<String>,
    /// The filters as hidden fields of the export form.
    export_fields: Vec<(&'static str, String)>,
    rows: Vec<Row>,
    pager: Pager,
    error: Option<String>,
}

pub async fn search(State(state): State<PanelState>, session: Session, Query(filters): Query<Filters>) -> Response {
    let chrome = Chrome::new(&session, "/archive");
    let domains = session.caller.domains().map(<[String]>::to_vec).unwrap_or_default();
    let page_number = view::page_number(given(&filters.page).as_deref());
    let (rows, pager, error, status) = match archive::search(&state.ops, &session.caller, filters.query(false)).await {
        Ok(list) => {
            // The archive's own `Paged`: the same fields as the store's.
            let more = view::offset_of(page_number) + (list.items.len() as u64) < list.total;
            let pager = Pager::new("/archive", &filters.pairs(), page_number, list.items.len(), Some(list.total), more);
            (list.items.iter().map(Row::of).collect(), pager, None, StatusCode::OK)
        }
        Err(e) => match PanelError::from(e) {
            // A filter the operation refuses is said on the form.
            e if e.status == StatusCode::BAD_REQUEST => {
                (Vec::new(), Pager::new("/archive", &[], 1, 0, None, false), Some(e.message), e.status)
            }
            e => return e.into_response(),
        },
    };
    let export_fields =
        filters.pairs().iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (*k, v.to_string())).collect();
    let page = SearchPage { chrome, domains, export_fields, rows, pager, error, filters };
    (status, render(&page)).into_response()
}

#[derive(Template)]
#[template(path = "archive_message.html")]
struct MessagePage {
    chrome: Chrome,
    id: i64,
    subject: String,
    facts: Vec<(&'static str, String)>,
    file_present: bool,
    headers: Vec<(String, String)>,
    preview: Option<String>,
    problem: Option<String>,
}

fn facts(e: &Entry, file_state: FileState) -> Vec<(&'static str, String)> {
    let file = match file_state {
        FileState::Present => "present",
        FileState::Missing => "missing",
        FileState::Unreadable => "unreadable",
    };
    vec![
        ("Received", view::when(e.received_at_ms)),
        ("Queue id", e.queue_id.clone()),
        ("Message-ID", e.message_id.clone().unwrap_or_default()),
        ("Domain", e.domain.clone()),
        ("Account", e.account.clone()),
        ("Identity", e.identity.clone()),
        ("Envelope sender", if e.sender.is_empty() { "<>".into() } else { e.sender.clone() }),
        ("Sender domain", e.sender_domain.clone().unwrap_or_default()),
        ("Recipients", e.recipients.join(", ")),
        ("Size", view::size(e.size)),
        ("SHA-256", e.sha256.clone()),
        ("File", file.to_string()),
    ]
}

/// A copy's id from the path, as the operations take it (they refuse anything else as
/// "no such archived message").
fn id_text(text: &str) -> Result<&str, PanelError> {
    let digits = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    if digits { Ok(text) } else { Err(PanelError::not_found()) }
}

pub async fn show(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PanelError> {
    let view = archive::view(&state.ops, &session.caller, id_text(&id)?).await?;
    let entry = &view.message.entry;
    let page = MessagePage {
        chrome: Chrome::new(&session, "/archive"),
        id: entry.id,
        subject: entry.subject.clone(),
        facts: facts(entry, view.message.file_state),
        file_present: view.message.file_state == FileState::Present && view.problem.is_none(),
        headers: view.headers,
        preview: view.preview,
        problem: view.problem,
    };
    Ok(render(&page))
}

/// The message as delivered, as a download (`message/rfc822`, never shown as a page).
pub async fn message(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PanelError> {
    let (id, bytes) = archive::message(&state.ops, &session.caller, id_text(&id)?).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("message/rfc822"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.eml\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The search result as mbox or zip, streamed as it is written.
pub async fn export(
    State(state): State<PanelState>,
    session: Session,
    Query(filters): Query<Filters>,
) -> Result<Response, PanelError> {
    let export = archive::export(&state.ops, &session.caller, filters.query(true)).await?;
    let (format, count) = (export.format, export.count);
    let rx = export.stream(session.caller.name.clone());
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"archive.{}\"", format.extension())) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(HeaderName::from_static("x-postern-archive-count"), HeaderValue::from(count));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_pages_and_an_export_takes_the_whole_result() {
        let f = Filters { text: "invoice".into(), page: "2".into(), sender: " ".into(), ..Filters::default() };
        let q = f.query(false);
        assert_eq!((q.text.as_deref(), q.sender, q.limit, q.offset, q.format), (Some("invoice"), None, 50, 50, None));
        let e = Filters { format: "zip".into(), ..f }.query(true);
        assert_eq!((e.limit, e.offset, e.format.as_deref()), (0, 0, Some("zip")));
        assert_eq!(Filters::default().query(true).format.as_deref(), Some("mbox"));
        assert!(id_text("12").is_ok() && id_text("1x").is_err() && id_text("").is_err());
    }
}
