//! A domain's DKIM keys and DNS: the records to publish (`GET /domains/{name}/dkim/dns`),
//! whether they are published (`GET /domains/{name}/dkim/check`), and rotation (`POST
//! /domains/{name}/dkim/rotate`: the new key signs, the previous key of its algorithm
//! retires after a grace period).
//!
//! Defends against: switching signing to a key receivers cannot find (rotation checks DNS
//! first and refuses with what it found, unless `force`), grace periods too short for mail
//! still queued (default 7 days, longer than the 5-day queue lifetime; at most 90), and
//! slow DNS holding a request (each query has the resolver's timeout; keys are few).

use axum::Json;
use axum::extract::State;
use postern_core::dkim::{DkimKey, DkimKeyState};
use postern_core::event::now_ms;
use postern_dkim::{CheckResult, CheckStatus, DnsRecord, check, dns_record};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::dkim::{KeyView, check_selector, dkim, visible_key};
use crate::domains::visible_domain;
use crate::extract::{ApiJson, ApiQuery, PathParam};
use crate::{AdminState, ApiError};

/// Default grace period of a replaced key: a week (longer than the queue lifetime).
pub const DEFAULT_GRACE_SECS: u64 = 7 * 86_400;
pub const LONGEST_GRACE_SECS: u64 = 90 * 86_400;

#[derive(Debug, Serialize)]
pub struct RecordView {
    selector: String,
    algorithm: &'static str,
    state: DkimKeyState,
    #[serde(flatten)]
    record: DnsRecord,
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    selector: String,
    state: DkimKeyState,
    name: String,
    #[serde(flatten)]
    result: CheckResult,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    selector: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The key that signs from now on.
    selector: String,
    /// How long the replaced key stays published; default 7 days.
    #[serde(default)]
    grace_secs: Option<u64>,
    /// Skip the DNS check.
    #[serde(default)]
    force: bool,
}

/// Every key of a visible domain that should be in DNS now (all but the retired).
async fn published_keys(state: &AdminState, caller: &Caller, name: &str) -> Result<(String, Vec<DkimKey>), ApiError> {
    let domain = visible_domain(state, caller, name).await?.name;
    let dkim = dkim(state)?;
    let (key, scope) = (domain.clone(), caller.scope.clone());
    let list = dkim.store(move |s| s.list_dkim_keys(&scope, Some(&key), Default::default())).await?;
    let now = now_ms();
    Ok((domain, list.items.into_iter().filter(|k| k.published(now)).collect()))
}

pub async fn records(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<Value>, ApiError> {
    let (domain, keys) = published_keys(&state, &caller, &name).await?;
    let now = now_ms();
    let records: Vec<RecordView> = keys
        .into_iter()
        .map(|k| RecordView {
            record: dns_record(&k.domain, &k.selector, k.algorithm, &k.public_key),
            algorithm: k.algorithm.name(),
            state: k.effective_state(now),
            selector: k.selector,
        })
        .collect();
    Ok(Json(json!({"domain": domain, "records": records})))
}

pub async fn check_dns(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<CheckQuery>,
) -> Result<Json<Value>, ApiError> {
    let (domain, mut keys) = match &q.selector {
        Some(selector) => {
            let key = visible_key(&state, &caller, &name, selector).await?;
            (key.domain.clone(), vec![key])
        }
        None => published_keys(&state, &caller, &name).await?,
    };
    let dkim = dkim(&state)?;
    let now = now_ms();
    let mut results = Vec::new();
    for key in keys.drain(..) {
        let result = check(dkim.dns.as_ref(), &key.domain, &key.selector, key.algorithm, &key.public_key).await;
        results.push(CheckView {
            state: key.effective_state(now),
            name: key.record_name(),
            selector: key.selector,
            result,
        });
    }
    let published = results.iter().all(|r| r.result.status == CheckStatus::Published);
    Ok(Json(json!({"domain": domain, "all_published": published, "results": results})))
}

pub async fn rotate(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    let domain = visible_domain(&state, &caller, &name).await?.name;
    let selector = check_selector(&body.selector)?;
    let grace = body.grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > LONGEST_GRACE_SECS {
        return Err(ApiError::bad_field("grace_secs", format!("at most {LONGEST_GRACE_SECS} seconds (90 days)")));
    }
    let key = visible_key(&state, &caller, &domain, &selector)
        .await
        .map_err(|e| if e.status == axum::http::StatusCode::NOT_FOUND { e.with_field("selector") } else { e })?;
    let dkim = dkim(&state)?;
    let now = now_ms();
    if key.state == DkimKeyState::Active {
        return Err(ApiError::conflict(format!("{selector} is already the active {} key", key.algorithm.name())));
    }
    if !body.force {
        let result = check(dkim.dns.as_ref(), &key.domain, &key.selector, key.algorithm, &key.public_key).await;
        if result.status != CheckStatus::Published {
            let text = format!(
                "{} is not published in DNS ({}): {}; publish it first (show-dns), or rotate with force",
                key.record_name(),
                result.status.name(),
                result.detail
            );
            return Err(ApiError::conflict(text).with_field("selector"));
        }
    }
    let retire_at = now.saturating_add(i64::try_from(grace.saturating_mul(1000)).unwrap_or(i64::MAX));
    let (d, s) = (domain.clone(), selector.clone());
    let activation = dkim
        .store(move |store| store.activate_dkim_key(&d, &s, retire_at))
        .await?
        .ok_or_else(|| ApiError::not_found("no such DKIM key").with_field("selector"))?;
    dkim.changed().await;
    let retiring: Vec<String> = activation.retiring.iter().map(|k| k.selector.clone()).collect();
    tracing::info!(
        domain = domain.as_str(),
        selector = selector.as_str(),
        retiring = retiring.join(",").as_str(),
        grace_secs = grace,
        by = caller.name.as_str(),
        "DKIM key rotated"
    );
    let now = now_ms();
    Ok(Json(json!({
        "activated": KeyView::of(activation.activated, now),
        "retiring": activation.retiring.into_iter().map(|k| KeyView::of(k, now)).collect::<Vec<_>>(),
    })))
}
