//! [`EventStore`] for [`PgStore`]: the `events` table, and log search's rows kept with it.
//!
//! In: batches of [`Event`]s from the event writer of any node. Out: [`StoredEvent`]s. A
//! batch is one transaction of four round trips whatever its size: BEGIN; the ids it
//! needs (from the sequences), the rows and recipients its events name (rows locked
//! `FOR UPDATE`, in id order), together; the events, rows, recipients and hour counts,
//! each one statement over arrays (`unnest`), together; COMMIT. Between the two, the rows
//! are folded in memory (`log_ingest`). Every event carries the store's `writer` (see
//! migration 8).
//!
//! Two nodes touching the same row wait on its lock; two making the same queue id's row
//! at once collide on its unique index, and the loser's batch is folded again from what
//! the winner wrote ([`ATTEMPTS`] in all; then the event writer's retry buffer keeps it).

use postern_core::{Event, EventKind};

use super::filter::Filter;
use super::log_ingest::{Fold, RecipientState, adoptable_sessions, most_new_rows, named_recipients, queue_ids};
use super::log_write::{ROW_COLUMNS, read_message_row, write};
use super::{Params, PgStore, cause_of, get, query, sql_state};
use crate::Result;
use crate::events::{EventQuery, EventStore, StoredEvent, search_domains};

/// The first count of appended events after which the log tables' statistics are
/// refreshed; then at every fourfold count up to [`ANALYZE_UNTIL`].
const ANALYZE_FROM: u64 = 2_000;
/// Past this many events, autovacuum's own analyzes keep the statistics.
const ANALYZE_UNTIL: u64 = 2_000_000;

impl PgStore {
    /// Refreshes the planner's statistics of the log tables when the events this store
    /// appended cross 2,000, 8,000, 32,000 ... 2,000,000. On a new database autovacuum has
    /// not looked at the growing tables yet, and the batch's row look-ups, planned for empty
    /// tables, slow down as they fill (measured: 11 ms to 90 ms a batch over 30,000
    /// messages, flat at 1.4 ms once analyzed). Best effort: a failure is logged.
    fn analyze_as_they_grow(&self, added: usize) {
        use std::sync::atomic::Ordering;
        let added = added as u64;
        let before = self.appended.fetch_add(added, Ordering::Relaxed);
        let after = before + added;
        let mut mark = ANALYZE_FROM;
        let mut crossed = false;
        while mark <= ANALYZE_UNTIL {
            crossed |= before < mark && after >= mark;
            mark *= 4;
        }
        if !crossed {
            return;
        }
        let analyzed = self.with_client(move |c| async move {
            c.batch_execute("ANALYZE events, messages, message_recipients, message_hours").await?;
            Ok(())
        });
        match analyzed {
            Ok(()) => tracing::debug!(events = after, "log tables analyzed"),
            Err(e) => tracing::warn!(error = %e, "cannot analyze the log tables; autovacuum will"),
        }
    }
}

/// How many times one batch is tried when it collides with another node's.
const ATTEMPTS: usize = 3;

impl EventStore for PgStore {
    fn append(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let writer = self.writer;
        let mut attempt = 1;
        loop {
            let batch = events.to_vec();
            let result = self.with_client(move |mut client| async move {
                let tx = client.transaction().await?;
                store_batch(&tx, writer, &batch).await?;
                tx.commit().await?;
                Ok(())
            });
            match result {
                Err(e) if attempt < ATTEMPTS && matches!(sql_state(&e), Some("23505" | "40P01" | "40001")) => {
                    tracing::debug!(error = %e, attempt, "event batch collided with another node's; trying again");
                    attempt += 1;
                }
                Ok(()) => {
                    self.analyze_as_they_grow(events.len());
                    return Ok(());
                }
                other => return other,
            }
        }
    }

    fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>> {
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) };
        let mut f = Filter::default();
        if let Some(id) = q.queue_id {
            f.equals("queue_id", id.to_string());
        }
        if let Some(kind) = &q.kind {
            f.equals("kind", kind.clone());
        }
        if let Some(since) = q.since_ms {
            let mark = f.bind(since);
            f.clause(format!("at_ms >= {mark}"));
        }
        if let Some(domain) = &q.domain {
            let mark = f.bind(domain.to_ascii_lowercase());
            f.clause(format!("(domain = {mark} OR sender_domain = {mark})"));
        }
        let sql = format!(
            "SELECT id, data FROM (SELECT id, data FROM events{} ORDER BY id DESC LIMIT {limit}) AS newest ORDER BY id",
            f.sql()
        );
        self.with_client(move |client| async move {
            let rows = query(&client, &sql, &f.params()).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let data: &str = get(row, 1)?;
                out.push(StoredEvent { id: get(row, 0)?, event: serde_json::from_str(data)? });
            }
            Ok(out)
        })
    }
}

