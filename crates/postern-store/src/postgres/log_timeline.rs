//! [`LogSearch`] for [`PgStore`]: a message's timeline, and the trait's glue.
//!
//! In: a [`MessageKey`] and the caller's [`Scope`]. Out: the row and its events in order,
//! as SQLite gives them (`sqlite/log_timeline.rs`): every event with its queue id, and its
//! SMTP session's connection events with the refusal the row was made from. A session is
//! (writer, session, client): the events of the process that made the row, from the
//! session's `connect` at or before the message to its `disconnect`, so that another
//! node's session with the same number is never mixed in.
//!
//! Defends against: a row outside the scope (`None`, as if there were none), unbounded
//! reads (at most [`MAX_STEPS`] events, [`MAX_SESSION_EVENTS`] of the session), and events
//! this version cannot read (given as stored).

use deadpool_postgres::GenericClient;

use super::log_search::{COLUMNS, read_row};
use super::{PgStore, get, query, query_opt};
use crate::Result;
use crate::directory::Scope;
use crate::log::{
    HourCounts, LogMessage, LogPage, LogQuery, LogSearch, MAX_STEPS, MessageKey, Purged, SenderCount, SenderKind,
    Timeline, TimelineStep,
};
use crate::log_steps::step;

/// The most connection events read for one session.
const MAX_SESSION_EVENTS: i64 = 500;
/// Connection-level refusals (not of one transaction): shown in every timeline of the session.
const SESSION_STAGES: &[&str] = &["connect", "helo", "tls", "auth", "command"];

impl LogSearch for PgStore {
    fn hourly(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<HourCounts>> {
        self.hourly_counts(scope, from_ms, to_ms)
    }

    fn top_senders(&self, scope: &Scope, since_ms: i64, by: SenderKind, limit: u32) -> Result<Vec<SenderCount>> {
        self.top_sender_counts(scope, since_ms, by, limit)
    }

    fn search(&self, scope: &Scope, query: &LogQuery) -> Result<LogPage> {
        self.search_rows(scope, query)
    }

    fn timeline(&self, scope: &Scope, key: &MessageKey) -> Result<Option<Timeline>> {
        let (scope, key) = (scope.clone(), key.clone());
        self.with_client(move |client| async move {
            let Some(found) = find(&client, &scope, &key).await? else { return Ok(None) };
            let mut rows = Vec::new();
            if let Some(q) = &found.message.queue_id {
                let sql = "SELECT id, data FROM events WHERE queue_id = $1 ORDER BY id LIMIT $2";
                for r in query(&client, sql, &[q, &(MAX_STEPS as i64 + 1)]).await? {
                    rows.push((get::<i64>(&r, 0)?, get::<String>(&r, 1)?));
                }
            }
            rows.extend(session_events(&client, &found).await?);
            let mut steps: Vec<TimelineStep> = rows.iter().map(|(id, data)| step(*id, data)).collect();
            steps.sort_by_key(|s| (s.at_ms, s.event_id));
            steps.dedup_by_key(|s| s.event_id);
            let truncated = steps.len() > MAX_STEPS;
            steps.truncate(MAX_STEPS);
            Ok(Some(Timeline { message: found.message, steps, truncated }))
        })
    }

    fn purge_batch(&self, before_ms: i64, batch: u32) -> Result<Purged> {
        self.purge_rows(before_ms, batch)
    }
}

/// A row, with what its timeline needs beside it.
struct Found {
    message: LogMessage,
    refused_event: Option<i64>,
    writer: i64,
}

/// The row `key` names, if it is in `scope` (for a Message-ID: the newest such row).
async fn find(c: &impl GenericClient, scope: &Scope, key: &MessageKey) -> Result<Option<Found>> {
    let mut sql = format!("SELECT {COLUMNS}, refused_event, writer FROM messages WHERE ");
    let key_value: Box<dyn tokio_postgres::types::ToSql + Sync + Send> = match key {
        MessageKey::QueueId(q) => {
            sql.push_str("queue_id = $1");
            Box::new(q.to_string())
        }
        MessageKey::MessageId(m) => {
            sql.push_str("message_key = $1");
            Box::new(m.clone())
        }
        MessageKey::Row(id) => {
            sql.push_str("id = $1");
            Box::new(*id)
        }
    };
    let list: Option<Vec<String>> = match scope {
        Scope::All => None,
        Scope::Domains(list) if list.is_empty() => return Ok(None),
        Scope::Domains(list) => {
            sql.push_str(" AND (account_domain = ANY($2) OR sender_domain = ANY($2))");
            Some(list.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()).collect())
        }
    };
    sql.push_str(" ORDER BY first_at_ms DESC, id DESC LIMIT 1");
    let row = match &list {
        Some(list) => query_opt(c, &sql, &[key_value.as_ref(), list]).await?,
        None => query_opt(c, &sql, &[key_value.as_ref()]).await?,
    };
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Found { message: read_row(&row)?, refused_event: get(&row, 26)?, writer: get(&row, 27)? }))
}

/// The connection events of the message's session, and the refusal the row was made from.
async fn session_events(c: &impl GenericClient, found: &Found) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    if let Some(id) = found.refused_event
        && let Some(r) = query_opt(c, "SELECT id, data FROM events WHERE id = $1", &[&id]).await?
    {
        out.push((get(&r, 0)?, get(&r, 1)?));
    }
    let m = &found.message;
    if m.session == 0 {
        return Ok(out);
    }
    let session = i64::try_from(m.session).unwrap_or(i64::MAX);
    let connected = query_opt(
        c,
        "SELECT at_ms FROM events WHERE writer = $1 AND session = $2 AND client_ip = $3 AND queue_id IS NULL
            AND session != 0 AND at_ms <= $4 AND kind = 'connect' ORDER BY at_ms DESC LIMIT 1",
        &[&found.writer, &session, &m.client_ip, &m.first_at_ms],
    )
    .await?;
    let Some(connected) = connected else { return Ok(out) };
    let connected: i64 = get(&connected, 0)?;
    let rows = query(
        c,
        "SELECT id, kind, data FROM events WHERE writer = $1 AND session = $2 AND client_ip = $3
            AND queue_id IS NULL AND session != 0 AND at_ms >= $4 ORDER BY at_ms, id LIMIT $5",
        &[&found.writer, &session, &m.client_ip, &connected, &MAX_SESSION_EVENTS],
    )
    .await?;
    let mut seen_connect = false;
    for row in &rows {
        let (id, kind, data): (i64, String, String) = (get(row, 0)?, get(row, 1)?, get(row, 2)?);
        match kind.as_str() {
            "connect" if seen_connect => break,
            "connect" => seen_connect = true,
            "refused" if !session_stage(&data) => continue,
            "refused" | "tls" | "auth" | "disconnect" => {}
            _ => continue,
        }
        let last = kind == "disconnect";
        out.push((id, data));
        if last {
            break;
        }
    }
    Ok(out)
}

/// Whether a stored refusal was of the connection, not of one transaction.
fn session_stage(data: &str) -> bool {
    let value: serde_json::Value = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
    value.get("stage").and_then(|s| s.as_str()).is_some_and(|s| SESSION_STAGES.contains(&s))
}
