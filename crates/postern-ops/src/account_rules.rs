//! The checks behind [`accounts`](crate::accounts): an account's canonical name for its
//! kind, which kinds have a password (and hashing it), whether the caller may have an
//! `ip` account over a range ([`ip_rules`](crate::ip_rules) over the domain's
//! delegations), and what a refused overlap may say.
//!
//! Defends against: a domain admin learning about other tenants from a refusal (its
//! refusals name nothing but its own request; only a superadmin hears which range or
//! account is in the way), and passwords on the async threads (hashed off them).

use ipnet::IpNet;
use postern_core::Address;
use postern_core::tenancy::{AccountKind, normalize_domain, parse_network};
use postern_policy::password;
use postern_store::{Page, StoreError};

use crate::ip_rules::{IpCaller, IpRefusal};
use crate::{Caller, OpError, Ops, Result, blocking};

/// The canonical name of a new account of `kind` in `domain`.
pub(crate) fn account_name(kind: AccountKind, domain: &str, name: Option<&str>) -> Result<String> {
    let bad = |error: String| OpError::bad_field("name", error);
    match (kind, name) {
        (AccountKind::Ip, Some(text)) => parse_network(text)
            .map(|net| net.to_string())
            .ok_or_else(|| bad(format!("{text:?} is not an IP address or CIDR range"))),
        (AccountKind::Ip, None) => Err(bad("an ip account needs a name: an address or CIDR range".into())),
        (AccountKind::User, Some(text)) => {
            let address = Address::parse(text.trim(), false).map_err(|e| bad(format!("not an address: {e}")))?;
            if !address.domain.as_str().eq_ignore_ascii_case(domain) {
                return Err(bad(format!("a user account's address must be of {domain}")));
            }
            Ok(address.to_string().to_ascii_lowercase())
        }
        (AccountKind::User, None) => Err(bad("a user account needs a name: its address".into())),
        (AccountKind::Domain, Some(text)) if normalize_domain(text).as_deref() != Ok(domain) => {
            Err(bad(format!("a domain account's name is its domain, {domain}")))
        }
        (AccountKind::Domain, _) => Ok(domain.to_string()),
    }
}

/// `ip` accounts have no password; the others need one when created.
pub(crate) fn check_password_presence(kind: AccountKind, password: Option<&str>, creating: bool) -> Result<()> {
    match (kind, password) {
        (AccountKind::Ip, Some(_)) => Err(OpError::bad_field("password", "an ip account has no password")),
        (AccountKind::User | AccountKind::Domain, None) if creating => {
            Err(OpError::bad_field("password", format!("a {} account needs a password", kind.name())))
        }
        (_, Some(p)) => password::check_new(p).map_err(|e| OpError::bad_field("password", e)),
        _ => Ok(()),
    }
}

/// argon2id, off the async threads. The password is dropped there.
pub(crate) async fn hash_password(password: String) -> Result<String> {
    blocking(move || password::hash(&password)).await?.map_err(OpError::internal)
}

