//! The summary rows of log search, kept up to date as events are stored: called by
//! [`EventStore::append`](crate::EventStore::append) for every event, in the batch's
//! transaction, so that a row and its events are never out of step.
//!
//! In: a stored event and its row id. Out: the `messages` row of its message (made or
//! updated) and the `message_recipients` rows (each recipient's delivery state). A
//! `refused` event without a queue id makes a row of its own; the pipeline's refusal at
//! the end of data is followed by the message's `checked` event, whose row adopts it (same
//! session and client, within [`ADOPT_WINDOW_MS`]), so that a message refused by a check
//! is one row, under its queue id. Session events (connect, TLS, AUTH, disconnect) and
//! `dkim` change no row: the timeline reads them from the event log.
//!
//! Defends against: events out of order (phases never move back, see `log_state`), rows
//! growing without bound (texts bounded, at most [`MAX_RECIPIENTS`] recipients a message).

use std::collections::HashMap;

use postern_core::event::{MAX_SUBJECT, printable_line};
use postern_core::{Disposition, Event, EventKind, MessageFacts, QueueId};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::Result;
use crate::log::{HourCounts, RecipientCounts, message_key};
use crate::log_state::{self, Happened, Phase};

/// How long after the pipeline's refusal its `checked` event may come to adopt it.
const ADOPT_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most recipients recorded for one message.
const MAX_RECIPIENTS: usize = 10_000;
/// The most characters of a rule or a reply in a row.
const MAX_TEXT: usize = 500;

/// Updates the summary for one stored event, and counts it in `tally`.
pub(super) fn record(tx: &Transaction<'_>, tally: &mut Tally, event_id: i64, e: &Event) -> Result<()> {
    match (&e.kind, e.queue_id) {
        (EventKind::Refused { reason, .. }, _) if reason.starts_with("would refuse (monitor)") => Ok(()),
        (EventKind::Refused { .. }, _) => refused(tx, tally, event_id, e),
        (EventKind::Checked { disposition, checks, message }, Some(q)) => {
            if *disposition != Disposition::Deliver {
                adopt_refusal(tx, q, e)?;
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
                facts: message.as_deref().map(Facts::from_message),
                rule: decided.map(log_state::rule_of),
                ..Change::default()
            };
            touch(tx, q, e, change, true).map(drop)
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
            touch(tx, q, e, Change { happened: Some(Happened::Queued), facts: Some(facts), ..Change::default() }, true)
                .map(drop)
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
            touch(tx, q, e, change, true).map(drop)
        }
        (EventKind::Delivery { recipient, result, reply, attempt, .. }, Some(q)) => {
            let change = Change {
                happened: Some(Happened::Delivery),
                reply: Some(reply),
                attempt: Some(*attempt),
                delivery: log_state::recipient_state(result).map(|state| (recipient.as_str(), state, *attempt)),
                ..Change::default()
            };
            let row = touch(tx, q, e, change, true)?;
            let (account_domain, sender_domain) = row.map(|r| (r.account_domain, r.sender_domain)).unwrap_or_default();
            let hour = tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref());
            match result.as_str() {
                "delivered" => hour.delivered += 1,
                "deferred" => hour.deferred += 1,
                "bounced" | "expired" => hour.bounced += 1,
                _ => {}
            }
            Ok(())
        }
        (EventKind::Dsn { dsn_queue_id, to, .. }, Some(q)) => dsn(tx, q, dsn_queue_id, to, e),
        (EventKind::Quarantine { action, .. }, Some(q)) => {
            let happened = match action.as_str() {
                "released" => Some(Happened::Released),
                "deleted" => Some(Happened::Deleted),
                "purged" => Some(Happened::Purged),
                _ => None,
            };
            // Held: the `checked` event that follows makes the row.
            touch(tx, q, e, Change { happened, ..Change::default() }, false).map(drop)
        }
        _ => Ok(()),
    }
}

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

/// A message's row as [`touch`] left it: its id and domains.
struct Touched {
    account_domain: Option<String>,
    sender_domain: Option<String>,
}

