//! [`LogSearch`] for [`SqliteStore`]: a message's timeline, and the trait's glue.
//!
//! In: a [`MessageKey`] and the caller's [`Scope`]. Out: the row and its events in order:
//! every event with its queue id (checks, DKIM, spooling, deliveries, DSNs, quarantine),
//! and its SMTP session's connection events (connect, TLS, AUTH, connection-level
//! refusals, disconnect) with the refusal the row was made from. The session's events are
//! found by (session, client address) from the session's `connect` at or before the
//! message to its `disconnect` (session numbers restart with the process: the window
//! tells one session from an earlier one with the same number). Other transactions of the
//! same session are rows of their own and are left out.
//!
//! Defends against: a row outside the scope (`None`, as if there were none), unbounded
//! reads (at most [`MAX_STEPS`] events, [`MAX_SESSION_EVENTS`] of the session), and events
//! this version cannot read (given as stored).

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::log_search::{COLUMNS, read_row};
use crate::Result;
use crate::directory::Scope;
use crate::log::{
    HourCounts, LogMessage, LogPage, LogQuery, LogSearch, MAX_STEPS, MessageKey, Purged, SenderCount, SenderKind,
    Timeline, TimelineStep,
};
use crate::log_steps::step;

/// The most connection events read for one session.
const MAX_SESSION_EVENTS: usize = 500;
/// Connection-level refusals (not of one transaction): shown in every timeline of the session.
const SESSION_STAGES: &[&str] = &["connect", "helo", "tls", "auth", "command"];

impl LogSearch for SqliteStore {
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
        let conn = self.reader();
        let Some(message) = find(&conn, scope, key)? else { return Ok(None) };
        let refused_event: Option<i64> =
            conn.query_row("SELECT refused_event FROM messages WHERE id = ?1", [message.id], |r| r.get(0))?;
        let mut rows = Vec::new();
        if let Some(q) = &message.queue_id {
            let mut stmt =
                conn.prepare_cached("SELECT id, data FROM events WHERE queue_id = ?1 ORDER BY id LIMIT ?2")?;
            let found = stmt.query_map(params![q, MAX_STEPS as i64 + 1], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows = found.collect::<rusqlite::Result<Vec<(i64, String)>>>()?;
        }
        rows.extend(session_events(&conn, &message, refused_event)?);
        let mut steps: Vec<TimelineStep> = rows.iter().map(|(id, data)| step(*id, data)).collect();
        steps.sort_by_key(|s| (s.at_ms, s.event_id));
        steps.dedup_by_key(|s| s.event_id);
        let truncated = steps.len() > MAX_STEPS;
        steps.truncate(MAX_STEPS);
        Ok(Some(Timeline { message, steps, truncated }))
    }

    fn purge_batch(&self, before_ms: i64, batch: u32) -> Result<Purged> {
        self.purge_rows(before_ms, batch)
    }
}

/// The row `key` names, if it is in `scope` (for a Message-ID: the newest such row).
fn find(conn: &Connection, scope: &Scope, key: &MessageKey) -> Result<Option<LogMessage>> {
    let (mut sql, mut values): (String, Vec<rusqlite::types::Value>) = match key {
        MessageKey::QueueId(q) => {
            (format!("SELECT {COLUMNS} FROM messages WHERE queue_id = ?"), vec![q.to_string().into()])
        }
        MessageKey::MessageId(m) => {
            (format!("SELECT {COLUMNS} FROM messages WHERE message_key = ?"), vec![m.clone().into()])
        }
        MessageKey::Row(id) => (format!("SELECT {COLUMNS} FROM messages WHERE id = ?"), vec![(*id).into()]),
    };
    if let Scope::Domains(list) = scope {
        if list.is_empty() {
            return Ok(None);
        }
        let marks = vec!["?"; list.len()].join(", ");
        sql.push_str(&format!(" AND (account_domain IN ({marks}) OR sender_domain IN ({marks}))"));
        let lower: Vec<rusqlite::types::Value> =
            list.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase().into()).collect();
        values.extend(lower.iter().cloned());
        values.extend(lower);
    }
    sql.push_str(" ORDER BY first_at_ms DESC, id DESC LIMIT 1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(rusqlite::params_from_iter(values), read_row).optional()?)
}

/// The connection events of the message's session, and the refusal the row was made from.
fn session_events(conn: &Connection, m: &LogMessage, refused_event: Option<i64>) -> Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    if let Some(id) = refused_event {
        let found = conn
            .prepare_cached("SELECT id, data FROM events WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        out.extend(found);
    }
    if m.session == 0 {
        return Ok(out);
    }
    let session = i64::try_from(m.session).unwrap_or(i64::MAX);
    let connected: Option<i64> = conn
        .prepare_cached(
            "SELECT at_ms FROM events WHERE session = ?1 AND client_ip = ?2 AND queue_id IS NULL AND session != 0
                AND at_ms <= ?3 AND kind = 'connect' ORDER BY at_ms DESC LIMIT 1",
        )?
        .query_row(params![session, m.client_ip, m.first_at_ms], |r| r.get(0))
        .optional()?;
    let Some(connected) = connected else { return Ok(out) };
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, data, json_extract(data, '$.stage') FROM events
         WHERE session = ?1 AND client_ip = ?2 AND queue_id IS NULL AND session != 0 AND at_ms >= ?3
         ORDER BY at_ms, id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![session, m.client_ip, connected, MAX_SESSION_EVENTS as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
    })?;
    let mut seen_connect = false;
    for row in rows {
        let (id, kind, data, stage) = row?;
        match kind.as_str() {
            "connect" if seen_connect => break,
            "connect" => seen_connect = true,
            "refused" if !stage.as_deref().is_some_and(|s| SESSION_STAGES.contains(&s)) => continue,
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
