//! `/identities`: list, register ahead of the first message, show, lock or unlock, delete
//! the senders behind accounts ("Manage identities", SPEC.md §1). An identity belongs to
//! its account's domain; other tenants' identities and accounts are 404. A domain admin
//! may not name an identity after an address outside its own domains (403, the same
//! answer whether that domain exists or not).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::Identity;
use postern_store::{DirectoryChange, IdentityFilter, Paged};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::lock_by_administrator;
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError};

const LONGEST_NAME: usize = 320;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityQuery {
    account_id: Option<i64>,
    domain: Option<String>,
    name: Option<String>,
    locked: Option<bool>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIdentityBody {
    account_id: i64,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPatch {
    locked: bool,
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IdentityQuery>,
) -> Result<Json<Paged<Identity>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase());
    let filter = IdentityFilter { account_id: q.account_id, domain, name: q.name, locked: q.locked };
    Ok(Json(state.directory(move |d| d.list_identities(&caller.scope, &filter, page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewIdentityBody>,
) -> Result<(StatusCode, Json<Identity>), ApiError> {
    let account_id = body.account_id;
    let account = state.directory(move |d| d.account(account_id)).await?;
    if !account.is_some_and(|a| caller.scope.allows(&a.domain)) {
        return Err(ApiError::not_found("no such account").with_field("account_id"));
    }
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > LONGEST_NAME || name.chars().any(char::is_control) {
        let error = format!("an identity is 1 to {LONGEST_NAME} characters without control characters");
        return Err(ApiError::bad_field("name", error));
    }
    if !name_allowed(&caller, &name) {
        let error = "an identity that is an address must be an address of one of your domains";
        return Err(ApiError::new(StatusCode::FORBIDDEN, error).with_field("name"));
    }
    let identity = state.directory(move |d| d.create_identity(account_id, &name)).await?;
    Ok((StatusCode::CREATED, Json(identity)))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Identity>, ApiError> {
    visible_identity(&state, &caller, &id).await.map(Json)
}

pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<IdentityPatch>,
) -> Result<Json<Identity>, ApiError> {
    let current = visible_identity(&state, &caller, &id).await?;
    let id = current.id;
    let lock = lock_by_administrator(body.locked);
    let updated = state.directory(move |d| d.update_identity_lock(id, &lock)).await?;
    let updated = updated.ok_or_else(|| ApiError::not_found("no such identity"))?;
    // The SMTP policy keeps identity lock states in memory.
    state.changed(DirectoryChange::Identity { account_id: updated.account_id, name: updated.name.clone() }).await;
    if crate::lock_notice::newly_locked(&current.lock, &updated.lock) {
        let account_id = updated.account_id;
        if let Some(account) = state.directory(move |d| d.account(account_id)).await? {
            crate::lock_notice::identity_locked(&state, &account, &updated).await;
        }
    }
    Ok(Json(updated))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let identity = visible_identity(&state, &caller, &id).await?;
    let id = identity.id;
    if !state.directory(move |d| d.delete_identity(id)).await? {
        return Err(ApiError::not_found("no such identity"));
    }
    state.changed(DirectoryChange::Identity { account_id: identity.account_id, name: identity.name }).await;
    Ok(Json(json!({"id": id, "result": "deleted"})))
}

/// Whether the caller may name an identity `name`. A superadmin may name any. For a
/// domain admin, a name that contains an address (`ceo@b.example`, `CEO <ceo@b.example>`)
/// must be of one of its own domains; other names (header values such as `client-7`)
/// are free. Decided on the caller's own domains only, so the answer never says whether
/// another domain exists.
pub(crate) fn name_allowed(caller: &Caller, name: &str) -> bool {
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

pub(crate) async fn visible_identity(state: &AdminState, caller: &Caller, text: &str) -> Result<Identity, ApiError> {
    let id = object_id(text, "identity")?;
    let identity = state.directory(move |d| d.identity(id)).await?;
    identity.filter(|i| caller.scope.allows(&i.domain)).ok_or_else(|| ApiError::not_found("no such identity"))
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;
    use postern_store::Scope;

    use super::*;

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
