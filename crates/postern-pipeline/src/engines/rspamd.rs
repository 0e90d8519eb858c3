//! Rspamd over its HTTP protocol: `POST /checkv2` with the envelope as headers (`IP`,
//! `Helo`, `From`, `Rcpt` once per recipient, `User` = the account, so that Rspamd's
//! outbound mode applies, `Queue-Id`) and the message as the body.
//!
//! In: a [`ScanInput`]. Out: spam when Rspamd's `action` is one of the configured spam
//! actions (default `reject`, `add header`, `rewrite subject`), with Rspamd's score and
//! the top symbols as the rule; clean otherwise; failed for anything but a well-formed
//! `200` reply with an `action` and a `score`.

use std::collections::BTreeMap;

use postern_core::BoxFuture;
use serde::Deserialize;

use super::{EngineSettings, excerpt, exchange, header_value, http};
use crate::scanner::{OnFailure, ScanInput, ScanResult, Scanner, Setting};

/// Rspamd's reply is JSON with one entry per symbol; a megabyte is far beyond any real one.
const MAX_REPLY: usize = 1024 * 1024;
/// How many symbols the rule names.
const TOP_SYMBOLS: usize = 3;

/// The actions Rspamd knows (3.x).
pub const ACTIONS: &[&str] =
    &["no action", "greylist", "add header", "rewrite subject", "soft reject", "reject", "discard", "quarantine"];

#[derive(Debug, Clone, PartialEq)]
pub struct RspamdSettings {
    pub engine: EngineSettings,
    /// Rspamd actions that mean spam.
    pub spam_actions: Vec<String>,
}

pub struct RspamdScanner {
    settings: RspamdSettings,
}

impl RspamdScanner {
    pub fn new(settings: RspamdSettings) -> RspamdScanner {
        RspamdScanner { settings }
    }

    async fn check(&self, input: &ScanInput<'_>) -> ScanResult {
        let engine = &self.settings.engine;
        if let Some(skipped) = engine.skip_oversized(input.message) {
            return skipped;
        }
        let request = request(&engine.address, input);
        let reply = match exchange(&engine.address, engine.timeout, &request, input.message, MAX_REPLY).await {
            Ok(reply) => reply,
            Err(error) => return ScanResult::Failed { error },
        };
        match parse(&reply) {
            Ok(verdict) => verdict.result(&self.settings.spam_actions),
            Err(error) => ScanResult::Failed { error: format!("garbled reply from rspamd: {error}") },
        }
    }
}

impl Scanner for RspamdScanner {
    fn engine(&self) -> &'static str {
        "rspamd"
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        Box::pin(self.check(input))
    }

    fn on_failure(&self) -> OnFailure {
        self.settings.engine.on_failure
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::Spam)
    }

    fn ping(&self) -> Option<BoxFuture<'_, Result<(), String>>> {
        let engine = &self.settings.engine;
        Some(Box::pin(super::ping::rspamd(&engine.address, engine.timeout)))
    }
}

/// The request line and headers; the message follows as the body.
fn request(address: &str, input: &ScanInput<'_>) -> Vec<u8> {
    let envelope = input.envelope;
    let mut head = format!(
        "POST /checkv2 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\nIP: {}\r\n",
        header_value(address),
        input.message.len(),
        envelope.client.ip
    );
    if let Some(helo) = &envelope.client.helo {
        head.push_str(&format!("Helo: {}\r\n", header_value(helo)));
    }
    if let Some(sender) = &envelope.sender {
        head.push_str(&format!("From: {}\r\n", header_value(&sender.to_string())));
    }
    for rcpt in &envelope.recipients {
        head.push_str(&format!("Rcpt: {}\r\n", header_value(&rcpt.address.to_string())));
    }
    if let Some(owner) = &envelope.owner {
        head.push_str(&format!("User: {}\r\n", header_value(&owner.account)));
    }
    head.push_str(&format!("Queue-Id: {}\r\n\r\n", envelope.queue_id));
    head.into_bytes()
}

/// What Rspamd decided.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    pub action: String,
    pub score: f64,
    /// Symbols by score, highest first (ties by name).
    pub symbols: Vec<(String, f64)>,
}

impl Verdict {
    fn result(self, spam_actions: &[String]) -> ScanResult {
        if !spam_actions.iter().any(|a| a.eq_ignore_ascii_case(&self.action)) {
            return ScanResult::Clean { score: Some(self.score) };
        }
        ScanResult::Spam { rule: self.rule(), score: Some(self.score) }
    }

    /// The symbols that weigh most (those with a positive score; when none has one, as
    /// with GTUBE, the symbols themselves if few); else the action.
    fn rule(&self) -> String {
        let positive: Vec<&str> =
            self.symbols.iter().filter(|(_, s)| *s > 0.0).take(TOP_SYMBOLS).map(|(n, _)| n.as_str()).collect();
        if !positive.is_empty() {
            return positive.join(",");
        }
        if !self.symbols.is_empty() && self.symbols.len() <= TOP_SYMBOLS {
            return self.symbols.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(",");
        }
        format!("action {}", self.action)
    }
}

