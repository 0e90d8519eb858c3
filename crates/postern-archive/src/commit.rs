//! Group commit of the local archive: copies stored at the same time share their syncs.
//!
//! In: [`Job`]s, each a copy already written and fsynced in `tmp/` by its own thread
//! (`Files::write_temp`), with its row. Out: for each job, its row's id or the error that
//! refuses its message.
//!
//! The first thread that finds no batch running becomes the leader and takes every job
//! waiting so far (its own included); the others wait on the condition variable until
//! their result is there. For a batch the leader:
//! 1. fsyncs `tmp/` once (every file of the batch now has a durable name);
//! 2. inserts every row in one SQLite transaction, each under its own savepoint (a row
//!    that fails fails alone), and commits it: one WAL fsync for the batch;
//! 3. renames each file into its day directory (no fsync yet), and takes back the rows
//!    of any file that could not be moved;
//! 4. publishes the results (the waiting threads go on to the spool and the `250`);
//! 5. fsyncs the day directories it renamed into, then lets the next leader in.
//!
//! Why a crash loses nothing acknowledged: a row is committed only after its file's data
//! and its name in `tmp/` are durable; a rename that a crash undoes leaves the file in
//! `tmp/`, where [`Archive::open`](crate::Archive::open) finds its committed row and
//! places it again. So step 5 is not on the acknowledgement's path; it only keeps `tmp/`
//! empty after a crash in the common case.
//!
//! One store after another (no concurrency) costs what it did before the batching: file,
//! `tmp/`, WAL and day directory, four fsyncs. With N threads storing at once, a batch
//! costs N file fsyncs (in parallel, on their own threads) and three for all of them.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::files::{Files, sync_dir};
use crate::index::{self, NewRow};
use crate::{ArchiveError, Entry, Result};

/// One copy for the committer: its file is complete and fsynced in `tmp/`.
pub(crate) struct Job {
    pub entry: Entry,
    pub body_text: String,
    pub temp: PathBuf,
}

#[derive(Default)]
pub(crate) struct Committer {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<(u64, Job)>,
    next: u64,
    leading: bool,
    results: HashMap<u64, Result<Entry>>,
    /// Batches run so far (the tests read it).
    batches: u64,
}

impl Committer {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock (a panic in a batch is caught below).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits `job` with whatever else is waiting; returns its row (with its id) once the
    /// row is committed and its file durable. `Err`: the row is not there and the temp file
    /// is removed (or left for the next start to settle, if even that failed).
    pub fn commit(&self, files: &Files, writer: &Mutex<rusqlite::Connection>, job: Job) -> Result<Entry> {
        let mut st = self.lock();
        let ticket = st.next;
        st.next += 1;
        st.pending.push((ticket, job));
        loop {
            if let Some(result) = st.results.remove(&ticket) {
                return result;
            }
            if st.leading {
                st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st.leading = true;
            st.batches += 1;
            let batch = std::mem::take(&mut st.pending);
            drop(st);
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(files, writer, batch)));
            let (results, days) = outcome.unwrap_or_else(|_| {
                // Rows may be committed with their files still in tmp/: the next start places
                // them. The messages are refused all the same (a copy may exist: harmless).
                let failed =
                    tickets.iter().map(|t| (*t, Err(ArchiveError::Task("the archive commit panicked".into()))));
                (failed.collect(), BTreeSet::new())
            });
            st = self.lock();
            st.results.extend(results);
            self.done.notify_all();
            drop(st);
            for day in &days {
                if let Err(e) = sync_dir(day) {
                    // The renames may be lost in a crash; the files are then back in tmp/
                    // with their committed rows, and the next start places them.
                    tracing::warn!(error = %e, "archive: day directory not synced; a crash now leaves copies in tmp/ for the next start");
                }
            }
            st = self.lock();
            st.leading = false;
            self.done.notify_all();
        }
    }
}

/// Each job's result, and the day directories to fsync.
type Results = (Vec<(u64, Result<Entry>)>, BTreeSet<PathBuf>);

