//! `/client-blocks`: the clients blocked now (AUTH failures, the listeners' daily blocks)
//! with reason and expiry, and lifting them (`DELETE /client-blocks/{ip}`). Superadmin
//! only: a client address belongs to no tenant, so a domain admin gets 403 on both.
//!
//! A block holds for its whole time, even for the right password; only lifting ends it
//! early. Defends against: a path that is not an address (404, like any unknown object).

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::event::now_ms;
use postern_policy::ClientBlock;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::PathParam;
use crate::{AdminState, ApiError};

/// At most this many blocks in one answer (the tables hold up to 100,000 clients each).
const MOST: usize = 1000;

fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "client blocks are not available on this server")
}

pub async fn list(State(state): State<AdminState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("see client blocks")?;
    let blocks = state.client_blocks.as_ref().ok_or_else(unavailable)?;
    let all = blocks.list(now_ms());
    let total = all.len();
    let items: Vec<Value> = all.iter().take(MOST).map(block_json).collect();
    Ok(Json(json!({"items": items, "total": total})))
}

pub async fn lift(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(text): PathParam,
) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("lift client blocks")?;
    let ip: IpAddr = text.trim().parse().map_err(|_| ApiError::not_found("not a client address"))?;
    let blocks = state.client_blocks.as_ref().ok_or_else(unavailable)?;
    let lifted = blocks.lift(ip, now_ms());
    if lifted.is_empty() {
        return Err(ApiError::not_found("this client is not blocked"));
    }
    tracing::info!(client = %ip, blocks = lifted.len(), by = %caller.name, "client blocks lifted");
    let lifted: Vec<Value> = lifted.iter().map(block_json).collect();
    Ok(Json(json!({"client": ip.to_string(), "lifted": lifted})))
}

fn block_json(b: &ClientBlock) -> Value {
    let mut v = json!({"client": b.client, "kind": b.kind.name(), "reason": b.reason, "until_ms": b.until_ms});
    if let Some(listener) = &b.listener {
        v["listener"] = json!(listener);
    }
    v
}
