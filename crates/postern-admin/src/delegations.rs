//! `/domains/{name}/ip-ranges`: the JSON adapter over [`postern_ops::delegations`] (the
//! IP ranges a superadmin delegates to a domain). The rules live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::IpDelegation;
use postern_ops::delegations::{self, DelegationCreate, DelegationQuery};
use postern_ops::object::Deleted;
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathPair, PathParam};
use crate::{AdminState, ApiError};

/// IP ranges delegated to a domain (a domain admin: its own domains).
#[utoipa::path(get, path = "/domains/{name}/ip-ranges",
    tag = "ip-ranges",
    params(("name" = String, Path), DelegationQuery),
    responses((status = 200, description = "the delegations", body = Paged<IpDelegation>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant's)", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<DelegationQuery>,
) -> Result<Json<Paged<IpDelegation>>, ApiError> {
    Ok(Json(delegations::list(&state, &caller, &name, q).await?))
}

/// Delegate an IP range to a domain (superadmin): its domain admins may create ip accounts
/// inside it.
#[utoipa::path(post, path = "/domains/{name}/ip-ranges",
    tag = "ip-ranges", params(("name" = String, Path)),
    request_body = DelegationCreate,
    responses((status = 201, description = "delegated", body = IpDelegation),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant's)", body = ApiError),
        (status = 409, description = "overlaps another delegation", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<DelegationCreate>,
) -> Result<(StatusCode, Json<IpDelegation>), ApiError> {
    Ok((StatusCode::CREATED, Json(delegations::create(&state, &caller, &name, body).await?)))
}

/// Remove a delegated range (superadmin); the ip accounts inside it stay.
#[utoipa::path(delete, path = "/domains/{name}/ip-ranges/{id}",
    tag = "ip-ranges",
    params(("name" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "deleted", body = Deleted),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such domain or delegation (also for another tenant's)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, id): PathPair,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(delegations::delete(&state, &caller, &name, &id).await?))
}
