//! The `identities` table on PostgreSQL: the senders found behind each account, with their
//! counts.
//!
//! In: batches of [`IdentitySighting`]s from the event writer (of every node), and the
//! admin API's registrations and locks. Out: [`Identity`] values, whose `domain` is the
//! account's (joined, never copied). A batch is one statement: the sightings are grouped by
//! identity (earliest, latest, how many) and upserted in (account, name) order, so that two
//! nodes' batches lock rows in the same order and cannot deadlock. A sighting for an
//! account deleted in the meantime is skipped.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::{Identity, IdentitySighting, LockState};
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{execute, get as col, is_duplicate, is_missing_reference, query, query_one, query_opt};
use crate::directory::{IdentityFilter, IdentityLock, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "i.id, i.account_id, a.domain, i.name, i.first_seen_ms, i.last_seen_ms, i.messages, i.lock";
const FROM: &str = "identities i JOIN accounts a ON a.id = i.account_id";

fn decode(r: &Row) -> Result<Identity> {
    Ok(Identity {
        id: col(r, 0)?,
        account_id: col(r, 1)?,
        domain: col(r, 2)?,
        name: col(r, 3)?,
        first_seen_ms: col(r, 4)?,
        last_seen_ms: col(r, 5)?,
        messages: u64::try_from(col::<i64>(r, 6)?).unwrap_or(0),
        lock: serde_json::from_str(col(r, 7)?)?,
    })
}

/// Upserts every sighting in one statement (see the module doc).
pub(super) async fn record(c: &impl GenericClient, sightings: &[IdentitySighting]) -> Result<()> {
    if sightings.is_empty() {
        return Ok(());
    }
    let unlocked = serde_json::to_string(&LockState::default())?;
    let accounts: Vec<i64> = sightings.iter().map(|s| s.account_id).collect();
    let names: Vec<&str> = sightings.iter().map(|s| s.name.as_str()).collect();
    let times: Vec<i64> = sightings.iter().map(|s| s.at_ms).collect();
    execute(
        c,
        "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock)
         SELECT s.account_id, s.name, MIN(s.at_ms), MAX(s.at_ms), COUNT(*), $4
           FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS s(account_id, name, at_ms)
          WHERE EXISTS (SELECT 1 FROM accounts WHERE id = s.account_id)
          GROUP BY s.account_id, s.name
          ORDER BY s.account_id, s.name COLLATE \"C\"
         ON CONFLICT (account_id, name) DO UPDATE SET
            first_seen_ms = LEAST(identities.first_seen_ms, EXCLUDED.first_seen_ms),
            last_seen_ms = GREATEST(identities.last_seen_ms, EXCLUDED.last_seen_ms),
            messages = identities.messages + EXCLUDED.messages",
        &[&accounts, &names, &times, &unlocked],
    )
    .await?;
    Ok(())
}

pub(super) async fn create(c: &impl GenericClient, account_id: i64, name: &str) -> Result<Identity> {
    let unlocked = serde_json::to_string(&LockState::default())?;
    let now = now_ms();
    let inserted = query_one(
        c,
        "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock)
         VALUES ($1, $2, $3, $3, 0, $4) RETURNING id",
        &[&account_id, &name, &now, &unlocked],
    )
    .await;
    let id: i64 = match inserted {
        Ok(row) => col(&row, 0)?,
        Err(e) if is_missing_reference(&e) => {
            return Err(StoreError::NotFound(format!("account {account_id} does not exist")));
        }
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("identity {name} of account {account_id} exists")));
        }
        Err(e) => return Err(e),
    };
    get(c, id).await?.ok_or_else(|| StoreError::NotFound(format!("identity {id} vanished after its creation")))
}

pub(super) async fn get(c: &impl GenericClient, id: i64) -> Result<Option<Identity>> {
    let row = query_opt(c, &format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id = $1"), &[&id]).await?;
    row.as_ref().map(decode).transpose()
}

pub(super) async fn by_name(c: &impl GenericClient, account_id: i64, name: &str) -> Result<Option<Identity>> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.account_id = $1 AND i.name = $2");
    let row = query_opt(c, &sql, &[&account_id, &name]).await?;
    row.as_ref().map(decode).transpose()
}

pub(super) async fn list(
    c: &impl GenericClient,
    scope: &Scope,
    filter: &IdentityFilter,
    page: Page,
) -> Result<Paged<Identity>> {
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
        f.equals("i.locked", locked);
    }
    // Without a condition on the account, every identity has one (a foreign key, deleted
    // with it): count the identities alone, not the join.
    let needs_account = !matches!(scope, Scope::All) || filter.domain.is_some();
    let count_from = (!needs_account).then_some("identities i");
    let query = ListQuery { columns: COLUMNS, from: FROM, count_from, order: "i.id", filter: &f };
    paged(c, query, page, decode).await
}

/// The locked identities in `scope` (the first `limit` by id) and their count, through the
/// partial index `identities_locked`.
pub(super) async fn locked(c: &impl GenericClient, scope: &Scope, limit: u32) -> Result<Paged<Identity>> {
    let mut f = Filter::default();
    f.scope("a.domain", scope).clause("i.locked");
    let query = ListQuery { columns: COLUMNS, from: FROM, count_from: None, order: "i.id", filter: &f };
    paged(c, query, Page { limit, offset: 0 }, decode).await
}

pub(super) async fn update_lock(c: &impl GenericClient, id: i64, lock: &LockState) -> Result<Option<Identity>> {
    let document = serde_json::to_string(lock)?;
    let changed = execute(
        c,
        "UPDATE identities SET lock = $2, lock_kept = $3, locked = $4 WHERE id = $1",
        &[&id, &document, &lock.is_kept(), &lock.locked],
    )
    .await?;
    if changed == 0 { Ok(None) } else { get(c, id).await }
}

/// The identities with a lock state worth keeping (the partial index `identities_lock_kept`).
pub(super) async fn kept_locks(c: &impl GenericClient) -> Result<Vec<IdentityLock>> {
    let rows = query(c, "SELECT account_id, name, lock FROM identities WHERE lock_kept ORDER BY id", &[]).await?;
    rows.iter()
        .map(|r| Ok(IdentityLock { account_id: col(r, 0)?, name: col(r, 1)?, lock: serde_json::from_str(col(r, 2)?)? }))
        .collect()
}

pub(super) async fn delete(c: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(execute(c, "DELETE FROM identities WHERE id = $1", &[&id]).await? > 0)
}
