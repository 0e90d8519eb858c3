//! `/accounts`: list, create, show, change, delete outgoing accounts (SPEC.md §1).
//! Which ranges an `ip` account may have is decided by [`ip_rules`](crate::ip_rules): a
//! domain admin creates (and changes the settings of) ip accounts only inside its
//! domain's delegated ranges; locking, unlocking and deleting stay allowed.
//!
//! A new account's name is checked and made canonical for its kind: `ip` a network
//! (`192.0.2.7` is stored as `192.0.2.7/32`), `user` a lower-case address of the account's
//! domain, `domain` the domain itself. Settings arrive as partial objects ([`settings`]).
//!
//! Defends against: passwords leaving the server (they are hashed with argon2id off the
//! async threads, never echoed, never logged: the request types do not even implement
//! `Debug`), accounts in another tenant's domain (404 for the domain), objects of
//! other tenants (404), and a refused overlap naming another tenant's range (only a
//! superadmin sees which account it overlaps).
//!
//! [`settings`]: crate::settings

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ipnet::IpNet;
use postern_core::Address;
use postern_core::event::now_ms;
use postern_core::tenancy::{
    ADMINISTRATOR_LOCK_REASON, Account, AccountKind, AccountSettings, LockKind, LockState, normalize_domain,
    parse_network,
};
use postern_policy::password;
use postern_store::{AccountChange, AccountFilter, DirectoryChange, NewAccount, Page, Paged, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError, blocking, settings};
use postern_ops::ip_rules::{IpCaller, IpRefusal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    domain: Option<String>,
    kind: Option<AccountKind>,
    name: Option<String>,
    locked: Option<bool>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    domain: String,
    kind: AccountKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    settings: Option<Value>,
    /// `ip` accounts, superadmin only: the range may overlap a trusted network
    /// ([`ip_rules`](crate::ip_rules)).
    #[serde(default)]
    cover_trusted: bool,
}

