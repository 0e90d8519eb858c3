//! The queue manager: decides which message is tried when, and nothing else (Postfix's
//! qmgr). Delivery itself is the [`Transport`]'s job.
//!
//! In: queue ids from the spool (new messages at once, recovered ones with their saved
//! schedule). Out: delivery attempts, per-recipient state, DSNs, and removal of finished
//! messages. Bounded: at most `concurrency` messages in flight and `destination_concurrency`
//! attempts per destination; in memory an index (id, next time, flags) and, for a bounded
//! number of bytes, the messages just spooled and not yet tried ([`Fresh`]): their first
//! attempt takes them from there, every other attempt reads the spool. Deferred mail waits
//! in time order and never blocks new mail: a new message is due at once and takes the
//! next free worker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_core::event::now_ms;
use postern_core::system_mail::Postmaster;
use postern_core::{
    BoxFuture, DeliveryFeedback, Enqueue, Envelope, Event, EventKind, EventSink, Live, QueueId, Reply, SystemMail,
    SystemMailKind,
};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::bounce::{DsnAction, DsnInput, DsnRecipient, build_dsn_parts, wants_dsn};
use crate::state::{DeliveryState, RcptState, RcptStatus, StateDir};
use crate::system_mail::{SpoolMailer, SystemMailWriter};
use crate::transport::{Job, Outcome, RcptResult, Transport};
use crate::{Spool, SpoolError};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub hostname: String,
    pub concurrency: usize,
    pub destination_concurrency: usize,
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub max_queue_lifetime: Duration,
    pub delay_warning: Option<Duration>,
}

/// What [`QueueEntry::state`] may be, in the order queue tools name them.
pub const QUEUE_STATES: [&str; 4] = ["incoming", "active", "deferred", "held"];

/// A message as queue tools see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    #[schema(value_type = String, pattern = "^[0-9A-F]{20}$")]
    pub queue_id: QueueId,
    pub sender: String,
    pub size: u64,
    pub received_at_ms: i64,
    /// `active`, `deferred`, `held` or `incoming` (never tried).
    #[schema(schema_with = queue_state_schema)]
    pub state: &'static str,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub recipients: Vec<QueueRecipient>,
}

/// The OpenAPI schema of a queue state: a string, one of [`QUEUE_STATES`].
pub fn queue_state_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(QUEUE_STATES))
        .description(Some("The queue state: incoming (never tried), active, deferred or held."))
        .build()
}

/// One recipient of a queued message and where its delivery stands.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueRecipient {
    pub address: String,
    pub status: RcptStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    next_ms: i64,
    held: bool,
    active: bool,
    tried: bool,
}

/// At most this many bytes of just-spooled messages wait in memory for their first attempt.
const FRESH_BYTES: usize = 32 << 20;
/// Larger messages are always read back from the spool.
const FRESH_MESSAGE: usize = 256 << 10;

/// Messages handed over by [`Enqueue::enqueue`] after the spool made them durable, for
/// their first attempt: the same envelope and bytes the spool holds, so that attempt needs
/// no trip to the blocking pool, no read and no decoding. Bounded by [`FRESH_BYTES`]; a
/// message that finds it full is read from the spool as before. Entries leave on their
/// first attempt, or when the message is finished, deleted or held.
#[derive(Default)]
struct Fresh {
    messages: HashMap<QueueId, (Envelope, Vec<u8>)>,
    /// Bytes of `messages` plus those reserved by enqueues still waiting for the spool.
    bytes: usize,
}

#[derive(Default)]
struct Index {
    due: BTreeSet<(i64, QueueId)>,
    entries: HashMap<QueueId, Entry>,
}

struct Inner {
    spool: Spool,
    states: StateDir,
    transport: Arc<dyn Transport>,
    events: Arc<dyn EventSink>,
    config: SchedulerConfig,
    /// DSNs go out through it (From the postmaster, copies to external postmasters).
    system_mail: SystemMailWriter,
    index: Mutex<Index>,
    fresh: Mutex<Fresh>,
    wake: Notify,
    workers: Arc<Semaphore>,
    destinations: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Permanent failures of an account's mail go back to its behaviour profile.
    feedback: std::sync::OnceLock<Arc<dyn DeliveryFeedback>>,
}

