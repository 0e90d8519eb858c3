//! `/client-blocks`: the JSON adapter over [`postern_ops::client_blocks`] (the clients
//! blocked now, and lifting them; superadmin only). The rules live there.

use axum::Json;
use axum::extract::State;
use postern_ops::client_blocks::{self, ClientBlocks, LiftedBlocks};

use crate::auth::Caller;
use crate::extract::PathParam;
use crate::{AdminState, ApiError};

/// Clients blocked now: AUTH failures and the listeners' daily blocks (superadmin).
#[utoipa::path(get, path = "/client-blocks",
    tag = "client_blocks",
    responses((status = 200, description = "the blocks", body = ClientBlocks),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 503, description = "client blocks are not available on this server", body = ApiError)))]
pub async fn list(State(state): State<AdminState>, caller: Caller) -> Result<Json<ClientBlocks>, ApiError> {
    Ok(Json(client_blocks::list(&state, &caller)?))
}

/// Lift every block of a client address (superadmin).
#[utoipa::path(delete, path = "/client-blocks/{ip}",
    tag = "client_blocks",
    params(("ip" = String, Path, description = "an IPv4 or IPv6 address")),
    responses((status = 200, description = "lifted", body = LiftedBlocks),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 404, description = "not an address, or not blocked", body = ApiError),
        (status = 503, description = "client blocks are not available on this server", body = ApiError)))]
pub async fn lift(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(ip): PathParam,
) -> Result<Json<LiftedBlocks>, ApiError> {
    Ok(Json(client_blocks::lift(&state, &caller, &ip)?))
}
