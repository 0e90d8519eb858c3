//! The ClamAV scanner in the content stage, against a fake clamd on a TCP listener: a
//! virus held and refused naming its signature, a potentially unwanted program following
//! `checks.block_dangerous_attachments`, the `checks.clamav` switch, and every failure
//! (refused connection, `ERROR`, size limit, garbage, truncated, oversized, silence)
//! giving `on_failure`, never clean.

mod common;

use common::{Setup, account, submission};
use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::{Account, AccountSettings, ContentChecks};
use postern_core::{CheckRecord, Disposition, MessagePipeline};
use postern_pipeline::OnFailure;
use postern_pipeline::engines::{ClamavScanner, EngineSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn clamav(address: String, on_failure: OnFailure) -> Arc<ClamavScanner> {
    Arc::new(ClamavScanner::new(EngineSettings {
        address,
        timeout: Duration::from_millis(500),
        on_failure,
        max_message_size: 1024 * 1024,
    }))
}

fn with_checks(checks: ContentChecks) -> Option<Account> {
    Some(account(AccountSettings { checks, ..AccountSettings::default() }))
}

fn clamav_on() -> Option<Account> {
    with_checks(ContentChecks { clamav: true, ..ContentChecks::default() })
}

/// A fake clamd: reads one `zINSTREAM` to its empty chunk, then answers `reply` (`None`:
/// never answers). Every connection gets the same answer.
async fn fake_clamd(reply: Option<&'static [u8]>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut command = [0u8; 10];
                if stream.read_exact(&mut command).await.is_err() || &command != b"zINSTREAM\0" {
                    return;
                }
                loop {
                    let Ok(len) = stream.read_u32().await else { return };
                    if len == 0 {
                        break;
                    }
                    let mut chunk = vec![0u8; len as usize];
                    if stream.read_exact(&mut chunk).await.is_err() {
                        return;
                    }
                }
                match reply {
                    Some(reply) => {
                        let _ = stream.write_all(reply).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            });
        }
    });
    address
}

fn clamav_entry(checks: &[CheckRecord]) -> CheckRecord {
    let found: Vec<&CheckRecord> = checks.iter().filter(|c| c.engine == "clamav").collect();
    assert_eq!(found.len(), 1, "{checks:?}");
    found[0].clone()
}

