//! The summary rows of log search on SQLite, kept up to date as events are stored: called
//! by [`EventStore::append`](crate::EventStore::append) for every event, in the batch's
//! transaction, so that a row and its events are never out of step. What each event
//! changes is `log_fold`'s (shared with PostgreSQL); this writes it statement by statement.
//!
//! In: a stored event and its row id. Out: the `messages` row of its message (made or
//! updated) and the `message_recipients` rows (each recipient's delivery state), and the
//! batch's hour counts ([`write_hours`]).
//!
//! Defends against: events out of order (phases never move back, see `log_state`), rows
//! growing without bound (`log_fold`'s bounds).

use postern_core::event::{MAX_SUBJECT, printable_line};
use postern_core::{Event, QueueId};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::Result;
use crate::log::{RecipientCounts, message_key};
use crate::log_fold::{
    ADOPT_WINDOW_MS, Change, Domains, Facts, MAX_RECIPIENTS, MAX_TEXT, Owner, Refusal, Summary, Tally, bounded,
    count_of, domain,
};
use crate::log_state::{self, Phase};

/// The summary rows, written in the event batch's transaction.
pub(super) struct Rows<'a, 'b>(pub &'a Transaction<'b>);

impl Summary for Rows<'_, '_> {
    fn touch(&mut self, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>> {
        touch(self.0, q, e, change, create)
    }

    fn refusal(&mut self, event_id: i64, e: &Event, row: Refusal<'_>) -> Result<()> {
        refusal(self.0, event_id, e, row)
    }

    fn adopt_refusal(&mut self, q: QueueId, e: &Event) -> Result<()> {
        adopt_refusal(self.0, q, e)
    }

    fn owner(&mut self, q: QueueId) -> Result<Owner> {
        let owner = self
            .0
            .prepare_cached(
                "SELECT account, account_domain, sender_domain, identity FROM messages WHERE queue_id = ?1",
            )?
            .query_row([q.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        Ok(owner.unwrap_or_default())
    }
}

/// The row of queue id `q` (made when `create` and there is none), changed as `change`
/// says. Returns the row's domains, or `None` when there was no row to update. Only an
/// event with facts (or one older than the row) writes indexed columns; the others
/// rewrite the row alone.
fn touch(tx: &Transaction<'_>, q: QueueId, e: &Event, change: Change<'_>, create: bool) -> Result<Option<Domains>> {
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
            let domains: Domains = (r.get(8)?, r.get(9)?);
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
            (tx.last_insert_rowid(), Phase::New, RecipientCounts::default(), (None, None))
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

/// A refusal without a queue id: a row of its own, `rejected` at its stage.
fn refusal(tx: &Transaction<'_>, event_id: i64, e: &Event, row: Refusal<'_>) -> Result<()> {
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
        row.stage,
        row.rule,
        row.reply,
        row.sender,
        row.sender_domain,
        row.account,
        row.account_domain,
        u32::from(row.recipient.is_some()),
    ])?;
    if let Some(recipient) = row.recipient {
        let id = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT OR IGNORE INTO message_recipients (message, recipient, state, attempt) VALUES (?1, ?2, 'refused', 0)",
        )?
        .execute(params![id, recipient])?;
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

/// Adds the batch's hour counts to the stored ones (and each hour's to its total row).
pub(super) fn write_hours(tx: &Transaction<'_>, tally: Tally) -> Result<()> {
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
    for (hour, account_domain, sender_domain, c) in tally.rows() {
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
        ])?;
    }
    Ok(())
}
