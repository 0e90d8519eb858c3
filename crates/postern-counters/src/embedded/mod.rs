//! The embedded backend: counters in memory, persisted in a directory of their own.
//!
//! In: a directory (created if missing) and a [`Clock`]. Out: a [`Counters`] whose counts
//! survive a restart. Every operation works on memory under the lock of the key's shard
//! (so `acquire` is atomic per key; `acquire_all` holds the locks of all its keys' shards
//! at once) and appends the change to a write-behind journal; a background thread writes
//! and fsyncs the journal every [`EmbeddedOptions::flush_interval`] (1 s), compacts the
//! journals into a snapshot when they outgrow it, and sweeps expired keys a few shards at
//! a time.
//!
//! # What a stop can lose
//! - A graceful stop ([`Counters::flush`] before dropping) loses nothing.
//! - A crash (or dropping without `flush`, which behaves the same) loses at most the
//!   changes of the last flush interval: those made after the last background flush.
//! - A damaged file loses the records from the damage on, in that file only (see `disk.rs`).
//!   Losing counts only ever makes limits more lenient for one window, never stricter.
//!
//! # Layout
//! - `memory.rs`: the sharded maps and the operations on them.
//! - `journal.rs`: the write-behind buffer and journal files.
//! - `disk.rs`: the directory, loading at open, snapshots.
//! - `record.rs`: the byte format of every file.
//! - `background.rs`: the threads that flush, compact and sweep.

mod background;
mod disk;
mod journal;
mod memory;
mod record;

use std::fs::File;
use std::future::ready;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postern_core::BoxFuture;

use self::journal::{FlushError, Journal};
use self::memory::{Memory, Request, SHARDS};
use crate::{
    Acquire, Clock, CounterError, Counters, Decision, MultiDecision, Result, Window, check_blob, check_key,
    check_requests,
};

/// Tuning of the embedded backend; the defaults suit production.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// How often the journal is written and fsynced: the most a crash can lose.
    pub flush_interval: Duration,
    /// Journals are compacted into a snapshot once they hold more than this many bytes
    /// and more than the snapshot itself.
    pub compact_min_bytes: u64,
    /// Shards swept for expired keys per flush interval (a full round takes
    /// `256 / sweep_shards_per_tick` intervals).
    pub sweep_shards_per_tick: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            flush_interval: Duration::from_secs(1),
            compact_min_bytes: 64 << 20,
            sweep_shards_per_tick: 8,
        }
    }
}

/// A look at the backend's state, for tests, benchmarks and the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Counter keys with at least one live bucket, and blobs (or not swept yet).
    pub keys: usize,
    /// Bytes of changes encoded for the journal since open.
    pub logged_bytes: u64,
    /// Bytes of changes waiting for the next flush (what a crash now would lose).
    pub pending_bytes: usize,
    /// Bytes of changes written and fsynced since open.
    pub durable_bytes: u64,
    /// Bytes of journals not yet compacted into the snapshot.
    pub journal_bytes: u64,
    pub snapshot_bytes: u64,
    pub flushes: u64,
    pub compactions: u64,
}

/// Counters in memory, persisted under one directory. Dropping it stops the background
/// thread without flushing: call [`Counters::flush`] on a graceful stop.
pub struct EmbeddedCounters {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    options: EmbeddedOptions,
    memory: Memory,
    journal: Journal,
    /// Held for a whole compaction (one at a time).
    compaction: Mutex<()>,
    /// A background compaction is running (or about to).
    compacting: AtomicBool,
    /// The owner was dropped: a running snapshot stops early.
    closed: AtomicBool,
    snapshot_bytes: AtomicU64,
    compactions: AtomicU64,
    /// Held (locked) while this instance lives.
    _dir_lock: File,
}

impl EmbeddedCounters {
    /// Opens (or creates) the counters stored in directory `dir`, with default options.
    /// Blocking: it reads the directory back (seconds for millions of keys).
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<EmbeddedCounters> {
        EmbeddedCounters::open_with(dir, clock, EmbeddedOptions::default())
    }

