//! [`Archive`]: the files and the index together. Opening recovers what a crash left in
//! `tmp/`; [`Archive::store`] is the write path (see the crate documentation for the order
//! and why it loses nothing acknowledged); the rest reads.
//!
//! In: [`ArchiveCopy`] values, ids, filters with the caller's scope. Out: [`Entry`] rows,
//! message bytes checked against their SHA-256, [`Recovery`] and [`VerifyReport`].
//! Blocking throughout: async callers use `spawn_blocking` (see `archiver.rs`).
//!
//! Two connections: one writes (the SMTP path's inserts, the purge's deletes, held only
//! for one transaction at a time), one reads (searches and export pages), so a search never
//! waits for a write's fsync and the other way round (WAL).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use postern_core::ArchiveCopy;
use rusqlite::{Connection, params_from_iter};
use sha2::{Digest, Sha256};

use crate::files::{FileState, Files, hex};
use crate::index::{self, COLUMNS, Entry, NewRow};
use crate::query::{Filter, Page, Paged, conditions, explain};
use crate::{ArchiveError, Result, text};

/// A cheap, cloneable handle on the archive directory.
#[derive(Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

struct Inner {
    files: Files,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

/// What [`Archive::open`] found in `tmp/`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Copies whose row was committed, moved to their place.
    pub placed: usize,
    /// Files without a row (their message was never acknowledged), removed.
    pub removed: usize,
}

