//! The spool directories and the write path.
//!
//! ```text
//! <root>/incoming/<id>   being written; removed at start (never acknowledged)
//! <root>/queue/<id>      durable, waiting for delivery
//! <root>/corrupt/<id>    failed verification; kept for an administrator, never delivered
//! ```
//!
//! Write: create `incoming/<id>` exclusively (mode 0600), write, fsync the file, rename to
//! `queue/<id>`, fsync `queue/`. Only then is the message acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postern_core::{BoxFuture, Enqueue, Envelope, QueueId, Reply};

use crate::file;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("cannot encode envelope: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{path}: corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("spool task failed: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, SpoolError>;

impl SpoolError {
    /// What the SMTP client hears: always temporary, the message was not accepted.
    pub fn reply(&self) -> Reply {
        match self {
            SpoolError::Io { source, .. } if source.raw_os_error() == Some(28) => {
                Reply::new(452, "4.3.1", "Insufficient system storage")
            }
            _ => Reply::new(451, "4.3.0", "Error: queue file write error"),
        }
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError + use<> {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { op, path, source }
}

/// What [`Spool::recover`] found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Verified messages waiting in `queue/`, oldest first.
    pub messages: Vec<QueueId>,
    /// Incomplete files removed from `incoming/`.
    pub incomplete_removed: usize,
    /// Files moved to `corrupt/`, with the reason.
    pub corrupt: Vec<(String, String)>,
}

/// A cheap, cloneable handle on the spool.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Dirs>,
}

struct Dirs {
    root: PathBuf,
    incoming: PathBuf,
    queue: PathBuf,
    corrupt: PathBuf,
    queue_dir: File,
    /// Names each health probe file apart (concurrent probes never collide).
    probes: std::sync::atomic::AtomicU64,
}

impl Spool {
    /// Opens (creating if needed) the spool under `root`.
    pub fn open(root: &Path) -> Result<Spool> {
        let incoming = root.join("incoming");
        let queue = root.join("queue");
        let corrupt = root.join("corrupt");
        for dir in [&incoming, &queue, &corrupt] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        let queue_dir = File::open(&queue).map_err(io_err("open", &queue))?;
        File::open(root).and_then(|d| d.sync_all()).map_err(io_err("fsync", root))?;
        let dirs = Dirs { root: root.to_path_buf(), incoming, queue, corrupt, queue_dir, probes: Default::default() };
        Ok(Spool { inner: Arc::new(dirs) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn queue_dir(&self) -> &Path {
        &self.inner.queue
    }

    /// Removes a finished message. Not finding it is not an error (already gone).
    pub fn remove(&self, id: QueueId) -> Result<()> {
        let path = self.inner.queue.join(id.to_string());
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    /// Moves a queued message that failed verification to `corrupt/`.
    pub fn quarantine_id(&self, id: QueueId) -> Result<()> {
        let name = id.to_string();
        self.quarantine(&self.inner.queue.join(&name), &name)
    }

    /// Writes one message durably. Blocking: call from a blocking thread.
    pub fn write_blocking(&self, envelope: &Envelope, parts: &[&[u8]]) -> Result<()> {
        let name = envelope.queue_id.to_string();
        let temp = self.inner.incoming.join(&name);
        let dest = self.inner.queue.join(&name);
        let prefix = file::encode_prefix(envelope, parts)?;
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(io_err("create", &temp))?;
            f.write_all(&prefix).map_err(io_err("write", &temp))?;
            for part in parts {
                f.write_all(part).map_err(io_err("write", &temp))?;
            }
            f.sync_all().map_err(io_err("fsync", &temp))?;
            drop(f);
            fs::rename(&temp, &dest).map_err(io_err("rename", &dest))?;
            self.inner.queue_dir.sync_all().map_err(io_err("fsync", &self.inner.queue))
        })();
        if result.is_err() {
            // Best effort: the message was not acknowledged, so nothing may remain behind
            // that a restart would deliver.
            let _ = fs::remove_file(&temp);
            let _ = fs::remove_file(&dest);
        }
        result
    }

    /// The health check: writes a small probe file where messages are written
    /// (`incoming/`), fsyncs and removes it. `Err`: the spool cannot take a message now
    /// (the directory is gone or not writable, the disk is full). Blocking: call from a
    /// blocking thread. A probe left by a crash is removed at the next start like any
    /// incomplete file.
    pub fn probe_blocking(&self) -> Result<()> {
        let n = self.inner.probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.inner.incoming.join(format!(".probe-{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err("create", &path))?;
            f.write_all(b"postern health probe\n").map_err(io_err("write", &path))?;
            f.sync_all().map_err(io_err("fsync", &path))
        })();
        let removed = fs::remove_file(&path);
        written?;
        removed.map_err(io_err("remove", &path))
    }

    /// Reads and verifies one queued message.
    pub fn read(&self, id: QueueId) -> Result<(Envelope, Vec<u8>)> {
        let path = self.inner.queue.join(id.to_string());
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        let (envelope, message) =
            file::decode(&bytes, id).map_err(|reason| SpoolError::Corrupt { path: path.clone(), reason })?;
        Ok((envelope, message.to_vec()))
    }

    /// Start-up: removes incomplete files, verifies every queued file, quarantines the bad.
    pub fn recover(&self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        for entry in fs::read_dir(&self.inner.incoming).map_err(io_err("list", &self.inner.incoming))? {
            let entry = entry.map_err(io_err("list", &self.inner.incoming))?;
            fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
            recovery.incomplete_removed += 1;
        }
        for entry in fs::read_dir(&self.inner.queue).map_err(io_err("list", &self.inner.queue))? {
            let entry = entry.map_err(io_err("list", &self.inner.queue))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let verdict = match QueueId::parse(&name) {
                None => Err("file name is not a queue id".to_string()),
                Some(id) => match fs::read(entry.path()) {
                    Ok(bytes) => file::decode(&bytes, id).map(|_| id),
                    Err(e) => Err(format!("unreadable: {e}")),
                },
            };
            match verdict {
                Ok(id) => recovery.messages.push(id),
                Err(reason) => {
                    self.quarantine(&entry.path(), &name)?;
                    tracing::error!(file = %entry.path().display(), %reason, "spool file is corrupt, moved to corrupt/");
                    recovery.corrupt.push((name, reason));
                }
            }
        }
        recovery.messages.sort();
        File::open(&self.inner.incoming).and_then(|d| d.sync_all()).map_err(io_err("fsync", &self.inner.incoming))?;
        Ok(recovery)
    }

    fn quarantine(&self, path: &Path, name: &str) -> Result<()> {
        let mut dest = self.inner.corrupt.join(name);
        let mut n = 1;
        while dest.exists() {
            dest = self.inner.corrupt.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(path, &dest).map_err(io_err("rename", &dest))?;
        for dir in [&self.inner.corrupt, &self.inner.queue] {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))?;
        }
        Ok(())
    }
}

/// The session's handle: writes happen on the blocking pool so no runtime thread waits
/// for the disk.
impl Enqueue for Spool {
    fn enqueue(
        &self,
        envelope: Envelope,
        head: Vec<u8>,
        body: Vec<u8>,
    ) -> BoxFuture<'_, std::result::Result<(), Reply>> {
        let spool = self.clone();
        Box::pin(async move {
            let id = envelope.queue_id;
            let joined = tokio::task::spawn_blocking(move || spool.write_blocking(&envelope, &[&head, &body])).await;
            let result = joined.unwrap_or_else(|e| Err(SpoolError::Task(e.to_string())));
            result.map_err(|e| {
                tracing::error!(queue_id = %id, error = %e, "spool write failed; message not accepted");
                e.reply()
            })
        })
    }
}
