//! The quarantine (SPEC.md §5): where spam is held instead of delivered, and what
//! administrators do with it.
//!
//! In: from the pipeline, a spam [`Submission`] with our headers, its verdict trace and
//! rule ([`Quarantine::hold`]); from the admin API, a row id and the caller's token name
//! (release, delete, confirm, request release); from a timer, the time (purge). Out: the
//! bytes on disk (`postern_queue::quarantine`, fsynced before the client hears anything),
//! a row in the store ([`QuarantineStore`]), `quarantine` events, released messages in the
//! spool, ham and spam samples for the [`Trainer`], and an abuse report per incident
//! (`abuse.rs`).
//!
//! Defends against: acknowledging a message that is not held (a failed write or row is a
//! `451 4.3.0`, and the file of a failed row is removed), a message released twice (the
//! store's atomic claim: only one release moves a row from `held` to `releasing`), a purge
//! or delete racing a release (neither touches a `releasing` row), and a released message
//! lost (the claim is undone when the spool refuses it; the bytes on disk are removed
//! only after the spool has them durable).
//!
//! A crash can still stop a release or a hold half way. [`Quarantine::recover`] runs at
//! start-up, after the spool's recovery and before anything is delivered, released or
//! held, and settles what it left: a `releasing` row whose message is in the spool (under
//! its own queue id: release spools the held file's envelope unchanged) is finished
//! (`released`, the held file removed); one whose message is not is put back to `held`,
//! for an administrator to release again. A held file with no row (a crash between the
//! file and its row: the client never heard `250` and sends again) is removed, or moved to
//! `corrupt/` when it fails verification; the file a `released` row left is removed.
//! Running it twice changes nothing.
//!
//! In a cluster the bytes are shared ([`HeldBodies::Shared`]) and other nodes hold and
//! release while this one starts: a `releasing` row not in this node's spool is left to
//! the node releasing it, unless it was claimed more than [`ORPHAN_AGE`] ago (then it is
//! held again), and only bodies older than that are swept.

use std::sync::Arc;
use std::time::Duration;

use postern_core::event::now_ms;
use postern_core::{CheckRecord, Enqueue, Event, EventKind, EventSink, Label, QueueId, Reply, Submission, Trainer};
use postern_queue::HeldFile;
use postern_store::{HeldMessage, HeldState, NewHeld, Page, QuarantineFilter, QuarantineStore, Scope, StoreError};

use crate::abuse::AbuseReports;
use crate::held_bodies::{BodyError, HeldBodies, ORPHAN_AGE};

/// The largest held file read back (a message at the largest size limit, with headroom).
pub const MAX_HELD_FILE: u64 = 256 * 1024 * 1024;

/// The default lifetime of a held message.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many expired rows one purge pass takes.
const PURGE_BATCH: u32 = 500;

/// What went wrong with an operation on a held message.
#[derive(Debug)]
pub enum QuarantineError {
    /// No such row, or not in a state that allows this (e.g. released, being released).
    NotFound,
    /// The row is there but its state forbids the action (e.g. already released).
    Conflict(String),
    /// The store or the disk failed; the detail is for the log.
    Failed(String),
    /// The spool refused the released message (it stays held).
    Spool(Reply),
}

impl std::fmt::Display for QuarantineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuarantineError::NotFound => f.write_str("no such held message"),
            QuarantineError::Conflict(text) | QuarantineError::Failed(text) => f.write_str(text),
            QuarantineError::Spool(reply) => write!(f, "the spool refused the message: {}", reply.summary()),
        }
    }
}

impl From<StoreError> for QuarantineError {
    fn from(e: StoreError) -> Self {
        QuarantineError::Failed(e.to_string())
    }
}

