//! The admin API client the subcommands share: where the server is and how to prove who
//! we are. URL: `--url`, else `POSTERN_URL`, else `<data-dir>/admin.url` (written by a
//! running server). Token: `POSTERN_TOKEN`, else `<data-dir>/admin-token`, else `--token`
//! (last, because arguments are visible to other users of the machine).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Admin API URL [default: $POSTERN_URL, else <data-dir>/admin.url].
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// Bearer token (prefer $POSTERN_TOKEN or the data directory: argv is public).
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,
    /// Data directory of the local server [default: ./postern-data].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

pub struct ApiClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl ApiClient {
    pub fn new(args: &ClientArgs) -> Result<ApiClient> {
        let dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("./postern-data"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok().map(|s| s.trim().to_string());
        let base =
            args.url.clone().or_else(|| std::env::var("POSTERN_URL").ok()).or_else(|| read("admin.url")).ok_or_else(
                || anyhow!("no admin API URL: use --url, POSTERN_URL, or --data-dir of a running server"),
            )?;
        let token = std::env::var("POSTERN_TOKEN")
            .ok()
            .or_else(|| read("admin-token"))
            .or_else(|| args.token.clone())
            .ok_or_else(|| anyhow!("no token: set POSTERN_TOKEN or use --data-dir (admin-token)"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(ApiClient { base: base.trim_end_matches('/').to_string(), token, agent })
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path)
    }

    pub fn post(&self, path: &str) -> Result<Value> {
        self.call("POST", path)
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call("DELETE", path)
    }

    fn call(&self, method: &str, path: &str) -> Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match method {
            "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => self.agent.delete(&url).header("Authorization", &auth).call(),
            _ => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body.get("error").and_then(Value::as_str).unwrap_or("request failed");
        match body.get("field").and_then(Value::as_str) {
            Some(field) => bail!("{status}: {field}: {message}"),
            None => bail!("{status}: {message}"),
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
