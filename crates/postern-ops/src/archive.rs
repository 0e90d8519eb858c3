//! The archive's operations (SPEC.md §6): search archived copies, show one (its index row
//! and the state of its file), view one (its header fields and a sanitised text preview,
//! for the web panel), read one as delivered, and prepare an export (validated and
//! counted; the front end streams it with [`Export::stream`]).
//!
//! In: the caller, filters ([`ArchiveQuery`], parsed strictly), a row id as text. Out:
//! [`Entry`] rows, [`ArchivedMessage`], [`ArchivedView`], the message bytes, an [`Export`]
//! to run.
//!
//! A domain admin sees only copies whose account domain or sender domain is one of its
//! domains: any other copy is "no such archived message", exactly as a missing one, and
//! searches and exports never include it whatever their filters. An export that matches
//! nothing is the same `NotFound` for everyone. Invalid filters (a `text` without a word,
//! a time that is not a time) are `BadInput` naming the parameter; a copy whose file is
//! missing or damaged is a `Conflict` saying so (the row tells the story).

use std::io::{self, Write};

use postern_archive::{Archive, ArchiveError, ExportFormat, FileState, Filter, Page};
use serde::{Deserialize, Serialize};

pub use postern_archive::{Entry, Paged};

use crate::{Caller, OpError, Ops, Result, blocking};

/// The search parameters (those of an export too, with `format`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    /// The account's domain or the sender's domain.
    pub domain: Option<String>,
    /// The account's name (exact).
    pub account: Option<String>,
    pub account_id: Option<i64>,
    /// Part of the identity.
    pub identity: Option<String>,
    /// Part of the envelope sender.
    pub sender: Option<String>,
    /// Part of a recipient.
    pub recipient: Option<String>,
    /// Part of the subject.
    pub subject: Option<String>,
    /// The Message-ID, with or without `<>`.
    pub message_id: Option<String>,
    pub queue_id: Option<String>,
    /// Words in the subject or the text body, all required; `word*` for a prefix; no
    /// search syntax.
    pub text: Option<String>,
    /// Received at or after: RFC 3339 or Unix milliseconds.
    pub since: Option<String>,
    /// Received before: RFC 3339 or Unix milliseconds.
    pub until: Option<String>,
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub offset: u64,
    /// Exports only: `mbox` (default, mboxrd) or `zip` (`<id>.eml` files and
    /// `manifest.json` with each file's SHA-256, size and index fields).
    #[param(pattern = "^(mbox|zip)$")]
    pub format: Option<String>,
}

/// One copy's row and whether its file is there.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchivedMessage {
    #[serde(flatten)]
    pub entry: Entry,
    pub file_state: FileState,
}

/// What a person sees of a copy: its row, its header fields (sanitised, at most 200) and a
/// text preview (the text part, or the HTML part converted to text; at most
/// [`crate::quarantine::PREVIEW_CHARS`] characters, control characters removed). A copy
/// whose file cannot be read has no headers and no preview, and `problem` says why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArchivedView {
    #[serde(flatten)]
    pub message: ArchivedMessage,
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub preview: Option<String>,
    pub problem: Option<String>,
}

/// A validated export: run [`Export::write`] on a blocking thread, or [`Export::stream`].
pub struct Export {
    archive: Archive,
    pub format: ExportFormat,
    filter: Filter,
    scope: Option<Vec<String>>,
    /// The copies matching when it was prepared.
    pub count: u64,
}

impl Export {
    /// Writes the export to `out` (blocking).
    pub fn write<W: std::io::Write>(&self, out: W) -> postern_archive::Result<postern_archive::ExportSummary> {
        self.archive.export(self.format, &self.filter, self.scope.as_deref(), out)
    }
}

/// Chunks of a streamed export in flight between the writing thread and the reader.
const STREAM_CHUNKS: usize = 8;
/// The size of a streamed export's chunks.
const STREAM_CHUNK: usize = 64 * 1024;

impl Export {
    /// Runs the export on a blocking thread, writing 64 KiB chunks into a bounded channel,
    /// so neither side holds more than a few chunks: a slow reader slows the export down, a
    /// reader that drops the receiver stops it, and a failure ends the stream in an error
    /// (never in a short file that looks whole). `by` names the caller in the log line.
    pub fn stream(self, by: String) -> tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>> {
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHUNKS);
        let format = self.format;
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter { tx: tx.clone(), buffer: Vec::with_capacity(STREAM_CHUNK) };
            let written = self.write(&mut out).and_then(|summary| {
                out.flush().map_err(|e| ArchiveError::Export(e.to_string()))?;
                Ok(summary)
            });
            match written {
                Ok(summary) => tracing::info!(
                    by = by.as_str(),
                    format = format.extension(),
                    exported = summary.exported,
                    skipped = summary.skipped,
                    "archive export"
                ),
                Err(e) => {
                    tracing::warn!(by = by.as_str(), error = %e, "archive export stopped");
                    let _ = tx.blocking_send(Err(io::Error::other("export stopped")));
                }
            }
        });
        rx
    }
}

