//! The relay decision (SPEC §2): an attributed or trusted client may relay to any domain;
//! anyone else gets `554 5.7.1 <rcpt>: Relay access denied` at RCPT. Never an open relay:
//! an unattributed client is refused for every recipient, whatever its syntax.

use std::net::IpAddr;

use ipnet::IpNet;
use postern_core::{Address, Reply, Verdict};

/// On whose behalf a session sends. Decided at connect, changed by AUTH (later issue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// The client address is in a trusted network ("skip authentication for the local network").
    TrustedNetwork(IpNet),
    /// Nobody: may not relay.
    Unattributed,
}

#[derive(Debug, Clone, Default)]
pub struct RelayPolicy {
    trusted_networks: Vec<IpNet>,
}

impl RelayPolicy {
    pub fn new(trusted_networks: Vec<IpNet>) -> RelayPolicy {
        RelayPolicy { trusted_networks }
    }

    /// The attribution of a new connection from `ip`: the most specific trusted network wins.
    pub fn attribute(&self, ip: IpAddr) -> Attribution {
        let ip = canonical(ip);
        self.trusted_networks
            .iter()
            .filter(|net| net.contains(&ip))
            .max_by_key(|net| net.prefix_len())
            .map(|net| Attribution::TrustedNetwork(*net))
            .unwrap_or(Attribution::Unattributed)
    }

    /// May this session relay to `rcpt`?
    pub fn rcpt(&self, attribution: &Attribution, rcpt: &Address) -> Verdict {
        match attribution {
            Attribution::TrustedNetwork(_) => Verdict::Accept,
            Attribution::Unattributed => Verdict::refuse(
                Reply::new(554, "5.7.1", format!("<{rcpt}>: Relay access denied")),
                "relay access denied: client is not in a trusted network",
            ),
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is treated as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RelayPolicy {
        RelayPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
            "10.1.2.0/24".parse().unwrap(),
        ])
    }

    #[test]
    fn trusted_and_untrusted() {
        let p = policy();
        let rcpt = Address::parse("a@example.com", false).unwrap();
        assert_eq!(p.rcpt(&p.attribute("127.0.0.1".parse().unwrap()), &rcpt), Verdict::Accept);
        assert_eq!(p.rcpt(&p.attribute("::ffff:127.0.0.1".parse().unwrap()), &rcpt), Verdict::Accept);
        assert_eq!(
            p.attribute("10.1.2.3".parse().unwrap()),
            Attribution::TrustedNetwork("10.1.2.0/24".parse().unwrap())
        );
        let untrusted = p.attribute("192.0.2.1".parse().unwrap());
        assert_eq!(untrusted, Attribution::Unattributed);
        match p.rcpt(&untrusted, &rcpt) {
            Verdict::Refuse { reply, .. } => {
                assert_eq!(reply.render(), "554 5.7.1 <a@example.com>: Relay access denied\r\n")
            }
            v => panic!("{v:?}"),
        }
    }
}