/// Whether the caller may have an `ip` account over `name` in `domain` ([`ip_rules`]):
/// a domain admin only inside the domain's delegated ranges, within the prefix limit, away
/// from trusted networks and listener addresses; a superadmin anywhere, over a trusted
/// network only when asked. A domain admin's refusals name nothing but its own request.
///
/// [`ip_rules`]: crate::ip_rules
pub(crate) async fn ip_range_allowed(
    ops: &Ops,
    caller: &Caller,
    domain: &str,
    name: &str,
    cover_trusted: bool,
) -> Result<()> {
    let net = parse_network(name).ok_or_else(|| OpError::bad_field("name", "not an IP address or CIDR range"))?;
    let delegated: Vec<IpNet> = if caller.is_superadmin() {
        Vec::new()
    } else {
        let (scope, key) = (caller.scope.clone(), domain.to_string());
        let all = Page { limit: 1000, offset: 0 };
        let list = ops.directory(move |d| d.list_delegations(&scope, Some(&key), all)).await?;
        list.items.iter().filter_map(|d| parse_network(&d.range)).collect()
    };
    let who = match caller.is_superadmin() {
        true => IpCaller::Superadmin { cover_trusted },
        false => IpCaller::DomainAdmin { delegated: &delegated },
    };
    let forbidden = |text: String| Err(OpError::forbidden(text).with_field("name"));
    match ops.ip_rules.check(&net, who) {
        Ok(()) => Ok(()),
        Err(IpRefusal::TooWide { widest }) => forbidden(format!(
            "{net} is wider than /{widest}, the widest ip account range a domain admin may create; ask a superadmin"
        )),
        Err(IpRefusal::NotDelegated) => forbidden(format!(
            "{net} is not inside an IP range delegated to {domain}; a superadmin delegates ranges \
             (postern domain ip-range add)"
        )),
        Err(IpRefusal::Protected { .. }) if !caller.is_superadmin() => {
            forbidden(format!("{net} overlaps a trusted network or one of the gateway's own addresses"))
        }
        Err(IpRefusal::Protected { what }) => Err(OpError::conflict(format!(
            "{net} overlaps {what}: an ip account there takes those clients from the trusted networks; \
             set cover_trusted to create it anyway"
        ))
        .with_field("cover_trusted")),
    }
}

/// A range overlapping another account's: the superadmin sees which; anyone else only
/// that it overlaps (naming the other range would map other customers' smarthosts).
pub(crate) fn overlap(e: StoreError, superadmin: bool) -> OpError {
    match e {
        overlap @ StoreError::RangeOverlap { .. } if superadmin => {
            OpError::conflict(overlap.to_string()).with_field("name")
        }
        other => OpError::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical() {
        let name = |kind, text| account_name(kind, "example.com", text);
        assert_eq!(name(AccountKind::Ip, Some("192.0.2.7")).unwrap(), "192.0.2.7/32");
        assert_eq!(name(AccountKind::Ip, Some("2001:db8::1/64")).unwrap(), "2001:db8::/64");
        assert!(name(AccountKind::Ip, Some("nope")).is_err());
        assert!(name(AccountKind::Ip, None).is_err());
        assert_eq!(name(AccountKind::User, Some("Alice@Example.COM")).unwrap(), "alice@example.com");
        assert!(name(AccountKind::User, Some("alice@example.net")).is_err());
        assert!(name(AccountKind::User, Some("alice@example.com@evil.net")).is_err());
        assert!(name(AccountKind::User, None).is_err());
        assert_eq!(name(AccountKind::Domain, None).unwrap(), "example.com");
        assert_eq!(name(AccountKind::Domain, Some("EXAMPLE.com.")).unwrap(), "example.com");
        assert!(name(AccountKind::Domain, Some("example.net")).is_err());
    }

    #[test]
    fn passwords_by_kind() {
        assert!(check_password_presence(AccountKind::Ip, None, true).is_ok());
        assert_eq!(
            check_password_presence(AccountKind::Ip, Some("long enough"), true).unwrap_err().field.as_deref(),
            Some("password")
        );
        assert!(check_password_presence(AccountKind::User, None, true).is_err());
        assert!(check_password_presence(AccountKind::User, None, false).is_ok());
        assert!(check_password_presence(AccountKind::Domain, Some("short"), true).is_err());
        assert!(check_password_presence(AccountKind::Domain, Some("long enough"), true).is_ok());
    }

    #[test]
    fn only_a_superadmin_hears_which_range_overlaps() {
        let e =
            || StoreError::RangeOverlap { range: "192.0.2.0/24".into(), other: "198.51.100.0/24".into(), account: 7 };
        let told = overlap(e(), true);
        let hidden = overlap(e(), false);
        assert_eq!((told.field.as_deref(), hidden.field.as_deref()), (Some("name"), Some("name")));
        assert!(!hidden.message.contains("198.51.100"), "{hidden}");
    }
}