/// What [`Archive::verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub checked: u64,
    pub missing: u64,
    pub unreadable: u64,
    /// The first ids (at most 20) of rows whose file is missing or unreadable.
    pub examples: Vec<i64>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // SQLite rolls back a transaction left open by a panic: the connection is fine.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Archive {
    /// Opens (creating) the archive under `root` and recovers what a crash left.
    pub fn open(root: &Path) -> Result<(Archive, Recovery)> {
        let files = Files::open(root)?;
        let db = root.join("index.db");
        let writer = index::open(&db)?;
        let reader = index::open(&db)?;
        let recovery = recover(&files, &writer)?;
        let inner = Inner { files, writer: Mutex::new(writer), reader: Mutex::new(reader) };
        Ok((Archive { inner: Arc::new(inner) }, recovery))
    }

    pub fn root(&self) -> &Path {
        self.inner.files.root()
    }

    pub(crate) fn files(&self) -> &Files {
        &self.inner.files
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.writer)
    }

    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.reader)
    }

    /// Stores one copy durably: file (fsynced), then its row (committed), then the file in
    /// place. `Err`: nothing is left that says the message was archived.
    pub fn store(&self, copy: &ArchiveCopy) -> Result<Entry> {
        let env = &copy.envelope;
        let owner = env.owner.as_ref().ok_or_else(|| ArchiveError::Refused("a message without an owner".into()))?;
        let (Some(account_id), Some(domain)) = (owner.account_id, owner.domain.clone()) else {
            return Err(ArchiveError::Refused("only an account's messages are archived".into()));
        };
        let queue_id = env.queue_id.to_string();
        let files = self.files();
        let sha256 = files.write_temp(&queue_id, &[&copy.head, &copy.message])?;
        let temp = files.temp_path(&queue_id);
        let (subject, body_text) = text::extract(&copy.message);
        let mut entry = Entry {
            id: 0,
            queue_id: queue_id.clone(),
            received_at_ms: env.received_at_ms,
            account_id,
            account: owner.account.clone(),
            domain,
            identity: owner.identity.clone(),
            sender: env.sender_display(),
            sender_domain: env.sender_domain(),
            recipients: env.recipients.iter().map(|r| r.address.to_string()).collect(),
            subject,
            message_id: copy.message_id.as_deref().map(|m| text::one_line(m, 998)),
            size: (copy.head.len() + copy.message.len()) as u64,
            sha256,
            file: Files::relative_path(&queue_id, env.received_at_ms),
        };
        let inserted = index::insert(&mut self.writer(), &NewRow { entry: &entry, body_text: &body_text });
        entry.id = match inserted {
            Ok(id) => id,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        if let Err(e) = files.place(&temp, &entry.file) {
            // The row says archived, the file is not in place: take the row back so the
            // message is refused. If even that fails, the next start places the file.
            match index::delete(&mut self.writer(), &[entry.id]) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&temp);
                }
                Err(undo) => tracing::error!(queue_id, error = %undo, "archive row kept; placed at the next start"),
            }
            return Err(e);
        }
        Ok(entry)
    }

    pub fn get(&self, id: i64) -> Result<Option<Entry>> {
        index::get(&self.reader(), id)
    }

    /// One page of the rows matching `filter` that `scope` may see (`None`: all; a domain
    /// admin's domains: rows of an account of, or a sender of, one of them), newest first.
    pub fn search(&self, filter: &Filter, scope: Option<&[String]>, page: Page) -> Result<Paged<Entry>> {
        let c = conditions(filter, scope)?;
        let conn = self.reader();
        let total: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM messages{}", c.sql()), params_from_iter(&c.params), |r| r.get(0))
            .map_err(explain)?;
        let limit = page.effective_limit();
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM messages{} ORDER BY received_at_ms DESC, id DESC LIMIT {limit} OFFSET {offset}",
            c.sql()
        );
        let items = query(&conn, &sql, &c.params)?;
        Ok(Paged { items, total: u64::try_from(total).unwrap_or(0), limit, offset: page.offset })
    }

    /// How many rows match (what an export will hold, unless rows come or go meanwhile).
    pub fn count(&self, filter: &Filter, scope: Option<&[String]>) -> Result<u64> {
        let c = conditions(filter, scope)?;
        let sql = format!("SELECT COUNT(*) FROM messages{}", c.sql());
        let n: i64 = self.reader().query_row(&sql, params_from_iter(&c.params), |r| r.get(0)).map_err(explain)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every matching row, newest first, `size` rows at a time (keyset paging: rows added
    /// meanwhile are newer and not in the run; nothing is held but one page).
    pub(crate) fn pages(
        &self,
        filter: &Filter,
        scope: Option<&[String]>,
        size: u32,
        mut each: impl FnMut(Vec<Entry>) -> Result<()>,
    ) -> Result<()> {
        let mut after: Option<(i64, i64)> = None;
        loop {
            let mut c = conditions(filter, scope)?;
            if let Some((ms, id)) = after {
                c.before(ms, id);
            }
            let sql =
                format!("SELECT {COLUMNS} FROM messages{} ORDER BY received_at_ms DESC, id DESC LIMIT {size}", c.sql());
            let rows = query(&self.reader(), &sql, &c.params)?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = Some((last.received_at_ms, last.id));
            let full = rows.len() == size as usize;
            each(rows)?;
            if !full {
                return Ok(());
            }
        }
    }

    /// The message as delivered, checked against its SHA-256.
    pub fn read(&self, entry: &Entry) -> Result<Vec<u8>> {
        let bytes = self.files().read(entry.id, &entry.file, entry.size)?;
        let sha = hex(&Sha256::digest(&bytes));
        if sha != entry.sha256 {
            return Err(ArchiveError::Corrupt { id: entry.id, reason: "the copy does not match its SHA-256".into() });
        }
        Ok(bytes)
    }

    pub fn file_state(&self, entry: &Entry) -> FileState {
        self.files().state(&entry.file)
    }

    /// Checks that every row's file is there (a walk over the whole index, a page at a
    /// time; run it off the async threads). Reports, never changes anything.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut after = 0i64;
        loop {
            let sql = format!("SELECT {COLUMNS} FROM messages WHERE id > ?1 ORDER BY id LIMIT 1000");
            let rows = query(&self.reader(), &sql, &[rusqlite::types::Value::Integer(after)])?;
            let Some(last) = rows.last() else { return Ok(report) };
            after = last.id;
            for entry in &rows {
                report.checked += 1;
                let state = self.file_state(entry);
                match state {
                    FileState::Present => continue,
                    FileState::Missing => report.missing += 1,
                    FileState::Unreadable => report.unreadable += 1,
                }
                tracing::warn!(id = entry.id, file = entry.file.as_str(), ?state, "archived copy not readable");
                if report.examples.len() < 20 {
                    report.examples.push(entry.id);
                }
            }
        }
    }
}

pub(crate) fn query(conn: &Connection, sql: &str, params: &[rusqlite::types::Value]) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(params), index::read).map_err(explain)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(index::decode(row.map_err(explain)?)?);
    }
    Ok(out)
}

/// Settles `tmp/`: a file whose row was committed goes to its place, any other is removed.
fn recover(files: &Files, conn: &Connection) -> Result<Recovery> {
    let mut recovery = Recovery::default();
    for name in files.leftovers()? {
        let temp = files.tmp_dir().join(&name);
        match index::by_queue_id(conn, &name)? {
            Some(entry) => {
                files.place(&temp, &entry.file)?;
                recovery.placed += 1;
            }
            None => {
                std::fs::remove_file(&temp).map_err(crate::io_err("remove", &temp))?;
                recovery.removed += 1;
            }
        }
    }
    Ok(recovery)
}
