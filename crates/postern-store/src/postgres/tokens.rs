//! The `api_tokens` table on PostgreSQL: admin API tokens, their role and domains.
//!
//! In: [`NewToken`] with the SHA-256 of the secret (the secret itself never reaches the
//! store). Out: [`ApiToken`] values, which carry no hash. The role is stored as its serde
//! name, the domains as a JSON array, as in SQLite.

use deadpool_postgres::GenericClient;
use postern_core::event::now_ms;
use postern_core::tenancy::{ApiToken, Role};
use tokio_postgres::Row;

use super::{execute, get as col, is_duplicate, query, query_one, query_opt};
use crate::directory::NewToken;
use crate::{Result, StoreError};

const COLUMNS: &str = "id, name, role, domains, created_at_ms";

fn decode(r: &Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: col(r, 0)?,
        name: col(r, 1)?,
        role: serde_json::from_value(serde_json::Value::String(col(r, 2)?))?,
        domains: serde_json::from_str(col(r, 3)?)?,
        created_at_ms: col(r, 4)?,
    })
}

/// `superadmin`, `domain_admin`: the same names the API uses.
fn role_name(role: Role) -> Result<String> {
    match serde_json::to_value(role)? {
        serde_json::Value::String(name) => Ok(name),
        other => Ok(other.to_string()),
    }
}

pub(super) async fn create(c: &impl GenericClient, new: &NewToken) -> Result<ApiToken> {
    let now = now_ms();
    let role = role_name(new.role)?;
    let domains = serde_json::to_string(&new.domains)?;
    let inserted = query_one(
        c,
        "INSERT INTO api_tokens (name, role, domains, secret_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
        &[&new.name, &role, &domains, &new.secret_hash, &now],
    )
    .await;
    let id: i64 = match inserted {
        Ok(row) => col(&row, 0)?,
        Err(e) if is_duplicate(&e) => return Err(StoreError::Conflict("a token with this secret exists".into())),
        Err(e) => return Err(e),
    };
    Ok(ApiToken { id, name: new.name.clone(), role: new.role, domains: new.domains.clone(), created_at_ms: now })
}

pub(super) async fn by_secret_hash(c: &impl GenericClient, secret_hash: &str) -> Result<Option<ApiToken>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE secret_hash = $1");
    query_opt(c, &sql, &[&secret_hash]).await?.as_ref().map(decode).transpose()
}

pub(super) async fn list(c: &impl GenericClient) -> Result<Vec<ApiToken>> {
    query(c, &format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"), &[]).await?.iter().map(decode).collect()
}

pub(super) async fn delete(c: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(execute(c, "DELETE FROM api_tokens WHERE id = $1", &[&id]).await? > 0)
}