/// A [`Write`] into the channel of [`Export::stream`]: a receiver that went away is a
/// broken pipe, which stops the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(STREAM_CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= STREAM_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn service(ops: &Ops) -> Result<Archive> {
    ops.archive.clone().ok_or_else(|| OpError::unavailable("the archive is not available"))
}

fn no_copy() -> OpError {
    OpError::not_found("no such archived message")
}

fn failed(e: ArchiveError) -> OpError {
    match e {
        ArchiveError::BadQuery { field, reason } => OpError::bad_field(field, reason),
        ArchiveError::Missing { .. } => OpError::conflict("the archived copy's file is missing"),
        ArchiveError::Corrupt { .. } => {
            OpError::conflict("the archived copy is damaged (it does not match its SHA-256)")
        }
        other => OpError::internal(other),
    }
}

/// A time parameter: Unix milliseconds, or RFC 3339.
fn time(field: &'static str, text: Option<&str>) -> Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| OpError::bad_field(field, "a time is Unix milliseconds or RFC 3339, such as 2025-01-31T00:00:00Z"))
}

fn filter(q: ArchiveQuery) -> Result<Filter> {
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

/// The row a path names, if the caller may see it (the same `NotFound` otherwise).
async fn visible(archive: &Archive, caller: &Caller, text: &str) -> Result<Entry> {
    let digits = !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    let id = digits.then(|| text.parse::<i64>().ok()).flatten().ok_or_else(no_copy)?;
    let found = archive.clone();
    let entry = blocking(move || found.get(id)).await?.map_err(failed)?.ok_or_else(no_copy)?;
    let allowed = match caller.domains() {
        None => true,
        Some(domains) => domains.iter().any(|d| *d == entry.domain || Some(d) == entry.sender_domain.as_ref()),
    };
    if allowed { Ok(entry) } else { Err(no_copy()) }
}

/// Search, newest first.
pub async fn search(ops: &Ops, caller: &Caller, q: ArchiveQuery) -> Result<Paged<Entry>> {
    let archive = service(ops)?;
    if q.format.is_some() {
        return Err(OpError::bad_field("format", "format is for exports"));
    }
    let page = crate::page::page(q.limit, q.offset)?;
    let page = Page { limit: page.limit, offset: page.offset };
    let (filter, scope) = (filter(q)?, scope(caller));
    blocking(move || archive.search(&filter, scope.as_deref(), page)).await?.map_err(failed)
}

pub async fn show(ops: &Ops, caller: &Caller, id: &str) -> Result<ArchivedMessage> {
    let archive = service(ops)?;
    let entry = visible(&archive, caller, id).await?;
    let row = entry.clone();
    let file_state = blocking(move || archive.file_state(&row)).await?;
    if file_state != FileState::Present {
        tracing::warn!(id = entry.id, file = entry.file.as_str(), ?file_state, "archived copy not readable");
    }
    Ok(ArchivedMessage { entry, file_state })
}

/// The row, its header fields and a text preview; never the message's HTML as such.
pub async fn view(ops: &Ops, caller: &Caller, id: &str) -> Result<ArchivedView> {
    let archive = service(ops)?;
    let message = show(ops, caller, id).await?;
    let entry = message.entry.clone();
    let read = blocking(move || archive.read(&entry)).await?;
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(e @ (ArchiveError::Missing { .. } | ArchiveError::Corrupt { .. })) => {
            let problem = failed(e).message;
            return Ok(ArchivedView { message, headers: Vec::new(), preview: None, problem: Some(problem) });
        }
        Err(e) => return Err(failed(e)),
    };
    let (headers, preview) =
        blocking(move || postern_pipeline::quarantine::preview(&bytes, crate::quarantine::PREVIEW_CHARS)).await?;
    Ok(ArchivedView { message, headers, preview: Some(preview), problem: None })
}

/// The message as delivered, checked against its SHA-256: its id and bytes.
pub async fn message(ops: &Ops, caller: &Caller, id: &str) -> Result<(i64, Vec<u8>)> {
    let archive = service(ops)?;
    let entry = visible(&archive, caller, id).await?;
    let id = entry.id;
    Ok((id, blocking(move || archive.read(&entry)).await?.map_err(failed)?))
}

/// An export of the search result, checked and counted before anything is written (so a
/// bad filter is still an error the caller sees whole). An export takes no page.
pub async fn export(ops: &Ops, caller: &Caller, mut q: ArchiveQuery) -> Result<Export> {
    let archive = service(ops)?;
    if q.limit != 0 || q.offset != 0 {
        return Err(OpError::bad_field("limit", "an export takes the whole result; narrow it with the filters"));
    }
    let format = q.format.take().unwrap_or_else(|| "mbox".into());
    let format = ExportFormat::parse(&format).ok_or_else(|| OpError::bad_field("format", "mbox or zip"))?;
    let (filter, scope) = (filter(q)?, scope(caller));
    let (counting, f, s) = (archive.clone(), filter.clone(), scope.clone());
    let count = blocking(move || counting.count(&f, s.as_deref())).await?.map_err(failed)?;
    if count == 0 {
        return Err(OpError::not_found("no archived message matches"));
    }
    Ok(Export { archive, format, filter, scope, count })
}
