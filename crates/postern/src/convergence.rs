//! Convergence of a cluster's nodes on a shared PostgreSQL (`[store] backend =
//! "postgres"`): every node keeps its own in-memory directory and DKIM signer; a change one
//! node makes reaches the others through the store's change feed
//! (`postern_store::postgres::ChangeListener`), change by change, never by reading
//! everything again. On one node (SQLite) there is nothing to do: [`Publisher::none`].
//!
//! - Out: the store's triggers write every directory change to the feed in the
//!   transaction that stores it (`postern_store::postgres` migration 10), so a stored
//!   change always reaches the other nodes. [`Publisher::publish`], called once a change is
//!   stored and applied here (the admin API's `on_change`, the DKIM operations, locks the
//!   SMTP path sets), writes it once more after the commit: a second notice, harmless
//!   (applying is idempotent), from before the triggers. A change that cannot be written
//!   now (PostgreSQL away) waits in a bounded outbox and is written by the follower's
//!   next round.
//! - In: [`Follower::run`], one task per node: a connection of its own `LISTEN`s; on a
//!   notification, and every [`POLL`] in any case, it reads the rows after the last one it
//!   applied and applies each (its own node's too: applying is idempotent) through
//!   `directory::apply` or the signer's reload. A lost connection is opened again and
//!   the feed read from the last applied row, so missed notifications cost nothing.
//! - At start the node notes the feed's last row before it loads its snapshot
//!   ([`start_point`]): what is published in between is applied again, which changes
//!   nothing.
//! - Failure behaviour: each round that reads the feed to its end and applies all of it
//!   marks the node current ([`Readiness::caught_up`]); when none has for [`STALE_AFTER`]
//!   (PostgreSQL away, or the changes cannot be read), the policy answers
//!   `451 4.3.0` at MAIL and RCPT, and `/health` reports `postgres` failing, until the
//!   feed answers again.
//! - Old rows are pruned by every node now and then ([`KEEP_FOR`], [`KEEP_AT_MOST`]); a
//!   node that was away longer reads everything again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use postern_policy::{Directory, Readiness};
use postern_store::postgres::ChangeListener;
use postern_store::{ClusterChange, DirectoryChange, DirectoryStore, PgConfig, PgStore};
use tokio_util::sync::CancellationToken;

/// How often the feed is read when no notification came.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a node may go without reading the feed before it stops deciding on its
/// directory (`451 4.3.0`).
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// The longest one read of the feed (or a connect, or a prune) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(3);
/// Rows read at once.
const BATCH: i64 = 256;
/// Rows are kept this long ...
const KEEP_FOR: Duration = Duration::from_secs(86_400);
/// ... and never more than this many.
const KEEP_AT_MOST: i64 = 100_000;
/// How often a node prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Changes waiting to be written, at most; beyond, they become "everything".
const OUTBOX_MAX: usize = 1000;

/// The feed's last row, read before the node loads its snapshot.
pub fn start_point(store: &PgStore) -> anyhow::Result<i64> {
    store.latest_change().context("the cluster's change feed ([store] url)")
}

/// A name for this node in the feed's rows: the host name and a random suffix (two
/// processes on one host stay apart).
pub fn node_name(hostname: &str) -> String {
    let suffix = getrandom::u32().unwrap_or_default();
    let host: String = hostname.chars().take(200).collect();
    format!("{host}/{suffix:08x}")
}

/// What this node tells the others (cheap to clone).
#[derive(Clone, Default)]
pub struct Publisher {
    outbox: Option<Arc<Outbox>>,
}

struct Outbox {
    store: Arc<PgStore>,
    node: String,
    pending: Mutex<VecDeque<ClusterChange>>,
    /// Held by whoever writes the pending changes (one writer at a time, in order).
    writing: Mutex<()>,
}

impl Publisher {
    /// One node: nobody to tell.
    pub fn none() -> Publisher {
        Publisher { outbox: None }
    }

    pub fn new(store: Arc<PgStore>, node: String) -> Publisher {
        let outbox = Outbox { store, node, pending: Mutex::new(VecDeque::new()), writing: Mutex::new(()) };
        Publisher { outbox: Some(Arc::new(outbox)) }
    }

    /// Writes `change` to the feed, after the changes still waiting. Blocking (a store
    /// call): call it from a blocking thread. A failure leaves it waiting (logged).
    pub fn publish(&self, change: ClusterChange) {
        let Some(outbox) = &self.outbox else { return };
        {
            let mut pending = outbox.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= OUTBOX_MAX {
                tracing::warn!(
                    waiting = pending.len(),
                    "too many cluster changes waiting; the other nodes will read everything"
                );
                pending.clear();
                pending.push_back(ClusterChange::Directory(DirectoryChange::Everything));
                pending.push_back(ClusterChange::DkimKeys);
            }
            pending.push_back(change);
        }
        self.flush();
    }

    /// Writes what waits, in order, until done or the store fails. When another thread is
    /// writing, it writes this too.
    fn flush(&self) {
        let Some(outbox) = &self.outbox else { return };
        let Ok(_writing) = outbox.writing.try_lock() else { return };
        loop {
            let next = outbox.pending.lock().unwrap_or_else(|p| p.into_inner()).front().cloned();
            let Some(change) = next else { return };
            match outbox.store.publish_change(&outbox.node, &change) {
                Ok(seq) => {
                    tracing::debug!(seq, ?change, "cluster change published");
                    outbox.pending.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                }
                Err(e) => {
                    tracing::warn!(error = %e, ?change, "cannot publish a cluster change now; it waits");
                    return;
                }
            }
        }
    }
}

