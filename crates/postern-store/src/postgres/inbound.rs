//! The `inbound_domains` table on PostgreSQL: inbound relay domains and their internal
//! server.
//!
//! In: [`NewInboundDomain`] from the admin API (already checked). Out: [`InboundDomain`]
//! values. The TLS mode is stored as its serde name; a row with an unknown one, or a port
//! out of range, is an error, never a default.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::InboundDomain;
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{execute, get as col, is_duplicate, query, query_one, query_opt};
use crate::directory::{NewInboundDomain, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "name, host, port, tls, require_tls, comment, created_at_ms";

fn decode(r: &Row) -> Result<InboundDomain> {
    let name: String = col(r, 0)?;
    let stored: i64 = col(r, 2)?;
    let port = u16::try_from(stored)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| StoreError::Conflict(format!("inbound domain {name}: stored port {stored} is invalid")))?;
    Ok(InboundDomain {
        name,
        host: col(r, 1)?,
        port,
        tls: serde_json::from_value(serde_json::Value::String(col(r, 3)?))?,
        require_tls: col(r, 4)?,
        comment: col(r, 5)?,
        created_at_ms: col(r, 6)?,
    })
}

pub(super) async fn create(c: &impl GenericClient, new: &NewInboundDomain) -> Result<InboundDomain> {
    let inserted = insert(c, new).await;
    match inserted {
        Ok(row) => decode(&row),
        Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!("inbound domain {} exists", new.name))),
        Err(e) => Err(e),
    }
}

async fn insert(c: &impl GenericClient, new: &NewInboundDomain) -> Result<Row> {
    query_one(
        c,
        &format!("INSERT INTO inbound_domains ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"),
        &[&new.name, &new.host, &i64::from(new.port), &new.tls.name(), &new.require_tls, &new.comment, &now_ms()],
    )
    .await
}

pub(super) async fn get(c: &impl GenericClient, name: &str) -> Result<Option<InboundDomain>> {
    let sql = format!("SELECT {COLUMNS} FROM inbound_domains WHERE name = $1");
    query_opt(c, &sql, &[&name]).await?.as_ref().map(decode).transpose()
}

pub(super) async fn list(c: &impl GenericClient, scope: &Scope, page: Page) -> Result<Paged<InboundDomain>> {
    let mut f = Filter::default();
    f.scope("name", scope);
    let query = ListQuery { columns: COLUMNS, from: "inbound_domains", count_from: None, order: "name", filter: &f };
    paged(c, query, page, decode).await
}

/// Every entry by name, for the snapshot.
pub(super) async fn all(c: &impl GenericClient) -> Result<Vec<InboundDomain>> {
    query(c, &format!("SELECT {COLUMNS} FROM inbound_domains ORDER BY name"), &[]).await?.iter().map(decode).collect()
}

pub(super) async fn delete(c: &impl GenericClient, name: &str) -> Result<bool> {
    Ok(execute(c, "DELETE FROM inbound_domains WHERE name = $1", &[&name]).await? > 0)
}
