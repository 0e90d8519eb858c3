//! [`LogSearch::search`] and the retention purge for [`SqliteStore`]: the `messages` rows.
//!
//! In: a [`Scope`] and a [`LogQuery`]. Out: one [`LogPage`], newest activity first. How a
//! search finds its rows fast: the most selective filter given picks the index walked
//! (queue id, Message-ID, recipient, sender), else the domain (or a domain admin's
//! domains) walks two indexes, (account domain, arrival) and (sender domain, arrival), each newest first and stopped at one page, merged; else the arrival index.
//! Every other filter, the scope, the time range and the cursor are conditions on the
//! rows walked. Every value is a bound parameter.

use rusqlite::types::Value;
use rusqlite::{Row, params, params_from_iter};

use super::SqliteStore;
use super::filter::Filter;
use crate::Result;
use crate::directory::Scope;
use crate::log::{
    LogCursor, LogMessage, LogPage, LogQuery, MAX_LISTED_RECIPIENTS, Purged, RecipientCounts, message_key,
};
use crate::log_state::MessageStatus;

/// The columns [`read_row`] reads, in order.
pub(super) const COLUMNS: &str = "id, queue_id, first_at_ms, last_at_ms, status, stage, rule, reply, session,
    client_ip, account, account_domain, sender_domain, identity, sender, message_id, subject, size,
    recipient_count, pending, deferred, delivered, bounced, expired, attempts,
    (SELECT group_concat(recipient, char(10)) FROM
        (SELECT recipient FROM message_recipients WHERE message = messages.id LIMIT 20))";

const ORDER: &str = "ORDER BY first_at_ms DESC, id DESC";

impl SqliteStore {
    pub(super) fn search_rows(&self, scope: &Scope, q: &LogQuery) -> Result<LogPage> {
        let limit = q.effective_limit();
        let conditions = conditions(scope, q);
        let branches = branches(scope, q);
        let mut params: Vec<Value> = Vec::new();
        let sql = if branches.len() <= 1 {
            let mut sql = format!("SELECT {COLUMNS} FROM messages");
            let mut clauses = Vec::new();
            for (clause, values) in &branches {
                clauses.push(clause.clone());
                params.extend(values.iter().cloned());
            }
            clauses.extend(conditions.clauses().iter().cloned());
            params.extend(conditions.params().iter().cloned());
            if !clauses.is_empty() {
                sql.push_str(&format!(" WHERE {}", clauses.join(" AND ")));
            }
            format!("{sql} {ORDER} LIMIT {limit}")
        } else {
            // Each branch walks its own index, newest first, for at most one page; the
            // union is ordered again. A row found by both branches is one row.
            let mut parts = Vec::new();
            for (clause, values) in &branches {
                let mut clauses = vec![clause.clone()];
                clauses.extend(conditions.clauses().iter().cloned());
                parts.push(format!(
                    "SELECT id FROM (SELECT id FROM messages WHERE {} {ORDER} LIMIT {limit})",
                    clauses.join(" AND ")
                ));
                params.extend(values.iter().cloned());
                params.extend(conditions.params().iter().cloned());
            }
            format!("SELECT {COLUMNS} FROM messages WHERE id IN ({}) {ORDER} LIMIT {limit}", parts.join(" UNION "))
        };
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), read_row)?;
        let items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        let next = (items.len() == limit as usize)
            .then(|| items.last().map(|m| LogCursor { first_at_ms: m.first_at_ms, id: m.id }.to_string()))
            .flatten();
        Ok(LogPage { items, limit, next })
    }

    pub(super) fn purge_rows(&self, before_ms: i64, batch: u32) -> Result<Purged> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let events = tx.execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
            params![before_ms, batch],
        )?;
        // Their recipients go with them (ON DELETE CASCADE).
        let messages = tx.execute(
            "DELETE FROM messages WHERE id IN
                (SELECT id FROM messages WHERE first_at_ms < ?1 ORDER BY first_at_ms LIMIT ?2)",
            params![before_ms, batch],
        )?;
        // The hours' counts go with the hours (a batch of hours: a few rows each).
        tx.execute(
            "DELETE FROM message_hours WHERE hour IN
                (SELECT DISTINCT hour FROM message_hours WHERE hour < ?1 ORDER BY hour LIMIT ?2)",
            params![before_ms.div_euclid(crate::log::HourCounts::HOUR_MS), batch.div_ceil(100).max(1)],
        )?;
        tx.commit()?;
        Ok(Purged { events: events as u64, messages: messages as u64 })
    }
}

