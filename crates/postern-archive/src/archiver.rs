//! [`Archiver`] for [`Archive`]: the pipeline's stage 6 calls it; the copy is stored on a
//! blocking thread (gzip, fsyncs and an SQLite commit, or a PostgreSQL commit), never on
//! the async threads.
//!
//! In: an [`ArchiveCopy`]. Out: the row's id once the copy is durable, or the reply the
//! client hears: `452 4.3.1` when the disk is full, `451 4.3.0` for any other failure, a
//! shared store that cannot be reached included (logged with its detail; the client sees
//! nothing of it).

use postern_core::{ArchiveCopy, Archiver, BoxFuture, Reply};

use crate::Archive;

impl Archiver for Archive {
    fn archive(&self, copy: ArchiveCopy) -> BoxFuture<'_, Result<i64, Reply>> {
        let archive = self.clone();
        Box::pin(async move {
            let queue_id = copy.envelope.queue_id;
            // `copy` (and its clones of the bytes) is dropped inside the task, so the
            // caller owns the bytes alone again when this future completes.
            let stored = tokio::task::spawn_blocking(move || archive.store(&copy)).await;
            match stored {
                Ok(Ok(entry)) => Ok(entry.id),
                Ok(Err(e)) => {
                    tracing::error!(queue_id = %queue_id, error = %e, "archive write failed; message refused");
                    Err(if e.is_disk_full() {
                        Reply::new(452, "4.3.1", "Insufficient system storage")
                    } else {
                        Reply::new(451, "4.3.0", "Error: cannot archive the message, try again later")
                    })
                }
                Err(e) => {
                    tracing::error!(queue_id = %queue_id, error = %e, "archive task failed; message refused");
                    Err(Reply::new(451, "4.3.0", "Error: cannot archive the message, try again later"))
                }
            }
        })
    }
}
