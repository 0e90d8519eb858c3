//! The PostgreSQL backend, for several nodes sharing one database (SPEC.md §8).
//!
//! In: a connection string (`host=… user=… dbname=…` or a `postgres://` URL), a pool size
//! and optionally a schema ([`PgConfig`]). Out: a [`PgStore`] that implements
//! [`DirectoryStore`](crate::DirectoryStore), [`DkimStore`](crate::DkimStore),
//! [`QuarantineStore`](crate::QuarantineStore), [`AdminUserStore`](crate::AdminUserStore),
//! [`EventStore`](crate::EventStore), [`LogSearch`](crate::LogSearch) and
//! [`ArchiveStore`](crate::ArchiveStore) with the same
//! contract as the SQLite backend
//! (the same conformance suites run against both: `tests/conformance_postgres.rs`).
//!
//! # The sync bridge
//! The store traits are blocking; `tokio-postgres` is async. A [`PgStore`] owns a small
//! tokio runtime of its own ([`RUNTIME_THREADS`] worker threads) that holds the connection
//! pool and every connection's task. Each trait method moves its (owned) arguments into a
//! future, spawns it on that runtime and waits for the answer on a std channel. Hence:
//! - it never calls `block_on`, so it can never panic with "cannot start a runtime from
//!   within a runtime", whichever thread calls it (a `spawn_blocking` thread, a plain
//!   thread, or, though it then blocks that worker like any blocking store call, a task of
//!   the caller's runtime);
//! - the caller's runtime is never needed: connections live on the store's runtime and
//!   keep working whatever the caller's runtime does, and a current-thread caller cannot
//!   starve them;
//! - every call is bounded: the pool waits at most [`CONNECT_TIMEOUT`] for a connection and
//!   a call at most [`CALL_TIMEOUT`] in all; then it fails as
//!   [`BackendErrorKind::Unavailable`] (the SMTP path answers 4xx), never hangs;
//! - a panic in a call's future ends that call's task only: the caller gets an error;
//! - dropping the store shuts the runtime down in the background, which is allowed from
//!   async code too (dropping a runtime in place is not).
//!
//! # Transactions
//! What SQLite serializes with IMMEDIATE transactions, PostgreSQL serializes with locks
//! taken in the transaction: the domain's row (`FOR UPDATE`) for what must be checked per
//! domain (DKIM keys), the table (`SHARE ROW EXCLUSIVE`, which readers pass) for what must
//! be checked across every row (overlapping IP ranges and delegations), and the row itself
//! for a read-modify-write. Unique indexes guard the rest; a violation is a
//! [`StoreError::Conflict`], a foreign key missing in a race is a [`StoreError::NotFound`].
//! Batches of identity sightings upsert in one statement, in (account, name) order, so two
//! nodes' batches cannot deadlock. The directory snapshot reads in one REPEATABLE READ
//! transaction.
//!
//! # Layout
//! - `migrations`: PostgreSQL's own versioned schema, applied at open under an advisory
//!   lock (several nodes may start at once).
//! - `filter`: WHERE clauses with numbered parameters, and paging.
//! - `directory`: [`DirectoryStore`](crate::DirectoryStore), delegating to one file per table:
//!   `domains`, `accounts`, `identities`, `tokens`, `rules`, `delegations`, `inbound`.
//! - `archive`: [`ArchiveStore`](crate::ArchiveStore): the archive's rows, full-text words
//!   and gzip copies, and the purge's lease.
//! - `dkim`: [`DkimStore`](crate::DkimStore); `quarantine`:
//!   [`QuarantineStore`](crate::QuarantineStore); `admin_users`:
//!   [`AdminUserStore`](crate::AdminUserStore), the panel's users and sessions.
//! - `changes`: the cluster's change feed: [`PgStore::publish_change`] and the
//!   [`ChangeListener`] (`LISTEN` on a connection of its own) that reads it.
//! - `events`: [`EventStore`](crate::EventStore), one transaction of a few round trips per
//!   batch: `log_ingest` folds the batch into log search's rows in memory, `log_write`
//!   writes events, rows, recipients and hour counts as arrays.
//! - `log_search`, `log_stats`, `log_timeline`: [`LogSearch`](crate::LogSearch).
//!
//! Texts are stored as in SQLite (JSON documents as `TEXT`, names of enums as their serde
//! names), ordered names with the `"C"` collation so that lists sort byte-wise on any
//! server locale. Not yet here: the scorer's samples, and TLS to the server.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::{BackendErrorKind, Result, StoreError};

