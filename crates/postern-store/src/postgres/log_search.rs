//! [`LogSearch::search`](crate::LogSearch::search) and the retention purge for
//! [`PgStore`]: the `messages` rows, as SQLite finds them (`sqlite/log_search.rs`).
//!
//! In: a [`Scope`] and a [`LogQuery`]. Out: one [`LogPage`], newest arrival first. How a
//! search finds its rows fast: the most selective filter given picks the index walked
//! (queue id, Message-ID, recipient, sender), else the domain (or a domain admin's
//! domains) walks two indexes, (account domain, arrival, id) and (sender domain, arrival,
//! id), each newest first and stopped at one page, merged; else the arrival index. Every
//! other filter, the scope, the time range and the cursor are conditions on the rows
//! walked. A subject is matched as a substring (ASCII case folded, as SQLite does) with
//! `LIKE`, which a trigram index serves when the server has `pg_trgm`
//! (`migrations::subject_index`); without it, the rows walked are read. Every value is a
//! bound parameter.

use tokio_postgres::Row;

use super::filter::{Filter, ascii_lower};
use super::{PgStore, execute, get, query};
use crate::Result;
use crate::directory::Scope;
use crate::log::{LogCursor, LogMessage, LogPage, LogQuery, Purged, RecipientCounts, message_key};
use crate::log_state::MessageStatus;

/// The columns [`read_row`] reads, in order.
pub(super) const COLUMNS: &str = "id, queue_id, first_at_ms, last_at_ms, status, stage, rule, reply, session,
    client_ip, account, account_domain, sender_domain, identity, sender, message_id, subject, size,
    recipient_count, pending, deferred, delivered, bounced, expired, attempts,
    ARRAY(SELECT recipient FROM message_recipients WHERE message = messages.id ORDER BY recipient LIMIT 20)";

const ORDER: &str = "ORDER BY first_at_ms DESC, id DESC";

impl PgStore {
    pub(super) fn search_rows(&self, scope: &Scope, q: &LogQuery) -> Result<LogPage> {
        let limit = q.effective_limit();
        let mut f = Filter::default();
        let branches = branches(&mut f, scope, q);
        let conditions = conditions(&mut f, scope, q);
        let sql = if branches.len() <= 1 {
            let clauses: Vec<String> = branches.into_iter().chain(conditions).collect();
            let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
            format!("SELECT {COLUMNS} FROM messages{filter} {ORDER} LIMIT {limit}")
        } else {
            // Each branch walks its own index, newest first, for at most one page; the
            // union is ordered again. A row found by both branches is one row.
            let parts: Vec<String> = branches
                .iter()
                .map(|branch| {
                    let clauses: Vec<&str> =
                        std::iter::once(branch.as_str()).chain(conditions.iter().map(String::as_str)).collect();
                    format!("(SELECT id FROM messages WHERE {} {ORDER} LIMIT {limit})", clauses.join(" AND "))
                })
                .collect();
            format!("SELECT {COLUMNS} FROM messages WHERE id IN ({}) {ORDER} LIMIT {limit}", parts.join(" UNION "))
        };
        let items = self.with_client(move |client| async move {
            query(&client, &sql, &f.params()).await?.iter().map(read_row).collect::<Result<Vec<_>>>()
        })?;
        let next = (items.len() == limit as usize)
            .then(|| items.last().map(|m| LogCursor { first_at_ms: m.first_at_ms, id: m.id }.to_string()))
            .flatten();
        Ok(LogPage { items, limit, next })
    }

    pub(super) fn purge_rows(&self, before_ms: i64, batch: u32) -> Result<Purged> {
        let hours = before_ms.div_euclid(crate::log::HourCounts::HOUR_MS);
        let hour_batch = i64::from(batch.div_ceil(100).max(1));
        let batch = i64::from(batch);
        self.with_client(move |mut client| async move {
            let tx = client.transaction().await?;
            let events = execute(
                &tx,
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
                &[&before_ms, &batch],
            )
            .await?;
            // Their recipients go with them (ON DELETE CASCADE).
            let messages = execute(
                &tx,
                "DELETE FROM messages WHERE id IN
                    (SELECT id FROM messages WHERE first_at_ms < $1 ORDER BY first_at_ms LIMIT $2)",
                &[&before_ms, &batch],
            )
            .await?;
            // The hours' counts go with the hours (a batch of hours: a few rows each).
            execute(
                &tx,
                "DELETE FROM message_hours WHERE hour IN
                    (SELECT DISTINCT hour FROM message_hours WHERE hour < $1 ORDER BY hour LIMIT $2)",
                &[&hours, &hour_batch],
            )
            .await?;
            tx.commit().await?;
            Ok(Purged { events, messages })
        })
    }
}