/// Steps 1 to 3 for one batch: every job gets a result; the day directories to fsync.
fn run(files: &Files, writer: &Mutex<rusqlite::Connection>, batch: Vec<(u64, Job)>) -> Results {
    let mut days = BTreeSet::new();
    if let Err(e) = files.sync_tmp() {
        let temps = batch.into_iter().map(|(ticket, job)| (ticket, job.temp)).collect();
        return (fail_all(temps, &e), days);
    }
    let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
    let (inserted, mut results) = match insert_all(&mut conn, batch) {
        Ok(done) => done,
        Err((temps, mut results, e)) => {
            results.extend(fail_all(temps, &e));
            return (results, days);
        }
    };
    let mut undo = Vec::new();
    for (ticket, temp, entry) in inserted {
        match files.move_into_place(&temp, &entry.file) {
            Ok(day) => {
                days.insert(day);
                results.push((ticket, Ok(entry)));
            }
            Err(e) => {
                tracing::error!(queue_id = %entry.queue_id, error = %e, "archive: the copy could not be moved into place; message refused");
                undo.push((entry.id, temp));
                results.push((ticket, Err(e)));
            }
        }
    }
    if !undo.is_empty() {
        // The rows say archived, the files are not in place: take the rows back so the
        // messages are refused. If even that fails, the next start places the files.
        let ids: Vec<i64> = undo.iter().map(|(id, _)| *id).collect();
        match index::delete(&mut conn, &ids) {
            Ok(_) => {
                for (_, temp) in undo {
                    let _ = std::fs::remove_file(temp);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = ids.len(), "archive rows kept; their files are placed at the next start")
            }
        }
    }
    (results, days)
}

/// Committed rows (ticket, temp file, row with its id), and the results already known.
type Inserted = (Vec<(u64, PathBuf, Entry)>, Vec<(u64, Result<Entry>)>);
/// Nothing committed: the temp files still to answer for, the results already known, why.
type NotCommitted = (Vec<(u64, PathBuf)>, Vec<(u64, Result<Entry>)>, ArchiveError);

/// Step 2: the rows of `batch` in one transaction, each under its own savepoint (a row
/// that fails is refused alone, its temp file removed).
fn insert_all(conn: &mut rusqlite::Connection, batch: Vec<(u64, Job)>) -> std::result::Result<Inserted, NotCommitted> {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return Err((batch.into_iter().map(|(t, job)| (t, job.temp)).collect(), Vec::new(), e.into())),
    };
    let mut inserted = Vec::with_capacity(batch.len());
    let mut failed = Vec::new();
    for (ticket, Job { entry, body_text, temp }) in batch {
        let row = tx.savepoint().map_err(ArchiveError::from).and_then(|sp| {
            let id = index::insert(&sp, &NewRow { entry: &entry, body_text: &body_text })?;
            sp.commit()?;
            Ok(id)
        });
        match row {
            Ok(id) => inserted.push((ticket, temp, Entry { id, ..entry })),
            Err(e) => {
                tracing::error!(queue_id = %entry.queue_id, error = %e, "archive row refused; message refused");
                let _ = std::fs::remove_file(&temp);
                failed.push((ticket, Err(e)));
            }
        }
    }
    match tx.commit() {
        Ok(()) => Ok((inserted, failed)),
        Err(e) => Err((inserted.into_iter().map(|(t, temp, _)| (t, temp)).collect(), failed, e.into())),
    }
}

/// Every job refused with (a copy of) `e`, its temp file removed.
fn fail_all(temps: Vec<(u64, PathBuf)>, e: &ArchiveError) -> Vec<(u64, Result<Entry>)> {
    tracing::error!(error = %e, copies = temps.len(), "archive commit failed; the batch's messages are refused");
    temps
        .into_iter()
        .map(|(ticket, temp)| {
            let _ = std::fs::remove_file(&temp);
            (ticket, Err(again(e)))
        })
        .collect()
}

