//! Routing (pure): an inbound relay domain's internal server first, then recipient rules,
//! then sender rules, then the default route — as Postfix's relay_domains + transport_maps >
//! sender_dependent_relayhost_maps > relayhost. A rule matches an exact address or a domain
//! (case-insensitive); within a kind, file order wins. An inbound domain matches the
//! recipient's domain exactly (the caller looks it up: [`InboundLookup`]).

use std::sync::Arc;

use postern_config::{Delivery, RelayHost, Route, RuleKind, TlsMode};
use postern_core::Address;
use postern_core::tenancy::{InboundDomain, InboundTls};

/// Where one recipient's mail goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// A route of `[delivery]`: MX lookup or one of its relay hosts.
    Configured(Route),
    /// The internal server of an inbound relay domain (named `inbound:<domain>`).
    Inbound(RelayHost),
}

/// The inbound relay domain of a recipient domain (lower-case), if it is one. The binary
/// answers from the SMTP policy's in-memory directory, so a change through the API applies
/// to the next delivery.
pub type InboundLookup = Arc<dyn Fn(&str) -> Option<InboundDomain> + Send + Sync>;

/// The next hop for `recipient`: `inbound` (the entry of its domain, if any) wins over
/// every configured rule.
pub fn next_hop(
    config: &Delivery,
    inbound: Option<&InboundDomain>,
    sender: Option<&Address>,
    recipient: &Address,
) -> Hop {
    match inbound {
        Some(domain) => Hop::Inbound(inbound_relay_host(domain)),
        None => Hop::Configured(route(config, sender, recipient)),
    }
}

/// An inbound domain's internal server as a relay host: no AUTH; its certificate is not
/// verified (internal servers often have self-signed ones), `require_tls` still refuses
/// plaintext.
pub fn inbound_relay_host(domain: &InboundDomain) -> RelayHost {
    RelayHost {
        name: format!("inbound:{}", domain.name),
        host: domain.host.clone(),
        port: domain.port,
        tls: match domain.tls {
            InboundTls::None => TlsMode::None,
            InboundTls::Starttls => TlsMode::StartTls,
            InboundTls::Implicit => TlsMode::Implicit,
        },
        require_tls: domain.require_tls && domain.tls != InboundTls::None,
        auth: None,
        tls_verify: false,
        tls_ca_file: None,
    }
}

pub fn route(config: &Delivery, sender: Option<&Address>, recipient: &Address) -> Route {
    let find = |kind: RuleKind, address: &Address| {
        let full = address.to_string().to_ascii_lowercase();
        let domain = address.domain.as_str().to_ascii_lowercase();
        config.rules.iter().find(|r| r.kind == kind && (r.pattern == full || r.pattern == domain)).map(|r| r.route)
    };
    find(RuleKind::Recipient, recipient)
        .or_else(|| sender.and_then(|s| find(RuleKind::Sender, s)))
        .unwrap_or(config.default_route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_config::RouteRule;

    #[test]
    fn precedence() {
        let raw = "[delivery]\n";
        let _ = raw;
        let mut d =
            postern_config::Config::load(None, &Default::default(), &postern_config::Defaults { hostname: "h".into() })
                .expect("defaults")
                .delivery;
        d.rules = vec![
            RouteRule { kind: RuleKind::Recipient, pattern: "vip@example.net".into(), route: Route::Relay(1) },
            RouteRule { kind: RuleKind::Recipient, pattern: "example.net".into(), route: Route::Relay(2) },
            RouteRule { kind: RuleKind::Sender, pattern: "corp.example".into(), route: Route::Relay(3) },
        ];
        let a = |s: &str| Address::parse(s, false).expect("address");
        assert_eq!(route(&d, Some(&a("x@corp.example")), &a("VIP@Example.NET")), Route::Relay(1));
        assert_eq!(route(&d, Some(&a("x@corp.example")), &a("other@example.net")), Route::Relay(2));
        assert_eq!(route(&d, Some(&a("x@CORP.example")), &a("b@elsewhere.example")), Route::Relay(3));
        assert_eq!(route(&d, None, &a("b@elsewhere.example")), Route::Direct);

        // An inbound domain's server wins over the recipient rule of the same domain.
        let inbound = InboundDomain {
            name: "example.net".into(),
            host: "10.0.0.25".into(),
            port: 2525,
            tls: InboundTls::Implicit,
            require_tls: true,
            comment: None,
            created_at_ms: 0,
        };
        match next_hop(&d, Some(&inbound), None, &a("vip@example.net")) {
            Hop::Inbound(host) => {
                assert_eq!(
                    (host.name.as_str(), host.host.as_str(), host.port),
                    ("inbound:example.net", "10.0.0.25", 2525)
                );
                assert!(host.tls == TlsMode::Implicit && host.require_tls && host.auth.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(next_hop(&d, None, None, &a("vip@example.net")), Hop::Configured(Route::Relay(1)));
    }
}