/// The row of queue id `q` (made when `create` and there is none), changed as `change`
/// says. Returns the row's domains, or `None` when there was no row to update. Only an
/// event with facts (or one older than the row) writes indexed columns; the others
/// rewrite the row alone.
fn touch(tx: &Transaction<'_>, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Touched>> {
    let queue_id = q.to_string();
    let found = tx
        .prepare_cached(
            "SELECT id, phase, first_at_ms, pending, deferred, delivered, bounced, expired, account_domain, sender_domain
             FROM messages WHERE queue_id = ?1",
        )?
        .query_row([&queue_id], |r| {
            let counts = RecipientCounts {
                pending: r.get(3)?,
                deferred: r.get(4)?,
                delivered: r.get(5)?,
                bounced: r.get(6)?,
                expired: r.get(7)?,
            };
            let domains = Touched { account_domain: r.get(8)?, sender_domain: r.get(9)? };
            Ok((r.get::<_, i64>(0)?, Phase::parse(&r.get::<_, String>(1)?), r.get::<_, i64>(2)?, counts, domains))
        })
        .optional()?;
    let (id, phase, mut counts, touched) = match found {
        Some((id, phase, first_at_ms, counts, touched)) => {
            if e.at_ms < first_at_ms {
                // An event older than the row (the scheduler's, stored first): rare.
                tx.prepare_cached("UPDATE messages SET first_at_ms = ?2 WHERE id = ?1")?
                    .execute(params![id, e.at_ms])?;
            }
            (id, phase, counts, touched)
        }
        None if create => {
            tx.prepare_cached(
                "INSERT INTO messages (queue_id, first_at_ms, last_at_ms, session, client_ip, phase, status)
                 VALUES (?1, ?2, ?2, ?3, ?4, 'new', 'received')",
            )?
            .execute(params![queue_id, e.at_ms, e.session as i64, e.client_ip.to_string()])?;
            (
                tx.last_insert_rowid(),
                Phase::New,
                RecipientCounts::default(),
                Touched { account_domain: None, sender_domain: None },
            )
        }
        None => return Ok(None),
    };
    if let Some(facts) = &change.facts {
        write_facts(tx, id, e, facts, &mut counts)?;
    }
    if let Some((recipient, state, attempt)) = change.delivery {
        deliver(tx, id, &recipient.to_lowercase(), state, attempt, &mut counts)?;
    }
    let phase = change.happened.map_or(phase, |h| log_state::next_phase(phase, h));
    let status = log_state::status(phase, &counts);
    tx.prepare_cached(
        "UPDATE messages SET last_at_ms = max(last_at_ms, ?2), phase = ?3, status = ?4,
            pending = ?5, deferred = ?6, delivered = ?7, bounced = ?8, expired = ?9, recipient_count = ?10,
            rule = COALESCE(?11, rule), reply = COALESCE(?12, reply), attempts = max(attempts, COALESCE(?13, 0))
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        e.at_ms,
        phase.name(),
        status.name(),
        counts.pending,
        counts.deferred,
        counts.delivered,
        counts.bounced,
        counts.expired,
        counts.pending + counts.deferred + counts.delivered + counts.bounced + counts.expired,
        change.rule.map(|r| bounded(&r, MAX_TEXT)),
        change.reply.map(|r| bounded(r, MAX_TEXT)),
        change.attempt,
    ])?;
    Ok(Some(touched))
}

/// The envelope and attribution an event gives, and its recipients (`pending` until a
/// delivery says otherwise).
fn write_facts(tx: &Transaction<'_>, id: i64, e: &Event, f: &Facts<'_>, counts: &mut RecipientCounts) -> Result<()> {
    let mut add = tx.prepare_cached(
        "INSERT OR IGNORE INTO message_recipients (message, recipient, state, attempt) VALUES (?1, ?2, 'pending', 0)",
    )?;
    for recipient in f.recipients.iter().take(MAX_RECIPIENTS) {
        if add.execute(params![id, recipient.to_lowercase()])? > 0 {
            counts.pending += 1;
        }
    }
    tx.prepare_cached(
        "UPDATE messages SET session = CASE WHEN session = 0 THEN ?2 ELSE session END,
            sender = COALESCE(?3, sender), size = COALESCE(?4, size), message_id = COALESCE(?5, message_id),
            message_key = COALESCE(?6, message_key), subject = COALESCE(?7, subject),
            account = COALESCE(?8, account), account_domain = COALESCE(?9, account_domain),
            sender_domain = COALESCE(?10, sender_domain), identity = COALESCE(?11, identity)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        e.session as i64,
        f.sender.map(str::to_lowercase),
        f.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        f.message_id.map(|m| bounded(m, 998)),
        f.message_id.and_then(message_key),
        f.subject.and_then(|s| printable_line(s, MAX_SUBJECT)),
        f.account,
        f.domain.map(domain),
        f.sender_domain.map(domain),
        f.identity,
    ])?;
    Ok(())
}

