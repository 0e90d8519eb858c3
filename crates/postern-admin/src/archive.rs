//! `/archive`: the JSON adapter over [`postern_ops::archive`] (search, show, the `.eml`,
//! exports). The rules — the tenant scope, validation — live there; what is HTTP-only is
//! here: the export is streamed into the response body as the archive writes it
//! ([`postern_ops::archive::Export::stream`]: a bounded channel, so a slow reader slows the
//! export down, a reader that goes away stops it, and a failure ends the body in an error,
//! never in a short file that looks whole).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use postern_ops::archive::{self, ArchiveQuery, ArchivedMessage, Entry, Paged};

use crate::auth::Caller;
use crate::extract::{ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// Search the archive, newest first (a domain admin: copies of its domains' accounts or
/// senders only).
#[utoipa::path(get, path = "/archive", tag = "archive", params(ArchiveQuery),
    responses((status = 200, description = "archived messages", body = Paged<Entry>),
        (status = 400, description = "an invalid filter; `field` names it", body = ApiError),
        (status = 503, description = "no archive on this server", body = ApiError)))]
pub async fn search(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> Result<Json<Paged<Entry>>, ApiError> {
    Ok(Json(archive::search(&state, &caller, q).await?))
}

/// Show an archived message's index row and whether its file is there.
#[utoipa::path(get, path = "/archive/{id}", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, description = "the row", body = ArchivedMessage),
        (status = 404, description = "no such archived message (also for another tenant's)", body = ApiError)))]
pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<ArchivedMessage>, ApiError> {
    Ok(Json(archive::show(&state, &caller, &id).await?))
}

/// The message as delivered (`.eml`).
#[utoipa::path(get, path = "/archive/{id}/message", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, description = "the message", content_type = "message/rfc822", body = String),
        (status = 404, description = "no such archived message (also for another tenant's)", body = ApiError),
        (status = 409, description = "the copy's file is missing or damaged", body = ApiError)))]
pub async fn message(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let (id, bytes) = archive::message(&state, &caller, &id).await?;
    let headers = [
        (header::CONTENT_TYPE, "message/rfc822".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.eml\"")),
    ];
    Ok((headers, bytes).into_response())
}

/// The search result as mbox or zip, streamed.
#[utoipa::path(get, path = "/archive/export", tag = "archive", params(ArchiveQuery),
    responses((status = 200, description = "the export; X-Postern-Archive-Count: the copies matching at the start",
            content((String = "application/mbox"), (String = "application/zip"))),
        (status = 400, description = "an invalid filter; `field` names it", body = ApiError),
        (status = 404, description = "no archived message matches", body = ApiError)))]
pub async fn export(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let export = archive::export(&state, &caller, q).await?;
    let (format, count) = (export.format, export.count);
    let rx = export.stream(caller.name.clone());
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let headers = [
        (header::CONTENT_TYPE, format.content_type().to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"archive.{}\"", format.extension())),
        (HeaderName::from_static("x-postern-archive-count"), count.to_string()),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}
