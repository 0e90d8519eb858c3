//! The event log: append in batches, query by queue id or time.
//!
//! [`EventWriter`] owns a thread that drains a bounded channel and appends each batch in
//! one transaction. Senders wait when it is behind (backpressure); nothing is dropped while
//! the writer runs.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use postern_core::{Event, QueueId};
use tokio::sync::mpsc;

use crate::Result;

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
    pub fn start(store: Arc<dyn EventStore>, capacity: usize) -> EventWriter {
        let (tx, mut rx) = mpsc::channel::<Msg>(capacity);
        let thread = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || {
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
                    if !batch.is_empty() {
                        if let Err(e) = store.append(&batch) {
                            tracing::error!(error = %e, events = batch.len(), "cannot store events");
                        }
                        batch.clear();
                    }
                }
            })
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
