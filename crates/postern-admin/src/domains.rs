//! `/domains`: list, create, show, change, delete customer domains.
//!
//! Only a superadmin creates and deletes domains and switches the outgoing filter; a
//! domain admin sees and edits its own domains (sender security, abuse contact) and
//! nothing else: another tenant's domain is "no such domain" (404), never 403.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::Address;
use postern_core::tenancy::{Domain, IpCheck, SenderSecurity, normalize_domain};
use postern_store::{DirectoryChange, DomainChange, DomainFilter, NewDomain, Paged};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, page};
use crate::{AdminState, ApiError};

const MOST_LIST_ENTRIES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainQuery {
    name: Option<String>,
    filter_enabled: Option<bool>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomainBody {
    name: String,
    #[serde(default)]
    filter_enabled: bool,
    #[serde(default)]
    sender_security: SenderSecurity,
    #[serde(default)]
    abuse_contact: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    #[serde(default)]
    filter_enabled: Option<bool>,
    #[serde(default)]
    sender_security: Option<SenderSecurity>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    abuse_contact: Option<Option<String>>,
}

/// For `Option<Option<T>>` fields: a present field (even `null`) is `Some`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DomainQuery>,
) -> Result<Json<Paged<Domain>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let filter = DomainFilter { name: q.name, filter_enabled: q.filter_enabled };
    Ok(Json(state.directory(move |d| d.list_domains(&caller.scope, &filter, page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewDomainBody>,
) -> Result<(StatusCode, Json<Domain>), ApiError> {
    caller.require_superadmin("create domains")?;
    let new = NewDomain {
        name: normalize_domain(&body.name).map_err(|e| ApiError::bad_field("name", e))?,
        filter_enabled: body.filter_enabled,
        sender_security: check_sender_security(body.sender_security)?,
        abuse_contact: body.abuse_contact.as_deref().map(check_abuse_contact).transpose()?,
    };
    let domain = state.directory(move |d| d.create_domain(&new)).await?;
    state.changed(DirectoryChange::Domain(domain.name.clone())).await;
    Ok((StatusCode::CREATED, Json(domain)))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<Domain>, ApiError> {
    visible_domain(&state, &caller, &name).await.map(Json)
}

pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<DomainPatch>,
) -> Result<Json<Domain>, ApiError> {
    let current = visible_domain(&state, &caller, &name).await?;
    if body.filter_enabled.is_some_and(|on| on != current.filter_enabled) {
        caller.require_superadmin("switch the outgoing filter")?;
    }
    let change = DomainChange {
        filter_enabled: body.filter_enabled,
        sender_security: body.sender_security.map(check_sender_security).transpose()?,
        abuse_contact: match body.abuse_contact {
            Some(Some(text)) => Some(Some(check_abuse_contact(&text)?)),
            other => other,
        },
    };
    let name = current.name;
    let updated = state.directory(move |d| d.update_domain(&name, &change)).await?;
    let domain = updated.ok_or_else(|| ApiError::not_found("no such domain"))?;
    state.changed(DirectoryChange::Domain(domain.name.clone())).await;
    Ok(Json(domain))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<Value>, ApiError> {
    let current = visible_domain(&state, &caller, &name).await?;
    caller.require_superadmin("delete domains")?;
    let name = current.name;
    let key = name.clone();
    if !state.directory(move |d| d.delete_domain(&key)).await? {
        return Err(ApiError::not_found("no such domain"));
    }
    state.changed(DirectoryChange::Domain(name.clone())).await;
    Ok(Json(json!({"name": name, "result": "deleted"})))
}

/// The domain named in a path, if it exists and the caller may see it; otherwise 404.
pub async fn visible_domain(state: &AdminState, caller: &Caller, text: &str) -> Result<Domain, ApiError> {
    let not_found = || ApiError::not_found("no such domain");
    let name = normalize_domain(text).map_err(|_| not_found())?;
    if !caller.scope.allows(&name) {
        return Err(not_found());
    }
    state.directory(move |d| d.domain(&name)).await?.ok_or_else(not_found)
}

/// Seed 003's settings, normalized: lower-case sender addresses, networks without host bits.
fn check_sender_security(mut s: SenderSecurity) -> Result<SenderSecurity, ApiError> {
    if s.allowed_senders.len() > MOST_LIST_ENTRIES {
        let error = format!("at most {MOST_LIST_ENTRIES} addresses");
        return Err(ApiError::bad_field("sender_security.allowed_senders", error));
    }
    if s.allowed_ips.len() > MOST_LIST_ENTRIES {
        let error = format!("at most {MOST_LIST_ENTRIES} networks");
        return Err(ApiError::bad_field("sender_security.allowed_ips", error));
    }
    for (i, sender) in s.allowed_senders.iter_mut().enumerate() {
        let address = Address::parse(sender.trim(), false).map_err(|e| {
            ApiError::bad_field(&format!("sender_security.allowed_senders[{i}]"), format!("not an address: {e}"))
        })?;
        *sender = address.to_string().to_ascii_lowercase();
    }
    for net in &mut s.allowed_ips {
        *net = net.trunc();
    }
    if s.ip_check == IpCheck::Allowlist && s.allowed_ips.is_empty() {
        return Err(ApiError::bad_field(
            "sender_security.allowed_ips",
            "the allowlist check needs at least one network",
        ));
    }
    Ok(s)
}

fn check_abuse_contact(text: &str) -> Result<String, ApiError> {
    Address::parse(text.trim(), false)
        .map(|a| a.to_string())
        .map_err(|e| ApiError::bad_field("abuse_contact", format!("not an address: {e}")))
}
