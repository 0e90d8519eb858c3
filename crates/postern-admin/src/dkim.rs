//! DKIM keys in the API (SPEC.md §6): list (`GET /dkim`, `GET /domains/{name}/dkim/keys`),
//! generate or import (`POST /domains/{name}/dkim/keys`), show and remove
//! (`/domains/{name}/dkim/keys/{selector}`). DNS records, checks and rotation are in
//! `dkim_dns.rs`.
//!
//! A domain admin manages its own domains' keys; another tenant's domain is "no such
//! domain" (404), as everywhere. Defends against: private keys leaving the server (never
//! in an answer, sealed before they reach the store), keys DKIM cannot use (refused with
//! the reason, field `private_key_pem` or `bits`), selectors DNS cannot carry, removing the
//! key that signs by mistake (409 unless `force`), and key generation blocking the async
//! threads (it runs on a blocking thread: RSA takes a while).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState, valid_selector};
use postern_core::event::now_ms;
use postern_core::tenancy::normalize_domain;
use postern_dkim::{DnsRecord, KeyIdentity, KeyPair, dns_record};
use postern_store::{NewDkimKey, Paged};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::domains::visible_domain;
use crate::extract::{ApiJson, ApiQuery, PathPair, PathParam, page};
use crate::{AdminState, ApiError, blocking};

pub use postern_ops::DkimAdmin;

/// A key as the API shows it: its state now (`retired` once a retiring key's grace period
/// is over) and the DNS record that publishes it. Never the private key.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub state: DkimKeyState,
    pub public_key: String,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_at_ms: Option<i64>,
    pub dns: DnsRecord,
}

impl KeyView {
    pub fn of(key: DkimKey, now_ms: i64) -> KeyView {
        let dns = dns_record(&key.domain, &key.selector, key.algorithm, &key.public_key);
        KeyView {
            state: key.effective_state(now_ms),
            domain: key.domain,
            selector: key.selector,
            algorithm: key.algorithm,
            public_key: key.public_key,
            created_at_ms: key.created_at_ms,
            activated_at_ms: key.activated_at_ms,
            retire_at_ms: key.retire_at_ms,
            dns,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    domain: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    selector: String,
    /// Absent: RSA, or the imported key's.
    #[serde(default)]
    algorithm: Option<DkimAlgorithm>,
    /// RSA only: 2048 (default) to 4096.
    #[serde(default)]
    bits: Option<usize>,
    /// Import this key (PKCS#1 or PKCS#8 PEM) instead of generating one.
    #[serde(default)]
    private_key_pem: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForceQuery {
    #[serde(default)]
    force: bool,
}

pub(crate) fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "DKIM is not available on this server")
}

/// The DKIM part of the state, or 503.
pub(crate) fn dkim(state: &AdminState) -> Result<&DkimAdmin, ApiError> {
    state.dkim.as_ref().ok_or_else(unavailable)
}

fn views(list: Paged<DkimKey>) -> Paged<KeyView> {
    let now = now_ms();
    Paged {
        items: list.items.into_iter().map(|k| KeyView::of(k, now)).collect(),
        total: list.total,
        limit: list.limit,
        offset: list.offset,
    }
}

pub async fn list_all(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<KeyQuery>,
) -> Result<Json<Paged<KeyView>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let dkim = dkim(&state)?;
    let list = dkim.store(move |s| s.list_dkim_keys(&caller.scope, domain.as_deref(), page)).await?;
    Ok(Json(views(list)))
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Paged<KeyView>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = visible_domain(&state, &caller, &name).await?.name;
    let dkim = dkim(&state)?;
    let list = dkim.store(move |s| s.list_dkim_keys(&caller.scope, Some(&domain), page)).await?;
    Ok(Json(views(list)))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let domain = visible_domain(&state, &caller, &name).await?.name;
    let dkim = dkim(&state)?.clone();
    let selector = check_selector(&body.selector)?;
    let pair = make_key(body).await?;
    let identity = KeyIdentity { domain: &domain, selector: &selector, algorithm: pair.algorithm() };
    let sealed = dkim.master_key.seal(pair.pkcs8(), identity).map_err(ApiError::internal)?;
    let new = NewDkimKey {
        domain,
        selector,
        algorithm: pair.algorithm(),
        public_key: pair.public_key().to_string(),
        sealed_private_key: sealed,
        master_key_id: dkim.master_key.id().to_string(),
    };
    let key = dkim.store(move |s| s.create_dkim_key(&new)).await?;
    tracing::info!(
        domain = key.domain.as_str(),
        selector = key.selector.as_str(),
        algorithm = key.algorithm.name(),
        by = caller.name.as_str(),
        "DKIM key created (pending)"
    );
    Ok((StatusCode::CREATED, Json(KeyView::of(key, now_ms()))))
}

