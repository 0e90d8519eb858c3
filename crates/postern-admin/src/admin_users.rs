//! `/admin-users`: the JSON adapter over [`postern_ops::admin_users`] (list, create, show,
//! change and delete the web panel's users; superadmin only). The rules — names, password
//! strength, roles and domains, the last superadmin — live there.
//!
//! Defends against: password hashes leaving the server (answers are
//! [`AdminUser`](postern_core::tenancy::AdminUser), which has none) and passwords in the
//! OpenAPI document's readable schemas (`password` is `writeOnly`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::AdminUser;
use postern_ops::admin_users::{self, AdminUserCreate, AdminUserQuery, AdminUserUpdate};
use postern_ops::object::Deleted;
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List the web panel's users (superadmin).
#[utoipa::path(get, path = "/admin-users",
    tag = "admin-users", params(AdminUserQuery),
    responses((status = 200, description = "the panel users, without their password hashes",
            body = Paged<AdminUser>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 503, description = "this server has no panel users", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AdminUserQuery>,
) -> Result<Json<Paged<AdminUser>>, ApiError> {
    Ok(Json(admin_users::list(&state, &caller, q).await?))
}

/// Create a web panel user (superadmin).
#[utoipa::path(post, path = "/admin-users",
    tag = "admin-users", request_body = AdminUserCreate,
    responses((status = 201, description = "created", body = AdminUser),
        (status = 400, description = "bad input (name, a weak password, domains for a superadmin or none for a \
            domain admin): the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such domain", body = ApiError),
        (status = 409, description = "the name is taken (without regard to case)", body = ApiError),
        (status = 503, description = "this server has no panel users", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<AdminUserCreate>,
) -> Result<(StatusCode, Json<AdminUser>), ApiError> {
    Ok((StatusCode::CREATED, Json(admin_users::create(&state, &caller, body).await?)))
}

/// Show a web panel user (superadmin).
#[utoipa::path(get, path = "/admin-users/{id}",
    tag = "admin-users", params(("id" = i64, Path)),
    responses((status = 200, description = "the panel user", body = AdminUser),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such panel user", body = ApiError),
        (status = 503, description = "this server has no panel users", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(admin_users::show(&state, &caller, &id).await?))
}

/// Change a web panel user's password, role or domains (superadmin); ends its sessions.
#[utoipa::path(patch, path = "/admin-users/{id}",
    tag = "admin-users", params(("id" = i64, Path)),
    request_body = AdminUserUpdate,
    responses((status = 200, description = "changed", body = AdminUser),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such panel user, or no such domain", body = ApiError),
        (status = 409, description = "the last superadmin cannot become a domain admin", body = ApiError),
        (status = 503, description = "this server has no panel users", body = ApiError)))]
pub async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<AdminUserUpdate>,
) -> Result<Json<AdminUser>, ApiError> {
    Ok(Json(admin_users::update(&state, &caller, &id, body).await?))
}

/// Delete a web panel user and its sessions (superadmin).
#[utoipa::path(delete, path = "/admin-users/{id}",
    tag = "admin-users", params(("id" = i64, Path)),
    responses((status = 200, description = "deleted", body = Deleted),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such panel user", body = ApiError),
        (status = 409, description = "the last superadmin stays", body = ApiError),
        (status = 503, description = "this server has no panel users", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(admin_users::delete(&state, &caller, &id).await?))
}