    pub fn open_with(dir: &Path, clock: Arc<dyn Clock>, options: EmbeddedOptions) -> Result<EmbeddedCounters> {
        let io_error = |e: std::io::Error| CounterError::Backend(format!("counters in {}: {e}", dir.display()));
        let dir_lock = disk::lock_dir(dir).map_err(io_error)?;
        let memory = Memory::new();
        let loaded = disk::load(dir, &memory).map_err(io_error)?;
        memory.sweep(clock.now_ms(), SHARDS);
        let journal =
            Journal::create(dir.to_path_buf(), loaded.next_generation, loaded.journal_bytes).map_err(io_error)?;
        tracing::info!(dir = %dir.display(), keys = memory.key_count(), "counters: opened");
        let wake = Arc::clone(&journal.wake);
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            clock,
            options,
            memory,
            journal,
            compaction: Mutex::new(()),
            compacting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            snapshot_bytes: AtomicU64::new(loaded.snapshot_bytes),
            compactions: AtomicU64::new(0),
            _dir_lock: dir_lock,
        });
        let every = inner.options.flush_interval;
        background::start(Arc::downgrade(&inner), wake, every).map_err(io_error)?;
        Ok(EmbeddedCounters { inner })
    }

    pub fn stats(&self) -> EmbeddedStats {
        let journal = &self.inner.journal.stats;
        EmbeddedStats {
            keys: self.inner.memory.key_count(),
            logged_bytes: journal.logged_bytes.load(Ordering::Relaxed),
            pending_bytes: self.inner.journal.pending_bytes(),
            durable_bytes: journal.durable_bytes.load(Ordering::Relaxed),
            journal_bytes: journal.journal_bytes.load(Ordering::Relaxed),
            snapshot_bytes: self.inner.snapshot_bytes.load(Ordering::Relaxed),
            flushes: journal.flushes.load(Ordering::Relaxed),
            compactions: self.inner.compactions.load(Ordering::Relaxed),
        }
    }

    /// Drops every expired key now (the background thread does it a few shards at a time);
    /// returns how many were dropped.
    pub fn sweep_expired(&self) -> usize {
        self.inner.memory.sweep(self.inner.clock.now_ms(), SHARDS)
    }

    /// Writes a snapshot now and deletes the journals it covers.
    pub async fn compact(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.compact()).await
    }

    fn decide(&self, key: &str, window: Duration, n: u64, limit: u64) -> Result<Decision> {
        check_key(key)?;
        let window = Window::new(window)?;
        let now = self.inner.clock.now_ms();
        Ok(self.inner.memory.acquire(key, window, now, n, limit, &self.inner.journal))
    }

    fn decide_all(&self, requests: &[Acquire]) -> Result<MultiDecision> {
        let windows = check_requests(requests)?;
        let requests: Vec<Request<'_>> = requests
            .iter()
            .zip(windows)
            .map(|(r, window)| Request { key: &r.key, window, n: r.n, limit: r.limit })
            .collect();
        let now = self.inner.clock.now_ms();
        Ok(self.inner.memory.acquire_all(&requests, now, &self.inner.journal))
    }
}

impl Drop for EmbeddedCounters {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.journal.wake.raise();
    }
}

