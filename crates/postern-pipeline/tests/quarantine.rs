//! The quarantine with a real spool, a real SQLite store and real files: each reaction
//! holds the message before answering and spools nothing; a failed hold is a 4xx; a
//! release spools exactly once even when two race; delete, confirm, request release;
//! the purge takes only what expired; abuse reports are rate-limited per account.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_core::tenancy::{Account, AccountSettings, QuarantineReaction};
use postern_core::test_support::{self, client, owner};
use postern_core::{
    BoxFuture, Disposition, Envelope, EventKind, Label, MessagePipeline, QueueId, Recipient, Reply, Submission,
    SystemMail, SystemMailer, Trainer,
};
use postern_pipeline::{AbuseReports, Pipeline, Quarantine, QuarantineError};
use postern_queue::{QuarantineDir, Spool};
use postern_store::{
    HeldMessage, HeldState, NewHeld, Page, Paged, QuarantineFilter, QuarantineStore, Scope, SqliteStore, StoreError,
};

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

use postern_core::test_support::Collected;

#[derive(Default)]
struct Samples(Mutex<Vec<(Label, String, Vec<u8>)>>);

impl Trainer for Samples {
    fn learn<'a>(&'a self, message: &'a [u8], label: Label, source: &'a str) -> BoxFuture<'a, Result<(), String>> {
        self.0.lock().unwrap().push((label, source.to_string(), message.to_vec()));
        Box::pin(async { Ok(()) })
    }
}

/// The system mailer of the tests: writes each report into the spool, like the real one.
struct SpoolMailer {
    spool: Spool,
    sent: Mutex<Vec<SystemMail>>,
}

impl SystemMailer for SpoolMailer {
    fn send(&self, mail: SystemMail) -> BoxFuture<'_, Result<QueueId, Reply>> {
        Box::pin(async move {
            let id = QueueId::generate();
            let mut envelope = envelope(id, None);
            envelope.sender = None;
            envelope.recipients =
                mail.to.iter().map(|a| Recipient { address: a.clone(), notify: None, orcpt: None }).collect();
            let head = format!("Subject: {}\r\n{}\r\n", mail.subject, mail.mime_headers.join("\r\n"));
            postern_core::Enqueue::enqueue(&self.spool, envelope, head.into_bytes(), mail.body.clone()).await?;
            self.sent.lock().unwrap().push(mail);
            Ok(id)
        })
    }
}

/// A store whose `hold` always fails: the disk or the database broke.
struct BrokenStore(SqliteStore);

impl QuarantineStore for BrokenStore {
    fn hold(&self, _: &NewHeld) -> postern_store::Result<HeldMessage> {
        Err(StoreError::NotFound("the database is gone".into()))
    }
    fn held(&self, id: i64) -> postern_store::Result<Option<HeldMessage>> {
        self.0.held(id)
    }
    fn held_by_queue_id(&self, queue_id: &str) -> postern_store::Result<Option<HeldMessage>> {
        self.0.held_by_queue_id(queue_id)
    }
    fn list_held(&self, s: &Scope, f: &QuarantineFilter, p: Page) -> postern_store::Result<Paged<HeldMessage>> {
        self.0.list_held(s, f, p)
    }
    fn claim_release(&self, id: i64, by: &str) -> postern_store::Result<Option<HeldMessage>> {
        self.0.claim_release(id, by)
    }
    fn finish_release(&self, id: i64) -> postern_store::Result<bool> {
        self.0.finish_release(id)
    }
    fn abort_release(&self, id: i64) -> postern_store::Result<bool> {
        self.0.abort_release(id)
    }
    fn request_release(&self, id: i64, by: &str, note: Option<&str>) -> postern_store::Result<bool> {
        self.0.request_release(id, by, note)
    }
    fn confirm(&self, id: i64, by: &str) -> postern_store::Result<bool> {
        self.0.confirm(id, by)
    }
    fn claim_delete(&self, id: i64) -> postern_store::Result<Option<HeldMessage>> {
        self.0.claim_delete(id)
    }
    fn claim_expired(&self, now_ms: i64, limit: u32) -> postern_store::Result<Vec<HeldMessage>> {
        self.0.claim_expired(now_ms, limit)
    }
    fn forget(&self, id: i64) -> postern_store::Result<bool> {
        self.0.forget(id)
    }
}

