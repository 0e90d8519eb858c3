//! What each stored event changes in log search's summary rows, once for both backends.
//!
//! In: an event as it is stored, with its id. Out: calls on a [`Summary`], the backend's
//! rows (SQLite writes each statement in the event batch's transaction,
//! `sqlite/log_ingest.rs`; PostgreSQL folds the batch in memory and writes it at once,
//! `postgres/log_ingest.rs`), and the batch's hour counts in a [`Tally`].
//!
//! - A `refused` event without a queue id makes a row of its own ("would refuse (monitor)"
//!   refusals make none: the message went on).
//! - The pipeline's refusal at the end of data is followed by the message's `checked`
//!   event, whose row adopts the refusal (same session and client, within
//!   [`ADOPT_WINDOW_MS`]), so that a message refused by a check is one row, under its
//!   queue id.
//! - `checked`, `queued`, `discarded`, `delivery`, `dsn` and `quarantine` events update
//!   their message's row (made if needed); a DSN gets a row of its own under the original
//!   message's account and domains (its tenant sees it).
//! - Session events (connect, TLS, AUTH, disconnect) and `dkim` change no row: the timeline
//!   reads them from the event log.
//!
//! Defends against: rows growing without bound (texts bounded to [`MAX_TEXT`] characters,
//! at most [`MAX_RECIPIENTS`] recipients a message).

use std::collections::HashMap;

use postern_core::{Disposition, Event, EventKind, MessageFacts, QueueId};

use crate::Result;
use crate::log::{HourCounts, RecipientCounts};
use crate::log_state::{self, Happened};

/// How long after the pipeline's refusal its `checked` event may come to adopt it.
pub(crate) const ADOPT_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most recipients recorded for one message.
pub(crate) const MAX_RECIPIENTS: usize = 10_000;
/// The most characters of a rule or a reply in a row.
pub(crate) const MAX_TEXT: usize = 500;
/// The domains of an hour's total row: no domain is `*`.
pub(crate) const TOTAL: &str = "*";

/// A row's (account domain, sender domain).
pub(crate) type Domains = (Option<String>, Option<String>);

/// The message a DSN is about, as its row has it: (account, account domain, sender
/// domain, identity).
pub(crate) type Owner = (Option<String>, Option<String>, Option<String>, Option<String>);

