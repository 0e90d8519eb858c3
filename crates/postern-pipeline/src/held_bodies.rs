//! Where the quarantine keeps held messages' bytes: files on this node's disk (one node),
//! or a store every node of a cluster reaches (PostgreSQL's `quarantine_bodies`), so that a
//! message held on one node is previewed, reported and released through any other, and
//! no body lives only on a node that can vanish.
//!
//! Both keep the same verified format (`postern_queue::encode_held`: sizes and a CRC-32
//! checked on every read) and are written durably before the message's row, so a client
//! hears `250` only for a message whose bytes and row are both stored.
//!
//! In a cluster another node may be holding a message right now (its bytes stored, its row
//! not yet): the start-up sweep looks only at shared bodies older than [`ORPHAN_AGE`],
//! which no hold in progress ever is.

use std::sync::Arc;
use std::time::Duration;

use postern_core::event::now_ms;
use postern_core::{Envelope, QueueId};
use postern_queue::{HeldFile, QuarantineDir, SpoolError, decode_held, encode_held};
use postern_store::HeldBodyStore;

/// A shared body without a row is an orphan only when older than this (a hold takes
/// milliseconds between its bytes and its row).
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// The most shared bodies one sweep looks at.
const MAX_SWEPT: u32 = 100_000;

/// Why held bytes could not be read or written.
#[derive(Debug)]
pub enum BodyError {
    /// The bytes are there but fail verification (or are over the bound).
    Corrupt(String),
    /// The disk or the store failed.
    Failed(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Corrupt(reason) => write!(f, "corrupt: {reason}"),
            BodyError::Failed(error) => f.write_str(error),
        }
    }
}

impl From<SpoolError> for BodyError {
    fn from(e: SpoolError) -> Self {
        match e {
            SpoolError::Corrupt { reason, .. } => BodyError::Corrupt(reason),
            other => BodyError::Failed(other.to_string()),
        }
    }
}

/// A cheap, cloneable handle on where held bytes are. All calls block.
#[derive(Clone)]
pub enum HeldBodies {
    /// `<data_dir>/quarantine` on this node.
    Files(QuarantineDir),
    /// A store shared by every node.
    Shared(Arc<dyn HeldBodyStore>),
}

impl From<QuarantineDir> for HeldBodies {
    fn from(dir: QuarantineDir) -> Self {
        HeldBodies::Files(dir)
    }
}

impl HeldBodies {
    /// Whether other nodes reach these bytes (and may be holding or releasing right now).
    pub fn is_shared(&self) -> bool {
        matches!(self, HeldBodies::Shared(_))
    }

    /// Stores one message durably. A message already stored under its queue id is an
    /// error.
    pub fn write_blocking(&self, envelope: &Envelope, head: &[u8], message: &[u8]) -> Result<(), BodyError> {
        match self {
            HeldBodies::Files(dir) => Ok(dir.write_blocking(envelope, head, message)?),
            HeldBodies::Shared(store) => {
                let bytes = encode_held(envelope, head, message)?;
                let key = envelope.queue_id.to_string();
                store.put_held_body(&key, &bytes, now_ms()).map_err(|e| BodyError::Failed(e.to_string()))
            }
        }
    }

    /// Reads and verifies one held message of at most `max_size` octets. `Ok(None)`: none.
    pub fn read_blocking(&self, id: QueueId, max_size: u64) -> Result<Option<HeldFile>, BodyError> {
        match self {
            HeldBodies::Files(dir) => Ok(dir.read_blocking(id, max_size)?),
            HeldBodies::Shared(store) => {
                let key = id.to_string();
                match store.held_body(&key, max_size) {
                    Ok(Some(bytes)) => decode_held(bytes, id).map(Some).map_err(BodyError::Corrupt),
                    Ok(None) => Ok(None),
                    Err(e) => Err(BodyError::Failed(e.to_string())),
                }
            }
        }
    }

    /// Removes a held message's bytes; none there is not an error.
    pub fn remove_blocking(&self, id: QueueId) -> Result<(), BodyError> {
        match self {
            HeldBodies::Files(dir) => Ok(dir.remove_blocking(id)?),
            HeldBodies::Shared(store) => {
                store.remove_held_body(&id.to_string()).map_err(|e| BodyError::Failed(e.to_string()))
            }
        }
    }

    /// What the start-up sweep looks at: every held file on this node, or the shared
    /// bodies older than [`ORPHAN_AGE`].
    pub fn list_blocking(&self) -> Result<Vec<String>, BodyError> {
        match self {
            HeldBodies::Files(dir) => Ok(dir.list_blocking()?),
            HeldBodies::Shared(store) => {
                let age = i64::try_from(ORPHAN_AGE.as_millis()).unwrap_or(i64::MAX);
                let before = now_ms().saturating_sub(age);
                store.held_body_keys(before, MAX_SWEPT).map_err(|e| BodyError::Failed(e.to_string()))
            }
        }
    }

    /// Sets aside bytes that fail verification, for an administrator; they are never
    /// released. Returns where they are now.
    pub fn move_to_corrupt_blocking(&self, name: &str) -> Result<String, BodyError> {
        match self {
            HeldBodies::Files(dir) => Ok(dir.move_to_corrupt_blocking(name)?.display().to_string()),
            HeldBodies::Shared(store) => match store.set_held_body_corrupt(name) {
                Ok(()) => Ok(format!("quarantine_bodies {name} (marked corrupt)")),
                Err(e) => Err(BodyError::Failed(e.to_string())),
            },
        }
    }
}
