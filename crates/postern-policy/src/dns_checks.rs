//! DNS checks of a client (SPEC.md §4): forward-confirmed reverse DNS of its address, a
//! HELO name that resolves, a sender domain that can receive mail (MX or A/AAAA, no null
//! MX). Each check answers yes, no, or "DNS trouble" — never a permanent answer for a
//! failure, so a broken resolver only ever costs a `4xx`.
//!
//! In: an address or a name. Out: a [`Found`]/[`DomainStatus`] or [`DnsFailure`]. The
//! lookups go through the [`Lookup`] trait: [`HickoryLookup`] asks the configured servers
//! (the same as `delivery.dns_servers`); tests give a table. Defends against slow or silent
//! DNS (a per-query timeout, and a deadline for each whole check), names DNS cannot carry
//! (refused before any query), PTR floods (at most [`MAX_PTR_NAMES`] names are followed),
//! and search-list surprises (every name is queried fully qualified; `/etc/hosts` is never read).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use postern_core::BoxFuture;

/// PTR names followed per client address.
pub const MAX_PTR_NAMES: usize = 5;

/// Default time one whole check may take.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// A lookup failed for a reason other than "no such records" (timeout, SERVFAIL, refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsFailure;

/// Whether a name or address checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Yes,
    No,
}

/// What a sender domain's DNS says about mail to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainStatus {
    /// An MX, or (without MX) an A or AAAA record.
    Exists,
    /// No MX and no A/AAAA (or no such domain).
    NotFound,
    /// RFC 7505: the domain says it accepts no mail.
    NullMx,
}

/// The DNS questions the checks ask. "No records" (NXDOMAIN, NODATA) is an empty answer;
/// anything else that went wrong is a [`DnsFailure`]. Names are ASCII or U-labels,
/// without the final dot.
pub trait Lookup: Send + Sync + 'static {
    /// PTR names of `ip` (without the final dot).
    fn ptr(&self, ip: IpAddr) -> BoxFuture<'_, Result<Vec<String>, DnsFailure>>;
    /// A (`ipv6` false) or AAAA (`ipv6` true) addresses of `name`.
    fn addresses(&self, name: &str, ipv6: bool) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>>;
    /// MX records of `name`: (preference, exchange without the final dot; `""` for the root).
    fn mx(&self, name: &str) -> BoxFuture<'_, Result<Vec<(u16, String)>, DnsFailure>>;
}

/// The checks, over any [`Lookup`], each bounded by a deadline.
#[derive(Clone)]
pub struct DnsChecks {
    lookup: Arc<dyn Lookup>,
    deadline: Duration,
}

impl DnsChecks {
    pub fn new(lookup: Arc<dyn Lookup>) -> DnsChecks {
        DnsChecks { lookup, deadline: DEFAULT_DEADLINE }
    }

    /// How long one whole check may take before it is DNS trouble.
    pub fn with_deadline(mut self, deadline: Duration) -> DnsChecks {
        self.deadline = deadline;
        self
    }

    async fn bounded<T>(&self, check: impl Future<Output = Result<T, DnsFailure>>) -> Result<T, DnsFailure> {
        tokio::time::timeout(self.deadline, check).await.unwrap_or(Err(DnsFailure))
    }

    /// Forward-confirmed reverse DNS (Postfix `reject_unknown_client_hostname`): a PTR
    /// name of `ip` whose A/AAAA records contain `ip`. `Ok(Some(name))` names it.
    pub async fn client_hostname(&self, ip: IpAddr) -> Result<Option<String>, DnsFailure> {
        let ip = ip.to_canonical();
        self.bounded(async {
            let names = self.lookup.ptr(ip).await?;
            let mut trouble = false;
            for name in names.iter().take(MAX_PTR_NAMES) {
                match self.lookup.addresses(name, ip.is_ipv6()).await {
                    Ok(addrs) if addrs.iter().any(|a| a.to_canonical() == ip) => return Ok(Some(name.clone())),
                    Ok(_) => {}
                    Err(DnsFailure) => trouble = true,
                }
            }
            if trouble { Err(DnsFailure) } else { Ok(None) }
        })
        .await
    }

