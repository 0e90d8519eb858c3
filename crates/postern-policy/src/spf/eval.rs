//! `check_host()` (RFC 7208 §4 to §6): evaluates a domain's SPF record for a client IP,
//! following includes and redirects, under the DNS lookup limits of §4.6.4.
//!
//! In: an [`Identity`], the client IP (canonical: IPv4-mapped addresses already made
//! IPv4), the HELO name and an [`SpfResolver`]. Out: the [`SpfResult`] and, for `fail`,
//! the explanation of the record that decided (§6.2).
//!
//! Defends against records that make a check expensive or endless (§4.6.4): at most 10
//! terms that cause DNS lookups (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`),
//! which also ends include and redirect loops; at most 2 void lookups (NXDOMAIN or no
//! answer); at most 10 MX hosts per `mx`; only the first 10 PTR names for `ptr` and
//! `%{p}`. Each breach is a `permerror`. Explanation lookups are not counted, and their
//! failures only lose the explanation.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::SpfResult;
use super::identity::Identity;
use super::macros::{MacroString, Vars};
use super::record::{self, Mechanism, Qualifier};
use super::resolver::{SpfResolver, dns_name, reverse_name};

const MAX_LOOKUPS: u32 = 10;
const MAX_VOID_LOOKUPS: u32 = 2;
const MAX_MX: usize = 10;
const MAX_PTR: usize = 10;

/// What ends an evaluation before a mechanism decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abort {
    Temp,
    Perm,
}

type Step<T> = Result<T, Abort>;

/// One check_host() result, with the `exp=` of the record that decided and its domain.
struct Decision {
    result: SpfResult,
    exp: Option<(MacroString, String)>,
}

pub(super) struct Evaluation<'a> {
    resolver: &'a SpfResolver,
    identity: &'a Identity,
    ip: IpAddr,
    helo: &'a str,
    lookups: u32,
    voids: u32,
    /// The client's validated host names (`ptr`, `%{p}`), looked up at most once.
    validated: Option<Vec<String>>,
}

impl<'a> Evaluation<'a> {
    pub(super) fn new(resolver: &'a SpfResolver, identity: &'a Identity, ip: IpAddr, helo: &'a str) -> Self {
        Evaluation { resolver, identity, ip, helo, lookups: 0, voids: 0, validated: None }
    }

    /// The result for the identity's domain, and the explanation of a `fail`.
    pub(super) async fn run(mut self) -> (SpfResult, Option<String>) {
        match self.check_host(self.identity.domain.clone()).await {
            Ok(Decision { result: SpfResult::Fail, exp: Some((spec, domain)) }) => {
                let explanation = self.explain(&spec, &domain).await;
                (SpfResult::Fail, explanation)
            }
            Ok(decision) => (decision.result, None),
            Err(Abort::Temp) => (SpfResult::TempError, None),
            Err(Abort::Perm) => (SpfResult::PermError, None),
        }
    }