/// One recipient's delivery result, unless a later attempt's is already recorded; the
/// counts follow.
fn deliver(
    tx: &Transaction<'_>,
    id: i64,
    recipient: &str,
    state: &'static str,
    attempt: u32,
    counts: &mut RecipientCounts,
) -> Result<()> {
    let before: Option<(String, u32)> = tx
        .prepare_cached("SELECT state, attempt FROM message_recipients WHERE message = ?1 AND recipient = ?2")?
        .query_row(params![id, recipient], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match before {
        Some((_, last)) if last > attempt => return Ok(()),
        Some((old, _)) => {
            tx.prepare_cached(
                "UPDATE message_recipients SET state = ?3, attempt = ?4 WHERE message = ?1 AND recipient = ?2",
            )?
            .execute(params![id, recipient, state, attempt])?;
            if let Some(n) = count_of(counts, &old) {
                *n = n.saturating_sub(1);
            }
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO message_recipients (message, recipient, state, attempt) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, recipient, state, attempt])?;
        }
    }
    if let Some(n) = count_of(counts, state) {
        *n += 1;
    }
    Ok(())
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

/// A refusal without a queue id: a row of its own, `rejected` at its stage.
fn refused(tx: &Transaction<'_>, tally: &mut Tally, event_id: i64, e: &Event) -> Result<()> {
    let EventKind::Refused { stage, reply, reason, sender, recipient, account, domain: account_domain } = &e.kind
    else {
        return Ok(());
    };
    let sender = sender.as_deref().map(str::to_lowercase);
    let sender_domain = sender.as_deref().and_then(|s| s.rsplit_once('@')).map(|(_, d)| domain(d));
    tally.at(e.at_ms, account_domain.as_deref(), sender_domain.as_deref()).refused += 1;
    let stage = serde_json::to_value(stage)?.as_str().unwrap_or("").to_string();
    tx.prepare_cached(
        "INSERT INTO messages (refused_event, first_at_ms, last_at_ms, session, client_ip, phase, status, stage,
            rule, reply, sender, sender_domain, account, account_domain, recipient_count)
         VALUES (?1, ?2, ?2, ?3, ?4, 'rejected', 'rejected', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        event_id,
        e.at_ms,
        e.session as i64,
        e.client_ip.to_string(),
        stage,
        bounded(reason, MAX_TEXT),
        bounded(reply, MAX_TEXT),
        sender,
        sender_domain,
        account,
        account_domain.as_deref().map(domain),
        u32::from(recipient.is_some()),
    ])?;
    if let Some(recipient) = recipient {
        let id = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT OR IGNORE INTO message_recipients (message, recipient, state, attempt) VALUES (?1, ?2, 'refused', 0)",
        )?
        .execute(params![id, recipient.to_lowercase()])?;
    }
    Ok(())
}

/// The pipeline refused message `q` (its `checked` event is being stored): the refusal
/// row it made just before, in the same session, becomes the message's row.
fn adopt_refusal(tx: &Transaction<'_>, q: QueueId, e: &Event) -> Result<()> {
    let refusal: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM messages WHERE queue_id IS NULL AND session = ?1 AND client_ip = ?2
                AND phase = 'rejected' AND stage IN ('data', 'queue') AND first_at_ms >= ?3
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![e.session as i64, e.client_ip.to_string(), e.at_ms - ADOPT_WINDOW_MS], |r| r.get(0))
        .optional()?;
    let Some(refusal) = refusal else { return Ok(()) };
    let queue_id = q.to_string();
    let exists: Option<i64> = tx
        .prepare_cached("SELECT id FROM messages WHERE queue_id = ?1")?
        .query_row([&queue_id], |r| r.get(0))
        .optional()?;
    match exists {
        None => {
            tx.prepare_cached("UPDATE messages SET queue_id = ?2, phase = 'new' WHERE id = ?1")?
                .execute(params![refusal, queue_id])?;
        }
        Some(row) => {
            tx.prepare_cached(
                "UPDATE messages SET (stage, reply, rule, refused_event, first_at_ms) =
                    (SELECT r.stage, r.reply, COALESCE(messages.rule, r.rule), r.refused_event,
                        min(messages.first_at_ms, r.first_at_ms) FROM messages AS r WHERE r.id = ?2)
                 WHERE id = ?1",
            )?
            .execute(params![row, refusal])?;
            tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([refusal])?;
        }
    }
    Ok(())
}

