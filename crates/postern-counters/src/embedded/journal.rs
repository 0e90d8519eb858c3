//! The write-behind journal: changes are encoded into a memory buffer as they happen and
//! appended to the current journal file, then fsynced, by [`Journal::flush`].
//!
//! In: changes (as a [`ChangeLog`]), flush and cut requests. Out: durable journal files
//! `journal-<generation>`. What is not yet flushed is what a crash loses; a flush is the
//! line after which nothing is lost. Defends against:
//! - a slow or stuck disk eating memory: past [`SOFT_PENDING`] bytes the writer is woken
//!   early; past [`HARD_PENDING`] the buffer is dropped and a loss is recorded;
//! - latency spikes: the buffer is a list of fixed-size chunks, never one big allocation
//!   copied as it grows (that copy would happen under a shard's lock);
//! - a failed write leaving a torn tail: that file is never appended to again;
//! - silently losing changes: every loss (dropped buffer, failed write) makes
//!   [`Journal::flush`] answer [`FlushError::NeedsSnapshot`] until a snapshot taken after
//!   the loss is on disk (the memory still holds every change, so a snapshot repairs it).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::background::Signal;
use super::memory::ChangeLog;
use super::{disk, lock, record};

/// Pending bytes past which the background writer is woken before its next tick.
pub(crate) const SOFT_PENDING: usize = 8 << 20;
/// Pending bytes past which the buffer is dropped (the disk is not keeping up at all).
pub(crate) const HARD_PENDING: usize = 256 << 20;
/// A chunk is closed once it holds this many bytes.
const CHUNK: usize = 1 << 20;
/// Room for one more record of any size past [`CHUNK`], so a chunk never reallocates.
const CHUNK_CAPACITY: usize = CHUNK + 128 * 1024;
/// Emptied chunks kept for reuse.
const SPARE_CHUNKS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FlushError {
    #[error("some counter changes never reached the journal; a snapshot is needed")]
    NeedsSnapshot,
}

/// Where a cut happened: the snapshot taken next covers journals up to `closed` and the
/// losses up to `epoch`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    pub(crate) closed: u64,
    epoch: u64,
}

struct Current {
    generation: u64,
    file: File,
    /// A write failed: the file may end in a torn record, so nothing more goes in it.
    broken: bool,
}

/// Encoded changes not yet handed to the file, in chunks of about [`CHUNK`] bytes.
#[derive(Default)]
struct Pending {
    chunks: Vec<Vec<u8>>,
    bytes: usize,
    spare: Vec<Vec<u8>>,
}

impl Pending {
    fn take(&mut self) -> Vec<Vec<u8>> {
        self.bytes = 0;
        std::mem::take(&mut self.chunks)
    }

