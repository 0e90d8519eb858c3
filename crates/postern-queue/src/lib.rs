//! The durable spool: one file per message, message and envelope together.
//!
//! In: an envelope and message bytes from the SMTP session. Out: a file in `queue/` that is
//! fsynced, renamed into place and whose directory is fsynced before the session answers
//! `250`. On start, [`Spool::recover`] removes incomplete files (never acknowledged) and
//! moves unreadable ones to `corrupt/` with a log line: nothing is dropped silently, and
//! nothing trusts its own queue files (every read checks lengths, a CRC and the name).
//!
//! Each session fsyncs its own file and the queue directory: on ext4 the journal already
//! merges concurrent fsyncs into shared commits, and an explicit group commit measured no
//! faster here (`docs/BENCHMARKS.md`, "Spool fsync").
//!
//! # Layout
//! - [`bounce`]: RFC 3464 delivery status notifications (bounces, delay warnings, relayed).
//! - [`file`]: the on-disk format (encode, decode, verify).
//! - [`quarantine`]: held messages' bytes (the quarantine), written like spool files.
//! - [`spool`]: directories, the write path, recovery, and the error type.
//! - [`state`]: per-message, per-recipient delivery state beside the spool file.
//! - [`system_mail`]: every message Postern writes itself (DSNs, lock notices, abuse
//!   reports) is composed and spooled here: From the postmaster, copies to the external
//!   postmasters.
//! - [`scheduler`]: the queue manager: what is tried when; retries, expiry, DSNs, queue tools.
//! - [`transport`]: the trait delivery implements.

pub mod bounce;
pub mod file;
pub mod quarantine;
pub mod scheduler;
pub mod spool;
pub mod state;
pub mod system_mail;
pub mod transport;

pub use quarantine::{HeldFile, QuarantineDir};
pub use scheduler::{QueueCounts, QueueEntry, QueueFilter, QueueManager, SchedulerConfig};
pub use spool::{Recovery, Spool, SpoolError};
pub use state::{DeliveryState, RcptStatus};
pub use system_mail::{SpoolMailer, SystemMailWriter};
pub use transport::{Job, Outcome, RcptResult, Transport};
