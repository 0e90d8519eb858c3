//! The writes of one event batch (`events`): the events, and the log search rows,
//! recipients and hour counts `log_ingest` folded, each as one statement over arrays
//! (`INSERT … SELECT … FROM unnest(…)`), sent together.
//!
//! In: a transaction holding the batch's rows locked, the batch's [`EventColumns`] and the
//! fold's [`Folded`]. Out: nothing; an error rolls the batch back. Rows and hour counts
//! are written in key order, so two nodes' batches lock them in the same order.

use tokio_postgres::Row;

use super::events::EventColumns;
use super::log_ingest::{Folded, MessageRow};
use super::{Params, cause_of, execute, get};
use crate::Result;
use crate::log::RecipientCounts;
use crate::log_state::{MessageStatus, Phase};

/// The columns of a `messages` row, in the order [`read_message_row`] reads them and
/// [`UPSERT_ROWS`] writes them.
pub(super) const ROW_COLUMNS: &str = "id, queue_id, refused_event, first_at_ms, last_at_ms, session, client_ip, \
    writer, account, account_domain, sender_domain, identity, sender, message_id, message_key, subject, size, \
    phase, status, stage, rule, reply, recipient_count, pending, deferred, delivered, bounced, expired, attempts";

const INSERT_EVENTS: &str = "INSERT INTO events
    (id, at_ms, session, client_ip, queue_id, kind, data, domain, sender_domain, writer)
    SELECT *, $10::BIGINT FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
        $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[])";

const UPSERT_ROWS: &str = "INSERT INTO messages (id, queue_id, refused_event, first_at_ms, last_at_ms,
        session, client_ip, writer, account, account_domain, sender_domain, identity, sender, message_id,
        message_key, subject, size, phase, status, stage, rule, reply, recipient_count, pending, deferred,
        delivered, bounced, expired, attempts)
    SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
        $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[],
        $15::TEXT[], $16::TEXT[], $17::BIGINT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::TEXT[],
        $22::TEXT[], $23::BIGINT[], $24::BIGINT[], $25::BIGINT[], $26::BIGINT[], $27::BIGINT[],
        $28::BIGINT[], $29::BIGINT[])
    ON CONFLICT (id) DO UPDATE SET queue_id = excluded.queue_id, refused_event = excluded.refused_event,
        first_at_ms = excluded.first_at_ms, last_at_ms = excluded.last_at_ms, session = excluded.session,
        client_ip = excluded.client_ip, writer = excluded.writer, account = excluded.account,
        account_domain = excluded.account_domain, sender_domain = excluded.sender_domain,
        identity = excluded.identity, sender = excluded.sender, message_id = excluded.message_id,
        message_key = excluded.message_key, subject = excluded.subject, size = excluded.size,
        phase = excluded.phase, status = excluded.status, stage = excluded.stage, rule = excluded.rule,
        reply = excluded.reply, recipient_count = excluded.recipient_count, pending = excluded.pending,
        deferred = excluded.deferred, delivered = excluded.delivered, bounced = excluded.bounced,
        expired = excluded.expired, attempts = excluded.attempts";

const UPSERT_RECIPIENTS: &str = "INSERT INTO message_recipients (message, recipient, state, attempt)
    SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[])
    ON CONFLICT (message, recipient) DO UPDATE SET state = excluded.state, attempt = excluded.attempt";

const UPSERT_HOURS: &str = "INSERT INTO message_hours (hour, account_domain, sender_domain, received, refused,
        quarantined, discarded, checked, spam, delivered, deferred, bounced)
    SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[],
        $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[])
    ON CONFLICT (hour, account_domain, sender_domain) DO UPDATE SET
        received = message_hours.received + excluded.received,
        refused = message_hours.refused + excluded.refused,
        quarantined = message_hours.quarantined + excluded.quarantined,
        discarded = message_hours.discarded + excluded.discarded,
        checked = message_hours.checked + excluded.checked,
        spam = message_hours.spam + excluded.spam,
        delivered = message_hours.delivered + excluded.delivered,
        deferred = message_hours.deferred + excluded.deferred,
        bounced = message_hours.bounced + excluded.bounced";

