//! The embedded backend: one SQLite file (WAL mode, foreign keys on) in the data directory.
//!
//! In: a path. Out: a [`SqliteStore`] that implements every store trait over one
//! connection behind a mutex; callers from async code use `spawn_blocking`.
//!
//! # Layout
//! - `events`: the event log ([`EventStore`](crate::EventStore)); `log_ingest` keeps the
//!   log search rows in the events' transaction, `log_search` and `log_timeline` read them
//!   ([`LogSearch`](crate::LogSearch)) on a second, read-only connection.
//! - `directory`: [`DirectoryStore`](crate::DirectoryStore), delegating to one file per
//!   table: `domains`, `accounts`, `identities`, `tokens`, `rules`, `delegations`, `inbound`.
//! - `dkim`: [`DkimStore`](crate::DkimStore): the `dkim_keys` table.
//! - `quarantine`: [`QuarantineStore`](crate::QuarantineStore): the `quarantine` table.
//! - `scorer`: [`ScorerStore`](crate::ScorerStore): the scorer's training samples.
//! - `admin_users`: [`AdminUserStore`](crate::AdminUserStore): the web panel's users and
//!   sessions.
//! - `filter`: the WHERE clause and paging shared by every list.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::{Result, migrations};

mod accounts;
mod admin_users;
mod delegations;
mod directory;
mod dkim;
mod domains;
mod events;
mod filter;
mod identities;
mod inbound;
mod log_ingest;
mod log_search;
mod log_stats;
mod log_timeline;
mod quarantine;
mod rules;
mod scorer;
mod tokens;

/// The writing connection's page cache: 32 MiB (a negative `cache_size` is in KiB).
const WRITER_CACHE_KIB: i64 = -32 * 1024;
/// WAL pages written before an automatic checkpoint (SQLite's default is 1,000).
const CHECKPOINT_PAGES: i64 = 8_000;

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// A second, read-only connection for log search: a long search never holds the
    /// writer's lock (WAL readers do not block the writer).
    reader: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The writer's page cache and how much WAL it lets grow before a checkpoint: the
        // event batches write the same hot pages (the tails of the log tables and their
        // indexes) commit after commit. SQLite's defaults (2 MiB, 1,000 pages) had the
        // writer reading back from the file what it had just evicted and checkpointing
        // each hot page over and over: log_bench's ingest of 20,000 messages (about 190,000
        // events) took 3.1-3.3 s of CPU, 2.5-2.8 s with these (8,000 pages: a WAL of at most
        // about 32 MiB). The cache is filled only as pages are used.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
        // Per connection, and a no-op inside a transaction: set before anything else runs.
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::apply(&mut conn)?;
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let reader = Connection::open_with_flags(path, flags)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteStore { conn: Mutex::new(conn), reader: Mutex::new(reader) })
    }

    pub fn schema_version(&self) -> Result<i64> {
        let conn = self.conn();
        Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
    }

    pub fn latest_schema_version() -> i64 {
        migrations::latest()
    }

    /// The connection. A panic while it was held cannot leave SQLite inconsistent (an
    /// open transaction rolls back when dropped), so a poisoned lock is simply taken.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The read-only connection (log search).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// SQLite's errors as the store's backend-neutral ones: busy or locked is