/// Cheap to clone; every clone is the same queue manager.
#[derive(Clone)]
pub struct QueueManager {
    inner: Arc<Inner>,
}

impl QueueManager {
    pub fn new(
        spool: Spool,
        transport: Arc<dyn Transport>,
        events: Arc<dyn EventSink>,
        config: SchedulerConfig,
    ) -> std::io::Result<QueueManager> {
        let states = StateDir::open(spool.root().join("state"))?;
        let workers = Arc::new(Semaphore::new(config.concurrency));
        let postmaster = Arc::new(Live::new(Postmaster::for_host(&config.hostname)));
        let system_mail = SystemMailWriter::new(config.hostname.clone(), postmaster);
        let inner = Inner {
            spool,
            states,
            transport,
            events,
            config,
            system_mail,
            index: Mutex::new(Index::default()),
            fresh: Mutex::new(Fresh::default()),
            wake: Notify::new(),
            workers,
            destinations: Mutex::new(HashMap::new()),
            feedback: std::sync::OnceLock::new(),
        };
        Ok(QueueManager { inner: Arc::new(inner) })
    }

    /// Where the permanent failures (5xx) of an account's messages are reported, once per
    /// attempt and message (compromise detection); set once, before delivery starts.
    pub fn set_feedback(&self, feedback: Arc<dyn DeliveryFeedback>) {
        if self.inner.feedback.set(feedback).is_err() {
            tracing::warn!("delivery feedback set twice; the first one stays");
        }
    }

    /// Who writes system mail and who gets copies (default: `postmaster@<hostname>`, no
    /// copies); store new settings into it (start-up, reload).
    pub fn postmaster(&self) -> Arc<Live<Postmaster>> {
        Arc::clone(self.inner.system_mail.postmaster())
    }

    /// The mailer for every other writer of system mail (lock notices, abuse reports): the
    /// same settings as this queue manager's DSNs, spooled into this queue.
    pub fn system_mailer(&self) -> SpoolMailer {
        SpoolMailer::new(self.inner.system_mail.clone(), Arc::new(self.clone()))
    }

    /// Takes over messages found at start, each with its saved schedule; removes state
    /// files whose message is gone.
    pub fn adopt(&self, ids: &[QueueId]) {
        let now = now_ms();
        for &id in ids {
            let saved = self.inner.states.schedule(id);
            let (next, held, tried) = match &saved {
                Some(s) => (s.next_attempt_ms, s.held, s.attempts > 0),
                None => (now, false, false),
            };
            self.insert(id, Entry { next_ms: next, held, active: false, tried });
        }
        self.inner.states.keep_only(ids);
        self.inner.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.inner.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, id: QueueId, entry: Entry) {
        let mut index = self.lock();
        if let Some(old) = index.entries.insert(id, entry) {
            index.due.remove(&(old.next_ms, id));
        }
        if !entry.held {
            index.due.insert((entry.next_ms, id));
        }
    }

    fn forget(&self, id: QueueId) {
        {
            let mut index = self.lock();
            if let Some(old) = index.entries.remove(&id) {
                index.due.remove(&(old.next_ms, id));
            }
        }
        drop(self.take_fresh(id));
    }

