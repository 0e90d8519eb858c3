//! The `accounts` table on PostgreSQL: outgoing accounts of the three kinds, with their
//! password hashes.
//!
//! In: [`NewAccount`] and [`AccountChange`] from the admin API. Out: [`Account`] values,
//! and [`AccountRecord`]s (with the hash) only for the snapshot. The invariants hold
//! across nodes: a new `ip` account's range is checked against every other under a table
//! lock that only writers wait for; `(kind, name)` and one `domain` account per domain are
//! unique indexes; the domain's row is locked against deletion while the account is made.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::{Account, AccountKind, LockState};
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{domains, execute, get as col, is_duplicate, is_missing_reference, query, query_one, query_opt};
use crate::directory::{AccountChange, AccountFilter, AccountRecord, NewAccount, Page, Paged, Scope, free_range};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, kind, name, password_hash, settings, lock, created_at_ms, updated_at_ms";

fn decode(r: &Row) -> Result<AccountRecord> {
    let password_hash: Option<String> = col(r, 4)?;
    let account = Account {
        id: col(r, 0)?,
        domain: col(r, 1)?,
        kind: serde_json::from_value(serde_json::Value::String(col(r, 2)?))?,
        name: col(r, 3)?,
        has_password: password_hash.is_some(),
        settings: serde_json::from_str(col(r, 5)?)?,
        lock: serde_json::from_str(col(r, 6)?)?,
        created_at_ms: col(r, 7)?,
        updated_at_ms: col(r, 8)?,
    };
    Ok(AccountRecord { account, password_hash })
}

fn decode_account(r: &Row) -> Result<Account> {
    decode(r).map(|record| record.account)
}

pub(super) async fn create(client: &mut deadpool_postgres::Client, new: &NewAccount) -> Result<Account> {
    let tx = client.transaction().await?;
    if !domains::lock(&tx, &new.domain, false).await? {
        return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
    }
    let name = match new.kind {
        AccountKind::Ip => {
            // Every node's ip accounts are checked before this one is added: the lock
            // waits for another creation to commit, readers pass.
            tx.batch_execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE").await?;
            free_range(&new.name, &ip_ranges(&tx).await?)?
        }
        AccountKind::User | AccountKind::Domain => new.name.clone(),
    };
    if let Some(other) = by_name(&tx, new.kind, &name).await? {
        let kind = new.kind.name();
        return Err(StoreError::Conflict(format!("{kind} account {name} exists (account {})", other.id)));
    }
    if new.kind == AccountKind::Domain {
        let sql = "SELECT id FROM accounts WHERE domain = $1 AND kind = 'domain'";
        if let Some(row) = query_opt(&tx, sql, &[&new.domain]).await? {
            let (domain, other): (&str, i64) = (&new.domain, col(&row, 0)?);
            return Err(StoreError::Conflict(format!(
                "domain {domain} already has a domain account (account {other})"
            )));
        }
    }
    let now = now_ms();
    let settings = serde_json::to_string(&new.settings)?;
    let lock = serde_json::to_string(&LockState::default())?;
    let inserted = query_one(
        &tx,
        &format!(
            "INSERT INTO accounts (domain, kind, name, password_hash, settings, lock, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
        ),
        &[&new.domain, &new.kind.name(), &name, &new.password_hash, &settings, &lock, &now],
    )
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_duplicate(&e) => return Err(StoreError::Conflict(format!("account {name} exists"))),
        Err(e) if is_missing_reference(&e) => {
            return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
        }
        Err(e) => return Err(e),
    };
    let account = decode_account(&row)?;
    tx.commit().await?;
    Ok(account)
}

/// Every `ip` account's (id, name).
async fn ip_ranges(c: &impl GenericClient) -> Result<Vec<(i64, String)>> {
    let rows = query(c, "SELECT id, name FROM accounts WHERE kind = 'ip' ORDER BY id", &[]).await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

pub(super) async fn get(c: &impl GenericClient, id: i64) -> Result<Option<AccountRecord>> {
    let row = query_opt(c, &format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"), &[&id]).await?;
    row.as_ref().map(decode).transpose()
}

pub(super) async fn by_name(c: &impl GenericClient, kind: AccountKind, name: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE kind = $1 AND name = $2");
    let row = query_opt(c, &sql, &[&kind.name(), &name]).await?;
    row.as_ref().map(decode_account).transpose()
}

pub(super) async fn list(
    c: &impl GenericClient,
    scope: &Scope,
    filter: &AccountFilter,
    page: Page,
) -> Result<Paged<Account>> {
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
        f.equals("locked", locked);
    }
    let query = ListQuery { columns: COLUMNS, from: "accounts", count_from: None, order: "id", filter: &f };
    paged(c, query, page, decode_account).await
}

/// The locked accounts in `scope` (the first `limit` by id) and their count, through the
/// partial index `accounts_locked`.
pub(super) async fn locked(c: &impl GenericClient, scope: &Scope, limit: u32) -> Result<Paged<Account>> {
    let mut f = Filter::default();
    f.scope("domain", scope).clause("locked");
    let query = ListQuery { columns: COLUMNS, from: "accounts", count_from: None, order: "id", filter: &f };
    paged(c, query, Page { limit, offset: 0 }, decode_account).await
}

/// Every account by id, with its password hash, for the snapshot.
pub(super) async fn all(c: &impl GenericClient) -> Result<Vec<AccountRecord>> {
    query(c, &format!("SELECT {COLUMNS} FROM accounts ORDER BY id"), &[]).await?.iter().map(decode).collect()
}

pub(super) async fn update(
    client: &mut deadpool_postgres::Client,
    id: i64,
    change: &AccountChange,
) -> Result<Option<Account>> {
    let tx = client.transaction().await?;
    let row = query_opt(&tx, &format!("SELECT {COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE"), &[&id]).await?;
    let Some(mut record) = row.as_ref().map(decode).transpose()? else {
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
    let settings = serde_json::to_string(&record.account.settings)?;
    let lock = serde_json::to_string(&record.account.lock)?;
    execute(
        &tx,
        "UPDATE accounts SET settings = $2, password_hash = $3, lock = $4, updated_at_ms = $5, locked = $6
         WHERE id = $1",
        &[&id, &settings, &record.password_hash, &lock, &record.account.updated_at_ms, &record.account.lock.locked],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(record.account))
}

/// Its identities go with it (`ON DELETE CASCADE`).
pub(super) async fn delete(c: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(execute(c, "DELETE FROM accounts WHERE id = $1", &[&id]).await? > 0)
}
