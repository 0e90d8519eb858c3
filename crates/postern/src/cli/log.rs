//! `postern log search|show` against a running server: log search (messages and refusals
//! by domain, time range and filters, newest first) and one message's timeline (every
//! event from the connection to the last delivery attempt). A table and a timeline for
//! people; `--json` gives the API's answer for scripts. A domain admin's token sees its
//! domains only.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{ApiClient, ClientArgs, encode, query};
use super::output::{self, Table};

#[derive(Args, Debug)]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: LogCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Search messages and refusals, newest first (default: the last hour).
    Search(Box<SearchArgs>),
    /// Show a message's row and timeline, by queue id, Message-ID or row id.
    Show {
        /// A queue id, a Message-ID (angle brackets optional) or a row id (a refusal).
        key: String,
    },
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The account's domain or the sender's domain.
    #[arg(long)]
    domain: Option<String>,
    /// Arrived at or after this time (RFC 3339, e.g. 2025-01-31T00:00:00Z) [default: an hour ago].
    #[arg(long)]
    since: Option<String>,
    /// Arrived at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// The envelope sender (the whole address).
    #[arg(long)]
    sender: Option<String>,
    /// One of the recipients (the whole address).
    #[arg(long)]
    recipient: Option<String>,
    #[arg(long)]
    identity: Option<String>,
    /// The account's name.
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    client_ip: Option<String>,
    /// received, quarantined, rejected, discarded, queued, deferred, delivered, bounced or expired.
    #[arg(long)]
    status: Option<String>,
    /// Where a rejected message was refused: connect, helo, mail, rcpt, data...
    #[arg(long)]
    stage: Option<String>,
    #[arg(long)]
    queue_id: Option<String>,
    #[arg(long)]
    message_id: Option<String>,
    /// Part of the subject.
    #[arg(long)]
    subject: Option<String>,
    /// Part of the rule that decided.
    #[arg(long)]
    rule: Option<String>,
    /// Rows per page (at most 500) [default: 50].
    #[arg(long)]
    limit: Option<u32>,
    /// The page after this cursor (printed under a full page).
    #[arg(long)]
    before: Option<String>,
}

impl SearchArgs {
    fn query(self) -> String {
        query([
            ("domain", self.domain),
            ("since", self.since),
            ("until", self.until),
            ("sender", self.sender),
            ("recipient", self.recipient),
            ("identity", self.identity),
            ("account", self.account),
            ("client_ip", self.client_ip),
            ("status", self.status),
            ("stage", self.stage),
            ("queue_id", self.queue_id),
            ("message_id", self.message_id),
            ("subject", self.subject),
            ("rule", self.rule),
            ("limit", self.limit.map(|n| n.to_string())),
            ("before", self.before),
        ])
    }
}

pub fn run(args: LogArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        LogCommand::Search(search) => {
            let page = api.get(&format!("/log{}", search.query()))?;
            let text = table(&page);
            (page, text)
        }
        LogCommand::Show { key } => {
            let timeline = api.get(&format!("/log/{}", encode(&key)))?;
            let text = show(&timeline);
            (timeline, text)
        }
    };
    if args.client.json {
        print!("{}", output::json(&answer));
    } else {
        print!("{human}");
    }
    Ok(())
}

