//! The `list_rules` table: the rules of the block and allow lists, global (`domain` NULL)
//! or per domain.
//!
//! In: [`NewRule`] from the admin API. Out: [`ListRule`] values. The value is stored in
//! the canonical form of its kind ([`ListKind::canonical`]: `192.0.2.0/255.255.255.0`
//! becomes `192.0.2.0/24`, addresses lower-case), inside one IMMEDIATE transaction that
//! also checks the domain and the one-rule-per-value invariant, so two concurrent
//! creations cannot both pass. Kind and action are stored as their serde names; a row
//! with an unknown one is an error ([`StoreError::Json`]), never a default.

use postern_core::event::now_ms;
use postern_core::tenancy::{ListKind, ListRule};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::{domains, is_duplicate};
use crate::directory::{NewRule, Page, Paged, RuleFilter, Scope};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, domain, kind, value, action, comment, created_at_ms";

/// A row as SQLite gives it, before kind and action are decoded.
struct RuleRow {
    id: i64,
    domain: Option<String>,
    kind: String,
    value: String,
    action: String,
    comment: Option<String>,
    created_at_ms: i64,
}

fn read(r: &Row<'_>) -> rusqlite::Result<RuleRow> {
    Ok(RuleRow {
        id: r.get(0)?,
        domain: r.get(1)?,
        kind: r.get(2)?,
        value: r.get(3)?,
        action: r.get(4)?,
        comment: r.get(5)?,
        created_at_ms: r.get(6)?,
    })
}

fn decode(row: RuleRow) -> Result<ListRule> {
    Ok(ListRule {
        id: row.id,
        domain: row.domain,
        kind: serde_json::from_value(serde_json::Value::String(row.kind))?,
        value: row.value,
        action: serde_json::from_value(serde_json::Value::String(row.action))?,
        comment: row.comment,
        created_at_ms: row.created_at_ms,
    })
}

pub(super) fn create(conn: &mut Connection, new: &NewRule) -> Result<ListRule> {
    let value = new.kind.canonical(&new.value).map_err(StoreError::Conflict)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(domain) = &new.domain
        && !domains::exists(&tx, domain)?
    {
        return Err(StoreError::NotFound(format!("domain {domain} does not exist")));
    }
    if let Some(other) = same_value(&tx, new.domain.as_deref(), new.kind, &value)? {
        return Err(StoreError::Conflict(format!("{} exists for this value", other.describe())));
    }
    let inserted = tx.execute(
        "INSERT INTO list_rules (domain, kind, value, action, comment, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![new.domain, new.kind.name(), value, new.action.name(), new.comment, now_ms()],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("a {} rule for {value} exists", new.kind.name())));
        }
        Err(e) => return Err(e.into()),
    }
    let id = tx.last_insert_rowid();
    let rule = get(&tx, id)?;
    tx.commit()?;
    rule.ok_or_else(|| StoreError::NotFound(format!("rule {id} vanished after its creation")))
}

/// The rule of the same list, kind and canonical value, if any.
fn same_value(conn: &Connection, domain: Option<&str>, kind: ListKind, value: &str) -> Result<Option<ListRule>> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM list_rules WHERE COALESCE(domain, '') = COALESCE(?1, '') AND kind = ?2 AND value = ?3"
            ),
            params![domain, kind.name(), value],
            read,
        )
        .optional()?;
    row.map(decode).transpose()
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<ListRule>> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM list_rules WHERE id = ?1"), [id], read).optional()?;
    row.map(decode).transpose()
}

/// A domain scope's `domain IN (...)` never matches NULL, so global rules stay invisible to it.
pub(super) fn list(conn: &Connection, scope: &Scope, filter: &RuleFilter, page: Page) -> Result<Paged<ListRule>> {
    let mut f = Filter::default();
    f.scope("domain", scope);
    if let Some(domain) = &filter.domain {
        f.equals("domain", domain.clone());
    }
    if let Some(global) = filter.global {
        f.clause(if global { "domain IS NULL" } else { "domain IS NOT NULL" }, []);
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
    paged(
        conn,
        ListQuery { columns: COLUMNS, from: "list_rules", count_from: None, order: "id", filter: &f },
        page,
        read,
        decode,
    )
}

/// Every rule by id, for the snapshot.
pub(super) fn all(conn: &Connection) -> Result<Vec<ListRule>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM list_rules ORDER BY id"))?;
    let rows = stmt.query_map([], read)?;
    rows.map(|row| decode(row?)).collect()
}

pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM list_rules WHERE id = ?1", [id])? > 0)
}
