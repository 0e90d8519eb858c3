//! `/accounts/{id}/counters`, `/identities/{id}/counters` and `/spam-events`: the JSON
//! adapter over [`postern_ops::limits`] (live counter values, and the spam event content
//! scanners report). The rules live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_ops::limits::{self, Counters, SpamEvent, SpamOutcome};

use crate::auth::Caller;
use crate::extract::{ApiJson, PathParam};
use crate::{AdminState, ApiError};

/// Live counter values of an account: its limits, spam count and lock.
#[utoipa::path(get, path = "/accounts/{id}/counters",
    tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "the counters", body = Counters),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError),
        (status = 503, description = "counters are not available on this server", body = ApiError)))]
pub async fn account_counters(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Counters>, ApiError> {
    Ok(Json(limits::account_counters(&state, &caller, &id).await?))
}

/// Live counter values of an identity.
#[utoipa::path(get, path = "/identities/{id}/counters",
    tag = "identities", params(("id" = i64, Path)),
    responses((status = 200, description = "the counters", body = Counters),
        (status = 404, description = "no such identity (also for another tenant's)", body = ApiError),
        (status = 503, description = "counters are not available on this server", body = ApiError)))]
pub async fn identity_counters(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Counters>, ApiError> {
    Ok(Json(limits::identity_counters(&state, &caller, &id).await?))
}

/// Report a spam message of an account (and identity); may lock them.
#[utoipa::path(post, path = "/spam-events",
    tag = "accounts", request_body = SpamEvent,
    responses((status = 201, description = "counted", body = SpamOutcome),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "a domain admin naming an identity after an address outside its domains",
            body = ApiError),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError),
        (status = 503, description = "counters are not available on this server", body = ApiError)))]
pub async fn spam_event(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<SpamEvent>,
) -> Result<(StatusCode, Json<SpamOutcome>), ApiError> {
    Ok((StatusCode::CREATED, Json(limits::spam_event(&state, &caller, body).await?)))
}
