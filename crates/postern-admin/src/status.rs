//! `GET /api/v1/status`: the JSON adapter over [`postern_ops::status`] (how the running
//! server is doing; superadmin only).

use axum::Json;
use axum::extract::State;
use postern_ops::status::{self, Status};

use crate::auth::Caller;
use crate::{AdminState, ApiError};

/// The server's status (superadmin): version, queue size, events stored, stored after a
/// retry, dropped and waiting.
#[utoipa::path(get, path = "/status",
    tag = "status",
    responses((status = 200, description = "the status", body = Status),
        (status = 403, description = "not a superadmin", body = ApiError)))]
pub async fn show(State(state): State<AdminState>, caller: Caller) -> Result<Json<Status>, ApiError> {
    Ok(Json(status::show(&state, &caller)?))
}