/// The index each part of the search walks: one condition, or two (a domain's account
/// and sender columns) whose results are merged; none: the arrival index.
fn branches(f: &mut Filter, scope: &Scope, q: &LogQuery) -> Vec<String> {
    if let Some(id) = q.queue_id {
        return vec![format!("queue_id = {}", f.bind(id.to_string()))];
    }
    if let Some(key) = q.message_id.as_deref().and_then(message_key) {
        return vec![format!("message_key = {}", f.bind(key))];
    }
    if let Some(rcpt) = &q.recipient {
        let mark = f.bind(rcpt.trim().to_lowercase());
        return vec![format!("id IN (SELECT message FROM message_recipients WHERE recipient = {mark})")];
    }
    if let Some(sender) = &q.sender {
        return vec![format!("sender = {}", f.bind(sender.trim().to_lowercase()))];
    }
    let mut list: Vec<String> = match (&q.domain, scope) {
        (Some(d), _) => vec![domain(d)],
        (None, Scope::Domains(list)) if !list.is_empty() => list.iter().map(|d| domain(d)).collect(),
        _ => return Vec::new(),
    };
    list.sort();
    list.dedup();
    // One domain: an equality, so that the index gives the rows in order.
    let test = match list.as_slice() {
        [one] => format!("= {}", f.bind(one.clone())),
        _ => format!("= ANY({})", f.bind(list)),
    };
    vec![format!("account_domain {test}"), format!("sender_domain {test}")]
}

/// Every condition a row must meet: the filters, the scope, the time range, the cursor.
fn conditions(f: &mut Filter, scope: &Scope, q: &LogQuery) -> Vec<String> {
    let mut c = Vec::new();
    let lower = |s: &String| s.trim().to_lowercase();
    if let Scope::Domains(list) = scope {
        if list.is_empty() {
            c.push("FALSE".to_string());
        } else {
            let mark = f.bind(list.iter().map(|d| domain(d)).collect::<Vec<_>>());
            c.push(format!("(account_domain = ANY({mark}) OR sender_domain = ANY({mark}))"));
        }
    }
    if let Some(d) = &q.domain {
        let mark = f.bind(domain(d));
        c.push(format!("(account_domain = {mark} OR sender_domain = {mark})"));
    }
    if let Some(since) = q.since_ms {
        c.push(format!("first_at_ms >= {}", f.bind(since)));
    }
    if let Some(until) = q.until_ms {
        c.push(format!("first_at_ms <= {}", f.bind(until)));
    }
    if let Some(cursor) = q.before {
        let (at, id) = (f.bind(cursor.first_at_ms), f.bind(cursor.id));
        c.push(format!("(first_at_ms, id) < ({at}, {id})"));
    }
    if let Some(id) = q.queue_id {
        c.push(format!("queue_id = {}", f.bind(id.to_string())));
    }
    if let Some(key) = &q.message_id {
        c.push(format!("message_key = {}", f.bind(message_key(key).unwrap_or_default())));
    }
    if let Some(rcpt) = &q.recipient {
        let mark = f.bind(lower(rcpt));
        c.push(format!("id IN (SELECT message FROM message_recipients WHERE recipient = {mark})"));
    }
    if let Some(sender) = &q.sender {
        c.push(format!("sender = {}", f.bind(lower(sender))));
    }
    if let Some(identity) = &q.identity {
        c.push(format!("{} = {}", ascii_lower("identity"), f.bind(lower(identity))));
    }
    if let Some(account) = &q.account {
        c.push(format!("{} = {}", ascii_lower("account"), f.bind(lower(account))));
    }
    if let Some(ip) = q.client_ip {
        c.push(format!("client_ip = {}", f.bind(ip.to_string())));
    }
    if let Some(status) = q.status {
        c.push(format!("status = {}", f.bind(status.name().to_string())));
    }
    if let Some(stage) = q.stage {
        let name = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string));
        c.push(format!("stage = {}", f.bind(name.unwrap_or_default())));
    }
    if let Some(subject) = &q.subject {
        c.push(format!("{} LIKE {}", ascii_lower("subject"), f.bind(like_pattern(subject))));
    }
    if let Some(rule) = &q.rule {
        c.push(format!("strpos({}, {}) > 0", ascii_lower("rule"), f.bind(rule.to_ascii_lowercase())));
    }
    c
}

/// `%needle%` with the needle's ASCII case folded and `\`, `%` and `_` escaped.
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_ascii_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// One row of [`COLUMNS`].
pub(super) fn read_row(r: &Row) -> Result<LogMessage> {
    let n = |i: usize| -> Result<u32> { Ok(u32::try_from(get::<i64>(r, i)?).unwrap_or(0)) };
    let status: String = get(r, 4)?;
    let size: Option<i64> = get(r, 17)?;
    Ok(LogMessage {
        id: get(r, 0)?,
        queue_id: get(r, 1)?,
        first_at_ms: get(r, 2)?,
        last_at_ms: get(r, 3)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued),
        stage: get(r, 5)?,
        rule: get(r, 6)?,
        reply: get(r, 7)?,
        session: u64::try_from(get::<i64>(r, 8)?).unwrap_or(0),
        client_ip: get(r, 9)?,
        account: get(r, 10)?,
        account_domain: get(r, 11)?,
        sender_domain: get(r, 12)?,
        identity: get(r, 13)?,
        sender: get(r, 14)?,
        message_id: get(r, 15)?,
        subject: get(r, 16)?,
        size: size.and_then(|s| u64::try_from(s).ok()),
        recipient_count: n(18)?,
        counts: RecipientCounts {
            pending: n(19)?,
            deferred: n(20)?,
            delivered: n(21)?,
            bounced: n(22)?,
            expired: n(23)?,
        },
        attempts: n(24)?,
        recipients: get(r, 25)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_the_needle_only() {
        assert_eq!(like_pattern("In_voice 100%"), "%in\\_voice 100\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}
