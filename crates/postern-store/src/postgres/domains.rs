//! The `domains` table on PostgreSQL: customer domains and their sender security.
//!
//! In: names already normalized by the caller, [`NewDomain`] and [`DomainChange`]. Out:
//! [`Domain`] values. Sender security is a JSON document; a corrupt one is an error
//! ([`StoreError::Json`]), never a panic or a default.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::Domain;
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{execute, get as col, is_duplicate, query, query_opt};
use crate::directory::{DomainChange, DomainFilter, NewDomain, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "name, filter_enabled, sender_security, abuse_contact, created_at_ms, updated_at_ms";

fn decode(r: &Row) -> Result<Domain> {
    Ok(Domain {
        name: col(r, 0)?,
        filter_enabled: col(r, 1)?,
        sender_security: serde_json::from_str(col(r, 2)?)?,
        abuse_contact: col(r, 3)?,
        created_at_ms: col(r, 4)?,
        updated_at_ms: col(r, 5)?,
    })
}

pub(super) async fn create(c: &impl GenericClient, new: &NewDomain) -> Result<Domain> {
    let now = now_ms();
    let domain = Domain {
        name: new.name.clone(),
        filter_enabled: new.filter_enabled,
        sender_security: new.sender_security.clone(),
        abuse_contact: new.abuse_contact.clone(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let security = serde_json::to_string(&domain.sender_security)?;
    let inserted = execute(
        c,
        &format!("INSERT INTO domains ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5)"),
        &[&domain.name, &domain.filter_enabled, &security, &domain.abuse_contact, &now],
    )
    .await;
    match inserted {
        Ok(_) => Ok(domain),
        Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("domain {} exists", new.name))),
        Err(e) => Err(e),
    }
}

pub(super) async fn get(c: &impl GenericClient, name: &str) -> Result<Option<Domain>> {
    let row = query_opt(c, &format!("SELECT {COLUMNS} FROM domains WHERE name = $1"), &[&name]).await?;
    row.as_ref().map(decode).transpose()
}

pub(super) async fn list(
    c: &impl GenericClient,
    scope: &Scope,
    filter: &DomainFilter,
    page: Page,
) -> Result<Paged<Domain>> {
    let mut f = Filter::default();
    f.scope("name", scope);
    if let Some(name) = &filter.name {
        f.contains("name", name);
    }
    if let Some(enabled) = filter.filter_enabled {
        f.equals("filter_enabled", enabled);
    }
    let query = ListQuery { columns: COLUMNS, from: "domains", count_from: None, order: "name", filter: &f };
    paged(c, query, page, decode).await
}

/// Every domain by name, for the snapshot.
pub(super) async fn all(c: &impl GenericClient) -> Result<Vec<Domain>> {
    query(c, &format!("SELECT {COLUMNS} FROM domains ORDER BY name"), &[]).await?.iter().map(decode).collect()
}

pub(super) async fn update(
    client: &mut deadpool_postgres::Client,
    name: &str,
    change: &DomainChange,
) -> Result<Option<Domain>> {
    let tx = client.transaction().await?;
    let row = query_opt(&tx, &format!("SELECT {COLUMNS} FROM domains WHERE name = $1 FOR UPDATE"), &[&name]).await?;
    let Some(mut domain) = row.as_ref().map(decode).transpose()? else {
        return Ok(None);
    };
    if let Some(enabled) = change.filter_enabled {
        domain.filter_enabled = enabled;
    }
    if let Some(security) = &change.sender_security {
        domain.sender_security = security.clone();
    }
    if let Some(contact) = &change.abuse_contact {
        domain.abuse_contact = contact.clone();
    }
    domain.updated_at_ms = now_ms();
    let security = serde_json::to_string(&domain.sender_security)?;
    execute(
        &tx,
        "UPDATE domains SET filter_enabled = $2, sender_security = $3, abuse_contact = $4, updated_at_ms = $5
         WHERE name = $1",
        &[&domain.name, &domain.filter_enabled, &security, &domain.abuse_contact, &domain.updated_at_ms],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(domain))
}

/// Accounts and their identities go with it (`ON DELETE CASCADE`).
pub(super) async fn delete(c: &impl GenericClient, name: &str) -> Result<bool> {
    Ok(execute(c, "DELETE FROM domains WHERE name = $1", &[&name]).await? > 0)
}

/// Whether the domain exists, locking its row against deletion (`FOR KEY SHARE`) or, with
/// `for_update`, against any other writer of the domain until the caller's transaction ends.
pub(super) async fn lock(c: &impl GenericClient, name: &str, for_update: bool) -> Result<bool> {
    let sql = if for_update {
        "SELECT 1 FROM domains WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT 1 FROM domains WHERE name = $1 FOR KEY SHARE"
    };
    Ok(query_opt(c, sql, &[&name]).await?.is_some())
}
