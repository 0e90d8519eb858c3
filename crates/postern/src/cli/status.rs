//! `postern status`: the running server's status (superadmin): version, queue size, and
//! the event log's counts — events stored, stored after a retry, dropped, waiting.

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::client::{ApiClient, ClientArgs};
use super::output;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let status = api.get("/status")?;
    if args.client.json {
        print!("{}", output::json(&status));
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}

fn render(status: &Value) -> String {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let events = status.get("events").unwrap_or(&Value::Null);
    let version = status.get("version").and_then(Value::as_str).unwrap_or("?");
    let queue = status.get("queue").unwrap_or(&Value::Null);
    format!(
        "version  {version}\nqueue    {} message(s)\nevents   {} stored ({} after a retry), {} dropped, {} waiting for a retry, {} failed store attempt(s)\n",
        n(queue, "messages"),
        n(events, "stored"),
        n(events, "retried"),
        n(events, "dropped"),
        n(events, "waiting"),
        n(events, "failures"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn status_reads_as_one_line_per_part() {
        let s = json!({"version": "0.1.0", "queue": {"messages": 3},
            "events": {"stored": 10, "retried": 4, "dropped": 2, "waiting": 1, "failures": 5}});
        assert_eq!(
            render(&s),
            "version  0.1.0\nqueue    3 message(s)\nevents   10 stored (4 after a retry), 2 dropped, 1 waiting for a retry, 5 failed store attempt(s)\n"
        );
    }
}