    fn lock_fresh(&self) -> std::sync::MutexGuard<'_, Fresh> {
        self.inner.fresh.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves room for a copy of a message of `len` bytes; `None`: it is too large or
    /// the room is taken (the message is then read from the spool).
    fn reserve_fresh(&self, len: usize) -> Option<FreshRoom<'_>> {
        if len > FRESH_MESSAGE {
            return None;
        }
        let mut fresh = self.lock_fresh();
        if fresh.bytes + len > FRESH_BYTES {
            return None;
        }
        fresh.bytes += len;
        Some(FreshRoom { queue: self, len })
    }

    fn take_fresh(&self, id: QueueId) -> Option<(Envelope, Vec<u8>)> {
        let mut fresh = self.lock_fresh();
        let taken = fresh.messages.remove(&id)?;
        fresh.bytes = fresh.bytes.saturating_sub(taken.1.len());
        Some(taken)
    }

    /// Runs until `shutdown`; attempts in flight are awaited up to `grace`.
    pub async fn run(&self, shutdown: CancellationToken, grace: Duration) {
        let tracker = tokio_util::task::TaskTracker::new();
        loop {
            let now = now_ms();
            let (ready, next_due) = self.take_due(now);
            for id in ready {
                let permit = tokio::select! {
                    p = Arc::clone(&self.inner.workers).acquire_owned() => p,
                    _ = shutdown.cancelled() => { self.release_active(id); break; }
                };
                let Ok(permit) = permit else { break };
                let this = self.clone();
                tracker.spawn(async move {
                    this.attempt(id).await;
                    drop(permit);
                    this.inner.wake.notify_one();
                });
            }
            if shutdown.is_cancelled() {
                break;
            }
            let wait =
                next_due.map_or(Duration::from_secs(60), |t| Duration::from_millis((t - now).clamp(0, 60_000) as u64));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracker.close();
        let _ = tokio::time::timeout(grace, tracker.wait()).await;
    }

    fn take_due(&self, now: i64) -> (Vec<QueueId>, Option<i64>) {
        let mut index = self.lock();
        let mut ready = Vec::new();
        while let Some(&(t, id)) = index.due.first() {
            if t > now || ready.len() >= self.inner.config.concurrency {
                break;
            }
            index.due.pop_first();
            if let Some(e) = index.entries.get_mut(&id)
                && !e.held
                && !e.active
                && e.next_ms == t
            {
                e.active = true;
                ready.push(id);
            }
        }
        (ready, index.due.first().map(|d| d.0))
    }

    fn release_active(&self, id: QueueId) {
        let mut index = self.lock();
        if let Some(e) = index.entries.get_mut(&id) {
            e.active = false;
            let entry = *e;
            if !entry.held {
                index.due.insert((entry.next_ms, id));
            }
        }
    }

    /// Makes a message due again at `next_ms` (after an attempt).
    fn reschedule(&self, id: QueueId, next_ms: i64, held: bool) {
        self.insert(id, Entry { next_ms, held, active: false, tried: true });
    }

    fn destination_permits(&self, destination: &str) -> Arc<Semaphore> {
        let mut map = self.inner.destinations.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, s| s.available_permits() < self.inner.config.destination_concurrency);
        }
        Arc::clone(
            map.entry(destination.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.config.destination_concurrency))),
        )
    }

    /// One attempt for one message: every pending recipient, grouped by destination.
    async fn attempt(&self, id: QueueId) {
        let read = match self.take_fresh(id) {
            Some(fresh) => Ok(Ok(fresh)),
            None => {
                let spool = self.inner.spool.clone();
                tokio::task::spawn_blocking(move || spool.read(id)).await
            }
        };
        let (envelope, message) = match read {
            Ok(Ok(found)) => found,
            Ok(Err(SpoolError::Corrupt { reason, .. })) => {
                tracing::error!(queue_id = %id, %reason, "spool file corrupt at delivery; moved to corrupt/");
                let _ = self.inner.spool.quarantine_id(id);
                self.inner.states.remove(id);
                self.forget(id);
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(queue_id = %id, error = %e, "cannot read spool file; retrying in a minute");
                self.reschedule(id, now_ms() + 60_000, false);
                return;
            }
            Err(e) => {
                tracing::error!(queue_id = %id, error = %e, "spool read task failed");
                self.reschedule(id, now_ms() + 60_000, false);
                return;
            }
        };
        let envelope = Arc::new(envelope);
        let message = Arc::new(message);
        let n = envelope.recipients.len();
        let mut state = self.inner.states.load(id, n).unwrap_or_else(|| DeliveryState::new(n, now_ms()));
        let lifetime_ms = self.inner.config.max_queue_lifetime.as_millis() as i64;
        let expired = now_ms() - envelope.received_at_ms >= lifetime_ms;

        let mut results = Vec::new();
        if !expired {
            let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for i in state.pending() {
                let dest = self.inner.transport.destination(&envelope, &envelope.recipients[i]);
                groups.entry(dest).or_default().push(i);
            }
            let attempts = groups.into_iter().map(|(destination, recipients)| {
                let permits = self.destination_permits(&destination);
                let job =
                    Job { destination, envelope: Arc::clone(&envelope), message: Arc::clone(&message), recipients };
                async move {
                    let _permit = permits.acquire_owned().await.ok();
                    let destination = job.destination.clone();
                    let started = std::time::Instant::now();
                    let results = self.inner.transport.deliver(job).await;
                    (destination, results, started.elapsed())
                }
            });
            results = futures_util::future::join_all(attempts).await;
        }
        state.attempts += 1;
        let now = now_ms();
        let mut bounced = Vec::new();
        let mut relayed = Vec::new();
        for (destination, group, took) in &results {
            for r in group {
                let Some(slot) = state.recipients.get_mut(r.index) else { continue };
                let status = match r.outcome {
                    Outcome::Delivered => RcptStatus::Delivered,
                    Outcome::Bounced => RcptStatus::Bounced,
                    Outcome::Deferred => RcptStatus::Pending,
                };
                *slot = RcptState { status, reply: Some(r.reply.clone()), remote: r.remote.clone() };
                self.delivery_event(id, &envelope, r, state.attempts, destination, Some(*took)).await;
                match r.outcome {
                    Outcome::Bounced => bounced.push(self.dsn_recipient(&envelope, r, DsnAction::Failed, now, None)),
                    Outcome::Delivered if !r.dsn_passed_on => {
                        relayed.push(self.dsn_recipient(&envelope, r, DsnAction::Relayed, now, None))
                    }
                    _ => {}
                }
            }
        }
        // Recipients refused for good by their servers (not expiries: nothing was
        // answered), for an account's mail.
        let failures = results.iter().flat_map(|(_, group, _)| group).filter(|r| r.outcome == Outcome::Bounced).count();
        if let (Some(feedback), true) = (self.inner.feedback.get(), failures > 0)
            && envelope.owner.as_ref().is_some_and(|o| o.account_id.is_some())
            && envelope.sender.is_some()
        {
            feedback.failed(id, &envelope, u32::try_from(failures).unwrap_or(u32::MAX)).await;
        }
        let out_of_time = now - envelope.received_at_ms >= lifetime_ms;
        if out_of_time {
            for i in state.pending().collect::<Vec<_>>() {
                let last = state.recipients[i].reply.clone().unwrap_or_else(|| "no attempt succeeded".into());
                let lifetime = lifetime_text(self.inner.config.max_queue_lifetime);
                let reply = format!("delivery time expired after {lifetime}; last error: {last}");
                let r = RcptResult {
                    index: i,
                    outcome: Outcome::Bounced,
                    status: "4.4.7".into(),
                    reply: reply.clone(),
                    remote: state.recipients[i].remote.clone(),
                    dsn_passed_on: false,
                };
                state.recipients[i].status = RcptStatus::Bounced;
                state.recipients[i].reply = Some(reply);
                self.delivery_event(id, &envelope, &r, state.attempts, "expired", None).await;
                bounced.push(self.dsn_recipient(&envelope, &r, DsnAction::Failed, now, None));
            }
        }
        self.send_dsn(&envelope, &message, DsnAction::Failed, bounced).await;
        self.send_dsn(&envelope, &message, DsnAction::Relayed, relayed).await;

        if state.is_done() {
            self.finish(id);
            return;
        }
        state.next_attempt_ms = now + self.backoff(state.attempts).as_millis() as i64;
        if let Some(after) = self.inner.config.delay_warning
            && !state.delay_warned
            && now - envelope.received_at_ms >= after.as_millis() as i64
        {
            state.delay_warned = true;
            let until = envelope.received_at_ms + lifetime_ms;
            // Every pending recipient was tried just now: report the status it got.
            let status_of = |i: usize| {
                results.iter().flat_map(|(_, group, _)| group).find(|r| r.index == i).map(|r| r.status.clone())
            };
            let delayed: Vec<DsnRecipient> = state
                .pending()
                .map(|i| {
                    let r = RcptResult {
                        index: i,
                        outcome: Outcome::Deferred,
                        status: status_of(i).unwrap_or_else(|| "4.4.1".into()),
                        reply: state.recipients[i].reply.clone().unwrap_or_default(),
                        remote: state.recipients[i].remote.clone(),
                        dsn_passed_on: false,
                    };
                    self.dsn_recipient(&envelope, &r, DsnAction::Delayed, now, Some(until))
                })
                .collect();
            self.send_dsn(&envelope, &message, DsnAction::Delayed, delayed).await;
        }
        let held = self.lock().entries.get(&id).is_some_and(|e| e.held);
        state.held = held;
        let states_dir = &self.inner.states;
        if let Err(e) = states_dir.save(id, &state) {
            tracing::error!(queue_id = %id, error = %e, "cannot save delivery state; delivered recipients may be retried");
        }
        self.reschedule(id, state.next_attempt_ms, held);
    }

    /// First retry after `retry_first`, doubling, at most `retry_max` apart.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let c = &self.inner.config;
        let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        c.retry_first.saturating_mul(factor).min(c.retry_max)
    }

    fn finish(&self, id: QueueId) {
        if let Err(e) = self.inner.spool.remove(id) {
            tracing::error!(queue_id = %id, error = %e, "cannot remove finished message from the spool");
        }
        self.inner.states.remove(id);
        self.forget(id);
    }

    fn dsn_recipient(
        &self,
        envelope: &Envelope,
        r: &RcptResult,
        action: DsnAction,
        now: i64,
        until: Option<i64>,
    ) -> DsnRecipient {
        DsnRecipient {
            recipient: envelope.recipients[r.index].clone(),
            action,
            status: r.status.clone(),
            diagnostic: Some(r.reply.clone()).filter(|d| !d.is_empty()),
            remote_mta: r.remote.as_ref().map(|m| m.split('[').next().unwrap_or(m).to_string()),
            last_attempt_ms: Some(now),
            will_retry_until_ms: until,
        }
    }

    /// One recipient's result; `took`: the attempt's duration (`None`: nothing was tried).
    async fn delivery_event(
        &self,
        id: QueueId,
        envelope: &Envelope,
        r: &RcptResult,
        attempt: u32,
        destination: &str,
        took: Option<Duration>,
    ) {
        let result = match (r.outcome, destination) {
            (_, "expired") => "expired",
            (Outcome::Delivered, _) => "delivered",
            (Outcome::Deferred, _) => "deferred",
            (Outcome::Bounced, _) => "bounced",
        };
        let kind = EventKind::Delivery {
            recipient: envelope.recipients[r.index].address.to_string(),
            result: result.into(),
            status: r.status.clone(),
            reply: r.reply.clone(),
            remote: r.remote.clone(),
            attempt,
            destination: destination.to_string(),
            duration_ms: took.map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64),
            // Zero: an envelope that never had its receive time set.
            queued_at_ms: Some(envelope.received_at_ms).filter(|&t| t > 0),
        };
        let event = Event { at_ms: now_ms(), session: 0, client_ip: envelope.client.ip, queue_id: Some(id), kind };
        self.inner.events.emit(event).await;
    }

    /// Queues a DSN to the envelope sender for the recipients that asked for one.
    async fn send_dsn(&self, envelope: &Envelope, message: &[u8], action: DsnAction, recipients: Vec<DsnRecipient>) {
        let recipients: Vec<DsnRecipient> =
            recipients.into_iter().filter(|r| wants_dsn(&r.recipient, action)).collect();
        if recipients.is_empty() {
            return;
        }
        let Some(sender) = envelope.sender.clone() else {
            tracing::info!(queue_id = %envelope.queue_id, "no DSN: the message has the null sender");
            return;
        };
        // Backscatter: anyone may send to an inbound relay domain with any sender; a DSN
        // would carry their text to an address they chose. The delivery events say it all.
        if envelope.owner.as_ref().is_some_and(postern_core::Owner::is_inbound_relay) {
            tracing::info!(queue_id = %envelope.queue_id, to = %sender, "no DSN: inbound relay mail (its sender is unverified)");
            return;
        }
        let input = DsnInput {
            reporting_mta: &self.inner.config.hostname,
            envelope,
            recipients: &recipients,
            original: message,
            // Only names the boundary here; the DSN's own queue id comes from the mailer.
            dsn_queue_id: QueueId::generate(),
            now_ms: now_ms(),
        };
        let Some(parts) = build_dsn_parts(&input) else { return };
        let mail = SystemMail {
            kind: SystemMailKind::Dsn,
            to: vec![sender.clone()],
            subject: parts.subject.to_string(),
            mime_headers: parts.mime_headers,
            body: parts.body,
        };
        // Through the system mailer: From the postmaster, copies to the external
        // postmasters, the null sender. Our own message, shown to the tenant whose message
        // bounced.
        let sent = self.inner.system_mail.send(self, mail, envelope.owner.clone()).await;
        match sent {
            Ok(dsn_id) => {
                let kind = EventKind::Dsn {
                    dsn_queue_id: dsn_id.to_string(),
                    action: action.keyword().into(),
                    to: sender.to_string(),
                    recipients: recipients.iter().map(|r| r.recipient.address.to_string()).collect(),
                };
                let event = Event {
                    at_ms: now_ms(),
                    session: 0,
                    client_ip: envelope.client.ip,
                    queue_id: Some(envelope.queue_id),
                    kind,
                };
                self.inner.events.emit(event).await;
            }
            Err(reply) => tracing::error!(queue_id = %envelope.queue_id, reply = %reply.summary(), "cannot queue DSN"),
        }
    }

    // ---- queue tools ----

    /// Messages in the queue, oldest first, filtered. Reads each listed message's envelope.
    pub fn list(&self, filter: &QueueFilter) -> Vec<QueueEntry> {
        let mut ids: Vec<(QueueId, Entry)> = self.lock().entries.iter().map(|(k, v)| (*k, *v)).collect();
        ids.sort_by_key(|(id, _)| *id);
        let limit = if filter.limit == 0 { 1000 } else { filter.limit };
        let mut out = Vec::new();
        for (id, entry) in ids {
            if out.len() >= limit {
                break;
            }
            let Ok((envelope, _)) = self.inner.spool.read(id) else { continue };
            if filter.scope.as_ref().is_some_and(|domains| !envelope.belongs_to_any(domains)) {
                continue;
            }
            let e = self.entry_of(id, entry, &envelope);
            if filter.matches(&e) {
                out.push(e);
            }
        }
        out
    }

    pub fn show(&self, id: QueueId) -> Option<QueueEntry> {
        let entry = *self.lock().entries.get(&id)?;
        let (envelope, _) = self.inner.spool.read(id).ok()?;
        Some(self.entry_of(id, entry, &envelope))
    }

    /// The envelope of a queued message (to check whose it is); `None`: not in the queue.
    pub fn envelope(&self, id: QueueId) -> Option<Envelope> {
        if !self.lock().entries.contains_key(&id) {
            return None;
        }
        self.inner.spool.read(id).ok().map(|(envelope, _)| envelope)
    }

    /// A queued message's envelope and bytes (headers and body as spooled); `None`: not in
    /// the queue.
    pub fn content(&self, id: QueueId) -> Option<(Envelope, Vec<u8>)> {
        if !self.lock().entries.contains_key(&id) {
            return None;
        }
        self.inner.spool.read(id).ok()
    }

    /// Bytes of just-spooled messages held in memory for their first attempt (at most
    /// 32 MiB; a copy of what the spool holds, never the only one).
    pub fn fresh_bytes(&self) -> usize {
        self.lock_fresh().bytes
    }

    /// How many messages the queue holds now.
    pub fn queued(&self) -> usize {
        self.lock().entries.len()
    }

    /// How many messages are in each state now (as [`QueueEntry::state`] names them), from
    /// the index alone: no spool file is read, so a metrics scrape may call it often.
    pub fn counts_by_state(&self) -> QueueCounts {
        let index = self.lock();
        let mut counts = QueueCounts::default();
        for e in index.entries.values() {
            let slot = match (e.held, e.active, e.tried) {
                (true, _, _) => &mut counts.held,
                (false, true, _) => &mut counts.active,
                (false, false, true) => &mut counts.deferred,
                (false, false, false) => &mut counts.incoming,
            };
            *slot += 1;
        }
        counts
    }

    fn entry_of(&self, id: QueueId, entry: Entry, envelope: &Envelope) -> QueueEntry {
        let state = self.inner.states.load(id, envelope.recipients.len());
        let recipients = envelope
            .recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let s = state.as_ref().and_then(|s| s.recipients.get(i));
                QueueRecipient {
                    address: r.address.to_string(),
                    status: s.map_or(RcptStatus::Pending, |s| s.status),
                    reply: s.and_then(|s| s.reply.clone()),
                }
            })
            .collect();
        let label = if entry.held {
            "held"
        } else if entry.active {
            "active"
        } else if entry.tried {
            "deferred"
        } else {
            "incoming"
        };
        QueueEntry {
            queue_id: id,
            sender: envelope.sender_display(),
            size: envelope.size,
            received_at_ms: envelope.received_at_ms,
            state: label,
            attempts: state.as_ref().map_or(0, |s| s.attempts),
            next_attempt_ms: entry.next_ms,
            recipients,
        }
    }

    /// Makes a message due now (also releases a hold). False: no such message.
    pub fn retry(&self, id: QueueId) -> bool {
        let found = {
            let mut index = self.lock();
            match index.entries.get(&id).copied() {
                Some(e) => {
                    index.due.remove(&(e.next_ms, id));
                    let now = now_ms();
                    index.entries.insert(id, Entry { next_ms: now, held: false, ..e });
                    if !e.active {
                        index.due.insert((now, id));
                    }
                    true
                }
                None => false,
            }
        };
        self.persist_hold(id, false);
        self.inner.wake.notify_one();
        found
    }

    pub fn retry_all(&self) -> usize {
        let ids: Vec<QueueId> = self.lock().entries.iter().filter(|(_, e)| !e.held).map(|(k, _)| *k).collect();
        ids.iter().filter(|id| self.retry(**id)).count()
    }

    /// Holds a message: it is not tried until released.
    pub fn hold(&self, id: QueueId) -> bool {
        let found = {
            let mut index = self.lock();
            match index.entries.get(&id).copied() {
                Some(e) => {
                    index.due.remove(&(e.next_ms, id));
                    index.entries.insert(id, Entry { held: true, ..e });
                    true
                }
                None => false,
            }
        };
        // A held message may wait for days: its copy would only take the room of others.
        drop(self.take_fresh(id));
        if found {
            self.persist_hold(id, true);
        }
        found
    }

    pub fn release(&self, id: QueueId) -> bool {
        let held = self.lock().entries.get(&id).is_some_and(|e| e.held);
        held && self.retry(id)
    }

    /// Deletes a message without a DSN. False: no such message, or it is being tried now.
    pub fn delete(&self, id: QueueId) -> bool {
        let deletable = self.lock().entries.get(&id).is_some_and(|e| !e.active);
        if deletable {
            self.finish(id);
        }
        deletable
    }

    fn persist_hold(&self, id: QueueId, held: bool) {
        let Ok((envelope, _)) = self.inner.spool.read(id) else { return };
        let n = envelope.recipients.len();
        let mut state = self.inner.states.load(id, n).unwrap_or_else(|| DeliveryState::new(n, now_ms()));
        if state.held != held {
            state.held = held;
            if let Some(e) = self.lock().entries.get(&id) {
                state.next_attempt_ms = e.next_ms;
            }
            if let Err(e) = self.inner.states.save(id, &state) {
                tracing::error!(queue_id = %id, error = %e, "cannot save hold state");
            }
        }
    }
}

