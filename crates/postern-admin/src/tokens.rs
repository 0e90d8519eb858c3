//! `/whoami` and `/tokens`: the JSON adapter over [`postern_ops::tokens`] (who the caller
//! is; list, create and delete API tokens, superadmin only). The rules live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::ApiToken;
use postern_ops::object::Deleted;
use postern_ops::tokens::{self, TokenCreate, TokenCreated, TokenQuery, WhoAmI};
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// The caller's token: id, name, role, domains.
#[utoipa::path(get, path = "/whoami",
    tag = "tokens", responses((status = 200, description = "the caller", body = WhoAmI)))]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    Json(tokens::whoami(&caller))
}

/// List API tokens (superadmin).
#[utoipa::path(get, path = "/tokens",
    tag = "tokens", params(TokenQuery),
    responses((status = 200, description = "the tokens", body = Paged<ApiToken>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    Ok(Json(tokens::list(&state, &caller, q).await?))
}

/// Create an API token; the secret is shown only here (superadmin).
#[utoipa::path(post, path = "/tokens",
    tag = "tokens", request_body = TokenCreate,
    responses((status = 201, description = "created", body = TokenCreated),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such domain", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenCreate>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(tokens::create(&state, &caller, body).await?)))
}

/// Delete an API token (superadmin; not the caller's own).
#[utoipa::path(delete, path = "/tokens/{id}",
    tag = "tokens", params(("id" = i64, Path)),
    responses((status = 200, description = "deleted", body = Deleted),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such token", body = ApiError),
        (status = 409, description = "the caller's own token", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(tokens::delete(&state, &caller, &id).await?))
}
