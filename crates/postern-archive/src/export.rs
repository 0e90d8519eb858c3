//! Exports of a search result, written as a stream: **mbox** (mboxrd: a `From ` line per
//! message, body lines that start with `>*From ` get one more `>`, LF line ends) and **zip**
//! (one `<id>.eml` per message, exactly as delivered, then `manifest.json` listing each
//! file with its SHA-256, size and index fields).
//!
//! In: a filter and the caller's scope, a [`Write`] (a file, or the channel behind an HTTP
//! body; no `Seek` needed: the zip is written with data descriptors). Out: the stream and an
//! [`ExportSummary`]. Rows are read a page at a time and messages one at a time; the zip's
//! manifest is spooled to an anonymous temp file in the archive directory's `tmp/` while the
//! messages are written, so memory holds one page, one message and the zip's central
//! directory (about 100 bytes per file).
//!
//! A copy whose file is missing, unreadable or does not match its SHA-256 is skipped and
//! counted (and, in the zip, listed in the manifest with its error), never a panic.

use std::io::{self, Seek, Write};

use serde_json::json;
use zip::write::SimpleFileOptions;

use crate::{Archive, ArchiveError, Entry, Filter, Result};

/// Rows read per page.
const PAGE: u32 = 200;
/// The most skipped copies named in a summary.
const MOST_NAMED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Mbox,
    Zip,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Option<ExportFormat> {
        match text {
            "mbox" => Some(ExportFormat::Mbox),
            "zip" => Some(ExportFormat::Zip),
            _ => None,
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            ExportFormat::Mbox => "application/mbox",
            ExportFormat::Zip => "application/zip",
        }
    }

    pub fn extension(&self) -> &'static str {
        match self {
            ExportFormat::Mbox => "mbox",
            ExportFormat::Zip => "zip",
        }
    }
}

/// What an export wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub exported: u64,
    pub skipped: u64,
    /// The first skipped copies: (id, why).
    pub skipped_examples: Vec<(i64, String)>,
}

impl ExportSummary {
    fn skip(&mut self, id: i64, e: &ArchiveError) {
        tracing::warn!(id, error = %e, "archived copy skipped in an export");
        self.skipped += 1;
        if self.skipped_examples.len() < MOST_NAMED {
            self.skipped_examples.push((id, e.to_string()));
        }
    }
}

fn write_err(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Export(e.to_string())
}

impl Archive {
    pub fn export<W: Write>(
        &self,
        format: ExportFormat,
        filter: &Filter,
        scope: Option<&[String]>,
        out: W,
    ) -> Result<ExportSummary> {
        match format {
            ExportFormat::Mbox => self.export_mbox(filter, scope, out),
            ExportFormat::Zip => self.export_zip(filter, scope, out),
        }
    }

    /// The matching copies as one mboxrd stream, newest first.
    pub fn export_mbox<W: Write>(&self, filter: &Filter, scope: Option<&[String]>, out: W) -> Result<ExportSummary> {
        let mut out = io::BufWriter::with_capacity(64 * 1024, out);
        let mut summary = ExportSummary::default();
        self.pages(filter, scope, PAGE, |rows| {
            for entry in rows {
                match self.read(&entry) {
                    Ok(message) => {
                        write_mbox_message(&mut out, &entry, &message).map_err(write_err)?;
                        summary.exported += 1;
                    }
                    Err(e) => summary.skip(entry.id, &e),
                }
            }
            Ok(())
        })?;
        out.flush().map_err(write_err)?;
        Ok(summary)
    }