struct Setup {
    dir: tempfile::TempDir,
    spool: Spool,
    store: Arc<SqliteStore>,
    events: Arc<Collected>,
    samples: Arc<Samples>,
    mailer: Arc<SpoolMailer>,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).unwrap());
        let mailer = Arc::new(SpoolMailer { spool: spool.clone(), sent: Mutex::default() });
        Setup { dir, spool, store, events: Arc::default(), samples: Arc::default(), mailer }
    }

    fn quarantine_with(&self, store: Arc<dyn QuarantineStore>, window: Duration) -> Arc<Quarantine> {
        let dir = QuarantineDir::open(&self.dir.path().join("quarantine")).unwrap();
        let contact: postern_pipeline::AbuseContact =
            Arc::new(|domain: &str| (domain == "example.com").then(|| "abuse@example.com".to_string()));
        let abuse =
            AbuseReports::new(self.mailer.clone(), contact, self.events.clone(), "mx.test".into()).with_window(window);
        Arc::new(
            Quarantine::new(dir, store, Arc::new(self.spool.clone()), self.events.clone(), "mx.test".into())
                .with_trainer(Some(self.samples.clone() as Arc<dyn Trainer>))
                .with_abuse_reports(Some(Arc::new(abuse))),
        )
    }

    fn quarantine(&self) -> Arc<Quarantine> {
        self.quarantine_with(self.store.clone(), Duration::from_secs(600))
    }

    fn pipeline(&self, quarantine: &Arc<Quarantine>) -> Pipeline {
        Pipeline::new(Arc::new(self.spool.clone()), self.events.clone()).with_quarantine(Some(Arc::clone(quarantine)))
    }

    /// Messages in the spool that are not abuse reports.
    fn delivered(&self) -> Vec<QueueId> {
        let reports = self.mailer.sent.lock().unwrap().len();
        let all = self.spool.recover().unwrap().messages;
        assert!(all.len() >= reports);
        all.into_iter().filter(|id| self.spool.read(*id).map(|(e, _)| e.sender.is_some()).unwrap_or(false)).collect()
    }

    fn held_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("quarantine/held")).map(|d| d.count()).unwrap_or(0)
    }

    fn rows(&self) -> Vec<HeldMessage> {
        self.store.list_held(&Scope::All, &QuarantineFilter::default(), Page::default()).unwrap().items
    }

    fn actions(&self) -> Vec<String> {
        let events = self.events.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Quarantine { action, by, .. } => {
                    Some(format!("{action}{}", by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()))
                }
                _ => None,
            })
            .collect()
    }
}

fn account(reaction: QuarantineReaction, monitor: bool) -> Account {
    test_support::account(AccountSettings {
        quarantine_reaction: reaction,
        monitor_only: monitor,
        ..AccountSettings::default()
    })
}

fn envelope(queue_id: QueueId, account: Option<&Account>) -> Envelope {
    let owner = owner(account.map(|a| a.id), account.map(|a| a.domain.as_str()), "alice@example.com");
    Envelope {
        queue_id,
        received_at_ms: postern_core::event::now_ms(),
        client: client("192.0.2.10:1", "submission"),
        owner: Some(owner),
        ..test_support::envelope(Some("alice@example.com"), &["bob@remote.example", "carol@remote.example"])
    }
}

fn spam(account: Account) -> Submission {
    let message =
        format!("From: alice@example.com\r\nSubject: =?utf-8?q?Cheap=07_pills?=\r\n\r\nBuy now\r\n{GTUBE}\r\n");
    test_support::submission(Some(account.clone()), envelope(QueueId::generate(), Some(&account)), message)
}

