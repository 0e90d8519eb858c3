//! The dashboard's figures for [`SqliteStore`]: [`LogSearch::hourly`] from the
//! `message_hours` counts the ingest keeps, and [`LogSearch::top_senders`] from the
//! `messages` rows.
//!
//! In: a [`Scope`] and a time range. Out: counts. A superadmin's hours are the total rows
//! (one per hour); a domain admin's are the sum of the rows under its domains, each row
//! (one account domain and one sender domain) counted once even when both are its own.
//! Top senders count the rows of the range through the arrival index (or, for a domain
//! admin, its domains' two indexes), at most [`MAX_TOP_SENDERS_ROWS`] of them.

use std::collections::BTreeMap;

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::SqliteStore;
use crate::Result;
use crate::directory::Scope;
use crate::log::{HourCounts, MAX_TOP_SENDERS_ROWS, SenderCount, SenderKind};
use crate::log_fold::TOTAL;

const COUNTS: &str = "sum(received), sum(refused), sum(quarantined), sum(discarded), sum(checked), sum(spam),
    sum(delivered), sum(deferred), sum(bounced)";

impl SqliteStore {
    pub(super) fn hourly_counts(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<HourCounts>> {
        let from = from_ms.div_euclid(HourCounts::HOUR_MS);
        let to = to_ms.div_euclid(HourCounts::HOUR_MS) + i64::from(to_ms.rem_euclid(HourCounts::HOUR_MS) != 0);
        let mut params = vec![Value::Integer(from), Value::Integer(to)];
        let sql = match scope {
            Scope::All => {
                params.push(Value::Text(TOTAL.into()));
                format!(
                    "SELECT hour, {COUNTS} FROM message_hours
                     WHERE hour >= ?1 AND hour < ?2 AND account_domain = ?3 AND sender_domain = ?3
                     GROUP BY hour ORDER BY hour"
                )
            }
            Scope::Domains(list) => {
                let list = domains(list);
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                // ?1 and ?2 are the hours; ?3... the domains, for both columns.
                let marks = (3..list.len() + 3).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                params.extend(list);
                format!(
                    "SELECT hour, {COUNTS} FROM message_hours
                     WHERE hour >= ?1 AND hour < ?2 AND account_domain != '{TOTAL}'
                        AND (account_domain IN ({marks}) OR sender_domain IN ({marks}))
                     GROUP BY hour ORDER BY hour"
                )
            }
        };
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), |r| {
            let n = |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
            Ok(HourCounts {
                hour_ms: r.get::<_, i64>(0)? * HourCounts::HOUR_MS,
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
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
        let mut params = vec![Value::Integer(since_ms)];
        let rows = match scope {
            Scope::All => format!(
                "SELECT {column} FROM messages WHERE first_at_ms >= ?1 AND {column} IS NOT NULL
                 ORDER BY first_at_ms DESC LIMIT {cap}"
            ),
            Scope::Domains(list) => {
                let list = domains(list);
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                // ?1 is the time; ?2... the domains, for both columns.
                let marks = (2..list.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                params.extend(list);
                // Each domain column walks its own index; a row under both is one row.
                format!(
                    "SELECT {column} FROM messages WHERE id IN (
                        SELECT id FROM (SELECT id FROM messages WHERE account_domain IN ({marks})
                            AND first_at_ms >= ?1 ORDER BY first_at_ms DESC LIMIT {cap})
                        UNION
                        SELECT id FROM (SELECT id FROM messages WHERE sender_domain IN ({marks})
                            AND first_at_ms >= ?1 ORDER BY first_at_ms DESC LIMIT {cap}))
                     AND {column} IS NOT NULL"
                )
            }
        };
        let sql = format!(
            "SELECT {column}, count(*) AS n FROM ({rows}) GROUP BY {column} ORDER BY n DESC, {column} LIMIT {limit}"
        );
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let found = stmt.query_map(params_from_iter(params), |r| {
            Ok(SenderCount { name: r.get(0)?, messages: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0) })
        })?;
        Ok(found.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// A scope's domains as stored (lower case, no final dot), once each.
fn domains(list: &[String]) -> Vec<Value> {
    let set: BTreeMap<String, ()> =
        list.iter().map(|d| (d.trim().trim_end_matches('.').to_ascii_lowercase(), ())).collect();
    set.into_keys().map(Value::Text).collect()
}