impl Counters for EmbeddedCounters {
    fn acquire(&self, key: &str, window: Duration, n: u64, limit: u64) -> BoxFuture<'_, Result<Decision>> {
        Box::pin(ready(self.decide(key, window, n, limit)))
    }

    fn acquire_all(&self, requests: &[Acquire]) -> BoxFuture<'_, Result<MultiDecision>> {
        Box::pin(ready(self.decide_all(requests)))
    }

    fn add(&self, key: &str, window: Duration, n: u64) -> BoxFuture<'_, Result<u64>> {
        let result = self.decide(key, window, n, 0).map(|decision| match decision {
            Decision::Allowed { count } | Decision::Denied { count } => count,
        });
        Box::pin(ready(result))
    }

    fn count(&self, key: &str, window: Duration) -> BoxFuture<'_, Result<u64>> {
        let result = check_key(key)
            .and_then(|()| Window::new(window))
            .map(|window| self.inner.memory.count(key, window, self.inner.clock.now_ms()));
        Box::pin(ready(result))
    }

    fn reset(&self, key: &str) -> BoxFuture<'_, Result<()>> {
        let result = check_key(key).map(|()| self.inner.memory.reset(key, &self.inner.journal));
        Box::pin(ready(result))
    }

    fn get_blob(&self, key: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        let result = check_key(key).map(|()| self.inner.memory.get_blob(key, self.inner.clock.now_ms()));
        Box::pin(ready(result))
    }

    fn put_blob(&self, key: &str, value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<()>> {
        let result = check_blob(key, value, ttl).map(|ttl_ms| {
            let expires_ms = self.inner.clock.now_ms().saturating_add(ttl_ms);
            self.inner.memory.put_blob(key, value, expires_ms, &self.inner.journal);
        });
        Box::pin(ready(result))
    }

    fn put_blob_if(&self, key: &str, guard: &[u8], value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<bool>> {
        let result = check_blob(key, value, ttl).map(|ttl_ms| {
            let now_ms = self.inner.clock.now_ms();
            let expires_ms = now_ms.saturating_add(ttl_ms);
            self.inner.memory.put_blob_if(key, guard, value, expires_ms, now_ms, &self.inner.journal)
        });
        Box::pin(ready(result))
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(blocking(move || inner.flush()))
    }
}

impl Inner {
    /// Makes every change so far durable: in the journal, or by a snapshot when the
    /// journal lost some.
    fn flush(&self) -> Result<()> {
        match self.journal.flush() {
            Ok(()) => Ok(()),
            Err(FlushError::NeedsSnapshot) => self.compact(),
        }
    }

    fn compact(&self) -> Result<()> {
        let _one_at_a_time = lock(&self.compaction);
        self.compact_locked()
    }

    fn compact_locked(&self) -> Result<()> {
        let io_error = |e: std::io::Error| CounterError::Backend(format!("counters in {}: {e}", self.dir.display()));
        let cut = self.journal.cut().map_err(io_error)?;
        let now = self.clock.now_ms();
        let size = disk::write_snapshot(&self.dir, cut.closed, &self.memory, now, &self.closed).map_err(io_error)?;
        self.journal.snapshot_done(cut);
        self.snapshot_bytes.store(size, Ordering::Relaxed);
        self.compactions.fetch_add(1, Ordering::Relaxed);
        disk::remove_journals_through(&self.dir, cut.closed).map_err(io_error)?;
        tracing::debug!(dir = %self.dir.display(), size, "counters: snapshot written");
        Ok(())
    }

    /// One tick of the background thread: flush, sweep a few shards. True when a
    /// compaction is due (the journals outgrew the snapshot, or a loss needs repair);
    /// it runs apart, so that flushes go on every tick while a large snapshot is written.
    fn maintain(&self) -> bool {
        let needs_snapshot = self.journal.flush().is_err();
        let removed = self.memory.sweep(self.clock.now_ms(), self.options.sweep_shards_per_tick);
        if removed > 0 {
            tracing::trace!(removed, "counters: expired keys dropped");
        }
        let journal_bytes = self.journal.stats.journal_bytes.load(Ordering::Relaxed);
        let threshold = self.options.compact_min_bytes.max(self.snapshot_bytes.load(Ordering::Relaxed));
        needs_snapshot || journal_bytes > threshold
    }

    /// A compaction, unless one is already running.
    fn compact_if_idle(&self) {
        if let Ok(_one_at_a_time) = self.compaction.try_lock()
            && let Err(e) = self.compact_locked()
            && !self.closed.load(Ordering::Relaxed)
        {
            tracing::error!(error = %e, "counters: compaction failed; will retry");
        }
    }
}

/// Runs blocking file work off the async workers.
async fn blocking(work: impl FnOnce() -> Result<()> + Send + 'static) -> Result<()> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(CounterError::Backend("counters: flush needs a Tokio runtime".into()));
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CounterError::Backend(format!("counters: background work failed: {e}")))?
}

/// Locks a mutex, going on after a panic elsewhere (the data is counts; a half-done
/// update of one key is no reason to stop counting every other).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
