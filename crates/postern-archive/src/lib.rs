//! The archive of outgoing mail (SPEC.md §6): for accounts with `archive.enabled`, a copy
//! of every message as delivered (after DKIM signing), stored durably before the client
//! hears `250`, searchable, exportable, and purged after the account's retention unless
//! the account is under legal hold.
//!
//! In: [`ArchiveCopy`](postern_core::ArchiveCopy) values from the pipeline (through
//! [`Archiver`](postern_core::Archiver), implemented by [`Archive`]); searches, exports
//! and purges from the admin API and the binary. Out: index rows ([`Entry`]), message
//! bytes, mbox and zip streams, purge reports.
//!
//! # Where the copies are
//! One node ([`Archive::open`]): files and an SQLite index under the archive directory,
//! as below. A cluster ([`Archive::open_shared`]): rows, full-text words and gzip copies
//! in PostgreSQL ([`postern_store::ArchiveStore`]), each row committed with its copy in one
//! transaction before the client hears `250`, so any node's search and export see every
//! node's copies and none lives only on a node that can vanish. Both answer the same
//! searches the same way (`tests/conformance_*.rs` run one suite against both).
//!
//! # On disk (one node)
//! ```text
//! <root>/index.db                              SQLite (WAL, synchronous=FULL): rows + FTS5
//! <root>/tmp/<queue id>                        a copy being written (gzip)
//! <root>/messages/<YYYY-MM-DD>/<queue id>.eml.gz   a stored copy (gzip), day of receipt (UTC)
//! ```
//!
//! # The local write path (and why a crash loses nothing acknowledged)
//! 1. gzip the message into `tmp/<queue id>`, fsync it;
//! 2. fsync `tmp/`, then commit the index row (and its full-text row), fsynced — both once
//!    for every copy being stored at the time (group commit, `commit.rs`);
//! 3. rename the file into `messages/<day>/`;
//! 4. only then does the pipeline spool the message and answer `250`; the day directory
//!    is fsynced after (a crash before it leaves the file in `tmp/`, see below).
//!
//! At start ([`Archive::open`]) a file left in `tmp/` whose row was committed is moved to
//! its place (step 3 again); one without a row is removed (its message was never
//! acknowledged). So no crash leaves an acknowledged message without its copy, nor an
//! unindexed file that nothing would ever purge. A row whose file is missing (removed by
//! hand, a disk error) is reported by [`Archive::verify`] and by `show`, never a panic.
//!
//! Defends against: search input that would be FTS5 syntax (every term is quoted, see
//! `query.rs`), unbounded searches (pages, bounded terms), exports that would hold a
//! whole result in memory (keyset pages, one message at a time), paths in the index
//! that leave the archive directory (refused), and corrupt copies (checked against their
//! SHA-256 when read).
//!
//! # Layout
//! - `commit.rs`: group commit of the local write path: one `tmp/` fsync, one SQLite
//!   transaction and one day-directory fsync for all the copies stored at the same time.
//! - `files.rs`: the directories, the temp/fsync/rename write, reading and removing copies;
//!   gzip in memory for the shared store.
//! - `index.rs`: the local SQLite index: schema, insert, rows, deletes.
//! - `query.rs`: [`Filter`] to SQLite's SQL, the caller's scope, the FTS5 query of `text`
//!   (the shared store builds its own: `postern_store::postgres`).
//! - `text.rs`: subject and text body for the full-text index (mail-parser, bounded).
//! - `store.rs`: [`Archive`] on its backend (local or shared): open and recover, store,
//!   get, search, read, verify.
//! - `export.rs`: mbox (mboxrd) and zip (`.eml` files and `manifest.json`) exports.
//! - `retention.rs`: the purge: per-account retention, legal hold, small batches.
//! - `archiver.rs`: [`Archiver`](postern_core::Archiver) for [`Archive`], on a blocking thread.

mod archiver;
mod commit;
mod export;
mod files;
mod index;
mod query;
mod retention;
mod store;
mod text;

use std::io;
use std::path::PathBuf;

pub use export::{ExportFormat, ExportSummary};
pub use files::FileState;
/// What to look for; every field set must match (AND).
pub use postern_store::archive::ArchiveFilter as Filter;
/// One archived copy as the index knows it (the same row on both backends).
pub use postern_store::archive::ArchivedEntry as Entry;
pub use postern_store::{Page, Paged};
pub use retention::{AccountPurge, Policy, PurgeReport};
pub use store::{Archive, Recovery, VerifyReport};
pub use text::MAX_INDEXED_TEXT;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("archive index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("the archive index is schema version {found}; this binary knows up to {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The caller's search is not valid (`field` names the parameter).
    #[error("{field}: {reason}")]
    BadQuery { field: &'static str, reason: String },
    #[error("archived message {id}: file {path} is missing")]
    Missing { id: i64, path: String },
    #[error("archived message {id}: {reason}")]
    Corrupt { id: i64, reason: String },
    /// A copy the archive cannot take (no account, a malformed queue id).
    #[error("cannot archive: {0}")]
    Refused(String),
    /// Writing an export failed (the reader went away, the disk is full).
    #[error("export: {0}")]
    Export(String),
    #[error("archive task: {0}")]
    Task(String),
    /// The shared store (a cluster's PostgreSQL) failed or is unreachable.
    #[error("shared archive: {0}")]
    Store(#[from] postern_store::StoreError),
}

pub type Result<T> = std::result::Result<T, ArchiveError>;

impl ArchiveError {
    /// Whether the disk is full (the SMTP client hears `452 4.3.1` instead of `451 4.3.0`).
    pub fn is_disk_full(&self) -> bool {
        match self {
            ArchiveError::Io { source, .. } => source.raw_os_error() == Some(28),
            ArchiveError::Index(rusqlite::Error::SqliteFailure(e, _)) => e.code == rusqlite::ErrorCode::DiskFull,
            _ => false,
        }
    }
}

pub(crate) fn io_err(op: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> ArchiveError + use<> {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { op, path, source }
}