/// No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    locked: Option<bool>,
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Paged<Account>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let filter = AccountFilter { domain, kind: q.kind, name: q.name, locked: q.locked };
    Ok(Json(state.directory(move |d| d.list_accounts(&caller.scope, &filter, page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let domain = normalize_domain(&body.domain).map_err(|e| ApiError::bad_field("domain", e))?;
    let no_domain = || ApiError::not_found("no such domain").with_field("domain");
    if !caller.scope.allows(&domain) {
        return Err(no_domain());
    }
    let key = domain.clone();
    state.directory(move |d| d.domain(&key)).await?.ok_or_else(no_domain)?;
    let kind = body.kind;
    let name = account_name(kind, &domain, body.name.as_deref())?;
    if body.cover_trusted && kind != AccountKind::Ip {
        return Err(ApiError::bad_field("cover_trusted", "only an ip account has a range"));
    }
    if body.cover_trusted && !caller.is_superadmin() {
        return Err(ApiError::superadmin_only("cover trusted networks").with_field("cover_trusted"));
    }
    if kind == AccountKind::Ip {
        ip_range_allowed(&state, &caller, &domain, &name, body.cover_trusted).await?;
    }
    check_password_presence(kind, body.password.as_deref(), true)?;
    let base = AccountSettings::for_kind(kind);
    let settings = match body.settings {
        Some(patch) => settings::apply(&base, patch)?,
        None => base,
    };
    let password_hash = match body.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let new = NewAccount { domain, kind, name, password_hash, settings };
    let superadmin = caller.is_superadmin();
    let directory = std::sync::Arc::clone(&state.directory);
    let account = blocking(move || directory.create_account(&new)).await?.map_err(|e| overlap(e, superadmin))?;
    state.changed(DirectoryChange::Account(account.id)).await;
    Ok((StatusCode::CREATED, Json(account)))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Account>, ApiError> {
    visible_account(&state, &caller, &id).await.map(Json)
}

pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<AccountPatch>,
) -> Result<Json<Account>, ApiError> {
    let current = visible_account(&state, &caller, &id).await?;
    if current.kind == AccountKind::Ip && body.settings.is_some() && !caller.is_superadmin() {
        ip_range_allowed(&state, &caller, &current.domain, &current.name, false).await.map_err(|e| {
            ApiError::new(StatusCode::FORBIDDEN, format!("only a superadmin may change this ip account: {}", e.error))
        })?;
    }
    check_password_presence(current.kind, body.password.as_deref(), false)?;
    let settings = body.settings.map(|patch| settings::apply(&current.settings, patch)).transpose()?;
    let password_hash = match body.password {
        Some(password) => Some(Some(hash_password(password).await?)),
        None => None,
    };
    let change = AccountChange { settings, password_hash, lock: body.locked.map(lock_by_administrator) };
    let id = current.id;
    let updated = state.directory(move |d| d.update_account(id, &change)).await?;
    let account = updated.ok_or_else(|| ApiError::not_found("no such account"))?;
    state.changed(DirectoryChange::Account(id)).await;
    if crate::lock_notice::newly_locked(&current.lock, &account.lock) {
        crate::lock_notice::account_locked(&state, &account).await;
    }
    Ok(Json(account))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let id = visible_account(&state, &caller, &id).await?.id;
    if !state.directory(move |d| d.delete_account(id)).await? {
        return Err(ApiError::not_found("no such account"));
    }
    state.changed(DirectoryChange::Account(id)).await;
    Ok(Json(json!({"id": id, "result": "deleted"})))
}

/// The account with the id in a path, if it exists and the caller may see it; else 404.
pub async fn visible_account(state: &AdminState, caller: &Caller, text: &str) -> Result<Account, ApiError> {
    let id = object_id(text, "account")?;
    let account = state.directory(move |d| d.account(id)).await?;
    account.filter(|a| caller.scope.allows(&a.domain)).ok_or_else(|| ApiError::not_found("no such account"))
}

/// Whether the caller may have an `ip` account over `name` in `domain` ([`ip_rules`]):
/// a domain admin only inside the domain's delegated ranges, within the prefix limit, away
/// from trusted networks and listener addresses; a superadmin anywhere, over a trusted
/// network only when asked.
/// A domain admin's refusals name nothing but its own request.
///
/// [`ip_rules`]: crate::ip_rules
async fn ip_range_allowed(
    state: &AdminState,
    caller: &Caller,
    domain: &str,
    name: &str,
    cover_trusted: bool,
) -> Result<(), ApiError> {
    let net = parse_network(name).ok_or_else(|| ApiError::bad_field("name", "not an IP address or CIDR range"))?;
    let delegated: Vec<IpNet> = if caller.is_superadmin() {
        Vec::new()
    } else {
        let (scope, key) = (caller.scope.clone(), domain.to_string());
        let all = Page { limit: 1000, offset: 0 };
        let list = state.directory(move |d| d.list_delegations(&scope, Some(&key), all)).await?;
        list.items.iter().filter_map(|d| parse_network(&d.range)).collect()
    };
    let who = match caller.is_superadmin() {
        true => IpCaller::Superadmin { cover_trusted },
        false => IpCaller::DomainAdmin { delegated: &delegated },
    };
    let forbidden = |text: String| Err(ApiError::new(StatusCode::FORBIDDEN, text).with_field("name"));
    match state.ip_rules.check(&net, who) {
        Ok(()) => Ok(()),
        Err(IpRefusal::TooWide { widest }) => forbidden(format!(
            "{net} is wider than /{widest}, the widest ip account range a domain admin may create; ask a superadmin"
        )),
        Err(IpRefusal::NotDelegated) => forbidden(format!(
            "{net} is not inside an IP range delegated to {domain}; a superadmin delegates ranges \
             (postern domain ip-range add)"
        )),
        Err(IpRefusal::Protected { .. }) if !caller.is_superadmin() => {
            forbidden(format!("{net} overlaps a trusted network or one of the gateway's own addresses"))
        }
        Err(IpRefusal::Protected { what }) => Err(ApiError::conflict(format!(
            "{net} overlaps {what}: an ip account there takes those clients from the trusted networks; \
             set cover_trusted to create it anyway"
        ))
        .with_field("cover_trusted")),
    }
}

/// A range overlapping another account's: the superadmin sees which; anyone else only
/// that it overlaps (naming the other range would map other customers' smarthosts).
fn overlap(e: StoreError, superadmin: bool) -> ApiError {
    match e {
        overlap @ StoreError::RangeOverlap { .. } if superadmin => {
            ApiError::conflict(overlap.to_string()).with_field("name")
        }
        other => ApiError::from(other),
    }
}

/// The canonical name of a new account of `kind` in `domain`.
fn account_name(kind: AccountKind, domain: &str, name: Option<&str>) -> Result<String, ApiError> {
    let bad = |error: String| ApiError::bad_field("name", error);
    match (kind, name) {
        (AccountKind::Ip, Some(text)) => parse_network(text)
            .map(|net| net.to_string())
            .ok_or_else(|| bad(format!("{text:?} is not an IP address or CIDR range"))),
        (AccountKind::Ip, None) => Err(bad("an ip account needs a name: an address or CIDR range".into())),
        (AccountKind::User, Some(text)) => {
            let address = Address::parse(text.trim(), false).map_err(|e| bad(format!("not an address: {e}")))?;
            if !address.domain.as_str().eq_ignore_ascii_case(domain) {
                return Err(bad(format!("a user account's address must be of {domain}")));
            }
            Ok(address.to_string().to_ascii_lowercase())
        }
        (AccountKind::User, None) => Err(bad("a user account needs a name: its address".into())),
        (AccountKind::Domain, Some(text)) if normalize_domain(text).as_deref() != Ok(domain) => {
            Err(bad(format!("a domain account's name is its domain, {domain}")))
        }
        (AccountKind::Domain, _) => Ok(domain.to_string()),
    }
}

/// `ip` accounts have no password; the others need one when created.
fn check_password_presence(kind: AccountKind, password: Option<&str>, creating: bool) -> Result<(), ApiError> {
    match (kind, password) {
        (AccountKind::Ip, Some(_)) => Err(ApiError::bad_field("password", "an ip account has no password")),
        (AccountKind::User | AccountKind::Domain, None) if creating => {
            Err(ApiError::bad_field("password", format!("a {} account needs a password", kind.name())))
        }
        (_, Some(p)) => password::check_new(p).map_err(|e| ApiError::bad_field("password", e)),
        _ => Ok(()),
    }
}

/// argon2id, off the async threads. The password is dropped there.
async fn hash_password(password: String) -> Result<String, ApiError> {
    blocking(move || password::hash(&password)).await?.map_err(ApiError::internal)
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
    use super::*;

    #[test]
    fn names_are_canonical() {
        let name = |kind, text| account_name(kind, "example.com", text);
        assert_eq!(name(AccountKind::Ip, Some("192.0.2.7")).unwrap(), "192.0.2.7/32");
        assert_eq!(name(AccountKind::Ip, Some("2001:db8::1/64")).unwrap(), "2001:db8::/64");
        assert!(name(AccountKind::Ip, Some("nope")).is_err());
        assert!(name(AccountKind::Ip, None).is_err());
        assert_eq!(name(AccountKind::User, Some("Alice@Example.COM")).unwrap(), "alice@example.com");
        assert!(name(AccountKind::User, Some("alice@example.net")).is_err());
        assert!(name(AccountKind::User, Some("alice@example.com@evil.net")).is_err());
        assert!(name(AccountKind::User, None).is_err());
        assert_eq!(name(AccountKind::Domain, None).unwrap(), "example.com");
        assert_eq!(name(AccountKind::Domain, Some("EXAMPLE.com.")).unwrap(), "example.com");
        assert!(name(AccountKind::Domain, Some("example.net")).is_err());
    }

    #[test]
    fn passwords_by_kind() {
        assert!(check_password_presence(AccountKind::Ip, None, true).is_ok());
        assert_eq!(
            check_password_presence(AccountKind::Ip, Some("long enough"), true).unwrap_err().field.as_deref(),
            Some("password")
        );
        assert!(check_password_presence(AccountKind::User, None, true).is_err());
        assert!(check_password_presence(AccountKind::User, None, false).is_ok());
        assert!(check_password_presence(AccountKind::Domain, Some("short"), true).is_err());
        assert!(check_password_presence(AccountKind::Domain, Some("long enough"), true).is_ok());
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
