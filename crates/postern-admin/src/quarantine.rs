//! `/quarantine`: the JSON adapter over [`postern_ops::quarantine`] — held messages listed
//! and searched, shown, their ARF report (answered as `message/rfc822` with
//! `X-Postern-Quarantine-Id`), released, deleted, confirmed as spam, and a domain admin's
//! release requests. Who sees and may do what lives in the operations.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use postern_ops::quarantine::{self, HeldMessageDetail, QuarantineQuery, QuarantineResult, ReleaseRequest};
use postern_store::{HeldMessage, Paged};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id};
use crate::{AdminState, ApiError};

const WHAT: &str = "held message";

/// List and search held messages, newest first (a domain admin: its domains' only).
#[utoipa::path(get, path = "/quarantine", tag = "quarantine", params(QuarantineQuery),
    responses((status = 200, description = "held messages", body = Paged<HeldMessage>),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<QuarantineQuery>,
) -> Result<Json<Paged<HeldMessage>>, ApiError> {
    Ok(Json(quarantine::list(&state, &caller, q).await?))
}

/// Show a held message: its row, header fields, a sanitised text preview (at most 4000
/// characters, control characters removed), the verdict trace and the ARF fields.
#[utoipa::path(get, path = "/quarantine/{id}", tag = "quarantine", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "the message", body = HeldMessageDetail),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<HeldMessageDetail>, ApiError> {
    let id = object_id(&id, WHAT)?;
    Ok(Json(quarantine::show(&state, &caller, id).await?))
}

/// The message's RFC 5965 abuse report (ARF), as sent to the domain's abuse contact.
#[utoipa::path(get, path = "/quarantine/{id}/arf", tag = "quarantine", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "the report", content_type = "message/rfc822", body = String,
            headers(("X-Postern-Quarantine-Id" = i64, description = "the held message's id"))),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 409, description = "released: the bytes are gone", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn report(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let id = object_id(&id, WHAT)?;
    let report = quarantine::report(&state, &caller, id).await?;
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (HeaderName::from_static("x-postern-quarantine-id"), report.id.to_string()),
    ];
    Ok((headers, report.bytes).into_response())
}

/// Release (superadmin): spooled for delivery without another scan, exactly once; a ham
/// sample for training.
#[utoipa::path(post, path = "/quarantine/{id}/release", tag = "quarantine", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "done", body = QuarantineResult),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 409, description = "not in a state that allows this", body = ApiError),
        (status = 503, description = "the spool refused it; it stays held", body = ApiError)))]
pub async fn release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QuarantineResult>, ApiError> {
    let id = object_id(&id, WHAT)?;
    Ok(Json(quarantine::release(&state, &caller, id).await?))
}

/// Delete a held message (not one being released).
#[utoipa::path(delete, path = "/quarantine/{id}", tag = "quarantine", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "deleted", body = QuarantineResult),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 409, description = "being released", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QuarantineResult>, ApiError> {
    let id = object_id(&id, WHAT)?;
    Ok(Json(quarantine::delete(&state, &caller, id).await?))
}

/// Confirm as spam: a spam sample for training; it stays held.
#[utoipa::path(post, path = "/quarantine/{id}/confirm", tag = "quarantine", params(("id" = i64, Path, minimum = 0)),
    responses((status = 200, description = "done", body = QuarantineResult),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 409, description = "not in a state that allows this", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn confirm(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QuarantineResult>, ApiError> {
    let id = object_id(&id, WHAT)?;
    Ok(Json(quarantine::confirm(&state, &caller, id).await?))
}

/// Ask a superadmin to release it (shown in list and show).
#[utoipa::path(post, path = "/quarantine/{id}/request-release", tag = "quarantine",
    params(("id" = i64, Path, minimum = 0)), request_body = ReleaseRequest,
    responses((status = 200, description = "recorded", body = QuarantineResult),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such held message (also another tenant's)", body = ApiError),
        (status = 409, description = "not held", body = ApiError),
        (status = 503, description = "the quarantine is not available", body = ApiError)))]
pub async fn request_release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<ReleaseRequest>,
) -> Result<Json<QuarantineResult>, ApiError> {
    let id = object_id(&id, WHAT)?;
    Ok(Json(quarantine::request_release(&state, &caller, id, body).await?))
}
