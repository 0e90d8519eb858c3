//! The dashboard's figures for [`PgStore`]: [`LogSearch::hourly`](crate::LogSearch::hourly)
//! from the `message_hours` counts the ingest keeps, and
//! [`LogSearch::top_senders`](crate::LogSearch::top_senders) from the `messages` rows, as
//! SQLite counts them (`sqlite/log_stats.rs`).
//!
//! In: a [`Scope`] and a time range. Out: counts. A superadmin's hours are the total rows
//! (one per hour); a domain admin's are the sum of the rows under its domains, each row
//! (one account domain and one sender domain) counted once even when both are its own.
//! Top senders count at most [`MAX_TOP_SENDERS_ROWS`] rows of the range, newest first.

use super::{PgStore, get, query};
use crate::Result;
use crate::directory::Scope;
use crate::log::{HourCounts, MAX_TOP_SENDERS_ROWS, SenderCount, SenderKind};
use crate::log_fold::TOTAL;

const COUNTS: &str = "sum(received)::BIGINT, sum(refused)::BIGINT, sum(quarantined)::BIGINT,
    sum(discarded)::BIGINT, sum(checked)::BIGINT, sum(spam)::BIGINT, sum(delivered)::BIGINT,
    sum(deferred)::BIGINT, sum(bounced)::BIGINT";

impl PgStore {
    pub(super) fn hourly_counts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<HourCounts>> {
        let from = from_ms.div_euclid(HourCounts::HOUR_MS);
        let to = to_ms.div_euclid(HourCounts::HOUR_MS) + i64::from(to_ms.rem_euclid(HourCounts::HOUR_MS) != 0);
        let (sql, list) = match scope {
            Scope::All => (
                format!(
                    "SELECT hour, {COUNTS} FROM message_hours
                     WHERE hour >= $1 AND hour < $2 AND account_domain = '{TOTAL}' AND sender_domain = '{TOTAL}'
                     GROUP BY hour ORDER BY hour"
                ),
                None,
            ),
            Scope::Domains(list) => {
                let list = domains(list);
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                (
                    format!(
                        "SELECT hour, {COUNTS} FROM message_hours
                         WHERE hour >= $1 AND hour < $2 AND account_domain != '{TOTAL}'
                            AND (account_domain = ANY($3) OR sender_domain = ANY($3))
                         GROUP BY hour ORDER BY hour"
                    ),
                    Some(list),
                )
            }
        };
        self.with_client(move |client| async move {
            let rows = match &list {
                Some(list) => query(&client, &sql, &[&from, &to, list]).await?,
                None => query(&client, &sql, &[&from, &to]).await?,
            };
            rows.iter()
                .map(|r| {
                    let n = |i: usize| -> Result<u64> { Ok(u64::try_from(get::<i64>(r, i)?).unwrap_or(0)) };
                    Ok(HourCounts {
                        hour_ms: get::<i64>(r, 0)? * HourCounts::HOUR_MS,
                        received: n(1)?,
                        refused: n(2)?,
                        quarantined: n(3)?,
                        discarded: n(4)?,
                        checked: n(5)?,
                        spam: n(6)?,
                        delivered: n(7)?,
                        deferred: n(8)?,
                        bounced: n(9)?,
                    })
                })
                .collect()
        })
    }

    pub(super) fn top_sender_counts(
        &self,
        scope: &Scope,
        since_ms: i64,
        by: SenderKind,
        limit: u32,
    ) -> Result<Vec<SenderCount>> {
        let column = match by {
            SenderKind::Account => "account",
            SenderKind::Identity => "identity",
        };
        let cap = MAX_TOP_SENDERS_ROWS;
        let (rows, list) = match scope {
            Scope::All => (
                format!(
                    "SELECT {column} FROM messages WHERE first_at_ms >= $1 AND {column} IS NOT NULL
                     ORDER BY first_at_ms DESC LIMIT {cap}"
                ),
                None,
            ),
            Scope::Domains(list) => {
                let list = domains(list);
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                // Each domain column walks its own index; a row under both is one row.
                (
                    format!(
                        "SELECT {column} FROM messages WHERE id IN (
                            (SELECT id FROM messages WHERE account_domain = ANY($2) AND first_at_ms >= $1
                                ORDER BY first_at_ms DESC LIMIT {cap})
                            UNION
                            (SELECT id FROM messages WHERE sender_domain = ANY($2) AND first_at_ms >= $1
                                ORDER BY first_at_ms DESC LIMIT {cap}))
                         AND {column} IS NOT NULL"
                    ),
                    Some(list),
                )
            }
        };
        let sql = format!(
            "SELECT {column}, count(*) AS n FROM ({rows}) AS senders GROUP BY {column}
             ORDER BY n DESC, {column} COLLATE \"C\" LIMIT {limit}"
        );
        self.with_client(move |client| async move {
            let found = match &list {
                Some(list) => query(&client, &sql, &[&since_ms, list]).await?,
                None => query(&client, &sql, &[&since_ms]).await?,
            };
            found
                .iter()
                .map(|r| Ok(SenderCount { name: get(r, 0)?, messages: u64::try_from(get::<i64>(r, 1)?).unwrap_or(0) }))
                .collect()
        })
    }
}

/// A scope's domains as stored (lower case, no final dot), once each.
fn domains(list: &[String]) -> Vec<String> {
    let mut list: Vec<String> = list.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
    list.sort();
    list.dedup();
    list
}
