//! A domain's DKIM keys and DNS: the JSON adapter over [`postern_ops::dkim_dns`] — the
//! records to publish (`GET /domains/{name}/dkim/dns`), whether they are published (`GET
//! /domains/{name}/dkim/check`), and rotation (`POST /domains/{name}/dkim/rotate`).

use axum::Json;
use axum::extract::State;
use postern_ops::dkim_dns::{self, DkimCheck, DkimCheckQuery, DkimRecords, DkimRotate, DkimRotation};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// The TXT records to publish: every key but the retired.
#[utoipa::path(get, path = "/domains/{name}/dkim/dns", tag = "dkim", params(("name" = String, Path)),
    responses((status = 200, description = "records", body = DkimRecords),
        (status = 404, description = "no such domain (also for another tenant)", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn records(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<DkimRecords>, ApiError> {
    Ok(Json(dkim_dns::records(&state, &caller, &name).await?))
}

/// Check in DNS that the records are published.
#[utoipa::path(get, path = "/domains/{name}/dkim/check", tag = "dkim", params(("name" = String, Path), DkimCheckQuery),
    responses((status = 200, description = "results", body = DkimCheck),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain or key (also for another tenant)", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn check_dns(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<DkimCheckQuery>,
) -> Result<Json<DkimCheck>, ApiError> {
    Ok(Json(dkim_dns::check_dns(&state, &caller, &name, q).await?))
}

/// Make a key the signing key of its algorithm; the previous one retires after grace_secs.
#[utoipa::path(post, path = "/domains/{name}/dkim/rotate", tag = "dkim", params(("name" = String, Path)),
    request_body = DkimRotate,
    responses((status = 200, description = "rotated", body = DkimRotation),
        (status = 400, description = "bad input: the field is named", body = ApiError),
        (status = 404, description = "no such domain or key (also for another tenant)", body = ApiError),
        (status = 409, description = "already active, or not published in DNS", body = ApiError),
        (status = 503, description = "DKIM is not available on this server", body = ApiError)))]
pub async fn rotate(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<DkimRotate>,
) -> Result<Json<DkimRotation>, ApiError> {
    Ok(Json(dkim_dns::rotate(&state, &caller, &name, body).await?))
}
