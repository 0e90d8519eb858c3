//! A customer domain ([`Domain`]), who may send as it ([`SenderSecurity`], [`IpCheck`]),
//! and the normal form of a domain name ([`normalize_domain`]).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::account::parse_network;

/// A customer domain. The outgoing filter is off until a superadmin turns it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Domain {
    /// Lower-case ASCII (A-labels for IDNs), no trailing dot.
    pub name: String,
    pub filter_enabled: bool,
    pub sender_security: SenderSecurity,
    /// Where ARF reports for quarantined messages go (issue on quarantine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse_contact: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Seed 003: who may send as this domain, checked for every session whatever its
/// attribution. Off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SenderSecurity {
    /// When not empty, only these addresses (lower-case) may be envelope senders.
    pub allowed_senders: Vec<String>,
    pub ip_check: IpCheck,
    /// Used by [`IpCheck::Allowlist`]. Addresses or CIDR ranges (`192.0.2.7` is `/32`).
    #[serde(deserialize_with = "networks")]
    #[schema(value_type = Vec<String>)]
    pub allowed_ips: Vec<IpNet>,
}

/// A list of networks where a bare address means the host itself. Each element is its own
/// value so that an error names its index (`allowed_ips[2]`).
fn networks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    struct Network(IpNet);
    impl<'de> Deserialize<'de> for Network {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Network, D::Error> {
            let text = String::deserialize(deserializer)?;
            parse_network(&text)
                .map(Network)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an IP address or CIDR")))
        }
    }
    Ok(Vec::<Network>::deserialize(deserializer)?.into_iter().map(|n| n.0).collect())
}

/// What the connecting IP must satisfy to send as the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IpCheck {
    #[default]
    None,
    /// The client IP is in `allowed_ips`.
    Allowlist,
    /// The client IP passes the sender domain's SPF record (RFC 7208 result `pass`).
    Spf,
}

/// Lower-cases and checks a domain name: ASCII letters, digits, hyphens; at least two
/// labels; labels 1–63 octets; at most 253 octets. Returns the normal form.
pub fn normalize_domain(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err("a domain name has 1 to 253 characters".into());
    }
    if !name.contains('.') {
        return Err(format!("{name:?} is not a fully qualified domain name"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{name:?} is not a valid domain name"));
        }
    }
    if name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{name:?} is an address, not a domain name"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
        assert!(normalize_domain("localhost").is_err());
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("-a.b").is_err());
        assert!(normalize_domain("a_b.c").is_err());
        assert!(normalize_domain("192.0.2.1").is_err());
        assert!(normalize_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