    fn recycle(&mut self, chunks: Vec<Vec<u8>>) {
        for mut chunk in chunks {
            if self.spare.len() < SPARE_CHUNKS {
                chunk.clear();
                self.spare.push(chunk);
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct JournalStats {
    /// Bytes of changes encoded so far.
    pub(crate) logged_bytes: AtomicU64,
    /// Bytes written and fsynced so far.
    pub(crate) durable_bytes: AtomicU64,
    /// Bytes in the journals not yet covered by a snapshot.
    pub(crate) journal_bytes: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

pub(crate) struct Journal {
    dir: PathBuf,
    pending: Mutex<Pending>,
    current: Mutex<Current>,
    /// Wakes the background writer early (pending past [`SOFT_PENDING`]).
    pub(crate) wake: Arc<Signal>,
    losses: AtomicU64,
    covered_losses: AtomicU64,
    pub(crate) stats: JournalStats,
}

impl Journal {
    /// Starts journal `generation` (a new file) in `dir`; `journal_bytes` is what older
    /// journals not yet covered by a snapshot already hold.
    pub(crate) fn create(dir: PathBuf, generation: u64, journal_bytes: u64) -> io::Result<Journal> {
        let file = disk::create_journal(&dir, generation)?;
        let stats = JournalStats::default();
        stats.journal_bytes.store(journal_bytes, Ordering::Relaxed);
        Ok(Journal {
            dir,
            pending: Mutex::new(Pending::default()),
            current: Mutex::new(Current { generation, file, broken: false }),
            wake: Arc::new(Signal::default()),
            losses: AtomicU64::new(0),
            covered_losses: AtomicU64::new(0),
            stats,
        })
    }

    fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut guard = lock(&self.pending);
        let pending = &mut *guard;
        if pending.chunks.last().is_none_or(|chunk| chunk.len() >= CHUNK) {
            let chunk = pending.spare.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK_CAPACITY));
            pending.chunks.push(chunk);
        }
        let Some(chunk) = pending.chunks.last_mut() else { return };
        let before = chunk.len();
        encode(chunk);
        let added = chunk.len() - before;
        self.stats.logged_bytes.fetch_add(added as u64, Ordering::Relaxed);
        pending.bytes += added;
        if pending.bytes > HARD_PENDING {
            let dropped = pending.take();
            pending.recycle(dropped);
            self.losses.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "counters: the journal is not keeping up; dropped unwritten changes until the next snapshot"
            );
        } else if pending.bytes >= SOFT_PENDING && pending.bytes - added < SOFT_PENDING {
            self.wake.raise();
        }
    }

    /// Bytes encoded but not yet handed to the file.
    pub(crate) fn pending_bytes(&self) -> usize {
        lock(&self.pending).bytes
    }

    /// True when a loss happened that no snapshot has covered yet.
    pub(crate) fn needs_snapshot(&self) -> bool {
        self.losses.load(Ordering::Relaxed) > self.covered_losses.load(Ordering::Relaxed)
    }

    /// Writes and fsyncs everything logged before the call. Taking the file lock before
    /// the buffer keeps concurrent flushes in order.
    pub(crate) fn flush(&self) -> Result<(), FlushError> {
        let mut current = lock(&self.current);
        self.write_pending(&mut current);
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        if current.broken || self.needs_snapshot() {
            return Err(FlushError::NeedsSnapshot);
        }
        Ok(())
    }

    /// Appends what is pending to the current file and fsyncs it; a failure breaks the
    /// file. The caller holds the file's lock, so concurrent writers keep their order.
    fn write_pending(&self, current: &mut Current) {
        let chunks = lock(&self.pending).take();
        let n: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        if n > 0 && !current.broken {
            self.write(current, &chunks, n);
        }
        lock(&self.pending).recycle(chunks);
    }

    fn write(&self, current: &mut Current, chunks: &[Vec<u8>], n: u64) {
        let result =
            chunks.iter().try_for_each(|chunk| current.file.write_all(chunk)).and_then(|()| current.file.sync_data());
        match result {
            Ok(()) => {
                self.stats.durable_bytes.fetch_add(n, Ordering::Relaxed);
                self.stats.journal_bytes.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                current.broken = true;
                self.losses.fetch_add(1, Ordering::Relaxed);
                let path = disk::journal_path(&self.dir, current.generation);
                tracing::error!(path = %path.display(), error = %e, "counters: journal write failed");
            }
        }
    }

    /// Closes the current journal (what is pending goes into it, best effort) and starts
    /// the next one. Everything the memory holds from now on is either in a later journal
    /// or in the snapshot taken after this call, which then replaces the closed journals.
    pub(crate) fn cut(&self) -> io::Result<Cut> {
        let mut current = lock(&self.current);
        self.write_pending(&mut current);
        let epoch = self.losses.load(Ordering::Relaxed);
        let next = disk::create_journal(&self.dir, current.generation + 1)?;
        let closed = current.generation;
        current.generation += 1;
        current.file = next;
        current.broken = false;
        self.stats.journal_bytes.store(0, Ordering::Relaxed);
        Ok(Cut { closed, epoch })
    }

    /// The snapshot taken after `cut` is on disk: the losses before it are repaired.
    pub(crate) fn snapshot_done(&self, cut: Cut) {
        self.covered_losses.fetch_max(cut.epoch, Ordering::Relaxed);
    }
}

impl ChangeLog for Journal {
    fn set(&self, key: &str, window_ms: u64, buckets: &[(i64, u64)]) {
        self.append(|out| record::encode_set(out, key, window_ms, buckets));
    }

    fn reset(&self, key: &str) {
        self.append(|out| record::encode_reset(out, key));
    }

    fn blob(&self, key: &str, expires_ms: i64, value: &[u8]) {
        self.append(|out| record::encode_blob(out, key, expires_ms, value));
    }
}