/// One batch in transaction `tx`: load, fold, write.
async fn store_batch(tx: &deadpool_postgres::Transaction<'_>, writer: i64, events: &[Event]) -> Result<()> {
    let queue_ids = queue_ids(events);
    let (recipient_queues, recipient_names) = named_recipients(events);
    let ids_sql = "SELECT ARRAY(SELECT nextval('events_id_seq') FROM generate_series(1, $1::BIGINT)),
        ARRAY(SELECT nextval('messages_id_seq') FROM generate_series(1, $2::BIGINT))";
    let rows_sql = format!("SELECT {ROW_COLUMNS} FROM messages WHERE queue_id = ANY($1) ORDER BY id FOR UPDATE");
    let recipients_sql = "SELECT r.message, r.recipient, r.state, r.attempt FROM message_recipients r
        JOIN messages m ON m.id = r.message
        WHERE (m.queue_id, r.recipient) IN (SELECT * FROM unnest($1::TEXT[], $2::TEXT[]))";
    let adoptable_sql = format!(
        "SELECT {ROW_COLUMNS} FROM messages WHERE queue_id IS NULL AND writer = $1
            AND (session, client_ip) IN (SELECT * FROM unnest($2::BIGINT[], $3::TEXT[]))
            AND phase = 'rejected' AND stage IN ('data', 'queue') AND first_at_ms >= $4
         ORDER BY id FOR UPDATE"
    );
    let (n_events, n_rows) = (events.len() as i64, most_new_rows(events) as i64);
    let adoptable = adoptable_sessions(events);
    // Sent together (one round trip); the server runs them in this order.
    let (ids_params, rows_params): (Params<'_>, Params<'_>) = (&[&n_events, &n_rows], &[&queue_ids]);
    let recipients_params: Params<'_> = &[&recipient_queues, &recipient_names];
    // Every answer is awaited, the error chosen by `cause_of` (see `log_write::write`).
    let answers = tokio::join!(
        query(tx, ids_sql, ids_params),
        query(tx, &rows_sql, rows_params),
        query(tx, recipients_sql, recipients_params),
        async {
            match &adoptable {
                Some((sessions, clients, since)) => {
                    query(tx, &adoptable_sql, &[&writer, sessions, clients, since]).await.map(Some)
                }
                None => Ok(None),
            }
        },
    );
    let (ids, rows, recipients, refusals) = match answers {
        (Ok(ids), Ok(rows), Ok(recipients), Ok(refusals)) => (ids, rows, recipients, refusals),
        (ids, rows, recipients, refusals) => {
            let cause = cause_of([ids.err(), rows.err(), recipients.err(), refusals.err()]);
            return Err(cause.unwrap_or_else(|| super::unreadable("a failed batch without an error".into())));
        }
    };
    let ids = ids.first().ok_or_else(|| super::unreadable("no ids from the sequences".into()))?;
    let (event_ids, row_ids): (Vec<i64>, Vec<i64>) = (get(ids, 0)?, get(ids, 1)?);
    let mut loaded = rows.iter().map(read_message_row).collect::<Result<Vec<_>>>()?;
    for row in refusals.iter().flatten() {
        loaded.push(read_message_row(row)?);
    }
    let recipients = recipients
        .iter()
        .map(|r| {
            let attempt: i64 = get(r, 3)?;
            let state = RecipientState { state: get(r, 2)?, attempt: u32::try_from(attempt).unwrap_or(0) };
            Ok((get(r, 0)?, get(r, 1)?, state))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut fold = Fold::new(writer, loaded, recipients, row_ids);
    let mut stored = EventColumns::default();
    for (e, &id) in events.iter().zip(&event_ids) {
        stored.push(id, e)?;
        fold.record(id, e)?;
    }
    write(tx, writer, &stored, &fold.finish()).await
}

/// The events of a batch as the columns of `events`.
#[derive(Default)]
pub(super) struct EventColumns {
    pub id: Vec<i64>,
    pub at_ms: Vec<i64>,
    pub session: Vec<i64>,
    pub client_ip: Vec<String>,
    pub queue_id: Vec<Option<String>>,
    pub kind: Vec<&'static str>,
    pub data: Vec<String>,
    pub domain: Vec<Option<String>>,
    pub sender_domain: Vec<Option<String>>,
}

impl EventColumns {
    fn push(&mut self, id: i64, e: &Event) -> Result<()> {
        let (domain, sender_domain) = search_domains(&e.kind);
        self.id.push(id);
        self.at_ms.push(e.at_ms);
        self.session.push(e.session as i64);
        self.client_ip.push(e.client_ip.to_string());
        self.queue_id.push(e.queue_id.map(|q| q.to_string()));
        self.kind.push(EventKind::name(&e.kind));
        self.data.push(serde_json::to_string(e)?);
        self.domain.push(domain);
        self.sender_domain.push(sender_domain);
        Ok(())
    }
}
