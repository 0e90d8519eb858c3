//! The queue manager's hand-over of just-spooled messages: a message's first attempt gets
//! the envelope and bytes the spool holds without reading them back, every later attempt
//! reads the spool, and the memory this takes is bounded and always given back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_core::test_support::{self, Collected};
use postern_core::{BoxFuture, Enqueue, Envelope, Recipient};
use postern_queue::transport::{Job, Outcome, RcptResult, Transport};
use postern_queue::{QueueManager, SchedulerConfig, Spool};
use tokio_util::sync::CancellationToken;

/// Records every job; the first attempt of a message whose body contains `DEFER` is deferred.
#[derive(Default)]
struct Recorder {
    jobs: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl Recorder {
    fn jobs(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.jobs.lock().unwrap().clone()
    }
}

impl Transport for Recorder {
    fn destination(&self, _: &Envelope, _: &Recipient) -> String {
        "sink".into()
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        let mut jobs = self.jobs.lock().unwrap();
        let id = job.envelope.queue_id;
        let tried_before = jobs.iter().any(|(e, _)| e.queue_id == id);
        let defer = !tried_before && job.message.windows(5).any(|w| w == b"DEFER");
        jobs.push(((*job.envelope).clone(), (*job.message).clone()));
        let outcome = if defer { Outcome::Deferred } else { Outcome::Delivered };
        let results = job
            .recipients
            .iter()
            .map(|&index| RcptResult {
                index,
                outcome,
                status: if defer { "4.0.0" } else { "2.0.0" }.into(),
                reply: if defer { "451 later" } else { "250 ok" }.into(),
                remote: None,
                dsn_passed_on: true,
            })
            .collect();
        Box::pin(async move { results })
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        hostname: "relay.example.org".into(),
        concurrency: 8,
        destination_concurrency: 8,
        retry_first: Duration::from_millis(50),
        retry_max: Duration::from_millis(50),
        max_queue_lifetime: Duration::from_secs(3600),
        delay_warning: None,
    }
}

fn message(marker: &str, body_len: usize) -> (Envelope, Vec<u8>, Vec<u8>) {
    let mut envelope = test_support::envelope(Some("alice@example.com"), &["bob@example.net"]);
    envelope.received_at_ms = postern_core::event::now_ms();
    let head = format!("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: {marker}\r\n\r\n").into_bytes();
    let mut body = Vec::with_capacity(body_len);
    while body.len() < body_len {
        body.extend_from_slice(format!("{marker} line {}\r\n", body.len()).as_bytes());
    }
    envelope.size = (head.len() + body.len()) as u64;
    (envelope, head, body)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A queue manager over `spool` that delivers through a [`Recorder`].
fn queue_over(spool: &Spool) -> (QueueManager, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let queue = QueueManager::new(spool.clone(), recorder.clone(), Arc::new(Collected::default()), config()).unwrap();
    (queue, recorder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_attempt_gets_the_spooled_message_from_memory_and_a_retry_reads_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let (queue, recorder) = queue_over(&spool);

    let small = message("plain", 1024);
    let deferred = message("DEFER", 2048);
    // Over the size kept in memory: its first attempt reads the spool.
    let large = message("large", 300 << 10);
    let mut want = Vec::new();
    for (envelope, head, body) in [small, deferred, large] {
        want.push((envelope.clone(), [head.as_slice(), body.as_slice()].concat()));
        queue.enqueue(envelope, head, body).await.unwrap();
    }
    // Nothing tried yet: the two small messages wait in memory, the large one does not.
    assert_eq!(queue.fresh_bytes(), want[0].1.len() + want[1].1.len());
    for (envelope, bytes) in &want {
        let (spooled_envelope, spooled) = spool.read(envelope.queue_id).unwrap();
        assert_eq!(&spooled_envelope, envelope);
        assert_eq!(&spooled, bytes);
    }

    let stop = CancellationToken::new();
    let runner = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move { queue.run(stop, Duration::from_secs(5)).await })
    };
    wait_for("four attempts and an empty queue", || recorder.jobs().len() == 4 && queue.queued() == 0).await;
    stop.cancel();
    runner.await.unwrap();

    let jobs = recorder.jobs();
    for (envelope, bytes) in &want {
        let tries: Vec<_> = jobs.iter().filter(|(e, _)| e.queue_id == envelope.queue_id).collect();
        let expected = if bytes.windows(5).any(|w| w == b"DEFER") { 2 } else { 1 };
        assert_eq!(tries.len(), expected, "attempts of {}", envelope.queue_id);
        for (got_envelope, got) in tries {
            assert_eq!(got_envelope, envelope);
            assert_eq!(got, bytes);
        }
    }
    assert_eq!(queue.fresh_bytes(), 0);
    assert_eq!(spool.stats().messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deleted_and_abandoned_messages_give_their_memory_back() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let (queue, recorder) = queue_over(&spool);

    let (held, head, body) = message("held", 4096);
    let held_id = held.queue_id;
    queue.enqueue(held, head, body).await.unwrap();
    let (deleted, head, body) = message("deleted", 4096);
    let deleted_id = deleted.queue_id;
    queue.enqueue(deleted, head, body).await.unwrap();
    assert!(queue.fresh_bytes() > 8192);
    assert!(queue.hold(held_id));
    assert!(queue.delete(deleted_id));
    assert_eq!(queue.fresh_bytes(), 0);

    // An enqueue dropped while it waits for the spool's sync (the session went away).
    let (abandoned, head, body) = message("abandoned", 4096);
    let len = head.len() + body.len();
    let pending = futures_util::FutureExt::now_or_never(queue.enqueue(abandoned, head, body));
    match pending {
        // Dropped unfinished: its room is given back.
        None => assert_eq!(queue.fresh_bytes(), 0),
        // The sync was already over: it was kept like any other.
        Some(result) => {
            result.unwrap();
            assert_eq!(queue.fresh_bytes(), len);
        }
    }

    // The held message is delivered from the spool once released.
    let stop = CancellationToken::new();
    let runner = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move { queue.run(stop, Duration::from_secs(5)).await })
    };
    assert!(queue.release(held_id));
    wait_for("the held message", || recorder.jobs().iter().any(|(e, _)| e.queue_id == held_id)).await;
    stop.cancel();
    runner.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_spool_refuses_keeps_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments, and no journal directory to create the next one in: the spool
    // refuses the first message that needs a new segment.
    let spool = Spool::with_segment_size(dir.path(), 64 << 10).unwrap();
    let (queue, _) = queue_over(&spool);
    std::fs::remove_dir_all(spool.journal_dir()).unwrap();

    let mut kept = 0;
    let mut refused = 0;
    for i in 0..40 {
        let (envelope, head, body) = message(&format!("m{i}"), 8192);
        let len = head.len() + body.len();
        match queue.enqueue(envelope, head, body).await {
            Ok(()) => kept += len,
            Err(reply) => {
                assert!(reply.code >= 400 && reply.code < 500, "{reply:?}");
                refused += 1;
            }
        }
        assert_eq!(queue.fresh_bytes(), kept, "after message {i}");
    }
    assert!(refused > 0, "the spool refused nothing");
}
