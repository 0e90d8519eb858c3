//! [`Archive`]: the copies and their index together, on one of two backends:
//! - **local** (one node): gzip files under the archive directory and an SQLite index of
//!   its own. Opening recovers what a crash left in `tmp/`; [`Archive::store`] is the write
//!   path (see the crate documentation for the order and why it loses nothing
//!   acknowledged). Two connections: one writes (the SMTP path's inserts, the purge's
//!   deletes, held only for one transaction at a time), one reads (searches and export
//!   pages), so a search never waits for a write's fsync and the other way round (WAL).
//! - **shared** (a cluster): rows, full-text words and gzip copies in an
//!   [`ArchiveStore`] every node reaches (PostgreSQL), the row and its copy committed in
//!   one transaction, so there is nothing to recover and no copy lives on a node's disk.
//!
//! In: [`ArchiveCopy`] values, ids, filters with the caller's scope. Out: [`Entry`] rows,
//! message bytes checked against their SHA-256, [`Recovery`] and [`VerifyReport`].
//! Blocking throughout: async callers use `spawn_blocking` (see `archiver.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use postern_core::ArchiveCopy;
use postern_store::ArchiveStore;
use postern_store::archive::SHARED_COPY;
use rusqlite::{Connection, params_from_iter};
use sha2::{Digest, Sha256};

use crate::commit::{Committer, Job};
use crate::files::{self, FileState, Files, hex};
use crate::index::{self, COLUMNS};
use crate::query::{conditions, explain};
use crate::{ArchiveError, Entry, Filter, Page, Paged, Result, text};

/// A cheap, cloneable handle on the archive.
#[derive(Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    /// Where exports spool their zip manifest (`<root>/tmp`).
    scratch: PathBuf,
    backend: Backend,
}

pub(crate) enum Backend {
    Local(Box<Local>),
    Shared(Arc<dyn ArchiveStore>),
}

pub(crate) struct Local {
    pub files: Files,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Stores at the same time share their `tmp/`, WAL and day-directory fsyncs.
    commits: Committer,
}