/// `max_queue_lifetime` for people: "5 days", "90 minutes", "3 seconds" (the largest unit
/// that divides it, so nothing is rounded away).
fn lifetime_text(lifetime: Duration) -> String {
    let secs = lifetime.as_secs();
    let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| secs >= *size && secs.is_multiple_of(*size))
        .map_or((secs, "second"), |(size, unit)| (secs / size, unit));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Messages per state ([`QueueManager::counts_by_state`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Never tried yet.
    pub incoming: u64,
    /// Being tried now.
    pub active: u64,
    /// Tried, waiting for the next attempt.
    pub deferred: u64,
    /// Held by an administrator.
    pub held: u64,
}

/// Filters for [`QueueManager::list`]; every given field must match.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFilter {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// Matches the sender's or any recipient's domain.
    pub domain: Option<String>,
    pub state: Option<String>,
    #[serde(default)]
    pub limit: usize,
    /// Only messages that belong to one of these domains ([`Envelope::belongs_to_any`]);
    /// `None`: every message. Set from the caller's role, never from a query parameter.
    #[serde(skip)]
    pub scope: Option<Vec<String>>,
}

impl QueueFilter {
    fn matches(&self, e: &QueueEntry) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let domain_of = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
        self.sender.as_deref().is_none_or(|s| eq(s, &e.sender))
            && self.recipient.as_deref().is_none_or(|r| e.recipients.iter().any(|x| eq(r, &x.address)))
            && self.domain.as_deref().is_none_or(|d| {
                eq(d, &domain_of(&e.sender)) || e.recipients.iter().any(|x| eq(d, &domain_of(&x.address)))
            })
            && self.state.as_deref().is_none_or(|s| s == e.state)
    }
}

