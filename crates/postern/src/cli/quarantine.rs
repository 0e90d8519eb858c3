//! `postern quarantine list|show|arf|release|delete|confirm|request-release` against a
//! running server. `list` searches held messages (domain, account, identity, sender,
//! recipient, rule, time range); `show` prints the row, the header fields, a sanitised
//! text preview, the verdict trace and the ARF fields; `arf` the whole report. `release`
//! is for a superadmin (a domain admin asks with `request-release`); `--json` gives the
//! API's answer for scripts.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{ApiClient, ClientArgs, PageArgs, encode, query};
use super::output::{self, Noun};

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List held messages, newest first (a domain admin: its domains' only).
    List {
        /// The account's domain.
        #[arg(long)]
        domain: Option<String>,
        /// The account's name (exact).
        #[arg(long)]
        account: Option<String>,
        /// Part of the identity.
        #[arg(long)]
        identity: Option<String>,
        /// Part of the envelope sender.
        #[arg(long)]
        sender: Option<String>,
        /// Part of a recipient.
        #[arg(long)]
        recipient: Option<String>,
        /// The rule that found spam (exact), e.g. GTUBE.
        #[arg(long)]
        rule: Option<String>,
        /// Held at or after this time (RFC 3339, e.g. 2025-01-31T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Held before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// held, releasing, released or purging.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a held message: row, header fields, text preview, verdict trace, ARF fields.
    Show { id: String },
    /// Print the message's RFC 5965 abuse report (ARF).
    Arf { id: String },
    /// Release a held message for delivery, without another scan (superadmin).
    Release { id: String },
    /// Delete a held message.
    Delete { id: String },
    /// Confirm a held message as spam (a spam sample for training).
    Confirm { id: String },
    /// Ask a superadmin to release a held message.
    RequestRelease {
        id: String,
        /// Why (one line, at most 500 characters).
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn run(args: QuarantineArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let json = args.client.json;
    let answer = match args.command {
        QuarantineCommand::List { domain, account, identity, sender, recipient, rule, since, until, state, page } => {
            let since_ms = since.as_deref().map(|t| ms("--since", t)).transpose()?.map(|n| n.to_string());
            let until_ms = until.as_deref().map(|t| ms("--until", t)).transpose()?.map(|n| n.to_string());
            let filters = [
                ("domain", domain),
                ("account", account),
                ("identity", identity),
                ("sender", sender),
                ("recipient", recipient),
                ("rule", rule),
                ("since_ms", since_ms),
                ("until_ms", until_ms),
                ("state", state),
            ];
            let list = api.get(&format!("/quarantine{}", query(filters.into_iter().chain(page.pairs()))))?;
            if !json {
                print!("{}", table(&list));
                return Ok(());
            }
            list
        }
        QuarantineCommand::Show { id } => {
            let message = api.get(&format!("/quarantine/{}", encode(&id)))?;
            if !json {
                print!("{}", show(&message));
                return Ok(());
            }
            message
        }
        QuarantineCommand::Arf { id } => {
            let (bytes, _) = api.get_bytes(&format!("/quarantine/{}/arf", encode(&id)), 11 << 20, "content-type")?;
            std::io::stdout().write_all(&bytes)?;
            return Ok(());
        }
        QuarantineCommand::Release { id } => api.post(&format!("/quarantine/{}/release", encode(&id)))?,
        QuarantineCommand::Delete { id } => api.delete(&format!("/quarantine/{}", encode(&id)))?,
        QuarantineCommand::Confirm { id } => api.post(&format!("/quarantine/{}/confirm", encode(&id)))?,
        QuarantineCommand::RequestRelease { id, note } => {
            let body = match note {
                Some(note) => json!({"note": note}),
                None => json!({}),
            };
            api.post_json(&format!("/quarantine/{}/request-release", encode(&id)), &body)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// An RFC 3339 time as Unix milliseconds.
fn ms(flag: &str, text: &str) -> Result<i64> {
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("{flag}: {text:?} is not an RFC 3339 time such as 2025-01-31T00:00:00Z"))?;
    Ok(time.timestamp_millis())
}

fn table(list: &Value) -> String {
    let header = ["ID", "STATE", "HELD (UTC)", "RULE", "ACCOUNT", "SENDER", "RCPTS", "SUBJECT", "REQUESTED BY"];
    output::list(list, &header, Noun("held message", "held messages"), |m| {
        let rcpts = m.get("recipients").and_then(Value::as_array).map_or(0, Vec::len);
        let subject: String = output::text(m, "subject").chars().take(40).collect();
        vec![
            output::text(m, "id"),
            output::text(m, "state"),
            output::time(m, "held_at_ms"),
            output::text(m, "rule"),
            output::text(m, "account"),
            output::text(m, "sender"),
            rcpts.to_string(),
            subject,
            output::text(m, "release_requested_by"),
        ]
    })
}

/// One held message for humans.
fn show(m: &Value) -> String {
    let mut out = String::new();
    for (label, field) in [
        ("id", "id"),
        ("queue id", "queue_id"),
        ("state", "state"),
        ("domain", "domain"),
        ("account", "account"),
        ("identity", "identity"),
        ("sender", "sender"),
        ("recipients", "recipients"),
        ("subject", "subject"),
        ("rule", "rule"),
        ("reaction", "reaction"),
        ("client", "client_ip"),
        ("release asked", "release_requested_by"),
        ("note", "release_note"),
        ("released by", "released_by"),
        ("confirmed by", "confirmed_by"),
    ] {
        out.push_str(&format!("{label:<14}{}\n", output::text(m, field)));
    }
    out.push_str(&format!("{:<14}{}\n", "held", output::time(m, "held_at_ms")));
    out.push_str(&format!("{:<14}{}\n", "expires", output::time(m, "expires_at_ms")));
    out.push_str("verdict trace:\n");
    for c in m.get("checks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let score = c.get("score").and_then(Value::as_f64).map(|s| format!(" score {s}")).unwrap_or_default();
        out.push_str(&format!(
            "  {}/{} {} {}{score}\n",
            output::text(c, "stage"),
            output::text(c, "engine"),
            output::text(c, "result"),
            output::text(c, "rule")
        ));
    }
    out.push_str("headers:\n");
    for h in m.get("headers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let part = |i: usize| h.get(i).and_then(Value::as_str).unwrap_or("");
        out.push_str(&format!("  {}: {}\n", part(0), part(1)));
    }
    if let Some(preview) = m.get("preview").and_then(Value::as_str) {
        out.push_str("preview:\n");
        for line in preview.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(arf) = m.get("arf").and_then(Value::as_str) {
        out.push_str("abuse report (ARF) fields:\n");
        for line in arf.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339() {
        assert_eq!(ms("--since", "1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(ms("--since", "yesterday").is_err());
    }

    #[test]
    fn a_held_message_shows_its_trace_preview_and_report() {
        let m = json!({"id": 3, "queue_id": "Q", "state": "held", "recipients": ["a@x.example", "b@x.example"],
            "checks": [{"stage": "content", "engine": "gtube", "result": "spam", "rule": "GTUBE", "micros": 1}],
            "headers": [["Subject", "hi"]], "preview": "line 1\nline 2", "arf": "Feedback-Type: abuse\r\n",
            "held_at_ms": 0, "expires_at_ms": 1000});
        let text = show(&m);
        assert!(text.contains("recipients    a@x.example,b@x.example\n"), "{text}");
        assert!(text.contains("  content/gtube spam GTUBE\n"), "{text}");
        assert!(text.contains("  Subject: hi\n") && text.contains("  line 2\n"), "{text}");
        assert!(text.contains("  Feedback-Type: abuse\n"), "{text}");
    }
}
