//! Persistent state behind narrow traits, one trait per capability, so that a PostgreSQL
//! backend can implement the same traits later and one conformance suite can test both.
//!
//! # Layout
//! - [`events`]: the [`EventStore`] trait, the query type, and [`EventWriter`], a thread that
//!   writes events in batches so that sessions never wait on a database transaction.
//! - [`sqlite`]: the embedded backend (one SQLite file in the data directory).
//! - [`migrations`]: versioned schema changes, applied in order at open.

pub mod events;
mod migrations;
pub mod sqlite;

pub use events::{EventQuery, EventStore, EventWriter, StoredEvent};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("migration {version} ({name}): {source}")]
    Migration { version: i64, name: &'static str, source: rusqlite::Error },
    #[error("database schema version {found} is newer than this binary knows ({known}); refusing to start")]
    SchemaTooNew { found: i64, known: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;
