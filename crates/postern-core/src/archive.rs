//! The handle between the pipeline and the archive, as a trait so that neither the SMTP
//! session nor the pipeline ever sees the concrete archive: [`Archiver`].
//!
//! In: an [`ArchiveCopy`] (the envelope with its owner and receive time, the message
//! exactly as it will be spooled and delivered: our headers, DKIM signatures included,
//! then the message). Out: the copy's archive id once it is durable (file fsynced, index
//! row committed), or the 4xx reply the client hears instead of `250`.
//!
//! The pipeline archives *before* it spools, and only answers `250` after both: a crash
//! between the two leaves an archived copy of a message that was never acknowledged
//! (harmless: the client retries, and the retry is archived again under its new queue
//! id); it can never leave an acknowledged message without its copy.

use std::sync::Arc;

use crate::{BoxFuture, Envelope, Reply};

/// One message to archive.
#[derive(Debug, Clone)]
pub struct ArchiveCopy {
    /// With `owner` (account, domain, identity), `received_at_ms` and `size` filled in.
    pub envelope: Envelope,
    /// Our headers (DKIM-Signature, Received, ...), stored before `message`.
    pub head: Arc<Vec<u8>>,
    /// The message as received (after identity header stripping).
    pub message: Arc<Vec<u8>>,
    /// The `Message-ID` (found or added).
    pub message_id: Option<String>,
}

/// Where copies of outgoing messages go. `Ok(id)` means durable: the copy and its index
/// row are on disk, so the message may be spooled and acknowledged.
pub trait Archiver: Send + Sync + 'static {
    /// Stores one copy. The implementation must have dropped its clones of the `Arc`s when
    /// the future completes (the caller takes the bytes back to spool them).
    fn archive(&self, copy: ArchiveCopy) -> BoxFuture<'_, Result<i64, Reply>>;
}
