//! The `accounts` table: outgoing accounts of the three kinds, with their password hashes.
//!
//! In: [`NewAccount`] and [`AccountChange`] from the admin API. Out: [`Account`] values,
//! and [`AccountRecord`]s (with the hash) only for the snapshot. Defends the directory's
//! invariants inside one IMMEDIATE transaction, so that two concurrent creations cannot
//! both pass the checks: an `ip` range never overlaps another account's range, a `(kind,
//! name)` is unique, and a domain has at most one `domain` account. `ip` names are stored
//! in the canonical form of [`parse_network`](postern_core::tenancy::parse_network) (e.g. `192.0.2.7` becomes `192.0.2.7/32`).

use postern_core::event::now_ms;
use postern_core::tenancy::{Account, AccountKind};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::{domains, is_duplicate};
use crate::directory::{AccountChange, AccountFilter, AccountRecord, NewAccount, Page, Paged, Scope, free_range};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, kind, name, password_hash, settings, lock, created_at_ms, updated_at_ms";

/// A row as SQLite gives it, before the kind and the JSON documents are decoded.
struct AccountRow {
    id: i64,
    domain: String,
    kind: String,
    name: String,
    password_hash: Option<String>,
    settings: String,
    lock: String,
    created_at_ms: i64,
    updated_at_ms: i64,
}

fn read(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(0)?,
        domain: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        password_hash: r.get(4)?,
        settings: r.get(5)?,
        lock: r.get(6)?,
        created_at_ms: r.get(7)?,
        updated_at_ms: r.get(8)?,
    })
}

fn decode(row: AccountRow) -> Result<AccountRecord> {
    let account = Account {
        id: row.id,
        domain: row.domain,
        kind: serde_json::from_value(serde_json::Value::String(row.kind))?,
        name: row.name,
        has_password: row.password_hash.is_some(),
        settings: serde_json::from_str(&row.settings)?,
        lock: serde_json::from_str(&row.lock)?,
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
    };
    Ok(AccountRecord { account, password_hash: row.password_hash })
}

fn decode_account(row: AccountRow) -> Result<Account> {
    decode(row).map(|record| record.account)
}

pub(super) fn create(conn: &mut Connection, new: &NewAccount) -> Result<Account> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !domains::exists(&tx, &new.domain)? {
        return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
    }
    let name = match new.kind {
        AccountKind::Ip => free_range(&new.name, &ip_ranges(&tx)?)?,
        AccountKind::User | AccountKind::Domain => new.name.clone(),
    };
    if let Some(other) = by_name(&tx, new.kind, &name)? {
        let kind = new.kind.name();
        return Err(StoreError::Conflict(format!("{kind} account {name} exists (account {})", other.id)));
    }
    if new.kind == AccountKind::Domain {
        let other: Option<i64> = tx
            .query_row("SELECT id FROM accounts WHERE domain = ?1 AND kind = 'domain'", [&new.domain], |r| r.get(0))
            .optional()?;
        if let Some(other) = other {
            let domain = &new.domain;
            return Err(StoreError::Conflict(format!(
                "domain {domain} already has a domain account (account {other})"
            )));
        }
    }
    let now = now_ms();
    let inserted = tx.execute(
        "INSERT INTO accounts (domain, kind, name, password_hash, settings, lock, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            new.domain,
            new.kind.name(),
            name,
            new.password_hash,
            serde_json::to_string(&new.settings)?,
            serde_json::to_string(&postern_core::tenancy::LockState::default())?,
            now
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => return Err(StoreError::Conflict(format!("account {name} exists"))),
        Err(e) => return Err(e.into()),
    }
    let id = tx.last_insert_rowid();
    let account = get(&tx, id)?.map(|record| record.account);
    tx.commit()?;
    account.ok_or_else(|| StoreError::NotFound(format!("account {id} vanished after its creation")))
}

/// Every `ip` account's (id, name).
fn ip_ranges(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM accounts WHERE kind = 'ip' ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<AccountRecord>> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"), [id], read).optional()?;
    row.map(decode).transpose()
}

pub(super) fn by_name(conn: &Connection, kind: AccountKind, name: &str) -> Result<Option<Account>> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM accounts WHERE kind = ?1 AND name = ?2"),
            params![kind.name(), name],
            read,
        )
        .optional()?;
    row.map(decode_account).transpose()
}

pub(super) fn list(conn: &Connection, scope: &Scope, filter: &AccountFilter, page: Page) -> Result<Paged<Account>> {
    let mut f = Filter::default();
    f.scope("domain", scope);
    if let Some(domain) = &filter.domain {
        f.equals("domain", domain.clone());
    }
    if let Some(kind) = filter.kind {
        f.equals("kind", kind.name().to_owned());
    }
    if let Some(name) = &filter.name {
        f.contains("name", name);
    }
    if let Some(locked) = filter.locked {
        f.locked("lock", locked);
    }
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: "accounts", count_from: None, order: "id", filter: &f },
        page,
        read,
        decode_account,
    )
}

/// The locked accounts in `scope` (the first `limit` by id) and their count, through the
/// partial index `accounts_locked`.
pub(super) fn locked(conn: &Connection, scope: &Scope, limit: u32) -> Result<Paged<Account>> {
    let page = Page { limit, offset: 0 };
    if matches!(scope, Scope::Domains(list) if list.is_empty()) {
        // No domain: nothing (and `INDEXED BY` refuses a query that can never match).
        return Ok(Paged { items: Vec::new(), total: 0, limit: page.effective_limit(), offset: 0 });
    }
    let mut f = Filter::default();
    f.scope("domain", scope).clause("locked = 1", []);
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: LOCKED_FROM, order: "id", filter: &f, count_from: None },
        page,
        read,
        decode_account,
    )
}

/// The locked accounts' table, read through its partial index: without `INDEXED BY`,
/// SQLite walks the whole table in id order to skip the sort.
pub(super) const LOCKED_FROM: &str = "accounts INDEXED BY accounts_locked";

/// Every account by id, with its password hash, for the snapshot.
pub(super) fn all(conn: &Connection) -> Result<Vec<AccountRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM accounts ORDER BY id"))?;
    let rows = stmt.query_map([], read)?;
    rows.map(|row| decode(row?)).collect()
}

pub(super) fn update(conn: &mut Connection, id: i64, change: &AccountChange) -> Result<Option<Account>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(mut record) = get(&tx, id)? else {
        return Ok(None);
    };
    if let Some(settings) = &change.settings {
        record.account.settings = settings.clone();
    }
    if let Some(hash) = &change.password_hash {
        record.password_hash = hash.clone();
    }
    if let Some(lock) = &change.lock {
        record.account.lock = lock.clone();
    }
    record.account.has_password = record.password_hash.is_some();
    record.account.updated_at_ms = now_ms();
    tx.execute(
        "UPDATE accounts SET settings = ?2, password_hash = ?3, lock = ?4, updated_at_ms = ?5, locked = ?6
         WHERE id = ?1",
        params![
            id,
            serde_json::to_string(&record.account.settings)?,
            record.password_hash,
            serde_json::to_string(&record.account.lock)?,
            record.account.updated_at_ms,
            record.account.lock.locked
        ],
    )?;
    tx.commit()?;
    Ok(Some(record.account))
}

/// Its identities go with it (`ON DELETE CASCADE`).
pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM accounts WHERE id = ?1", [id])? > 0)
}
