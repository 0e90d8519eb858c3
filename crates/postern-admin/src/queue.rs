//! Queue tools: list (with filters), show, retry (one or all), hold, release, delete, and
//! a message's content (headers and body as spooled, at most [`MAX_CONTENT`] bytes).
//!
//! A domain admin sees only the messages that belong to its domains (the account's or the
//! sender's domain, [`Envelope::belongs_to_any`]); any other message is "no such message"
//! and absent from lists, and "retry all" retries only its own.
//!
//! [`Envelope::belongs_to_any`]: postern_core::Envelope::belongs_to_any

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use postern_core::QueueId;
use postern_queue::{QueueEntry, QueueFilter, QueueManager};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiQuery, PathParam};
use crate::{AdminState, ApiError, blocking};

const STATES: [&str; 4] = ["incoming", "active", "deferred", "held"];

fn no_message() -> ApiError {
    ApiError::not_found("no such message")
}

/// The queue id in a path, if such a message is queued and the caller may see it.
async fn visible_message(queue: &QueueManager, caller: &Caller, text: &str) -> Result<QueueId, ApiError> {
    let id = QueueId::parse(text).ok_or_else(no_message)?;
    let Some(domains) = caller.domains().map(<[String]>::to_vec) else { return Ok(id) };
    let queue = queue.clone();
    let envelope = blocking(move || queue.envelope(id)).await?;
    match envelope {
        Some(e) if e.belongs_to_any(&domains) => Ok(id),
        _ => Err(no_message()),
    }
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(mut filter): ApiQuery<QueueFilter>,
) -> Result<Json<Vec<QueueEntry>>, ApiError> {
    if let Some(s) = &filter.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::bad_field("state", format!("{s:?} is not one of {}", STATES.join(", "))));
    }
    filter.scope = caller.domains().map(<[String]>::to_vec);
    let queue = state.queue.clone();
    Ok(Json(blocking(move || queue.list(&filter)).await?))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<QueueEntry>, ApiError> {
    let id = visible_message(&state.queue, &caller, &id).await?;
    let queue = state.queue.clone();
    blocking(move || queue.show(id)).await?.map(Json).ok_or_else(no_message)
}

/// The most of a message's bytes `/queue/{id}/content` returns; a longer message is cut
/// there and the answer says so (`X-Postern-Truncated: true`, `X-Postern-Message-Size`).
pub const MAX_CONTENT: usize = 10 * 1024 * 1024;

/// The message as spooled (our `Received:` and DKIM headers included), as
/// `message/rfc822`. A domain admin sees only its own domains' messages (404 otherwise).
pub async fn content(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let id = visible_message(&state.queue, &caller, &id).await?;
    let queue = state.queue.clone();
    let (_, mut bytes) = blocking(move || queue.content(id)).await?.ok_or_else(no_message)?;
    let size = bytes.len();
    let truncated = size > MAX_CONTENT;
    bytes.truncate(MAX_CONTENT);
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (HeaderName::from_static("x-postern-message-size"), size.to_string()),
        (HeaderName::from_static("x-postern-truncated"), truncated.to_string()),
    ];
    Ok((headers, bytes).into_response())
}

async fn act(
    state: AdminState,
    caller: Caller,
    id: String,
    what: &'static str,
    f: fn(&QueueManager, QueueId) -> bool,
) -> Result<Json<Value>, ApiError> {
    let id = visible_message(&state.queue, &caller, &id).await?;
    let queue = state.queue.clone();
    if blocking(move || f(&queue, id)).await? {
        Ok(Json(json!({"queue_id": id.to_string(), "result": what})))
    } else {
        Err(ApiError::not_found("no such message, or not in a state that allows this"))
    }
}

pub async fn retry(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, id, "retry scheduled", |q, id| q.retry(id)).await
}

pub async fn hold(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, id, "held", |q, id| q.hold(id)).await
}

pub async fn release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, id, "released", |q, id| q.release(id)).await
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, id, "deleted", |q, id| q.delete(id)).await
}

/// Every message not on hold is due now; a domain admin's only.
pub async fn retry_all(State(state): State<AdminState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let queue = state.queue.clone();
    let n = match caller.domains().map(<[String]>::to_vec) {
        None => blocking(move || queue.retry_all()).await?,
        Some(domains) => {
            blocking(move || {
                let filter = QueueFilter { scope: Some(domains), limit: usize::MAX, ..QueueFilter::default() };
                queue.list(&filter).iter().filter(|e| e.state != "held").filter(|e| queue.retry(e.queue_id)).count()
            })
            .await?
        }
    };
    Ok(Json(json!({"retried": n})))
}
