//! `postern queue list|show|retry|hold|release|delete` against a running server. `show`
//! prints a readable view (UTC times, each recipient with its state), `show --content`
//! the message itself; `--json` the API's answer for scripts.

use std::io::Write;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{ApiClient, ClientArgs, encode, query};
use super::output;

#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: QueueCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// List queued messages (oldest first).
    List {
        #[arg(long)]
        sender: Option<String>,
        #[arg(long)]
        recipient: Option<String>,
        /// Sender's or any recipient's domain.
        #[arg(long)]
        domain: Option<String>,
        /// incoming, active, deferred or held.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one message with each recipient's state (--content: the message itself).
    Show {
        id: String,
        /// Print the message as queued (headers and body; at most 10 MiB, then cut).
        #[arg(long)]
        content: bool,
    },
    /// Try a message now (or every message with --all).
    Retry {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Hold a message: it is not tried until released.
    Hold { id: String },
    /// Release a held message.
    Release { id: String },
    /// Delete a message without a bounce.
    Delete { id: String },
}

pub fn run(args: QueueArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let json = args.client.json;
    let answer = match args.command {
        QueueCommand::List { sender, recipient, domain, state } => {
            let filters = [("sender", sender), ("recipient", recipient), ("domain", domain), ("state", state)];
            let list = api.get(&format!("/queue{}", query(filters)))?;
            if !json {
                print_table(&list);
                return Ok(());
            }
            list
        }
        QueueCommand::Show { id, content: true } => {
            let path = format!("/queue/{}/content", encode(&id));
            let (bytes, size) = api.get_bytes(&path, 11 << 20, "x-postern-message-size")?;
            std::io::stdout().write_all(&bytes)?;
            if let Some(size) = size.filter(|s| s.parse::<usize>().is_ok_and(|n| n > bytes.len())) {
                eprintln!("postern: the message has {size} bytes; only the first {} are shown", bytes.len());
            }
            return Ok(());
        }
        QueueCommand::Show { id, content: false } => {
            let message = api.get(&format!("/queue/{}", encode(&id)))?;
            if !json {
                print!("{}", show(&message));
                return Ok(());
            }
            message
        }
        QueueCommand::Retry { all: true, .. } => api.post("/queue/retry")?,
        QueueCommand::Retry { id: Some(id), .. } => api.post(&format!("/queue/{}/retry", encode(&id)))?,
        QueueCommand::Retry { id: None, all: false } => anyhow::bail!("give a queue id or --all"),
        QueueCommand::Hold { id } => api.post(&format!("/queue/{}/hold", encode(&id)))?,
        QueueCommand::Release { id } => api.post(&format!("/queue/{}/release", encode(&id)))?,
        QueueCommand::Delete { id } => api.delete(&format!("/queue/{}", encode(&id)))?,
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// One message for humans: its fields, times in UTC, then one line per recipient.
fn show(m: &Value) -> String {
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let sender = match text("sender") {
        s if s.is_empty() => "<>".to_string(),
        s => s,
    };
    let time = |k: &str| match m.get(k).and_then(Value::as_i64) {
        Some(ms) => format!("{} UTC", output::utc(ms)),
        None => "-".to_string(),
    };
    let mut out = format!(
        "queue id      {}\nstate         {}\nsender        {sender}\nsize          {} bytes\nreceived      {}\n\
         attempts      {}\nnext attempt  {}\nrecipients:\n",
        text("queue_id"),
        text("state"),
        m.get("size").and_then(Value::as_u64).unwrap_or(0),
        time("received_at_ms"),
        m.get("attempts").and_then(Value::as_u64).unwrap_or(0),
        time("next_attempt_ms"),
    );
    for r in m.get("recipients").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        out.push_str(&format!("  {:<9} {}  {}\n", f("status"), f("address"), f("reply")).replace("  \n", "\n"));
    }
    out
}

/// Like `postqueue -p`: one line per message, one indented line per recipient.
fn print_table(list: &Value) {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    println!("{:<20}  {:<8}  {:>9}  {:<19}  SENDER", "QUEUE ID", "STATE", "SIZE", "ARRIVED (UTC)");
    for m in items {
        let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let arrived = m
            .get("received_at_ms")
            .and_then(Value::as_i64)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let size = m.get("size").and_then(Value::as_u64).unwrap_or(0);
        let sender = text("sender");
        let sender = if sender.is_empty() { "<>".to_string() } else { sender };
        println!("{:<20}  {:<8}  {:>9}  {:<19}  {}", text("queue_id"), text("state"), size, arrived, sender);
        for r in m.get("recipients").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
            println!("    {:<9} {}  {}", f("status"), f("address"), f("reply"));
        }
    }
    println!("-- {} message(s)", items.len());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_message_shows_utc_times_and_each_recipient() {
        let m = json!({"queue_id": "0123456789ABCDEF0123", "sender": "", "size": 42, "received_at_ms": 0,
            "state": "deferred", "attempts": 2, "next_attempt_ms": 60_000,
            "recipients": [{"address": "a@x.example", "status": "pending", "reply": "451 4.3.0 later"},
                           {"address": "b@x.example", "status": "delivered"}]});
        let text = show(&m);
        assert!(text.contains("sender        <>\n"), "{text}");
        assert!(text.contains("received      1970-01-01 00:00:00 UTC\n"), "{text}");
        assert!(text.contains("next attempt  1970-01-01 00:01:00 UTC\n"), "{text}");
        assert!(text.contains("  pending   a@x.example  451 4.3.0 later\n"), "{text}");
        assert!(text.contains("  delivered b@x.example\n"), "{text}");
        assert!(!text.contains("_ms") && !text.contains('{'), "no raw JSON: {text}");
    }
}
