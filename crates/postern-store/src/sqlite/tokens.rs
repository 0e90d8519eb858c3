//! The `api_tokens` table: admin API tokens, their role and domains.
//!
//! In: [`NewToken`] with the SHA-256 of the secret (the secret itself never reaches the
//! store). Out: [`ApiToken`] values, which carry no hash: a token is found by its hash and
//! never shows it. The role is stored as its serde name, the domains as a JSON array.

use postern_core::event::now_ms;
use postern_core::tenancy::{ApiToken, Role};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::is_duplicate;
use crate::directory::NewToken;
use crate::{Result, StoreError};

const COLUMNS: &str = "id, name, role, domains, created_at_ms";

/// A row as SQLite gives it, before the role and the domains are decoded.
struct TokenRow {
    id: i64,
    name: String,
    role: String,
    domains: String,
    created_at_ms: i64,
}

fn read(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow { id: r.get(0)?, name: r.get(1)?, role: r.get(2)?, domains: r.get(3)?, created_at_ms: r.get(4)? })
}

fn decode(row: TokenRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.id,
        name: row.name,
        role: serde_json::from_value(serde_json::Value::String(row.role))?,
        domains: serde_json::from_str(&row.domains)?,
        created_at_ms: row.created_at_ms,
    })
}

/// `superadmin`, `domain_admin`: the same names the API uses.
fn role_name(role: Role) -> Result<String> {
    match serde_json::to_value(role)? {
        serde_json::Value::String(name) => Ok(name),
        other => Ok(other.to_string()),
    }
}

pub(super) fn create(conn: &Connection, new: &NewToken) -> Result<ApiToken> {
    let now = now_ms();
    let inserted = conn.execute(
        "INSERT INTO api_tokens (name, role, domains, secret_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![new.name, role_name(new.role)?, serde_json::to_string(&new.domains)?, new.secret_hash, now],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => return Err(StoreError::Conflict("a token with this secret exists".into())),
        Err(e) => return Err(e.into()),
    }
    Ok(ApiToken {
        id: conn.last_insert_rowid(),
        name: new.name.clone(),
        role: new.role,
        domains: new.domains.clone(),
        created_at_ms: now,
    })
}

pub(super) fn by_secret_hash(conn: &Connection, secret_hash: &str) -> Result<Option<ApiToken>> {
    let row = conn
        .query_row(&format!("SELECT {COLUMNS} FROM api_tokens WHERE secret_hash = ?1"), [secret_hash], read)
        .optional()?;
    row.map(decode).transpose()
}

pub(super) fn list(conn: &Connection) -> Result<Vec<ApiToken>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"))?;
    let rows = stmt.query_map([], read)?;
    rows.map(|row| decode(row?)).collect()
}

pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM api_tokens WHERE id = ?1", [id])? > 0)
}