/// [`Unavailable`](crate::BackendErrorKind::Unavailable) (another writer held the file past
/// the busy timeout), anything else [`Failed`](crate::BackendErrorKind::Failed).
impl From<rusqlite::Error> for crate::StoreError {
    fn from(error: rusqlite::Error) -> crate::StoreError {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        let kind = match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => crate::BackendErrorKind::Unavailable,
            _ => crate::BackendErrorKind::Failed,
        };
        crate::StoreError::backend(kind, error)
    }
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation (a duplicate: the caller's mistake).
fn is_duplicate(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|e| {
        e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_to_the_latest_version_with_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("postern.db")).unwrap();
        assert_eq!(store.schema_version().unwrap(), SqliteStore::latest_schema_version());
        let on: i64 = store.conn().query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(on, 1);
        let mode: String = store.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let cache: i64 = store.conn().query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
        assert_eq!(cache, WRITER_CACHE_KIB);
        let pages: i64 = store.conn().query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(pages, CHECKPOINT_PAGES);
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", []).unwrap();
        drop(conn);
        assert!(matches!(SqliteStore::open(&path), Err(crate::StoreError::SchemaTooNew { found: 999, .. })));
    }

    #[test]
    fn upgrades_a_version_1_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                    applied_at_ms INTEGER NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, 'events', 0);
                 CREATE TABLE events (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,
                    session INTEGER NOT NULL, client_ip TEXT NOT NULL, queue_id TEXT,
                    kind TEXT NOT NULL, data TEXT NOT NULL);
                 INSERT INTO events (at_ms, session, client_ip, kind, data)
                    VALUES (1, 1, '127.0.0.1', 'x', '{}');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SqliteStore::latest_schema_version());
        let (count, domain): (i64, Option<String>) = store
            .conn()
            .query_row("SELECT COUNT(*), MAX(domain) FROM events", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((count, domain), (1, None));
    }

    #[test]
    fn version_5_finds_the_locks_kept_before_it() {
        use crate::{DirectoryStore, NewAccount, NewDomain};
        use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, SenderSecurity};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let domain = NewDomain {
                name: "example.com".into(),
                filter_enabled: true,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            };
            store.create_domain(&domain).unwrap();
            let new = NewAccount {
                domain: "example.com".into(),
                kind: AccountKind::Ip,
                name: "192.0.2.1/32".into(),
                password_hash: None,
                settings: AccountSettings::default(),
            };
            let account = store.create_account(&new).unwrap();
            let seen = |name: &str| IdentitySighting { account_id: account.id, name: name.into(), at_ms: 1 };
            store.record_identities(&[seen("locked@example.com"), seen("unlocked@example.com")]).unwrap();
            // What a version 4 database holds: the lock documents only (and nothing of the
            // later migrations, which run again).
            store
                .conn()
                .execute_batch(
                    "UPDATE identities SET lock = '{\"locked\":true,\"automatic_unlocks\":0}'
                        WHERE name = 'locked@example.com';
                     DROP INDEX identities_lock_kept;
                     ALTER TABLE identities DROP COLUMN lock_kept;
                     DROP TABLE ip_delegations;
                     DROP TABLE inbound_domains;
                     DROP TABLE quarantine;
                     DROP TABLE scorer_samples;
                     DROP TABLE scorer_tokens;
                     DROP TABLE scorer_totals;
                     DROP TABLE message_recipients;
                     DROP TABLE messages;
                     DROP INDEX events_session;
                     DROP TABLE admin_sessions;
                     DROP TABLE admin_users;
                     DROP TABLE message_hours;
                     DROP INDEX accounts_locked;
                     ALTER TABLE accounts DROP COLUMN locked;
                     DROP INDEX identities_locked;
                     ALTER TABLE identities DROP COLUMN locked;
                     DELETE FROM schema_migrations WHERE version >= 5;",
                )
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let kept = store.snapshot().unwrap().identity_locks;
        assert_eq!(
            kept.iter().map(|k| (k.name.as_str(), k.lock.locked)).collect::<Vec<_>>(),
            [("locked@example.com", true)]
        );
        // Migration 13 finds the locks already stored.
        let locked = store.locked_identities(&crate::Scope::All, 10).unwrap();
        assert_eq!(locked.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["locked@example.com"]);
    }

    #[test]
    fn locked_accounts_and_identities_are_read_through_their_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("postern.db")).unwrap();
        let plan = |sql: &str| -> String {
            let conn = store.conn();
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let accounts = accounts::LOCKED_FROM;
        for sql in [
            format!("SELECT COUNT(*) FROM {accounts} WHERE locked = 1"),
            format!("SELECT id FROM {accounts} WHERE domain IN ('a.example', 'b.example') AND locked = 1 ORDER BY id"),
            format!("SELECT id FROM {accounts} WHERE locked = 1 ORDER BY id LIMIT 10"),
            format!("SELECT i.id FROM {} WHERE i.locked = 1 ORDER BY i.id LIMIT 10", identities::LOCKED_FROM),
        ] {
            let plan = plan(&sql);
            assert!(
                plan.contains("INDEX accounts_locked") || plan.contains("INDEX identities_locked"),
                "{sql}: {plan}"
            );
            // No table is read whole: a scan is of the partial index only.
            assert!(plan.split("; ").all(|step| !step.starts_with("SCAN") || step.contains("INDEX")), "{sql}: {plan}");
        }
    }
}
