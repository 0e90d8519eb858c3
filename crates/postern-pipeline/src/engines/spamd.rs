//! SpamAssassin over spamd's protocol: `REPORT SPAMC/1.5` with `Content-length` and `User`
//! (the account), then the message.
//!
//! In: a [`ScanInput`]. Out: spam when spamd says `Spam: True` (or, with a configured
//! `threshold`, when its score reaches that), with spamd's score and the rules that
//! weighed most as the rule; clean otherwise; failed for anything but a well-formed
//! `SPAMD/1.x 0 EX_OK` reply with its `Spam:` header and a body of its `Content-length`.

use postern_core::BoxFuture;

use super::{EngineSettings, content_length, excerpt, exchange, header_value, split_head};
use crate::scanner::{OnFailure, ScanInput, ScanResult, Scanner, Setting};

/// A report is the rules hit with their descriptions and a short preview.
const MAX_REPLY: usize = 256 * 1024;
/// How many rules the verdict's rule names.
const TOP_RULES: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct SpamdSettings {
    pub engine: EngineSettings,
    /// Spam at this score or above, whatever spamd's own threshold; `None`: spamd decides.
    pub threshold: Option<f64>,
}

pub struct SpamdScanner {
    settings: SpamdSettings,
}

impl SpamdScanner {
    pub fn new(settings: SpamdSettings) -> SpamdScanner {
        SpamdScanner { settings }
    }

    async fn check(&self, input: &ScanInput<'_>) -> ScanResult {
        let engine = &self.settings.engine;
        if let Some(skipped) = engine.skip_oversized(input.message) {
            return skipped;
        }
        let mut head = format!("REPORT SPAMC/1.5\r\nContent-length: {}\r\n", input.message.len());
        if let Some(owner) = &input.envelope.owner {
            head.push_str(&format!("User: {}\r\n", user(&owner.account)));
        }
        head.push_str("\r\n");
        let reply = match exchange(&engine.address, engine.timeout, head.as_bytes(), input.message, MAX_REPLY).await {
            Ok(reply) => reply,
            Err(error) => return ScanResult::Failed { error },
        };
        match parse(&reply) {
            Ok(verdict) => verdict.result(self.settings.threshold),
            Err(error) => ScanResult::Failed { error: format!("garbled reply from spamd: {error}") },
        }
    }
}

impl Scanner for SpamdScanner {
    fn engine(&self) -> &'static str {
        "spamassassin"
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
        Some(Box::pin(super::ping::spamd(&engine.address, engine.timeout)))
    }
}

/// spamd reads the user name up to the first white space: the account's name with each
/// white space (as in `trusted-network 10.0.0.0/8`) made a `-`.
fn user(account: &str) -> String {
    header_value(account).chars().map(|c| if c.is_whitespace() { '-' } else { c }).collect()
}

/// What spamd decided.
#[derive(Debug, PartialEq)]
pub(crate) struct Verdict {
    pub spam: bool,
    pub score: f64,
    pub threshold: f64,
    /// The rules of the report by points, highest first (ties in report order).
    pub rules: Vec<(String, f64)>,
}

impl Verdict {
    fn result(self, threshold: Option<f64>) -> ScanResult {
        let spam = match threshold {
            Some(t) => self.score >= t,
            None => self.spam,
        };
        if !spam {
            return ScanResult::Clean { score: Some(self.score) };
        }
        let top: Vec<&str> =
            self.rules.iter().filter(|(_, p)| *p > 0.0).take(TOP_RULES).map(|(n, _)| n.as_str()).collect();
        let rule = if top.is_empty() { format!("score {} / {}", self.score, self.threshold) } else { top.join(",") };
        ScanResult::Spam { rule, score: Some(self.score) }
    }
}

/// A `REPORT` (or `SYMBOLS`) reply.
pub(crate) fn parse(reply: &[u8]) -> Result<Verdict, String> {
    if reply.is_empty() {
        return Err("empty reply (connection closed)".into());
    }
    let first = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = std::str::from_utf8(first).map_err(|_| "the status line is not text".to_string())?.trim_end();
    let mut parts = first.splitn(3, ' ');
    let (version, code, message) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    if !version.starts_with("SPAMD/1.") {
        return Err(format!("not a spamd status line: {:?}", excerpt(first.as_bytes(), 80)));
    }
    if code != "0" {
        return Err(format!("spamd error {code}: {}", excerpt(message.unwrap_or("").as_bytes(), 200)));
    }
    let Some((head, body_start)) = split_head(reply) else {
        return Err("no header block (truncated)".into());
    };
    let body = &reply[body_start..];
    match content_length(head) {
        Some(Ok(len)) if body.len() == len => {}
        Some(Ok(len)) => return Err(format!("a body of {} octets, Content-length {len}", body.len())),
        Some(Err(e)) => return Err(e),
        None => return Err("no Content-length".into()),
    }
    let spam_header = head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon].eq_ignore_ascii_case(b"spam").then(|| &line[colon + 1..])
    });
    let spam_header = spam_header.ok_or("no Spam: header")?;
    let (spam, score, threshold) = spam_line(spam_header)?;
    Ok(Verdict { spam, score, threshold, rules: report_rules(body) })
}

