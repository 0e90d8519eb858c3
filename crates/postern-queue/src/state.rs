//! Per-message delivery state: which recipients are done, how often we tried, when next.
//!
//! Kept beside the spool file as `state/<id>` (JSON), replaced atomically (write, fsync,
//! rename, fsync the directory) after every attempt that changed something, so a restart
//! keeps each message's schedule and never retries a recipient that was already delivered.
//! A missing state file means "never tried": due now. An unreadable one is treated the same
//! (at-least-once: a recipient may get a duplicate, never nothing) and logged.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use postern_core::QueueId;
use serde::{Deserialize, Serialize};

/// Where one recipient's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RcptStatus {
    Pending,
    Delivered,
    Bounced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RcptState {
    pub status: RcptStatus,
    /// The last reply (or local error) for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The server that gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub attempts: u32,
    /// Unix ms of the next attempt.
    pub next_attempt_ms: i64,
    #[serde(default)]
    pub held: bool,
    #[serde(default)]
    pub delay_warned: bool,
    /// Index-aligned with the envelope's recipients.
    pub recipients: Vec<RcptState>,
}

impl DeliveryState {
    pub fn new(recipients: usize, now_ms: i64) -> DeliveryState {
        DeliveryState {
            attempts: 0,
            next_attempt_ms: now_ms,
            held: false,
            delay_warned: false,
            recipients: vec![RcptState { status: RcptStatus::Pending, reply: None, remote: None }; recipients],
        }
    }

    pub fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        self.recipients.iter().enumerate().filter(|(_, r)| r.status == RcptStatus::Pending).map(|(i, _)| i)
    }

    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }

    pub fn last_error(&self) -> Option<&str> {
        self.recipients.iter().rev().find(|r| r.status != RcptStatus::Delivered).and_then(|r| r.reply.as_deref())
    }
}

pub(crate) struct StateDir {
    dir: PathBuf,
    /// The messages that may have a state file: those found at start and every one saved
    /// since. Most messages are delivered at their first attempt and never get one; for
    /// them loading and removing touch no file (they were an `open` and an `unlink` of a
    /// path that did not exist, per message).
    saved: Mutex<HashSet<QueueId>>,
}

impl StateDir {
    pub(crate) fn open(dir: PathBuf) -> std::io::Result<StateDir> {
        fs::create_dir_all(&dir)?;
        let mut saved = HashSet::new();
        // A directory that cannot be listed stops the start (a saved state not known would
        // be a delivered recipient tried again); an entry that cannot be read is skipped.
        for entry in fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name();
            // `<id>` and a save's leftover `<id>.tmp` (a file of neither form is never read).
            let id = name.to_str().map(|n| n.strip_suffix(".tmp").unwrap_or(n)).and_then(QueueId::parse);
            if let Some(id) = id {
                saved.insert(id);
            }
        }
        Ok(StateDir { dir, saved: Mutex::new(saved) })
    }

    fn saved(&self) -> std::sync::MutexGuard<'_, HashSet<QueueId>> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, id: QueueId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// The state file of `id`: `None` when it has none (never tried) or it cannot be read,
    /// `Some(Err)` when it does not parse.
    fn read(&self, id: QueueId) -> Option<serde_json::Result<DeliveryState>> {
        if !self.saved().contains(&id) {
            return None;
        }
        Some(serde_json::from_slice(&fs::read(self.path(id)).ok()?))
    }

    /// `Ok(None)`: never tried, or unreadable (logged).
    pub(crate) fn load(&self, id: QueueId, recipients: usize) -> Option<DeliveryState> {
        match self.read(id)? {
            Ok(state) if state.recipients.len() == recipients => Some(state),
            Ok(_) | Err(_) => {
                tracing::warn!(queue_id = %id, "delivery state unreadable; treating the message as never tried");
                None
            }
        }
    }

    /// The saved schedule of a message found at start, whatever its recipients (`None`:
    /// never tried, or unreadable).
    pub(crate) fn schedule(&self, id: QueueId) -> Option<DeliveryState> {
        self.read(id)?.ok()
    }

    /// Removes every file but the states of `ids` (the messages found at start): the states
    /// of messages that are gone, and anything else left in the directory.
    pub(crate) fn keep_only(&self, ids: &[QueueId]) {
        let ids: HashSet<QueueId> = ids.iter().copied().collect();
        if let Ok(dir) = fs::read_dir(&self.dir) {
            for entry in dir.flatten() {
                // Only a file named exactly `<id>` is a state (not `<id>.tmp`, not junk).
                let id = entry.file_name().to_str().and_then(QueueId::parse);
                if !id.is_some_and(|id| ids.contains(&id)) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        self.saved().retain(|id| ids.contains(id));
    }

    pub(crate) fn save(&self, id: QueueId, state: &DeliveryState) -> std::io::Result<()> {
        let path = self.path(id);
        let temp = self.dir.join(format!("{id}.tmp"));
        let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
        // Before the file can exist: a save that fails half way still leaves it known.
        self.saved().insert(id);
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&temp, &path)?;
        File::open(&self.dir)?.sync_all()
    }

    pub(crate) fn remove(&self, id: QueueId) {
        if self.saved().remove(&id) {
            let _ = fs::remove_file(self.path(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_states_are_loaded_removed_and_found_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::open(dir.path().join("state")).unwrap();
        let (a, b) = (QueueId::generate(), QueueId::generate());
        assert_eq!(states.load(a, 1), None, "never tried");
        states.remove(a);
        let mut state = DeliveryState::new(1, 5);
        state.attempts = 2;
        states.save(a, &state).unwrap();
        assert_eq!(states.load(a, 1), Some(state.clone()));
        assert_eq!(states.load(a, 2), None, "another envelope's count: unreadable");
        states.save(b, &state).unwrap();
        states.remove(b);
        assert!(!dir.path().join("state").join(b.to_string()).exists());
        assert_eq!(states.load(b, 1), None);

        // A restart finds the files there are, including one left by a crash mid-save.
        let c = QueueId::generate();
        fs::write(dir.path().join("state").join(format!("{c}.tmp")), b"{").unwrap();
        let states = StateDir::open(dir.path().join("state")).unwrap();
        assert_eq!(states.load(a, 1), Some(state));
        assert_eq!(states.load(b, 1), None);
        assert!(states.saved().contains(&c));
        states.remove(a);
        assert!(!dir.path().join("state").join(a.to_string()).exists());
    }

    #[test]
    fn at_start_only_the_states_of_messages_found_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::open(dir.path().join("state")).unwrap();
        let (kept, gone) = (QueueId::generate(), QueueId::generate());
        let mut state = DeliveryState::new(2, 5);
        state.held = true;
        states.save(kept, &state).unwrap();
        states.save(gone, &state).unwrap();
        fs::write(dir.path().join("state").join("junk"), b"x").unwrap();
        fs::write(dir.path().join("state").join(format!("{kept}.tmp")), b"{").unwrap();
        states.keep_only(&[kept]);
        let left: Vec<String> = fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, [kept.to_string()]);
        assert_eq!(states.schedule(kept), Some(state), "whatever the recipients");
        assert_eq!(states.schedule(gone), None);
        assert!(!states.saved().contains(&gone));
    }
}
