//! `/identities`: the JSON adapter over [`postern_ops::identities`] (list, register ahead
//! of the first message, show, lock or unlock, delete the senders behind accounts). The
//! rules — scope, names a domain admin may use, lock notices — live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::Identity;
use postern_ops::identities::{self, IdentityCreate, IdentityPatch, IdentityQuery};
use postern_ops::object::Deleted;
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List identities.
#[utoipa::path(get, path = "/identities",
    tag = "identities", params(IdentityQuery),
    responses((status = 200, description = "the identities the caller may see", body = Paged<Identity>),
        (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IdentityQuery>,
) -> Result<Json<Paged<Identity>>, ApiError> {
    Ok(Json(identities::list(&state, &caller, q).await?))
}

/// Register an identity before its first message.
#[utoipa::path(post, path = "/identities",
    tag = "identities", request_body = IdentityCreate,
    responses((status = 201, description = "created", body = Identity),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "a domain admin naming it after an address outside its domains", body = ApiError),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError),
        (status = 409, description = "exists already", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<IdentityCreate>,
) -> Result<(StatusCode, Json<Identity>), ApiError> {
    Ok((StatusCode::CREATED, Json(identities::create(&state, &caller, body).await?)))
}

/// Show an identity.
#[utoipa::path(get, path = "/identities/{id}",
    tag = "identities", params(("id" = i64, Path)),
    responses((status = 200, description = "the identity", body = Identity),
        (status = 404, description = "no such identity (also for another tenant's)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Identity>, ApiError> {
    Ok(Json(identities::show(&state, &caller, &id).await?))
}

/// Lock or unlock an identity.
#[utoipa::path(patch, path = "/identities/{id}",
    tag = "identities", params(("id" = i64, Path)),
    request_body = IdentityPatch,
    responses((status = 200, description = "changed", body = Identity),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such identity (also for another tenant's)", body = ApiError)))]
pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<IdentityPatch>,
) -> Result<Json<Identity>, ApiError> {
    Ok(Json(identities::update(&state, &caller, &id, body).await?))
}

/// Delete an identity.
#[utoipa::path(delete, path = "/identities/{id}",
    tag = "identities", params(("id" = i64, Path)),
    responses((status = 200, description = "deleted", body = Deleted),
        (status = 404, description = "no such identity (also for another tenant's)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(identities::delete(&state, &caller, &id).await?))
}