/// A page as a table, with the cursor of the next page.
fn table(page: &Value) -> String {
    let mut t = Table::new(&["ARRIVED (UTC)", "ID", "STATUS", "SENDER", "RECIPIENTS", "ACCOUNT", "SUBJECT / RULE"]);
    let items = output::items(page);
    for m in items {
        t.row(vec![
            output::time(m, "first_at_ms"),
            id(m),
            status(m),
            output::text(m, "sender"),
            recipients(m),
            output::text(m, "account"),
            detail(m),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!("-- {} message(s)", items.len()));
    match page.get("next").and_then(Value::as_str) {
        Some(next) => out.push_str(&format!("; more with --before {next}\n")),
        None => out.push('\n'),
    }
    out
}

/// The queue id, or `#ROW` for a refusal without one (`postern log show ROW`).
fn id(m: &Value) -> String {
    match m.get("queue_id").and_then(Value::as_str) {
        Some(q) => q.to_string(),
        None => format!("#{}", output::text(m, "id")),
    }
}

/// `rejected (rcpt)`, `delivered`.
fn status(m: &Value) -> String {
    let status = output::text(m, "status");
    match m.get("stage").and_then(Value::as_str) {
        Some(stage) => format!("{status} ({stage})"),
        None => status,
    }
}

/// The first recipient, and how many more.
fn recipients(m: &Value) -> String {
    let first = m.get("recipients").and_then(|r| r.get(0)).and_then(Value::as_str).unwrap_or("-");
    match m.get("recipient_count").and_then(Value::as_u64).unwrap_or(0) {
        0 | 1 => first.to_string(),
        n => format!("{first} (+{})", n - 1),
    }
}

/// The subject, else the rule; at most 50 characters.
fn detail(m: &Value) -> String {
    let text = m.get("subject").or_else(|| m.get("rule")).and_then(Value::as_str).unwrap_or("-");
    let short: String = text.chars().take(50).collect();
    if short.len() < text.len() { format!("{short}...") } else { short }
}

/// The row, then one line per event.
fn show(timeline: &Value) -> String {
    let empty = Value::Null;
    let message = timeline.get("message").unwrap_or(&empty);
    let mut out = output::detail(message, &["queue_id", "status", "stage", "rule", "reply", "sender", "recipients"]);
    out.push('\n');
    let mut t = Table::new(&["TIME (UTC)", "EVENT", "WHAT"]);
    for step in timeline.get("steps").and_then(Value::as_array).into_iter().flatten() {
        let ms = step.get("at_ms").and_then(Value::as_i64).unwrap_or(0);
        let time = format!("{}.{:03}", output::utc(ms), ms.rem_euclid(1000));
        t.row(vec![time, output::text(step, "kind"), output::text(step, "summary")]);
    }
    out.push_str(&t.render());
    if timeline.get("truncated").and_then(Value::as_bool) == Some(true) {
        out.push_str("(more events than shown)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_page_is_a_table_with_the_next_cursor() {
        let page = json!({"items": [
            {"id": 7, "queue_id": "0123456789ABCDEF0123", "first_at_ms": 0, "status": "delivered", "sender": "a@b.example",
             "recipients": ["c@d.example", "e@f.example"], "recipient_count": 3, "account": "acct", "subject": "Hello"},
            {"id": 8, "first_at_ms": 1000, "status": "rejected", "stage": "rcpt", "sender": "x@y.example",
             "recipients": [], "recipient_count": 0, "rule": "relay access denied"}
        ], "limit": 2, "next": "1000.8"});
        let text = table(&page);
        assert!(text.contains("0123456789ABCDEF0123  delivered"), "{text}");
        assert!(text.contains("c@d.example (+2)"), "{text}");
        assert!(
            text.contains("#8") && text.contains("rejected (rcpt)") && text.contains("relay access denied"),
            "{text}"
        );
        assert!(text.ends_with("-- 2 message(s); more with --before 1000.8\n"), "{text}");
    }

    #[test]
    fn a_timeline_lists_each_event() {
        let timeline = json!({"message": {"queue_id": "Q", "status": "delivered", "first_at_ms": 0}, "steps": [
            {"at_ms": 1234, "kind": "connect", "summary": "connected to smtp from port 4000"},
            {"at_ms": 5678, "kind": "delivery", "summary": "delivered to c@d.example by mx: 250 ok (attempt 1)"}
        ], "truncated": false});
        let text = show(&timeline);
        assert!(text.contains("status") && text.contains("delivered"), "{text}");
        assert!(text.contains("1970-01-01 00:00:01.234  connect   connected to smtp from port 4000"), "{text}");
        assert!(text.contains("delivery  delivered to c@d.example"), "{text}");
    }
}