#[tokio::test]
async fn the_reject_reaction_holds_the_message_then_refuses_naming_the_rule() {
    let s = Setup::new();
    let q = s.quarantine();
    let sub = spam(account(QuarantineReaction::Reject, false));
    let queue_id = sub.envelope.queue_id;
    let outcome = s.pipeline(&q).process(sub).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.render(), "550 5.7.1 Error: message content rejected as spam (GTUBE)\r\n");
    assert!(s.delivered().is_empty(), "nothing spooled for delivery");
    assert_eq!(s.held_files(), 1);
    let rows = s.rows();
    assert_eq!(rows.len(), 1);
    let m = &rows[0].message;
    assert_eq!(m.queue_id, queue_id.to_string());
    assert_eq!((m.account.as_deref(), m.identity.as_deref()), (Some("alice@example.com"), Some("alice@example.com")));
    assert_eq!((m.domain.as_deref(), m.sender_domain.as_deref()), (Some("example.com"), Some("example.com")));
    assert_eq!(m.sender, "alice@example.com");
    assert_eq!(m.recipients, ["bob@remote.example", "carol@remote.example"]);
    assert_eq!(m.subject, "Cheap pills", "decoded, without control characters");
    assert_eq!((m.rule.as_str(), m.reaction.as_str()), ("GTUBE", "reject"));
    assert!(m.checks.iter().any(|c| c.engine == "gtube" && c.result == "spam"), "{:?}", m.checks);
    assert_eq!(rows[0].state, HeldState::Held);
    assert!(m.expires_at_ms - m.held_at_ms == 30 * 86_400_000, "the default lifetime");
    assert_eq!(s.actions()[0], "held");
}

#[tokio::test]
async fn the_accept_reaction_answers_queued_and_holds_the_message() {
    let s = Setup::new();
    let q = s.quarantine();
    let sub = spam(account(QuarantineReaction::Accept, false));
    let queue_id = sub.envelope.queue_id;
    let outcome = s.pipeline(&q).process(sub).await;
    assert_eq!(outcome.disposition, Disposition::Quarantine);
    assert_eq!(outcome.reply.render(), format!("250 2.0.0 Ok: queued as {queue_id}\r\n"));
    assert!(s.delivered().is_empty());
    assert_eq!((s.held_files(), s.rows().len()), (1, 1));
    assert_eq!(s.rows()[0].message.reaction, "accept");
}

#[tokio::test]
async fn monitor_mode_delivers_and_holds_nothing() {
    let s = Setup::new();
    let q = s.quarantine();
    let outcome = s.pipeline(&q).process(spam(account(QuarantineReaction::Accept, true))).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    assert_eq!(s.delivered().len(), 1);
    assert_eq!((s.held_files(), s.rows().len()), (0, 0));
}

#[tokio::test]
async fn a_message_that_cannot_be_held_is_a_4xx_and_leaves_nothing() {
    for reaction in [QuarantineReaction::Reject, QuarantineReaction::Accept] {
        let s = Setup::new();
        let broken = Arc::new(BrokenStore(SqliteStore::open(&s.dir.path().join("b.db")).unwrap()));
        let q = s.quarantine_with(broken, Duration::from_secs(600));
        let outcome = s.pipeline(&q).process(spam(account(reaction, false))).await;
        assert_eq!(outcome.reply.render(), "451 4.3.0 Error: cannot hold the message, try again later\r\n");
        assert_eq!(outcome.disposition, Disposition::Reject);
        assert!(s.delivered().is_empty());
        assert_eq!(s.held_files(), 0, "the file of a failed row is removed");
        assert!(s.mailer.sent.lock().unwrap().is_empty(), "no report on a message not held");
    }
}

