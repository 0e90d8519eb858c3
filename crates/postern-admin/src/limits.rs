//! Limits and spam in the API (SPEC.md §3): the live counter values of an account or an
//! identity (`GET /accounts/{id}/counters`, `GET /identities/{id}/counters`), and the spam
//! event entry point (`POST /spam-events`) that content scanners call, which may lock the
//! account or the identity exactly as a spam message through SMTP would. A counter
//! counts only while its limit is set: each row says whether it is `counted`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::Account;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, PathParam};
use crate::{AdminState, ApiError};
use postern_ops::accounts::visible_account;
use postern_ops::identities::{name_allowed, visible_identity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamEventBody {
    account_id: i64,
    identity: Option<String>,
}

fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "counters are not available on this server")
}

async fn spam_json(state: &AdminState, account: &Account, identity: Option<&str>) -> Result<Value, ApiError> {
    let locks = state.locks.as_ref().ok_or_else(unavailable)?;
    let lock = &account.settings.lock;
    Ok(json!({
        "count": locks.spam_count(account, identity).await,
        "threshold": lock.spam_threshold,
        "window_secs": lock.spam_window_secs,
    }))
}

/// Each counter with `counted`: a counter counts only while its limit is set (not 0), so
/// that an account without limits costs the SMTP path no counter round trip (with Redis,
/// one per session). `count` of a counter that is not counted is always 0.
fn rows(values: Vec<(String, u64, u64)>) -> Vec<Value> {
    values
        .into_iter()
        .map(|(name, count, limit)| json!({"name": name, "count": count, "limit": limit, "counted": limit > 0}))
        .collect()
}

/// What the answer says about counters whose limit is 0.
const NOT_COUNTED: &str =
    "a counter counts only while its limit is set (not 0): nothing is counted while no limit is set";

pub async fn account_counters(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let account = visible_account(&state, &caller, &id).await?;
    let limits = state.limits.as_ref().ok_or_else(unavailable)?;
    let counters = rows(limits.account_values(&account).await);
    let spam = spam_json(&state, &account, None).await?;
    Ok(Json(
        json!({"account_id": account.id, "counters": counters, "note": NOT_COUNTED, "spam": spam, "lock": account.lock}),
    ))
}

pub async fn identity_counters(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let identity = visible_identity(&state, &caller, &id).await?;
    let account_id = identity.account_id;
    let account = state.directory(move |d| d.account(account_id)).await?;
    let account = account.ok_or_else(|| ApiError::not_found("no such identity"))?;
    let limits = state.limits.as_ref().ok_or_else(unavailable)?;
    let counters = rows(limits.identity_values(&account, &identity.name).await);
    let spam = spam_json(&state, &account, Some(&identity.name)).await?;
    Ok(Json(
        json!({"identity_id": identity.id, "counters": counters, "note": NOT_COUNTED, "spam": spam, "lock": identity.lock}),
    ))
}

/// Reports one spam message of an account (and identity): counted, and locks what crossed
/// its limit.
pub async fn spam_event(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<SpamEventBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let account_id = body.account_id;
    let account = state.directory(move |d| d.account(account_id)).await?;
    let account = account
        .filter(|a| caller.scope.allows(&a.domain))
        .ok_or_else(|| ApiError::not_found("no such account").with_field("account_id"))?;
    let identity = match body.identity.as_deref().map(str::trim) {
        Some(i) if i.is_empty() || i.len() > 320 || i.chars().any(char::is_control) => {
            return Err(ApiError::bad_field("identity", "an identity is 1 to 320 characters"));
        }
        Some(i) if !name_allowed(&caller, i) => {
            let error = "an identity that is an address must be an address of one of your domains";
            return Err(ApiError::new(StatusCode::FORBIDDEN, error).with_field("identity"));
        }
        other => other.map(str::to_string),
    };
    let locks = state.locks.as_ref().ok_or_else(unavailable)?;
    let outcome = locks.spam(&account, identity.as_deref()).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "account_id": account.id,
            "identity": identity,
            "account_count": outcome.account_count,
            "identity_count": outcome.identity_count,
            "account_locked": outcome.account_locked,
            "identity_locked": outcome.identity_locked,
        })),
    ))
}