/// What [`Quarantine::recover`] did, by row id or file name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QuarantineRecovery {
    /// `releasing` rows whose message was in the spool: now `released`.
    pub finished: Vec<i64>,
    /// `releasing` rows whose message was not in the spool: `held` again.
    pub held_again: Vec<i64>,
    /// Held files with no row, removed.
    pub orphans_removed: Vec<String>,
    /// `releasing` rows not in this node's spool, claimed less than [`ORPHAN_AGE`] ago,
    /// with bodies other nodes share: left to the node releasing them.
    pub releasing_elsewhere: Vec<i64>,
    /// Held files of `released` rows, removed.
    pub leftovers_removed: Vec<String>,
    /// Held files with no row that failed verification, moved to `corrupt/`.
    pub corrupt: Vec<String>,
}

impl QuarantineRecovery {
    pub fn is_empty(&self) -> bool {
        *self == QuarantineRecovery::default()
    }
}

/// A held message with its bytes, for show and the ARF report.
pub struct HeldContent {
    pub row: HeldMessage,
    pub file: HeldFile,
}

pub struct Quarantine {
    dir: HeldBodies,
    store: Arc<dyn QuarantineStore>,
    spool: Arc<dyn Enqueue>,
    events: Arc<dyn EventSink>,
    lifetime: Duration,
    hostname: String,
    trainer: Option<Arc<dyn Trainer>>,
    abuse: Option<Arc<AbuseReports>>,
}

impl Quarantine {
    pub fn new(
        dir: impl Into<HeldBodies>,
        store: Arc<dyn QuarantineStore>,
        spool: Arc<dyn Enqueue>,
        events: Arc<dyn EventSink>,
        hostname: String,
    ) -> Quarantine {
        Quarantine {
            dir: dir.into(),
            store,
            spool,
            events,
            lifetime: DEFAULT_LIFETIME,
            hostname,
            trainer: None,
            abuse: None,
        }
    }

