//! Admin API access (SPEC.md §1): an [`ApiToken`] as listed and its [`Role`].

use serde::{Deserialize, Serialize};

/// An admin API role (SPEC.md §1). `domain_admin` is the one spelling in answers;
/// `domain-admin` is accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and manages everything.
    Superadmin,
    /// Sees and manages its own domains only; other tenants' objects do not exist for it.
    /// Spelled `domain_admin` on output; `domain-admin` is accepted on input.
    #[serde(alias = "domain-admin")]
    DomainAdmin,
}

/// An API token as listed: the secret is shown once, at creation, and stored as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// `domain_admin`: the domains it may see.
    pub domains: Vec<String>,
    pub created_at_ms: i64,
}

/// A user of the web admin panel, as listed: the password is stored as an argon2id hash
/// and never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminUser {
    pub id: i64,
    /// The login name: 1 to 64 characters of letters, digits and `.-_@`.
    pub name: String,
    pub role: Role,
    /// `domain_admin`: the domains it may see.
    pub domains: Vec<String>,
    pub created_at_ms: i64,
    /// The last successful login, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_ms: Option<i64>,
}
