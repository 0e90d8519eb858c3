//! The summary rows of log search for PostgreSQL, folded in memory over one batch of
//! events: the same rules as SQLite's `sqlite/log_ingest.rs` (the same conformance suite
//! checks both), computed on values instead of statement by statement, so that a batch
//! costs a fixed number of round trips whatever its size (`log_write` loads, this folds,
//! `log_write` writes).
//!
//! In: the rows and recipients the batch's events name, as loaded (locked) from the
//! database, and the batch's events with the ids taken for them. Out: the rows made or
//! changed, the rows to delete (a refusal adopted by its message's row), the recipients
//! made or changed, and the batch's hour counts ([`Tally`]).
//!
//! Defends against: events out of order (phases never move back, see `log_state`), rows
//! growing without bound (texts bounded, at most [`MAX_RECIPIENTS`] recipients a message),
//! and another node's sessions (a refusal is adopted only by the same writer's session).

use std::collections::HashMap;

use postern_core::event::{MAX_SUBJECT, printable_line};
use postern_core::{Disposition, Event, EventKind, MessageFacts, QueueId};

use crate::log::{HourCounts, RecipientCounts, message_key};
use crate::log_state::{self, Happened, MessageStatus, Phase};
use crate::{BackendErrorKind, Result, StoreError};

/// How long after the pipeline's refusal its `checked` event may come to adopt it.
pub(super) const ADOPT_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most recipients recorded for one message.
const MAX_RECIPIENTS: usize = 10_000;
/// The most characters of a rule or a reply in a row.
const MAX_TEXT: usize = 500;
/// The domains of an hour's total row: no domain is `*`.
pub(super) const TOTAL: &str = "*";

/// A `messages` row.
#[derive(Debug, Clone)]
pub(super) struct MessageRow {
    pub id: i64,
    pub queue_id: Option<String>,
    pub refused_event: Option<i64>,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
    pub session: i64,
    pub client_ip: String,
    pub writer: i64,
    pub account: Option<String>,
    pub account_domain: Option<String>,
    pub sender_domain: Option<String>,
    pub identity: Option<String>,
    pub sender: Option<String>,
    pub message_id: Option<String>,
    pub message_key: Option<String>,
    pub subject: Option<String>,
    pub size: Option<i64>,
    pub phase: Phase,
    pub status: MessageStatus,
    pub stage: Option<String>,
    pub rule: Option<String>,
    pub reply: Option<String>,
    pub recipient_count: u32,
    pub counts: RecipientCounts,
    pub attempts: u32,
}

/// A `message_recipients` row's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecipientState {
    pub state: String,
    pub attempt: u32,
}

/// One batch being folded.
pub(super) struct Fold {
    writer: i64,
    rows: Vec<MessageRow>,
    changed: Vec<bool>,
    deleted: Vec<bool>,
    by_queue: HashMap<String, usize>,
    recipients: HashMap<(i64, String), (RecipientState, bool)>,
    new_ids: std::vec::IntoIter<i64>,
    tally: Tally,
}

/// What a batch writes.
pub(super) struct Folded {
    pub rows: Vec<MessageRow>,
    pub deleted: Vec<i64>,
    pub recipients: Vec<(i64, String, RecipientState)>,
    pub hours: Vec<(i64, String, String, HourCounts)>,
}