/// Applies one change of the feed to this node's memory. Blocking.
pub type ApplyChange = Arc<dyn Fn(&ClusterChange) -> postern_store::Result<()> + Send + Sync>;

/// The local side of a change: the directory's part, then the signer (a deleted domain
/// takes its keys along). Used for this node's own changes and its peers' alike.
pub fn applier(
    store: Arc<dyn DirectoryStore>,
    directory: Arc<Directory>,
    reload_dkim: Arc<dyn Fn() -> postern_store::Result<()> + Send + Sync>,
) -> ApplyChange {
    Arc::new(move |change| match change {
        ClusterChange::Directory(change) => {
            crate::directory::apply(store.as_ref(), &directory, change)?;
            if matches!(change, DirectoryChange::Domain(_) | DirectoryChange::Everything) {
                reload_dkim()?;
            }
            Ok(())
        }
        ClusterChange::DkimKeys => reload_dkim(),
    })
}

/// The task that keeps this node's memory up with the feed.
pub struct Follower {
    pub config: PgConfig,
    pub apply: ApplyChange,
    pub publisher: Publisher,
    pub readiness: Readiness,
}

impl Follower {
    /// Follows the feed from `last` (the row [`start_point`] read) until `shutdown`.
    pub async fn run(self, mut last: i64, shutdown: CancellationToken) {
        let mut away_since: Option<Instant> = None;
        let mut pruned = Instant::now();
        while !shutdown.is_cancelled() {
            let listener = match tokio::time::timeout(STEP_TIMEOUT, ChangeListener::connect(&self.config)).await {
                Ok(Ok(listener)) => listener,
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {STEP_TIMEOUT:?}"),
                    };
                    self.lost(&mut away_since, &error);
                    if pause(POLL, &shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            let mut listener = listener;
            loop {
                if let Err(error) = self.catch_up(&listener, &mut last).await {
                    self.lost(&mut away_since, &error);
                    break;
                }
                if let Some(since) = away_since.take() {
                    tracing::info!(
                        away_secs = since.elapsed().as_secs(),
                        last,
                        "the cluster's change feed is back; caught up"
                    );
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    pruned = Instant::now();
                    prune(&mut listener).await;
                }
                tokio::select! {
                    _ = listener.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.cancelled() => return,
                }
                if listener.is_closed() {
                    self.lost(&mut away_since, "the connection closed");
                    break;
                }
            }
        }
    }

    /// Writes this node's waiting changes, then reads and applies the feed to its end.
    async fn catch_up(&self, listener: &ChangeListener, last: &mut i64) -> Result<(), String> {
        let publisher = self.publisher.clone();
        let _ = tokio::task::spawn_blocking(move || publisher.flush()).await;
        loop {
            let batch = match tokio::time::timeout(STEP_TIMEOUT, listener.changes_after(*last, BATCH)).await {
                Ok(Ok(batch)) => batch,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err(format!("no answer within {STEP_TIMEOUT:?}")),
            };
            if batch.missed {
                tracing::warn!(
                    last,
                    latest = batch.latest,
                    "changes were pruned before this node read them; reading everything"
                );
                for change in [ClusterChange::Directory(DirectoryChange::Everything), ClusterChange::DkimKeys] {
                    self.apply_one(change).await?;
                }
                *last = batch.latest;
                continue;
            }
            let full = batch.changes.len() as i64 >= BATCH;
            for row in batch.changes {
                let lag_ms = postern_core::event::now_ms().saturating_sub(row.at_ms);
                self.apply_one(row.change.clone()).await?;
                tracing::debug!(seq = row.seq, node = row.node.as_str(), lag_ms, change = ?row.change, "cluster change applied");
                *last = row.seq;
            }
            if !full {
                // Everything published up to this read is in force here.
                self.readiness.caught_up();
                return Ok(());
            }
        }
    }

    async fn apply_one(&self, change: ClusterChange) -> Result<(), String> {
        let apply = Arc::clone(&self.apply);
        match tokio::task::spawn_blocking(move || apply(&change)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("applying a change: {e}")),
            Err(e) => Err(format!("applying a change: {e}")),
        }
    }

    /// The feed cannot be read: said once per outage at `warn` (each retry at `debug`).
    fn lost(&self, away_since: &mut Option<Instant>, error: &str) {
        if away_since.is_none() {
            *away_since = Some(Instant::now());
            tracing::warn!(
                error,
                stale_after_secs = STALE_AFTER.as_secs(),
                "cannot read the cluster's change feed; retrying every second (mail is refused with 451 4.3.0 once the directory may be stale)"
            );
        } else {
            tracing::debug!(error, "the cluster's change feed is still away");
        }
    }
}

async fn prune(listener: &mut ChangeListener) {
    let before_ms = postern_core::event::now_ms().saturating_sub(KEEP_FOR.as_millis() as i64);
    match tokio::time::timeout(STEP_TIMEOUT, listener.prune(before_ms, KEEP_AT_MOST)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(gone)) => tracing::info!(rows = gone, "old cluster changes pruned"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the cluster's change feed"),
        Err(_) => tracing::warn!("pruning the cluster's change feed took too long"),
    }
}

/// Sleeps `time`; true when `shutdown` came first.
async fn pause(time: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(time) => false,
        _ = shutdown.cancelled() => true,
    }
}

#[cfg(test)]
mod tests;
