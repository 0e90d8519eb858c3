//! Customer domains: list, create, show, change, delete.
//!
//! Only a superadmin creates and deletes domains and switches the outgoing filter; a
//! domain admin sees and edits its own domains (sender security, abuse contact) and
//! nothing else: another tenant's domain is "no such domain" ([`ErrorKind::NotFound`]),
//! never forbidden.
//!
//! [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound

use postern_core::Address;
use postern_core::tenancy::{Domain, IpCheck, SenderSecurity, normalize_domain};
use postern_store::{DirectoryChange, DomainChange, DomainFilter, NewDomain, Paged};
use serde::{Deserialize, Deserializer, Serialize};

use crate::page::page;
use crate::{Caller, OpError, Ops, Result};

const MOST_LIST_ENTRIES: usize = 1000;

/// Which domains to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DomainQuery {
    /// Part of the name.
    pub name: Option<String>,
    pub filter_enabled: Option<bool>,
    /// At most this many (0: 100; at most 1000).
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub offset: u64,
}

/// A new domain.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainCreate {
    pub name: String,
    /// Scan this domain's outgoing mail (superadmin).
    #[serde(default)]
    pub filter_enabled: bool,
    #[serde(default)]
    pub sender_security: SenderSecurity,
    /// Where ARF reports for quarantined messages go.
    #[serde(default)]
    pub abuse_contact: Option<String>,
}

/// A change to a domain: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    /// Superadmin only.
    #[serde(default)]
    pub filter_enabled: Option<bool>,
    #[serde(default)]
    pub sender_security: Option<SenderSecurity>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub abuse_contact: Option<Option<String>>,
}

/// What a delete did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DomainDeleted {
    pub name: String,
    /// `deleted`.
    pub result: &'static str,
}

/// For `Option<Option<T>>` fields: a present field (even `null`) is `Some`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

pub async fn list(ops: &Ops, caller: &Caller, q: DomainQuery) -> Result<Paged<Domain>> {
    let page = page(q.limit, q.offset)?;
    let filter = DomainFilter { name: q.name, filter_enabled: q.filter_enabled };
    let scope = caller.scope.clone();
    ops.directory(move |d| d.list_domains(&scope, &filter, page)).await
}

pub async fn create(ops: &Ops, caller: &Caller, input: DomainCreate) -> Result<Domain> {
    caller.require_superadmin("create domains")?;
    let new = NewDomain {
        name: normalize_domain(&input.name).map_err(|e| OpError::bad_field("name", e))?,
        filter_enabled: input.filter_enabled,
        sender_security: check_sender_security(input.sender_security)?,
        abuse_contact: input.abuse_contact.as_deref().map(check_abuse_contact).transpose()?,
    };
    let domain = ops.directory(move |d| d.create_domain(&new)).await?;
    ops.changed(DirectoryChange::Domain(domain.name.clone())).await;
    Ok(domain)
}

pub async fn show(ops: &Ops, caller: &Caller, name: &str) -> Result<Domain> {
    visible_domain(ops, caller, name).await
}

pub async fn update(ops: &Ops, caller: &Caller, name: &str, patch: DomainPatch) -> Result<Domain> {
    let current = visible_domain(ops, caller, name).await?;
    if patch.filter_enabled.is_some_and(|on| on != current.filter_enabled) {
        caller.require_superadmin("switch the outgoing filter")?;
    }
    let change = DomainChange {
        filter_enabled: patch.filter_enabled,
        sender_security: patch.sender_security.map(check_sender_security).transpose()?,
        abuse_contact: match patch.abuse_contact {
            Some(Some(text)) => Some(Some(check_abuse_contact(&text)?)),
            other => other,
        },
    };
    let name = current.name;
    let updated = ops.directory(move |d| d.update_domain(&name, &change)).await?;
    let domain = updated.ok_or_else(|| OpError::not_found("no such domain"))?;
    ops.changed(DirectoryChange::Domain(domain.name.clone())).await;
    Ok(domain)
}

pub async fn delete(ops: &Ops, caller: &Caller, name: &str) -> Result<DomainDeleted> {
    let current = visible_domain(ops, caller, name).await?;
    caller.require_superadmin("delete domains")?;
    let name = current.name;
    let key = name.clone();
    if !ops.directory(move |d| d.delete_domain(&key)).await? {
        return Err(OpError::not_found("no such domain"));
    }
    ops.changed(DirectoryChange::Domain(name.clone())).await;
    Ok(DomainDeleted { name, result: "deleted" })
}

/// The named domain, if it exists and the caller may see it; otherwise "no such domain".
pub async fn visible_domain(ops: &Ops, caller: &Caller, text: &str) -> Result<Domain> {
    let not_found = || OpError::not_found("no such domain");
    let name = normalize_domain(text).map_err(|_| not_found())?;
    if !caller.scope.allows(&name) {
        return Err(not_found());
    }
    ops.directory(move |d| d.domain(&name)).await?.ok_or_else(not_found)
}

/// Seed 003's settings, normalized: lower-case sender addresses, networks without host bits.
fn check_sender_security(mut s: SenderSecurity) -> Result<SenderSecurity> {
    if s.allowed_senders.len() > MOST_LIST_ENTRIES {
        let error = format!("at most {MOST_LIST_ENTRIES} addresses");
        return Err(OpError::bad_field("sender_security.allowed_senders", error));
    }
    if s.allowed_ips.len() > MOST_LIST_ENTRIES {
        let error = format!("at most {MOST_LIST_ENTRIES} networks");
        return Err(OpError::bad_field("sender_security.allowed_ips", error));
    }
    for (i, sender) in s.allowed_senders.iter_mut().enumerate() {
        let address = Address::parse(sender.trim(), false).map_err(|e| {
            OpError::bad_field(&format!("sender_security.allowed_senders[{i}]"), format!("not an address: {e}"))
        })?;
        *sender = address.to_string().to_ascii_lowercase();
    }
    for net in &mut s.allowed_ips {
        *net = net.trunc();
    }
    if s.ip_check == IpCheck::Allowlist && s.allowed_ips.is_empty() {
        return Err(OpError::bad_field(
            "sender_security.allowed_ips",
            "the allowlist check needs at least one network",
        ));
    }
    Ok(s)
}

fn check_abuse_contact(text: &str) -> Result<String> {
    Address::parse(text.trim(), false)
        .map(|a| a.to_string())
        .map_err(|e| OpError::bad_field("abuse_contact", format!("not an address: {e}")))
}
