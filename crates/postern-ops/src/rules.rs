//! The rules of the block and allow lists (SPEC.md §4, seed 004): list, create, show,
//! delete. A rule matches a client IP, a network (CIDR or dotted mask), a sender, a
//! recipient or a sender domain, and rejects, discards or allows.
//!
//! A rule's value is checked and made canonical for its kind (`192.0.2.0/255.255.255.0`
//! becomes `192.0.2.0/24`, addresses lower-case). Global rules (no domain) are the
//! superadmin's: a domain admin may not create one ([`ErrorKind::Forbidden`]) and never
//! sees one (absent from lists, "no such rule" on show and delete). A domain admin manages
//! its own domains' rules; another tenant's rules and domains are "no such ...", as if
//! they did not exist. Every change reloads the SMTP policy ([`DirectoryChange::Rules`]).
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use postern_core::tenancy::{ListAction, ListKind, ListRule, normalize_domain};
use postern_store::{DirectoryChange, NewRule, Paged, RuleFilter};
use serde::{Deserialize, Serialize};

use crate::page::page;
use crate::{Caller, OpError, Ops, Result};

/// The longest comment of a rule or an inbound relay domain, in characters.
pub const LONGEST_COMMENT: usize = 500;

/// Which rules to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RuleQuery {
    /// The rules of this domain.
    pub domain: Option<String>,
    /// `true`: only global rules; `false`: only domains' rules.
    pub global: Option<bool>,
    /// What the rule matches.
    #[param(inline)]
    pub kind: Option<ListKind>,
    /// What the rule does.
    #[param(inline)]
    pub action: Option<ListAction>,
    /// Part of the value.
    pub value: Option<String>,
    /// Page size; 0 or absent: 100.
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A new rule.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCreate {
    /// Absent or `null`: a global rule (superadmin only).
    #[serde(default)]
    pub domain: Option<String>,
    pub kind: ListKind,
    /// ip: an address; network: a CIDR, or an IPv4 address with a dotted mask
    /// (192.0.2.0/255.255.255.0, stored as CIDR); sender, recipient: an address;
    /// sender_domain: a domain (exact, not its subdomains).
    pub value: String,
    pub action: ListAction,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub comment: Option<String>,
}

/// What a delete did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleDeleted {
    pub id: i64,
    /// `deleted`.
    pub result: &'static str,
}

pub async fn list(ops: &Ops, caller: &Caller, q: RuleQuery) -> Result<Paged<ListRule>> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let filter = RuleFilter { domain, global: q.global, kind: q.kind, action: q.action, value: q.value };
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_rules(&scope, &filter, page)).await
}

/// A domain's rule (its domain visible to the caller), or a global one (superadmin only).
pub async fn create(ops: &Ops, caller: &Caller, input: RuleCreate) -> Result<ListRule> {
    let domain = match input.domain {
        Some(text) => Some(visible_domain(ops, caller, &text).await?),
        None => {
            caller.require_superadmin("create global rules")?;
            None
        }
    };
    let value = input.kind.canonical(&input.value).map_err(|e| OpError::bad_field("value", e))?;
    let comment = input.comment.map(|c| check_comment(&c)).transpose()?.filter(|c| !c.is_empty());
    let new = NewRule { domain, kind: input.kind, value, action: input.action, comment };
    let rule = ops.directory(move |d| d.create_rule(&new)).await?;
    ops.changed(DirectoryChange::Rules).await;
    Ok(rule)
}

pub async fn show(ops: &Ops, caller: &Caller, id: i64) -> Result<ListRule> {
    visible_rule(ops, caller, id).await
}

pub async fn delete(ops: &Ops, caller: &Caller, id: i64) -> Result<RuleDeleted> {
    let id = visible_rule(ops, caller, id).await?.id;
    if !ops.directory(move |d| d.delete_rule(id)).await? {
        return Err(OpError::not_found("no such rule"));
    }
    ops.changed(DirectoryChange::Rules).await;
    Ok(RuleDeleted { id, result: "deleted" })
}