#[tokio::test]
async fn two_concurrent_releases_spool_the_message_exactly_once() {
    let s = Setup::new();
    let q = s.quarantine();
    let sub = spam(account(QuarantineReaction::Reject, false));
    let (queue_id, original) = (sub.envelope.queue_id, sub.message.clone());
    s.pipeline(&q).process(sub).await;
    let id = s.rows()[0].id;
    let (a, b) = tokio::join!(q.release(id, "root"), q.release(id, "other-root"));
    let wins: Vec<_> = [&a, &b].iter().filter(|r| r.is_ok()).map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(wins, [queue_id], "one release wins: {a:?} {b:?}");
    assert!(matches!([a, b].into_iter().find(|r| r.is_err()), Some(Err(QuarantineError::Conflict(_)))));
    assert_eq!(s.delivered(), [queue_id], "spooled once, under its queue id");
    let (_, bytes) = s.spool.read(queue_id).unwrap();
    assert!(bytes.starts_with(b"Received: from test\r\n") && bytes.ends_with(&original), "our head, then the message");
    let row = s.store.held(id).unwrap().unwrap();
    assert_eq!(row.state, HeldState::Released);
    assert_eq!(s.held_files(), 0, "the held bytes are gone once spooled");
    let samples = s.samples.0.lock().unwrap().clone();
    assert_eq!(samples.len(), 1);
    assert_eq!((samples[0].0, samples[0].1.as_str(), &samples[0].2), (Label::Ham, "quarantine release", &original));
    assert!(s.actions().iter().any(|a| a == "released by root" || a == "released by other-root"));
    assert!(matches!(q.release(id, "root").await, Err(QuarantineError::Conflict(_))), "released is final");
    assert!(matches!(q.release(id + 50, "root").await, Err(QuarantineError::NotFound)));
}

#[tokio::test]
async fn delete_confirm_and_request_release() {
    let s = Setup::new();
    let q = s.quarantine();
    for _ in 0..2 {
        s.pipeline(&q).process(spam(account(QuarantineReaction::Reject, false))).await;
    }
    let rows = s.rows();
    let (first, second) = (rows[1].id, rows[0].id);
    q.request_release(first, "tenant", Some("an invoice".into())).await.unwrap();
    q.confirm(first, "root").await.unwrap();
    let row = s.store.held(first).unwrap().unwrap();
    assert_eq!((row.release_requested_by.as_deref(), row.confirmed_by.as_deref()), (Some("tenant"), Some("root")));
    assert_eq!(s.samples.0.lock().unwrap()[0].0, Label::Spam);
    q.delete(second, "root").await.unwrap();
    assert_eq!(s.store.held(second).unwrap(), None);
    assert_eq!(s.held_files(), 1);
    assert!(matches!(q.delete(second, "root").await, Err(QuarantineError::NotFound)));
    assert!(s.delivered().is_empty());
    let actions = s.actions();
    for want in ["release_requested by tenant", "confirmed by root", "deleted by root"] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }
}

#[tokio::test]
async fn the_purge_takes_only_what_expired_and_never_a_release() {
    let s = Setup::new();
    let dir = QuarantineDir::open(&s.dir.path().join("quarantine")).unwrap();
    let q = Arc::new(
        Quarantine::new(dir, s.store.clone(), Arc::new(s.spool.clone()), s.events.clone(), "mx.test".into())
            .with_lifetime(Duration::from_millis(300)),
    );
    let pipeline = s.pipeline(&q);
    for _ in 0..2 {
        pipeline.process(spam(account(QuarantineReaction::Reject, false))).await;
    }
    let releasing = s.rows()[0].id;
    assert!(s.store.claim_release(releasing, "root").unwrap().is_some(), "a release under way");
    tokio::time::sleep(Duration::from_millis(400)).await;
    pipeline.process(spam(account(QuarantineReaction::Reject, false))).await;
    let young = s.rows()[0].id;
    assert_eq!(q.purge(postern_core::event::now_ms()).await.unwrap(), 1, "only the expired held message");
    let left: Vec<i64> = s.rows().iter().map(|r| r.id).collect();
    assert_eq!(left, [young, releasing]);
    assert_eq!(s.held_files(), 2, "the release keeps its bytes");
    assert!(s.actions().iter().any(|a| a == "purged"));
}

