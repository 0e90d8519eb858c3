//! The `domains` table: customer domains and their sender security.
//!
//! In: names already normalized by the caller, [`NewDomain`] and [`DomainChange`]. Out:
//! [`Domain`] values. Sender security is a JSON document; a corrupt one is an error
//! ([`StoreError::Json`](crate::StoreError::Json)), never a panic or a default.

use postern_core::event::now_ms;
use postern_core::tenancy::Domain;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::is_duplicate;
use crate::directory::{DomainChange, DomainFilter, NewDomain, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "name, filter_enabled, sender_security, abuse_contact, created_at_ms, updated_at_ms";

/// A row as SQLite gives it, before the JSON is decoded.
struct DomainRow {
    name: String,
    filter_enabled: bool,
    sender_security: String,
    abuse_contact: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

fn read(r: &Row<'_>) -> rusqlite::Result<DomainRow> {
    Ok(DomainRow {
        name: r.get(0)?,
        filter_enabled: r.get(1)?,
        sender_security: r.get(2)?,
        abuse_contact: r.get(3)?,
        created_at_ms: r.get(4)?,
        updated_at_ms: r.get(5)?,
    })
}

fn decode(row: DomainRow) -> Result<Domain> {
    Ok(Domain {
        name: row.name,
        filter_enabled: row.filter_enabled,
        sender_security: serde_json::from_str(&row.sender_security)?,
        abuse_contact: row.abuse_contact,
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
    })
}

pub(super) fn create(conn: &Connection, new: &NewDomain) -> Result<Domain> {
    let now = now_ms();
    let domain = Domain {
        name: new.name.clone(),
        filter_enabled: new.filter_enabled,
        sender_security: new.sender_security.clone(),
        abuse_contact: new.abuse_contact.clone(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let inserted = conn.execute(
        &format!("INSERT INTO domains ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            domain.name,
            domain.filter_enabled,
            serde_json::to_string(&domain.sender_security)?,
            domain.abuse_contact,
            now,
            now
        ],
    );
    match inserted {
        Ok(_) => Ok(domain),
        Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("domain {} exists", new.name))),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn get(conn: &Connection, name: &str) -> Result<Option<Domain>> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM domains WHERE name = ?1"), [name], read).optional()?;
    row.map(decode).transpose()
}

pub(super) fn list(conn: &Connection, scope: &Scope, filter: &DomainFilter, page: Page) -> Result<Paged<Domain>> {
    let mut f = Filter::default();
    f.scope("name", scope);
    if let Some(name) = &filter.name {
        f.contains("name", name);
    }
    if let Some(enabled) = filter.filter_enabled {
        f.equals("filter_enabled", enabled);
    }
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: "domains", count_from: None, order: "name", filter: &f },
        page,
        read,
        decode,
    )
}

/// Every domain by name, for the snapshot.
pub(super) fn all(conn: &Connection) -> Result<Vec<Domain>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM domains ORDER BY name"))?;
    let rows = stmt.query_map([], read)?;
    rows.map(|row| decode(row?)).collect()
}

pub(super) fn update(conn: &mut Connection, name: &str, change: &DomainChange) -> Result<Option<Domain>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(mut domain) = get(&tx, name)? else {
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
    tx.execute(
        "UPDATE domains SET filter_enabled = ?2, sender_security = ?3, abuse_contact = ?4, updated_at_ms = ?5
         WHERE name = ?1",
        params![
            domain.name,
            domain.filter_enabled,
            serde_json::to_string(&domain.sender_security)?,
            domain.abuse_contact,
            domain.updated_at_ms
        ],
    )?;
    tx.commit()?;
    Ok(Some(domain))
}

/// Accounts and their identities go with it (`ON DELETE CASCADE`).
pub(super) fn delete(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM domains WHERE name = ?1", [name])? > 0)
}

/// Whether the domain exists (inside the caller's transaction).
pub(super) fn exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row("SELECT 1 FROM domains WHERE name = ?1", [name], |_| Ok(())).optional()?.is_some())
}
