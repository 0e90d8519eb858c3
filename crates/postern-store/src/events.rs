//! The event log: append in batches, query by queue id, kind, time or domain.
//!
//! [`EventWriter`] owns a thread that drains a bounded channel and appends each batch in
//! one transaction. Senders wait when it is behind (backpressure); nothing is dropped while
//! the writer runs. Given a [`DirectoryStore`], it also records the identity of every
//! queued message after each batch (one transaction per batch, not per message).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use postern_core::tenancy::IdentitySighting;
use postern_core::{Event, EventKind, QueueId};
use tokio::sync::mpsc;

use crate::Result;
use crate::directory::DirectoryStore;

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

enum Msg {
    Event(Box<Event>),
    Stop,
}

const BATCH: usize = 512;

pub struct EventWriter {
    tx: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EventWriter {
    /// A writer that only stores events.
    pub fn start(store: Arc<dyn EventStore>, capacity: usize) -> EventWriter {
        EventWriter::spawn(store, None, capacity)
    }

    /// A writer that stores events and, after each batch, records the identities of the
    /// batch's queued messages in `directory` (a failure there is logged, never fatal).
    pub fn with_identities(
        store: Arc<dyn EventStore>,
        directory: Arc<dyn DirectoryStore>,
        capacity: usize,
    ) -> EventWriter {
        EventWriter::spawn(store, Some(directory), capacity)
    }

    fn spawn(store: Arc<dyn EventStore>, directory: Option<Arc<dyn DirectoryStore>>, capacity: usize) -> EventWriter {
        let (tx, rx) = mpsc::channel::<Msg>(capacity);
        let thread = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || run(rx, store.as_ref(), directory.as_deref()))
            .ok();
        EventWriter { tx, thread: Mutex::new(thread) }
    }

    /// Hands an event to the writer, waiting while the channel is full.
    pub async fn send(&self, event: Event) {
        if self.tx.send(Msg::Event(Box::new(event))).await.is_err() {
            tracing::error!("event writer is gone; event not stored");
        }
    }

    /// Writes what was sent so far and stops the thread.
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The writer thread: batches of up to [`BATCH`] events until `Stop` or every sender is gone.
fn run(mut rx: mpsc::Receiver<Msg>, store: &dyn EventStore, directory: Option<&dyn DirectoryStore>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut stop = false;
    while !stop {
        match rx.blocking_recv() {
            Some(Msg::Event(e)) => batch.push(*e),
            Some(Msg::Stop) | None => stop = true,
        }
        while batch.len() < BATCH && !stop {
            match rx.try_recv() {
                Ok(Msg::Event(e)) => batch.push(*e),
                Ok(Msg::Stop) => stop = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = store.append(&batch) {
            tracing::error!(error = %e, events = batch.len(), "cannot store events");
        }
        // Recorded even when the events could not be stored: the messages were accepted.
        if let Some(directory) = directory {
            let found = sightings(&batch);
            if !found.is_empty()
                && let Err(e) = directory.record_identities(&found)
            {
                tracing::error!(error = %e, sightings = found.len(), "cannot record identities");
            }
        }
        batch.clear();
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
}
