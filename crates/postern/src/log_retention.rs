//! The log's retention (`log.retention_days`): events and log search rows older than that
//! are removed at start and every [`EVERY`], in small batches on the blocking threads.
//!
//! In: the store ([`LogSearch::purge_batch`]) and the live retention in days (a `SIGHUP`
//! may change it; each run reads it). Out: fewer rows, and one log line per run that
//! removed something, with the counts.
//!
//! Defends against stalling the SMTP path and the event writer: each batch is one short
//! transaction of at most [`BATCH`] events and [`BATCH`] rows, and the purge pauses
//! between batches, so the writer (which shares the store's connection) gets its turn.
//! A store error ends the run (logged); the next run tries again.

use std::sync::Arc;
use std::time::Duration;

use postern_core::Live;
use postern_store::{LogSearch, Purged};
use tokio_util::sync::CancellationToken;

/// Between two runs.
pub const EVERY: Duration = Duration::from_secs(600);
/// Events (and rows) removed in one transaction.
pub const BATCH: u32 = 2_000;
/// The pause between two batches.
const PAUSE: Duration = Duration::from_millis(20);
const DAY_MS: i64 = 86_400_000;

/// Runs a purge now and every `every` until `shutdown`.
pub async fn purge_every(
    store: Arc<dyn LogSearch>,
    retention_days: Arc<Live<u32>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let days = *retention_days.load();
        let cutoff = postern_core::event::now_ms() - i64::from(days) * DAY_MS;
        match purge(Arc::clone(&store), cutoff, &shutdown).await {
            Ok(p) if p == Purged::default() => {}
            Ok(p) => {
                tracing::info!(events = p.events, messages = p.messages, retention_days = days, "log retention: purged")
            }
            Err(e) => tracing::error!(
                error = e.as_str(),
                retention_days = days,
                "log retention: purge failed; tried again later"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Removes everything older than `cutoff_ms`, batch after batch. Returns what went.
pub async fn purge(store: Arc<dyn LogSearch>, cutoff_ms: i64, shutdown: &CancellationToken) -> Result<Purged, String> {
    let mut total = Purged::default();
    loop {
        let batch_store = Arc::clone(&store);
        let done = tokio::task::spawn_blocking(move || batch_store.purge_batch(cutoff_ms, BATCH))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        total.events += done.events;
        total.messages += done.messages;
        if done.events < u64::from(BATCH) && done.messages < u64::from(BATCH) {
            return Ok(total);
        }
        tokio::select! {
            _ = tokio::time::sleep(PAUSE) => {}
            _ = shutdown.cancelled() => return Ok(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use postern_core::{Event, EventKind};
    use postern_store::{EventStore, SqliteStore};

    use super::*;

    #[tokio::test]
    async fn everything_older_goes_in_batches_and_newer_stays() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).unwrap());
        let event = |at_ms: i64| Event {
            at_ms,
            session: 1,
            client_ip: "192.0.2.1".parse().unwrap(),
            queue_id: None,
            kind: EventKind::Connect { client_port: 1, listener: "smtp".into() },
        };
        let old: Vec<Event> = (0..(BATCH as i64 * 2 + 5)).map(event).collect();
        store.append(&old).unwrap();
        store.append(&[event(1_000_000)]).unwrap();
        let purged = purge(store.clone(), 500_000, &CancellationToken::new()).await.unwrap();
        assert_eq!(purged, Purged { events: u64::from(BATCH) * 2 + 5, messages: 0 });
        assert_eq!(store.query(&postern_store::EventQuery::default()).unwrap().len(), 1);
    }
}
