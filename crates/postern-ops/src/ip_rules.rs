//! Which `ip` accounts a caller may create or change (SPEC.md §1: "a customer must never
//! claim an address it does not control"). A pure decision over plain values: the binary
//! passes the trusted networks, the listeners' own addresses and the prefix limits in
//! ([`IpAccountRules`]); the domain's delegations come from the store.
//!
//! - A **domain admin** may use a range only when it lies inside a range delegated to the
//!   account's domain, is no wider than `widest_ipv4` / `widest_ipv6`, and overlaps no
//!   protected range (a trusted network or a listener's own address). Its refusals never
//!   name another tenant's object.
//! - A **superadmin** may use any range of any width without a delegation, over the
//!   listeners' own addresses too (a local MTA on the gateway host may be a customer's
//!   smarthost). A range that overlaps a trusted network takes those clients away from the
//!   trusted networks (an ip account wins over them), so even a superadmin must ask for it
//!   explicitly (`cover_trusted`).
//!
//! Defends against: a tenant attributing every client to itself (`0.0.0.0/0`, `::/0`),
//! capturing the trusted networks or the gateway's own addresses, and claiming another
//! customer's addresses.

use ipnet::IpNet;

/// The limits on `ip` account ranges, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAccountRules {
    /// `trusted_networks` of the configuration.
    pub trusted_networks: Vec<IpNet>,
    /// The listeners' own addresses (a wildcard listener contributes loopback).
    pub own_addresses: Vec<IpNet>,
    /// A domain admin's IPv4 range has a prefix of at least this length.
    pub widest_ipv4: u8,
    /// A domain admin's IPv6 range has a prefix of at least this length.
    pub widest_ipv6: u8,
}

impl Default for IpAccountRules {
    /// The configuration's defaults: loopback trusted, /24 and /48.
    fn default() -> IpAccountRules {
        let loopback = ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect::<Vec<IpNet>>();
        IpAccountRules { trusted_networks: loopback.clone(), own_addresses: loopback, widest_ipv4: 24, widest_ipv6: 48 }
    }
}

/// Who asks, with what it brings.
#[derive(Debug, Clone, Copy)]
pub enum IpCaller<'a> {
    /// `cover_trusted`: the superadmin asked for a range over a trusted network.
    Superadmin { cover_trusted: bool },
    /// The ranges delegated to the account's domain.
    DomainAdmin { delegated: &'a [IpNet] },
}

/// Why a range is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRefusal {
    /// Wider than a domain admin may use.
    TooWide { widest: u8 },
    /// Not inside a range delegated to the domain.
    NotDelegated,
    /// Overlaps a trusted network or a listener's own address (`what` says which, for a
    /// superadmin's eyes).
    Protected { what: String },
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl IpAccountRules {
    /// The first protected range `net` overlaps, described.
    fn protected_overlap(&self, net: &IpNet) -> Option<String> {
        let trusted = self.trusted_networks.iter().find(|t| overlaps(net, t)).map(|t| format!("trusted network {t}"));
        trusted.or_else(|| {
            self.own_addresses.iter().find(|a| overlaps(net, a)).map(|a| format!("the listener address {a}"))
        })
    }

    /// Whether `caller` may have an `ip` account over `net`.
    pub fn check(&self, net: &IpNet, caller: IpCaller<'_>) -> Result<(), IpRefusal> {
        match caller {
            IpCaller::Superadmin { cover_trusted } => match self.trusted_networks.iter().find(|t| overlaps(net, t)) {
                Some(t) if !cover_trusted => Err(IpRefusal::Protected { what: format!("trusted network {t}") }),
                _ => Ok(()),
            },
            IpCaller::DomainAdmin { delegated } => {
                let widest = if net.addr().is_ipv4() { self.widest_ipv4 } else { self.widest_ipv6 };
                if net.prefix_len() < widest {
                    return Err(IpRefusal::TooWide { widest });
                }
                if !delegated.iter().any(|d| d.contains(net)) {
                    return Err(IpRefusal::NotDelegated);
                }
                match self.protected_overlap(net) {
                    Some(what) => Err(IpRefusal::Protected { what }),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_domain_admin_stays_inside_its_delegation() {
        let rules = IpAccountRules::default();
        let delegated = [net("192.0.2.0/24"), net("2001:db8::/32")];
        let admin = IpCaller::DomainAdmin { delegated: &delegated };
        assert_eq!(rules.check(&net("192.0.2.16/28"), admin), Ok(()));
        assert_eq!(rules.check(&net("192.0.2.0/24"), admin), Ok(()));
        assert_eq!(rules.check(&net("2001:db8:1::/48"), admin), Ok(()));
        assert_eq!(rules.check(&net("0.0.0.0/0"), admin), Err(IpRefusal::TooWide { widest: 24 }));
        assert_eq!(rules.check(&net("::/0"), admin), Err(IpRefusal::TooWide { widest: 48 }));
        assert_eq!(rules.check(&net("192.0.0.0/23"), admin), Err(IpRefusal::TooWide { widest: 24 }));
        assert_eq!(rules.check(&net("198.51.100.0/24"), admin), Err(IpRefusal::NotDelegated));
        assert_eq!(rules.check(&net("127.0.0.1/32"), admin), Err(IpRefusal::NotDelegated));
    }

    #[test]
    fn protected_ranges_are_refused_even_inside_a_delegation() {
        let rules = IpAccountRules { own_addresses: vec![net("192.0.2.25/32")], ..IpAccountRules::default() };
        let delegated = [net("127.0.0.0/24"), net("192.0.2.0/24")];
        let admin = IpCaller::DomainAdmin { delegated: &delegated };
        assert!(matches!(rules.check(&net("127.0.0.1/32"), admin), Err(IpRefusal::Protected { .. })));
        assert!(matches!(rules.check(&net("192.0.2.0/24"), admin), Err(IpRefusal::Protected { .. })));
        assert_eq!(rules.check(&net("192.0.2.0/28"), admin), Ok(()));
    }

    #[test]
    fn a_superadmin_may_go_wide_but_covers_trusted_networks_only_when_asked() {
        let rules = IpAccountRules { own_addresses: vec![net("192.0.2.25/32")], ..IpAccountRules::default() };
        let asked = IpCaller::Superadmin { cover_trusted: true };
        let plain = IpCaller::Superadmin { cover_trusted: false };
        assert_eq!(rules.check(&net("10.0.0.0/8"), plain), Ok(()));
        assert_eq!(rules.check(&net("192.0.2.0/24"), plain), Ok(()), "a listener address needs no flag");
        assert_eq!(
            rules.check(&net("0.0.0.0/0"), plain),
            Err(IpRefusal::Protected { what: "trusted network 127.0.0.0/8".into() })
        );
        assert!(rules.check(&net("::/0"), plain).is_err(), "covers ::1");
        assert_eq!(rules.check(&net("0.0.0.0/0"), asked), Ok(()));
    }
}
