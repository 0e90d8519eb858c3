//! Block and allow lists (SPEC.md §4, seed 004): what a rule matches ([`ListKind`]) and the
//! canonical form of its value, what it does ([`ListAction`]), the rule itself
//! ([`ListRule`]), and how addresses and dotted-mask networks are compared with rules.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::account::parse_network;
use super::domain::normalize_domain;

/// What a list rule matches (seed 004's criteria).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// One client address.
    Ip,
    /// A client network: CIDR, or an IPv4 address with a dotted mask on input.
    Network,
    /// The envelope sender (MAIL FROM).
    Sender,
    /// One envelope recipient (RCPT TO).
    Recipient,
    /// The domain of the envelope sender (exactly: subdomains are other domains).
    SenderDomain,
}

impl ListKind {
    pub const ALL: [ListKind; 5] =
        [ListKind::Ip, ListKind::Network, ListKind::Sender, ListKind::Recipient, ListKind::SenderDomain];

    pub fn name(self) -> &'static str {
        match self {
            ListKind::Ip => "ip",
            ListKind::Network => "network",
            ListKind::Sender => "sender",
            ListKind::Recipient => "recipient",
            ListKind::SenderDomain => "sender_domain",
        }
    }

    /// The canonical form of a rule's value, or why `text` cannot be one: `ip` an address
    /// (`192.0.2.7`; IPv4-mapped IPv6 as IPv4; `/32` and `/128` accepted), `network` a CIDR
    /// without host bits ([`parse_network`], or [`parse_masked_network`] for
    /// `192.0.2.0/255.255.255.0`), `sender` and `recipient` a lower-case address
    /// ([`list_address_key`]), `sender_domain` a domain name ([`normalize_domain`]).
    pub fn canonical(self, text: &str) -> Result<String, String> {
        let text = text.trim();
        match self {
            ListKind::Ip => match parse_network(text) {
                Some(net) if net.prefix_len() == net.max_prefix_len() => Ok(net.addr().to_string()),
                Some(net) => Err(format!("{net} is a network: use kind network")),
                None => Err(format!("{text:?} is not an IP address")),
            },
            ListKind::Network => parse_masked_network(text)
                .or_else(|| parse_network(text))
                .map(|net| net.to_string())
                .ok_or_else(|| format!("{text:?} is not a network (CIDR, or an IPv4 address with a dotted mask)")),
            ListKind::Sender | ListKind::Recipient => {
                let text = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap_or(text);
                crate::Address::parse(text, true)
                    .map(|a| list_address_key(&a))
                    .map_err(|e| format!("{text:?} is not an address: {e}"))
            }
            ListKind::SenderDomain => normalize_domain(text),
        }
    }
}

/// What happens to a message a rule matches. reject: 554 5.7.1; discard: 250 and dropped;
/// allow: skips checks (seed 004), never permits relaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListAction {
    /// Block: `554 5.7.1`, the client learns it.
    Reject,
    /// Block: `250` to the client, the message is dropped (and logged).
    Discard,
    /// Allow: some checks are skipped (seed 004's table). Never permission to relay.
    Allow,
}

impl ListAction {
    pub fn name(self) -> &'static str {
        match self {
            ListAction::Reject => "reject",
            ListAction::Discard => "discard",
            ListAction::Allow => "allow",
        }
    }
}

/// One rule of a block or allow list: global (`domain` is `None`, superadmin only) or a
/// customer domain's (applies to that domain's mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListRule {
    pub id: i64,
    /// `null`: a global rule.
    pub domain: Option<String>,
    pub kind: ListKind,
    /// Canonical for the kind ([`ListKind::canonical`]).
    pub value: String,
    pub action: ListAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

impl ListRule {
    /// For logs: `rule 12 (example.com: reject sender_domain spam.example)`.
    pub fn describe(&self) -> String {
        let scope = self.domain.as_deref().unwrap_or("global");
        format!("rule {} ({scope}: {} {} {})", self.id, self.action.name(), self.kind.name(), self.value)
    }
}

/// How a sender or recipient is compared with list rules: the whole address, lower-case.
pub fn list_address_key(address: &crate::Address) -> String {
    address.to_string().to_lowercase()
}

/// An IPv4 network written with a dotted mask (`192.0.2.0/255.255.255.0`), as seed 004's
/// form takes it. The mask must be contiguous; host bits are cleared.
pub fn parse_masked_network(text: &str) -> Option<IpNet> {
    let (addr, mask) = text.trim().split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.trim().parse().ok()?;
    let mask = u32::from(mask.trim().parse::<std::net::Ipv4Addr>().ok()?);
    let prefix = mask.leading_ones();
    if mask.checked_shl(prefix).unwrap_or(0) != 0 {
        return None;
    }
    let prefix = u8::try_from(prefix).ok()?;
    IpNet::new(IpAddr::V4(addr), prefix).ok().map(|net| net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_values_are_canonical() {
        let ok = |kind: ListKind, text: &str| kind.canonical(text).unwrap();
        assert_eq!(ok(ListKind::Ip, " 192.0.2.7 "), "192.0.2.7");
        assert_eq!(ok(ListKind::Ip, "::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(ok(ListKind::Ip, "2001:DB8::1/128"), "2001:db8::1");
        assert!(ListKind::Ip.canonical("192.0.2.0/24").unwrap_err().contains("use kind network"));
        assert_eq!(ok(ListKind::Network, "192.0.2.77/24"), "192.0.2.0/24");
        assert_eq!(ok(ListKind::Network, "192.0.2.77/255.255.255.0"), "192.0.2.0/24");
        assert_eq!(ok(ListKind::Network, "10.1.2.3/255.0.0.0"), "10.0.0.0/8");
        assert_eq!(ok(ListKind::Network, "192.0.2.7/255.255.255.255"), "192.0.2.7/32");
        assert_eq!(ok(ListKind::Network, "0.0.0.0/0.0.0.0"), "0.0.0.0/0");
        assert_eq!(ok(ListKind::Network, "192.0.2.7"), "192.0.2.7/32");
        assert_eq!(ok(ListKind::Network, "2001:db8::1/32"), "2001:db8::/32");
        for bad in
            ["192.163.1.1/255.100.10.1", "192.0.2.0/255.255.0.255", "192.0.2.0/33", "nope", "2001:db8::/255.0.0.0"]
        {
            assert!(ListKind::Network.canonical(bad).is_err(), "{bad}");
        }
        assert_eq!(ok(ListKind::Sender, "Boss@Example.NET"), "boss@example.net");
        assert_eq!(ok(ListKind::Recipient, "<Dest@Remote.example>"), "dest@remote.example");
        assert!(ListKind::Sender.canonical("a@b@c").is_err());
        assert!(ListKind::Recipient.canonical("").is_err());
        assert_eq!(ok(ListKind::SenderDomain, "Spam.Example."), "spam.example");
        assert!(ListKind::SenderDomain.canonical("a@spam.example").is_err());
    }

    #[test]
    fn list_rules_serialize_with_snake_case_names() {
        let rule = ListRule {
            id: 3,
            domain: None,
            kind: ListKind::SenderDomain,
            value: "spam.example".into(),
            action: ListAction::Discard,
            comment: None,
            created_at_ms: 1,
        };
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(json["kind"], "sender_domain");
        assert_eq!(json["action"], "discard");
        assert!(json["domain"].is_null() && json.get("comment").is_none());
        assert_eq!(rule.describe(), "rule 3 (global: discard sender_domain spam.example)");
        for kind in ListKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
