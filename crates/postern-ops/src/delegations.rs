//! IP ranges a superadmin delegates to a domain (SPEC.md §1): a domain admin may create
//! `ip` accounts only inside them ([`ip_rules`]).
//!
//! Only a superadmin delegates or removes a range ([`ErrorKind::Forbidden`] for a domain
//! admin on its own domain); a domain admin lists its own domains' ranges. Another
//! tenant's domain is "no such domain", exactly like a domain that does not exist.
//! Removing a delegation leaves the ip accounts inside it as they are (a superadmin
//! removes those on purpose, not by side effect).
//!
//! [`ip_rules`]: crate::ip_rules
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use postern_core::tenancy::{IpDelegation, parse_network};
use postern_store::{NewDelegation, Paged};
use serde::Deserialize;

use crate::domains::visible_domain;
use crate::object::{Deleted, object_id};
use crate::page::page;
use crate::{Caller, OpError, Ops, Result};

/// The longest comment on a delegation.
const LONGEST_COMMENT: usize = 200;

/// Which page of a domain's delegations to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DelegationQuery {
    /// At most this many (0: 100; at most 1000).
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A range to delegate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationCreate {
    /// An address or CIDR range; stored in canonical form (host bits cleared).
    pub range: String,
    /// At most 200 characters, one line.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub comment: Option<String>,
}

pub async fn list(ops: &Ops, caller: &Caller, domain: &str, q: DelegationQuery) -> Result<Paged<IpDelegation>> {
    let page = page(q.limit, q.offset)?;
    let domain = visible_domain(ops, caller, domain).await?.name;
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_delegations(&scope, Some(&domain), page)).await
}

pub async fn create(ops: &Ops, caller: &Caller, domain: &str, input: DelegationCreate) -> Result<IpDelegation> {
    let domain = visible_domain(ops, caller, domain).await?.name;
    caller.require_superadmin("delegate IP ranges")?;
    let range = parse_network(&input.range)
        .ok_or_else(|| OpError::bad_field("range", format!("{:?} is not an IP address or CIDR range", input.range)))?;
    let comment = input.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > LONGEST_COMMENT || c.chars().any(char::is_control)) {
        return Err(OpError::bad_field("comment", "a comment is at most 200 characters, one line"));
    }
    let new = NewDelegation { domain, range: range.to_string(), comment };
    ops.directory(move |d| d.create_delegation(&new)).await
}

pub async fn delete(ops: &Ops, caller: &Caller, domain: &str, id: &str) -> Result<Deleted> {
    let domain = visible_domain(ops, caller, domain).await?.name;
    let no_such = || OpError::not_found("no such delegated range");
    let id = object_id(id, "delegated range")?;
    let found = ops.directory(move |d| d.delegation(id)).await?;
    if found.is_none_or(|d| d.domain != domain) {
        return Err(no_such());
    }
    caller.require_superadmin("remove delegated IP ranges")?;
    if !ops.directory(move |d| d.delete_delegation(id)).await? {
        return Err(no_such());
    }
    Ok(Deleted::of(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{TestOps, admin_of, superadmin};

    fn range(text: &str) -> DelegationCreate {
        DelegationCreate { range: text.into(), comment: None }
    }

    #[tokio::test]
    async fn only_a_superadmin_delegates_and_other_tenants_see_nothing() {
        let t = TestOps::new();
        t.domain("a.example").await;
        t.domain("b.example").await;
        let a = admin_of("a.example");
        let e = create(&t.ops, &a, "a.example", range("203.0.113.0/25")).await.err().unwrap();
        assert_eq!(e.kind, ErrorKind::Forbidden, "its own domain: forbidden");
        let e = create(&t.ops, &a, "b.example", range("203.0.113.0/25")).await.err().unwrap();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such domain"), "another tenant's");

        let root = superadmin();
        let e = create(&t.ops, &root, "b.example", range("nope")).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("range")));
        let long = DelegationCreate { comment: Some("x".repeat(201)), ..range("203.0.113.128/25") };
        let e = create(&t.ops, &root, "b.example", long).await.err().unwrap();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::BadInput, Some("comment")));
        let made = create(&t.ops, &root, "b.example", range("203.0.113.200/25")).await.unwrap();
        assert_eq!(made.range, "203.0.113.128/25");

        let id = made.id.to_string();
        let e = delete(&t.ops, &a, "b.example", &id).await.err().unwrap();
        assert_eq!(e.message, "no such domain");
        let e = delete(&t.ops, &root, "a.example", &id).await.err().unwrap();
        assert_eq!(e.message, "no such delegated range", "b's range under a's name");
        assert!(list(&t.ops, &a, "b.example", DelegationQuery::default()).await.is_err());
        assert_eq!(delete(&t.ops, &root, "b.example", &id).await.unwrap(), Deleted::of(made.id));
    }
}