/// A backend's summary rows, as [`record`] changes them.
pub(crate) trait Summary {
    /// The row of queue id `q` (made when `create` and there is none), changed as
    /// `change` says. Returns the row's domains as they were, or `None` when there was no
    /// row to update.
    fn touch(&mut self, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>>;

    /// A refusal's row of its own (`rejected` at its stage), and its recipient's, if any,
    /// as `refused`.
    fn refusal(&mut self, event_id: i64, e: &Event, row: Refusal<'_>) -> Result<()>;

    /// The pipeline refused message `q` (its `checked` event `e` is being stored): the
    /// refusal row made just before in the same session (and by the same writer, where
    /// several write), within [`ADOPT_WINDOW_MS`], becomes the message's row, or is
    /// merged into it.
    fn adopt_refusal(&mut self, q: QueueId, e: &Event) -> Result<()>;

    /// Who message `q`'s row belongs to (all `None` without a row).
    fn owner(&mut self, q: QueueId) -> Result<Owner>;
}

/// What a refusal without a queue id records.
pub(crate) struct Refusal<'a> {
    pub stage: String,
    pub rule: String,
    pub reply: String,
    /// Lower case.
    pub sender: Option<String>,
    pub sender_domain: Option<String>,
    pub account: Option<&'a str>,
    pub account_domain: Option<String>,
    pub recipient: Option<String>,
}

/// Updates `summary` for one event stored as `event_id`, and counts it in `tally`.
pub(crate) fn record(summary: &mut impl Summary, tally: &mut Tally, event_id: i64, e: &Event) -> Result<()> {
    match (&e.kind, e.queue_id) {
        (EventKind::Refused { reason, .. }, _) if reason.starts_with("would refuse (monitor)") => Ok(()),
        (EventKind::Refused { stage, reply, reason, sender, recipient, account, domain: account_domain }, _) => {
            let sender = sender.as_deref().map(str::to_lowercase);
            let sender_domain = sender.as_deref().and_then(|s| s.rsplit_once('@')).map(|(_, d)| domain(d));
            tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref()).refused += 1;
            let row = Refusal {
                stage: serde_json::to_value(stage)?.as_str().unwrap_or("").to_string(),
                rule: bounded(reason, MAX_TEXT),
                reply: bounded(reply, MAX_TEXT),
                sender,
                sender_domain,
                account: account.as_deref(),
                account_domain: account_domain.as_deref().map(domain),
                recipient: recipient.as_deref().map(str::to_lowercase),
            };
            summary.refusal(event_id, e, row)
        }
        (EventKind::Checked { disposition, checks, message }, Some(q)) => {
            if *disposition != Disposition::Deliver {
                summary.adopt_refusal(q, e)?;
            }
            let decided = log_state::deciding_check(*disposition, checks);
            let facts = message.as_deref();
            // A delivered message is counted as checked by its `queued` event, which names
            // its domains (its `checked` event does not), so that a domain's hours count it.
            if *disposition != Disposition::Deliver {
                let hour = tally.at(
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
            summary.touch(q, e, change, true).map(drop)
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
            // Every queued message went through the checks first (its `checked` event, with
            // the disposition `deliver`, is not counted).
            let hour = tally.at(e.at_ms, domain.as_deref(), sender_domain.as_deref());
            hour.received += 1;
            hour.checked += 1;
            let change = Change { happened: Some(Happened::Queued), facts: Some(facts), ..Change::default() };
            summary.touch(q, e, change, true).map(drop)
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
            tally.at(e.at_ms, domain.as_deref(), sender_domain.as_deref()).discarded += 1;
            let change = Change {
                happened: Some(Happened::Discarded),
                facts: Some(facts),
                rule: Some(format!("list rule {rule}")),
                ..Change::default()
            };
            summary.touch(q, e, change, true).map(drop)
        }
        (EventKind::Delivery { recipient, result, reply, attempt, .. }, Some(q)) => {
            let change = Change {
                happened: Some(Happened::Delivery),
                reply: Some(reply),
                attempt: Some(*attempt),
                delivery: log_state::recipient_state(result).map(|state| (recipient.as_str(), state, *attempt)),
                ..Change::default()
            };
            let (account_domain, sender_domain) = summary.touch(q, e, change, true)?.unwrap_or_default();
            let hour = tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref());
            match result.as_str() {
                "delivered" => hour.delivered += 1,
                "deferred" => hour.deferred += 1,
                "bounced" | "expired" => hour.bounced += 1,
                _ => {}
            }
            Ok(())
        }
        (EventKind::Dsn { dsn_queue_id, to, .. }, Some(q)) => dsn(summary, q, dsn_queue_id, to, e),
        (EventKind::Quarantine { action, .. }, Some(q)) => {
            let happened = match action.as_str() {
                "released" => Some(Happened::Released),
                "deleted" => Some(Happened::Deleted),
                "purged" => Some(Happened::Purged),
                _ => None,
            };
            // Held: the `checked` event that follows makes the row.
            summary.touch(q, e, Change { happened, ..Change::default() }, false).map(drop)
        }
        _ => Ok(()),
    }
}

/// A DSN about message `q` was queued as `dsn_queue_id`: `q`'s row notes the activity,
/// and the DSN gets a row of its own, to the original sender, under `q`'s account and
/// domains (its tenant sees it), from the null sender.
fn dsn(summary: &mut impl Summary, q: QueueId, dsn_queue_id: &str, to: &str, e: &Event) -> Result<()> {
    summary.touch(q, e, Change::default(), false)?;
    let Some(dsn) = QueueId::parse(dsn_queue_id) else { return Ok(()) };
    let (account, account_domain, sender_domain, identity) = summary.owner(q)?;
    let recipients = [to.to_string()];
    let facts = Facts {
        sender: Some(""),
        recipients: &recipients,
        account: account.as_deref(),
        domain: account_domain.as_deref(),
        sender_domain: sender_domain.as_deref(),
        identity: identity.as_deref(),
        ..Facts::default()
    };
    let change = Change { happened: Some(Happened::Queued), facts: Some(facts), ..Change::default() };
    summary.touch(dsn, &Event { session: 0, ..e.clone() }, change, true).map(drop)
}

/// What an event says about a message's envelope and attribution.
#[derive(Default)]
pub(crate) struct Facts<'a> {
    pub sender: Option<&'a str>,
    pub recipients: &'a [String],
    pub size: Option<u64>,
    pub message_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub account: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub sender_domain: Option<&'a str>,
    pub identity: Option<&'a str>,
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
pub(crate) struct Change<'a> {
    pub happened: Option<Happened>,
    pub facts: Option<Facts<'a>>,
    pub rule: Option<String>,
    pub reply: Option<&'a str>,
    pub attempt: Option<u32>,
    /// One recipient's new state: (address, state, attempt).
    pub delivery: Option<(&'a str, &'static str, u32)>,
}

/// The count of recipients in `state`, if it is one that is counted.
pub(crate) fn count_of<'a>(counts: &'a mut RecipientCounts, state: &str) -> Option<&'a mut u32> {
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
/// total under ([`TOTAL`], [`TOTAL`]): written with one upsert per key when the batch is
/// stored, so that a relay's thousands of events an hour cost a handful of row writes.
#[derive(Default)]
pub(crate) struct Tally(HashMap<(i64, String, String), HourCounts>);

impl Tally {
    /// The counts of the hour of `at_ms` under these domains (`''` for none).
    pub(crate) fn at(
        &mut self,
        at_ms: i64,
        account_domain: Option<&str>,
        sender_domain: Option<&str>,
    ) -> &mut HourCounts {
        let hour = at_ms.div_euclid(HourCounts::HOUR_MS);
        let key = (hour, account_domain.map(domain).unwrap_or_default(), sender_domain.map(domain).unwrap_or_default());
        self.0.entry(key).or_insert_with(|| HourCounts { hour_ms: hour * HourCounts::HOUR_MS, ..HourCounts::default() })
    }

    /// Every key's counts and each hour's total, in key order (two nodes' batches lock
    /// the rows in the same order).
    pub(crate) fn rows(self) -> Vec<(i64, String, String, HourCounts)> {
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

/// A domain as rows keep it: trimmed, without the root's dot, lower case.
pub(crate) fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// At most `max` characters.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}