    /// A HELO name with an A, AAAA or MX record (Postfix `reject_unknown_helo_hostname`).
    pub async fn helo_resolves(&self, name: &str) -> Result<Found, DnsFailure> {
        self.bounded(async {
            let mut trouble = false;
            for ipv6 in [false, true] {
                match self.lookup.addresses(name, ipv6).await {
                    Ok(a) if !a.is_empty() => return Ok(Found::Yes),
                    Ok(_) => {}
                    Err(DnsFailure) => trouble = true,
                }
            }
            match self.lookup.mx(name).await {
                Ok(mx) if !mx.is_empty() => Ok(Found::Yes),
                Ok(_) if !trouble => Ok(Found::No),
                _ => Err(DnsFailure),
            }
        })
        .await
    }

    /// Can `domain` receive mail (Postfix `reject_unknown_sender_domain`, RFC 7505)?
    pub async fn sender_domain(&self, domain: &str) -> Result<DomainStatus, DnsFailure> {
        self.bounded(async {
            let mx = self.lookup.mx(domain).await?;
            if !mx.is_empty() {
                let null = mx.iter().all(|(_, exchange)| exchange.is_empty() || exchange == ".");
                return Ok(if null { DomainStatus::NullMx } else { DomainStatus::Exists });
            }
            let mut trouble = false;
            for ipv6 in [false, true] {
                match self.lookup.addresses(domain, ipv6).await {
                    Ok(a) if !a.is_empty() => return Ok(DomainStatus::Exists),
                    Ok(_) => {}
                    Err(DnsFailure) => trouble = true,
                }
            }
            if trouble { Err(DnsFailure) } else { Ok(DomainStatus::NotFound) }
        })
        .await
    }
}

/// [`Lookup`] through hickory's stub resolver.
pub struct HickoryLookup {
    dns: TokioResolver,
}

impl HickoryLookup {
    /// Asks `servers` (UDP, then TCP for truncated answers), each query timing out after
    /// `timeout`. With no servers, the system configuration (`/etc/resolv.conf`).
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> io::Result<HickoryLookup> {
        Ok(HickoryLookup { dns: crate::dns::resolver(servers, timeout)? })
    }

    /// The records of `rtype` at `name`; empty for NXDOMAIN or NODATA.
    async fn records(&self, name: Name, rtype: RecordType) -> Result<Vec<RData>, DnsFailure> {
        crate::dns::records(&self.dns, name, rtype).await.map_err(|()| DnsFailure)
    }
}

/// `name` as a fully qualified DNS name (IDNA for U-labels), or `None` when DNS cannot
/// carry it: such a name has no records.
fn fqdn(name: &str) -> Option<Name> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return None;
    }
    let mut parsed = Name::from_utf8(name).ok()?;
    parsed.set_fqdn(true);
    Some(parsed)
}