/// Room reserved in [`Fresh`] for one message: filled by [`FreshRoom::keep`], given back
/// when dropped unfilled (the spool refused the message, or the enqueue was abandoned).
struct FreshRoom<'a> {
    queue: &'a QueueManager,
    len: usize,
}

impl FreshRoom<'_> {
    fn keep(mut self, envelope: Envelope, bytes: Vec<u8>) {
        let mut fresh = self.queue.lock_fresh();
        // The room now belongs to the entry: `take_fresh` gives it back.
        let reserved = std::mem::take(&mut self.len);
        fresh.bytes = fresh.bytes.saturating_sub(reserved) + bytes.len();
        if let Some((_, old)) = fresh.messages.insert(envelope.queue_id, (envelope, bytes)) {
            fresh.bytes = fresh.bytes.saturating_sub(old.len());
        }
    }
}

impl Drop for FreshRoom<'_> {
    fn drop(&mut self) {
        if self.len > 0 {
            let mut fresh = self.queue.lock_fresh();
            fresh.bytes = fresh.bytes.saturating_sub(self.len);
        }
    }
}

/// New messages go to the spool and are due at once; a copy waits for the first attempt
/// when there is room ([`Fresh`]).
impl Enqueue for QueueManager {
    fn enqueue(&self, envelope: Envelope, head: Vec<u8>, body: Vec<u8>) -> BoxFuture<'_, Result<(), Reply>> {
        Box::pin(async move {
            let id = envelope.queue_id;
            let copy = self
                .reserve_fresh(head.len() + body.len())
                .map(|room| (room, envelope.clone(), [head.as_slice(), body.as_slice()].concat()));
            self.inner.spool.enqueue(envelope, head, body).await?;
            if let Some((room, envelope, bytes)) = copy {
                room.keep(envelope, bytes);
            }
            self.insert(id, Entry { next_ms: now_ms(), held: false, active: false, tried: false });
            self.inner.wake.notify_one();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::lifetime_text;
    use std::time::Duration;

    #[test]
    fn lifetime_in_the_largest_exact_unit() {
        let text = |s| lifetime_text(Duration::from_secs(s));
        assert_eq!(text(432_000), "5 days");
        assert_eq!(text(86_400), "1 day");
        assert_eq!(text(7_200), "2 hours");
        assert_eq!(text(5_400), "90 minutes");
        assert_eq!(text(3), "3 seconds");
        assert_eq!(text(1), "1 second");
        assert_eq!(text(90_061), "90061 seconds");
    }
}
