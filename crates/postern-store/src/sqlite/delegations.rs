//! The `ip_delegations` table: IP ranges a superadmin delegated to a domain (SPEC.md §1).
//!
//! In: [`NewDelegation`] from the admin API. Out: [`IpDelegation`] values. Defends the
//! invariant inside one IMMEDIATE transaction, so that two concurrent delegations cannot
//! both pass the check: delegations never overlap, in any domain (an address is delegated
//! to one customer at most). Ranges are stored in the canonical form of [`parse_network`].

use postern_core::event::now_ms;
use postern_core::tenancy::{IpDelegation, parse_network};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::domains;
use super::filter::{Filter, ListQuery, paged};
use crate::directory::{NewDelegation, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, network, comment, created_at_ms";
const LONGEST_COMMENT: usize = 200;

fn read(r: &Row<'_>) -> rusqlite::Result<IpDelegation> {
    Ok(IpDelegation {
        id: r.get(0)?,
        domain: r.get(1)?,
        range: r.get(2)?,
        comment: r.get(3)?,
        created_at_ms: r.get(4)?,
    })
}

pub(super) fn create(conn: &mut Connection, new: &NewDelegation) -> Result<IpDelegation> {
    let net = parse_network(&new.range)
        .ok_or_else(|| StoreError::Conflict(format!("{:?} is not an IP address or CIDR range", new.range)))?;
    if new.comment.as_ref().is_some_and(|c| c.len() > LONGEST_COMMENT || c.chars().any(char::is_control)) {
        return Err(StoreError::Conflict(format!("a comment is at most {LONGEST_COMMENT} characters, one line")));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !domains::exists(&tx, &new.domain)? {
        return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
    }
    {
        let mut stmt = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM ip_delegations ORDER BY id"))?;
        for existing in stmt.query_map([], read)? {
            let existing = existing?;
            let Some(other) = parse_network(&existing.range) else { continue };
            if net.contains(&other.network()) || other.contains(&net.network()) {
                return Err(StoreError::Conflict(format!(
                    "{net} overlaps {other}, delegated to {} (delegation {})",
                    existing.domain, existing.id
                )));
            }
        }
    }
    let now = now_ms();
    tx.execute(
        "INSERT INTO ip_delegations (domain, network, comment, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![new.domain, net.to_string(), new.comment, now],
    )?;
    let id = tx.last_insert_rowid();
    let delegation = get(&tx, id)?;
    tx.commit()?;
    delegation.ok_or_else(|| StoreError::NotFound(format!("delegation {id} vanished after its creation")))
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<IpDelegation>> {
    Ok(conn.query_row(&format!("SELECT {COLUMNS} FROM ip_delegations WHERE id = ?1"), [id], read).optional()?)
}

pub(super) fn list(conn: &Connection, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<IpDelegation>> {
    let mut f = Filter::default();
    f.scope("domain", scope);
    if let Some(domain) = domain {
        f.equals("domain", domain.to_owned());
    }
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: "ip_delegations", count_from: None, order: "id", filter: &f },
        page,
        read,
        Ok,
    )
}

pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM ip_delegations WHERE id = ?1", [id])? > 0)
}