/// One row of [`ROW_COLUMNS`].
pub(super) fn read_message_row(r: &Row) -> Result<MessageRow> {
    let n = |i: usize| -> Result<u32> { Ok(u32::try_from(get::<i64>(r, i)?).unwrap_or(0)) };
    let status: String = get(r, 18)?;
    Ok(MessageRow {
        id: get(r, 0)?,
        queue_id: get(r, 1)?,
        refused_event: get(r, 2)?,
        first_at_ms: get(r, 3)?,
        last_at_ms: get(r, 4)?,
        session: get(r, 5)?,
        client_ip: get(r, 6)?,
        writer: get(r, 7)?,
        account: get(r, 8)?,
        account_domain: get(r, 9)?,
        sender_domain: get(r, 10)?,
        identity: get(r, 11)?,
        sender: get(r, 12)?,
        message_id: get(r, 13)?,
        message_key: get(r, 14)?,
        subject: get(r, 15)?,
        size: get(r, 16)?,
        phase: Phase::parse(get(r, 17)?),
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued),
        stage: get(r, 19)?,
        rule: get(r, 20)?,
        reply: get(r, 21)?,
        recipient_count: n(22)?,
        counts: RecipientCounts {
            pending: n(23)?,
            deferred: n(24)?,
            delivered: n(25)?,
            bounced: n(26)?,
            expired: n(27)?,
        },
        attempts: n(28)?,
    })
}

/// Writes the batch: its events, then the rows (deleted, made or changed), their
/// recipients and the hour counts, sent together.
pub(super) async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    writer: i64,
    e: &EventColumns,
    folded: &Folded,
) -> Result<()> {
    let rows = RowColumns::of(&folded.rows);
    let r = &folded.recipients;
    let recipient_ids: Vec<i64> = r.iter().map(|x| x.0).collect();
    let recipient_names: Vec<&str> = r.iter().map(|x| x.1.as_str()).collect();
    let recipient_states: Vec<&str> = r.iter().map(|x| x.2.state.as_str()).collect();
    let recipient_attempts: Vec<i64> = r.iter().map(|x| i64::from(x.2.attempt)).collect();
    let h = &folded.hours;
    let count = |f: fn(&crate::log::HourCounts) -> u64| -> Vec<i64> {
        h.iter().map(|x| i64::try_from(f(&x.3)).unwrap_or(i64::MAX)).collect()
    };
    let hours: Vec<i64> = h.iter().map(|x| x.0).collect();
    let hour_accounts: Vec<&str> = h.iter().map(|x| x.1.as_str()).collect();
    let hour_senders: Vec<&str> = h.iter().map(|x| x.2.as_str()).collect();
    let counts = [
        count(|c| c.received),
        count(|c| c.refused),
        count(|c| c.quarantined),
        count(|c| c.discarded),
        count(|c| c.checked),
        count(|c| c.spam),
        count(|c| c.delivered),
        count(|c| c.deferred),
        count(|c| c.bounced),
    ];
    let deleted = &folded.deleted;
    // Sent together (one round trip); the server runs them in this order.
    let event_params: Params<'_> = &[
        &e.id,
        &e.at_ms,
        &e.session,
        &e.client_ip,
        &e.queue_id,
        &e.kind,
        &e.data,
        &e.domain,
        &e.sender_domain,
        &writer,
    ];
    // Every answer is awaited: a failed statement makes the later ones fail with 25P02,
    // and which of them is read first is not the order they were sent in.
    let (events, deleted, rows, recipients, hours) = tokio::join!(
        execute(tx, INSERT_EVENTS, event_params),
        async {
            if deleted.is_empty() {
                return Ok(0);
            }
            execute(tx, "DELETE FROM messages WHERE id = ANY($1)", &[deleted]).await
        },
        async {
            if rows.id.is_empty() {
                return Ok(0);
            }
            execute(tx, UPSERT_ROWS, &rows.params()).await
        },
        async {
            if recipient_ids.is_empty() {
                return Ok(0);
            }
            execute(tx, UPSERT_RECIPIENTS, &[&recipient_ids, &recipient_names, &recipient_states, &recipient_attempts])
                .await
        },
        async {
            if hours.is_empty() {
                return Ok(0);
            }
            let [a, b, c, d, e, f, g, h, i] = &counts;
            execute(tx, UPSERT_HOURS, &[&hours, &hour_accounts, &hour_senders, a, b, c, d, e, f, g, h, i]).await
        },
    );
    match cause_of([events.err(), deleted.err(), rows.err(), recipients.err(), hours.err()]) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Rows as the columns of [`UPSERT_ROWS`].
