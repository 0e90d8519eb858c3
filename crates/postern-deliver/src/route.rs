//! Routing (pure): recipient rules first, then sender rules, then the default route — as
//! Postfix's transport_maps > sender_dependent_relayhost_maps > relayhost. A rule matches
//! an exact address or a domain (case-insensitive); within a kind, file order wins.

use postern_config::{Delivery, Route, RuleKind};
use postern_core::Address;

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
    }
}
