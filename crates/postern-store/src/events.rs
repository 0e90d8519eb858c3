//! The event log: append in batches, query by queue id, kind, time or domain.
//!
//! [`EventWriter`] owns a thread that drains a bounded channel and appends each batch in
//! one transaction. Senders wait when it is behind (backpressure); nothing is dropped while
//! the writer runs. Given a [`DirectoryStore`], it also records the identity of every
//! queued message after each batch (one transaction per batch, not per message). A batch
//! the store refuses waits in a bounded retry buffer (`event_retry`); every event is
//! counted as stored, retried or dropped ([`EventStats`]).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postern_core::tenancy::IdentitySighting;
use postern_core::{Event, EventKind, QueueId};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use crate::Result;
use crate::directory::DirectoryStore;
use crate::event_retry::{EventStats, RetryBuffer, RetryPolicy};

/// An event as stored, with its row id.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub event: Event,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub queue_id: Option<QueueId>,
    pub kind: Option<String>,
    pub since_ms: Option<i64>,
    /// Events whose account domain *or* sender domain is this one (case-insensitive), so
    /// that a message is found under both (only `queued` events carry domains).
    pub domain: Option<String>,
    /// At most this many, newest last. 0 means 100.
    pub limit: usize,
}

pub trait EventStore: Send + Sync + 'static {
    fn append(&self, events: &[Event]) -> Result<()>;
    fn query(&self, query: &EventQuery) -> Result<Vec<StoredEvent>>;
}

/// The (account domain, sender domain) a message is searchable under.
pub(crate) fn search_domains(kind: &EventKind) -> (Option<String>, Option<String>) {
    match kind {
        EventKind::Queued { domain, sender_domain, .. } | EventKind::Discarded { domain, sender_domain, .. } => {
            (domain.as_deref().map(str::to_ascii_lowercase), sender_domain.as_deref().map(str::to_ascii_lowercase))
        }
        EventKind::Behaviour { domain, identity, .. } => (
            domain.as_deref().map(str::to_ascii_lowercase),
            identity.as_deref().and_then(|i| i.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase()),
        ),
        _ => (None, None),
    }
}

enum Msg {
    Event(Box<Event>),
    Stop,
}

/// The most events in one batch (one transaction).
const BATCH: usize = 1024;
/// How long the writer lets a batch fill after its first event. A transaction's cost is
/// mostly its commit (the pages it wrote go to the WAL, and later through a checkpoint),
/// so a relay that sends a few events at a time would otherwise pay a commit for each
/// few; events become searchable this much later.
const LINGER: Duration = Duration::from_millis(50);

pub struct EventWriter {
    tx: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<EventStats>,
}

impl EventWriter {
    /// A writer that only stores events.
    pub fn start(store: Arc<dyn EventStore>, capacity: usize) -> EventWriter {
        EventWriter::new(store, None, capacity, RetryPolicy::default())
    }

    /// A writer that stores events and, after each batch, records the identities of the
    /// batch's queued messages in `directory` (a failure there is logged, never fatal).
    pub fn with_identities(
        store: Arc<dyn EventStore>,
        directory: Arc<dyn DirectoryStore>,
        capacity: usize,
    ) -> EventWriter {
        EventWriter::new(store, Some(directory), capacity, RetryPolicy::default())
    }

