//! Training the built-in scorer (docs/SCORING.md), superadmin only:
//! `POST /api/v1/training?label=ham|spam` with one message (eml) or an mbox as the body,
//! and `GET /api/v1/training`, where the installation's samples stand.
//!
//! In: the label from the query, the file as the raw body (any content type). Out: how
//! many messages the file held, how many were learned (of them, how many moved from the
//! other label) and how many were already known with this label, and the installation's
//! ham and spam samples, the minimum of each, and whether its model is in force.
//!
//! Defends against: a domain admin (403: the model is the whole installation's, not one
//! tenant's), a label other than `ham` or `spam` (400), bodies over [`TRAINING_LIMIT`]
//! (413, read no further) or with more than [`postern_scorer::mbox::MAX_MESSAGES`]
//! messages (413), an empty file (400), and a server without the scorer (503).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use postern_core::Label;
use postern_scorer::mbox::{self, SplitError};
use postern_scorer::{ScorerTrainer, Totals};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::parse_query;
use crate::{AdminState, ApiError, blocking};

/// The largest training file accepted.
pub const TRAINING_LIMIT: usize = 50 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingQuery {
    label: String,
}

fn service(state: &AdminState) -> Result<Arc<ScorerTrainer>, ApiError> {
    state
        .scorer
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the built-in scorer is not available"))
}

fn installation(totals: Totals) -> Value {
    json!({
        "ham": totals.ham,
        "spam": totals.spam,
        "minimum": {"ham": totals.minimum.ham, "spam": totals.minimum.spam},
        "in_force": totals.in_force,
    })
}

pub async fn show(State(state): State<AdminState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("see the scorer's training")?;
    let scorer = service(&state)?;
    Ok(Json(json!({"installation": installation(scorer.totals())})))
}

pub async fn learn(State(state): State<AdminState>, caller: Caller, request: Request) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("train the scorer")?;
    let query: TrainingQuery = parse_query(request.uri().query().unwrap_or(""))?;
    let label = match query.label.as_str() {
        "ham" => Label::Ham,
        "spam" => Label::Spam,
        other => {
            return Err(ApiError::bad_field("label", format!("{:?} is not one of ham, spam", truncated(other))));
        }
    };
    let scorer = service(&state)?;
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > TRAINING_LIMIT as u64) {
        return Err(ApiError::too_large(TRAINING_LIMIT));
    }
    let file = read_file(request.into_body()).await?;
    let source = format!("api ({})", caller.name);
    let (messages, tally) = blocking(move || {
        let messages = mbox::split(&file).map_err(|SplitError::TooManyMessages| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the file holds more than {} messages", mbox::MAX_MESSAGES),
            )
            .with_field("body")
        })?;
        if messages.is_empty() {
            return Err(ApiError::bad_field("body", "the body holds no message"));
        }
        let tally = scorer.learn_messages(&messages, label, &source).map_err(|(tally, e)| {
            ApiError::internal(format!("learning a training file stopped after {} messages: {e}", tally.learned))
        })?;
        Ok((messages.len(), tally))
    })
    .await??;
    let scorer = service(&state)?;
    Ok(Json(json!({
        "label": label.name(),
        "messages": messages,
        "learned": tally.learned,
        "relabelled": tally.relabelled,
        "known": tally.known,
        "installation": installation(scorer.totals()),
    })))
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

fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}
