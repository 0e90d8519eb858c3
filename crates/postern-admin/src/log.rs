//! `/log`: the JSON adapter over [`postern_ops::log`]: log search (messages and refusals
//! by domain, time and filters, newest first, a page at a time) and one message's
//! timeline. The rules — scopes, defaults, validation — live there.

use axum::Json;
use axum::extract::State;
use postern_ops::log::{self, LogSearchQuery};
use postern_store::{LogPage, Timeline};

use crate::auth::Caller;
use crate::extract::{ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// Search the log: the rows the caller may see (its domains: as account domain or sender
/// domain), newest arrival first; `next` is the `before` of the following page.
#[utoipa::path(get, path = "/log", tag = "log", params(LogSearchQuery),
    responses((status = 200, description = "one page", body = LogPage), (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 503, description = "log search is not available", body = ApiError)))]
pub async fn search(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<LogSearchQuery>,
) -> Result<Json<LogPage>, ApiError> {
    Ok(Json(log::search(&state, &caller, q).await?))
}

/// A message's row and timeline, by queue id, Message-ID (angle brackets optional), or row
/// id (a refusal without a queue id).
#[utoipa::path(get, path = "/log/{key}", tag = "log", params(("key" = String, Path, description = "queue id, Message-ID or row id")),
    responses((status = 200, description = "the row and its events in order", body = Timeline),
        (status = 404, description = "no such message (also for another tenant's)", body = ApiError),
        (status = 503, description = "log search is not available", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(key): PathParam,
) -> Result<Json<Timeline>, ApiError> {
    Ok(Json(log::show(&state, &caller, &key).await?))
}