impl Local {
    pub fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.writer)
    }

    pub fn reader(&self) -> MutexGuard<'_, Connection> {
        lock(&self.reader)
    }
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
    /// Opens (creating) the local archive under `root` and recovers what a crash left.
    pub fn open(root: &Path) -> Result<(Archive, Recovery)> {
        let files = Files::open(root)?;
        let db = root.join("index.db");
        let writer = index::open(&db)?;
        let reader = index::open(&db)?;
        let recovery = recover(&files, &writer)?;
        let scratch = files.tmp_dir().to_path_buf();
        let local =
            Local { files, writer: Mutex::new(writer), reader: Mutex::new(reader), commits: Committer::default() };
        let inner = Inner { root: root.to_path_buf(), scratch, backend: Backend::Local(Box::new(local)) };
        Ok((Archive { inner: Arc::new(inner) }, recovery))
    }

    /// Opens the archive a cluster shares in `store`; `root` (on this node) only holds
    /// exports' scratch files in `tmp/`.
    pub fn open_shared(root: &Path, store: Arc<dyn ArchiveStore>) -> Result<Archive> {
        let scratch = root.join("tmp");
        std::fs::create_dir_all(&scratch).map_err(crate::io_err("create", &scratch))?;
        let inner = Inner { root: root.to_path_buf(), scratch, backend: Backend::Shared(store) };
        Ok(Archive { inner: Arc::new(inner) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Whether the copies are in a store every node of a cluster shares.
    pub fn is_shared(&self) -> bool {
        matches!(self.inner.backend, Backend::Shared(_))
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub(crate) fn scratch_dir(&self) -> &Path {
        &self.inner.scratch
    }

    /// Stores one copy durably (locally: file fsynced, then its row committed, then the
    /// file in place; shared: row and copy in one transaction). `Err`: nothing is left
    /// that says the message was archived.
    pub fn store(&self, copy: &ArchiveCopy) -> Result<Entry> {
        let env = &copy.envelope;
        let owner = env.owner.as_ref().ok_or_else(|| ArchiveError::Refused("a message without an owner".into()))?;
        let (Some(account_id), Some(domain)) = (owner.account_id, owner.domain.clone()) else {
            return Err(ArchiveError::Refused("only an account's messages are archived".into()));
        };
        let queue_id = env.queue_id.to_string();
        let (subject, body_text) = text::extract(&copy.message);
        let entry = Entry {
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
            sha256: String::new(),
            file: String::new(),
        };
        let parts: [&[u8]; 2] = [&copy.head, &copy.message];
        match self.backend() {
            Backend::Local(local) => store_local(local, entry, &parts, body_text),
            Backend::Shared(store) => {
                let (gzip, sha256) = files::gzip(&parts)?;
                let mut entry = Entry { sha256, file: SHARED_COPY.to_string(), ..entry };
                let words = format!("{}\n{body_text}", entry.subject);
                entry.id = store.archive_insert(&entry, &words, &gzip)?;
                Ok(entry)
            }
        }
    }

    pub fn get(&self, id: i64) -> Result<Option<Entry>> {
        match self.backend() {
            Backend::Local(local) => index::get(&local.reader(), id),
            Backend::Shared(store) => Ok(store.archived(id)?),
        }
    }

    /// One page of the rows matching `filter` that `scope` may see (`None`: all; a domain
    /// admin's domains: rows of an account of, or a sender of, one of them), newest first.
    pub fn search(&self, filter: &Filter, scope: Option<&[String]>, page: Page) -> Result<Paged<Entry>> {
        let local = match self.backend() {
            Backend::Local(local) => local,
            Backend::Shared(store) => {
                checked(filter)?;
                return Ok(store.archive_search(filter, scope, page)?);
            }
        };
        let c = conditions(filter, scope)?;
        let conn = local.reader();
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
        let local = match self.backend() {
            Backend::Local(local) => local,
            Backend::Shared(store) => {
                checked(filter)?;
                return Ok(store.archive_count(filter, scope)?);
            }
        };
        let c = conditions(filter, scope)?;
        let sql = format!("SELECT COUNT(*) FROM messages{}", c.sql());
        let n: i64 = local.reader().query_row(&sql, params_from_iter(&c.params), |r| r.get(0)).map_err(explain)?;
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
        checked(filter)?;
        let mut after: Option<(i64, i64)> = None;
        loop {
            let rows = match self.backend() {
                Backend::Local(local) => {
                    let mut c = conditions(filter, scope)?;
                    if let Some((ms, id)) = after {
                        c.before(ms, id);
                    }
                    let sql = format!(
                        "SELECT {COLUMNS} FROM messages{} ORDER BY received_at_ms DESC, id DESC LIMIT {size}",
                        c.sql()
                    );
                    query(&local.reader(), &sql, &c.params)?
                }
                Backend::Shared(store) => store.archive_page(filter, scope, after, size)?,
            };
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
        let bytes = match self.backend() {
            Backend::Local(local) => local.files.read(entry.id, &entry.file, entry.size)?,
            Backend::Shared(store) => {
                // gzip of incompressible bytes is a little longer than they are.
                let bound = entry.size.saturating_add(entry.size / 8).saturating_add(64 * 1024);
                let Some(gzip) = store.archived_copy(entry.id, bound)? else {
                    return Err(ArchiveError::Missing { id: entry.id, path: SHARED_COPY.into() });
                };
                files::gunzip(entry.id, SHARED_COPY, gzip.as_slice(), entry.size)?
            }
        };
        let sha = hex(&Sha256::digest(&bytes));
        if sha != entry.sha256 {
            return Err(ArchiveError::Corrupt { id: entry.id, reason: "the copy does not match its SHA-256".into() });
        }
        Ok(bytes)
    }

    pub fn file_state(&self, entry: &Entry) -> FileState {
        match self.backend() {
            Backend::Local(local) => local.files.state(&entry.file),
            Backend::Shared(store) => match store.archived_copy_present(entry.id) {
                Ok(true) => FileState::Present,
                Ok(false) => FileState::Missing,
                Err(e) => {
                    tracing::warn!(id = entry.id, error = %e, "archived copy: the shared store did not answer");
                    FileState::Unreadable
                }
            },
        }
    }

    /// Checks that every row's copy is there (a walk over the whole index, a page at a
    /// time; run it off the async threads). Reports, never changes anything.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut after = 0i64;
        loop {
            let states: Vec<(i64, FileState)> = match self.backend() {
                Backend::Local(local) => {
                    let sql = format!("SELECT {COLUMNS} FROM messages WHERE id > ?1 ORDER BY id LIMIT 1000");
                    let rows = query(&local.reader(), &sql, &[rusqlite::types::Value::Integer(after)])?;
                    rows.iter().map(|e| (e.id, local.files.state(&e.file))).collect()
                }
                Backend::Shared(store) => store
                    .archive_copies_after(after, 1000)?
                    .into_iter()
                    .map(|(id, there)| (id, if there { FileState::Present } else { FileState::Missing }))
                    .collect(),
            };
            let Some(last) = states.last() else { return Ok(report) };
            after = last.0;
            for (id, state) in states {
                report.checked += 1;
                match state {
                    FileState::Present => continue,
                    FileState::Missing => report.missing += 1,
                    FileState::Unreadable => report.unreadable += 1,
                }
                tracing::warn!(id, ?state, "archived copy not readable");
                if report.examples.len() < 20 {
                    report.examples.push(id);
                }
            }
        }
    }
}

/// A filter's checks, before a shared store runs it (the local index checks its own).
fn checked(filter: &Filter) -> Result<()> {
    filter.check().map_err(|b| ArchiveError::BadQuery { field: b.field, reason: b.reason })
}

/// The local write path: the file written and fsynced here, then its row committed with
/// those of every other copy being stored at the time (`commit.rs`), then the file in place.
fn store_local(local: &Local, mut entry: Entry, parts: &[&[u8]], body_text: String) -> Result<Entry> {
    let files = &local.files;
    entry.sha256 = files.write_temp(&entry.queue_id, parts)?;
    entry.file = Files::relative_path(&entry.queue_id, entry.received_at_ms);
    let temp = files.temp_path(&entry.queue_id);
    local.commits.commit(files, &local.writer, Job { entry, body_text, temp })
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
