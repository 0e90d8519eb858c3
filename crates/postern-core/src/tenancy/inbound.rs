//! Inbound relay domains (SPEC.md §4, seed 004 "Eingehende E-Mails für andere E-Mail-Server
//! übermitteln"): a domain for which Postern accepts mail from anyone, unauthenticated, and
//! hands it to the domain's internal server.
//!
//! In: a name, a host, a port and a TLS mode from the admin API. Out: [`InboundDomain`]
//! values (plain serde data: the store keeps them, the SMTP policy indexes them, delivery
//! routes on them) and [`check_inbound_host`].
//!
//! Matching is exact: `example.com` is not `sub.example.com` (a subdomain is its own entry).
//! The name is normalized like every domain ([`super::normalize_domain`]: lower-case ASCII,
//! A-labels for IDNs, no trailing dot).

use serde::{Deserialize, Serialize};

/// How the connection to the internal server is secured (as a relay host's `tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundTls {
    /// Plaintext only.
    None,
    /// STARTTLS when the server offers it (or always, with `require_tls`).
    #[default]
    Starttls,
    /// TLS from the first byte (RFC 8314).
    Implicit,
}

impl InboundTls {
    pub fn name(self) -> &'static str {
        match self {
            InboundTls::None => "none",
            InboundTls::Starttls => "starttls",
            InboundTls::Implicit => "implicit",
        }
    }
}

/// One inbound relay domain and the internal server its mail goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundDomain {
    /// Normalized domain name; matched exactly against a recipient's domain.
    pub name: String,
    /// The internal server: a host name or an IP address (no brackets, no port).
    pub host: String,
    pub port: u16,
    pub tls: InboundTls,
    /// Refuse to deliver without TLS (always true with `implicit`, never with `none`).
    pub require_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

/// Checks an internal server's host: a host name (letters, digits, hyphens, dots; labels
/// 1–63 octets; at most 253) or an IPv4/IPv6 address. Returns its normal form (lower-case,
/// brackets around IPv6 removed).
pub fn check_inbound_host(text: &str) -> Result<String, String> {
    let host = text.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(host);
    }
    let host = host.trim_end_matches('.').to_string();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!("{text:?} is not a host name or an IP address"));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(check_inbound_host(" Mail.Internal.Example. ").unwrap(), "mail.internal.example");
        assert_eq!(check_inbound_host("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(check_inbound_host("[::1]").unwrap(), "::1");
        assert_eq!(check_inbound_host("localhost").unwrap(), "localhost");
        for bad in ["", "a b", "host:25", "-a.example", "a..b", "mail@example.com", "x\r\ny", "a\tb"] {
            assert!(check_inbound_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tls_names_round_trip() {
        for tls in [InboundTls::None, InboundTls::Starttls, InboundTls::Implicit] {
            let json = serde_json::to_value(tls).unwrap();
            assert_eq!(json, tls.name());
            assert_eq!(serde_json::from_value::<InboundTls>(json).unwrap(), tls);
        }
    }
}
