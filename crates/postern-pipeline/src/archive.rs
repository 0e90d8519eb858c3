//! Stage 6, archive: when the account's `archive.enabled` is on, a copy of the message
//! exactly as it will be spooled and delivered (after DKIM signing) is made durable
//! through the [`Archiver`](postern_core::Archiver) before the spool write, so that no
//! message is acknowledged without its copy.
//!
//! In: the envelope as it will be spooled (receive time and size set), our headers and the
//! message. Out: the same bytes back (shared with the archiver, never moved into it) and
//! either `Ok` (trace: `archive/archive archived`) or the 4xx reply the client hears
//! instead of `250` (trace: `archive/archive failed`); the message is then not spooled.
//!
//! Order and crashes: archive, then spool, then `250`. A crash between the archive and the
//! spool leaves a copy of a message that was never acknowledged, which is harmless; the
//! reverse (an acknowledged message without a copy) cannot happen.

use std::sync::Arc;
use std::time::Instant;

use postern_core::{ArchiveCopy, CheckRecord, Envelope, Reply, Submission};

use crate::pipeline::{Pipeline, record};

impl Pipeline {
    /// Whether the message's account keeps an archive.
    pub(crate) fn archives(sub: &Submission) -> bool {
        sub.account.as_ref().is_some_and(|a| a.settings.archive.enabled)
    }

    /// Archives the message (the caller checked [`Pipeline::archives`]). The bytes always
    /// come back; `Err` is the reply when the copy is not durable.
    pub(crate) async fn archive(
        &self,
        sub: &Submission,
        envelope: &Envelope,
        head: Vec<u8>,
        message: Vec<u8>,
        trace: &mut Vec<CheckRecord>,
    ) -> (Vec<u8>, Vec<u8>, Result<(), Reply>) {
        let started = Instant::now();
        let Some(archiver) = self.archiver.clone() else {
            // The account asks for a copy that nothing can keep: never acknowledge it.
            tracing::error!(queue_id = %envelope.queue_id, "archive on for the account, but no archive is configured");
            trace.push(record("archive", "archive", Some("no archive configured"), "failed", started));
            return (head, message, Err(unavailable()));
        };
        let (head, message) = (Arc::new(head), Arc::new(message));
        let copy = ArchiveCopy {
            envelope: envelope.clone(),
            head: Arc::clone(&head),
            message: Arc::clone(&message),
            message_id: sub.message_id.clone(),
        };
        let result = archiver.archive(copy).await;
        // The archiver is done with its clones: taking the bytes back copies nothing.
        let head = Arc::try_unwrap(head).unwrap_or_else(|shared| shared.as_ref().clone());
        let message = Arc::try_unwrap(message).unwrap_or_else(|shared| shared.as_ref().clone());
        match result {
            Ok(id) => {
                tracing::debug!(queue_id = %envelope.queue_id, archive_id = id, "archived");
                trace.push(record("archive", "archive", None, "archived", started));
                (head, message, Ok(()))
            }
            Err(reply) => {
                trace.push(record("archive", "archive", None, "failed", started));
                (head, message, Err(reply))
            }
        }
    }
}

/// What the client hears when the copy cannot be made: temporary, try again.
pub(crate) fn unavailable() -> Reply {
    Reply::new(451, "4.3.0", "Error: cannot archive the message, try again later")
}