/// `True ; 1000.0 / 5.0`.
fn spam_line(value: &[u8]) -> Result<(bool, f64, f64), String> {
    let bad = || format!("bad Spam: header {:?}", excerpt(value, 80));
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (flag, numbers) = text.split_once(';').ok_or_else(bad)?;
    let spam = match flag.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => true,
        "false" | "no" => false,
        _ => return Err(bad()),
    };
    let (score, threshold) = numbers.split_once('/').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    match (number(score), number(threshold)) {
        (Some(score), Some(threshold)) => Ok((spam, score, threshold)),
        _ => Err(bad()),
    }
}

/// The rules of a report's table (` pts rule name  description`), by points; the body of a
/// `SYMBOLS` reply (a comma-separated list, no points) gives each 0.
fn report_rules(body: &[u8]) -> Vec<(String, f64)> {
    let text = String::from_utf8_lossy(body);
    let mut rules: Vec<(String, f64)> = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("---- ") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(points), Some(name)) = (words.next(), words.next()) else { continue };
        let (Ok(points), true) = (points.parse::<f64>(), is_rule_name(name)) else { continue };
        rules.push((name.to_string(), if points.is_finite() { points } else { 0.0 }));
    }
    if !in_table {
        let names = text.trim();
        if names.split(',').all(is_rule_name) {
            rules = names.split(',').map(|n| (n.to_string(), 0.0)).collect();
        }
    }
    rules.sort_by(|a, b| b.1.total_cmp(&a.1));
    rules
}

fn is_rule_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_reports() {
        let ham = parse(include_bytes!("fixtures/spamd-report-ham.txt")).unwrap();
        assert!(!ham.spam);
        assert_eq!((ham.score, ham.threshold), (-0.0, 5.0));
        assert_eq!(ham.rules.len(), 3);
        assert_eq!(ham.result(None), ScanResult::Clean { score: Some(-0.0) });

        let gtube = parse(include_bytes!("fixtures/spamd-report-gtube.txt")).unwrap();
        assert!(gtube.spam);
        assert_eq!(gtube.score, 1000.0);
        assert_eq!(gtube.rules[0], ("GTUBE".to_string(), 1000.0));
        assert_eq!(gtube.result(None), ScanResult::Spam { rule: "GTUBE".into(), score: Some(1000.0) });
    }

    #[test]
    fn a_configured_threshold_overrides_spamd() {
        let ham = parse(include_bytes!("fixtures/spamd-report-ham.txt")).unwrap();
        assert_eq!(ham.result(Some(-1.0)), ScanResult::Spam { rule: "score -0 / 5".into(), score: Some(-0.0) });
        let gtube = parse(include_bytes!("fixtures/spamd-report-gtube.txt")).unwrap();
        assert_eq!(gtube.result(Some(2000.0)), ScanResult::Clean { score: Some(1000.0) });
    }

    #[test]
    fn real_symbols_replies() {
        let gtube = parse(include_bytes!("fixtures/spamd-symbols-gtube.txt")).unwrap();
        assert!(gtube.spam);
        assert_eq!(gtube.rules.len(), 5);
        assert_eq!(gtube.rules[0].0, "GTUBE");
        assert!(!parse(include_bytes!("fixtures/spamd-symbols-ham.txt")).unwrap().spam);
    }

    #[test]
    fn a_real_error_fails() {
        let err = parse(include_bytes!("fixtures/spamd-bad-request.txt")).unwrap_err();
        assert_eq!(err, "spamd error 76: Bad header line: FROBNICATE SPAMC/1.5");
    }

    #[test]
    fn garbage_is_never_clean() {
        let full = std::str::from_utf8(include_bytes!("fixtures/spamd-report-ham.txt")).unwrap();
        let with = |spam: &str| format!("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: {spam}\r\n\r\n");
        for reply in [
            String::new(),
            "garbage\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(),
            "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n".into(),
            "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n".into(),
            "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0.0 / 5.0".into(),
            with("Maybe ; 0.0 / 5.0"),
            with("False ; zero / 5.0"),
            with("False ; 0.0"),
            with("False"),
            with("False ; NaN / 5.0"),
            full[..full.len() - 20].to_string(),
            format!("{full}trailing"),
            full.replace(" 0 EX_OK", " 74 EX_TEMPFAIL"),
        ] {
            assert!(parse(reply.as_bytes()).is_err(), "{reply:?}");
        }
    }

    #[test]
    fn user_names_are_one_word() {
        assert_eq!(user("trusted-network 10.0.0.0/8"), "trusted-network-10.0.0.0/8");
        assert_eq!(user("a\r\nb"), "a--b");
    }
}