    /// How long a message is kept before the purge removes it.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Quarantine {
        self.lifetime = lifetime;
        self
    }

    /// Where release (ham) and confirm (spam) samples go; `None`: nowhere.
    pub fn with_trainer(mut self, trainer: Option<Arc<dyn Trainer>>) -> Quarantine {
        self.trainer = trainer;
        self
    }

    /// Abuse reports to the domains' abuse contacts; `None`: none are sent (the report is
    /// still viewable through the API).
    pub fn with_abuse_reports(mut self, abuse: Option<Arc<AbuseReports>>) -> Quarantine {
        self.abuse = abuse;
        self
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    pub fn store(&self) -> &Arc<dyn QuarantineStore> {
        &self.store
    }

    /// Holds a spam message: bytes durable on disk, then its row. `Err`: the reply the
    /// client hears (`451 4.3.0`); nothing is left behind.
    pub async fn hold(
        &self,
        sub: &Submission,
        head: &[u8],
        message: &[u8],
        rule: &str,
        checks: &[CheckRecord],
        reaction: &str,
    ) -> Result<HeldMessage, Reply> {
        let envelope = sub.envelope.clone();
        let owner = envelope.owner.as_ref();
        let held_at_ms = now_ms();
        let lifetime_ms = i64::try_from(self.lifetime.as_millis()).unwrap_or(i64::MAX);
        let new = NewHeld {
            queue_id: envelope.queue_id.to_string(),
            account_id: owner.and_then(|o| o.account_id),
            account: owner.map(|o| o.account.clone()),
            identity: owner.map(|o| o.identity.clone()),
            domain: owner.and_then(|o| o.domain.clone()).or_else(|| sub.account.as_ref().map(|a| a.domain.clone())),
            sender_domain: envelope.sender_domain(),
            sender: envelope.sender_display(),
            recipients: envelope.recipients.iter().map(|r| r.address.to_string()).collect(),
            subject: subject_of(message),
            rule: rule.to_string(),
            checks: checks.to_vec(),
            client_ip: envelope.client.ip.to_string(),
            reaction: reaction.to_string(),
            size: (head.len() + message.len()) as u64,
            held_at_ms,
            expires_at_ms: held_at_ms.saturating_add(lifetime_ms),
        };
        let (dir, store) = (self.dir.clone(), Arc::clone(&self.store));
        let (head_owned, message_owned) = (head.to_vec(), message.to_vec());
        let id = envelope.queue_id;
        let joined = tokio::task::spawn_blocking(move || {
            dir.write_blocking(&envelope, &head_owned, &message_owned).map_err(|e| e.to_string())?;
            store.hold(&new).map_err(|e| {
                // The client hears 4xx: nothing held may stay behind.
                if let Err(removed) = dir.remove_blocking(envelope.queue_id) {
                    tracing::error!(queue_id = %envelope.queue_id, error = %removed, "cannot remove a quarantine file");
                }
                e.to_string()
            })
        })
        .await;
        let held = match joined {
            Ok(Ok(held)) => held,
            Ok(Err(error)) => {
                tracing::error!(queue_id = %id, error = error.as_str(), "cannot hold the message; answered 451");
                return Err(hold_failed());
            }
            Err(e) => {
                tracing::error!(queue_id = %id, error = %e, "quarantine task failed; answered 451");
                return Err(hold_failed());
            }
        };
        self.event(id, &held, "held", None, Some(format!("rule {rule}"))).await;
        if let Some(abuse) = &self.abuse {
            let file = HeldFile { envelope: sub.envelope.clone(), head: head.to_vec(), message: message.to_vec() };
            abuse.incident(&held, file).await;
        }
        Ok(held)
    }

    /// The row and its bytes.
    pub async fn content(&self, id: i64) -> Result<HeldContent, QuarantineError> {
        let row = self.row(id).await?;
        let Some(queue_id) = QueueId::parse(&row.message.queue_id) else {
            return Err(QuarantineError::Failed(format!("quarantine row {id}: bad queue id")));
        };
        let dir = self.dir.clone();
        let file = blocking(move || dir.read_blocking(queue_id, MAX_HELD_FILE).map_err(|e| e.to_string())).await?;
        match file {
            Some(file) => Ok(HeldContent { row, file }),
            None => Err(QuarantineError::Conflict(format!("the message is {}: its bytes are gone", row.state.name()))),
        }
    }

    pub async fn row(&self, id: i64) -> Result<HeldMessage, QuarantineError> {
        let store = Arc::clone(&self.store);
        blocking(move || store.held(id).map_err(|e| e.to_string())).await?.ok_or(QuarantineError::NotFound)
    }

    /// Spools a held message for delivery, without scanning it again; exactly once, even
    /// when two releases race (one wins the claim, the other gets `Conflict`). Counted as
    /// a ham sample. Returns the queue id it was spooled under.
    pub async fn release(&self, id: i64, by: &str) -> Result<QueueId, QuarantineError> {
        let store = Arc::clone(&self.store);
        let who = by.to_string();
        let claimed = blocking(move || store.claim_release(id, &who).map_err(|e| e.to_string())).await?;
        let Some(row) = claimed else {
            let current = self.row(id).await?;
            return Err(QuarantineError::Conflict(format!("the message is {}, not held", current.state.name())));
        };
        let content = match self.content(id).await {
            Ok(content) => content,
            Err(e) => {
                self.abort(id).await;
                return Err(e);
            }
        };
        let HeldFile { mut envelope, head, message } = content.file;
        let queue_id = envelope.queue_id;
        envelope.size = (head.len() + message.len()) as u64;
        let sample = self.trainer.as_ref().map(|_| message.clone());
        if let Err(reply) = self.spool.enqueue(envelope, head, message).await {
            self.abort(id).await;
            return Err(QuarantineError::Spool(reply));
        }
        // Durable in the spool: from here on the release has happened.
        let (store, dir) = (Arc::clone(&self.store), self.dir.clone());
        let finished = blocking(move || {
            let finished = store.finish_release(id).map_err(|e| e.to_string());
            if let Err(e) = dir.remove_blocking(queue_id) {
                tracing::error!(queue_id = %queue_id, error = %e, "released, but cannot remove the held file");
            }
            finished
        })
        .await;
        if let Err(e) = finished {
            tracing::error!(id, queue_id = %queue_id, error = %e, "released, but the row still says releasing");
        }
        tracing::info!(id, queue_id = %queue_id, by, "quarantined message released");
        self.event(queue_id, &row, "released", Some(by), Some(format!("released by {by}"))).await;
        if let (Some(trainer), Some(sample)) = (&self.trainer, sample)
            && let Err(e) = trainer.learn(&sample, Label::Ham, "quarantine release").await
        {
            tracing::warn!(id, error = e.as_str(), "the released message was not learned as ham");
        }
        Ok(queue_id)
    }

    async fn abort(&self, id: i64) {
        let store = Arc::clone(&self.store);
        match blocking(move || store.abort_release(id).map_err(|e| e.to_string())).await {
            Ok(_) => {}
            Err(e) => tracing::error!(id, error = %e, "cannot undo a failed release; the row says releasing"),
        }
    }

    /// Removes a held (or released) message. `NotFound`: none, or being released.
    pub async fn delete(&self, id: i64, by: &str) -> Result<(), QuarantineError> {
        let store = Arc::clone(&self.store);
        let claimed = blocking(move || store.claim_delete(id).map_err(|e| e.to_string())).await?;
        let Some(row) = claimed else {
            let current = self.row(id).await?;
            return Err(QuarantineError::Conflict(format!("the message is {}", current.state.name())));
        };
        self.remove(&row).await?;
        self.event_for(&row, "deleted", Some(by), None).await;
        Ok(())
    }

    /// Records that the message is spam, as a spam sample for the trainer.
    pub async fn confirm(&self, id: i64, by: &str) -> Result<(), QuarantineError> {
        let content = self.content(id).await?;
        if let Some(trainer) = &self.trainer {
            trainer
                .learn(&content.file.message, Label::Spam, "quarantine confirm")
                .await
                .map_err(|e| QuarantineError::Failed(format!("the trainer refused the sample: {e}")))?;
        }
        let store = Arc::clone(&self.store);
        let who = by.to_string();
        if !blocking(move || store.confirm(id, &who).map_err(|e| e.to_string())).await? {
            return Err(QuarantineError::Conflict("the message is no longer held".into()));
        }
        self.event_for(&content.row, "confirmed", Some(by), None).await;
        Ok(())
    }

    /// A domain admin's request that a superadmin release the message.
    pub async fn request_release(&self, id: i64, by: &str, note: Option<String>) -> Result<(), QuarantineError> {
        let row = self.row(id).await?;
        let store = Arc::clone(&self.store);
        let (who, text) = (by.to_string(), note.clone());
        if !blocking(move || store.request_release(id, &who, text.as_deref()).map_err(|e| e.to_string())).await? {
            return Err(QuarantineError::Conflict(format!("the message is {}, not held", row.state.name())));
        }
        self.event_for(&row, "release_requested", Some(by), note).await;
        Ok(())
    }

    /// Removes every message expired at `now_ms` that is not being released. Returns how
    /// many went.
    pub async fn purge(&self, now_ms: i64) -> Result<usize, QuarantineError> {
        let mut purged = 0;
        loop {
            let store = Arc::clone(&self.store);
            let rows = blocking(move || store.claim_expired(now_ms, PURGE_BATCH).map_err(|e| e.to_string())).await?;
            let full = rows.len() == PURGE_BATCH as usize;
            for row in rows {
                self.remove(&row).await?;
                self.event_for(&row, "purged", None, Some("expired".into())).await;
                purged += 1;
            }
            if !full {
                return Ok(purged);
            }
        }
    }

    /// Settles what a crash left half way (see the module docs): `releasing` rows and held
    /// files without a row. `spooled` says whether the spool holds a message. Only at
    /// start-up: a hold in progress has its file before its row, so a file without a row
    /// is an orphan only when nothing is holding. Idempotent.
    pub async fn recover(
        &self,
        spooled: &(dyn Fn(QueueId) -> bool + Send + Sync),
    ) -> Result<QuarantineRecovery, QuarantineError> {
        let mut done = QuarantineRecovery::default();
        for row in self.releasing().await? {
            let in_spool = QueueId::parse(&row.message.queue_id).is_some_and(spooled);
            if !in_spool && self.dir.is_shared() && !claimed_long_ago(&row) {
                // Another node may be releasing it now, or stopped after its own spool had
                // it: only that node can tell (its restart finishes it).
                tracing::warn!(
                    id = row.id,
                    queue_id = row.message.queue_id.as_str(),
                    "a release in progress on another node, or stopped there: left releasing"
                );
                done.releasing_elsewhere.push(row.id);
            } else if in_spool {
                match self.finish_interrupted(&row).await {
                    Ok(true) => done.finished.push(row.id),
                    Ok(false) => {}
                    Err(e) => tracing::error!(id = row.id, error = %e, "cannot finish an interrupted release"),
                }
            } else {
                let store = Arc::clone(&self.store);
                let id = row.id;
                let undone = blocking(move || store.abort_release(id).map_err(|e| e.to_string())).await;
                if let Err(e) = &undone {
                    tracing::error!(id, error = %e, "cannot undo an interrupted release; the row says releasing");
                }
                if undone.unwrap_or(false) {
                    tracing::warn!(
                        id,
                        queue_id = row.message.queue_id.as_str(),
                        "a release stopped before the spool had the message: held again, release it again"
                    );
                    let detail = "release interrupted before spooling: held again".to_string();
                    self.event_for(&row, "release_undone", None, Some(detail)).await;
                    done.held_again.push(row.id);
                }
            }
        }
        self.sweep_files(&mut done).await?;
        Ok(done)
    }

    /// Every `releasing` row (a crash stopped their release).
    async fn releasing(&self) -> Result<Vec<HeldMessage>, QuarantineError> {
        let mut rows = Vec::new();
        let filter = QuarantineFilter { state: Some(HeldState::Releasing), ..Default::default() };
        // Every page is read before any row is settled, so offsets stay true; bounded.
        for page in 0..1000u64 {
            let (store, filter) = (Arc::clone(&self.store), filter.clone());
            let offset = page * 1000;
            let paged = blocking(move || {
                store.list_held(&Scope::All, &filter, Page { limit: 1000, offset }).map_err(|e| e.to_string())
            })
            .await?;
            let full = paged.items.len() == 1000;
            rows.extend(paged.items);
            if !full {
                break;
            }
        }
        Ok(rows)
    }

    /// A `releasing` row whose message the spool has: `released`, the held file removed,
    /// the `released` event and the ham sample the stopped release did not get to.
    /// `false`: the row was no longer `releasing`.
    async fn finish_interrupted(&self, row: &HeldMessage) -> Result<bool, QuarantineError> {
        let (store, dir, id) = (Arc::clone(&self.store), self.dir.clone(), row.id);
        let queue_id = QueueId::parse(&row.message.queue_id);
        let sample = match (&self.trainer, queue_id) {
            (Some(_), Some(queue_id)) => {
                let dir = dir.clone();
                match blocking(move || dir.read_blocking(queue_id, MAX_HELD_FILE).map_err(|e| e.to_string())).await {
                    Ok(file) => file.map(|f| f.message),
                    Err(e) => {
                        tracing::warn!(id, error = %e, "the held file of a finished release is unreadable");
                        None
                    }
                }
            }
            _ => None,
        };
        let finished = blocking(move || {
            let finished = store.finish_release(id).map_err(|e| e.to_string())?;
            if let Some(queue_id) = queue_id
                && let Err(e) = dir.remove_blocking(queue_id)
            {
                // A `released` row's file: the next start removes it.
                tracing::error!(id, error = %e, "released, but cannot remove the held file");
            }
            Ok(finished)
        })
        .await?;
        if !finished {
            return Ok(false);
        }
        let by = row.released_by.clone().unwrap_or_else(|| "unknown".into());
        tracing::info!(
            id,
            queue_id = row.message.queue_id.as_str(),
            by = by.as_str(),
            "a release stopped after the spool had the message: finished (released)"
        );
        let detail = format!("released by {by} (finished at start-up)");
        self.event_for(row, "released", Some(&by), Some(detail)).await;
        if let (Some(trainer), Some(sample)) = (&self.trainer, sample)
            && let Err(e) = trainer.learn(&sample, Label::Ham, "quarantine release").await
        {
            tracing::warn!(id, error = e.as_str(), "the released message was not learned as ham");
        }
        Ok(true)
    }

    /// Held files with no row (removed, or moved to `corrupt/` when unreadable) and files
    /// `released` rows left (removed).
    async fn sweep_files(&self, done: &mut QuarantineRecovery) -> Result<(), QuarantineError> {
        let dir = self.dir.clone();
        let names = blocking(move || dir.list_blocking().map_err(|e| e.to_string())).await?;
        for name in names {
            let (store, dir) = (Arc::clone(&self.store), self.dir.clone());
            let file = name.clone();
            let outcome = blocking(move || Ok(sweep_one(store.as_ref(), &dir, &file))).await?;
            match outcome {
                Swept::Kept => {}
                Swept::Orphan => {
                    tracing::warn!(file = name.as_str(), "a held file with no row (a hold stopped half way): removed");
                    done.orphans_removed.push(name);
                }
                Swept::Leftover(id) => {
                    tracing::info!(id, file = name.as_str(), "the held file of a released message: removed");
                    done.leftovers_removed.push(name);
                }
                Swept::Corrupt(reason, dest) => {
                    tracing::error!(
                        file = name.as_str(),
                        reason = reason.as_str(),
                        moved_to = dest.as_str(),
                        "a held file with no row is corrupt: moved to corrupt/"
                    );
                    done.corrupt.push(name);
                }
                Swept::Failed(error) => {
                    tracing::error!(file = name.as_str(), error = error.as_str(), "a held file left as it is");
                }
            }
        }
        Ok(())
    }

    /// Purges every `every` until the task is dropped.
    pub async fn purge_every(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            match self.purge(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired quarantined messages purged"),
                Err(e) => tracing::error!(error = %e, "quarantine purge failed; tried again later"),
            }
        }
    }

    /// The bytes, then the row, of a `purging` row.
    async fn remove(&self, row: &HeldMessage) -> Result<(), QuarantineError> {
        let (store, dir, id) = (Arc::clone(&self.store), self.dir.clone(), row.id);
        let queue_id = QueueId::parse(&row.message.queue_id);
        blocking(move || {
            if let Some(queue_id) = queue_id {
                dir.remove_blocking(queue_id).map_err(|e| e.to_string())?;
            }
            store.forget(id).map_err(|e| e.to_string())
        })
        .await?;
        Ok(())
    }

    async fn event_for(&self, row: &HeldMessage, action: &str, by: Option<&str>, detail: Option<String>) {
        let queue_id = QueueId::parse(&row.message.queue_id);
        self.emit(queue_id, row, action, by, detail).await;
    }

    async fn event(
        &self,
        queue_id: QueueId,
        row: &HeldMessage,
        action: &str,
        by: Option<&str>,
        detail: Option<String>,
    ) {
        self.emit(Some(queue_id), row, action, by, detail).await;
    }

    async fn emit(
        &self,
        queue_id: Option<QueueId>,
        row: &HeldMessage,
        action: &str,
        by: Option<&str>,
        detail: Option<String>,
    ) {
        let client_ip = row.message.client_ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        let kind = EventKind::Quarantine {
            action: action.to_string(),
            id: row.id,
            by: by.map(str::to_string),
            domain: row.message.domain.clone(),
            detail,
        };
        self.events.emit(Event { at_ms: now_ms(), session: 0, client_ip, queue_id, kind }).await;
    }
}

