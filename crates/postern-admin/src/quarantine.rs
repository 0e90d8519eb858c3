//! The quarantine (SPEC.md §5): held messages listed and searched, shown (headers, a
//! sanitised text preview, the verdict trace, the ARF report), released, deleted,
//! confirmed as spam, and a domain admin's release requests.
//!
//! In: a row id from the path, filters from the query. Out: JSON rows
//! ([`postern_store::HeldMessage`]), the ARF report as `message/rfc822`, and the actions
//! through [`postern_pipeline::Quarantine`] (which spools, trains and logs).
//!
//! A domain admin sees only its domains' held messages: any other (and a message with no
//! domain, from a trusted network) is "no such held message", the same answer as a
//! missing one; release is for a superadmin only (403 on a domain admin's own message):
//! a domain admin asks for it with `request-release`, which superadmins see in list and
//! show.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use postern_pipeline::{Quarantine, QuarantineError, arf, quarantine};
use postern_store::{HeldMessage, HeldState, Paged, QuarantineFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError};

/// The most characters of the text preview.
pub const PREVIEW_CHARS: usize = 4000;

/// The largest ARF report answered (a report carries the whole message).
const MAX_ARF: usize = 10 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineQuery {
    domain: Option<String>,
    account: Option<String>,
    identity: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
    rule: Option<String>,
    /// Held at or after (Unix ms).
    since_ms: Option<i64>,
    /// Held before (Unix ms).
    until_ms: Option<i64>,
    state: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[serde(default)]
    note: Option<String>,
}

fn no_message() -> ApiError {
    ApiError::not_found("no such held message")
}

fn service(state: &AdminState) -> Result<Arc<Quarantine>, ApiError> {
    state
        .quarantine
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the quarantine is not available"))
}

fn failed(e: QuarantineError) -> ApiError {
    match e {
        QuarantineError::NotFound => no_message(),
        QuarantineError::Conflict(text) => ApiError::conflict(text),
        QuarantineError::Spool(reply) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the spool refused the message, which stays held: {}", reply.summary()),
        ),
        QuarantineError::Failed(detail) => ApiError::internal(detail),
    }
}

/// The row in a path, if the caller may see it (the same 404 otherwise).
async fn visible(quarantine: &Quarantine, caller: &Caller, text: &str) -> Result<HeldMessage, ApiError> {
    let id = object_id(text, "held message")?;
    let row = quarantine.row(id).await.map_err(failed)?;
    let allowed = match (&row.message.domain, caller.domains()) {
        (_, None) => true,
        (Some(domain), Some(domains)) => domains.iter().any(|d| d == domain),
        (None, Some(_)) => false,
    };
    if allowed { Ok(row) } else { Err(no_message()) }
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<QuarantineQuery>,
) -> Result<Json<Paged<HeldMessage>>, ApiError> {
    let quarantine = service(&state)?;
    let page = page(q.limit, q.offset)?;
    let state_filter = match q.state.as_deref() {
        None => None,
        Some(text) => Some(HeldState::parse(text).ok_or_else(|| {
            ApiError::bad_field("state", format!("{text:?} is not one of held, releasing, released, purging"))
        })?),
    };
    let filter = QuarantineFilter {
        domain: q.domain.map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()),
        account: q.account,
        identity: q.identity,
        sender: q.sender,
        recipient: q.recipient,
        rule: q.rule,
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        state: state_filter,
    };
    let store = Arc::clone(quarantine.store());
    let scope = caller.scope.clone();
    let listed = crate::blocking(move || store.list_held(&scope, &filter, page)).await?;
    Ok(Json(listed?))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    let mut answer = serde_json::to_value(&row).map_err(ApiError::internal)?;
    let hostname = quarantine.hostname().to_string();
    match quarantine.content(row.id).await {
        Ok(content) => {
            let file = content.file;
            let (headers, preview, fields) = tokio::task::spawn_blocking(move || {
                let (headers, preview) = quarantine::preview(&file.message, PREVIEW_CHARS);
                (headers, preview, arf::feedback_fields(&hostname, &row, &file, 1))
            })
            .await
            .map_err(ApiError::internal)?;
            answer["headers"] = json!(headers.into_iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>());
            answer["preview"] = json!(preview);
            answer["arf"] = json!(fields);
        }
        Err(QuarantineError::Conflict(_)) => {
            // Released or being purged: the bytes are gone, the row tells the story.
            answer["headers"] = json!([]);
            answer["preview"] = Value::Null;
            answer["arf"] = Value::Null;
        }
        Err(e) => return Err(failed(e)),
    }
    Ok(Json(answer))
}

/// The whole ARF report (RFC 5965) as it is (or would be) sent to the abuse contact.
pub async fn report(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    let content = quarantine.content(row.id).await.map_err(failed)?;
    let hostname = quarantine.hostname().to_string();
    let to = match (&state.directory, row.message.domain.clone()) {
        (directory, Some(domain)) => {
            let directory = Arc::clone(directory);
            crate::blocking(move || directory.domain(&domain)).await?.ok().flatten().and_then(|d| d.abuse_contact)
        }
        _ => None,
    };
    let bytes = tokio::task::spawn_blocking(move || {
        let report = arf::build(&hostname, &content.row, &content.file, 1, &[]);
        report.to_message(&format!("postmaster@{hostname}"), to.as_deref().unwrap_or("undisclosed-recipients:;"))
    })
    .await
    .map_err(ApiError::internal)?;
    if bytes.len() > MAX_ARF {
        return Err(ApiError::conflict(format!("the report is larger than {MAX_ARF} bytes; see the message instead")));
    }
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (HeaderName::from_static("x-postern-quarantine-id"), row.id.to_string()),
    ];
    Ok((headers, bytes).into_response())
}

/// Superadmin only: spooled for delivery without another scan, exactly once.
pub async fn release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    caller.require_superadmin("release a quarantined message")?;
    let queue_id = quarantine.release(row.id, &caller.name).await.map_err(failed)?;
    Ok(Json(json!({"id": row.id, "queue_id": queue_id.to_string(), "result": "released", "by": caller.name})))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    quarantine.delete(row.id, &caller.name).await.map_err(failed)?;
    Ok(Json(json!({"id": row.id, "result": "deleted"})))
}

/// A spam sample for the trainer; the message stays held until its expiry or a delete.
pub async fn confirm(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    quarantine.confirm(row.id, &caller.name).await.map_err(failed)?;
    Ok(Json(json!({"id": row.id, "result": "confirmed as spam"})))
}

/// A request that a superadmin release it, with an optional note (at most 500 characters).
pub async fn request_release(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
    ApiJson(body): ApiJson<ReleaseRequest>,
) -> Result<Json<Value>, ApiError> {
    let quarantine = service(&state)?;
    let row = visible(&quarantine, &caller, &id).await?;
    let note = body.note;
    if let Some(note) = &note
        && (note.chars().count() > 500 || note.chars().any(char::is_control))
    {
        return Err(ApiError::bad_field("note", "one line of at most 500 characters"));
    }
    quarantine.request_release(row.id, &caller.name, note).await.map_err(failed)?;
    Ok(Json(json!({"id": row.id, "result": "release requested"})))
}