    /// The writer thread over a channel of `capacity` events; batches the store refuses
    /// wait for a retry as `retry` says.
    pub fn new(
        store: Arc<dyn EventStore>,
        directory: Option<Arc<dyn DirectoryStore>>,
        capacity: usize,
        retry: RetryPolicy,
    ) -> EventWriter {
        let (tx, rx) = mpsc::channel::<Msg>(capacity);
        let stats = Arc::new(EventStats::default());
        let counts = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || run(rx, store.as_ref(), directory.as_deref(), &counts, retry))
            .ok();
        EventWriter { tx, thread: Mutex::new(thread), stats }
    }

    /// Events stored, retried, dropped and waiting since start.
    pub fn stats(&self) -> Arc<EventStats> {
        Arc::clone(&self.stats)
    }

    /// Hands an event to the writer, waiting while the channel is full.
    pub async fn send(&self, event: Event) {
        if self.tx.send(Msg::Event(Box::new(event))).await.is_err() {
            self.stats.dropped(1);
            tracing::error!(dropped_total = self.stats.counts().dropped, "event writer is gone; event not stored");
        }
    }

    /// Writes what was sent so far (one last try for events waiting for a retry) and
    /// stops the thread.
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The writer thread: batches of up to [`BATCH`] events until `Stop` or every sender is
/// gone. While the store fails, new batches join the retry buffer (in order) and the
/// whole buffer is tried when its retry is due; senders never wait on a failing store.
fn run(
    mut rx: mpsc::Receiver<Msg>,
    store: &dyn EventStore,
    directory: Option<&dyn DirectoryStore>,
    stats: &EventStats,
    policy: RetryPolicy,
) {
    let mut retry = RetryBuffer::new(policy);
    let mut batch = Vec::with_capacity(BATCH);
    let mut stop = false;
    while !stop {
        let wait = (!retry.is_empty()).then(|| retry.wait(Instant::now()));
        stop = receive(&mut rx, &mut batch, wait);
        if !batch.is_empty() {
            // Recorded even when the events cannot be stored: the messages were accepted.
            record_identities(directory, &batch);
            let n = batch.len();
            if !retry.is_empty() {
                keep(&mut retry, stats, std::mem::take(&mut batch));
            } else {
                match store.append(&batch) {
                    Ok(()) => stats.stored(n, false),
                    Err(e) => {
                        stats.failed();
                        keep(&mut retry, stats, std::mem::take(&mut batch));
                        let c = stats.counts();
                        tracing::error!(
                            error = %e, events = n, waiting = retry.len(), retry_in_ms = retry.wait(Instant::now()).as_millis() as u64,
                            dropped_total = c.dropped, failures_total = c.failures, "cannot store events; kept for a retry"
                        );
                    }
                }
            }
            batch.clear();
        }
        if !retry.is_empty() && (stop || retry.due(Instant::now())) {
            try_again(&mut retry, store, stats);
        }
        if stop && !retry.is_empty() {
            stats.dropped(retry.drop_all());
            tracing::error!(dropped_total = stats.counts().dropped, "stopping with events the store refused; dropped");
        }
        stats.set_waiting(retry.len());
    }
}

/// Fills `batch` with up to [`BATCH`] events. Waits for the first one, or, when `wait` is
/// given (events wait for a retry), at most that long; then, unless events wait for a
/// retry, lets the batch fill for [`LINGER`]. Returns true on `Stop` or when every sender
/// is gone.
fn receive(rx: &mut mpsc::Receiver<Msg>, batch: &mut Vec<Event>, wait: Option<Duration>) -> bool {
    match wait {
        None => match rx.blocking_recv() {
            Some(Msg::Event(e)) => batch.push(*e),
            Some(Msg::Stop) | None => return true,
        },
        Some(wait) => {
            let until = Instant::now() + wait;
            loop {
                match rx.try_recv() {
                    Ok(Msg::Event(e)) => {
                        batch.push(*e);
                        break;
                    }
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => return true,
                    Err(TryRecvError::Empty) => {
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return false;
                        }
                        std::thread::sleep(left.min(Duration::from_millis(20)));
                    }
                }
            }
        }
    }
    if drain(rx, batch) {
        return true;
    }
    if wait.is_none() && batch.len() < BATCH {
        std::thread::sleep(LINGER);
        return drain(rx, batch);
    }
    false
}

/// Adds what is waiting to `batch`, up to [`BATCH`]. True on `Stop` or when every sender
/// is gone.
fn drain(rx: &mut mpsc::Receiver<Msg>, batch: &mut Vec<Event>) -> bool {
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(Msg::Event(e)) => batch.push(*e),
            Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => return true,
            Err(TryRecvError::Empty) => break,
        }
    }
    false
}