#[tokio::test]
async fn abuse_reports_one_at_once_then_one_summary_per_window() {
    let s = Setup::new();
    // A window far longer than holding four messages takes on a loaded machine, so the
    // first check is inside it; the summary is then waited for, not timed.
    let q = s.quarantine_with(s.store.clone(), Duration::from_secs(3));
    let pipeline = s.pipeline(&q);
    for _ in 0..4 {
        pipeline.process(spam(account(QuarantineReaction::Reject, false))).await;
    }
    // The first report goes out from a task of its own: waited for.
    let waited = std::time::Instant::now();
    while s.mailer.sent.lock().unwrap().is_empty() && waited.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let sent = s.mailer.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "the first incident is reported at once, the rest wait");
        let body = String::from_utf8_lossy(&sent[0].body);
        assert_eq!(sent[0].kind, postern_core::SystemMailKind::AbuseReport);
        assert_eq!(sent[0].to[0].to_string(), "abuse@example.com");
        for field in [
            "Feedback-Type: abuse",
            "Version: 1",
            "User-Agent: Postern/",
            "Source-IP: 192.0.2.10",
            "Original-Mail-From: <alice@example.com>",
            "Original-Rcpt-To: <bob@remote.example>",
            "Original-Rcpt-To: <carol@remote.example>",
            "Arrival-Date: ",
            "Reported-Domain: example.com",
            "Content-Type: message/rfc822",
            GTUBE,
        ] {
            assert!(body.contains(field), "{field} in the report:\n{body}");
        }
        assert!(!body.contains("Incidents:"), "one incident");
        assert!(sent[0].mime_headers.iter().any(|h| h.contains("report-type=feedback-report")));
    }
    let waited = std::time::Instant::now();
    while s.mailer.sent.lock().unwrap().len() < 2 && waited.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = s.mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "the other three in one report at the window's end");
    let body = String::from_utf8_lossy(&sent[1].body);
    assert!(body.contains("Incidents: 3"), "{body}");
    assert!(body.contains("covers 3 messages"), "{body}");
    assert_eq!(body.matches("- 20").count(), 2, "the two not attached are listed:\n{body}");
    assert!(s.delivered().is_empty(), "reports are not the held messages");
}

/// The spool's messages at this moment, as the start-up recovery sees them.
fn in_spool(spool: &Spool) -> impl Fn(QueueId) -> bool + Send + Sync {
    let messages = spool.recover().unwrap().messages;
    move |id| messages.contains(&id)
}

