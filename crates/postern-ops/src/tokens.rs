//! API tokens: who the caller is ([`whoami`]); list, create and delete tokens (superadmin
//! only).
//!
//! Defends against: secrets at rest (a new secret is shown once, in the creation answer,
//! and only its SHA-256 is stored: [`token_secret`](crate::token_secret)), domain-admin
//! tokens for domains that do not exist, and locking everyone out (a token cannot delete
//! itself, so the caller's superadmin token always remains).

use postern_core::tenancy::{ApiToken, Role, normalize_domain};
use postern_store::{NewToken, Paged};
use serde::{Deserialize, Serialize};

use crate::object::{Deleted, object_id};
use crate::page::page;
use crate::token_secret::try_new_token_secret;
use crate::{Caller, OpError, Ops, Result};

const LONGEST_NAME: usize = 128;
const MOST_DOMAINS: usize = 1000;

/// Which page of tokens to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// At most this many (0: 100; at most 1000).
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A new API token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// 1 to 128 characters without control characters.
    pub name: String,
    pub role: Role,
    /// `domain_admin`: at least one existing domain; `superadmin`: none.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// A created token and its secret.
// No `Debug`: it holds the secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenCreated {
    /// `pst_...`; shown only here.
    pub secret: String,
    pub token: ApiToken,
}

/// The caller's token: id, name, role, domains (none for a superadmin, who sees all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub domains: Vec<String>,
    pub name: String,
    pub role: Role,
    pub token_id: i64,
}

/// Who the caller is.
pub fn whoami(caller: &Caller) -> WhoAmI {
    let domains = caller.domains().unwrap_or_default().to_vec();
    WhoAmI { domains, name: caller.name.clone(), role: caller.role, token_id: caller.token_id }
}

pub async fn list(ops: &Ops, caller: &Caller, q: TokenQuery) -> Result<Paged<ApiToken>> {
    caller.require_superadmin("manage API tokens")?;
    let page = page(q.limit, q.offset)?;
    let all = ops.directory(|d| d.list_tokens()).await?;
    let limit = page.effective_limit();
    let items = all.iter().skip(usize::try_from(page.offset).unwrap_or(usize::MAX)).take(limit as usize).cloned();
    Ok(Paged { items: items.collect(), total: all.len() as u64, limit, offset: page.offset })
}

pub async fn create(ops: &Ops, caller: &Caller, input: TokenCreate) -> Result<TokenCreated> {
    caller.require_superadmin("manage API tokens")?;
    let name = input.name.trim().to_string();
    if name.is_empty() || name.len() > LONGEST_NAME || name.chars().any(char::is_control) {
        let error = format!("a token name is 1 to {LONGEST_NAME} characters without control characters");
        return Err(OpError::bad_field("name", error));
    }
    let domains = token_domains(ops, input.role, input.domains).await?;
    let (secret, secret_hash) = try_new_token_secret().map_err(OpError::internal)?;
    let new = NewToken { name, role: input.role, domains, secret_hash };
    let token = ops.directory(move |d| d.create_token(&new)).await?;
    Ok(TokenCreated { secret, token })
}

pub async fn delete(ops: &Ops, caller: &Caller, id: &str) -> Result<Deleted> {
    caller.require_superadmin("manage API tokens")?;
    let id = object_id(id, "token")?;
    if id == caller.token_id {
        return Err(OpError::conflict("a token cannot delete itself; use another superadmin token"));
    }
    if !ops.directory(move |d| d.delete_token(id)).await? {
        return Err(OpError::not_found("no such token"));
    }
    Ok(Deleted::of(id))
}

/// A domain admin's domains: at least one, each existing, normalized, without repeats.
/// A superadmin sees every domain and takes none.
pub(crate) async fn token_domains(ops: &Ops, role: Role, given: Vec<String>) -> Result<Vec<String>> {
    if role == Role::Superadmin {
        if !given.is_empty() {
            return Err(OpError::bad_field("domains", "a superadmin token sees every domain; give no domains"));
        }
        return Ok(Vec::new());
    }
    if given.is_empty() {
        return Err(OpError::bad_field("domains", "a domain_admin token needs at least one domain"));
    }
    if given.len() > MOST_DOMAINS {
        return Err(OpError::bad_field("domains", format!("at most {MOST_DOMAINS} domains")));
    }
    let mut domains: Vec<String> = Vec::with_capacity(given.len());
    for (i, text) in given.iter().enumerate() {
        let field = format!("domains[{i}]");
        let name = normalize_domain(text).map_err(|e| OpError::bad_field(&field, e))?;
        let key = name.clone();
        if ops.directory(move |d| d.domain(&key)).await?.is_none() {
            return Err(OpError::not_found("no such domain").with_field(field));
        }
        if !domains.contains(&name) {
            domains.push(name);
        }
    }
    Ok(domains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{TestOps, admin_of, superadmin};

    fn new(role: Role, domains: &[&str]) -> TokenCreate {
        TokenCreate { name: "ops".into(), role, domains: domains.iter().map(|d| d.to_string()).collect() }
    }

    #[tokio::test]
    async fn tokens_are_the_superadmins_and_name_existing_domains() {
        let t = TestOps::new();
        t.domain("a.example").await;
        let root = superadmin();
        let a = admin_of("a.example");
        let e = create(&t.ops, &a, new(Role::DomainAdmin, &["a.example"])).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let e = create(&t.ops, &root, new(Role::DomainAdmin, &["A.Example.", "ghost.example"])).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::NotFound, Some("domains[1]")));
        let e = create(&t.ops, &root, new(Role::Superadmin, &["a.example"])).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("domains")));

        let made = create(&t.ops, &root, new(Role::DomainAdmin, &["A.Example.", "a.example"])).await.unwrap();
        assert_eq!(made.token.domains, ["a.example"]);
        assert!(made.secret.starts_with("pst_"));
        let own = Caller { token_id: made.token.id, ..superadmin() };
        let e = delete(&t.ops, &own, &made.token.id.to_string()).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Conflict, "a token never deletes itself");
        let another = Caller { token_id: made.token.id + 1, ..superadmin() };
        assert_eq!(delete(&t.ops, &another, &made.token.id.to_string()).await.unwrap(), Deleted::of(made.token.id));
    }

    #[test]
    fn whoami_lists_a_domain_admins_domains_only() {
        assert_eq!(whoami(&superadmin()).domains, Vec::<String>::new());
        assert_eq!(whoami(&admin_of("a.example")).domains, ["a.example"]);
    }
}