/// What the recovery did with one file of `held/`.
enum Swept {
    /// Its row is `held`, `releasing` or `purging`: it is still needed.
    Kept,
    Orphan,
    /// Its row (this id) is `released`.
    Leftover(i64),
    /// Unreadable and without a row: moved to (this path).
    Corrupt(String, String),
    /// The store or the disk failed: left as it is.
    Failed(String),
}

fn sweep_one(store: &dyn QuarantineStore, dir: &HeldBodies, name: &str) -> Swept {
    let Some(queue_id) = QueueId::parse(name) else {
        return match dir.move_to_corrupt_blocking(name) {
            Ok(dest) => Swept::Corrupt("the name is not a queue id".into(), dest),
            Err(e) => Swept::Failed(e.to_string()),
        };
    };
    match store.held_by_queue_id(&queue_id.to_string()) {
        Ok(Some(row)) if row.state == HeldState::Released => match dir.remove_blocking(queue_id) {
            Ok(()) => Swept::Leftover(row.id),
            Err(e) => Swept::Failed(e.to_string()),
        },
        Ok(Some(_)) => Swept::Kept,
        Ok(None) => match dir.read_blocking(queue_id, MAX_HELD_FILE) {
            Ok(None) => Swept::Kept,
            Ok(Some(_)) => match dir.remove_blocking(queue_id) {
                Ok(()) => Swept::Orphan,
                Err(e) => Swept::Failed(e.to_string()),
            },
            Err(BodyError::Corrupt(reason)) => match dir.move_to_corrupt_blocking(name) {
                Ok(dest) => Swept::Corrupt(reason, dest),
                Err(e) => Swept::Failed(e.to_string()),
            },
            Err(e) => Swept::Failed(e.to_string()),
        },
        Err(e) => Swept::Failed(e.to_string()),
    }
}

