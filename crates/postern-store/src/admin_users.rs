//! The web panel's users and their login sessions ([`AdminUserStore`]).
//!
//! In: users with an argon2id hash made by the caller (the store never sees a password),
//! sessions with the SHA-256 of their secret (the store never sees a secret). Out:
//! [`AdminUser`]s, which carry no hash, and [`AdminSession`]s found by the hash of the
//! secret a browser presents.
//!
//! Defends against: secrets and passwords at rest (only hashes are kept), sessions of a
//! deleted user or a changed role living on (deleting a user deletes its sessions; a
//! changed password, role or domain list ends every session of the user), and expired
//! sessions being honoured (a lookup never returns one past its idle or absolute end).

use postern_core::tenancy::{AdminUser, Role};

use crate::Result;

#[derive(Debug, Clone)]
pub struct NewAdminUser {
    pub name: String,
    pub role: Role,
    pub domains: Vec<String>,
    /// argon2id, PHC string format.
    pub password_hash: String,
}

/// What to change of a user; `None` keeps the value. Any change ends the user's sessions.
#[derive(Debug, Clone, Default)]
pub struct AdminUserChange {
    pub role: Option<Role>,
    pub domains: Option<Vec<String>>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewAdminSession {
    /// SHA-256 of the session secret, lower-case hex.
    pub secret_hash: String,
    pub user_id: i64,
    /// The session's CSRF token, sent in every form.
    pub csrf: String,
    pub created_at_ms: i64,
    /// The absolute end: no use after this.
    pub expires_at_ms: i64,
}

/// A live session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub user: AdminUser,
    pub csrf: String,
    pub created_at_ms: i64,
    pub last_seen_ms: i64,
    pub expires_at_ms: i64,
}

/// Panel users and sessions. All methods are blocking; async callers use `spawn_blocking`.
pub trait AdminUserStore: Send + Sync + 'static {
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) when the name is taken.
    fn create_admin_user(&self, new: &NewAdminUser) -> Result<AdminUser>;
    fn admin_user(&self, id: i64) -> Result<Option<AdminUser>>;
    /// The user and its password hash, for a login.
    fn admin_user_by_name(&self, name: &str) -> Result<Option<(AdminUser, String)>>;
    fn list_admin_users(&self) -> Result<Vec<AdminUser>>;
    /// `None` when there is no such user. Ends every session of the user.
    fn update_admin_user(&self, id: i64, change: &AdminUserChange) -> Result<Option<AdminUser>>;
    /// Deletes the user and its sessions.
    fn delete_admin_user(&self, id: i64) -> Result<bool>;
    /// Records a successful login time.
    fn admin_user_logged_in(&self, id: i64, at_ms: i64) -> Result<()>;

    fn create_admin_session(&self, new: &NewAdminSession) -> Result<()>;
    /// The session whose secret hashes to `secret_hash`, when it is neither past its
    /// absolute end nor idle since before `idle_since_ms`; marks it seen at `now_ms`.
    fn touch_admin_session(&self, secret_hash: &str, now_ms: i64, idle_since_ms: i64) -> Result<Option<AdminSession>>;
    fn delete_admin_session(&self, secret_hash: &str) -> Result<bool>;
    /// Removes sessions past their end or idle since before `idle_since_ms`.
    fn purge_admin_sessions(&self, now_ms: i64, idle_since_ms: i64) -> Result<u64>;
}