/// A DSN about message `q` was queued as `dsn_queue_id`: `q`'s row notes the activity,
/// and the DSN gets a row of its own, to the original sender, under `q`'s account and
/// domains (its tenant sees it), from the null sender.
fn dsn(tx: &Transaction<'_>, q: QueueId, dsn_queue_id: &str, to: &str, e: &Event) -> Result<()> {
    touch(tx, q, e, Change::default(), false)?;
    let Some(dsn) = QueueId::parse(dsn_queue_id) else { return Ok(()) };
    type Owner = (Option<String>, Option<String>, Option<String>, Option<String>);
    let owner: Option<Owner> = tx
        .prepare_cached("SELECT account, account_domain, sender_domain, identity FROM messages WHERE queue_id = ?1")?
        .query_row([q.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (account, account_domain, sender_domain, identity) = owner.unwrap_or_default();
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
    touch(tx, dsn, &Event { session: 0, ..e.clone() }, change, true).map(drop)
}

/// A batch's [`HourCounts`] per (hour, account domain, sender domain), written with one
/// upsert per key when the batch is stored: the counts a relay's thousands of events an
/// hour add cost a handful of row writes, not one per event.
#[derive(Default)]
pub(super) struct Tally(HashMap<(i64, String, String), HourCounts>);

impl Tally {
    /// The counts of the hour of `at_ms` under these domains (`''` for none).
    fn at(&mut self, at_ms: i64, account_domain: Option<&str>, sender_domain: Option<&str>) -> &mut HourCounts {
        let hour = at_ms.div_euclid(HourCounts::HOUR_MS);
        let key = (hour, account_domain.map(domain).unwrap_or_default(), sender_domain.map(domain).unwrap_or_default());
        self.0.entry(key).or_insert_with(|| HourCounts { hour_ms: hour * HourCounts::HOUR_MS, ..HourCounts::default() })
    }

    /// Adds the batch's counts to the stored ones, and each hour's to its total row.
    pub(super) fn write(self, tx: &Transaction<'_>) -> Result<()> {
        let mut totals: HashMap<i64, HourCounts> = HashMap::new();
        let mut upsert = tx.prepare_cached(
            "INSERT INTO message_hours (hour, account_domain, sender_domain, received, refused, quarantined,
                discarded, checked, spam, delivered, deferred, bounced)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (hour, account_domain, sender_domain) DO UPDATE SET
                received = received + excluded.received, refused = refused + excluded.refused,
                quarantined = quarantined + excluded.quarantined, discarded = discarded + excluded.discarded,
                checked = checked + excluded.checked, spam = spam + excluded.spam,
                delivered = delivered + excluded.delivered, deferred = deferred + excluded.deferred,
                bounced = bounced + excluded.bounced",
        )?;
        let mut put = |hour: i64, account_domain: &str, sender_domain: &str, c: &HourCounts| {
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            upsert.execute(params![
                hour,
                account_domain,
                sender_domain,
                n(c.received),
                n(c.refused),
                n(c.quarantined),
                n(c.discarded),
                n(c.checked),
                n(c.spam),
                n(c.delivered),
                n(c.deferred),
                n(c.bounced),
            ])
        };
        for ((hour, account_domain, sender_domain), counts) in &self.0 {
            put(*hour, account_domain, sender_domain, counts)?;
            totals.entry(*hour).or_default().add(counts);
        }
        for (hour, counts) in &totals {
            put(*hour, TOTAL, TOTAL, counts)?;
        }
        Ok(())
    }
}

/// The domains of an hour's total row: no domain is `*`.
pub(super) const TOTAL: &str = "*";

fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// At most `max` characters.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}
