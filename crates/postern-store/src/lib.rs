//! Persistent state behind narrow traits, one trait per capability, so that the embedded
//! SQLite backend and the PostgreSQL one implement the same traits and one conformance
//! suite tests both. Errors are backend-neutral ([`StoreError`]): no engine's type shows.
//!
//! # Layout
//! - [`directory`]: the [`DirectoryStore`] trait: domains, accounts, identities, tokens,
//!   block and allow list rules, inbound relay domains.
//! - [`dkim`]: the [`DkimStore`] trait: DKIM keys per domain and selector, private keys
//!   sealed, rotation in one transaction.
//! - [`events`]: the [`EventStore`] trait, the query type, and [`EventWriter`], a thread that
//!   writes events in batches so that sessions never wait on a database transaction.
//! - [`event_retry`]: the writer's bounded retry buffer and its counts (stored, retried,
//!   dropped) when the store refuses a batch.
//! - [`log`]: the [`LogSearch`] trait: one summary row per message (or refusal), kept as
//!   events are stored; search by domain, time and filters; a message's timeline;
//!   retention. [`log_state`]: the statuses and their transitions (pure); `log_steps`: a
//!   timeline step's one-line summary.
//! - [`quarantine`]: the [`QuarantineStore`] trait: the index of held messages and the
//!   atomic claims of their state machine (held, releasing, released, purging).
//! - [`archive`]: the [`ArchiveStore`] trait: a cluster's archive (rows, full-text words,
//!   gzip copies); the search filter and its checks both archive backends share.
//! - [`changes`]: [`ClusterChange`], what one node of a cluster tells the others, as it
//!   travels through the shared store's change feed.
//! - [`conformance`]: the one [`DirectoryStore`] and [`DkimStore`] test suite every backend
//!   runs unchanged ([`conformance::run_all`], [`conformance::run_dkim`]); SQLite runs it in
//!   `tests/conformance_sqlite.rs`.
//! - [`sqlite`]: the embedded backend (one SQLite file in the data directory), one file per
//!   table behind the traits.
//! - [`postgres`]: the backend for a cluster (several nodes on one PostgreSQL): the
//!   directory, DKIM keys, the quarantine index and the panel's users so far, behind a blocking bridge to
//!   `tokio-postgres` (its module doc says how); its own versioned migrations; the change
//!   feed that keeps the nodes' in-memory directories converged.
//! - [`scorer`]: the [`ScorerStore`] trait: the built-in scorer's training samples.
//! - `migrations`: versioned schema changes, applied in order at open.

pub mod admin_users;
pub mod archive;
pub mod changes;
pub mod conformance;
pub mod directory;
pub mod dkim;
pub mod event_retry;
pub mod events;
pub mod log;
mod log_fold;
pub mod log_state;
mod log_steps;
mod migrations;
pub mod postgres;
pub mod quarantine;
pub mod scorer;
pub mod sqlite;

pub use admin_users::{AdminSession, AdminUserChange, AdminUserStore, NewAdminSession, NewAdminUser};
pub use archive::{ArchiveFilter, ArchivePurged, ArchiveStore, ArchivedEntry, BadArchiveQuery};
pub use changes::ClusterChange;
pub use directory::{
    AccountChange, AccountFilter, AccountRecord, DirectoryChange, DirectorySnapshot, DirectoryStore, DomainChange,
    DomainFilter, IdentityFilter, IdentityLock, NewAccount, NewDelegation, NewDomain, NewInboundDomain, NewRule,
    NewToken, Page, Paged, RuleFilter, Scope,
};
pub use dkim::{Activation, DkimStore, NewDkimKey, SealedDkimKey};
pub use event_retry::{EventCounts, EventStats, RetryPolicy};
pub use events::{EventQuery, EventStore, EventWriter, StoredEvent};
pub use log::{
    HourCounts, LogCursor, LogMessage, LogPage, LogQuery, LogSearch, MessageKey, MessageStatus, Purged,
    RecipientCounts, SenderCount, SenderKind, StepEvent, Timeline, TimelineStep,
};
pub use postgres::{PgConfig, PgStore};
pub use quarantine::{HeldBodyStore, HeldMessage, HeldState, NewHeld, QuarantineFilter, QuarantineStore};
pub use scorer::{Learned, ScorerCounts, ScorerStore};
pub use sqlite::SqliteStore;

/// A backend's own error, whatever the engine: the store's callers never see a SQLite or
/// PostgreSQL type, only what they can act on ([`BackendErrorKind`]) and the text.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a caller can do about a backend error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The database could not be reached, was busy or went away (a connection refused or
    /// lost, a pool that gave no connection in time, a lock timeout, a serialization
    /// failure): the same call may succeed later (an SMTP caller answers 4xx, not 5xx).
    Unavailable,
    /// Anything else the database refused (a constraint nobody expected, a type mismatch, a
    /// full disk): retrying the same call is unlikely to help.
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine failed; `kind` says whether to retry.
    #[error("database: {source}")]
    Backend { kind: BackendErrorKind, source: BoxedError },
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("migration {version} ({name}): {source}")]
    Migration { version: i64, name: &'static str, source: BoxedError },
    /// A duplicate, an overlapping range, a second `domain` account: the caller's mistake.
    #[error("{0}")]
    Conflict(String),
    /// A new `ip` account's range overlaps another account's. The text names the other
    /// account; the admin API shows it only to a superadmin (a tenant must not learn
    /// another customer's ranges).
    #[error("{range} overlaps {other} of account {account}")]
    RangeOverlap { range: String, other: String, account: i64 },
    /// Something the request refers to does not exist (e.g. the domain of a new account).
    #[error("{0}")]
    NotFound(String),
    #[error("database schema version {found} is newer than this binary knows ({known}); refusing to start")]
    SchemaTooNew { found: i64, known: i64 },
}

impl StoreError {
    /// A backend error of `kind`.
    pub fn backend(kind: BackendErrorKind, source: impl Into<BoxedError>) -> StoreError {
        StoreError::Backend { kind, source: source.into() }
    }

    /// Whether the database was unreachable or busy: the same call may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Backend { kind: BackendErrorKind::Unavailable, .. })
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
