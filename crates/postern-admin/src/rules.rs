//! `/rules`: the JSON adapter over [`postern_ops::rules`] (list, create, show, delete the
//! rules of the block and allow lists). Who may do what and how values are checked live
//! there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::ListRule;
use postern_ops::rules::{self, RuleCreate, RuleDeleted, RuleQuery};
use postern_store::Paged;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id};
use crate::{AdminState, ApiError};

/// List block and allow list rules (a domain admin: its domains' only, no global ones).
#[utoipa::path(get, path = "/rules", tag = "rules", params(RuleQuery),
    responses((status = 200, description = "the rules", body = Paged<ListRule>),
        (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RuleQuery>,
) -> Result<Json<Paged<ListRule>>, ApiError> {
    Ok(Json(rules::list(&state, &caller, q).await?))
}

/// Create a rule (without a domain: a global rule, superadmin only).
#[utoipa::path(post, path = "/rules", tag = "rules", request_body = RuleCreate,
    responses((status = 201, description = "created", body = ListRule),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 403, description = "a global rule by a domain admin", body = ApiError),
        (status = 404, description = "no such domain (also for another tenant's)", body = ApiError),
        (status = 409, description = "a rule of this kind and value exists in this list", body = ApiError)))]
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<RuleCreate>,
) -> Result<(StatusCode, Json<ListRule>), ApiError> {
    Ok((StatusCode::CREATED, Json(rules::create(&state, &caller, body).await?)))
}

/// Show a rule.
#[utoipa::path(get, path = "/rules/{id}", tag = "rules", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "the rule", body = ListRule),
        (status = 404, description = "no such rule (also another tenant's, or a global one for a domain admin)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<ListRule>, ApiError> {
    let id = object_id(&id, "rule")?;
    Ok(Json(rules::show(&state, &caller, id).await?))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/rules/{id}", tag = "rules", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "deleted", body = RuleDeleted),
        (status = 404, description = "no such rule (also another tenant's, or a global one for a domain admin)", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<RuleDeleted>, ApiError> {
    let id = object_id(&id, "rule")?;
    Ok(Json(rules::delete(&state, &caller, id).await?))
}
