//! The `inbound_domains` table: inbound relay domains and their internal server.
//!
//! In: [`NewInboundDomain`] from the admin API (already checked). Out: [`InboundDomain`]
//! values. The TLS mode is stored as its serde name; a row with an unknown one, or a port
//! out of range, is an error, never a default.

use postern_core::event::now_ms;
use postern_core::tenancy::InboundDomain;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::filter::{Filter, ListQuery, paged};
use super::is_duplicate;
use crate::directory::{NewInboundDomain, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "name, host, port, tls, require_tls, comment, created_at_ms";

/// A row as SQLite gives it, before the TLS mode and the port are checked.
struct InboundRow {
    name: String,
    host: String,
    port: i64,
    tls: String,
    require_tls: bool,
    comment: Option<String>,
    created_at_ms: i64,
}

fn read(r: &Row<'_>) -> rusqlite::Result<InboundRow> {
    Ok(InboundRow {
        name: r.get(0)?,
        host: r.get(1)?,
        port: r.get(2)?,
        tls: r.get(3)?,
        require_tls: r.get(4)?,
        comment: r.get(5)?,
        created_at_ms: r.get(6)?,
    })
}

fn decode(row: InboundRow) -> Result<InboundDomain> {
    let port = u16::try_from(row.port).ok().filter(|p| *p > 0).ok_or_else(|| {
        StoreError::Conflict(format!("inbound domain {}: stored port {} is invalid", row.name, row.port))
    })?;
    Ok(InboundDomain {
        name: row.name,
        host: row.host,
        port,
        tls: serde_json::from_value(serde_json::Value::String(row.tls))?,
        require_tls: row.require_tls,
        comment: row.comment,
        created_at_ms: row.created_at_ms,
    })
}

pub(super) fn create(conn: &Connection, new: &NewInboundDomain) -> Result<InboundDomain> {
    let inserted = conn.execute(
        &format!("INSERT INTO inbound_domains ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![new.name, new.host, new.port, new.tls.name(), new.require_tls, new.comment, now_ms()],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("inbound domain {} exists", new.name)));
        }
        Err(e) => return Err(e.into()),
    }
    get(conn, &new.name)?
        .ok_or_else(|| StoreError::NotFound(format!("inbound domain {} vanished after its creation", new.name)))
}

pub(super) fn get(conn: &Connection, name: &str) -> Result<Option<InboundDomain>> {
    let sql = format!("SELECT {COLUMNS} FROM inbound_domains WHERE name = ?1");
    let row = conn.query_row(&sql, [name], read).optional()?;
    row.map(decode).transpose()
}

pub(super) fn list(conn: &Connection, scope: &Scope, page: Page) -> Result<Paged<InboundDomain>> {
    let mut f = Filter::default();
    f.scope("name", scope);
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: "inbound_domains", count_from: None, order: "name", filter: &f },
        page,
        read,
        decode,
    )
}

/// Every entry by name, for the snapshot.
pub(super) fn all(conn: &Connection) -> Result<Vec<InboundDomain>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM inbound_domains ORDER BY name"))?;
    let rows = stmt.query_map([], read)?;
    rows.map(|row| decode(row?)).collect()
}

pub(super) fn delete(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM inbound_domains WHERE name = ?1", [name])? > 0)
}