/// The rule, if it exists and the caller may see it (a global rule: only a superadmin);
/// otherwise "no such rule".
async fn visible_rule(ops: &Ops, caller: &Caller, id: i64) -> Result<ListRule> {
    let rule = ops.directory(move |d| d.rule(id)).await?;
    rule.filter(|r| match &r.domain {
        Some(domain) => caller.scope.allows(domain),
        None => caller.is_superadmin(),
    })
    .ok_or_else(|| OpError::not_found("no such rule"))
}

/// The normalized name of a new rule's domain, if it exists and the caller may see it.
async fn visible_domain(ops: &Ops, caller: &Caller, text: &str) -> Result<String> {
    let domain = normalize_domain(text).map_err(|e| OpError::bad_field("domain", e))?;
    let no_domain = || OpError::not_found("no such domain").with_field("domain");
    if !caller.scope.allows(&domain) {
        return Err(no_domain());
    }
    let key = domain.clone();
    ops.directory(move |d| d.domain(&key)).await?.ok_or_else(no_domain)?;
    Ok(domain)
}

/// A comment: trimmed, at most [`LONGEST_COMMENT`] characters, no control characters.
pub(crate) fn check_comment(text: &str) -> Result<String> {
    let text = text.trim();
    if text.chars().count() > LONGEST_COMMENT || text.chars().any(char::is_control) {
        let error = format!("a comment is at most {LONGEST_COMMENT} characters without control characters");
        return Err(OpError::bad_field("comment", error));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    #[test]
    fn comments_are_bounded_text() {
        assert_eq!(check_comment("  spam run  ").unwrap(), "spam run");
        assert_eq!(check_comment(&"x".repeat(LONGEST_COMMENT)).unwrap().len(), LONGEST_COMMENT);
        assert_eq!(check_comment(&"x".repeat(LONGEST_COMMENT + 1)).unwrap_err().field.as_deref(), Some("comment"));
        assert!(check_comment("a\r\nb").is_err());
    }

    fn rule(domain: Option<&str>, value: &str) -> RuleCreate {
        let domain = domain.map(str::to_string);
        RuleCreate { domain, kind: ListKind::Ip, value: value.into(), action: ListAction::Reject, comment: None }
    }

    #[tokio::test]
    async fn another_tenants_rule_is_no_such_rule() {
        let t = TestOps::new();
        t.domains(&["a.example", "b.example"]);
        let root = caller(Role::Superadmin, &[]);
        let theirs = create(&t.ops, &root, rule(Some("b.example"), "192.0.2.1")).await.unwrap();
        let global = create(&t.ops, &root, rule(None, "192.0.2.2")).await.unwrap();
        let a = caller(Role::DomainAdmin, &["a.example"]);
        for id in [theirs.id, global.id, 987_654] {
            let e = show(&t.ops, &a, id).await.unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such rule"), "{id}");
            assert_eq!(delete(&t.ops, &a, id).await.unwrap_err(), e, "{id}");
        }
        let into_theirs = create(&t.ops, &a, rule(Some("b.example"), "192.0.2.3")).await.unwrap_err();
        let into_none = create(&t.ops, &a, rule(Some("ghost.example"), "192.0.2.3")).await.unwrap_err();
        assert_eq!(into_theirs, into_none);
        assert_eq!((into_theirs.kind, into_theirs.field.as_deref()), (ErrorKind::NotFound, Some("domain")));
        let global = create(&t.ops, &a, rule(None, "192.0.2.3")).await.unwrap_err();
        assert_eq!(global.kind, ErrorKind::Forbidden);
        let listed = list(&t.ops, &a, RuleQuery::default()).await.unwrap();
        assert_eq!(listed.total, 0, "{listed:?}");
        assert_eq!(show(&t.ops, &root, theirs.id).await.unwrap(), theirs, "untouched");
    }
}
