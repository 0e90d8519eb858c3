//! Identities, the senders behind accounts ("Manage identities", SPEC.md §1): list,
//! register ahead of the first message, show, lock or unlock, delete. An identity belongs
//! to its account's domain; other tenants' identities and accounts are "no such ...". A
//! domain admin may not name an identity after an address outside its own domains
//! ([`ErrorKind::Forbidden`], the same answer whether that domain exists or not).
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use postern_core::tenancy::Identity;
use postern_store::{DirectoryChange, IdentityFilter, Paged};
use serde::Deserialize;

use crate::accounts::lock_by_administrator;
use crate::object::{Deleted, object_id};
use crate::page::page;
use crate::{Caller, OpError, Ops, Result, lock_notice};

/// The longest identity name (an address is at most 320 characters).
pub const LONGEST_NAME: usize = 320;

/// Which identities to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdentityQuery {
    /// The account.
    pub account_id: Option<i64>,
    /// The account's domain.
    pub domain: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Locked or not.
    pub locked: Option<bool>,
    /// At most this many (0: 100; at most 1000).
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// An identity registered before its first message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCreate {
    pub account_id: i64,
    /// 1 to 320 characters without control characters; a domain admin's identity that is
    /// an address is an address of one of its domains.
    pub name: String,
}

/// Lock or unlock an identity.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityPatch {
    /// `true` locks by hand; `false` unlocks and resets the count of automatic unlocks.
    pub locked: bool,
}

pub async fn list(ops: &Ops, caller: &Caller, q: IdentityQuery) -> Result<Paged<Identity>> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase());
    let filter = IdentityFilter { account_id: q.account_id, domain, name: q.name, locked: q.locked };
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_identities(&scope, &filter, page)).await
}

pub async fn create(ops: &Ops, caller: &Caller, input: IdentityCreate) -> Result<Identity> {
    let account_id = input.account_id;
    let account = ops.directory(move |d| d.account(account_id)).await?;
    if !account.is_some_and(|a| caller.scope.allows(&a.domain)) {
        return Err(OpError::not_found("no such account").with_field("account_id"));
    }
    let name = input.name.trim().to_string();
    if name.is_empty() || name.len() > LONGEST_NAME || name.chars().any(char::is_control) {
        let error = format!("an identity is 1 to {LONGEST_NAME} characters without control characters");
        return Err(OpError::bad_field("name", error));
    }
    if !name_allowed(caller, &name) {
        return Err(foreign_address("name"));
    }
    ops.directory(move |d| d.create_identity(account_id, &name)).await
}

pub async fn show(ops: &Ops, caller: &Caller, id: &str) -> Result<Identity> {
    visible_identity(ops, caller, id).await
}

pub async fn update(ops: &Ops, caller: &Caller, id: &str, patch: IdentityPatch) -> Result<Identity> {
    let current = visible_identity(ops, caller, id).await?;
    let id = current.id;
    let lock = lock_by_administrator(patch.locked);
    let updated = ops.directory(move |d| d.update_identity_lock(id, &lock)).await?;
    let updated = updated.ok_or_else(|| OpError::not_found("no such identity"))?;
    // The SMTP policy keeps identity lock states in memory.
    ops.changed(DirectoryChange::Identity { account_id: updated.account_id, name: updated.name.clone() }).await;
    if lock_notice::newly_locked(&current.lock, &updated.lock) {
        let account_id = updated.account_id;
        if let Some(account) = ops.directory(move |d| d.account(account_id)).await? {
            lock_notice::identity_locked(ops, &account, &updated).await;
        }
    }
    Ok(updated)
}

pub async fn delete(ops: &Ops, caller: &Caller, id: &str) -> Result<Deleted> {
    let identity = visible_identity(ops, caller, id).await?;
    let id = identity.id;
    if !ops.directory(move |d| d.delete_identity(id)).await? {
        return Err(OpError::not_found("no such identity"));
    }
    ops.changed(DirectoryChange::Identity { account_id: identity.account_id, name: identity.name }).await;
    Ok(Deleted::of(id))
}

/// The identity with the id `text`, if it exists and the caller may see it; otherwise
/// "no such identity".
pub async fn visible_identity(ops: &Ops, caller: &Caller, text: &str) -> Result<Identity> {
    let id = object_id(text, "identity")?;
    let identity = ops.directory(move |d| d.identity(id)).await?;
    identity.filter(|i| caller.scope.allows(&i.domain)).ok_or_else(|| OpError::not_found("no such identity"))
}

