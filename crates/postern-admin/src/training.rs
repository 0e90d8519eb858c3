//! Training the built-in scorer: the adapter over [`postern_ops::training`] —
//! `POST /api/v1/training?label=ham|spam` with one message (eml) or an mbox as the raw
//! body (any content type), and `GET /api/v1/training`, where the installation's samples
//! stand.
//!
//! Defends against: reading anything from a caller who may not train (the operations'
//! check comes first, before the query and the body), and bodies over
//! [`TRAINING_LIMIT`] (413, read no further).

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use postern_ops::training::{self, TRAINING_LIMIT, TrainingQuery, TrainingResult, TrainingState};

use crate::auth::Caller;
use crate::extract::parse_query;
use crate::{AdminState, ApiError};

/// Where the built-in scorer's installation samples stand (superadmin).
#[utoipa::path(get, path = "/training", tag = "training",
    responses((status = 200, description = "the installation's samples", body = TrainingState),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 503, description = "the built-in scorer is not available on this server", body = ApiError)))]
pub async fn show(State(state): State<AdminState>, caller: Caller) -> Result<Json<TrainingState>, ApiError> {
    Ok(Json(training::show(&state, &caller).await?))
}

/// Train the built-in scorer from one message or an mbox (superadmin); messages already
/// learned with the other label move to this one.
#[utoipa::path(post, path = "/training", tag = "training", params(TrainingQuery),
    request_body(description = "one message, or an mbox (`From ` separators, `>From ` quoting) of at most \
        20,000 messages; at most 50 MiB", content(
        (String = "message/rfc822"), (String = "application/mbox"), (String = "application/octet-stream"))),
    responses((status = 200, description = "what was learned", body = TrainingResult),
        (status = 400, description = "a label other than ham or spam, or a body with no message", body = ApiError),
        (status = 403, description = "not a superadmin", body = ApiError),
        (status = 413, description = "body larger than 50 MiB or more than 20,000 messages", body = ApiError),
        (status = 503, description = "the built-in scorer is not available on this server", body = ApiError)))]
pub async fn learn(
    State(state): State<AdminState>,
    caller: Caller,
    request: Request,
) -> Result<Json<TrainingResult>, ApiError> {
    training::may_train(&caller)?;
    let query: TrainingQuery = parse_query(request.uri().query().unwrap_or(""))?;
    let upload = training::upload(&state, &caller, query)?;
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > TRAINING_LIMIT as u64) {
        return Err(ApiError::too_large(TRAINING_LIMIT));
    }
    let file = read_file(request.into_body()).await?;
    Ok(Json(training::learn(upload, file).await?))
}

async fn read_file(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, TRAINING_LIMIT).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            ApiError::too_large(TRAINING_LIMIT)
        } else {
            ApiError::bad_field("body", "the body could not be read")
        }
    })
}