/// The queue ids a batch's events name (their own, and a DSN's), each once.
pub(super) fn queue_ids(events: &[Event]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for e in events {
        ids.extend(e.queue_id.map(|q| q.to_string()));
        if let EventKind::Dsn { dsn_queue_id, .. } = &e.kind {
            ids.extend(QueueId::parse(dsn_queue_id).map(|q| q.to_string()));
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The (queue id, recipient) pairs whose state the batch may read, lower case.
pub(super) fn named_recipients(events: &[Event]) -> (Vec<String>, Vec<String>) {
    let mut pairs = Vec::new();
    for e in events {
        let Some(q) = e.queue_id else { continue };
        let q = q.to_string();
        let named: Vec<&String> = match &e.kind {
            EventKind::Queued { recipients, .. } | EventKind::Discarded { recipients, .. } => {
                recipients.iter().take(MAX_RECIPIENTS).collect()
            }
            EventKind::Checked { message: Some(m), .. } => m.recipients.iter().take(MAX_RECIPIENTS).collect(),
            EventKind::Delivery { recipient, .. } => vec![recipient],
            EventKind::Dsn { dsn_queue_id, to, .. } => {
                if let Some(dsn) = QueueId::parse(dsn_queue_id) {
                    pairs.push((dsn.to_string(), to.to_lowercase()));
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        pairs.extend(named.into_iter().map(|r| (q.clone(), r.to_lowercase())));
    }
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().unzip()
}

/// The (session, client) pairs whose refusals a `checked` event of the batch may adopt,
/// and the earliest time such a refusal may have.
pub(super) fn adoptable_sessions(events: &[Event]) -> Option<(Vec<i64>, Vec<String>, i64)> {
    let mut pairs = Vec::new();
    let mut since = i64::MAX;
    for e in events {
        if let (EventKind::Checked { disposition, .. }, Some(_)) = (&e.kind, e.queue_id)
            && *disposition != Disposition::Deliver
        {
            pairs.push((e.session as i64, e.client_ip.to_string()));
            since = since.min(e.at_ms.saturating_sub(ADOPT_WINDOW_MS));
        }
    }
    pairs.sort();
    pairs.dedup();
    if pairs.is_empty() {
        return None;
    }
    let (sessions, clients) = pairs.into_iter().unzip();
    Some((sessions, clients, since))
}

/// How many rows a batch may make at most: one per refusal and per queue id.
pub(super) fn most_new_rows(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e.kind, EventKind::Refused { .. })).count() + queue_ids(events).len()
}

impl Fold {
    /// A fold over `rows` (loaded and locked) and `recipients` (loaded), making new rows
    /// with `new_ids`.
    pub fn new(
        writer: i64,
        rows: Vec<MessageRow>,
        recipients: Vec<(i64, String, RecipientState)>,
        new_ids: Vec<i64>,
    ) -> Fold {
        let by_queue = rows.iter().enumerate().filter_map(|(i, r)| r.queue_id.clone().map(|q| (q, i))).collect();
        let n = rows.len();
        Fold {
            writer,
            rows,
            changed: vec![false; n],
            deleted: vec![false; n],
            by_queue,
            recipients: recipients.into_iter().map(|(id, r, s)| ((id, r), (s, false))).collect(),
            new_ids: new_ids.into_iter(),
            tally: Tally::default(),
        }
    }

    /// Everything the batch changed.
    pub fn finish(self) -> Folded {
        let mut deleted_ids = Vec::new();
        let mut rows = Vec::new();
        for (i, row) in self.rows.into_iter().enumerate() {
            if self.deleted[i] {
                deleted_ids.push(row.id);
            } else if self.changed[i] {
                rows.push(row);
            }
        }
        let mut recipients: Vec<(i64, String, RecipientState)> = self
            .recipients
            .into_iter()
            .filter(|((id, _), (_, changed))| *changed && !deleted_ids.contains(id))
            .map(|((id, r), (s, _))| (id, r, s))
            .collect();
        recipients.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        rows.sort_by_key(|r| r.id);
        Folded { rows, deleted: deleted_ids, recipients, hours: self.tally.rows() }
    }

    /// Updates the summary for one event stored as `event_id`, and counts it.
    pub fn record(&mut self, event_id: i64, e: &Event) -> Result<()> {
        match (&e.kind, e.queue_id) {
            (EventKind::Refused { reason, .. }, _) if reason.starts_with("would refuse (monitor)") => Ok(()),
            (EventKind::Refused { .. }, _) => self.refused(event_id, e),
            (EventKind::Checked { disposition, checks, message }, Some(q)) => {
                if *disposition != Disposition::Deliver {
                    self.adopt_refusal(q, e);
                }
                let decided = log_state::deciding_check(*disposition, checks);
                let facts = message.as_deref();
                // As in SQLite: a delivered message is counted as checked by its `queued` event.
                if *disposition != Disposition::Deliver {
                    let hour = self.tally.at(
                        e.at_ms,
                        facts.and_then(|m| m.domain.as_deref()),
                        facts.and_then(|m| m.sender_domain.as_deref()),
                    );
                    hour.checked += 1;
                    hour.quarantined += u64::from(*disposition == Disposition::Quarantine);
                    hour.spam += u64::from(decided.is_some_and(|c| c.result != "failed"));
                }
                let change = Change {
                    happened: Some(Happened::Checked(*disposition)),
                    facts: facts.map(Facts::from_message),
                    rule: decided.map(log_state::rule_of),
                    ..Change::default()
                };
                self.touch(q, e, change, true).map(drop)
            }
            (
                EventKind::Queued {
                    sender,
                    recipients,
                    size,
                    message_id,
                    subject,
                    account,
                    domain,
                    sender_domain,
                    identity,
                    ..
                },
                Some(q),
            ) => {
                let facts = Facts {
                    sender: Some(sender),
                    recipients,
                    size: Some(*size),
                    message_id: message_id.as_deref(),
                    subject: subject.as_deref(),
                    account: account.as_deref(),
                    domain: domain.as_deref(),
                    sender_domain: sender_domain.as_deref(),
                    identity: identity.as_deref(),
                };
                let hour = self.tally.at(e.at_ms, domain.as_deref(), sender_domain.as_deref());
                hour.received += 1;
                hour.checked += 1;
                let change = Change { happened: Some(Happened::Queued), facts: Some(facts), ..Change::default() };
                self.touch(q, e, change, true).map(drop)
            }
            (EventKind::Discarded { rule, sender, recipients, account, domain, sender_domain, identity }, Some(q)) => {
                let facts = Facts {
                    sender: Some(sender),
                    recipients,
                    account: account.as_deref(),
                    domain: domain.as_deref(),
                    sender_domain: sender_domain.as_deref(),
                    identity: identity.as_deref(),
                    ..Facts::default()
                };
                self.tally.at(e.at_ms, domain.as_deref(), sender_domain.as_deref()).discarded += 1;
                let change = Change {
                    happened: Some(Happened::Discarded),
                    facts: Some(facts),
                    rule: Some(format!("list rule {rule}")),
                    ..Change::default()
                };
                self.touch(q, e, change, true).map(drop)
            }
            (EventKind::Delivery { recipient, result, reply, attempt, .. }, Some(q)) => {
                let change = Change {
                    happened: Some(Happened::Delivery),
                    reply: Some(reply),
                    attempt: Some(*attempt),
                    delivery: log_state::recipient_state(result).map(|state| (recipient.as_str(), state, *attempt)),
                    ..Change::default()
                };
                let domains = self.touch(q, e, change, true)?;
                let (account_domain, sender_domain) = domains.unwrap_or_default();
                let hour = self.tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref());
                match result.as_str() {
                    "delivered" => hour.delivered += 1,
                    "deferred" => hour.deferred += 1,
                    "bounced" | "expired" => hour.bounced += 1,
                    _ => {}
                }
                Ok(())
            }
            (EventKind::Dsn { dsn_queue_id, to, .. }, Some(q)) => self.dsn(q, dsn_queue_id, to, e),
            (EventKind::Quarantine { action, .. }, Some(q)) => {
                let happened = match action.as_str() {
                    "released" => Some(Happened::Released),
                    "deleted" => Some(Happened::Deleted),
                    "purged" => Some(Happened::Purged),
                    _ => None,
                };
                // Held: the `checked` event that follows makes the row.
                self.touch(q, e, Change { happened, ..Change::default() }, false).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// A fresh row id, from those taken for the batch.
    fn new_id(&mut self) -> Result<i64> {
        self.new_ids.next().ok_or_else(|| {
            StoreError::backend(BackendErrorKind::Failed, "log search: more new rows than ids taken for the batch")
        })
    }

    fn push(&mut self, row: MessageRow) -> usize {
        if let Some(q) = &row.queue_id {
            self.by_queue.insert(q.clone(), self.rows.len());
        }
        self.rows.push(row);
        self.changed.push(true);
        self.deleted.push(false);
        self.rows.len() - 1
    }

    /// The row of queue id `q` (made when `create` and there is none), changed as
    /// `change` says. Returns the row's domains as they were, or `None` when there was
    /// no row to update.
    fn touch(&mut self, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>> {
        let queue_id = q.to_string();
        let at = match self.by_queue.get(&queue_id) {
            Some(&at) => {
                if e.at_ms < self.rows[at].first_at_ms {
                    // An event older than the row (the scheduler's, stored first): rare.
                    self.rows[at].first_at_ms = e.at_ms;
                }
                at
            }
            None if create => {
                let id = self.new_id()?;
                self.push(MessageRow {
                    id,
                    queue_id: Some(queue_id),
                    refused_event: None,
                    first_at_ms: e.at_ms,
                    last_at_ms: e.at_ms,
                    session: e.session as i64,
                    client_ip: e.client_ip.to_string(),
                    writer: self.writer,
                    account: None,
                    account_domain: None,
                    sender_domain: None,
                    identity: None,
                    sender: None,
                    message_id: None,
                    message_key: None,
                    subject: None,
                    size: None,
                    phase: Phase::New,
                    status: MessageStatus::Received,
                    stage: None,
                    rule: None,
                    reply: None,
                    recipient_count: 0,
                    counts: RecipientCounts::default(),
                    attempts: 0,
                })
            }
            None => return Ok(None),
        };
        self.changed[at] = true;
        let domains = (self.rows[at].account_domain.clone(), self.rows[at].sender_domain.clone());
        if let Some(facts) = &change.facts {
            self.write_facts(at, e, facts);
        }
        if let Some((recipient, state, attempt)) = change.delivery {
            self.deliver(at, &recipient.to_lowercase(), state, attempt);
        }
        let row = &mut self.rows[at];
        row.phase = change.happened.map_or(row.phase, |h| log_state::next_phase(row.phase, h));
        row.status = log_state::status(row.phase, &row.counts);
        let c = row.counts;
        row.last_at_ms = row.last_at_ms.max(e.at_ms);
        row.recipient_count = c.pending + c.deferred + c.delivered + c.bounced + c.expired;
        if let Some(rule) = change.rule {
            row.rule = Some(bounded(&rule, MAX_TEXT));
        }
        if let Some(reply) = change.reply {
            row.reply = Some(bounded(reply, MAX_TEXT));
        }
        row.attempts = row.attempts.max(change.attempt.unwrap_or(0));
        Ok(Some(domains))
    }

    /// The envelope and attribution an event gives, and its recipients (`pending` until
    /// a delivery says otherwise).
    fn write_facts(&mut self, at: usize, e: &Event, f: &Facts<'_>) {
        let id = self.rows[at].id;
        for recipient in f.recipients.iter().take(MAX_RECIPIENTS) {
            let key = (id, recipient.to_lowercase());
            if let std::collections::hash_map::Entry::Vacant(new) = self.recipients.entry(key) {
                new.insert((RecipientState { state: "pending".into(), attempt: 0 }, true));
                self.rows[at].counts.pending += 1;
            }
        }
        let row = &mut self.rows[at];
        if row.session == 0 {
            row.session = e.session as i64;
        }
        let keep = |new: Option<String>, old: &mut Option<String>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(f.sender.map(str::to_lowercase), &mut row.sender);
        if let Some(size) = f.size {
            row.size = Some(i64::try_from(size).unwrap_or(i64::MAX));
        }
        keep(f.message_id.map(|m| bounded(m, 998)), &mut row.message_id);
        keep(f.message_id.and_then(message_key), &mut row.message_key);
        keep(f.subject.and_then(|s| printable_line(s, MAX_SUBJECT)), &mut row.subject);
        keep(f.account.map(str::to_string), &mut row.account);
        keep(f.domain.map(domain), &mut row.account_domain);
        keep(f.sender_domain.map(domain), &mut row.sender_domain);
        keep(f.identity.map(str::to_string), &mut row.identity);
    }

    /// One recipient's delivery result, unless a later attempt's is already recorded;
    /// the counts follow.
    fn deliver(&mut self, at: usize, recipient: &str, state: &'static str, attempt: u32) {
        let key = (self.rows[at].id, recipient.to_string());
        let counts = &mut self.rows[at].counts;
        match self.recipients.get_mut(&key) {
            Some((before, _)) if before.attempt > attempt => return,
            Some((before, changed)) => {
                if let Some(n) = count_of(counts, &before.state) {
                    *n = n.saturating_sub(1);
                }
                *before = RecipientState { state: state.into(), attempt };
                *changed = true;
            }
            None => {
                self.recipients.insert(key, (RecipientState { state: state.into(), attempt }, true));
            }
        }
        if let Some(n) = count_of(counts, state) {
            *n += 1;
        }
    }

    /// A refusal without a queue id: a row of its own, `rejected` at its stage.
    fn refused(&mut self, event_id: i64, e: &Event) -> Result<()> {
        let EventKind::Refused { stage, reply, reason, sender, recipient, account, domain: account_domain } = &e.kind
        else {
            return Ok(());
        };
        let sender = sender.as_deref().map(str::to_lowercase);
        let sender_domain = sender.as_deref().and_then(|s| s.rsplit_once('@')).map(|(_, d)| domain(d));
        self.tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref()).refused += 1;
        let stage = serde_json::to_value(stage)?.as_str().unwrap_or("").to_string();
        let id = self.new_id()?;
        self.push(MessageRow {
            id,
            queue_id: None,
            refused_event: Some(event_id),
            first_at_ms: e.at_ms,
            last_at_ms: e.at_ms,
            session: e.session as i64,
            client_ip: e.client_ip.to_string(),
            writer: self.writer,
            account: account.clone(),
            account_domain: account_domain.as_deref().map(domain),
            sender_domain,
            identity: None,
            sender,
            message_id: None,
            message_key: None,
            subject: None,
            size: None,
            phase: Phase::Rejected,
            status: MessageStatus::Rejected,
            stage: Some(stage),
            rule: Some(bounded(reason, MAX_TEXT)),
            reply: Some(bounded(reply, MAX_TEXT)),
            recipient_count: u32::from(recipient.is_some()),
            counts: RecipientCounts::default(),
            attempts: 0,
        });
        if let Some(recipient) = recipient {
            let state = RecipientState { state: "refused".into(), attempt: 0 };
            self.recipients.entry((id, recipient.to_lowercase())).or_insert((state, true));
        }
        Ok(())
    }

    /// The pipeline refused message `q` (its `checked` event is being stored): the
    /// refusal row this writer made just before, in the same session, becomes the
    /// message's row.
    fn adopt_refusal(&mut self, q: QueueId, e: &Event) {
        let (session, client) = (e.session as i64, e.client_ip.to_string());
        let since = e.at_ms.saturating_sub(ADOPT_WINDOW_MS);
        let refusal = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                !self.deleted[i]
                    && r.queue_id.is_none()
                    && r.writer == self.writer
                    && r.session == session
                    && r.client_ip == client
                    && r.phase == Phase::Rejected
                    && matches!(r.stage.as_deref(), Some("data" | "queue"))
                    && r.first_at_ms >= since
            })
            .max_by_key(|&i| self.rows[i].id);
        let Some(refusal) = refusal else { return };
        let queue_id = q.to_string();
        match self.by_queue.get(&queue_id).copied() {
            None => {
                let row = &mut self.rows[refusal];
                row.queue_id = Some(queue_id.clone());
                row.phase = Phase::New;
                self.changed[refusal] = true;
                self.by_queue.insert(queue_id, refusal);
            }
            Some(at) => {
                let r = self.rows[refusal].clone();
                let row = &mut self.rows[at];
                row.stage = r.stage;
                row.reply = r.reply;
                row.rule = row.rule.take().or(r.rule);
                row.refused_event = r.refused_event;
                row.first_at_ms = row.first_at_ms.min(r.first_at_ms);
                self.changed[at] = true;
                self.deleted[refusal] = true;
            }
        }
    }

    /// A DSN about message `q` was queued as `dsn_queue_id`: `q`'s row notes the
    /// activity, and the DSN gets a row of its own, to the original sender, under `q`'s
    /// account and domains (its tenant sees it), from the null sender.
    fn dsn(&mut self, q: QueueId, dsn_queue_id: &str, to: &str, e: &Event) -> Result<()> {
        self.touch(q, e, Change::default(), false)?;
        let Some(dsn) = QueueId::parse(dsn_queue_id) else { return Ok(()) };
        let owner = self.by_queue.get(&q.to_string()).map(|&i| self.rows[i].clone());
        let recipients = [to.to_string()];
        let facts = Facts {
            sender: Some(""),
            recipients: &recipients,
            account: owner.as_ref().and_then(|o| o.account.as_deref()),
            domain: owner.as_ref().and_then(|o| o.account_domain.as_deref()),
            sender_domain: owner.as_ref().and_then(|o| o.sender_domain.as_deref()),
            identity: owner.as_ref().and_then(|o| o.identity.as_deref()),
            ..Facts::default()
        };
        let change = Change { happened: Some(Happened::Queued), facts: Some(facts), ..Change::default() };
        self.touch(dsn, &Event { session: 0, ..e.clone() }, change, true).map(drop)
    }
}

/// A row's (account domain, sender domain).
type Domains = (Option<String>, Option<String>);

/// What an event says about a message's envelope and attribution.
#[derive(Default)]
struct Facts<'a> {
    sender: Option<&'a str>,
    recipients: &'a [String],
    size: Option<u64>,
    message_id: Option<&'a str>,
    subject: Option<&'a str>,
    account: Option<&'a str>,
    domain: Option<&'a str>,
    sender_domain: Option<&'a str>,
    identity: Option<&'a str>,
}

impl<'a> Facts<'a> {
    fn from_message(m: &'a MessageFacts) -> Facts<'a> {
        Facts {
            sender: Some(&m.sender),
            recipients: &m.recipients,
            size: Some(m.size),
            message_id: m.message_id.as_deref(),
            subject: m.subject.as_deref(),
            account: m.account.as_deref(),
            domain: m.domain.as_deref(),
            sender_domain: m.sender_domain.as_deref(),
            identity: m.identity.as_deref(),
        }
    }
}

/// What one event changes in its message's row.
#[derive(Default)]
struct Change<'a> {
    happened: Option<Happened>,
    facts: Option<Facts<'a>>,
    rule: Option<String>,
    reply: Option<&'a str>,
    attempt: Option<u32>,
    /// One recipient's new state: (address, state, attempt).
    delivery: Option<(&'a str, &'static str, u32)>,
}

fn count_of<'a>(counts: &'a mut RecipientCounts, state: &str) -> Option<&'a mut u32> {
    match state {
        "pending" => Some(&mut counts.pending),
        "deferred" => Some(&mut counts.deferred),
        "delivered" => Some(&mut counts.delivered),
        "bounced" => Some(&mut counts.bounced),
        "expired" => Some(&mut counts.expired),
        _ => None,
    }
}

/// A batch's [`HourCounts`] per (hour, account domain, sender domain), and each hour's
/// total under ([`TOTAL`], [`TOTAL`]): one upsert row per key and batch.
#[derive(Default)]
struct Tally(HashMap<(i64, String, String), HourCounts>);

impl Tally {
    /// The counts of the hour of `at_ms` under these domains (`''` for none).
    fn at(&mut self, at_ms: i64, account_domain: Option<&str>, sender_domain: Option<&str>) -> &mut HourCounts {
        let hour = at_ms.div_euclid(HourCounts::HOUR_MS);
        let key = (hour, account_domain.map(domain).unwrap_or_default(), sender_domain.map(domain).unwrap_or_default());
        self.0.entry(key).or_insert_with(|| HourCounts { hour_ms: hour * HourCounts::HOUR_MS, ..HourCounts::default() })
    }

    /// Every key's counts and each hour's total, in key order (two nodes' batches lock
    /// the rows in the same order).
    fn rows(self) -> Vec<(i64, String, String, HourCounts)> {
        let mut totals: HashMap<i64, HourCounts> = HashMap::new();
        let mut out = Vec::new();
        for ((hour, account_domain, sender_domain), counts) in self.0 {
            totals.entry(hour).or_default().add(&counts);
            out.push((hour, account_domain, sender_domain, counts));
        }
        out.extend(totals.into_iter().map(|(hour, c)| (hour, TOTAL.to_string(), TOTAL.to_string(), c)));
        out.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
        out
    }
}

pub(super) fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// At most `max` characters.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}
