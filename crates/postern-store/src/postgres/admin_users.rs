//! [`AdminUserStore`] for [`PgStore`]: the `admin_users` and `admin_sessions` tables, the
//! web panel's users and their login sessions, shared by every node (a login on one node
//! is a session on all).
//!
//! Names are unique without regard to ASCII case, as in SQLite (`NOCASE`): a unique index
//! over the name folded by [`ascii_lower`], which lookups use too. The role is stored as
//! its serde name, the domains as a JSON array. A session row is keyed by the hash of its
//! secret; it is deleted with its user, and every session of a user is deleted when the
//! user changes.

use deadpool_postgres::GenericClient;
use postern_core::tenancy::{AdminUser, Role};
use tokio_postgres::Row;

use super::filter::ascii_lower;
use super::{PgStore, execute, get as col, is_duplicate, is_missing_reference, query, query_one, query_opt};
use crate::admin_users::{AdminSession, AdminUserChange, AdminUserStore, NewAdminSession, NewAdminUser};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, name, role, domains, created_at_ms, last_login_ms";
const USER_COLUMNS: &str = "u.id, u.name, u.role, u.domains, u.created_at_ms, u.last_login_ms";

fn decode(r: &Row) -> Result<AdminUser> {
    Ok(AdminUser {
        id: col(r, 0)?,
        name: col(r, 1)?,
        role: serde_json::from_value(serde_json::Value::String(col(r, 2)?))?,
        domains: serde_json::from_str(col(r, 3)?)?,
        created_at_ms: col(r, 4)?,
        last_login_ms: col(r, 5)?,
    })
}

fn role_name(role: Role) -> Result<String> {
    match serde_json::to_value(role)? {
        serde_json::Value::String(name) => Ok(name),
        other => Ok(other.to_string()),
    }
}

async fn user(c: &impl GenericClient, id: i64) -> Result<Option<AdminUser>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_users WHERE id = $1");
    query_opt(c, &sql, &[&id]).await?.as_ref().map(decode).transpose()
}

async fn create_user(c: &impl GenericClient, new: &NewAdminUser) -> Result<AdminUser> {
    let now = postern_core::event::now_ms();
    let (role, domains) = (role_name(new.role)?, serde_json::to_string(&new.domains)?);
    let inserted = query_one(
        c,
        "INSERT INTO admin_users (name, role, domains, password_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
        &[&new.name, &role, &domains, &new.password_hash, &now],
    )
    .await;
    let id: i64 = match inserted {
        Ok(row) => col(&row, 0)?,
        Err(e) if is_duplicate(&e) => return Err(StoreError::Conflict("an admin user with this name exists".into())),
        Err(e) => return Err(e),
    };
    Ok(AdminUser {
        id,
        name: new.name.clone(),
        role: new.role,
        domains: new.domains.clone(),
        created_at_ms: now,
        last_login_ms: None,
    })
}

async fn update_user(
    client: &mut deadpool_postgres::Client,
    id: i64,
    change: &AdminUserChange,
) -> Result<Option<AdminUser>> {
    let tx = client.transaction().await?;
    if query_opt(&tx, "SELECT 1 FROM admin_users WHERE id = $1 FOR UPDATE", &[&id]).await?.is_none() {
        return Ok(None);
    }
    if let Some(role) = change.role {
        execute(&tx, "UPDATE admin_users SET role = $1 WHERE id = $2", &[&role_name(role)?, &id]).await?;
    }
    if let Some(domains) = &change.domains {
        let domains = serde_json::to_string(domains)?;
        execute(&tx, "UPDATE admin_users SET domains = $1 WHERE id = $2", &[&domains, &id]).await?;
    }
    if let Some(hash) = &change.password_hash {
        execute(&tx, "UPDATE admin_users SET password_hash = $1 WHERE id = $2", &[hash, &id]).await?;
    }
    execute(&tx, "DELETE FROM admin_sessions WHERE user_id = $1", &[&id]).await?;
    let updated = user(&tx, id).await?;
    tx.commit().await?;
    Ok(updated)
}

