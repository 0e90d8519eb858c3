//! [`QuarantineStore`] for [`SqliteStore`]: the `quarantine` table.
//!
//! In: [`NewHeld`] rows from the pipeline, claims from the admin API and the purge. Out:
//! [`HeldMessage`] values. Recipients and the verdict trace are JSON columns; a row this
//! binary cannot read is an error naming it, never a panic. Every claim is one UPDATE
//! guarded by the state it expects, so two callers can never both win.

use postern_core::event::now_ms;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::{SqliteStore, is_duplicate};
use crate::directory::{Page, Paged, Scope};
use crate::quarantine::{HeldMessage, HeldState, NewHeld, QuarantineFilter, QuarantineStore};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, queue_id, account_id, account, identity, domain, sender_domain, sender, recipients, \
    subject, rule, checks, client_ip, reaction, size, held_at_ms, expires_at_ms, state, release_requested_by, \
    release_requested_at_ms, release_note, released_by, released_at_ms, confirmed_by, confirmed_at_ms";

/// A row as SQLite gives it, before JSON and names are decoded.
struct Raw {
    id: i64,
    queue_id: String,
    account_id: Option<i64>,
    account: Option<String>,
    identity: Option<String>,
    domain: Option<String>,
    sender_domain: Option<String>,
    sender: String,
    recipients: String,
    subject: String,
    rule: String,
    checks: String,
    client_ip: String,
    reaction: String,
    size: i64,
    held_at_ms: i64,
    expires_at_ms: i64,
    state: String,
    release_requested_by: Option<String>,
    release_requested_at_ms: Option<i64>,
    release_note: Option<String>,
    released_by: Option<String>,
    released_at_ms: Option<i64>,
    confirmed_by: Option<String>,
    confirmed_at_ms: Option<i64>,
}

fn read(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        id: r.get(0)?,
        queue_id: r.get(1)?,
        account_id: r.get(2)?,
        account: r.get(3)?,
        identity: r.get(4)?,
        domain: r.get(5)?,
        sender_domain: r.get(6)?,
        sender: r.get(7)?,
        recipients: r.get(8)?,
        subject: r.get(9)?,
        rule: r.get(10)?,
        checks: r.get(11)?,
        client_ip: r.get(12)?,
        reaction: r.get(13)?,
        size: r.get(14)?,
        held_at_ms: r.get(15)?,
        expires_at_ms: r.get(16)?,
        state: r.get(17)?,
        release_requested_by: r.get(18)?,
        release_requested_at_ms: r.get(19)?,
        release_note: r.get(20)?,
        released_by: r.get(21)?,
        released_at_ms: r.get(22)?,
        confirmed_by: r.get(23)?,
        confirmed_at_ms: r.get(24)?,
    })
}

fn decode(row: Raw) -> Result<HeldMessage> {
    let state = HeldState::parse(&row.state).ok_or_else(|| {
        let text = format!("quarantine row {}: unknown state {:?}", row.id, row.state);
        StoreError::Json(<serde_json::Error as serde::de::Error>::custom(text))
    })?;
    Ok(HeldMessage {
        id: row.id,
        message: NewHeld {
            queue_id: row.queue_id,
            account_id: row.account_id,
            account: row.account,
            identity: row.identity,
            domain: row.domain,
            sender_domain: row.sender_domain,
            sender: row.sender,
            recipients: serde_json::from_str(&row.recipients)?,
            subject: row.subject,
            rule: row.rule,
            checks: serde_json::from_str(&row.checks)?,
            client_ip: row.client_ip,
            reaction: row.reaction,
            size: u64::try_from(row.size).unwrap_or(0),
            held_at_ms: row.held_at_ms,
            expires_at_ms: row.expires_at_ms,
        },
        state,
        release_requested_by: row.release_requested_by,
        release_requested_at_ms: row.release_requested_at_ms,
        release_note: row.release_note,
        released_by: row.released_by,
        released_at_ms: row.released_at_ms,
        confirmed_by: row.confirmed_by,
        confirmed_at_ms: row.confirmed_at_ms,
    })
}

fn get(conn: &Connection, id: i64) -> Result<Option<HeldMessage>> {
    let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE id = ?1");
    conn.query_row(&sql, [id], read).optional()?.map(decode).transpose()
}

fn insert(conn: &Connection, new: &NewHeld) -> Result<i64> {
    let inserted = conn.execute(
        "INSERT INTO quarantine (queue_id, account_id, account, identity, domain, sender_domain, sender,
            recipients, subject, rule, checks, client_ip, reaction, size, held_at_ms, expires_at_ms, state)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 'held')",
        params![
            new.queue_id,
            new.account_id,
            new.account,
            new.identity,
            new.domain,
            new.sender_domain,
            new.sender,
            serde_json::to_string(&new.recipients)?,
            new.subject,
            new.rule,
            serde_json::to_string(&new.checks)?,
            new.client_ip,
            new.reaction,
            i64::try_from(new.size).unwrap_or(i64::MAX),
            new.held_at_ms,
            new.expires_at_ms,
        ],
    );
    match inserted {
        Ok(_) => Ok(conn.last_insert_rowid()),
        Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("message {} is held already", new.queue_id))),
        Err(e) => Err(e.into()),
    }
}

