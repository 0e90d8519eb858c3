//! Inbound relay domains (SPEC.md §4, seed 004 "Eingehende E-Mails für andere E-Mail-Server
//! übermitteln"): list, add, show, remove the domains for which Postern accepts mail from
//! anyone and delivers it to the domain's internal server.
//!
//! Only a superadmin adds or removes them: an entry opens the gateway to the whole
//! internet for one domain. A domain admin sees the entries named like its own domains
//! (and nothing else: another name is "no such inbound domain", as if it did not exist);
//! adding is forbidden to it, removing one of its own too, removing any other is "no such
//! inbound domain".
//!
//! In: [`InboundCreate`], each field checked and named in the error when wrong. Out:
//! [`InboundDomain`] values; every change calls `on_change` with
//! [`DirectoryChange::InboundDomains`] before returning, so the next RCPT sees it.

use postern_core::tenancy::{InboundDomain, InboundTls, check_inbound_host, normalize_domain};
use postern_store::{DirectoryChange, NewInboundDomain, Paged};
use serde::{Deserialize, Serialize};

use crate::page::page;
use crate::rules::check_comment;
use crate::{Caller, OpError, Ops, Result};

/// Which page of inbound relay domains to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboundQuery {
    /// Page size; 0 or absent: 100.
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A new inbound relay domain.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundCreate {
    /// A domain name; stored lower-case without a trailing dot.
    pub name: String,
    /// The internal server: a host name or an IP address.
    pub host: String,
    /// Default 25.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535, default = 25)]
    pub port: Option<u16>,
    /// Default `starttls`: when offered (the certificate is not verified).
    #[serde(default)]
    pub tls: Option<InboundTls>,
    /// Default: true for `implicit`, false otherwise.
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub comment: Option<String>,
}

/// What a removal did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundDeleted {
    pub name: String,
    /// `deleted`.
    pub result: &'static str,
}

pub async fn list(ops: &Ops, caller: &Caller, q: InboundQuery) -> Result<Paged<InboundDomain>> {
    let page = page(q.limit, q.offset)?;
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_inbound_domains(&scope, page)).await
}

pub async fn create(ops: &Ops, caller: &Caller, input: InboundCreate) -> Result<InboundDomain> {
    caller.require_superadmin("add inbound relay domains")?;
    let new = check_new(input)?;
    let created = ops.directory(move |d| d.create_inbound_domain(&new)).await?;
    ops.changed(DirectoryChange::InboundDomains).await;
    Ok(created)
}

pub async fn show(ops: &Ops, caller: &Caller, name: &str) -> Result<InboundDomain> {
    visible(ops, caller, name).await
}

pub async fn delete(ops: &Ops, caller: &Caller, name: &str) -> Result<InboundDeleted> {
    let name = visible(ops, caller, name).await?.name;
    caller.require_superadmin("remove inbound relay domains")?;
    let key = name.clone();
    if !ops.directory(move |d| d.delete_inbound_domain(&key)).await? {
        return Err(OpError::not_found("no such inbound domain"));
    }
    ops.changed(DirectoryChange::InboundDomains).await;
    Ok(InboundDeleted { name, result: "deleted" })
}

/// The named entry, if it exists and the caller may see it; otherwise "no such inbound
/// domain".
async fn visible(ops: &Ops, caller: &Caller, text: &str) -> Result<InboundDomain> {
    let not_found = || OpError::not_found("no such inbound domain");
    let name = normalize_domain(text).map_err(|_| not_found())?;
    if !caller.scope.allows(&name) {
        return Err(not_found());
    }
    ops.directory(move |d| d.inbound_domain(&name)).await?.ok_or_else(not_found)
}

/// Every field checked, the error naming the first wrong one.
fn check_new(input: InboundCreate) -> Result<NewInboundDomain> {
    let name = normalize_domain(&input.name).map_err(|e| OpError::bad_field("name", e))?;
    let host = check_inbound_host(&input.host).map_err(|e| OpError::bad_field("host", e))?;
    let port = input.port.unwrap_or(25);
    if port == 0 {
        return Err(OpError::bad_field("port", "a port is 1 to 65535"));
    }
    let tls = input.tls.unwrap_or_default();
    let require_tls = match (tls, input.require_tls) {
        (InboundTls::None, Some(true)) => {
            return Err(OpError::bad_field("require_tls", "cannot be true with tls \"none\""));
        }
        (InboundTls::Implicit, Some(false)) => {
            return Err(OpError::bad_field("require_tls", "implicit TLS is always required"));
        }
        (_, Some(required)) => required,
        (tls, None) => tls == InboundTls::Implicit,
    };
    let comment = input.comment.as_deref().map(check_comment).transpose()?.filter(|c| !c.is_empty());
    Ok(NewInboundDomain { name, host, port, tls, require_tls, comment })
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;
    use serde_json::{Value, json};

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    fn input(json: Value) -> Result<NewInboundDomain> {
        check_new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn defaults_and_fields_named() {
        let new = input(json!({"name": "Inbound.Example.", "host": "10.0.0.25"})).unwrap();
        assert_eq!(
            (new.name.as_str(), new.port, new.tls, new.require_tls),
            ("inbound.example", 25, InboundTls::Starttls, false)
        );
        let new = input(json!({"name": "a.example", "host": "mx.a.example", "port": 465, "tls": "implicit"})).unwrap();
        assert!(new.require_tls);
        let field = |json: Value| input(json).unwrap_err().field;
        assert_eq!(field(json!({"name": "localhost", "host": "x.example"})).as_deref(), Some("name"));
        assert_eq!(field(json!({"name": "a.example", "host": "x y"})).as_deref(), Some("host"));
        assert_eq!(field(json!({"name": "a.example", "host": "x.example", "port": 0})).as_deref(), Some("port"));
        let none_required = json!({"name": "a.example", "host": "x.example", "tls": "none", "require_tls": true});
        assert_eq!(field(none_required).as_deref(), Some("require_tls"));
        let comment = json!({"name": "a.example", "host": "x.example", "comment": "a\nb"});
        assert_eq!(field(comment).as_deref(), Some("comment"));
        let blank = input(json!({"name": "a.example", "host": "x.example", "comment": "   "})).unwrap();
        assert_eq!(blank.comment, None);
    }

    #[tokio::test]
    async fn a_domain_admin_is_forbidden_only_on_its_own_entries() {
        let t = TestOps::new();
        let root = caller(Role::Superadmin, &[]);
        for name in ["a.example", "b.example"] {
            let new = InboundCreate {
                name: name.into(),
                host: "10.0.0.25".into(),
                port: None,
                tls: None,
                require_tls: None,
                comment: None,
            };
            create(&t.ops, &root, new).await.unwrap();
        }
        let a = caller(Role::DomainAdmin, &["a.example"]);
        assert_eq!(delete(&t.ops, &a, "a.example").await.unwrap_err().kind, ErrorKind::Forbidden);
        let theirs = delete(&t.ops, &a, "b.example").await.unwrap_err();
        assert_eq!(theirs, delete(&t.ops, &a, "ghost.example").await.unwrap_err());
        assert_eq!((theirs.kind, theirs.message.as_str()), (ErrorKind::NotFound, "no such inbound domain"));
        assert_eq!(show(&t.ops, &a, "B.Example.").await.unwrap_err(), theirs);
        let listed = list(&t.ops, &a, InboundQuery::default()).await.unwrap();
        assert_eq!(listed.items.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["a.example"]);
        assert_eq!(show(&t.ops, &root, "b.example").await.unwrap().host, "10.0.0.25", "untouched");
    }
}