    /// The matching copies as a zip of `<id>.eml` files and `manifest.json`.
    pub fn export_zip<W: Write>(&self, filter: &Filter, scope: Option<&[String]>, out: W) -> Result<ExportSummary> {
        let mut zip = zip::ZipWriter::new_stream(io::BufWriter::with_capacity(64 * 1024, out));
        let tmp = self.scratch_dir();
        let mut manifest = io::BufWriter::new(tempfile::tempfile_in(tmp).map_err(crate::io_err("create in", tmp))?);
        manifest.write_all(b"[").map_err(write_err)?;
        let mut summary = ExportSummary::default();
        self.pages(filter, scope, PAGE, |rows| {
            for entry in rows {
                let line = match self.read(&entry) {
                    Ok(message) => {
                        let name = format!("{}.eml", entry.id);
                        zip.start_file(name.as_str(), file_options(entry.received_at_ms)).map_err(write_err)?;
                        zip.write_all(&message).map_err(write_err)?;
                        summary.exported += 1;
                        manifest_line(&entry, Some(&name), None)
                    }
                    Err(e) => {
                        summary.skip(entry.id, &e);
                        manifest_line(&entry, None, Some(&e.to_string()))
                    }
                };
                let sep: &[u8] = if summary.exported + summary.skipped == 1 { b"\n" } else { b",\n" };
                manifest.write_all(sep).and_then(|()| manifest.write_all(line.as_bytes())).map_err(write_err)?;
            }
            Ok(())
        })?;
        manifest.write_all(b"\n]\n").map_err(write_err)?;
        let mut manifest = manifest.into_inner().map_err(|e| write_err(e.error()))?;
        manifest.rewind().map_err(write_err)?;
        zip.start_file("manifest.json", file_options(postern_core::event::now_ms())).map_err(write_err)?;
        io::copy(&mut manifest, &mut zip).map_err(write_err)?;
        let mut inner = zip.finish().map_err(write_err)?.into_inner();
        inner.flush().map_err(write_err)?;
        Ok(summary)
    }
}

fn file_options(ms: i64) -> SimpleFileOptions {
    let options =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(0o644);
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return options };
    use chrono::{Datelike, Timelike};
    let (Ok(year), Ok(month), Ok(day)) = (u16::try_from(t.year()), u8::try_from(t.month()), u8::try_from(t.day()))
    else {
        return options;
    };
    let (h, m, s) = (t.hour() as u8, t.minute() as u8, t.second() as u8);
    match zip::DateTime::from_date_and_time(year, month, day, h, m, s) {
        Ok(time) => options.last_modified_time(time),
        Err(_) => options,
    }
}

/// One manifest object: the index fields, and the file with its checksum or the error.
fn manifest_line(entry: &Entry, file: Option<&str>, error: Option<&str>) -> String {
    let received = chrono::DateTime::from_timestamp_millis(entry.received_at_ms).map(|t| t.to_rfc3339());
    let mut value = json!({
        "id": entry.id,
        "queue_id": entry.queue_id,
        "received_at": received,
        "received_at_ms": entry.received_at_ms,
        "account_id": entry.account_id,
        "account": entry.account,
        "domain": entry.domain,
        "identity": entry.identity,
        "sender": entry.sender,
        "sender_domain": entry.sender_domain,
        "recipients": entry.recipients,
        "subject": entry.subject,
        "message_id": entry.message_id,
        "size": entry.size,
        "sha256": entry.sha256,
    });
    match (file, error) {
        (Some(file), _) => value["file"] = json!(file),
        (None, error) => value["error"] = json!(error.unwrap_or("not exported")),
    }
    value.to_string()
}

/// One mboxrd message: `From <sender> <asctime>`, the lines with LF ends, `>` added to
/// lines matching `>*From `, a blank line after.
pub(crate) fn write_mbox_message(out: &mut impl Write, entry: &Entry, message: &[u8]) -> io::Result<()> {
    let sender: String = match entry.sender.as_str() {
        "" => "MAILER-DAEMON".into(),
        s => s.chars().map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c }).collect(),
    };
    let date = chrono::DateTime::from_timestamp_millis(entry.received_at_ms)
        .map_or_else(|| "Thu Jan  1 00:00:00 1970".into(), |t| t.format("%a %b %e %H:%M:%S %Y").to_string());
    writeln!(out, "From {sender} {date}")?;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let unquoted = &line[line.iter().take_while(|&&b| b == b'>').count()..];
        if unquoted.starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}