#[tokio::test]
async fn a_virus_is_held_and_refused_naming_the_signature() {
    let address = fake_clamd(Some(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")).await;
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(clamav(address, OnFailure::Skip));
    let outcome = pipeline.process(submission(clamav_on(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.summary(), "550 5.7.1 Error: message rejected: virus found (CLAMAV:Win.Test.EICAR_HDB-1)");
    assert_eq!(s.spooled(), 0);
    let entry = clamav_entry(&s.trace().1);
    assert_eq!((entry.result.as_str(), entry.rule.as_deref()), ("blocked", Some("CLAMAV:Win.Test.EICAR_HDB-1")));
    assert_eq!(entry.part, None);
    assert!(s.refusals()[0].starts_with("virus found (rule CLAMAV:Win.Test.EICAR_HDB-1)"), "{:?}", s.refusals());
}

#[tokio::test]
async fn a_clean_message_passes() {
    let address = fake_clamd(Some(b"stream: OK\0")).await;
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(clamav(address, OnFailure::Tempfail));
    let outcome = pipeline.process(submission(clamav_on(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    let entry = clamav_entry(&s.trace().1);
    assert_eq!((entry.result.as_str(), entry.rule.as_deref()), ("pass", None));
}

#[tokio::test]
async fn a_pua_is_blocked_only_with_dangerous_attachments_blocked() {
    let address = fake_clamd(Some(b"stream: PUA.Win.Tool.NetTool-1 FOUND\0")).await;
    // Off (the default): delivered, the trace names the PUA and why it passed.
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(clamav(address.clone(), OnFailure::Tempfail));
    let outcome = pipeline.process(submission(clamav_on(), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.spooled(), 1);
    let entry = clamav_entry(&s.trace().1);
    assert_eq!(
        (entry.result.as_str(), entry.rule.as_deref()),
        ("pass", Some("PUA.Win.Tool.NetTool-1 (checks.block_dangerous_attachments off)"))
    );
    // On: a dangerous attachment, not a virus.
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(clamav(address, OnFailure::Tempfail));
    let checks = ContentChecks { clamav: true, block_dangerous_attachments: true, ..ContentChecks::default() };
    let outcome = pipeline.process(submission(with_checks(checks), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(
        outcome.reply.summary(),
        "550 5.7.1 Error: message rejected: dangerous attachment (CLAMAV:PUA.Win.Tool.NetTool-1)"
    );
    assert_eq!(clamav_entry(&s.trace().1).result, "blocked");
}

#[tokio::test]
async fn checks_clamav_off_does_not_scan() {
    let address = fake_clamd(Some(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")).await;
    for account in [with_checks(ContentChecks::default()), None] {
        let s = Setup::new();
        let pipeline = s.pipeline().with_scanner(clamav(address.clone(), OnFailure::Tempfail));
        let outcome = pipeline.process(submission(account, "hello")).await;
        assert_eq!(outcome.disposition, Disposition::Deliver);
        let entry = clamav_entry(&s.trace().1);
        assert_eq!((entry.result.as_str(), entry.rule.as_deref()), ("off", Some("checks.clamav off")));
    }
}

/// An address nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

#[tokio::test]
async fn every_failure_is_on_failure_never_clean() {
    let cases: Vec<(String, &str)> = vec![
        (closed_port(), "cannot connect to 127.0.0.1:"),
        (
            fake_clamd(Some(b"INSTREAM size limit exceeded. ERROR\0")).await,
            "clamd error: INSTREAM size limit exceeded.",
        ),
        (fake_clamd(Some(b"stream: Can't open file ERROR\0")).await, "clamd error: Can't open file"),
        (fake_clamd(Some(b"UNKNOWN COMMAND\0")).await, "garbled reply from clamd: \"UNKNOWN COMMAND\""),
        (fake_clamd(Some(b"stream: OK")).await, "truncated reply from clamd"),
        (fake_clamd(Some(b"")).await, "empty reply from clamd"),
        (fake_clamd(Some(&[b'x'; 5000])).await, "is larger than 4096 octets"),
        (fake_clamd(None).await, "no complete reply from 127.0.0.1:"),
    ];
    for (address, error) in cases {
        // skip: delivered, the trace says failed.
        let s = Setup::new();
        let pipeline = s.pipeline().with_scanner(clamav(address.clone(), OnFailure::Skip));
        let outcome = pipeline.process(submission(clamav_on(), "hello")).await;
        assert_eq!(outcome.disposition, Disposition::Deliver, "{error}");
        let entry = clamav_entry(&s.trace().1);
        assert_eq!(entry.result, "failed", "{error}");
        let rule = entry.rule.unwrap_or_default();
        assert!(rule.contains(error), "{rule:?} should contain {error:?}");
        // tempfail: 451, the engine named.
        let s = Setup::new();
        let pipeline = s.pipeline().with_scanner(clamav(address, OnFailure::Tempfail));
        let outcome = pipeline.process(submission(clamav_on(), "hello")).await;
        assert_eq!(outcome.reply.summary(), "451 4.7.1 Try again later: the content check is unavailable");
        assert!(s.refusals()[0].starts_with("content check clamav failed (on_failure = tempfail): "), "{error}");
    }
}

#[tokio::test]
async fn a_message_over_max_message_size_is_skipped_not_sent() {
    let address = fake_clamd(Some(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")).await;
    let s = Setup::new();
    let scanner = ClamavScanner::new(EngineSettings {
        address,
        timeout: Duration::from_secs(2),
        on_failure: OnFailure::Tempfail,
        max_message_size: 10,
    });
    let pipeline = s.pipeline().with_scanner(Arc::new(scanner));
    let outcome = pipeline.process(submission(clamav_on(), "a message of more than ten octets")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    let entry = clamav_entry(&s.trace().1);
    assert_eq!(
        (entry.result.as_str(), entry.rule.as_deref()),
        ("skipped", Some("message larger than max_message_size (10 octets)"))
    );
}
