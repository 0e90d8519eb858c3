//! The `identities` table: the senders found behind each account, with their counts.
//!
//! In: batches of [`IdentitySighting`]s from the event writer, and the admin API's
//! registrations and locks. Out: [`Identity`] values, whose `domain` is the account's
//! (joined, never copied, so it cannot go stale). A sighting for an account deleted in
//! the meantime is skipped: the writer must not fail a batch over a race with the API.

use postern_core::event::now_ms;
use postern_core::tenancy::{Identity, IdentitySighting, LockState};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::is_duplicate;
use crate::directory::{IdentityFilter, IdentityLock, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "i.id, i.account_id, a.domain, i.name, i.first_seen_ms, i.last_seen_ms, i.messages, i.lock";
const FROM: &str = "identities i JOIN accounts a ON a.id = i.account_id";

/// A row as SQLite gives it, before the lock document is decoded.
struct IdentityRow {
    id: i64,
    account_id: i64,
    domain: String,
    name: String,
    first_seen_ms: i64,
    last_seen_ms: i64,
    messages: i64,
    lock: String,
}

fn read(r: &Row<'_>) -> rusqlite::Result<IdentityRow> {
    Ok(IdentityRow {
        id: r.get(0)?,
        account_id: r.get(1)?,
        domain: r.get(2)?,
        name: r.get(3)?,
        first_seen_ms: r.get(4)?,
        last_seen_ms: r.get(5)?,
        messages: r.get(6)?,
        lock: r.get(7)?,
    })
}

fn decode(row: IdentityRow) -> Result<Identity> {
    Ok(Identity {
        id: row.id,
        account_id: row.account_id,
        domain: row.domain,
        name: row.name,
        first_seen_ms: row.first_seen_ms,
        last_seen_ms: row.last_seen_ms,
        messages: u64::try_from(row.messages).unwrap_or(0),
        lock: serde_json::from_str(&row.lock)?,
    })
}

/// Upserts every sighting in one transaction: the first inserts the identity with one
/// message; each later one counts a message and widens first/last seen.
pub(super) fn record(conn: &mut Connection, sightings: &[IdentitySighting]) -> Result<()> {
    if sightings.is_empty() {
        return Ok(());
    }
    let unlocked = serde_json::to_string(&LockState::default())?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        // `WHERE EXISTS` skips sightings of deleted accounts (and keeps the upsert's
        // INSERT ... SELECT unambiguous for SQLite's parser).
        let mut upsert = tx.prepare_cached(
            "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock)
             SELECT ?1, ?2, ?3, ?3, 1, ?4 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?1)
             ON CONFLICT (account_id, name) DO UPDATE SET
                first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
                last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                messages = messages + 1",
        )?;
        for s in sightings {
            upsert.execute(params![s.account_id, s.name, s.at_ms, unlocked])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn create(conn: &mut Connection, account_id: i64, name: &str) -> Result<Identity> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if tx.query_row("SELECT 1 FROM accounts WHERE id = ?1", [account_id], |_| Ok(())).optional()?.is_none() {
        return Err(StoreError::NotFound(format!("account {account_id} does not exist")));
    }
    let now = now_ms();
    let inserted = tx.execute(
        "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock)
         VALUES (?1, ?2, ?3, ?3, 0, ?4)",
        params![account_id, name, now, serde_json::to_string(&LockState::default())?],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("identity {name} of account {account_id} exists")));
        }
        Err(e) => return Err(e.into()),
    }
    let id = tx.last_insert_rowid();
    let identity = get(&tx, id)?;
    tx.commit()?;
    identity.ok_or_else(|| StoreError::NotFound(format!("identity {id} vanished after its creation")))
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<Identity>> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id = ?1"), [id], read).optional()?;
    row.map(decode).transpose()
}

pub(super) fn by_name(conn: &Connection, account_id: i64, name: &str) -> Result<Option<Identity>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.account_id = ?1 AND i.name = ?2");
    let row = conn.query_row(&sql, rusqlite::params![account_id, name], read).optional()?;
    row.map(decode).transpose()
}

pub(super) fn list(conn: &Connection, scope: &Scope, filter: &IdentityFilter, page: Page) -> Result<Paged<Identity>> {
    let mut f = Filter::default();
    f.scope("a.domain", scope);
    if let Some(account_id) = filter.account_id {
        f.equals("i.account_id", account_id);
    }
    if let Some(domain) = &filter.domain {
        f.equals("a.domain", domain.clone());
    }
    if let Some(name) = &filter.name {
        f.contains("i.name", name);
    }
    if let Some(locked) = filter.locked {
        f.locked("i.lock", locked);
    }
    // Without a condition on the account, every identity has one (a foreign key, deleted
    // with it): count the identities alone, not the join (40 ms at 100,000 of them).
    let needs_account = !matches!(scope, Scope::All) || filter.domain.is_some();
    let count_from = (!needs_account).then_some("identities i");
    let query = ListQuery { columns: COLUMNS, from: FROM, count_from, order: "i.id", filter: &f };
    paged(conn, query, page, read, decode)
}

/// The locked identities in `scope` (the first `limit` by id) and their count, through the
/// partial index `identities_locked`.
pub(super) fn locked(conn: &Connection, scope: &Scope, limit: u32) -> Result<Paged<Identity>> {
    let page = Page { limit, offset: 0 };
    if matches!(scope, Scope::Domains(list) if list.is_empty()) {
        // No domain: nothing (and `INDEXED BY` refuses a query that can never match).
        return Ok(Paged { items: Vec::new(), total: 0, limit: page.effective_limit(), offset: 0 });
    }
    let mut f = Filter::default();
    f.scope("a.domain", scope).clause("i.locked = 1", []);
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: LOCKED_FROM, order: "i.id", filter: &f, count_from: None },
        page,
        read,
        decode,
    )
}

/// [`FROM`] with the identities read through their partial index of locked ones.
pub(super) const LOCKED_FROM: &str = "identities i INDEXED BY identities_locked JOIN accounts a ON a.id = i.account_id";

pub(super) fn update_lock(conn: &Connection, id: i64, lock: &LockState) -> Result<Option<Identity>> {
    let changed = conn.execute(
        "UPDATE identities SET lock = ?2, lock_kept = ?3, locked = ?4 WHERE id = ?1",
        params![id, serde_json::to_string(lock)?, lock.is_kept(), lock.locked],
    )?;
    if changed == 0 { Ok(None) } else { get(conn, id) }
}

/// The identities with a lock state worth keeping (the partial index `identities_lock_kept`).
pub(super) fn kept_locks(conn: &Connection) -> Result<Vec<IdentityLock>> {
    let mut stmt = conn.prepare("SELECT account_id, name, lock FROM identities WHERE lock_kept = 1 ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (account_id, name, lock) = row?;
        out.push(IdentityLock { account_id, name, lock: serde_json::from_str(&lock)? });
    }
    Ok(out)
}

pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM identities WHERE id = ?1", [id])? > 0)
}