/// The index each part of the search walks: one condition, or two (a domain's account
/// and sender columns) whose results are merged; none: the time index.
fn branches(scope: &Scope, q: &LogQuery) -> Vec<(String, Vec<Value>)> {
    let text = |s: &str| vec![Value::Text(s.to_string())];
    if let Some(id) = q.queue_id {
        return vec![("queue_id = ?".into(), text(&id.to_string()))];
    }
    if let Some(key) = q.message_id.as_deref().and_then(message_key) {
        return vec![("message_key = ?".into(), text(&key))];
    }
    if let Some(rcpt) = &q.recipient {
        let clause = "id IN (SELECT message FROM message_recipients WHERE recipient = ?)";
        return vec![(clause.into(), text(&rcpt.trim().to_lowercase()))];
    }
    if let Some(sender) = &q.sender {
        return vec![("sender = ?".into(), text(&sender.trim().to_lowercase()))];
    }
    let domains: Vec<String> = match (&q.domain, scope) {
        (Some(d), _) => vec![domain(d)],
        (None, Scope::Domains(list)) if !list.is_empty() => list.iter().map(|d| domain(d)).collect(),
        _ => return Vec::new(),
    };
    let marks = vec!["?"; domains.len()].join(", ");
    let values: Vec<Value> = domains.into_iter().map(Value::Text).collect();
    ["account_domain", "sender_domain"]
        .iter()
        .map(|column| (format!("{column} IN ({marks})"), values.clone()))
        .collect()
}

/// Every condition a row must meet: the filters, the scope, the time range, the cursor.
fn conditions(scope: &Scope, q: &LogQuery) -> Filter {
    let mut f = Filter::default();
    let lower = |s: &String| Value::Text(s.trim().to_lowercase());
    if let Scope::Domains(list) = scope {
        let list: Vec<Value> = list.iter().map(|d| Value::Text(domain(d))).collect();
        if list.is_empty() {
            f.clause("0", []);
        } else {
            let marks = vec!["?"; list.len()].join(", ");
            f.owned_clause(format!("(account_domain IN ({marks}) OR sender_domain IN ({marks}))"), {
                let mut both = list.clone();
                both.extend(list);
                both
            });
        }
    }
    if let Some(d) = &q.domain {
        let d = Value::Text(domain(d));
        f.clause("(account_domain = ? OR sender_domain = ?)", [d.clone(), d]);
    }
    if let Some(since) = q.since_ms {
        f.clause("first_at_ms >= ?", [Value::Integer(since)]);
    }
    if let Some(until) = q.until_ms {
        f.clause("first_at_ms <= ?", [Value::Integer(until)]);
    }
    if let Some(c) = q.before {
        let (at, id) = (Value::Integer(c.first_at_ms), Value::Integer(c.id));
        f.clause("first_at_ms <= ? AND (first_at_ms < ? OR id < ?)", [at.clone(), at, id]);
    }
    if let Some(id) = q.queue_id {
        f.equals("queue_id", id.to_string());
    }
    if let Some(key) = &q.message_id {
        f.equals("message_key", message_key(key).unwrap_or_default());
    }
    if let Some(rcpt) = &q.recipient {
        f.clause("id IN (SELECT message FROM message_recipients WHERE recipient = ?)", [lower(rcpt)]);
    }
    if let Some(sender) = &q.sender {
        f.clause("sender = ?", [lower(sender)]);
    }
    if let Some(identity) = &q.identity {
        f.clause("lower(identity) = ?", [lower(identity)]);
    }
    if let Some(account) = &q.account {
        f.clause("lower(account) = ?", [lower(account)]);
    }
    if let Some(ip) = q.client_ip {
        f.equals("client_ip", ip.to_string());
    }
    if let Some(status) = q.status {
        f.equals("status", status.name().to_string());
    }
    if let Some(stage) = q.stage {
        let name = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string));
        f.equals("stage", name.unwrap_or_default());
    }
    if let Some(subject) = &q.subject {
        f.contains("subject", subject);
    }
    if let Some(rule) = &q.rule {
        f.contains("rule", rule);
    }
    f
}

fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// One row of [`COLUMNS`].
pub(super) fn read_row(r: &Row<'_>) -> rusqlite::Result<LogMessage> {
    let status: String = r.get(4)?;
    let recipients: Option<String> = r.get(25)?;
    let size: Option<i64> = r.get(17)?;
    Ok(LogMessage {
        id: r.get(0)?,
        queue_id: r.get(1)?,
        first_at_ms: r.get(2)?,
        last_at_ms: r.get(3)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued),
        stage: r.get(5)?,
        rule: r.get(6)?,
        reply: r.get(7)?,
        session: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
        client_ip: r.get(9)?,
        account: r.get(10)?,
        account_domain: r.get(11)?,
        sender_domain: r.get(12)?,
        identity: r.get(13)?,
        sender: r.get(14)?,
        message_id: r.get(15)?,
        subject: r.get(16)?,
        size: size.and_then(|s| u64::try_from(s).ok()),
        recipient_count: r.get(18)?,
        counts: RecipientCounts {
            pending: r.get(19)?,
            deferred: r.get(20)?,
            delivered: r.get(21)?,
            bounced: r.get(22)?,
            expired: r.get(23)?,
        },
        attempts: r.get(24)?,
        recipients: recipients
            .map(|all| all.split('\n').take(MAX_LISTED_RECIPIENTS).map(str::to_string).collect())
            .unwrap_or_default(),
    })
}