struct RowColumns<'a> {
    id: Vec<i64>,
    queue_id: Vec<Option<&'a str>>,
    refused_event: Vec<Option<i64>>,
    first_at_ms: Vec<i64>,
    last_at_ms: Vec<i64>,
    session: Vec<i64>,
    client_ip: Vec<&'a str>,
    writer: Vec<i64>,
    texts: [Vec<Option<&'a str>>; 8],
    size: Vec<Option<i64>>,
    phase: Vec<&'static str>,
    status: Vec<&'static str>,
    outcome: [Vec<Option<&'a str>>; 3],
    numbers: [Vec<i64>; 7],
}

impl<'a> RowColumns<'a> {
    fn of(rows: &'a [MessageRow]) -> RowColumns<'a> {
        let text = |f: fn(&'a MessageRow) -> &'a Option<String>| -> Vec<Option<&'a str>> {
            rows.iter().map(|r| f(r).as_deref()).collect()
        };
        let number = |f: fn(&MessageRow) -> u32| -> Vec<i64> { rows.iter().map(|r| i64::from(f(r))).collect() };
        RowColumns {
            id: rows.iter().map(|r| r.id).collect(),
            queue_id: text(|r| &r.queue_id),
            refused_event: rows.iter().map(|r| r.refused_event).collect(),
            first_at_ms: rows.iter().map(|r| r.first_at_ms).collect(),
            last_at_ms: rows.iter().map(|r| r.last_at_ms).collect(),
            session: rows.iter().map(|r| r.session).collect(),
            client_ip: rows.iter().map(|r| r.client_ip.as_str()).collect(),
            writer: rows.iter().map(|r| r.writer).collect(),
            texts: [
                text(|r| &r.account),
                text(|r| &r.account_domain),
                text(|r| &r.sender_domain),
                text(|r| &r.identity),
                text(|r| &r.sender),
                text(|r| &r.message_id),
                text(|r| &r.message_key),
                text(|r| &r.subject),
            ],
            size: rows.iter().map(|r| r.size).collect(),
            phase: rows.iter().map(|r| r.phase.name()).collect(),
            status: rows.iter().map(|r| r.status.name()).collect(),
            outcome: [text(|r| &r.stage), text(|r| &r.rule), text(|r| &r.reply)],
            numbers: [
                number(|r| r.recipient_count),
                number(|r| r.counts.pending),
                number(|r| r.counts.deferred),
                number(|r| r.counts.delivered),
                number(|r| r.counts.bounced),
                number(|r| r.counts.expired),
                number(|r| r.attempts),
            ],
        }
    }

    fn params(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        let mut p: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &self.id,
            &self.queue_id,
            &self.refused_event,
            &self.first_at_ms,
            &self.last_at_ms,
            &self.session,
            &self.client_ip,
            &self.writer,
        ];
        p.extend(self.texts.iter().map(|t| t as &(dyn tokio_postgres::types::ToSql + Sync)));
        p.push(&self.size);
        p.push(&self.phase);
        p.push(&self.status);
        p.extend(self.outcome.iter().map(|t| t as &(dyn tokio_postgres::types::ToSql + Sync)));
        p.extend(self.numbers.iter().map(|t| t as &(dyn tokio_postgres::types::ToSql + Sync)));
        p
    }
}
