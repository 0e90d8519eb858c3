//! Queue tools: the JSON adapter over [`postern_ops::queue`] — list (with filters), show,
//! retry (one or all), hold, release, delete, and a message's content, answered as
//! `message/rfc822` (at most [`postern_ops::queue::MAX_CONTENT`] bytes:
//! `X-Postern-Message-Size` gives the whole size, `X-Postern-Truncated` says whether it
//! was cut). Who sees which message lives in the operations.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use postern_ops::queue::{self, QueueAction, QueueQuery, QueueResult, QueueRetried};
use postern_queue::QueueEntry;

use crate::auth::Caller;
use crate::extract::{ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// List queued messages (a domain admin: its own).
#[utoipa::path(get, path = "/queue", tag = "queue", params(QueueQuery),
    responses((status = 200, description = "messages", body = Vec<QueueEntry>),
        (status = 400, description = "bad input: the field is named", body = ApiError)))]
pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    Ok(Json(queue::list(&state, &caller, q).await?))
}

/// Show one message.
#[utoipa::path(get, path = "/queue/{id}", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "the message", body = QueueEntry),
        (status = 404, description = "no such message (also another tenant's)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueEntry>, ApiError> {
    Ok(Json(queue::show(&state, &caller, &id).await?))
}

/// A message's content as spooled (headers and body), at most 10 MiB:
/// X-Postern-Message-Size gives the whole size, X-Postern-Truncated says whether it was cut.
#[utoipa::path(get, path = "/queue/{id}/content", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "the message", content_type = "message/rfc822", body = String,
            headers(("X-Postern-Message-Size" = u64, description = "the whole message's size in bytes"),
                ("X-Postern-Truncated" = bool, description = "whether the content was cut at 10 MiB"))),
        (status = 404, description = "no such message (also another tenant's)", body = ApiError)))]
pub async fn content(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let content = queue::content(&state, &caller, &id).await?;
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (HeaderName::from_static("x-postern-message-size"), content.size.to_string()),
        (HeaderName::from_static("x-postern-truncated"), content.truncated.to_string()),
    ];
    Ok((headers, content.bytes).into_response())
}

async fn act(
    state: AdminState,
    caller: Caller,
    id: String,
    action: QueueAction,
) -> Result<Json<QueueResult>, ApiError> {
    Ok(Json(queue::act(&state, &caller, &id, action).await?))
}

/// Retry one message now.
#[utoipa::path(post, path = "/queue/{id}/retry", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "done", body = QueueResult),
        (status = 404, description = "no such message, or not in a state that allows this", body = ApiError)))]
pub async fn retry(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueResult>, ApiError> {
    act(state, caller, id, QueueAction::Retry).await
}

/// Hold one message.
#[utoipa::path(post, path = "/queue/{id}/hold", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "done", body = QueueResult),
        (status = 404, description = "no such message, or not in a state that allows this", body = ApiError)))]
pub async fn hold(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueResult>, ApiError> {
    act(state, caller, id, QueueAction::Hold).await
}

/// Release a held message.
#[utoipa::path(post, path = "/queue/{id}/release", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "done", body = QueueResult),
        (status = 404, description = "no such message, or not in a state that allows this", body = ApiError)))]
pub async fn release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueResult>, ApiError> {
    act(state, caller, id, QueueAction::Release).await
}

/// Delete one message (no DSN).
#[utoipa::path(delete, path = "/queue/{id}", tag = "queue", params(("id" = String, Path, pattern = "^[0-9A-F]{20}$")),
    responses((status = 200, description = "deleted", body = QueueResult),
        (status = 404, description = "no such message, or being tried", body = ApiError)))]
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueResult>, ApiError> {
    act(state, caller, id, QueueAction::Delete).await
}

/// Retry every message not on hold now (a domain admin: its own).
#[utoipa::path(post, path = "/queue/retry", tag = "queue",
    responses((status = 200, description = "how many were made due", body = QueueRetried)))]
pub async fn retry_all(State(state): State<AdminState>, caller: Caller) -> Result<Json<QueueRetried>, ApiError> {
    Ok(Json(queue::retry_all(&state, &caller).await?))
}