#[derive(Deserialize)]
struct RawReply {
    action: Option<String>,
    score: Option<f64>,
    #[serde(default)]
    symbols: BTreeMap<String, RawSymbol>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawSymbol {
    #[serde(default)]
    score: f64,
}

/// The `/checkv2` reply: HTTP `200` and JSON with `action` (a known one) and a finite
/// `score`; anything else is an error.
pub(crate) fn parse(reply: &[u8]) -> Result<Verdict, String> {
    let response = http::parse(reply)?;
    let raw: Result<RawReply, _> = serde_json::from_slice(&response.body);
    if response.status != 200 {
        let detail = match &raw {
            Ok(RawReply { error: Some(e), .. }) => excerpt(e.as_bytes(), 200),
            _ => excerpt(&response.body, 200),
        };
        return Err(format!("HTTP {}: {detail}", response.status));
    }
    let raw = raw.map_err(|e| format!("not the JSON of /checkv2: {e}"))?;
    if let Some(error) = raw.error {
        return Err(format!("rspamd error: {}", excerpt(error.as_bytes(), 200)));
    }
    let action = raw.action.ok_or("no action in the reply")?;
    if !ACTIONS.contains(&action.as_str()) {
        return Err(format!("unknown action {:?}", excerpt(action.as_bytes(), 40)));
    }
    let score = raw.score.filter(|s| s.is_finite()).ok_or("no score in the reply")?;
    let mut symbols: Vec<(String, f64)> =
        raw.symbols.into_iter().map(|(name, s)| (name, if s.score.is_finite() { s.score } else { 0.0 })).collect();
    symbols.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Verdict { action, score, symbols })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        ["reject", "add header", "rewrite subject"].map(String::from).to_vec()
    }

    #[test]
    fn real_replies() {
        let ham = parse(include_bytes!("fixtures/rspamd-ham.http")).unwrap();
        assert_eq!(ham.action, "no action");
        assert_eq!(ham.score, -0.1);
        assert_eq!(ham.symbols.last().unwrap(), &("MIME_GOOD".to_string(), -0.1));
        assert_eq!(ham.result(&defaults()), ScanResult::Clean { score: Some(-0.1) });

        let reject = parse(include_bytes!("fixtures/rspamd-gtube-reject.http")).unwrap();
        assert_eq!(reject.result(&defaults()), ScanResult::Spam { rule: "GTUBE".into(), score: Some(15.0) });
        let add_header = parse(include_bytes!("fixtures/rspamd-gtube-add-header.http")).unwrap();
        assert_eq!(add_header.action, "add header");
        assert_eq!(add_header.result(&defaults()), ScanResult::Spam { rule: "GTUBE".into(), score: Some(6.0) });
        let rewrite = parse(include_bytes!("fixtures/rspamd-gtube-rewrite-subject.http")).unwrap();
        assert_eq!(rewrite.action, "rewrite subject");
        // The mapping decides: with only "reject" meaning spam, "add header" is clean.
        let add_header = parse(include_bytes!("fixtures/rspamd-gtube-add-header.http")).unwrap();
        assert_eq!(add_header.result(&["reject".to_string()]), ScanResult::Clean { score: Some(6.0) });
    }

    #[test]
    fn real_error_replies_fail() {
        let err = parse(include_bytes!("fixtures/rspamd-not-found.http")).unwrap_err();
        assert_eq!(err, "HTTP 500: invalid command");
        // An empty request is answered "no action" with no symbols: a reply, not an error.
        assert_eq!(parse(include_bytes!("fixtures/rspamd-bad-request.http")).unwrap().action, "no action");
    }

    #[test]
    fn the_rule_names_the_top_symbols() {
        let v = Verdict {
            action: "reject".into(),
            score: 20.0,
            symbols: vec![
                ("A".into(), 9.0),
                ("B".into(), 5.0),
                ("C".into(), 3.0),
                ("D".into(), 2.0),
                ("E".into(), 0.0),
            ],
        };
        assert_eq!(v.rule(), "A,B,C");
        let v = Verdict { action: "reject".into(), score: 20.0, symbols: vec![] };
        assert_eq!(v.rule(), "action reject");
    }

    #[test]
    fn garbage_is_never_clean() {
        let ok = |body: &str| format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let full = std::str::from_utf8(include_bytes!("fixtures/rspamd-ham.http")).unwrap();
        for reply in [
            ok(""),
            ok("{}"),
            ok("[]"),
            ok("not json"),
            ok(r#"{"score": 1.0}"#),
            ok(r#"{"action": "no action"}"#),
            ok(r#"{"action": "no action", "score": "1"}"#),
            ok(r#"{"action": "maybe", "score": 1.0}"#),
            ok(r#"{"action": "no action", "score": 1.0, "error": "x"}"#),
            ok(r#"{"action": "no action", "score": 1e999}"#),
            full[..full.len() - 10].to_string(),
            full.replace("HTTP/1.1 200 OK", "HTTP/1.1 503 Busy"),
            "SPAMD/1.1 0 EX_OK\r\n\r\n".into(),
        ] {
            assert!(parse(reply.as_bytes()).is_err(), "{reply}");
        }
    }
}