async fn touch(
    client: &mut deadpool_postgres::Client,
    secret_hash: &str,
    now_ms: i64,
    idle_since_ms: i64,
) -> Result<Option<AdminSession>> {
    let tx = client.transaction().await?;
    let sql = format!(
        "SELECT {USER_COLUMNS}, s.csrf, s.created_at_ms, s.expires_at_ms FROM admin_sessions s
         JOIN admin_users u ON u.id = s.user_id
         WHERE s.secret_hash = $1 AND s.expires_at_ms > $2 AND s.last_seen_ms >= $3
         FOR UPDATE OF s"
    );
    let Some(row) = query_opt(&tx, &sql, &[&secret_hash, &now_ms, &idle_since_ms]).await? else { return Ok(None) };
    let session = AdminSession {
        user: decode(&row)?,
        csrf: col(&row, 6)?,
        created_at_ms: col(&row, 7)?,
        last_seen_ms: now_ms,
        expires_at_ms: col(&row, 8)?,
    };
    // Never backwards: another node may have seen the session later.
    let sql = "UPDATE admin_sessions SET last_seen_ms = GREATEST(last_seen_ms, $1) WHERE secret_hash = $2";
    execute(&tx, sql, &[&now_ms, &secret_hash]).await?;
    tx.commit().await?;
    Ok(Some(session))
}

impl AdminUserStore for PgStore {
    fn create_admin_user(&self, new: &NewAdminUser) -> Result<AdminUser> {
        let new = new.clone();
        self.with_client(move |c| async move { create_user(&c, &new).await })
    }

    fn admin_user(&self, id: i64) -> Result<Option<AdminUser>> {
        self.with_client(move |c| async move { user(&c, id).await })
    }

    fn admin_user_by_name(&self, name: &str) -> Result<Option<(AdminUser, String)>> {
        let name = name.to_owned();
        self.with_client(move |c| async move {
            let sql = format!(
                "SELECT {COLUMNS}, password_hash FROM admin_users WHERE {} = {}",
                ascii_lower("name"),
                ascii_lower("$1")
            );
            let row = query_opt(&c, &sql, &[&name]).await?;
            row.map(|r| Ok((decode(&r)?, col(&r, 6)?))).transpose()
        })
    }

    fn list_admin_users(&self) -> Result<Vec<AdminUser>> {
        self.with_client(move |c| async move {
            query(&c, &format!("SELECT {COLUMNS} FROM admin_users ORDER BY id"), &[])
                .await?
                .iter()
                .map(decode)
                .collect()
        })
    }

    fn update_admin_user(&self, id: i64, change: &AdminUserChange) -> Result<Option<AdminUser>> {
        let change = change.clone();
        self.with_client(move |mut c| async move { update_user(&mut c, id, &change).await })
    }

    /// Its sessions go with it (`ON DELETE CASCADE`).
    fn delete_admin_user(&self, id: i64) -> Result<bool> {
        self.with_client(
            move |c| async move { Ok(execute(&c, "DELETE FROM admin_users WHERE id = $1", &[&id]).await? > 0) },
        )
    }

    fn admin_user_logged_in(&self, id: i64, at_ms: i64) -> Result<()> {
        self.with_client(move |c| async move {
            execute(&c, "UPDATE admin_users SET last_login_ms = $1 WHERE id = $2", &[&at_ms, &id]).await?;
            Ok(())
        })
    }

    fn create_admin_session(&self, new: &NewAdminSession) -> Result<()> {
        let new = new.clone();
        self.with_client(move |c| async move {
            let inserted = execute(
                &c,
                "INSERT INTO admin_sessions (secret_hash, user_id, csrf, created_at_ms, last_seen_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $4, $5)",
                &[&new.secret_hash, &new.user_id, &new.csrf, &new.created_at_ms, &new.expires_at_ms],
            )
            .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate(&e) => Err(StoreError::Conflict("a session with this secret exists".into())),
                Err(e) if is_missing_reference(&e) => Err(StoreError::NotFound("no such admin user".into())),
                Err(e) => Err(e),
            }
        })
    }

    fn touch_admin_session(&self, secret_hash: &str, now_ms: i64, idle_since_ms: i64) -> Result<Option<AdminSession>> {
        let secret_hash = secret_hash.to_owned();
        self.with_client(move |mut c| async move { touch(&mut c, &secret_hash, now_ms, idle_since_ms).await })
    }

    fn delete_admin_session(&self, secret_hash: &str) -> Result<bool> {
        let secret_hash = secret_hash.to_owned();
        self.with_client(move |c| async move {
            Ok(execute(&c, "DELETE FROM admin_sessions WHERE secret_hash = $1", &[&secret_hash]).await? > 0)
        })
    }

    fn purge_admin_sessions(&self, now_ms: i64, idle_since_ms: i64) -> Result<u64> {
        self.with_client(move |c| async move {
            let sql = "DELETE FROM admin_sessions WHERE expires_at_ms <= $1 OR last_seen_ms < $2";
            execute(&c, sql, &[&now_ms, &idle_since_ms]).await
        })
    }
}
