//! `postern archive search|show|export` against a running server. `search` lists archived
//! copies (domain, account, identity, sender, recipient, subject, Message-ID, queue id,
//! full text, time range), newest first; `show` prints a copy's index row and whether its
//! file is there (`--eml`: the message itself on stdout); `export` writes a search result
//! to a file as mbox or zip (with a manifest of SHA-256 checksums), streamed from the
//! server with a progress bar on a terminal. A domain admin finds only its domains' copies.
//!
//! An export is written to `<file>.part` and renamed once complete, so a file with the
//! final name is never a cut-off export.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::output::{self, Noun};
use super::progress;

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What to look for; every filter given must match.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// The account's domain or the sender's domain.
    #[arg(long)]
    domain: Option<String>,
    /// The account's name (exact).
    #[arg(long)]
    account: Option<String>,
    /// The account's id.
    #[arg(long, value_name = "ID")]
    account_id: Option<i64>,
    /// Part of the identity.
    #[arg(long)]
    identity: Option<String>,
    /// Part of the envelope sender.
    #[arg(long)]
    sender: Option<String>,
    /// Part of a recipient.
    #[arg(long)]
    recipient: Option<String>,
    /// Part of the subject.
    #[arg(long)]
    subject: Option<String>,
    /// The Message-ID, with or without <>.
    #[arg(long)]
    message_id: Option<String>,
    /// The queue id.
    #[arg(long)]
    queue_id: Option<String>,
    /// Words in the subject or the text body (all of them; word* for a prefix).
    #[arg(long)]
    text: Option<String>,
    /// Received at or after (RFC 3339, e.g. 2025-01-31T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("domain", self.domain.clone()),
            ("account", self.account.clone()),
            ("account_id", self.account_id.map(|n| n.to_string())),
            ("identity", self.identity.clone()),
            ("sender", self.sender.clone()),
            ("recipient", self.recipient.clone()),
            ("subject", self.subject.clone()),
            ("message_id", self.message_id.clone()),
            ("queue_id", self.queue_id.clone()),
            ("text", self.text.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ]
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// mboxrd, newest first.
    Mbox,
    /// <id>.eml files and manifest.json (each file's SHA-256, size and index fields).
    Zip,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Search archived messages, newest first.
    Search {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an archived message's index row and whether its file is there.
    Show {
        id: String,
        /// Print the message as delivered (.eml) instead.
        #[arg(long)]
        eml: bool,
    },
    /// Export a search result to a file as mbox or zip.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "mbox")]
        format: Format,
        /// The file to write (not overwritten unless --force).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: ArchiveArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let json = args.client.json;
    let answer = match args.command {
        ArchiveCommand::Search { filter, page } => {
            let list = api.get(&format!("/archive{}", query(filter.pairs().into_iter().chain(page.pairs()))))?;
            if !json {
                print!("{}", table(&list));
                return Ok(());
            }
            list
        }
        ArchiveCommand::Show { id, eml: true } => {
            let mut reader = api.get_stream(&format!("/archive/{}/message", encode(&id)))?.1;
            std::io::copy(&mut reader, &mut std::io::stdout().lock()).context("reading the message")?;
            return Ok(());
        }
        ArchiveCommand::Show { id, eml: false } => {
            let row = api.get(&format!("/archive/{}", encode(&id)))?;
            if !json {
                print!("{}", show(&row));
                return Ok(());
            }
            row
        }
        ArchiveCommand::Export { filter, format, out, force } => {
            let summary = export(&api, &filter, format, &out, force, progress::wanted(json))?;
            if !json {
                println!("{summary}");
                return Ok(());
            }
            serde_json::json!({"file": out, "result": summary})
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

fn export(
    api: &ApiClient,
    filter: &FilterArgs,
    format: Format,
    out: &Path,
    force: bool,
    shown: bool,
) -> Result<String> {
    if out.exists() && !force {
        bail!("{} exists; use --force to replace it", out.display());
    }
    let name = match format {
        Format::Mbox => "mbox",
        Format::Zip => "zip",
    };
    let pairs = filter.pairs().into_iter().chain([("format", Some(name.to_string()))]);
    let (count, mut body) = api.get_stream(&format!("/archive/export{}", query(pairs)))?;
    let count: u64 = count.and_then(|c| c.parse().ok()).unwrap_or(0);
    let part = out.with_file_name(format!(
        "{}.part",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into())
    ));
    let written = (|| -> Result<u64> {
        let mut file = std::fs::File::create(&part).with_context(|| format!("create {}", part.display()))?;
        let bar = match format {
            Format::Mbox => progress::counted(count, "messages", shown),
            Format::Zip => progress::bytes(format!("{count} messages"), shown),
        };
        let mut lines = MboxCounter::default();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = body.read(&mut buffer).context("the export stopped before its end")?;
            if n == 0 {
                break;
            }
            file.write_all(&buffer[..n]).with_context(|| format!("write {}", part.display()))?;
            total += n as u64;
            match format {
                Format::Mbox => bar.set_position(lines.feed(&buffer[..n])),
                Format::Zip => bar.set_position(total),
            }
        }
        file.sync_all().with_context(|| format!("write {}", part.display()))?;
        bar.finish_and_clear();
        Ok(total)
    })();
    let total = match written {
        Ok(total) => total,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    std::fs::rename(&part, out).with_context(|| format!("rename to {}", out.display()))?;
    Ok(format!("{count} archived message(s) written to {} ({total} bytes, {name})", out.display()))
}

/// Counts `From ` lines (message starts) in an mboxrd stream fed in pieces.
#[derive(Default)]
struct MboxCounter {
    messages: u64,
    /// Bytes of `From ` matched at the start of the current line; `None`: not at a start.
    matched: Option<usize>,
    started: bool,
}

impl MboxCounter {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        const FROM: &[u8] = b"From ";
        for &b in bytes {
            let at = if self.started { self.matched } else { Some(0) };
            self.started = true;
            self.matched = match at {
                _ if b == b'\n' => Some(0),
                Some(n) if FROM[n] == b => {
                    if n + 1 == FROM.len() {
                        self.messages += 1;
                        None
                    } else {
                        Some(n + 1)
                    }
                }
                _ => None,
            };
        }
        self.messages
    }
}

fn table(list: &Value) -> String {
    let header = ["ID", "RECEIVED (UTC)", "ACCOUNT", "SENDER", "RCPTS", "SIZE", "SUBJECT"];
    output::list(list, &header, Noun("archived message", "archived messages"), |m| {
        let rcpts = m.get("recipients").and_then(Value::as_array).map_or(0, Vec::len);
        let subject: String = output::text(m, "subject").chars().take(40).collect();
        vec![
            output::text(m, "id"),
            output::time(m, "received_at_ms"),
            output::text(m, "account"),
            output::text(m, "sender"),
            rcpts.to_string(),
            output::text(m, "size"),
            subject,
        ]
    })
}

/// One archived message's row for humans.
fn show(m: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!("{:<14}{}\n", "received", output::time(m, "received_at_ms")));
    for (label, field) in [
        ("id", "id"),
        ("queue id", "queue_id"),
        ("account", "account"),
        ("account id", "account_id"),
        ("domain", "domain"),
        ("identity", "identity"),
        ("sender", "sender"),
        ("recipients", "recipients"),
        ("subject", "subject"),
        ("message-id", "message_id"),
        ("size", "size"),
        ("sha256", "sha256"),
        ("file", "file"),
        ("file state", "file_state"),
    ] {
        out.push_str(&format!("{label:<14}{}\n", output::text(m, field)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_are_counted_across_pieces() {
        let mut c = MboxCounter::default();
        assert_eq!(c.feed(b"From a@b Mon\nx\n>From quoted\nFr"), 1);
        assert_eq!(c.feed(b"om c@d Tue\n\nFrom"), 2);
        assert_eq!(c.feed(b" e\nnot From \n"), 3);
    }

    #[test]
    fn a_row_shows_its_file_state() {
        let m = serde_json::json!({"id": 4, "received_at_ms": 0, "recipients": ["a@x.example"],
            "file_state": "missing", "subject": "hi"});
        let text = show(&m);
        assert!(text.contains("file state    missing\n"), "{text}");
        assert!(text.contains("recipients    a@x.example\n"), "{text}");
    }
}
