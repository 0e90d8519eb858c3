//! `/whoami` and `/tokens`: who the caller is; list, create and delete API tokens
//! (superadmin only).
//!
//! Defends against: secrets at rest (a new secret is shown once, in the creation answer,
//! and only its SHA-256 is stored), domain-admin tokens for domains that do not exist, and
//! locking everyone out (a token cannot delete itself, so the caller's superadmin token
//! always remains).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::{ApiToken, Role, normalize_domain};
use postern_store::{NewToken, Paged};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Caller, try_new_token_secret};
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError};

const LONGEST_NAME: usize = 128;
const MOST_DOMAINS: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    role: Role,
    #[serde(default)]
    domains: Vec<String>,
}

pub async fn whoami(caller: Caller) -> Json<Value> {
    let domains = caller.domains().unwrap_or_default();
    Json(json!({"token_id": caller.token_id, "name": caller.name, "role": caller.role, "domains": domains}))
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<Paged<ApiToken>>, ApiError> {
    caller.require_superadmin("manage API tokens")?;
    let page = page(q.limit, q.offset)?;
    let all = state.directory(|d| d.list_tokens()).await?;
    let limit = page.effective_limit();
    let items = all.iter().skip(usize::try_from(page.offset).unwrap_or(usize::MAX)).take(limit as usize).cloned();
    Ok(Json(Paged { items: items.collect(), total: all.len() as u64, limit, offset: page.offset }))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_superadmin("manage API tokens")?;
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > LONGEST_NAME || name.chars().any(char::is_control) {
        let error = format!("a token name is 1 to {LONGEST_NAME} characters without control characters");
        return Err(ApiError::bad_field("name", error));
    }
    let domains = token_domains(&state, body.role, body.domains).await?;
    let (secret, secret_hash) = try_new_token_secret().map_err(ApiError::internal)?;
    let new = NewToken { name, role: body.role, domains, secret_hash };
    let token = state.directory(move |d| d.create_token(&new)).await?;
    Ok((StatusCode::CREATED, Json(json!({"token": token, "secret": secret}))))
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    caller.require_superadmin("manage API tokens")?;
    let id = object_id(&id, "token")?;
    if id == caller.token_id {
        return Err(ApiError::conflict("a token cannot delete itself; use another superadmin token"));
    }
    if !state.directory(move |d| d.delete_token(id)).await? {
        return Err(ApiError::not_found("no such token"));
    }
    Ok(Json(json!({"id": id, "result": "deleted"})))
}

/// A domain admin's domains: at least one, each existing, normalized, without repeats.
/// A superadmin sees every domain and takes none.
async fn token_domains(state: &AdminState, role: Role, given: Vec<String>) -> Result<Vec<String>, ApiError> {
    if role == Role::Superadmin {
        if !given.is_empty() {
            return Err(ApiError::bad_field("domains", "a superadmin token sees every domain; give no domains"));
        }
        return Ok(Vec::new());
    }
    if given.is_empty() {
        return Err(ApiError::bad_field("domains", "a domain_admin token needs at least one domain"));
    }
    if given.len() > MOST_DOMAINS {
        return Err(ApiError::bad_field("domains", format!("at most {MOST_DOMAINS} domains")));
    }
    let mut domains: Vec<String> = Vec::with_capacity(given.len());
    for (i, text) in given.iter().enumerate() {
        let field = format!("domains[{i}]");
        let name = normalize_domain(text).map_err(|e| ApiError::bad_field(&field, e))?;
        let key = name.clone();
        if state.directory(move |d| d.domain(&key)).await?.is_none() {
            return Err(ApiError::not_found("no such domain").with_field(field));
        }
        if !domains.contains(&name) {
            domains.push(name);
        }
    }
    Ok(domains)
}