/// Generates (on a blocking thread) or imports the key the body asks for.
async fn make_key(body: NewKeyBody) -> Result<KeyPair, ApiError> {
    match body.private_key_pem {
        Some(pem) => {
            if body.bits.is_some() {
                return Err(ApiError::bad_field("bits", "an imported key has its own size"));
            }
            let pair = KeyPair::from_pem(&pem).map_err(|e| ApiError::bad_field("private_key_pem", e.to_string()))?;
            match body.algorithm {
                Some(algorithm) if algorithm != pair.algorithm() => Err(ApiError::bad_field(
                    "algorithm",
                    format!("the key is {}, not {}", pair.algorithm().name(), algorithm.name()),
                )),
                _ => Ok(pair),
            }
        }
        None => {
            let algorithm = body.algorithm.unwrap_or(DkimAlgorithm::Rsa);
            if let Some(bits) = body.bits
                && (algorithm != DkimAlgorithm::Rsa || !postern_dkim::key::RSA_BITS.contains(&bits))
            {
                return Err(ApiError::bad_field("bits", "RSA keys have 2048 to 4096 bits; Ed25519 keys no size"));
            }
            blocking(move || KeyPair::generate(algorithm, body.bits)).await?.map_err(ApiError::internal)
        }
    }
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, selector): PathPair,
) -> Result<Json<KeyView>, ApiError> {
    let key = visible_key(&state, &caller, &name, &selector).await?;
    Ok(Json(KeyView::of(key, now_ms())))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathPair(name, selector): PathPair,
    ApiQuery(q): ApiQuery<ForceQuery>,
) -> Result<Json<Value>, ApiError> {
    let key = visible_key(&state, &caller, &name, &selector).await?;
    let dkim = dkim(&state)?;
    let active = key.state == DkimKeyState::Active;
    if active && !q.force {
        return Err(ApiError::conflict(format!(
            "{} is the active {} key of {}: rotate to another key first, or remove it with force",
            key.selector,
            key.algorithm.name(),
            key.domain
        )));
    }
    let (domain, selector) = (key.domain.clone(), key.selector.clone());
    if !dkim.store(move |s| s.delete_dkim_key(&domain, &selector)).await? {
        return Err(ApiError::not_found("no such DKIM key"));
    }
    if active {
        dkim.changed().await;
    }
    tracing::info!(
        domain = key.domain.as_str(),
        selector = key.selector.as_str(),
        by = caller.name.as_str(),
        "DKIM key removed"
    );
    Ok(Json(json!({"domain": key.domain, "selector": key.selector, "result": "deleted"})))
}

/// The key named in a path, if its domain is visible to the caller and it exists; 404
/// otherwise (first "no such domain", exactly as for any other domain path).
pub(crate) async fn visible_key(
    state: &AdminState,
    caller: &Caller,
    domain: &str,
    selector: &str,
) -> Result<DkimKey, ApiError> {
    let domain = visible_domain(state, caller, domain).await?.name;
    let dkim = dkim(state)?;
    let not_found = || ApiError::not_found("no such DKIM key");
    if !valid_selector(selector) {
        return Err(not_found());
    }
    let selector = selector.to_ascii_lowercase();
    dkim.store(move |s| s.dkim_key(&domain, &selector)).await?.ok_or_else(not_found)
}

/// A selector from a body: one DNS label, stored lower-case.
pub(crate) fn check_selector(text: &str) -> Result<String, ApiError> {
    if valid_selector(text) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_field(
            "selector",
            "a selector is one DNS label: letters, digits and inner hyphens, at most 63",
        ))
    }
}
