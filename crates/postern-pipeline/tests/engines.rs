//! The content stage with the real engines' scanners and failing engines: `on_failure`
//! (`skip`: the others decide, logged; `tempfail`: `451 4.7.1`), monitor mode over a
//! tempfail, the account's `checks.spam` switch, and a garbled reply never taken as clean.

mod common;

use common::{Setup, account, submission};
use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::{Account, AccountSettings, ContentChecks};
use postern_core::{BoxFuture, CheckRecord, Disposition, MessagePipeline};
use postern_pipeline::engines::{EngineSettings, RspamdScanner, RspamdSettings, SpamdScanner, SpamdSettings};
use postern_pipeline::{OnFailure, ScanInput, ScanResult, Scanner, Setting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn summary(checks: &[CheckRecord]) -> Vec<String> {
    checks
        .iter()
        .map(|c| format!("{}/{}/{}/{}", c.stage, c.engine, c.rule.as_deref().unwrap_or("-"), c.result))
        .collect()
}

/// A scanner with a fixed answer and failure policy.
struct Fixed {
    name: &'static str,
    result: ScanResult,
    on_failure: OnFailure,
}

impl Scanner for Fixed {
    fn engine(&self) -> &'static str {
        self.name
    }

    fn scan<'a>(&'a self, _input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        let result = self.result.clone();
        Box::pin(async move { result })
    }

    fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::Spam)
    }
}

fn failing(name: &'static str, on_failure: OnFailure) -> Arc<dyn Scanner> {
    Arc::new(Fixed { name, result: ScanResult::Failed { error: "cannot connect: refused".into() }, on_failure })
}

fn spam(name: &'static str) -> Arc<dyn Scanner> {
    Arc::new(Fixed {
        name,
        result: ScanResult::Spam { rule: "BAD".into(), score: Some(9.0) },
        on_failure: OnFailure::Skip,
    })
}

fn default_account() -> Option<Account> {
    Some(account(AccountSettings::default()))
}

#[tokio::test]
async fn a_failed_engine_with_skip_leaves_the_verdict_to_the_others() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(failing("rspamd", OnFailure::Skip));
    let outcome = pipeline.process(submission(default_account(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.spooled(), 1);
    assert_eq!(summary(&s.trace().1)[1..], ["content/gtube/-/pass", "content/rspamd/cannot connect: refused/failed"]);
    assert!(s.refusals().is_empty());
}

#[tokio::test]
async fn a_failed_engine_with_tempfail_refuses_451() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(failing("spamassassin", OnFailure::Tempfail));
    let outcome = pipeline.process(submission(default_account(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Reject);
    assert_eq!(outcome.reply.render(), "451 4.7.1 Try again later: the content check is unavailable\r\n");
    assert_eq!(s.spooled(), 0);
    assert_eq!(s.refusals(), ["content check spamassassin failed (on_failure = tempfail): cannot connect: refused"]);
    let (disposition, checks) = s.trace();
    assert_eq!(disposition, Disposition::Reject);
    assert_eq!(summary(&checks).last().unwrap(), "content/spamassassin/cannot connect: refused/failed");
}

#[tokio::test]
async fn spam_found_by_another_engine_wins_over_a_tempfail() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(failing("rspamd", OnFailure::Tempfail)).with_scanner(spam("other"));
    let outcome = pipeline.process(submission(default_account(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.code, 550);
    assert!(s.refusals()[0].starts_with("spam (rule BAD)"), "{:?}", s.refusals());
}

#[tokio::test]
async fn monitor_mode_turns_a_tempfail_into_would_refuse() {
    let s = Setup::new();
    let settings = AccountSettings { monitor_only: true, ..AccountSettings::default() };
    let pipeline = s.pipeline().with_scanner(failing("rspamd", OnFailure::Tempfail));
    let outcome = pipeline.process(submission(Some(account(settings)), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.spooled(), 1);
    assert_eq!(
        s.refusals(),
        ["would refuse (monitor): content check rspamd failed (on_failure = tempfail): cannot connect: refused"]
    );
}

#[tokio::test]
async fn checks_spam_off_does_not_run_the_spam_engines() {
    let s = Setup::new();
    let settings = AccountSettings {
        checks: ContentChecks { spam: false, ..ContentChecks::default() },
        ..AccountSettings::default()
    };
    let pipeline = s.pipeline().with_scanner(spam("rspamd")).with_scanner(failing("spamassassin", OnFailure::Tempfail));
    let outcome = pipeline.process(submission(Some(account(settings)), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(
        summary(&s.trace().1)[1..],
        ["content/gtube/-/pass", "content/rspamd/checks.spam off/off", "content/spamassassin/checks.spam off/off"]
    );
}

fn settings(address: String, on_failure: OnFailure) -> EngineSettings {
    EngineSettings { address, timeout: Duration::from_secs(2), on_failure, max_message_size: 1024 * 1024 }
}

/// A TCP server that answers every connection with `reply` once it has read the request.
async fn fake_engine(reply: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
                let _ = stream.write_all(reply).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn garbled_engine_replies_are_failures_never_clean() {
    for reply in
        [&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"[..], b"SPAMD/1.1 0 EX_OK\r\n\r\n", b"\x00garbage", b""]
    {
        let address = fake_engine(reply).await;
        let s = Setup::new();
        let rspamd = RspamdScanner::new(RspamdSettings {
            engine: settings(address.clone(), OnFailure::Tempfail),
            spam_actions: vec!["reject".into()],
        });
        let spamd =
            SpamdScanner::new(SpamdSettings { engine: settings(address, OnFailure::Tempfail), threshold: None });
        let pipeline = s.pipeline().with_scanner(Arc::new(rspamd)).with_scanner(Arc::new(spamd));
        let outcome = pipeline.process(submission(default_account(), "hello")).await;
        assert_eq!(outcome.reply.code, 451, "{:?}", String::from_utf8_lossy(reply));
        let results: Vec<String> = s.trace().1.iter().skip(2).map(|c| format!("{}/{}", c.engine, c.result)).collect();
        assert_eq!(results, ["rspamd/failed", "spamassassin/failed"]);
    }
}

#[tokio::test]
async fn a_message_over_the_engines_size_is_skipped_not_sent() {
    let address = fake_engine(b"never read").await;
    let s = Setup::new();
    let engine = EngineSettings { max_message_size: 10, ..settings(address, OnFailure::Tempfail) };
    let pipeline = s.pipeline().with_scanner(Arc::new(SpamdScanner::new(SpamdSettings { engine, threshold: None })));
    let outcome = pipeline.process(submission(default_account(), "a message of more than ten octets")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(
        summary(&s.trace().1).last().unwrap(),
        "content/spamassassin/message larger than max_message_size (10 octets)/skipped"
    );
}
