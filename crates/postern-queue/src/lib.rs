//! The durable spool: one file per message, message and envelope together.
//!
//! In: an envelope and message bytes from the SMTP session. Out: a file in `queue/` that is
//! fsynced, renamed into place and whose directory is fsynced before the session answers
//! `250`. On start, [`Spool::recover`] removes incomplete files (never acknowledged) and
//! moves unreadable ones to `corrupt/` with a log line: nothing is dropped silently, and
//! nothing trusts its own queue files (every read checks lengths, a CRC and the name).
//!
//! # Layout
//! - [`file`]: the on-disk format (encode, decode, verify).
//! - [`spool`]: directories, the write path, recovery, and the error type.
//! - [`dirsync`]: group commit of directory fsyncs across concurrent sessions.

mod dirsync;
pub mod file;
pub mod spool;

pub use dirsync::SyncMode;
pub use spool::{Recovery, Spool, SpoolError};