fn keep(retry: &mut RetryBuffer, stats: &EventStats, batch: Vec<Event>) {
    let dropped = retry.keep(batch, Instant::now());
    if dropped > 0 {
        stats.dropped(dropped);
        tracing::error!(
            dropped,
            dropped_total = stats.counts().dropped,
            "event retry buffer full; the oldest events were dropped"
        );
    }
}

/// One retry of every waiting event, in one transaction.
fn try_again(retry: &mut RetryBuffer, store: &dyn EventStore, stats: &EventStats) {
    let events = retry.events();
    match store.append(&events) {
        Ok(()) => {
            stats.stored(events.len(), true);
            retry.succeeded();
            let c = stats.counts();
            tracing::warn!(
                events = events.len(),
                retried_total = c.retried,
                dropped_total = c.dropped,
                "events stored after a retry"
            );
        }
        Err(e) => {
            stats.failed();
            retry.failed(Instant::now());
            let c = stats.counts();
            tracing::error!(
                error = %e, waiting = retry.len(), retry_in_ms = retry.wait(Instant::now()).as_millis() as u64,
                dropped_total = c.dropped, failures_total = c.failures, "cannot store events; retry failed"
            );
        }
    }
}

fn record_identities(directory: Option<&dyn DirectoryStore>, batch: &[Event]) {
    if let Some(directory) = directory {
        let found = sightings(batch);
        if !found.is_empty()
            && let Err(e) = directory.record_identities(&found)
        {
            tracing::error!(error = %e, sightings = found.len(), "cannot record identities");
        }
    }
}

