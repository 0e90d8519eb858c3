//! The admin API client the subcommands share: where the server is and how to prove who
//! we are. URL: `--url`, else `POSTERN_URL`, else `<data-dir>/admin.url` (written by a
//! running server). Token: `--token`, else `POSTERN_TOKEN`, else `<data-dir>/admin-token`
//! (prefer the last two: arguments are visible to other users of the machine).
//!
//! Every call answers the API's JSON or an error reading `STATUS: FIELD: MESSAGE` (the
//! field only when the API names one), which `main` prints before exiting 1.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
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

/// `--limit` and `--offset` of every list.
#[derive(Args, Debug, Clone, Default)]
pub struct PageArgs {
    /// Show at most this many (the server caps it).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Skip this many first.
    #[arg(long, value_name = "N")]
    pub offset: Option<u32>,
}

impl PageArgs {
    pub fn pairs(&self) -> [(&'static str, Option<String>); 2] {
        [("limit", self.limit.map(|n| n.to_string())), ("offset", self.offset.map(|n| n.to_string()))]
    }
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
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let base =
            args.url.clone().or_else(|| env("POSTERN_URL")).or_else(|| read("admin.url")).ok_or_else(|| {
                anyhow!("no admin API URL: use --url, POSTERN_URL, or --data-dir of a running server")
            })?;
        let token = args
            .token
            .clone()
            .or_else(|| env("POSTERN_TOKEN"))
            .or_else(|| read("admin-token"))
            .ok_or_else(|| anyhow!("no token: set POSTERN_TOKEN or use --data-dir (admin-token)"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(ApiClient { base: base.trim_end_matches('/').to_string(), token, agent })
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str) -> Result<Value> {
        self.call("POST", path, None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    pub fn patch_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("PATCH", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call("DELETE", path, None)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &auth).call(),
            ("PATCH", Some(body)) => self.agent.patch(&url).header("Authorization", &auth).send_json(body),
            (_, Some(body)) => self.agent.post(&url).header("Authorization", &auth).send_json(body),
            _ => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(api_error(status, &body))
    }

    /// A POST of raw bytes (a training file) with `content_type`; answers the API's JSON.
    pub fn post_bytes(&self, path: &str, body: &[u8], content_type: &str) -> Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response =
            self.agent.post(&url).header("Authorization", &auth).header("Content-Type", content_type).send(body);
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(api_error(status, &body))
    }

    /// A GET whose answer is not JSON (a message's content), at most `limit` bytes, with
    /// the value of `header` in the answer (if any).
    pub fn get_bytes(&self, path: &str, limit: u64, header: &str) -> Result<(Vec<u8>, Option<String>)> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = self.agent.get(&url).header("Authorization", &auth).call();
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let value = response.headers().get(header).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.body_mut().with_config().limit(limit).read_to_vec().context("reading the answer")?;
        if status.is_success() {
            return Ok((bytes, value));
        }
        Err(api_error(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// A GET whose answer is streamed (an archive export, a message): the value of
    /// `X-Postern-Archive-Count` and a reader of the body, not held in memory.
    pub fn get_stream(&self, path: &str) -> Result<(Option<String>, impl std::io::Read + use<>)> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = self.agent.get(&url).header("Authorization", &auth).call();
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
            return Err(api_error(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        }
        let count = response.headers().get("x-postern-archive-count").and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok((count, response.into_body().into_reader()))
    }
}

/// `STATUS: FIELD: MESSAGE` from an error answer.
fn api_error(status: ureq::http::StatusCode, body: &Value) -> anyhow::Error {
    let message = body.get("error").and_then(Value::as_str).unwrap_or("request failed");
    match body.get("field").and_then(Value::as_str) {
        Some(field) => anyhow!("{status}: {field}: {message}"),
        None => anyhow!("{status}: {message}"),
    }
}

/// `?k=v&...` from the pairs that have a value (percent-encoded), or "" when none has.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> String {
    let set: Vec<String> = pairs.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v)))).collect();
    if set.is_empty() { String::new() } else { format!("?{}", set.join("&")) }
}

/// Percent-encodes a query value or a path segment.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_unset_pairs_and_encode_values() {
        assert_eq!(query([("a", None), ("b", None)]), "");
        assert_eq!(
            query([("name", Some("a b@x".into())), ("kind", None), ("limit", Some("5".into()))]),
            "?name=a%20b%40x&limit=5"
        );
        assert_eq!(encode("192.0.2.0/24"), "192.0.2.0%2F24");
    }
}
