//! [`Caller`]: who asks for an operation — a token's id and name, its role, and the
//! domains it may see. Every operation takes one; front ends make it from their own
//! credentials (the JSON API from a bearer token, the web panel from a session).

use postern_core::tenancy::{ApiToken, Role};
use postern_store::Scope;

use crate::OpError;

#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Caller {
    /// The caller a stored token stands for.
    pub fn of(token: ApiToken) -> Caller {
        let scope = match token.role {
            Role::Superadmin => Scope::All,
            Role::DomainAdmin => Scope::Domains(token.domains),
        };
        Caller { token_id: token.id, name: token.name, role: token.role, scope }
    }

    pub fn is_superadmin(&self) -> bool {
        self.role == Role::Superadmin
    }

    /// [`crate::ErrorKind::Forbidden`] unless the caller is a superadmin.
    pub fn require_superadmin(&self, action: &str) -> Result<(), OpError> {
        if self.is_superadmin() { Ok(()) } else { Err(OpError::superadmin_only(action)) }
    }

    /// The domains a domain admin may see; `None` for a superadmin (everything).
    pub fn domains(&self) -> Option<&[String]> {
        match &self.scope {
            Scope::All => None,
            Scope::Domains(list) => Some(list),
        }
    }
}
