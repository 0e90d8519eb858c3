//! The DNS side of SPF: an [`SpfResolver`] owns the stub resolver SPF evaluation asks, the
//! receiving host's name (`%{r}`), and the deadline of one evaluation.
//!
//! In: name servers (none = the system's `/etc/resolv.conf`) and a per-query timeout.
//! Out: a resolver to hand to [`check`](super::check), built once and shared (it holds
//! the DNS cache and connections); for the evaluator, answers of one type, where "no
//! records" (NXDOMAIN or NODATA: a *void* lookup) is told apart from a failure.
//!
//! Defends against slow or silent DNS: every query has a timeout, and a whole evaluation
//! has a deadline (RFC 7208 §4.6.4 suggests 20 s), after which the result is `temperror`.
//! Names come from records and macros, so any bytes may appear in a label: they are sent
//! as raw labels, never reinterpreted; a name DNS cannot carry (empty or over-long label,
//! over 255 octets) is not sent at all. `/etc/hosts` is never consulted.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::macros::dotted_ip;

/// Whole-evaluation deadline (RFC 7208 §4.6.4: "at least 20 seconds").
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20);

/// `%{r}` when the receiving host's name is not configured (RFC 7208 §7.3).
const UNKNOWN_RECEIVER: &str = "unknown";

/// A lookup that failed for a reason other than "no such records" (timeout, SERVFAIL...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsFailure;

pub struct SpfResolver {
    dns: TokioResolver,
    pub(super) receiver: String,
    pub(super) deadline: Duration,
}

impl SpfResolver {
    /// Asks `servers` (UDP, then TCP for truncated answers), each query timing out after
    /// `timeout` and tried twice. With no servers, uses the system configuration.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> io::Result<SpfResolver> {
        let dns = crate::dns::resolver(servers, timeout)?;
        Ok(SpfResolver { dns, receiver: UNKNOWN_RECEIVER.to_string(), deadline: DEFAULT_DEADLINE })
    }

    /// The receiving host's name, used for `%{r}` in explanations.
    pub fn with_receiver(mut self, receiver: impl Into<String>) -> SpfResolver {
        self.receiver = receiver.into();
        self
    }

    /// How long one evaluation may take in total before it is a `temperror`.
    pub fn with_deadline(mut self, deadline: Duration) -> SpfResolver {
        self.deadline = deadline;
        self
    }

    /// The records of `rtype` at `name`, following CNAMEs; empty for NXDOMAIN or NODATA.
    pub(super) async fn lookup(&self, name: &Name, rtype: RecordType) -> Result<Vec<RData>, DnsFailure> {
        crate::dns::records(&self.dns, name.clone(), rtype).await.map_err(|()| DnsFailure)
    }
}

/// The DNS name for `domain` (dots separate labels, any other byte is label content), or
/// `None` when DNS cannot carry it.
pub(super) fn dns_name(domain: &str) -> Option<Name> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let labels: Vec<&[u8]> = domain.split('.').map(str::as_bytes).collect();
    let usable = labels.iter().all(|label| (1..=63).contains(&label.len())) && domain.len() < 254;
    if !usable {
        return None;
    }
    Name::from_labels(labels).ok()
}

/// `d.c.b.a.in-addr.arpa` or the `ip6.arpa` nibble name of `ip` (always representable;
/// `None` only if that ever stopped being true).
pub(super) fn reverse_name(ip: IpAddr) -> Option<Name> {
    let suffix = if ip.is_ipv4() { "in-addr.arpa" } else { "ip6.arpa" };
    let reversed: Vec<String> = dotted_ip(ip).split('.').rev().map(str::to_ascii_lowercase).collect();
    dns_name(&format!("{}.{suffix}", reversed.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_odd_bytes_and_refuse_what_dns_cannot_carry() {
        let name = dns_name("foo:bar/baz.example.com").unwrap();
        assert_eq!(name.iter().next(), Some(&b"foo:bar/baz"[..]));
        assert!(dns_name("example.com.").unwrap().is_fqdn());
        assert_eq!(dns_name("a..example.com"), None);
        assert_eq!(dns_name(&format!("{}.example.com", "a".repeat(64))), None);
        assert_eq!(dns_name(""), None);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("192.0.2.1".parse().unwrap()).unwrap().to_ascii(), "1.2.0.192.in-addr.arpa.");
        assert_eq!(
            reverse_name("2001:db8::1".parse().unwrap()).unwrap().to_ascii(),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        );
    }
}
