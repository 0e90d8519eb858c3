//! Outgoing accounts (SPEC.md §1): list, create, show, change, delete. Which ranges an `ip`
//! account may have is decided by [`ip_rules`](crate::ip_rules): a domain admin creates
//! (and changes the settings of) ip accounts only inside its domain's delegated ranges;
//! locking, unlocking and deleting stay allowed.
//!
//! A new account's name is checked and made canonical for its kind ([`account_rules`]):
//! `ip` a network (`192.0.2.7` is stored as `192.0.2.7/32`), `user` a lower-case address
//! of the account's domain, `domain` the domain itself. Settings arrive as partial objects
//! ([`settings`]).
//!
//! Defends against: passwords leaving the server (they are hashed with argon2id off the
//! async threads, never echoed, never logged: the input types do not even implement
//! `Debug`), accounts in another tenant's domain ("no such domain"), objects of other
//! tenants ("no such account"), and a refused overlap naming another tenant's range
//! (only a superadmin sees which account it overlaps).
//!
//! [`account_rules`]: crate::account_rules
//! [`settings`]: crate::settings

use std::sync::Arc;

use postern_core::event::now_ms;
use postern_core::tenancy::{
    ADMINISTRATOR_LOCK_REASON, Account, AccountKind, AccountSettings, LockKind, LockState, normalize_domain,
};
use postern_store::{AccountChange, AccountFilter, DirectoryChange, NewAccount, Paged};
use serde::Deserialize;
use serde_json::Value;

use crate::account_rules::{account_name, check_password_presence, hash_password, ip_range_allowed, overlap};
use crate::object::{Deleted, object_id};
use crate::page::page;
use crate::{Caller, OpError, Ops, Result, blocking, lock_notice, settings};

/// Which accounts to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The account's domain.
    pub domain: Option<String>,
    pub kind: Option<AccountKind>,
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

/// A new outgoing account.
// No `Debug`: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreate {
    pub domain: String,
    pub kind: AccountKind,
    /// ip: an address or CIDR range; user: an address of the domain; domain: the domain
    /// (optional).
    #[serde(default)]
    pub name: Option<String>,
    /// user and domain accounts; never returned.
    #[serde(default)]
    #[schema(write_only)]
    pub password: Option<String>,
    /// Partial: merged over the kind's defaults.
    #[serde(default)]
    #[schema(value_type = Option<AccountSettings>)]
    pub settings: Option<Value>,
    /// ip accounts, superadmin only: the range may overlap a trusted network.
    #[serde(default)]
    pub cover_trusted: bool,
}

/// A change to an account: absent fields stay as they are.
// No `Debug`: it holds a password.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// Partial: objects merge, other values replace.
    #[serde(default)]
    #[schema(value_type = Option<AccountSettings>)]
    pub settings: Option<Value>,
    #[serde(default)]
    #[schema(write_only)]
    pub password: Option<String>,
    /// `true` locks by hand; `false` unlocks and resets the count of automatic unlocks.
    #[serde(default)]
    pub locked: Option<bool>,
}

pub async fn list(ops: &Ops, caller: &Caller, q: AccountQuery) -> Result<Paged<Account>> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let filter = AccountFilter { domain, kind: q.kind, name: q.name, locked: q.locked };
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_accounts(&scope, &filter, page)).await
}

pub async fn create(ops: &Ops, caller: &Caller, input: AccountCreate) -> Result<Account> {
    let domain = normalize_domain(&input.domain).map_err(|e| OpError::bad_field("domain", e))?;
    let no_domain = || OpError::not_found("no such domain").with_field("domain");
    if !caller.scope.allows(&domain) {
        return Err(no_domain());
    }
    let key = domain.clone();
    ops.directory(move |d| d.domain(&key)).await?.ok_or_else(no_domain)?;
    let kind = input.kind;
    let name = account_name(kind, &domain, input.name.as_deref())?;
    if input.cover_trusted && kind != AccountKind::Ip {
        return Err(OpError::bad_field("cover_trusted", "only an ip account has a range"));
    }
    if input.cover_trusted && !caller.is_superadmin() {
        return Err(OpError::superadmin_only("cover trusted networks").with_field("cover_trusted"));
    }
    if kind == AccountKind::Ip {
        ip_range_allowed(ops, caller, &domain, &name, input.cover_trusted).await?;
    }
    check_password_presence(kind, input.password.as_deref(), true)?;
    let base = AccountSettings::for_kind(kind);
    let settings = match input.settings {
        Some(patch) => settings::apply(&base, patch)?,
        None => base,
    };
    let password_hash = match input.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let new = NewAccount { domain, kind, name, password_hash, settings };
    let superadmin = caller.is_superadmin();
    let directory = Arc::clone(&ops.directory);
    let account = blocking(move || directory.create_account(&new)).await?.map_err(|e| overlap(e, superadmin))?;
    ops.changed(DirectoryChange::Account(account.id)).await;
    Ok(account)
}

pub async fn show(ops: &Ops, caller: &Caller, id: &str) -> Result<Account> {
    visible_account(ops, caller, id).await
}

pub async fn update(ops: &Ops, caller: &Caller, id: &str, patch: AccountPatch) -> Result<Account> {
    let current = visible_account(ops, caller, id).await?;
    if current.kind == AccountKind::Ip && patch.settings.is_some() && !caller.is_superadmin() {
        ip_range_allowed(ops, caller, &current.domain, &current.name, false)
            .await
            .map_err(|e| OpError::forbidden(format!("only a superadmin may change this ip account: {}", e.message)))?;
    }
    check_password_presence(current.kind, patch.password.as_deref(), false)?;
    let settings = patch.settings.map(|p| settings::apply(&current.settings, p)).transpose()?;
    let password_hash = match patch.password {
        Some(password) => Some(Some(hash_password(password).await?)),
        None => None,
    };
    let change = AccountChange { settings, password_hash, lock: patch.locked.map(lock_by_administrator) };
    let id = current.id;
    let updated = ops.directory(move |d| d.update_account(id, &change)).await?;
    let account = updated.ok_or_else(|| OpError::not_found("no such account"))?;
    ops.changed(DirectoryChange::Account(id)).await;
    if lock_notice::newly_locked(&current.lock, &account.lock) {
        lock_notice::account_locked(ops, &account).await;
    }
    Ok(account)
}