mod accounts;
mod admin_users;
mod archive;
mod changes;
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
mod log_write;
mod migrations;
mod quarantine;
mod rules;
mod scorer;
#[doc(hidden)]
pub mod testing;
mod tls;
mod tokens;

pub use changes::{ChangeBatch, ChangeListener, PublishedChange};

/// The store's own runtime: connections' I/O and the calls' futures, nothing else.
pub const RUNTIME_THREADS: usize = 2;
/// How long a call waits for a connection (from the pool, or a new one).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take in all.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the database is.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `host=127.0.0.1 user=postern dbname=postern` or `postgres://user@host/db`.
    pub url: String,
    /// Connections at most (at least 1).
    pub pool_size: usize,
    /// The schema the tables live in (created if missing); `None`: the server's default
    /// search path (`public`). Lower-case letters, digits and `_`, not starting with a digit.
    pub schema: Option<String>,
    /// The certificate authority (PEM) that signed the server's certificate: TLS is then
    /// required and verified against it (`tls.rs`). `None`: TLS only with `sslmode=require`
    /// in `url`, verified against the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

pub struct PgStore {
    pool: Pool,
    /// `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// This store's mark on the events it stores and the log rows it makes (see
    /// migration 8): random, so that two nodes (or two starts of one) never share it.
    writer: i64,
    /// Events this store appended, to refresh the log tables' statistics as they grow
    /// (`events::analyze_as_they_grow`).
    appended: std::sync::atomic::AtomicU64,
}

impl PgStore {
    /// Connects, creates the schema if asked and missing, and applies the migrations.
    /// Unreachable: an [`Unavailable`](BackendErrorKind::Unavailable) error within
    /// [`CONNECT_TIMEOUT`].
    pub fn open(config: &PgConfig) -> Result<PgStore> {
        let (pg, tls) = connection_parts(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("postern-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::backend(BackendErrorKind::Failed, e))?;
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match tls {
            tls::Tls::Off => Manager::from_config(pg, NoTls, recycling),
            tls::Tls::Verified(tls) => Manager::from_config(pg, tls, recycling),
        };
        let pool = {
            // The pool's timers belong to the store's runtime.
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(config.pool_size.max(1))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::backend(BackendErrorKind::Failed, e))?
        };
        let handle = runtime.handle().clone();
        let store = PgStore {
            pool,
            runtime: Some(runtime),
            handle,
            writer: random_writer(),
            appended: std::sync::atomic::AtomicU64::new(0),
        };
        let schema = config.schema.clone();
        store.with_client(move |mut client| async move {
            if let Some(schema) = schema {
                // The name is checked above: plain letters, digits and `_`.
                client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
            }
            migrations::apply(&mut client).await?;
            migrations::subject_index(&mut client).await;
            Ok(())
        })?;
        Ok(store)
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.with_client(|client| async move { migrations::current(&client).await })
    }

    pub fn latest_schema_version() -> i64 {
        migrations::latest()
    }

    /// Runs `call` on the store's runtime and waits for it (see the module doc).
    fn run<T, F>(&self, call: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(result) => result,
                Err(_) => Err(unavailable(format!("no answer from PostgreSQL within {CALL_TIMEOUT:?}"))),
            };
            // The caller is gone only if its thread ended: nobody to tell.
            let _ = answer.send(result);
        });
        answered.recv().map_err(|_| unavailable("the PostgreSQL call ended without an answer"))?
    }

    /// [`PgStore::run`] with a connection from the pool.
    fn with_client<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: FnOnce(deadpool_postgres::Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            call(client).await
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What every connection is opened with: the string, the schema as its search path, the
/// connect timeout, the application name.
/// What every connection is opened with, and its TLS connector (`tls.rs`).
fn connection_parts(config: &PgConfig) -> Result<(tokio_postgres::Config, tls::Tls)> {
    let mut pg = connection_config(config)?;
    let tls = tls::connector(&mut pg, config.ca_file.as_deref())?;
    Ok((pg, tls))
}

fn connection_config(config: &PgConfig) -> Result<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = config
        .url
        .parse()
        .map_err(|e| StoreError::backend(BackendErrorKind::Failed, format!("the PostgreSQL connection string: {e}")))?;
    if let Some(schema) = &config.schema {
        check_schema_name(schema)?;
        // Every connection, from its start: no statement runs elsewhere.
        pg.options(format!("-c search_path={schema}"));
    }
    pg.connect_timeout(CONNECT_TIMEOUT);
    if pg.get_application_name().is_none() {
        pg.application_name("postern");
    }
    Ok(pg)
}

/// A random positive number: the std hasher's random keys, the time and the process.
fn random_writer() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    (h.finish() & i64::MAX as u64) as i64
}

fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let good = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if good {
        Ok(())
    } else {
        Err(StoreError::backend(
            BackendErrorKind::Failed,
            format!("schema name {schema:?}: lower-case letters, digits and _ only, at most 63"),
        ))
    }
}

fn unavailable(text: impl Into<String>) -> StoreError {
    StoreError::backend(BackendErrorKind::Unavailable, text.into())
}

/// PostgreSQL's errors as the store's backend-neutral ones. Unavailable: the connection
/// failed or went away, the server is shutting down or full of connections, a lock or
/// statement timed out, a serialization failure or deadlock (the call may be repeated).
impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        let kind = match error.code().map(|c| c.code()) {
            Some(code)
                if code.starts_with("08")
                    || matches!(
                        code,
                        "53300" | "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "40001" | "40P01"
                    ) =>
            {
                BackendErrorKind::Unavailable
            }
            Some(_) => BackendErrorKind::Failed,
            None if error.is_closed() || io_error(&error) => BackendErrorKind::Unavailable,
            None => BackendErrorKind::Failed,
        };
        StoreError::backend(kind, PgError(error))
    }
}

/// A `tokio-postgres` error shown with its causes ("db error: ERROR: duplicate key …",
/// "error connecting to server: Connection refused …"): its own text names only the kind.
#[derive(Debug)]
struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// The causes are in the text already.
impl std::error::Error for PgError {}

/// Whether an I/O error (refused, reset, timed out) is behind it.
fn io_error(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        use deadpool_postgres::PoolError;
        match error {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) | PoolError::Closed => StoreError::backend(BackendErrorKind::Unavailable, error),
            other => StoreError::backend(BackendErrorKind::Failed, other),
        }
    }
}

/// Parameters of one statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The rows of a statement (prepared once per connection).
async fn query(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// The row of a statement, if any (an error if there are several).
async fn query_opt(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// The one row of a statement.
async fn query_one(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Row> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

/// The number of rows a statement changed.
async fn execute(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// What a UNIQUE or PRIMARY KEY violation is (a duplicate: the caller's mistake).
fn is_duplicate(error: &StoreError) -> bool {
    sql_state(error) == Some("23505")
}

/// A FOREIGN KEY violation (what the row refers to was deleted in the meantime).
fn is_missing_reference(error: &StoreError) -> bool {
    sql_state(error) == Some("23503")
}

fn sql_state(error: &StoreError) -> Option<&str> {
    match error {
        StoreError::Backend { source, .. } => {
            source.downcast_ref::<PgError>().and_then(|e| e.0.code()).map(|c| c.code())
        }
        _ => None,
    }
}

/// The error of statements sent together in one transaction, given in the order they were
/// sent: the first that is not "current transaction is aborted" (SQLSTATE 25P02, the echo
/// of an earlier statement's failure), whichever statement's answer was read first. The
/// cause (a collision 23505, a deadlock 40P01) is what the caller decides on: the echo
/// would hide it. `None` when every statement succeeded.
fn cause_of(errors: impl IntoIterator<Item = Option<StoreError>>) -> Option<StoreError> {
    let mut echo = None;
    for error in errors.into_iter().flatten() {
        if sql_state(&error) != Some("25P02") {
            return Some(error);
        }
        echo.get_or_insert(error);
    }
    echo
}

/// A row's column, or an error naming it.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    Ok(row.try_get(index)?)
}

/// A stored name (an enum's serde name) or document that this binary cannot read.
fn unreadable(text: String) -> StoreError {
    StoreError::Json(<serde_json::Error as serde::de::Error>::custom(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real failed statement and the 25P02 that the next one in the same transaction
    /// gets: `cause_of` keeps the first, in whatever order they are given.
    #[test]
    fn the_cause_of_a_failed_batch_is_not_the_aborted_transaction_after_it() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (failed, echo) = runtime.block_on(async {
            let (mut client, connection) =
                tokio_postgres::connect(&testing::url(), tokio_postgres::NoTls).await.expect("PostgreSQL for tests");
            tokio::spawn(connection);
            let tx = client.transaction().await.unwrap();
            let failed = tx.execute("SELECT 1 / 0", &[]).await.unwrap_err();
            let echo = tx.execute("SELECT 1", &[]).await.unwrap_err();
            (StoreError::from(failed), StoreError::from(echo))
        });
        assert_eq!(sql_state(&failed), Some("22012"));
        assert_eq!(sql_state(&echo), Some("25P02"));
        let cause = cause_of([None, Some(echo), Some(failed), None]).unwrap();
        assert_eq!(sql_state(&cause), Some("22012"));
        assert!(cause_of([None, None]).is_none());
    }
}
