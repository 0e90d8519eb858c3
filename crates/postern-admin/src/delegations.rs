//! `/domains/{name}/ip-ranges`: the IP ranges a superadmin delegated to a domain (SPEC.md
//! §1). A domain admin may create `ip` accounts only inside them ([`ip_rules`]).
//!
//! Only a superadmin delegates or removes a range (403 for a domain admin on its own
//! domain); a domain admin lists its own domains' ranges. Another tenant's domain is 404,
//! exactly like a domain that does not exist. Removing a delegation leaves the ip accounts
//! inside it as they are (a superadmin removes those on purpose, not by side effect).
//!
//! [`ip_rules`]: crate::ip_rules

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::{IpDelegation, parse_network};
use postern_store::{NewDelegation, Paged};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::domains::visible_domain;
use crate::extract::{ApiJson, ApiQuery, PathPair, PathParam, object_id, page};
use crate::{AdminState, ApiError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationQuery {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDelegationBody {
    range: String,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<DelegationQuery>,
) -> Result<Json<Paged<IpDelegation>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = visible_domain(&state, &caller, &name).await?.name;
    Ok(Json(state.directory(move |d| d.list_delegations(&caller.scope, Some(&domain), page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<NewDelegationBody>,
) -> Result<(StatusCode, Json<IpDelegation>), ApiError> {
    let domain = visible_domain(&state, &caller, &name).await?.name;
    caller.require_superadmin("delegate IP ranges")?;
    let range = parse_network(&body.range)
        .ok_or_else(|| ApiError::bad_field("range", format!("{:?} is not an IP address or CIDR range", body.range)))?;
    let comment = body.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > 200 || c.chars().any(char::is_control)) {
        return Err(ApiError::bad_field("comment", "a comment is at most 200 characters, one line"));
    }
    let new = NewDelegation { domain, range: range.to_string(), comment };
    let delegation = state.directory(move |d| d.create_delegation(&new)).await?;
    Ok((StatusCode::CREATED, Json(delegation)))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, id): PathPair,
) -> Result<Json<Value>, ApiError> {
    let domain = visible_domain(&state, &caller, &name).await?.name;
    let no_such = || ApiError::not_found("no such delegated range");
    let id = object_id(&id, "delegated range")?;
    let found = state.directory(move |d| d.delegation(id)).await?;
    if found.is_none_or(|d| d.domain != domain) {
        return Err(no_such());
    }
    caller.require_superadmin("remove delegated IP ranges")?;
    if !state.directory(move |d| d.delete_delegation(id)).await? {
        return Err(no_such());
    }
    Ok(Json(json!({"id": id, "result": "deleted"})))
}