pub async fn delete(ops: &Ops, caller: &Caller, id: &str) -> Result<Deleted> {
    let id = visible_account(ops, caller, id).await?.id;
    if !ops.directory(move |d| d.delete_account(id)).await? {
        return Err(OpError::not_found("no such account"));
    }
    ops.changed(DirectoryChange::Account(id)).await;
    Ok(Deleted::of(id))
}

/// The account with the id `text`, if it exists and the caller may see it; otherwise
/// "no such account".
pub async fn visible_account(ops: &Ops, caller: &Caller, text: &str) -> Result<Account> {
    let id = object_id(text, "account")?;
    let account = ops.directory(move |d| d.account(id)).await?;
    account.filter(|a| caller.scope.allows(&a.domain)).ok_or_else(|| OpError::not_found("no such account"))
}

/// A lock set or lifted by hand. Lifting it also resets the count of automatic unlocks.
pub fn lock_by_administrator(locked: bool) -> LockState {
    if locked {
        LockState {
            locked: true,
            by: Some(LockKind::Administrator),
            reason: Some(ADMINISTRATOR_LOCK_REASON.into()),
            since_ms: Some(now_ms()),
            ..LockState::default()
        }
    } else {
        LockState::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorKind;
    use crate::testing::{TestOps, admin_of, superadmin};

    fn ip(domain: &str, name: &str) -> AccountCreate {
        AccountCreate {
            domain: domain.into(),
            kind: AccountKind::Ip,
            name: Some(name.into()),
            password: None,
            settings: None,
            cover_trusted: false,
        }
    }

    #[tokio::test]
    async fn another_tenants_domain_is_no_such_domain() {
        let t = TestOps::new();
        t.domain("a.example").await;
        t.domain("b.example").await;
        let a = admin_of("a.example");
        let foreign = create(&t.ops, &a, ip("b.example", "198.51.100.7")).await.err().unwrap();
        let missing = create(&t.ops, &a, ip("ghost.example", "198.51.100.7")).await.err().unwrap();
        assert_eq!(foreign.kind, ErrorKind::NotFound);
        assert_eq!(foreign, missing, "another tenant's domain looks exactly like a missing one");
        assert_eq!(foreign.field.as_deref(), Some("domain"));

        let b = create(&t.ops, &superadmin(), ip("b.example", "198.51.100.7")).await.unwrap();
        let hidden = show(&t.ops, &a, &b.id.to_string()).await.err().unwrap();
        assert_eq!((hidden.kind, hidden.message.as_str()), (ErrorKind::NotFound, "no such account"));
        let locked = AccountPatch { locked: Some(true), ..AccountPatch::default() };
        assert_eq!(update(&t.ops, &a, &b.id.to_string(), locked).await.err().unwrap(), hidden);
        assert_eq!(delete(&t.ops, &a, &b.id.to_string()).await.err().unwrap(), hidden);
        assert!(!show(&t.ops, &superadmin(), &b.id.to_string()).await.unwrap().lock.locked);
    }

    #[tokio::test]
    async fn refusals_name_the_field() {
        let t = TestOps::new();
        t.domain("a.example").await;
        let root = superadmin();
        let field = |e: OpError| (e.kind, e.field.unwrap_or_default());
        let user = AccountCreate { kind: AccountKind::User, name: Some("u@a.example".into()), ..ip("a.example", "") };
        let e = create(&t.ops, &root, user).await.err().unwrap();
        assert_eq!(field(e), (ErrorKind::BadInput, "password".into()));
        let bad_settings = json!({"limits": {"recipients_per_message": "many"}});
        let e = create(&t.ops, &root, AccountCreate { settings: Some(bad_settings), ..ip("a.example", "192.0.2.1") })
            .await
            .err()
            .unwrap();
        assert_eq!(field(e), (ErrorKind::BadInput, "settings.limits.recipients_per_message".into()));
        let e = create(&t.ops, &root, ip("a.example", "not a network")).await.err().unwrap();
        assert_eq!(field(e), (ErrorKind::BadInput, "name".into()));
        let e = create(&t.ops, &admin_of("a.example"), ip("a.example", "192.0.2.0/24")).await.err().unwrap();
        assert_eq!(field(e), (ErrorKind::Forbidden, "name".into()), "no range is delegated to a.example");
        let e = create(&t.ops, &root, ip("a.example", "127.0.0.0/8")).await.err().unwrap();
        assert_eq!(field(e), (ErrorKind::Conflict, "cover_trusted".into()));
        let covered = AccountCreate { cover_trusted: true, ..ip("a.example", "127.0.0.0/8") };
        assert_eq!(create(&t.ops, &root, covered).await.unwrap().name, "127.0.0.0/8");
    }

    #[test]
    fn manual_locks() {
        let lock = lock_by_administrator(true);
        assert!(lock.locked);
        assert_eq!(lock.reason.as_deref(), Some("locked by administrator"));
        assert!(lock.since_ms.is_some());
        assert_eq!(lock.kind(), LockKind::Administrator);
        assert_eq!(lock_by_administrator(false), LockState::default());
    }
}
