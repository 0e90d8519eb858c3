//! `/inbound-domains`: the JSON adapter over [`postern_ops::inbound`] (list, add, show,
//! remove inbound relay domains). Who may do what and how fields are checked live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::InboundDomain;
use postern_ops::inbound::{self, InboundCreate, InboundDeleted, InboundQuery};
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List inbound relay domains (a domain admin: those named like its domains).
#[utoipa::path(get, path = "/inbound-domains", tag = "inbound", params(InboundQuery),
    responses((status = 200, description = "inbound domains", body = Paged<InboundDomain>),
        (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<InboundQuery>,
) -> Result<Json<Paged<InboundDomain>>, ApiError> {
    Ok(Json(inbound::list(&state, &caller, q).await?))
}

/// Add an inbound relay domain: mail to it is accepted from anyone and delivered to its
/// internal server (superadmin).
#[utoipa::path(post, path = "/inbound-domains", tag = "inbound", request_body = InboundCreate,
    responses((status = 201, description = "added", body = InboundDomain),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 409, description = "exists already", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<InboundCreate>,
) -> Result<(StatusCode, Json<InboundDomain>), ApiError> {
    Ok((StatusCode::CREATED, Json(inbound::create(&state, &caller, body).await?)))
}

/// Show an inbound relay domain.
#[utoipa::path(get, path = "/inbound-domains/{name}", tag = "inbound", params(("name" = String, Path)),
    responses((status = 200, description = "the inbound domain", body = InboundDomain),
        (status = 404, description = "no such inbound domain (also for another tenant's name)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<InboundDomain>, ApiError> {
    Ok(Json(inbound::show(&state, &caller, &name).await?))
}

/// Remove an inbound relay domain (superadmin).
#[utoipa::path(delete, path = "/inbound-domains/{name}", tag = "inbound", params(("name" = String, Path)),
    responses((status = 200, description = "deleted", body = InboundDeleted),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such inbound domain (also for another tenant's name)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<InboundDeleted>, ApiError> {
    Ok(Json(inbound::delete(&state, &caller, &name).await?))
}
