//! The archive (SPEC.md §6): copies of archived accounts' outgoing messages, searched,
//! shown, downloaded one by one (`.eml`) and exported (mbox or zip with a manifest).
//!
//! In: filters from the query string, a row id from the path. Out: JSON rows
//! ([`postern_archive::Entry`], with the state of the copy's file in `show`), the message
//! as `message/rfc822`, and exports streamed as the archive writes them: a blocking
//! thread writes through a bounded channel into the response body, so neither side holds
//! more than a few chunks (a slow reader slows the export down; a reader that goes away
//! stops it).
//!
//! A domain admin sees only copies whose account domain or sender domain is one of its
//! domains: any other copy is "no such archived message", like a missing one; a search or
//! an export finds nothing else whatever its filters. An export that matches nothing is
//! the same 404 for everyone. Search input that is not valid (a `text` without a word, a
//! time that is not a time) is a 400 naming the parameter, never a 500.

use std::io::{self, Write};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use postern_archive::{Archive, ArchiveError, Entry, ExportFormat, FileState, Filter, Page, Paged};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError, blocking};

/// Chunks of an export in flight between the writing thread and the response.
const CHANNEL_CHUNKS: usize = 8;
const CHUNK: usize = 64 * 1024;

/// The search parameters (also those of an export, with `format`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    domain: Option<String>,
    account: Option<String>,
    account_id: Option<i64>,
    identity: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
    subject: Option<String>,
    message_id: Option<String>,
    queue_id: Option<String>,
    text: Option<String>,
    /// Received at or after: RFC 3339 or Unix milliseconds.
    since: Option<String>,
    /// Received before: RFC 3339 or Unix milliseconds.
    until: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
    /// Exports only: `mbox` or `zip`.
    format: Option<String>,
}

fn no_copy() -> ApiError {
    ApiError::not_found("no such archived message")
}

fn service(state: &AdminState) -> Result<Archive, ApiError> {
    state.archive.clone().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the archive is not available"))
}

fn failed(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::BadQuery { field, reason } => ApiError::bad_field(field, reason),
        ArchiveError::Missing { .. } => ApiError::new(StatusCode::GONE, "the archived copy's file is missing"),
        ArchiveError::Corrupt { .. } => {
            ApiError::new(StatusCode::GONE, "the archived copy is damaged (it does not match its SHA-256)")
        }
        other => ApiError::internal(other),
    }
}

/// A time parameter: Unix milliseconds, or RFC 3339.
fn time(field: &'static str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| Some(t.timestamp_millis())).map_err(|_| {
        ApiError::bad_field(field, "a time is Unix milliseconds or RFC 3339, such as 2025-01-31T00:00:00Z")
    })
}

fn filter(q: ArchiveQuery) -> Result<Filter, ApiError> {
    Ok(Filter {
        since_ms: time("since", q.since.as_deref())?,
        until_ms: time("until", q.until.as_deref())?,
        domain: q.domain,
        account: q.account,
        account_id: q.account_id,
        identity: q.identity,
        sender: q.sender,
        recipient: q.recipient,
        subject: q.subject,
        message_id: q.message_id,
        queue_id: q.queue_id,
        text: q.text,
    })
}

fn scope(caller: &Caller) -> Option<Vec<String>> {
    caller.domains().map(<[String]>::to_vec)
}

/// The row in a path, if the caller may see it (the same 404 otherwise).
async fn visible(archive: &Archive, caller: &Caller, text: &str) -> Result<Entry, ApiError> {
    let id = object_id(text, "archived message")?;
    let found = archive.clone();
    let entry = blocking(move || found.get(id)).await?.map_err(failed)?.ok_or_else(no_copy)?;
    let allowed = match caller.domains() {
        None => true,
        Some(domains) => domains.iter().any(|d| *d == entry.domain || Some(d) == entry.sender_domain.as_ref()),
    };
    if allowed { Ok(entry) } else { Err(no_copy()) }
}

pub async fn search(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> Result<Json<Paged<Entry>>, ApiError> {
    let archive = service(&state)?;
    if q.format.is_some() {
        return Err(ApiError::bad_field("format", "format is for exports (/archive/export)"));
    }
    let page = page(q.limit, q.offset)?;
    let page = Page { limit: page.limit, offset: page.offset };
    let filter = filter(q)?;
    let scope = scope(&caller);
    let found = blocking(move || archive.search(&filter, scope.as_deref(), page)).await?;
    Ok(Json(found.map_err(failed)?))
}

/// The row, and whether its file is there.
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let archive = service(&state)?;
    let entry = visible(&archive, &caller, &id).await?;
    let mut answer = serde_json::to_value(&entry).map_err(ApiError::internal)?;
    let (checked, row) = (archive.clone(), entry.clone());
    let file_state = blocking(move || checked.file_state(&row)).await?;
    if file_state != FileState::Present {
        tracing::warn!(id = entry.id, file = entry.file.as_str(), ?file_state, "archived copy not readable");
    }
    answer["file_state"] = json!(file_state);
    Ok(Json(answer))
}

/// The message as delivered (`.eml`).
pub async fn message(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let archive = service(&state)?;
    let entry = visible(&archive, &caller, &id).await?;
    let id = entry.id;
    let bytes = blocking(move || archive.read(&entry)).await?.map_err(failed)?;
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.eml\"")),
    ];
    Ok((headers, bytes).into_response())
}

/// The search result as mbox or zip, streamed.
pub async fn export(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(mut q): ApiQuery<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let archive = service(&state)?;
    if q.limit != 0 || q.offset != 0 {
        return Err(ApiError::bad_field("limit", "an export takes the whole result; narrow it with the filters"));
    }
    let format = q.format.take().unwrap_or_else(|| "mbox".into());
    let format = ExportFormat::parse(&format).ok_or_else(|| ApiError::bad_field("format", "mbox or zip"))?;
    let filter = filter(q)?;
    let scope = scope(&caller);
    // Checked (and counted) before the body starts, so a bad filter is still a 400.
    let (counting, f, s) = (archive.clone(), filter.clone(), scope.clone());
    let count = blocking(move || counting.count(&f, s.as_deref())).await?.map_err(failed)?;
    if count == 0 {
        return Err(ApiError::not_found("no archived message matches"));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let who = caller.name.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter { tx: tx.clone(), buffer: Vec::with_capacity(CHUNK) };
        match archive.export(format, &filter, scope.as_deref(), &mut out).and_then(|summary| {
            out.flush().map_err(|e| ArchiveError::Export(e.to_string()))?;
            Ok(summary)
        }) {
            Ok(summary) => tracing::info!(
                by = who.as_str(),
                format = format.extension(),
                exported = summary.exported,
                skipped = summary.skipped,
                "archive export"
            ),
            Err(e) => {
                tracing::warn!(by = who.as_str(), error = %e, "archive export stopped");
                // The body ends in an error: the client sees an incomplete transfer, not a
                // short file that looks whole.
                let _ = tx.blocking_send(Err(io::Error::other("export stopped")));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let headers = [
        (header::CONTENT_TYPE, format.content_type().to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"archive.{}\"", format.extension())),
        (HeaderName::from_static("x-postern-archive-count"), count.to_string()),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// A [`Write`] into the response body: chunks of 64 KiB through the bounded channel; a
/// reader that went away is a broken pipe, which stops the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
