//! Queue tools: list (with filters), show, retry (one or all), hold, release, delete.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use postern_core::QueueId;
use postern_queue::{QueueEntry, QueueFilter};
use serde_json::{Value, json};

use crate::{AdminState, ApiError};

const STATES: [&str; 4] = ["incoming", "active", "deferred", "held"];

fn queue_id(text: &str) -> Result<QueueId, ApiError> {
    QueueId::parse(text).ok_or_else(|| ApiError::not_found("no such message"))
}

/// The blocking spool reads run off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::conflict(format!("internal error: {e}")))
}

pub async fn list(
    State(state): State<AdminState>,
    filter: Result<Query<QueueFilter>, QueryRejection>,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    let Query(filter) = filter.map_err(|e| {
        let text = e.body_text();
        // serde names an unknown parameter as "unknown field `x`, expected one of ...".
        let unknown = text.split("unknown field `").nth(1).and_then(|rest| rest.split('`').next());
        let known =
            ["sender", "recipient", "domain", "state", "limit"].into_iter().find(|f| text.contains(&format!("`{f}`")));
        let field = unknown.or(known).unwrap_or("query").chars().take(64).collect::<String>();
        ApiError::bad_field(&field, text)
    })?;
    if let Some(s) = &filter.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::bad_field("state", format!("{s:?} is not one of {}", STATES.join(", "))));
    }
    let queue = state.queue.clone();
    Ok(Json(blocking(move || queue.list(&filter)).await?))
}

pub async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> Result<Json<QueueEntry>, ApiError> {
    let id = queue_id(&id)?;
    let queue = state.queue.clone();
    blocking(move || queue.show(id)).await?.map(Json).ok_or_else(|| ApiError::not_found("no such message"))
}

async fn act(
    state: AdminState,
    id: String,
    what: &'static str,
    f: fn(&postern_queue::QueueManager, QueueId) -> bool,
) -> Result<Json<Value>, ApiError> {
    let id = queue_id(&id)?;
    let queue = state.queue.clone();
    if blocking(move || f(&queue, id)).await? {
        Ok(Json(json!({"queue_id": id.to_string(), "result": what})))
    } else {
        Err(ApiError::not_found("no such message, or not in a state that allows this"))
    }
}

pub async fn retry(State(state): State<AdminState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    act(state, id, "retry scheduled", |q, id| q.retry(id)).await
}

pub async fn hold(State(state): State<AdminState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    act(state, id, "held", |q, id| q.hold(id)).await
}

pub async fn release(State(state): State<AdminState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    act(state, id, "released", |q, id| q.release(id)).await
}

pub async fn delete(State(state): State<AdminState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    act(state, id, "deleted", |q, id| q.delete(id)).await
}

pub async fn retry_all(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let queue = state.queue.clone();
    let n = blocking(move || queue.retry_all()).await?;
    Ok(Json(json!({"retried": n})))
}
