//! `GET /api/v1/status` (superadmin): how the running server is doing — its version, the
//! queue's size, and the event log's counts (stored, stored after a retry, dropped, waiting
//! for a retry), so that events a full disk refused are never lost silently.
//!
//! In: a superadmin's request. Out: one JSON object. A domain admin gets 403: these
//! figures are the whole server's, not one tenant's.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::{AdminState, ApiError};

pub async fn show(State(state): State<AdminState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("see the server's status")?;
    let events = match &state.events {
        Some(stats) => serde_json::to_value(stats.counts()).map_err(ApiError::internal)?,
        None => Value::Null,
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "queue": {"messages": state.queue.queued()},
        "events": events,
    })))
}