    fn check_host(&mut self, domain: String) -> Pin<Box<dyn Future<Output = Step<Decision>> + Send + '_>> {
        Box::pin(async move {
            let Some(record) = self.fetch_record(&domain).await? else {
                return Ok(Decision { result: SpfResult::None, exp: None });
            };
            for directive in &record.directives {
                if self.matches(&directive.mechanism, &domain).await? {
                    let exp = record.exp.clone().map(|exp| (exp, domain.clone()));
                    return Ok(Decision { result: directive.qualifier.into(), exp });
                }
            }
            if let Some(redirect) = &record.redirect {
                self.count_lookup()?;
                let target = self.expand_domain(redirect, &domain).await?;
                let decision = self.check_host(target).await?;
                return if decision.result == SpfResult::None { Err(Abort::Perm) } else { Ok(decision) };
            }
            Ok(Decision { result: SpfResult::Neutral, exp: record.exp.map(|exp| (exp, domain)) })
        })
    }

    /// The domain's SPF record (§4.4, §4.5); `None` for no record or an unusable name.
    async fn fetch_record(&mut self, domain: &str) -> Step<Option<record::Record>> {
        let Some(name) = dns_name(domain) else {
            return Ok(None);
        };
        let txts: Vec<Vec<u8>> = self.query(&name, RecordType::TXT).await?.iter().filter_map(txt_bytes).collect();
        record::select(&txts).map_err(|_| Abort::Perm)
    }

    async fn matches(&mut self, mechanism: &Mechanism, domain: &str) -> Step<bool> {
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(net, len) => Ok(in_network(self.ip, IpAddr::V4(*net), *len, 0)),
            Mechanism::Ip6(net, len) => Ok(in_network(self.ip, IpAddr::V6(*net), 0, *len)),
            Mechanism::Include(spec) => {
                self.count_lookup()?;
                let target = self.expand_domain(spec, domain).await?;
                match self.check_host(target).await?.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(Abort::Temp),
                    SpfResult::None | SpfResult::PermError => Err(Abort::Perm),
                }
            }
            Mechanism::A { domain: spec, cidr4, cidr6 } => {
                self.count_lookup()?;
                let Some(name) = dns_name(&self.target(spec.as_ref(), domain).await?) else {
                    return Ok(false);
                };
                let addrs = self.addresses(&name).await?;
                Ok(addrs.into_iter().any(|addr| in_network(self.ip, addr, *cidr4, *cidr6)))
            }
            Mechanism::Mx { domain: spec, cidr4, cidr6 } => {
                self.count_lookup()?;
                let Some(name) = dns_name(&self.target(spec.as_ref(), domain).await?) else {
                    return Ok(false);
                };
                self.mx_matches(&name, *cidr4, *cidr6).await
            }
            Mechanism::Ptr(spec) => {
                self.count_lookup()?;
                let target = self.target(spec.as_ref(), domain).await?.to_ascii_lowercase();
                let suffix = format!(".{target}");
                let names = self.validated_names().await?;
                Ok(names.iter().any(|name| *name == target || name.ends_with(&suffix)))
            }
            Mechanism::Exists(spec) => {
                self.count_lookup()?;
                let Some(name) = dns_name(&self.expand_domain(spec, domain).await?) else {
                    return Ok(false);
                };
                Ok(!self.query(&name, RecordType::A).await?.is_empty())
            }
        }
    }

    /// `mx` (§5.4): an address of one of at most 10 MX hosts matches.
    async fn mx_matches(&mut self, name: &Name, cidr4: u8, cidr6: u8) -> Step<bool> {
        let mut hosts: Vec<(u16, Name)> = self
            .query(name, RecordType::MX)
            .await?
            .into_iter()
            .filter_map(|rdata| match rdata {
                RData::MX(mx) => Some((mx.preference, mx.exchange)),
                _ => None,
            })
            .collect();
        if hosts.len() > MAX_MX {
            return Err(Abort::Perm);
        }
        hosts.sort_by_key(|(preference, _)| *preference);
        for (_, host) in hosts.iter().filter(|(_, host)| !host.is_root()) {
            if self.addresses(host).await?.into_iter().any(|addr| in_network(self.ip, addr, cidr4, cidr6)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The client's validated names (§5.5): PTR names (the first 10) whose addresses
    /// include the client. DNS failures here only lose names.
    async fn validated_names(&mut self) -> Step<Vec<String>> {
        if let Some(names) = &self.validated {
            return Ok(names.clone());
        }
        let Some(reverse) = reverse_name(self.ip) else {
            return Ok(Vec::new());
        };
        let ptrs = match self.query(&reverse, RecordType::PTR).await {
            Err(Abort::Temp) => Vec::new(),
            other => other?,
        };
        let mut names = Vec::new();
        for rdata in ptrs.iter().take(MAX_PTR) {
            let RData::PTR(ptr) = rdata else { continue };
            match self.addresses(ptr).await {
                Ok(addrs) if addrs.contains(&self.ip) => names.push(plain_name(ptr)),
                Ok(_) | Err(Abort::Temp) => {}
                Err(Abort::Perm) => return Err(Abort::Perm),
            }
        }
        self.validated = Some(names.clone());
        Ok(names)
    }

    /// The explanation (§6.2): exactly one TXT record, ASCII, valid explain-string.
    async fn explain(&mut self, spec: &MacroString, domain: &str) -> Option<String> {
        let name = dns_name(&self.expand_domain(spec, domain).await.ok()?)?;
        let records = self.resolver.lookup(&name, RecordType::TXT).await.ok()?;
        let [record] = records.as_slice() else { return None };
        let text = String::from_utf8(txt_bytes(record)?).ok().filter(|text| text.is_ascii())?;
        let explanation = MacroString::explanation(&text).ok()?;
        if explanation.uses_validated() {
            self.validated_names().await.ok()?;
        }
        Some(explanation.expand(&self.vars(domain).as_vars()))
    }

    /// A mechanism's target: its domain-spec expanded, or the current domain.
    async fn target(&mut self, spec: Option<&MacroString>, domain: &str) -> Step<String> {
        match spec {
            Some(spec) => self.expand_domain(spec, domain).await,
            None => Ok(domain.to_string()),
        }
    }

    async fn expand_domain(&mut self, spec: &MacroString, domain: &str) -> Step<String> {
        if spec.uses_validated() {
            self.validated_names().await?;
        }
        Ok(spec.expand_domain(&self.vars(domain).as_vars()))
    }

    fn vars(&self, domain: &str) -> OwnedVars<'_> {
        let validated = self.validated.as_ref().and_then(|names| {
            let domain = domain.to_ascii_lowercase();
            let suffix = format!(".{domain}");
            names
                .iter()
                .find(|n| **n == domain)
                .or_else(|| names.iter().find(|n| n.ends_with(&suffix)))
                .or(names.first())
        });
        OwnedVars { evaluation: self, domain: domain.to_string(), validated: validated.cloned() }
    }

    /// A or AAAA records of `name`, as the client's address family asks.
    async fn addresses(&mut self, name: &Name) -> Step<Vec<IpAddr>> {
        let rtype = if self.ip.is_ipv4() { RecordType::A } else { RecordType::AAAA };
        Ok(self
            .query(name, rtype)
            .await?
            .into_iter()
            .filter_map(|rdata| match rdata {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect())
    }

    /// One counted query: no records is a void lookup; a failure is a `temperror`.
    async fn query(&mut self, name: &Name, rtype: RecordType) -> Step<Vec<RData>> {
        let records = self.resolver.lookup(name, rtype).await.map_err(|_| Abort::Temp)?;
        if records.is_empty() {
            self.voids += 1;
            if self.voids > MAX_VOID_LOOKUPS {
                return Err(Abort::Perm);
            }
        }
        Ok(records)
    }

    fn count_lookup(&mut self) -> Step<()> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS { Err(Abort::Perm) } else { Ok(()) }
    }
}

/// [`Vars`] borrow; this owns what is computed per expansion.
struct OwnedVars<'e> {
    evaluation: &'e Evaluation<'e>,
    domain: String,
    validated: Option<String>,
}

impl OwnedVars<'_> {
    fn as_vars(&self) -> Vars<'_> {
        let identity = self.evaluation.identity;
        Vars {
            sender: &identity.sender,
            local: identity.sender.rsplit_once('@').map_or("postmaster", |(local, _)| local),
            sender_domain: &identity.domain,
            domain: &self.domain,
            ip: self.evaluation.ip,
            validated: self.validated.as_deref(),
            helo: self.evaluation.helo,
            receiver: &self.evaluation.resolver.receiver,
            timestamp: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }
}

