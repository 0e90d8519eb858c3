//! The `admin_users` and `admin_sessions` tables: the web panel's users and their login
//! sessions ([`AdminUserStore`]).
//!
//! Names are unique without regard to case. The role is stored as its serde name, the
//! domains as a JSON array, like the API tokens'. A session row is keyed by the hash of its
//! secret; it is deleted with its user, and every session of a user is deleted when the
//! user changes.

use postern_core::tenancy::{AdminUser, Role};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, is_duplicate};
use crate::admin_users::{AdminSession, AdminUserChange, AdminUserStore, NewAdminSession, NewAdminUser};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, name, role, domains, created_at_ms, last_login_ms";
const USER_COLUMNS: &str = "u.id, u.name, u.role, u.domains, u.created_at_ms, u.last_login_ms";

/// A row as SQLite gives it, before the role and the domains are decoded.
struct UserRow {
    id: i64,
    name: String,
    role: String,
    domains: String,
    created_at_ms: i64,
    last_login_ms: Option<i64>,
}

fn read(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        domains: r.get(3)?,
        created_at_ms: r.get(4)?,
        last_login_ms: r.get(5)?,
    })
}

fn decode(row: UserRow) -> Result<AdminUser> {
    Ok(AdminUser {
        id: row.id,
        name: row.name,
        role: serde_json::from_value(serde_json::Value::String(row.role))?,
        domains: serde_json::from_str(&row.domains)?,
        created_at_ms: row.created_at_ms,
        last_login_ms: row.last_login_ms,
    })
}

fn role_name(role: Role) -> Result<String> {
    match serde_json::to_value(role)? {
        serde_json::Value::String(name) => Ok(name),
        other => Ok(other.to_string()),
    }
}

fn user(conn: &Connection, id: i64) -> Result<Option<AdminUser>> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM admin_users WHERE id = ?1"), [id], read).optional()?;
    row.map(decode).transpose()
}

impl AdminUserStore for SqliteStore {
    fn create_admin_user(&self, new: &NewAdminUser) -> Result<AdminUser> {
        let conn = self.conn();
        let now = postern_core::event::now_ms();
        let inserted = conn.execute(
            "INSERT INTO admin_users (name, role, domains, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![new.name, role_name(new.role)?, serde_json::to_string(&new.domains)?, new.password_hash, now],
        );
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                return Err(StoreError::Conflict("an admin user with this name exists".into()));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(AdminUser {
            id: conn.last_insert_rowid(),
            name: new.name.clone(),
            role: new.role,
            domains: new.domains.clone(),
            created_at_ms: now,
            last_login_ms: None,
        })
    }

    fn admin_user(&self, id: i64) -> Result<Option<AdminUser>> {
        user(&self.conn(), id)
    }

    fn admin_user_by_name(&self, name: &str) -> Result<Option<(AdminUser, String)>> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {COLUMNS}, password_hash FROM admin_users WHERE name = ?1"), [name], |r| {
                Ok((read(r)?, r.get::<_, String>(6)?))
            })
            .optional()?;
        row.map(|(row, hash)| Ok((decode(row)?, hash))).transpose()
    }

    fn list_admin_users(&self) -> Result<Vec<AdminUser>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM admin_users ORDER BY id"))?;
        let rows = stmt.query_map([], read)?;
        rows.map(|row| decode(row?)).collect()
    }

    fn update_admin_user(&self, id: i64, change: &AdminUserChange) -> Result<Option<AdminUser>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if user(&tx, id)?.is_none() {
            return Ok(None);
        }
        if let Some(role) = change.role {
            tx.execute("UPDATE admin_users SET role = ?1 WHERE id = ?2", params![role_name(role)?, id])?;
        }
        if let Some(domains) = &change.domains {
            tx.execute(
                "UPDATE admin_users SET domains = ?1 WHERE id = ?2",
                params![serde_json::to_string(domains)?, id],
            )?;
        }
        if let Some(hash) = &change.password_hash {
            tx.execute("UPDATE admin_users SET password_hash = ?1 WHERE id = ?2", params![hash, id])?;
        }
        tx.execute("DELETE FROM admin_sessions WHERE user_id = ?1", [id])?;
        let updated = user(&tx, id)?;
        tx.commit()?;
        Ok(updated)
    }

    fn delete_admin_user(&self, id: i64) -> Result<bool> {
        let conn = self.conn();
        conn.execute("DELETE FROM admin_sessions WHERE user_id = ?1", [id])?;
        Ok(conn.execute("DELETE FROM admin_users WHERE id = ?1", [id])? > 0)
    }

    fn admin_user_logged_in(&self, id: i64, at_ms: i64) -> Result<()> {
        self.conn().execute("UPDATE admin_users SET last_login_ms = ?1 WHERE id = ?2", params![at_ms, id])?;
        Ok(())
    }

    fn create_admin_session(&self, new: &NewAdminSession) -> Result<()> {
        let inserted = self.conn().execute(
            "INSERT INTO admin_sessions (secret_hash, user_id, csrf, created_at_ms, last_seen_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![new.secret_hash, new.user_id, new.csrf, new.created_at_ms, new.expires_at_ms],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => Err(StoreError::Conflict("a session with this secret exists".into())),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Err(StoreError::NotFound("no such admin user".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn touch_admin_session(&self, secret_hash: &str, now_ms: i64, idle_since_ms: i64) -> Result<Option<AdminSession>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, s.csrf, s.created_at_ms, s.expires_at_ms FROM admin_sessions s
                     JOIN admin_users u ON u.id = s.user_id
                     WHERE s.secret_hash = ?1 AND s.expires_at_ms > ?2 AND s.last_seen_ms >= ?3"
                ),
                params![secret_hash, now_ms, idle_since_ms],
                |r| Ok((read(r)?, r.get::<_, String>(6)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?)),
            )
            .optional()?;
        let Some((row, csrf, created_at_ms, expires_at_ms)) = row else { return Ok(None) };
        conn.execute(
            "UPDATE admin_sessions SET last_seen_ms = ?1 WHERE secret_hash = ?2",
            params![now_ms, secret_hash],
        )?;
        Ok(Some(AdminSession { user: decode(row)?, csrf, created_at_ms, last_seen_ms: now_ms, expires_at_ms }))
    }

    fn delete_admin_session(&self, secret_hash: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM admin_sessions WHERE secret_hash = ?1", [secret_hash])? > 0)
    }

    fn purge_admin_sessions(&self, now_ms: i64, idle_since_ms: i64) -> Result<u64> {
        let removed = self.conn().execute(
            "DELETE FROM admin_sessions WHERE expires_at_ms <= ?1 OR last_seen_ms < ?2",
            params![now_ms, idle_since_ms],
        )?;
        Ok(removed as u64)
    }
}
