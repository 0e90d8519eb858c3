//! The pipeline with a real spool: stage order, dispositions, the verdict trace, monitor
//! mode, and a scanner plugged in from outside the SMTP session.

use std::sync::{Arc, Mutex};

use postern_core::tenancy::{Account, AccountKind, AccountSettings, LockState, QuarantineReaction};
use postern_core::{
    Address, BodyType, BoxFuture, CheckRecord, ClientInfo, Disposition, Envelope, Event, EventKind, EventSink,
    MessagePipeline, Owner, QueueId, Recipient, Submission,
};
use postern_pipeline::{Pipeline, ScanInput, ScanResult, Scanner};
use postern_queue::Spool;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

#[derive(Default)]
struct Collected(Mutex<Vec<Event>>);

impl EventSink for Collected {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    spool: Spool,
    events: Arc<Collected>,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        Setup { _dir: dir, spool, events: Arc::default() }
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline::new(Arc::new(self.spool.clone()), self.events.clone())
    }

    fn spooled(&self) -> usize {
        self.spool.recover().unwrap().messages.len()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.events.0.lock().unwrap().iter().map(|e| e.kind.name()).collect()
    }

    fn trace(&self) -> (Disposition, Vec<CheckRecord>) {
        let events = self.events.0.lock().unwrap();
        let found = events.iter().find_map(|e| match &e.kind {
            EventKind::Checked { disposition, checks } => Some((*disposition, checks.clone())),
            _ => None,
        });
        found.expect("a checked event")
    }

    fn refusals(&self) -> Vec<String> {
        let events = self.events.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

fn account(settings: AccountSettings) -> Account {
    Account {
        id: 7,
        domain: "example.com".into(),
        kind: AccountKind::User,
        name: "alice@example.com".into(),
        has_password: true,
        settings,
        lock: LockState::default(),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn submission(account: Option<Account>, text: &str) -> Submission {
    let message = format!("From: alice@example.com\r\nSubject: t\r\n\r\n{text}\r\n").into_bytes();
    Submission {
        session: 1,
        hostname: "mx.test".into(),
        envelope: Envelope {
            queue_id: QueueId::generate(),
            received_at_ms: 0,
            sender: Some(Address::parse("alice@example.com", false).unwrap()),
            recipients: vec![Recipient {
                address: Address::parse("bob@remote.example", false).unwrap(),
                notify: None,
                orcpt: None,
            }],
            body: BodyType::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
            client: ClientInfo {
                ip: "127.0.0.1".parse().unwrap(),
                port: 1,
                listener: "submission".into(),
                helo: None,
                tls: None,
            },
            size: 0,
            owner: Some(Owner {
                account_id: account.as_ref().map(|a| a.id),
                account: "alice@example.com".into(),
                domain: account.as_ref().map(|a| a.domain.clone()),
                identity: "alice@example.com".into(),
                auth_user: None,
            }),
        },
        account,
        head: "Received: from test\r\n".into(),
        message,
        message_id: None,
    }
}

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