/// The same error for another message: what the client hears (`452` for a full disk,
/// `451` otherwise) is kept.
fn again(e: &ArchiveError) -> ArchiveError {
    match e {
        ArchiveError::Io { op, path, source } => {
            let source = match source.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(source.kind(), source.to_string()),
            };
            ArchiveError::Io { op, path: path.clone(), source }
        }
        ArchiveError::Index(rusqlite::Error::SqliteFailure(code, message)) => {
            ArchiveError::Index(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => ArchiveError::Task(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::Files;

    fn entry(queue_id: &str) -> Entry {
        Entry {
            id: 0,
            queue_id: queue_id.into(),
            received_at_ms: 86_400_000,
            account_id: 1,
            account: "alice".into(),
            domain: "a.example".into(),
            identity: "alice@a.example".into(),
            sender: "alice@a.example".into(),
            sender_domain: Some("a.example".into()),
            recipients: vec!["bob@remote.example".into()],
            subject: "hello".into(),
            message_id: None,
            size: 4,
            sha256: String::new(),
            file: Files::relative_path(queue_id, 86_400_000),
        }
    }

    fn job(files: &Files, queue_id: &str) -> Job {
        files.write_temp(queue_id, &[b"body"]).unwrap();
        Job { entry: entry(queue_id), body_text: "body".into(), temp: files.temp_path(queue_id) }
    }

    #[test]
    fn a_row_refused_in_a_batch_fails_alone_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let writer = Mutex::new(index::open(&dir.path().join("index.db")).unwrap());
        let committer = Committer::default();
        let first = committer.commit(&files, &writer, job(&files, "Q1")).unwrap();
        // One batch: a new copy, a second copy of Q1 (its row breaks `queue_id UNIQUE`), another.
        let batch = vec![(1, job(&files, "Q2")), (2, job(&files, "Q1")), (3, job(&files, "Q3"))];
        let (mut results, days) = run(&files, &writer, batch);
        results.sort_by_key(|(t, _)| *t);
        let ok: Vec<bool> = results.iter().map(|(_, r)| r.is_ok()).collect();
        assert_eq!(ok, [true, false, true], "{results:?}");
        assert!(matches!(&results[1].1, Err(ArchiveError::Index(_))), "{results:?}");
        assert_eq!(days.len(), 1);
        assert!(files.leftovers().unwrap().is_empty(), "the refused copy's temp file is removed");
        let conn = writer.lock().unwrap();
        let queue_ids: Vec<String> = conn
            .prepare("SELECT queue_id FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(queue_ids, ["Q1", "Q2", "Q3"]);
        let texts: i64 = conn.query_row("SELECT COUNT(*) FROM messages_text", [], |r| r.get(0)).unwrap();
        assert_eq!(texts, 3, "the refused row's text went with it");
        assert_eq!(files.read(first.id, &first.file, 100).unwrap(), b"body");
    }

    #[test]
    fn a_batch_whose_transaction_cannot_commit_refuses_every_copy() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let db = dir.path().join("index.db");
        let writer = Mutex::new(index::open(&db).unwrap());
        // Another connection holds the write lock: the batch's transaction cannot take it.
        let mut other = index::open(&db).unwrap();
        other.busy_timeout(std::time::Duration::from_millis(1)).unwrap();
        writer.lock().unwrap().busy_timeout(std::time::Duration::from_millis(1)).unwrap();
        let blocker = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
        let (results, days) = run(&files, &writer, vec![(1, job(&files, "Q1")), (2, job(&files, "Q2"))]);
        drop(blocker);
        assert!(results.iter().all(|(_, r)| matches!(r, Err(ArchiveError::Index(_)))), "{results:?}");
        assert!(days.is_empty());
        assert!(files.leftovers().unwrap().is_empty());
        let rows: i64 = writer.lock().unwrap().query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn stores_at_the_same_time_share_batches() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let writer = Mutex::new(index::open(&dir.path().join("index.db")).unwrap());
        let committer = Committer::default();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (files, writer, committer) = (&files, &writer, &committer);
                s.spawn(move || {
                    for i in 0..20 {
                        let entry = committer.commit(files, writer, job(files, &format!("Q{t}x{i}"))).unwrap();
                        assert_eq!(files.read(entry.id, &entry.file, 100).unwrap(), b"body");
                    }
                });
            }
        });
        let batches = committer.lock().batches;
        assert!(batches < 160, "160 copies in {batches} batches");
        assert!(files.leftovers().unwrap().is_empty());
        let rows: i64 = writer.lock().unwrap().query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 160);
    }

    #[test]
    fn errors_keep_their_kind_for_every_message_of_a_batch() {
        let full = ArchiveError::Io { op: "fsync", path: "tmp".into(), source: std::io::Error::from_raw_os_error(28) };
        assert!(again(&full).is_disk_full());
        let locked = ArchiveError::Index(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        ));
        assert!(again(&locked).is_disk_full());
        assert!(!again(&ArchiveError::Refused("x".into())).is_disk_full());
    }
}
