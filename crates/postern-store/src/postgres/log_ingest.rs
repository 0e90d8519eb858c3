//! The summary rows of log search for PostgreSQL, folded in memory over one batch of
//! events: what each event changes is `log_fold`'s (shared with SQLite; the same
//! conformance suite checks both), applied here to values instead of statement by
//! statement, so that a batch costs a fixed number of round trips whatever its size
//! (`log_write` loads, this folds, `log_write` writes).
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
use postern_core::{Disposition, Event, EventKind, QueueId};

use crate::log::{HourCounts, RecipientCounts, message_key};
use crate::log_fold::{
    ADOPT_WINDOW_MS, Change, Domains, Facts, MAX_RECIPIENTS, MAX_TEXT, Owner, Refusal, Summary, Tally, bounded,
    count_of, domain,
};
use crate::log_state::{self, MessageStatus, Phase};
use crate::{BackendErrorKind, Result, StoreError};

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
        let mut tally = std::mem::take(&mut self.tally);
        let recorded = crate::log_fold::record(self, &mut tally, event_id, e);
        self.tally = tally;
        recorded
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
    fn touch_row(&mut self, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>> {
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
    fn refusal_row(&mut self, event_id: i64, e: &Event, r: Refusal<'_>) -> Result<()> {
        let id = self.new_id()?;
        let recipient_count = u32::from(r.recipient.is_some());
        self.push(MessageRow {
            id,
            queue_id: None,
            refused_event: Some(event_id),
            first_at_ms: e.at_ms,
            last_at_ms: e.at_ms,
            session: e.session as i64,
            client_ip: e.client_ip.to_string(),
            writer: self.writer,
            account: r.account.map(str::to_string),
            account_domain: r.account_domain,
            sender_domain: r.sender_domain,
            identity: None,
            sender: r.sender,
            message_id: None,
            message_key: None,
            subject: None,
            size: None,
            phase: Phase::Rejected,
            status: MessageStatus::Rejected,
            stage: Some(r.stage),
            rule: Some(r.rule),
            reply: Some(r.reply),
            recipient_count,
            counts: RecipientCounts::default(),
            attempts: 0,
        });
        if let Some(recipient) = r.recipient {
            let state = RecipientState { state: "refused".into(), attempt: 0 };
            self.recipients.entry((id, recipient)).or_insert((state, true));
        }
        Ok(())
    }

    /// The pipeline refused message `q` (its `checked` event is being stored): the
    /// refusal row this writer made just before, in the same session, becomes the
    /// message's row.
    fn adopt_refusal_row(&mut self, q: QueueId, e: &Event) {
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
}

impl Summary for Fold {
    fn touch(&mut self, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>> {
        self.touch_row(q, e, change, create)
    }

    fn refusal(&mut self, event_id: i64, e: &Event, row: Refusal<'_>) -> Result<()> {
        self.refusal_row(event_id, e, row)
    }

    fn adopt_refusal(&mut self, q: QueueId, e: &Event) -> Result<()> {
        self.adopt_refusal_row(q, e);
        Ok(())
    }

    fn owner(&mut self, q: QueueId) -> Result<Owner> {
        let owner = self.by_queue.get(&q.to_string()).map(|&i| &self.rows[i]);
        Ok(owner.map_or_else(Owner::default, |o| {
            (o.account.clone(), o.account_domain.clone(), o.sender_domain.clone(), o.identity.clone())
        }))
    }
}
