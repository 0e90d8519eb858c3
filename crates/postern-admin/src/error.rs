//! The one error shape of the API: `{"error": "...", "field": "..."}` with a 4xx status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, error: what.to_string(), field: None }
    }

    pub fn unauthorized() -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, error: "missing or invalid bearer token".into(), field: None }
    }

    pub fn bad_field(field: &str, error: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, error: error.into(), field: Some(field.to_string()) }
    }

    pub fn conflict(error: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, error: error.into(), field: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}
