//! `/inbound-domains`: list, add, show, remove inbound relay domains (SPEC.md §4, seed 004
//! "Eingehende E-Mails für andere E-Mail-Server übermitteln"): domains for which Postern
//! accepts mail from anyone and delivers it to the domain's internal server.
//!
//! Only a superadmin adds or removes them: an entry opens the gateway to the whole
//! internet for one domain. A domain admin sees the entries named like its own domains
//! (and nothing else: another name is 404, as if it did not exist); adding answers 403,
//! removing one of its own 403, removing any other 404.
//!
//! In: `{"name", "host", "port", "tls", "require_tls", "comment"}`, each checked and named
//! in the error when wrong. Out: [`InboundDomain`] values; every change calls `on_change`
//! with [`DirectoryChange::InboundDomains`] before the answer, so the next RCPT sees it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::{InboundDomain, InboundTls, check_inbound_host, normalize_domain};
use postern_store::{DirectoryChange, NewInboundDomain, Paged};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, page};
use crate::{AdminState, ApiError};

const LONGEST_COMMENT: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundQuery {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInboundBody {
    name: String,
    host: String,
    /// Default 25.
    #[serde(default)]
    port: Option<u16>,
    /// Default `starttls` (opportunistic).
    #[serde(default)]
    tls: Option<InboundTls>,
    /// Default: true for `implicit`, false otherwise.
    #[serde(default)]
    require_tls: Option<bool>,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<InboundQuery>,
) -> Result<Json<Paged<InboundDomain>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    Ok(Json(state.directory(move |d| d.list_inbound_domains(&caller.scope, page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewInboundBody>,
) -> Result<(StatusCode, Json<InboundDomain>), ApiError> {
    caller.require_superadmin("add inbound relay domains")?;
    let new = check_new(body)?;
    let created = state.directory(move |d| d.create_inbound_domain(&new)).await?;
    state.changed(DirectoryChange::InboundDomains).await;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<InboundDomain>, ApiError> {
    visible(&state, &caller, &name).await.map(Json)
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(name): PathParam,
) -> Result<Json<Value>, ApiError> {
    let name = visible(&state, &caller, &name).await?.name;
    caller.require_superadmin("remove inbound relay domains")?;
    let key = name.clone();
    if !state.directory(move |d| d.delete_inbound_domain(&key)).await? {
        return Err(ApiError::not_found("no such inbound domain"));
    }
    state.changed(DirectoryChange::InboundDomains).await;
    Ok(Json(json!({"name": name, "result": "deleted"})))
}

/// The entry named in a path, if it exists and the caller may see it; otherwise 404.
async fn visible(state: &AdminState, caller: &Caller, text: &str) -> Result<InboundDomain, ApiError> {
    let not_found = || ApiError::not_found("no such inbound domain");
    let name = normalize_domain(text).map_err(|_| not_found())?;
    if !caller.scope.allows(&name) {
        return Err(not_found());
    }
    state.directory(move |d| d.inbound_domain(&name)).await?.ok_or_else(not_found)
}

/// Every field checked, the error naming the first wrong one.
fn check_new(body: NewInboundBody) -> Result<NewInboundDomain, ApiError> {
    let name = normalize_domain(&body.name).map_err(|e| ApiError::bad_field("name", e))?;
    let host = check_inbound_host(&body.host).map_err(|e| ApiError::bad_field("host", e))?;
    let port = body.port.unwrap_or(25);
    if port == 0 {
        return Err(ApiError::bad_field("port", "a port is 1 to 65535"));
    }
    let tls = body.tls.unwrap_or_default();
    let require_tls = match (tls, body.require_tls) {
        (InboundTls::None, Some(true)) => {
            return Err(ApiError::bad_field("require_tls", "cannot be true with tls \"none\""));
        }
        (InboundTls::Implicit, Some(false)) => {
            return Err(ApiError::bad_field("require_tls", "implicit TLS is always required"));
        }
        (_, Some(required)) => required,
        (tls, None) => tls == InboundTls::Implicit,
    };
    let comment = match body.comment.as_deref().map(str::trim) {
        Some(text) if text.chars().count() > LONGEST_COMMENT || text.chars().any(char::is_control) => {
            let error = format!("a comment is at most {LONGEST_COMMENT} characters without control characters");
            return Err(ApiError::bad_field("comment", error));
        }
        Some(text) if !text.is_empty() => Some(text.to_string()),
        _ => None,
    };
    Ok(NewInboundDomain { name, host, port, tls, require_tls, comment })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: Value) -> Result<NewInboundDomain, ApiError> {
        check_new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn defaults_and_fields_named() {
        let new = body(json!({"name": "Inbound.Example.", "host": "10.0.0.25"})).unwrap();
        assert_eq!(
            (new.name.as_str(), new.port, new.tls, new.require_tls),
            ("inbound.example", 25, InboundTls::Starttls, false)
        );
        let new = body(json!({"name": "a.example", "host": "mx.a.example", "port": 465, "tls": "implicit"})).unwrap();
        assert!(new.require_tls);
        let field = |json: Value| body(json).unwrap_err().field;
        assert_eq!(field(json!({"name": "localhost", "host": "x.example"})).as_deref(), Some("name"));
        assert_eq!(field(json!({"name": "a.example", "host": "x y"})).as_deref(), Some("host"));
        assert_eq!(field(json!({"name": "a.example", "host": "x.example", "port": 0})).as_deref(), Some("port"));
        let none_required = json!({"name": "a.example", "host": "x.example", "tls": "none", "require_tls": true});
        assert_eq!(field(none_required).as_deref(), Some("require_tls"));
        let comment = json!({"name": "a.example", "host": "x.example", "comment": "a\nb"});
        assert_eq!(field(comment).as_deref(), Some("comment"));
    }
}
