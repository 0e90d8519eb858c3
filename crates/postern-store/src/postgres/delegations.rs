//! The `ip_delegations` table on PostgreSQL: IP ranges a superadmin delegated to a domain
//! (SPEC.md §1).
//!
//! In: [`NewDelegation`] from the admin API. Out: [`IpDelegation`] values. Delegations
//! never overlap, in any domain: the check runs under a table lock that only writers wait
//! for, so two nodes cannot both pass it. Ranges are stored in the canonical form of
//! [`parse_network`].

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::{IpDelegation, parse_network};
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{domains, execute, get as col, is_missing_reference, query, query_one, query_opt};
use crate::directory::{NewDelegation, Page, Paged, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, network, comment, created_at_ms";
const LONGEST_COMMENT: usize = 200;

fn decode(r: &Row) -> Result<IpDelegation> {
    Ok(IpDelegation {
        id: col(r, 0)?,
        domain: col(r, 1)?,
        range: col(r, 2)?,
        comment: col(r, 3)?,
        created_at_ms: col(r, 4)?,
    })
}

pub(super) async fn create(client: &mut deadpool_postgres::Client, new: &NewDelegation) -> Result<IpDelegation> {
    let net = parse_network(&new.range)
        .ok_or_else(|| StoreError::Conflict(format!("{:?} is not an IP address or CIDR range", new.range)))?;
    if new.comment.as_ref().is_some_and(|c| c.len() > LONGEST_COMMENT || c.chars().any(char::is_control)) {
        return Err(StoreError::Conflict(format!("a comment is at most {LONGEST_COMMENT} characters, one line")));
    }
    let tx = client.transaction().await?;
    if !domains::lock(&tx, &new.domain, false).await? {
        return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
    }
    tx.batch_execute("LOCK TABLE ip_delegations IN SHARE ROW EXCLUSIVE MODE").await?;
    for row in query(&tx, &format!("SELECT {COLUMNS} FROM ip_delegations ORDER BY id"), &[]).await? {
        let existing = decode(&row)?;
        let Some(other) = parse_network(&existing.range) else { continue };
        if net.contains(&other.network()) || other.contains(&net.network()) {
            return Err(StoreError::Conflict(format!(
                "{net} overlaps {other}, delegated to {} (delegation {})",
                existing.domain, existing.id
            )));
        }
    }
    let inserted = query_one(
        &tx,
        &format!(
            "INSERT INTO ip_delegations (domain, network, comment, created_at_ms) VALUES ($1, $2, $3, $4)
             RETURNING {COLUMNS}"
        ),
        &[&new.domain, &net.to_string(), &new.comment, &now_ms()],
    )
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_missing_reference(&e) => {
            return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain)));
        }
        Err(e) => return Err(e),
    };
    let delegation = decode(&row)?;
    tx.commit().await?;
    Ok(delegation)
}

pub(super) async fn get(c: &impl GenericClient, id: i64) -> Result<Option<IpDelegation>> {
    let sql = format!("SELECT {COLUMNS} FROM ip_delegations WHERE id = $1");
    query_opt(c, &sql, &[&id]).await?.as_ref().map(decode).transpose()
}

pub(super) async fn list(
    c: &impl GenericClient,
    scope: &Scope,
    domain: Option<&str>,
    page: Page,
) -> Result<Paged<IpDelegation>> {
    let mut f = Filter::default();
    f.scope("domain", scope);
    if let Some(domain) = domain {
        f.equals("domain", domain.to_owned());
    }
    let query = ListQuery { columns: COLUMNS, from: "ip_delegations", count_from: None, order: "id", filter: &f };
    paged(c, query, page, decode).await
}

pub(super) async fn delete(c: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(execute(c, "DELETE FROM ip_delegations WHERE id = $1", &[&id]).await? > 0)
}