/// Moves row `id` from one of `from` to `to` (with extra `SET` assignments) and returns
/// it as it was before, or `None` when it is not in one of `from`.
fn claim(
    conn: &mut Connection,
    id: i64,
    from: &[HeldState],
    to: HeldState,
    by: Option<&str>,
) -> Result<Option<HeldMessage>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(row) = get(&tx, id)? else { return Ok(None) };
    if !from.contains(&row.state) {
        return Ok(None);
    }
    let changed = match (to, by) {
        (HeldState::Releasing, Some(by)) => tx.execute(
            "UPDATE quarantine SET state = ?1, released_by = ?2, released_at_ms = ?3 WHERE id = ?4 AND state = ?5",
            params![to.name(), by, now_ms(), id, row.state.name()],
        )?,
        _ => tx.execute(
            "UPDATE quarantine SET state = ?1 WHERE id = ?2 AND state = ?3",
            params![to.name(), id, row.state.name()],
        )?,
    };
    tx.commit()?;
    Ok((changed == 1).then_some(row))
}

impl QuarantineStore for SqliteStore {
    fn hold(&self, new: &NewHeld) -> Result<HeldMessage> {
        let conn = self.conn();
        let id = insert(&conn, new)?;
        get(&conn, id)?.ok_or_else(|| StoreError::NotFound(format!("quarantine row {id} vanished")))
    }

    fn held(&self, id: i64) -> Result<Option<HeldMessage>> {
        get(&self.conn(), id)
    }

    fn held_by_queue_id(&self, queue_id: &str) -> Result<Option<HeldMessage>> {
        let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE queue_id = ?1");
        self.conn().query_row(&sql, [queue_id], read).optional()?.map(decode).transpose()
    }

    fn list_held(&self, scope: &Scope, filter: &QuarantineFilter, page: Page) -> Result<Paged<HeldMessage>> {
        let mut f = Filter::default();
        f.scope("domain", scope);
        if let Some(domain) = &filter.domain {
            f.equals("domain", domain.clone());
        }
        if let Some(account) = &filter.account {
            f.equals("account", account.clone());
        }
        if let Some(identity) = &filter.identity {
            f.contains("identity", identity);
        }
        if let Some(sender) = &filter.sender {
            f.contains("sender", sender);
        }
        if let Some(recipient) = &filter.recipient {
            f.contains("recipients", recipient);
        }
        if let Some(rule) = &filter.rule {
            f.equals("rule", rule.clone());
        }
        if let Some(since) = filter.since_ms {
            f.clause("held_at_ms >= ?", [Value::Integer(since)]);
        }
        if let Some(until) = filter.until_ms {
            f.clause("held_at_ms < ?", [Value::Integer(until)]);
        }
        if let Some(state) = filter.state {
            f.equals("state", state.name().to_string());
        }
        let query = ListQuery {
            columns: COLUMNS,
            from: "quarantine",
            count_from: None,
            order: "held_at_ms DESC, id DESC",
            filter: &f,
        };
        paged(&self.conn(), query, page, read, decode)
    }

    fn claim_release(&self, id: i64, by: &str) -> Result<Option<HeldMessage>> {
        claim(&mut self.conn(), id, &[HeldState::Held], HeldState::Releasing, Some(by))
    }

    fn finish_release(&self, id: i64) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE quarantine SET state = 'released', released_at_ms = ?1 WHERE id = ?2 AND state = 'releasing'",
            params![now_ms(), id],
        )?;
        Ok(n == 1)
    }

    fn abort_release(&self, id: i64) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE quarantine SET state = 'held', released_by = NULL, released_at_ms = NULL
                WHERE id = ?1 AND state = 'releasing'",
            [id],
        )?;
        Ok(n == 1)
    }

    fn request_release(&self, id: i64, by: &str, note: Option<&str>) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE quarantine SET release_requested_by = ?1, release_requested_at_ms = ?2, release_note = ?3
                WHERE id = ?4 AND state = 'held'",
            params![by, now_ms(), note, id],
        )?;
        Ok(n == 1)
    }

    fn confirm(&self, id: i64, by: &str) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE quarantine SET confirmed_by = ?1, confirmed_at_ms = ?2 WHERE id = ?3 AND state = 'held'",
            params![by, now_ms(), id],
        )?;
        Ok(n == 1)
    }

    fn claim_delete(&self, id: i64) -> Result<Option<HeldMessage>> {
        claim(&mut self.conn(), id, &[HeldState::Held, HeldState::Released], HeldState::Purging, None)
    }

    fn claim_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<HeldMessage>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE quarantine SET state = 'purging' WHERE state IN ('held', 'released') AND expires_at_ms <= ?1",
            [now_ms],
        )?;
        let sql = format!("SELECT {COLUMNS} FROM quarantine WHERE state = 'purging' ORDER BY id LIMIT ?1");
        let rows = {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map([i64::from(limit)], read)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.commit()?;
        rows.into_iter().map(decode).collect()
    }

    fn forget(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM quarantine WHERE id = ?1 AND state = 'purging'", [id])? == 1)
    }
}