/// One sighting per queued message that names both its account and its identity.
fn sightings(events: &[Event]) -> Vec<IdentitySighting> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Queued { account_id: Some(account_id), identity: Some(name), .. } if !name.is_empty() => {
                Some(IdentitySighting { account_id: *account_id, name: name.clone(), at_ms: e.at_ms })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::{AccountKind, AccountSettings, SenderSecurity};

    use super::*;
    use crate::RetryPolicy;
    use crate::directory::{IdentityFilter, NewAccount, NewDomain, Page, Scope};
    use crate::sqlite::SqliteStore;

    fn queued(at_ms: i64, account_id: Option<i64>, identity: Option<&str>) -> Event {
        Event {
            at_ms,
            session: 1,
            client_ip: "192.0.2.1".parse().unwrap(),
            queue_id: Some(QueueId::generate()),
            kind: EventKind::Queued {
                size: 10,
                sender: "a@b".into(),
                recipients: vec!["c@d".into()],
                tls: None,
                message_id: None,
                account: None,
                account_id,
                domain: Some("example.com".into()),
                sender_domain: Some("example.com".into()),
                identity: identity.map(Into::into),
                subject: None,
            },
        }
    }

    #[test]
    fn only_queued_events_with_account_and_identity_are_sightings() {
        let connect = Event {
            at_ms: 1,
            session: 1,
            client_ip: "192.0.2.1".parse().unwrap(),
            queue_id: None,
            kind: EventKind::Connect { client_port: 1, listener: "smtp".into() },
        };
        let events = [connect, queued(2, Some(7), Some("x")), queued(3, None, Some("y")), queued(4, Some(7), None)];
        assert_eq!(sightings(&events), vec![IdentitySighting { account_id: 7, name: "x".into(), at_ms: 2 }]);
    }

    #[tokio::test]
    async fn the_writer_records_identities_of_queued_messages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).unwrap());
        store
            .create_domain(&NewDomain {
                name: "example.com".into(),
                filter_enabled: true,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            })
            .unwrap();
        let account = store
            .create_account(&NewAccount {
                domain: "example.com".into(),
                kind: AccountKind::Ip,
                name: "192.0.2.0/24".into(),
                password_hash: None,
                settings: AccountSettings::for_kind(AccountKind::Ip),
            })
            .unwrap();
        let writer = EventWriter::with_identities(store.clone(), store.clone(), 16);
        for at in [1_000, 3_000, 2_000] {
            writer.send(queued(at, Some(account.id), Some("alice@example.com"))).await;
        }
        writer.send(queued(4_000, Some(account.id), Some("bob@example.com"))).await;
        writer.send(queued(5_000, Some(account.id + 100), Some("ghost@example.com"))).await;
        writer.stop().await;

        assert_eq!(store.query(&EventQuery::default()).unwrap().len(), 5, "every event is stored");
        let filter = IdentityFilter { name: Some("alice".into()), ..IdentityFilter::default() };
        let found = store.list_identities(&Scope::All, &filter, Page::default()).unwrap();
        assert_eq!(found.total, 1);
        let alice = &found.items[0];
        assert_eq!((alice.messages, alice.first_seen_ms, alice.last_seen_ms), (3, 1_000, 3_000));
        assert_eq!(alice.domain, "example.com");
        let all = store.list_identities(&Scope::All, &IdentityFilter::default(), Page::default()).unwrap();
        assert_eq!(all.total, 2, "the sighting of a missing account is skipped: {all:?}");
    }

    /// The SQLite store, refusing the first `failures` appends as a full disk does.
    struct FailingStore {
        inner: SqliteStore,
        failures: std::sync::atomic::AtomicUsize,
    }

    impl EventStore for FailingStore {
        fn append(&self, events: &[Event]) -> Result<()> {
            use std::sync::atomic::Ordering;
            if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                let full = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL);
                return Err(rusqlite::Error::SqliteFailure(full, Some("database or disk is full".into())).into());
            }
            self.inner.append(events)
        }

        fn query(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
            self.inner.query(query)
        }
    }

    fn failing(dir: &std::path::Path, failures: usize) -> Arc<FailingStore> {
        let inner = SqliteStore::open(&dir.join("postern.db")).unwrap();
        Arc::new(FailingStore { inner, failures: failures.into() })
    }

    fn fast_retries(capacity: usize) -> RetryPolicy {
        RetryPolicy { capacity, first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(40) }
    }

    #[tokio::test]
    async fn refused_events_are_retried_until_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = failing(dir.path(), 3);
        let writer = EventWriter::new(store.clone(), None, 16, fast_retries(1000));
        for at in 0..10 {
            writer.send(queued(at, None, None)).await;
        }
        let stats = writer.stats();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.counts().stored < 10 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let counts = stats.counts();
        assert_eq!((counts.stored, counts.dropped, counts.waiting, counts.failures), (10, 0, 0, 3), "{counts:?}");
        assert_eq!(counts.retried, 10, "{counts:?}");
        writer.send(queued(11, None, None)).await;
        writer.stop().await;
        let counts = stats.counts();
        assert_eq!((counts.stored, counts.retried), (11, 10), "a working store needs no retry: {counts:?}");
        let stored = store.query(&EventQuery::default()).unwrap();
        let times: Vec<i64> = stored.iter().map(|e| e.event.at_ms).collect();
        assert_eq!(times, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11], "every event, in order");
    }

    #[tokio::test]
    async fn beyond_the_bound_events_are_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = failing(dir.path(), usize::MAX);
        let writer = EventWriter::new(store.clone(), None, 4, fast_retries(5));
        for at in 0..12 {
            writer.send(queued(at, None, None)).await;
        }
        let stats = writer.stats();
        let counts = stats.counts();
        assert!(counts.waiting <= 5, "the retry buffer is bounded: {counts:?}");
        writer.stop().await;
        let counts = stats.counts();
        assert_eq!((counts.stored, counts.dropped, counts.waiting), (0, 12, 0), "{counts:?}");
        assert!(counts.failures >= 2, "{counts:?}");
    }
}
