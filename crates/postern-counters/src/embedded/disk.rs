//! The embedded backend's directory: what its files are, reading them back at open, and
//! writing a snapshot.
//!
//! Files: `counters.lock` (held while a process uses the directory), `snapshot` (every
//! live bucket, with the generation of the last journal it covers), `journal-<generation>`
//! (changes after that), `snapshot.tmp` (a snapshot being written; renamed when whole).
//!
//! In: a directory. Out: the memory rebuilt from the snapshot and the journals after it,
//! and what the journal needs to go on (next generation, bytes not yet compacted). Defends
//! against damaged files: a bad header skips the file, a torn or corrupt record ends the
//! reading of that file (everything before it is kept); each is logged and none panics
//! or stops the open. Defends against two processes sharing a directory (the lock).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::memory::{Memory, SHARDS};
use super::record::{self, JOURNAL_MAGIC, RecordReader, SNAPSHOT_MAGIC};

const LOCK_FILE: &str = "counters.lock";
const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const JOURNAL_PREFIX: &str = "journal-";
/// How long open waits for the directory lock (an instance of this process being dropped
/// may hold it for the length of one write).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes the directory's lock, creating the directory if needed.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<File> {
    fs::create_dir_all(dir)?;
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "the directory is in use by another instance"));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

pub(crate) fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{JOURNAL_PREFIX}{generation:020}"))
}

/// The journals in `dir`, oldest first.
fn list_journals(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut journals = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(generation) = name.to_str().and_then(|n| n.strip_prefix(JOURNAL_PREFIX)) else { continue };
        if let Ok(generation) = generation.parse::<u64>() {
            journals.push((generation, entry.path()));
        }
    }
    journals.sort();
    Ok(journals)
}

/// Creates (or empties) journal `generation`, with its header, durably.
pub(crate) fn create_journal(dir: &Path, generation: u64) -> io::Result<File> {
    let path = journal_path(dir, generation);
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    file.write_all(&record::header(JOURNAL_MAGIC, generation))?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Deletes the journals a snapshot now covers.
pub(crate) fn remove_journals_through(dir: &Path, generation: u64) -> io::Result<()> {
    for (g, path) in list_journals(dir)? {
        if g <= generation {
            fs::remove_file(path)?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What the open found.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The generation of the journal to start.
    pub(crate) next_generation: u64,
    /// Bytes of journals not covered by the snapshot.
    pub(crate) journal_bytes: u64,
    pub(crate) snapshot_bytes: u64,
}

/// Rebuilds `memory` from the snapshot and the journals written after it.
pub(crate) fn load(dir: &Path, memory: &Memory) -> io::Result<Loaded> {
    let _ = fs::remove_file(dir.join(SNAPSHOT_TMP));
    let snapshot = dir.join(SNAPSHOT);
    let (covered, snapshot_bytes) = match File::open(&snapshot) {
        Ok(file) => (replay(&snapshot, file, SNAPSHOT_MAGIC, memory).unwrap_or(0), fs::metadata(&snapshot)?.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (0, 0),
        Err(e) => return Err(e),
    };
    let mut last = covered;
    let mut journal_bytes = 0;
    for (generation, path) in list_journals(dir)? {
        last = last.max(generation);
        if generation <= covered {
            // The snapshot was renamed in place before these were deleted (a crash).
            let _ = fs::remove_file(&path);
            continue;
        }
        let named = replay(&path, File::open(&path)?, JOURNAL_MAGIC, memory);
        if named.is_some_and(|g| g != generation) {
            tracing::warn!(path = %path.display(), "counters: journal header names another generation");
        }
        journal_bytes += fs::metadata(&path)?.len();
    }
    Ok(Loaded { next_generation: last + 1, journal_bytes, snapshot_bytes })
}

/// Applies the records of one file to `memory`; the generation in its header, if readable.
fn replay(path: &Path, file: File, magic: &[u8; 8], memory: &Memory) -> Option<u64> {
    let mut input = BufReader::with_capacity(1 << 20, file);
    let generation = match record::read_header(&mut input, magic) {
        Ok(generation) => generation,
        Err(damage) => {
            tracing::error!(path = %path.display(), %damage, "counters: unreadable file header, file skipped");
            return None;
        }
    };
    let mut reader = RecordReader::new(input);
    let mut records = 0u64;
    while let Some(next) = reader.next_record() {
        match next {
            Ok(record) => {
                memory.apply(&record);
                records += 1;
            }
            Err(damage) => {
                let offset = record::HEADER_LEN as u64 + reader.good_bytes;
                tracing::error!(
                    path = %path.display(), offset, records, %damage,
                    "counters: damaged record; kept the records before it, skipped the rest of the file"
                );
                break;
            }
        }
    }
    tracing::debug!(path = %path.display(), records, "counters: file replayed");
    Some(generation)
}

/// Writes every live bucket to a new snapshot covering journals up to `generation`, and
/// puts it in place atomically; returns its size. Locks one shard at a time; gives up
/// (leaving the previous snapshot in place) as soon as `closed` is set.
pub(crate) fn write_snapshot(
    dir: &Path,
    generation: u64,
    memory: &Memory,
    now_ms: i64,
    closed: &AtomicBool,
) -> io::Result<u64> {
    let tmp = dir.join(SNAPSHOT_TMP);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    out.write_all(&record::header(SNAPSHOT_MAGIC, generation))?;
    let mut size = record::HEADER_LEN as u64;
    let mut buf = Vec::new();
    for i in 0..SHARDS {
        if closed.load(Ordering::Relaxed) {
            return Err(io::Error::other("the counters were closed during the snapshot"));
        }
        buf.clear();
        memory.export_shard(i, now_ms, &mut buf);
        out.write_all(&buf)?;
        size += buf.len() as u64;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    sync_dir(dir)?;
    Ok(size)
}
