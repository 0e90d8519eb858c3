//! `/accounts`: the JSON adapter over [`postern_ops::accounts`] (list, create, show,
//! change, delete outgoing accounts). The rules — ranges, names, passwords, settings,
//! locks and their notices — live there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::Account;
use postern_ops::accounts::{self, AccountCreate, AccountPatch, AccountQuery};
use postern_ops::object::Deleted;
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List outgoing accounts.
#[utoipa::path(get, path = "/accounts",
    tag = "accounts", params(AccountQuery),
    responses((status = 200, description = "the accounts the caller may see", body = Paged<Account>),
        (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<Json<Paged<Account>>, ApiError> {
    Ok(Json(accounts::list(&state, &caller, q).await?))
}

/// Create an outgoing account.
///
/// A domain admin's ip account lies inside a range delegated to the domain, no wider than
/// the configured prefix, over no trusted network or listener address.
#[utoipa::path(post, path = "/accounts",
    tag = "accounts", request_body = AccountCreate,
    responses((status = 201, description = "created", body = Account),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "a domain admin's ip range outside its delegations, too wide, or over a \
            protected range; cover_trusted by a domain admin", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant's)", body = ApiError),
        (status = 409, description = "duplicate name, overlapping range (named for a superadmin only), second \
            domain account, or a superadmin's range over a trusted network without cover_trusted", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<AccountCreate>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    Ok((StatusCode::CREATED, Json(accounts::create(&state, &caller, body).await?)))
}

/// Show an account.
#[utoipa::path(get, path = "/accounts/{id}",
    tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "the account", body = Account),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(accounts::show(&state, &caller, &id).await?))
}

/// Change the settings, password or lock of an account.
#[utoipa::path(patch, path = "/accounts/{id}",
    tag = "accounts", params(("id" = i64, Path)),
    request_body = AccountPatch,
    responses((status = 200, description = "changed", body = Account),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "a domain admin changing the settings of an ip account outside its \
            delegations", body = ApiError),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError)))]
pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<AccountPatch>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(accounts::update(&state, &caller, &id, body).await?))
}

/// Delete an account and its identities.
#[utoipa::path(delete, path = "/accounts/{id}",
    tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "deleted", body = Deleted),
        (status = 404, description = "no such account (also for another tenant's)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(accounts::delete(&state, &caller, &id).await?))
}