#[tokio::test]
async fn recovery_settles_interrupted_releases_and_orphan_files_once() {
    let s = Setup::new();
    let q = s.quarantine();
    let files = QuarantineDir::open(&s.dir.path().join("quarantine")).unwrap();
    let mut ids = Vec::new();
    let mut queue_ids = Vec::new();
    for _ in 0..3 {
        let sub = spam(account(QuarantineReaction::Reject, false));
        queue_ids.push(sub.envelope.queue_id);
        s.pipeline(&q).process(sub).await;
        ids.push(s.store.held_by_queue_id(&queue_ids.last().unwrap().to_string()).unwrap().unwrap().id);
    }
    let (spooled, unspooled, released) = (ids[0], ids[1], ids[2]);
    // A crash after spooling, before `finish_release`: claimed, in the spool, file still held.
    s.store.claim_release(spooled, "root").unwrap().unwrap();
    let file = files.read_blocking(queue_ids[0], 1 << 20).unwrap().unwrap();
    postern_core::Enqueue::enqueue(&s.spool, file.envelope.clone(), file.head.clone(), file.message.clone())
        .await
        .unwrap();
    // A crash after the claim, before spooling.
    s.store.claim_release(unspooled, "root").unwrap().unwrap();
    // A crash after `finish_release`, before the file went.
    q.release(released, "root").await.unwrap();
    let kept = files.read_blocking(queue_ids[0], 1 << 20).unwrap().unwrap();
    let mut leftover_envelope = kept.envelope.clone();
    leftover_envelope.queue_id = queue_ids[2];
    files.write_blocking(&leftover_envelope, &kept.head, &kept.message).unwrap();
    // A crash between a held file and its row, and two unreadable files with no row.
    let orphan = QueueId::generate();
    files.write_blocking(&envelope(orphan, None), b"", b"Subject: x\r\n\r\nbody\r\n").unwrap();
    let damaged = QueueId::generate();
    std::fs::write(s.dir.path().join("quarantine/held").join(damaged.to_string()), b"POSTERN-HELD 1 garbage").unwrap();
    std::fs::write(s.dir.path().join("quarantine/held/not-a-queue-id"), b"x").unwrap();
    let mut before = s.delivered();
    before.sort();
    let mut want_spooled = vec![queue_ids[0], queue_ids[2]];
    want_spooled.sort();
    assert_eq!(before, want_spooled, "the interrupted release and the finished one are in the spool");
    s.events.0.lock().unwrap().clear();
    s.samples.0.lock().unwrap().clear();

    let done = q.recover(&in_spool(&s.spool)).await.unwrap();
    assert_eq!(done.finished, [spooled]);
    assert_eq!(done.held_again, [unspooled]);
    assert_eq!(done.orphans_removed, [orphan.to_string()]);
    assert_eq!(done.leftovers_removed, [queue_ids[2].to_string()]);
    let mut corrupt = done.corrupt.clone();
    corrupt.sort();
    let mut want = vec![damaged.to_string(), "not-a-queue-id".to_string()];
    want.sort();
    assert_eq!(corrupt, want);
    let state = |id| s.store.held(id).unwrap().unwrap().state;
    assert_eq!(
        (state(spooled), state(unspooled), state(released)),
        (HeldState::Released, HeldState::Held, HeldState::Released)
    );
    let unspooled_row = s.store.held(unspooled).unwrap().unwrap();
    assert_eq!(unspooled_row.released_by, None, "the claim is undone");
    let mut left: Vec<String> = std::fs::read_dir(s.dir.path().join("quarantine/held"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [queue_ids[1].to_string()], "only the message held again keeps its file");
    let mut moved: Vec<String> = std::fs::read_dir(s.dir.path().join("quarantine/corrupt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    moved.sort();
    assert_eq!(moved, want, "unreadable files are kept aside, not deleted");
    assert_eq!(s.delivered().len(), 2, "nothing spooled by the recovery");
    let mut actions = s.actions();
    actions.sort();
    assert_eq!(actions, ["release_undone", "released by root"]);
    let samples = s.samples.0.lock().unwrap().clone();
    assert_eq!(samples.len(), 1, "the finished release is a ham sample");
    assert_eq!((samples[0].0, samples[0].2.as_slice()), (Label::Ham, file.message.as_slice()));

    // Twice changes nothing.
    let again = q.recover(&in_spool(&s.spool)).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        (state(spooled), state(unspooled), state(released)),
        (HeldState::Released, HeldState::Held, HeldState::Released)
    );
    assert_eq!((s.held_files(), s.delivered().len(), s.actions().len()), (1, 2, 2));

    // The message held again can be released, once.
    assert_eq!(q.release(unspooled, "root").await.unwrap(), queue_ids[1]);
    assert_eq!(s.delivered().len(), 3);
    assert!(q.recover(&in_spool(&s.spool)).await.unwrap().is_empty());
}

#[tokio::test]
async fn recovery_leaves_held_rows_and_their_files_alone() {
    let s = Setup::new();
    let q = s.quarantine();
    s.pipeline(&q).process(spam(account(QuarantineReaction::Accept, false))).await;
    let row = s.rows()[0].clone();
    s.store.request_release(row.id, "admin", None).unwrap();
    let done = q.recover(&in_spool(&s.spool)).await.unwrap();
    assert!(done.is_empty(), "{done:?}");
    assert_eq!((s.held_files(), s.rows()[0].state), (1, HeldState::Held));
    assert!(q.content(row.id).await.is_ok());
}