fn shown(name: &Name) -> String {
    let text = name.to_utf8();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

impl Lookup for HickoryLookup {
    fn ptr(&self, ip: IpAddr) -> BoxFuture<'_, Result<Vec<String>, DnsFailure>> {
        Box::pin(async move {
            let name = Name::from(ip);
            let records = self.records(name, RecordType::PTR).await?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r {
                    RData::PTR(ptr) => Some(shown(&ptr.0)),
                    _ => None,
                })
                .collect())
        })
    }

    fn addresses(&self, name: &str, ipv6: bool) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        let name = fqdn(name);
        Box::pin(async move {
            let Some(name) = name else { return Ok(Vec::new()) };
            let rtype = if ipv6 { RecordType::AAAA } else { RecordType::A };
            let records = self.records(name, rtype).await?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })
                .collect())
        })
    }

    fn mx(&self, name: &str) -> BoxFuture<'_, Result<Vec<(u16, String)>, DnsFailure>> {
        let name = fqdn(name);
        Box::pin(async move {
            let Some(name) = name else { return Ok(Vec::new()) };
            let records = self.records(name, RecordType::MX).await?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r {
                    RData::MX(mx) => Some((mx.preference, shown(&mx.exchange))),
                    _ => None,
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// name -> records; a name mapped to `None` fails (SERVFAIL).
    #[derive(Default)]
    struct Table {
        ptr: HashMap<IpAddr, Option<Vec<String>>>,
        addrs: HashMap<String, Option<Vec<IpAddr>>>,
        mx: HashMap<String, Option<Vec<(u16, String)>>>,
        hang: bool,
    }

    fn answer<T: Clone>(v: Option<&Option<Vec<T>>>) -> Result<Vec<T>, DnsFailure> {
        match v {
            None => Ok(Vec::new()),
            Some(None) => Err(DnsFailure),
            Some(Some(v)) => Ok(v.clone()),
        }
    }

    impl Lookup for Table {
        fn ptr(&self, ip: IpAddr) -> BoxFuture<'_, Result<Vec<String>, DnsFailure>> {
            let r = answer(self.ptr.get(&ip));
            let hang = self.hang;
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                r
            })
        }
        fn addresses(&self, name: &str, ipv6: bool) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
            let r = answer(self.addrs.get(name)).map(|v| v.into_iter().filter(|a| a.is_ipv6() == ipv6).collect());
            Box::pin(async move { r })
        }
        fn mx(&self, name: &str) -> BoxFuture<'_, Result<Vec<(u16, String)>, DnsFailure>> {
            let r = answer(self.mx.get(name));
            Box::pin(async move { r })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn checks(table: Table) -> DnsChecks {
        DnsChecks::new(Arc::new(table))
    }

    #[tokio::test]
    async fn fcrdns() {
        let mut t = Table::default();
        t.ptr.insert(ip("192.0.2.1"), Some(vec!["liar.example".into(), "good.example".into()]));
        t.ptr.insert(ip("192.0.2.2"), Some(vec!["liar.example".into()]));
        t.ptr.insert(ip("192.0.2.3"), None);
        t.ptr.insert(ip("192.0.2.4"), Some(vec!["broken.example".into()]));
        t.addrs.insert("good.example".into(), Some(vec![ip("192.0.2.1")]));
        t.addrs.insert("liar.example".into(), Some(vec![ip("198.51.100.1")]));
        t.addrs.insert("broken.example".into(), None);
        let c = checks(t);
        assert_eq!(c.client_hostname(ip("192.0.2.1")).await, Ok(Some("good.example".into())));
        assert_eq!(c.client_hostname(ip("::ffff:192.0.2.1")).await, Ok(Some("good.example".into())));
        assert_eq!(c.client_hostname(ip("192.0.2.2")).await, Ok(None));
        assert_eq!(c.client_hostname(ip("192.0.2.9")).await, Ok(None));
        assert_eq!(c.client_hostname(ip("192.0.2.3")).await, Err(DnsFailure));
        assert_eq!(c.client_hostname(ip("192.0.2.4")).await, Err(DnsFailure));
    }

    #[tokio::test]
    async fn helo_and_sender_domains() {
        let mut t = Table::default();
        t.addrs.insert("host.example".into(), Some(vec![ip("2001:db8::1")]));
        t.mx.insert("mail.example".into(), Some(vec![(10, "mx.example".into())]));
        t.mx.insert("null.example".into(), Some(vec![(0, String::new())]));
        t.mx.insert("broken.example".into(), None);
        let c = checks(t);
        assert_eq!(c.helo_resolves("host.example").await, Ok(Found::Yes));
        assert_eq!(c.helo_resolves("mail.example").await, Ok(Found::Yes));
        assert_eq!(c.helo_resolves("nowhere.example").await, Ok(Found::No));
        assert_eq!(c.helo_resolves("broken.example").await, Err(DnsFailure));
        assert_eq!(c.sender_domain("host.example").await, Ok(DomainStatus::Exists));
        assert_eq!(c.sender_domain("mail.example").await, Ok(DomainStatus::Exists));
        assert_eq!(c.sender_domain("null.example").await, Ok(DomainStatus::NullMx));
        assert_eq!(c.sender_domain("nowhere.example").await, Ok(DomainStatus::NotFound));
        assert_eq!(c.sender_domain("broken.example").await, Err(DnsFailure));
    }

    #[tokio::test]
    async fn a_silent_resolver_is_dns_trouble_after_the_deadline() {
        let c = checks(Table { hang: true, ..Table::default() }).with_deadline(Duration::from_millis(50));
        let started = std::time::Instant::now();
        assert_eq!(c.client_hostname(ip("192.0.2.1")).await, Err(DnsFailure));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn names_dns_cannot_carry_are_not_asked() {
        assert!(fqdn("a..example").is_none());
        assert!(fqdn(&"a".repeat(64)).is_none());
        assert_eq!(fqdn("Host.Example.").unwrap().to_ascii(), "host.example.");
        assert_eq!(fqdn("bücher.example").unwrap().to_ascii(), "xn--bcher-kva.example.");
    }
}
