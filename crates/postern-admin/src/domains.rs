//! `/domains`: the JSON adapter over [`postern_ops::domains`] (list, create, show, change,
//! delete customer domains). The rules — who may do what, validation — live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::Domain;
use postern_ops::domains::{self, DomainCreate, DomainDeleted, DomainPatch, DomainQuery};
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List the domains the caller may see.
#[utoipa::path(get, path = "/domains", tag = "domains", params(DomainQuery),
    responses((status = 200, description = "the result", body = Paged<Domain>), (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DomainQuery>,
) -> Result<Json<Paged<Domain>>, ApiError> {
    Ok(Json(domains::list(&state, &caller, q).await?))
}

/// Create a domain (superadmin).
#[utoipa::path(post, path = "/domains", tag = "domains", request_body = DomainCreate,
    responses((status = 201, description = "created", body = Domain), (status = 400, description = "bad input: the field is named", body = ApiError), (status = 403, description = "not a superadmin", body = ApiError),
        (status = 409, description = "exists already", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<DomainCreate>,
) -> Result<(StatusCode, Json<Domain>), ApiError> {
    Ok((StatusCode::CREATED, Json(domains::create(&state, &caller, body).await?)))
}

/// Show a domain.
#[utoipa::path(get, path = "/domains/{name}", tag = "domains", params(("name" = String, Path)),
    responses((status = 200, description = "the result", body = Domain), (status = 404, description = "no such domain (also for another tenant)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<Domain>, ApiError> {
    Ok(Json(domains::show(&state, &caller, &name).await?))
}

/// Change a domain's sender security or abuse contact; the filter switch is superadmin only.
#[utoipa::path(patch, path = "/domains/{name}", tag = "domains", params(("name" = String, Path)),
    request_body = DomainPatch,
    responses((status = 200, description = "the result", body = Domain), (status = 400, description = "bad input: the field is named", body = ApiError), (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant)", body = ApiError)))]
pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<DomainPatch>,
) -> Result<Json<Domain>, ApiError> {
    Ok(Json(domains::update(&state, &caller, &name, body).await?))
}

/// Delete a domain with its accounts and identities (superadmin).
#[utoipa::path(delete, path = "/domains/{name}", tag = "domains", params(("name" = String, Path)),
    responses((status = 200, description = "the result", body = DomainDeleted), (status = 403, description = "not a superadmin", body = ApiError), (status = 404, description = "no such domain (also for another tenant)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<DomainDeleted>, ApiError> {
    Ok(Json(domains::delete(&state, &caller, &name).await?))
}

/// The domain named in a path, if it exists and the caller may see it; otherwise 404.
pub async fn visible_domain(state: &AdminState, caller: &Caller, text: &str) -> Result<Domain, ApiError> {
    Ok(domains::visible_domain(state, caller, text).await?)
}
