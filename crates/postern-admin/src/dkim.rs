//! DKIM keys in the API: the JSON adapter over [`postern_ops::dkim`] — list (`GET /dkim`,
//! `GET /domains/{name}/dkim/keys`), generate or import (`POST
//! /domains/{name}/dkim/keys`), show and remove (`/domains/{name}/dkim/keys/{selector}`).
//! DNS records, checks and rotation are in `dkim_dns.rs`. Scope checks, validation and the
//! signer's reload live in the operations.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_ops::dkim::{self, DkimDeleteQuery, DkimKeyCreate, DkimKeyDeleted, DkimKeyQuery, DomainKeyQuery, KeyView};
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathPair, PathParam};
use crate::{AdminState, ApiError};

/// List DKIM keys (a domain admin: its domains').
#[utoipa::path(get, path = "/dkim", tag = "dkim", params(DkimKeyQuery),
    responses((status = 200, description = "keys", body = Paged<KeyView>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn list_all(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DkimKeyQuery>,
) -> Result<Json<Paged<KeyView>>, ApiError> {
    Ok(Json(dkim::list_all(&state, &caller, q).await?))
}

/// List a domain's DKIM keys.
#[utoipa::path(get, path = "/domains/{name}/dkim/keys", tag = "dkim", params(("name" = String, Path), DomainKeyQuery),
    responses((status = 200, description = "keys", body = Paged<KeyView>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant)", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<DomainKeyQuery>,
) -> Result<Json<Paged<KeyView>>, ApiError> {
    Ok(Json(dkim::list(&state, &caller, &name, q).await?))
}

/// Generate (RSA-2048 default, or Ed25519) or import a DKIM key; it is pending until rotated in.
#[utoipa::path(post, path = "/domains/{name}/dkim/keys", tag = "dkim", params(("name" = String, Path)),
    request_body = DkimKeyCreate,
    responses((status = 201, description = "created", body = KeyView),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant)", body = ApiError),
        (status = 409, description = "the selector exists, or the domain has 10 keys", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<DkimKeyCreate>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    Ok((StatusCode::CREATED, Json(dkim::create(&state, &caller, &name, body).await?)))
}

/// Show a DKIM key and its DNS record.
#[utoipa::path(get, path = "/domains/{name}/dkim/keys/{selector}", tag = "dkim",
    params(("name" = String, Path), ("selector" = String, Path)),
    responses((status = 200, description = "the key", body = KeyView),
        (status = 404, description = "no such domain or key (also for another tenant)", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, selector): PathPair,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(dkim::show(&state, &caller, &name, &selector).await?))
}

/// Remove a DKIM key (the active one only with force=true).
#[utoipa::path(delete, path = "/domains/{name}/dkim/keys/{selector}", tag = "dkim",
    params(("name" = String, Path), ("selector" = String, Path), DkimDeleteQuery),
    responses((status = 200, description = "deleted", body = DkimKeyDeleted),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain or key (also for another tenant)", body = ApiError),
        (status = 409, description = "the key is active", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, selector): PathPair,
    ApiQuery(q): ApiQuery<DkimDeleteQuery>,
) -> Result<Json<DkimKeyDeleted>, ApiError> {
    Ok(Json(dkim::delete(&state, &caller, &name, &selector, q).await?))
}
