//! `/rules`: list, create, show, delete the rules of the block and allow lists (SPEC.md §4,
//! seed 004): by client IP, network (CIDR or dotted mask), sender, recipient or sender
//! domain; reject, discard or allow.
//!
//! A rule's value is checked and made canonical for its kind (`192.0.2.0/255.255.255.0`
//! becomes `192.0.2.0/24`, addresses lower-case). Global rules (no domain) are the
//! superadmin's: a domain admin may not create one (403) and never sees one (absent from
//! lists, 404 on show and delete). A domain admin manages its own domains' rules; another
//! tenant's rules and domains are 404, as if they did not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::tenancy::{ListAction, ListKind, ListRule, normalize_domain};
use postern_store::{DirectoryChange, NewRule, Paged, RuleFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, PathParam, object_id, page};
use crate::{AdminState, ApiError};

const LONGEST_COMMENT: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    domain: Option<String>,
    /// `true`: only global rules; `false`: only domains' rules.
    global: Option<bool>,
    kind: Option<ListKind>,
    action: Option<ListAction>,
    value: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRuleBody {
    /// Absent or `null`: a global rule (superadmin only).
    #[serde(default)]
    domain: Option<String>,
    kind: ListKind,
    value: String,
    action: ListAction,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<RuleQuery>,
) -> Result<Json<Paged<ListRule>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let filter = RuleFilter { domain, global: q.global, kind: q.kind, action: q.action, value: q.value };
    Ok(Json(state.directory(move |d| d.list_rules(&caller.scope, &filter, page)).await?))
}

pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRuleBody>,
) -> Result<(StatusCode, Json<ListRule>), ApiError> {
    let domain = match body.domain {
        Some(text) => Some(visible_domain(&state, &caller, &text).await?),
        None => {
            caller.require_superadmin("create global rules")?;
            None
        }
    };
    let value = body.kind.canonical(&body.value).map_err(|e| ApiError::bad_field("value", e))?;
    let comment = body.comment.map(|c| check_comment(&c)).transpose()?.filter(|c| !c.is_empty());
    let new = NewRule { domain, kind: body.kind, value, action: body.action, comment };
    let rule = state.directory(move |d| d.create_rule(&new)).await?;
    state.changed(DirectoryChange::Rules).await;
    Ok((StatusCode::CREATED, Json(rule)))
}

pub async fn show(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<ListRule>, ApiError> {
    visible_rule(&state, &caller, &id).await.map(Json)
}

pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    PathParam(id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let id = visible_rule(&state, &caller, &id).await?.id;
    if !state.directory(move |d| d.delete_rule(id)).await? {
        return Err(ApiError::not_found("no such rule"));
    }
    state.changed(DirectoryChange::Rules).await;
    Ok(Json(json!({"id": id, "result": "deleted"})))
}

/// The rule with the id in a path, if it exists and the caller may see it (a global rule:
/// only a superadmin); otherwise 404.
async fn visible_rule(state: &AdminState, caller: &Caller, text: &str) -> Result<ListRule, ApiError> {
    let id = object_id(text, "rule")?;
    let rule = state.directory(move |d| d.rule(id)).await?;
    rule.filter(|r| match &r.domain {
        Some(domain) => caller.scope.allows(domain),
        None => caller.is_superadmin(),
    })
    .ok_or_else(|| ApiError::not_found("no such rule"))
}

/// The normalized name of a new rule's domain, if it exists and the caller may see it.
async fn visible_domain(state: &AdminState, caller: &Caller, text: &str) -> Result<String, ApiError> {
    let domain = normalize_domain(text).map_err(|e| ApiError::bad_field("domain", e))?;
    let no_domain = || ApiError::not_found("no such domain").with_field("domain");
    if !caller.scope.allows(&domain) {
        return Err(no_domain());
    }
    let key = domain.clone();
    state.directory(move |d| d.domain(&key)).await?.ok_or_else(no_domain)?;
    Ok(domain)
}

fn check_comment(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.chars().count() > LONGEST_COMMENT || text.chars().any(char::is_control) {
        let error = format!("a comment is at most {LONGEST_COMMENT} characters without control characters");
        return Err(ApiError::bad_field("comment", error));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_bounded_text() {
        assert_eq!(check_comment("  spam run  ").unwrap(), "spam run");
        assert_eq!(check_comment(&"x".repeat(LONGEST_COMMENT)).unwrap().len(), LONGEST_COMMENT);
        assert_eq!(check_comment(&"x".repeat(LONGEST_COMMENT + 1)).unwrap_err().field.as_deref(), Some("comment"));
        assert!(check_comment("a\r\nb").is_err());
    }
}
