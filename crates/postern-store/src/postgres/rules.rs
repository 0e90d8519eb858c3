//! The `list_rules` table on PostgreSQL: the rules of the block and allow lists, global
//! (`domain` NULL) or per domain.
//!
//! In: [`NewRule`] from the admin API. Out: [`ListRule`] values. The value is stored in the
//! canonical form of its kind ([`ListKind::canonical`]); one rule per (list, kind, value)
//! is a unique index, so two nodes creating the same rule at once get one rule and one
//! Conflict. Kind and action are stored as their serde names; a row with an unknown one
//! is an error ([`StoreError::Json`]), never a default.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::{ListKind, ListRule};
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{domains, execute, get as col, is_duplicate, is_missing_reference, query, query_one, query_opt};
use crate::directory::{NewRule, Page, Paged, RuleFilter, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, kind, value, action, comment, created_at_ms";

fn decode(r: &Row) -> Result<ListRule> {
    Ok(ListRule {
        id: col(r, 0)?,
        domain: col(r, 1)?,
        kind: serde_json::from_value(serde_json::Value::String(col(r, 2)?))?,
        value: col(r, 3)?,
        action: serde_json::from_value(serde_json::Value::String(col(r, 4)?))?,
        comment: col(r, 5)?,
        created_at_ms: col(r, 6)?,
    })
}

pub(super) async fn create(client: &mut deadpool_postgres::Client, new: &NewRule) -> Result<ListRule> {
    let value = new.kind.canonical(&new.value).map_err(StoreError::Conflict)?;
    let tx = client.transaction().await?;
    if let Some(domain) = &new.domain
        && !domains::lock(&tx, domain, false).await?
    {
        return Err(StoreError::NotFound(format!("domain {domain} does not exist")));
    }
    if let Some(other) = same_value(&tx, new.domain.as_deref(), new.kind, &value).await? {
        return Err(StoreError::Conflict(format!("{} exists for this value", other.describe())));
    }
    let inserted = query_one(
        &tx,
        &format!(
            "INSERT INTO list_rules (domain, kind, value, action, comment, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
        ),
        &[&new.domain, &new.kind.name(), &value, &new.action.name(), &new.comment, &now_ms()],
    )
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("a {} rule for {value} exists", new.kind.name())));
        }
        Err(e) if is_missing_reference(&e) => {
            return Err(StoreError::NotFound(format!("domain {} does not exist", new.domain.as_deref().unwrap_or(""))));
        }
        Err(e) => return Err(e),
    };
    let rule = decode(&row)?;
    tx.commit().await?;
    Ok(rule)
}

/// The rule of the same list, kind and canonical value, if any.
async fn same_value(
    c: &impl GenericClient,
    domain: Option<&str>,
    kind: ListKind,
    value: &str,
) -> Result<Option<ListRule>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM list_rules
         WHERE COALESCE(domain, '') = COALESCE($1::TEXT, '') AND kind = $2 AND value = $3"
    );
    query_opt(c, &sql, &[&domain, &kind.name(), &value]).await?.as_ref().map(decode).transpose()
}

pub(super) async fn get(c: &impl GenericClient, id: i64) -> Result<Option<ListRule>> {
    let sql = format!("SELECT {COLUMNS} FROM list_rules WHERE id = $1");
    query_opt(c, &sql, &[&id]).await?.as_ref().map(decode).transpose()
}

/// A domain scope's `domain = ANY(...)` never matches NULL, so global rules stay invisible to it.
pub(super) async fn list(
    c: &impl GenericClient,
    scope: &Scope,
    filter: &RuleFilter,
    page: Page,
) -> Result<Paged<ListRule>> {
    let mut f = Filter::default();
    f.scope("domain", scope);
    if let Some(domain) = &filter.domain {
        f.equals("domain", domain.clone());
    }
    if let Some(global) = filter.global {
        f.clause(if global { "domain IS NULL" } else { "domain IS NOT NULL" });
    }
    if let Some(kind) = filter.kind {
        f.equals("kind", kind.name().to_owned());
    }
    if let Some(action) = filter.action {
        f.equals("action", action.name().to_owned());
    }
    if let Some(value) = &filter.value {
        f.contains("value", value);
    }
    let query = ListQuery { columns: COLUMNS, from: "list_rules", count_from: None, order: "id", filter: &f };
    paged(c, query, page, decode).await
}

/// Every rule by id, for the snapshot.
pub(super) async fn all(c: &impl GenericClient) -> Result<Vec<ListRule>> {
    query(c, &format!("SELECT {COLUMNS} FROM list_rules ORDER BY id"), &[]).await?.iter().map(decode).collect()
}

pub(super) async fn delete(c: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(execute(c, "DELETE FROM list_rules WHERE id = $1", &[&id]).await? > 0)
}