/// Whether a `releasing` row was claimed more than [`ORPHAN_AGE`] ago: a release takes
/// seconds, so no node is still at it.
fn claimed_long_ago(row: &HeldMessage) -> bool {
    let age = i64::try_from(ORPHAN_AGE.as_millis()).unwrap_or(i64::MAX);
    row.released_at_ms.is_none_or(|at| now_ms().saturating_sub(at) > age)
}

fn hold_failed() -> Reply {
    Reply::new(451, "4.3.0", "Error: cannot hold the message, try again later")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, QuarantineError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(QuarantineError::Failed(e)),
        Err(e) => Err(QuarantineError::Failed(format!("quarantine task: {e}"))),
    }
}

/// The decoded `Subject:` of a message, one line, at most 300 characters.
pub fn subject_of(message: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::new().parse_headers(message);
    let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or_default();
    sanitize(subject, 300).replace(['\n', '\t'], " ")
}

/// Text without control characters (line ends and tabs kept), at most `max` characters.
pub fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .take(max)
        .collect()
}

/// What `show` gives of a message: its header fields (raw values, sanitised) and a text
/// preview of at most `max` characters.
pub fn preview(message: &[u8], max: usize) -> (Vec<(String, String)>, String) {
    let parsed = mail_parser::MessageParser::new().parse(message);
    let Some(parsed) = parsed else { return (Vec::new(), String::new()) };
    let headers = parsed
        .headers_raw()
        .take(200)
        .map(|(name, value)| (sanitize(name, 100), sanitize(value.trim(), 2000).replace(['\n', '\t'], " ")))
        .collect();
    let text = parsed.body_text(0).map(|t| sanitize(&t, max)).unwrap_or_default();
    (headers, text)
}