impl From<Qualifier> for SpfResult {
    fn from(qualifier: Qualifier) -> SpfResult {
        match qualifier {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }
}

/// A TXT record's strings joined without separator (§3.3).
fn txt_bytes(rdata: &RData) -> Option<Vec<u8>> {
    match rdata {
        RData::TXT(txt) => Some(txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
        _ => None,
    }
}

/// A host name in lower case, without the final dot.
fn plain_name(name: &Name) -> String {
    let mut text = name.to_ascii().to_ascii_lowercase();
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// Is `ip` in `net/len` (`cidr4` for IPv4, `cidr6` for IPv6)? Families never mix.
fn in_network(ip: IpAddr, net: IpAddr, cidr4: u8, cidr6: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(cidr4)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(cidr6)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("192.0.2.7"), ip("192.0.2.0"), 24, 128));
        assert!(!in_network(ip("192.0.3.7"), ip("192.0.2.0"), 24, 128));
        assert!(in_network(ip("198.51.100.1"), ip("192.0.2.0"), 0, 128));
        assert!(in_network(ip("192.0.2.7"), ip("192.0.2.7"), 32, 128));
        assert!(in_network(ip("2001:db8::1"), ip("2001:db8::"), 32, 32));
        assert!(in_network(ip("2001:db8::1"), ip("::"), 32, 0));
        assert!(!in_network(ip("192.0.2.7"), ip("::"), 0, 0), "an IPv4 client never matches ip6");
        assert!(!in_network(ip("2001:db8::1"), ip("0.0.0.0"), 0, 0), "an IPv6 client never matches ip4");
    }
}
