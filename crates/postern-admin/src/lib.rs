//! The admin REST API under `/api/v1` (JSON, bearer tokens), `/health`, and the OpenAPI
//! document at `/api/v1/openapi.json`. The CLI (`postern queue ...`) is its client.
//!
//! In: HTTP requests. Out: JSON answers over the queue manager (and, in later issues,
//! accounts, domains, logs). Defends against: requests without a valid token (401, the
//! token compared in constant time), unknown or malformed parameters (400 naming the
//! field), oversized bodies (axum's limit), ids that are not queue ids (404).
//!
//! # Layout
//! - [`auth`]: bearer-token check, as middleware.
//! - [`error`]: [`ApiError`], the one JSON error shape.
//! - [`queue`]: queue tools: list, show, retry, hold, release, delete.
//! - [`openapi`]: the OpenAPI 3.1 document.

mod auth;
mod error;
mod openapi;
mod queue;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use postern_queue::QueueManager;

pub use error::ApiError;

/// What handlers are given.
#[derive(Clone)]
pub struct AdminState {
    pub queue: QueueManager,
    /// The superadmin's bearer token.
    pub token: Arc<str>,
}

pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/queue", get(queue::list))
        .route("/queue/retry", post(queue::retry_all))
        .route("/queue/{id}", get(queue::show).delete(queue::delete))
        .route("/queue/{id}/retry", post(queue::retry))
        .route("/queue/{id}/hold", post(queue::hold))
        .route("/queue/{id}/release", post(queue::release))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}
