//! Outgoing accounts (SPEC.md §1): [`Account`], its [`AccountKind`], and [`parse_network`],
//! the canonical form of an `ip` account's name (an address or a CIDR range).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::lock::LockState;
use super::settings::AccountSettings;

/// The three kinds of outgoing account (SPEC.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// An address or CIDR range; no password; longest prefix wins.
    Ip,
    /// An address of the domain plus a password (SMTP AUTH).
    User,
    /// The domain name as user name plus a password; at most one per domain.
    Domain,
}

impl AccountKind {
    pub fn name(self) -> &'static str {
        match self {
            AccountKind::Ip => "ip",
            AccountKind::User => "user",
            AccountKind::Domain => "domain",
        }
    }
}

/// An outgoing account. `name` says what it is: the CIDR (`ip`), the address (`user`) or
/// the domain name (`domain`). The password hash never leaves the store in this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub id: i64,
    pub domain: String,
    pub kind: AccountKind,
    /// CIDR (`ip`), address (`user`) or the domain (`domain`).
    pub name: String,
    /// Whether a password is set (`user` and `domain` accounts need one to authenticate).
    pub has_password: bool,
    pub settings: AccountSettings,
    pub lock: LockState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Account {
    /// The network of an `ip` account.
    pub fn network(&self) -> Option<IpNet> {
        if self.kind == AccountKind::Ip { parse_network(&self.name) } else { None }
    }
}

/// An `ip` account's name: an address or a CIDR range, in canonical form (host bits
/// cleared, IPv4-mapped IPv6 as IPv4).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?,
            None => net,
        },
        _ => net,
    };
    Some(net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert_eq!(parse_network("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_network("192.0.2.7/24").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_network("::ffff:192.0.2.0/120").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_network("2001:db8::1/64").unwrap().to_string(), "2001:db8::/64");
        assert!(parse_network("192.0.2.1/33").is_none());
        assert!(parse_network("nope").is_none());
    }
}
