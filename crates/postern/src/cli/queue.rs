//! `postern queue list|show|retry|hold|release|delete` against a running server.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{ApiClient, ClientArgs, encode, query};

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
    /// Show one message with each recipient's state.
    Show { id: String },
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
        QueueCommand::Show { id } => api.get(&format!("/queue/{}", encode(&id)))?,
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
