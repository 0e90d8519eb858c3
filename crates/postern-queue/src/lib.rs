//! The durable spool: an append-only journal of records, envelope and message together.
//!
//! In: an envelope and message bytes from the SMTP session. Out: a record in the current
//! journal segment that a `fdatasync` has made durable before the session answers `250`.
//! Concurrent sessions share that `fdatasync` (group commit: one leader syncs for every
//! record appended before it started). On start, [`Spool::recover`] replays the segments:
//! a torn tail (never acknowledged) is zeroed, a corrupt record is copied to `corrupt/` with
//! a log line: nothing is dropped silently, and nothing trusts its own journal (every read
//! checks lengths, two CRCs and the queue id). Finished messages get a tombstone; segments
//! with no live message are deleted, and long-lived survivors are copied forward.
//!
//! # Layout
//! - [`bounce`]: RFC 3464 delivery status notifications (bounces, delay warnings, relayed).
//! - [`journal`]: the on-disk format (segments, records, the scan that verifies them).
//! - [`quarantine`]: held messages' bytes (the quarantine), one file each.
//! - [`spool`]: the write path (group commit), the index, recovery, compaction, errors.
//! - [`state`]: per-message, per-recipient delivery state, a file per message beside the journal.
//! - [`system_mail`]: every message Postern writes itself (DSNs, lock notices, abuse
//!   reports) is composed and spooled here: From the postmaster, copies to the external
//!   postmasters.
//! - [`scheduler`]: the queue manager: what is tried when; retries, expiry, DSNs, queue tools.
//! - [`transport`]: the trait delivery implements.

pub mod bounce;
pub mod journal;
pub mod quarantine;
pub mod scheduler;
pub mod spool;
pub mod state;
pub mod system_mail;
pub mod transport;

pub use quarantine::{HeldFile, QuarantineDir, decode_held, encode_held};
pub use scheduler::{
    QUEUE_STATES, QueueCounts, QueueEntry, QueueFilter, QueueManager, SchedulerConfig, queue_state_schema,
};
pub use spool::{Recovery, Spool, SpoolError, SpoolStats};
pub use state::{DeliveryState, RcptStatus};
pub use system_mail::{SpoolMailer, SystemMailWriter};
pub use transport::{Job, Outcome, RcptResult, Transport};
