//! The pipeline with a real spool: stage order, dispositions, the verdict trace, monitor
//! mode, a scanner plugged in from outside the SMTP session, the parse the checks share.

mod common;

use common::{Setup, account, submission};
use std::sync::{Arc, Mutex};

use postern_core::tenancy::{AccountSettings, QuarantineReaction};
use postern_core::{BoxFuture, CheckRecord, Disposition, MessagePipeline};
use postern_pipeline::{Parse, ScanInput, ScanResult, Scanner};

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn summary(checks: &[CheckRecord]) -> Vec<String> {
    checks
        .iter()
        .map(|c| format!("{}/{}/{}/{}", c.stage, c.engine, c.rule.as_deref().unwrap_or("-"), c.result))
        .collect()
}

#[tokio::test]
async fn a_clean_message_runs_every_stage_in_order_and_is_spooled() {
    let s = Setup::new();
    let outcome = s.pipeline().process(submission(Some(account(AccountSettings::default())), "hello")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert!(outcome.reply.render().starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(s.spooled(), 1);
    let (disposition, checks) = s.trace();
    assert_eq!(disposition, Disposition::Deliver);
    assert_eq!(
        summary(&checks),
        ["account/identity/-/pass", "content/gtube/-/pass"],
        "no signer configured: no dkim check"
    );
    assert_eq!(s.kinds(), ["checked", "queued"], "the trace is recorded before the message is announced queued");
}

#[tokio::test]
async fn gtube_is_quarantined_with_the_reject_reaction_and_never_spooled() {
    let s = Setup::new();
    let outcome = s.pipeline().process(submission(Some(account(AccountSettings::default())), GTUBE)).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.render(), "550 5.7.1 Error: message content rejected as spam (GTUBE)\r\n");
    assert_eq!(s.spooled(), 0);
    let (disposition, checks) = s.trace();
    assert_eq!(disposition, Disposition::Quarantine);
    assert!(summary(&checks).contains(&"content/gtube/GTUBE/spam".to_string()));
    assert!(s.refusals()[0].starts_with("spam (rule GTUBE): rejected;"), "{:?}", s.refusals());
}

#[tokio::test]
async fn without_a_quarantine_the_accept_reaction_never_acknowledges_spam() {
    let s = Setup::new();
    let settings = AccountSettings { quarantine_reaction: QuarantineReaction::Accept, ..AccountSettings::default() };
    let outcome = s.pipeline().process(submission(Some(account(settings)), GTUBE)).await;
    assert_eq!(outcome.disposition, Disposition::Reject);
    assert_eq!(outcome.reply.render(), "451 4.3.0 Error: cannot hold the message, try again later\r\n");
    assert_eq!(s.spooled(), 0);
    assert!(s.refusals()[0].contains("no quarantine to hold it"), "{:?}", s.refusals());
}

#[tokio::test]
async fn monitor_mode_applies_to_content_checks_too() {
    let s = Setup::new();
    let settings = AccountSettings { monitor_only: true, ..AccountSettings::default() };
    let outcome = s.pipeline().process(submission(Some(account(settings)), GTUBE)).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.spooled(), 1);
    assert_eq!(s.refusals(), ["would refuse (monitor): spam (rule GTUBE)"]);
    assert!(summary(&s.trace().1).contains(&"content/gtube/GTUBE/spam".to_string()));
}

#[tokio::test]
async fn a_trusted_network_has_no_account_checks_and_the_reject_reaction() {
    let s = Setup::new();
    let outcome = s.pipeline().process(submission(None, GTUBE)).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.code, 550);
    assert_eq!(summary(&s.trace().1), ["content/gtube/GTUBE/spam"]);
}

/// A content check from outside the crate: what a later scanner (scorer, Rspamd...) does.
struct Phrase;

impl Scanner for Phrase {
    fn engine(&self) -> &'static str {
        "phrase"
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        let found = input.message.windows(9).any(|w| w == b"cheap pil");
        let result = if found {
            ScanResult::Spam { rule: "CHEAP_PILLS".into(), score: Some(7.5) }
        } else {
            ScanResult::Clean { score: Some(0.5) }
        };
        Box::pin(async move { result })
    }
}

#[tokio::test]
async fn a_scanner_plugs_in_and_its_rule_engine_and_score_are_in_the_trace() {
    let s = Setup::new();
    let pipeline = s.pipeline().with_scanner(Arc::new(Phrase));
    let outcome = pipeline.process(submission(Some(account(AccountSettings::default())), "cheap pills")).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    let checks = s.trace().1;
    assert_eq!(summary(&checks)[1..], ["content/gtube/-/pass", "content/phrase/CHEAP_PILLS/spam"]);
    assert_eq!(checks[2].score, Some(7.5));
    assert!(s.refusals()[0].starts_with("spam (rule CHEAP_PILLS): rejected;"));
    assert_eq!(s.spooled(), 0);
}

/// A check that reads the message's shared parse on a blocking thread, as the scorer and the
/// attachment checks do; it keeps what it got.
struct Reader {
    seen: Mutex<Vec<Parse>>,
}

impl Scanner for Reader {
    fn engine(&self) -> &'static str {
        "reader"
    }

    fn shares_parse(&self) -> bool {
        true
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        let parse = input.parse_handle();
        Box::pin(async move {
            let got = tokio::task::spawn_blocking(move || parse.get()).await.expect("no panic");
            self.seen.lock().expect("not poisoned").push(got);
            ScanResult::Clean { score: None }
        })
    }
}

/// A check that does not read MIME (an engine): it notes whether the parse is there.
struct Probe {
    saw: Arc<Mutex<Vec<bool>>>,
}

impl Scanner for Probe {
    fn engine(&self) -> &'static str {
        "probe"
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        self.saw.lock().expect("not poisoned").push(input.parsed.is_parsed());
        Box::pin(async move { ScanResult::Clean { score: None } })
    }
}

#[tokio::test]
async fn the_checks_that_read_mime_share_one_parse_made_when_first_asked_and_let_go_after_the_last() {
    let s = Setup::new();
    let (first, second) = (Arc::new(Reader { seen: Mutex::default() }), Arc::new(Reader { seen: Mutex::default() }));
    let saw = Arc::new(Mutex::new(Vec::new()));
    let probe = || Arc::new(Probe { saw: Arc::clone(&saw) });
    let pipeline = s
        .pipeline()
        .with_scanner(probe())
        .with_scanner(first.clone())
        .with_scanner(probe())
        .with_scanner(second.clone())
        .with_scanner(probe());
    for round in 0..2 {
        let outcome = pipeline.process(submission(Some(account(AccountSettings::default())), "hello")).await;
        assert_eq!(outcome.disposition, Disposition::Deliver);
        let (a, b) = (first.seen.lock().unwrap(), second.seen.lock().unwrap());
        let (Some(a), Some(b)) = (&a[round], &b[round]) else { panic!("the message parses: {a:?} {b:?}") };
        assert!(Arc::ptr_eq(a, b), "parsed once for both checks");
        assert_eq!(a.subject(), Some("t"));
    }
    let seen = first.seen.lock().unwrap();
    let (Some(one), Some(other)) = (&seen[0], &seen[1]) else { panic!("the messages parse") };
    assert!(!Arc::ptr_eq(one, other), "one parse per message, never another message's");
    // GTUBE and the probe before the readers parse nothing; the parse is kept between the
    // readers and let go of after the last one.
    assert_eq!(*saw.lock().unwrap(), [false, true, false, false, true, false]);
}