/// Whether the caller may name an identity `name`. A superadmin may name any. For a
/// domain admin, a name that contains an address (`ceo@b.example`, `CEO <ceo@b.example>`)
/// must be of one of its own domains; other names (header values such as `client-7`)
/// are free. Decided on the caller's own domains only, so the answer never says whether
/// another domain exists.
pub fn name_allowed(caller: &Caller, name: &str) -> bool {
    let Some(mine) = caller.domains() else { return true };
    let Some((_, after)) = name.rsplit_once('@') else { return true };
    let domain: String = after
        .chars()
        .take_while(|c| !matches!(c, '>' | ' ' | '\t' | ',' | ';' | ')' | '"'))
        .collect::<String>()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    mine.iter().any(|d| d.eq_ignore_ascii_case(&domain))
}

/// The refusal of an identity named after an address outside the caller's domains.
pub(crate) fn foreign_address(field: &str) -> OpError {
    OpError::forbidden("an identity that is an address must be an address of one of your domains").with_field(field)
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::{AccountKind, Role};
    use postern_store::Scope;

    use super::*;
    use crate::ErrorKind;
    use crate::accounts::{self, AccountCreate};
    use crate::testing::{TestOps, superadmin};

    async fn ip_account(t: &TestOps, domain: &str, network: &str) -> i64 {
        let input = AccountCreate {
            domain: domain.into(),
            kind: AccountKind::Ip,
            name: Some(network.into()),
            password: None,
            settings: None,
            cover_trusted: false,
        };
        accounts::create(&t.ops, &superadmin(), input).await.unwrap().id
    }

    #[tokio::test]
    async fn a_domain_admin_names_identities_inside_its_own_domains() {
        let t = TestOps::new();
        t.domain("a.example").await;
        t.domain("b.example").await;
        let mine = ip_account(&t, "a.example", "192.0.2.0/28").await;
        let theirs = ip_account(&t, "b.example", "198.51.100.0/28").await;
        let a = admin_of(&["a.example"]);
        let new = |account_id, name: &str| IdentityCreate { account_id, name: name.into() };

        let e = create(&t.ops, &a, new(theirs, "client-1")).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::NotFound, Some("account_id")));
        assert_eq!(e, create(&t.ops, &a, new(987_654, "client-1")).await.err().unwrap());
        let e = create(&t.ops, &a, new(mine, "CEO <ceo@b.example>")).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Forbidden, Some("name")));
        let e = create(&t.ops, &a, new(mine, "  ")).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("name")));

        let made = create(&t.ops, &a, new(mine, " ceo@a.example ")).await.unwrap();
        assert_eq!(made.name, "ceo@a.example");
        let locked = update(&t.ops, &a, &made.id.to_string(), IdentityPatch { locked: true }).await.unwrap();
        assert!(locked.lock.locked);
        let b = create(&t.ops, &superadmin(), new(theirs, "client-9")).await.unwrap();
        let e = delete(&t.ops, &a, &b.id.to_string()).await.err().unwrap();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such identity"));
    }

    fn admin_of(domains: &[&str]) -> Caller {
        let domains = domains.iter().map(|d| d.to_string()).collect();
        Caller { token_id: 1, name: "t".into(), role: Role::DomainAdmin, scope: Scope::Domains(domains) }
    }

    #[test]
    fn address_names_must_be_of_the_callers_domains() {
        let a = admin_of(&["a.example"]);
        assert!(name_allowed(&a, "ceo@a.example"));
        assert!(name_allowed(&a, "CEO@A.Example."));
        assert!(name_allowed(&a, "client-7"));
        assert!(name_allowed(&a, "CEO <ceo@a.example>"));
        assert!(!name_allowed(&a, "ceo@b.example"));
        assert!(!name_allowed(&a, "CEO <ceo@b.example>"));
        assert!(!name_allowed(&a, "x@a.example@b.example"));
        assert!(!name_allowed(&a, "ceo@"));
        let root = Caller { token_id: 1, name: "r".into(), role: Role::Superadmin, scope: Scope::All };
        assert!(name_allowed(&root, "ceo@b.example"));
    }
}
