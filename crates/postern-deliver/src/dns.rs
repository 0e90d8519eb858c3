//! MX resolution (RFC 5321 §5.1, RFC 7505). In: a recipient domain. Out: hosts to try in
//! order, or a permanent answer (null MX, no such domain), or a temporary failure.
//! The resolver is configurable (`delivery.dns_servers`), so tests ask a local DNS server;
//! `delivery.mx_overrides` answers without DNS. At most 5 addresses are tried per message.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use postern_config::HostPort;
use rand::seq::SliceRandom;

const MAX_ADDRESSES: usize = 5;

/// One address to connect to, with the name it was found under (for logs and SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Targets(Vec<Target>),
    /// The domain publishes a null MX: it accepts no mail.
    NullMx,
    /// The domain (or its only host) does not exist.
    NotFound(String),
}

/// A lookup that may succeed later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryFailure(pub String);

pub struct Dns {
    resolver: TokioResolver,
    overrides: BTreeMap<String, HostPort>,
    port: u16,
}

impl Dns {
    pub fn new(servers: &[SocketAddr], overrides: BTreeMap<String, HostPort>, port: u16) -> Result<Dns, String> {
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?
        } else {
            let names = servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(names),
                TokioRuntimeProvider::default(),
            )
        };
        let resolver = builder.build().map_err(|e| format!("resolver: {e}"))?;
        Ok(Dns { resolver, overrides, port })
    }

    /// Hosts for a recipient domain, MX preference order (random within a preference).
    pub async fn mx_targets(&self, domain: &str) -> Result<Answer, TemporaryFailure> {
        let domain = domain.to_ascii_lowercase();
        if let Some(hp) = self.overrides.get(&domain) {
            return self.host_targets(&hp.host, hp.port).await;
        }
        if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            let ip = literal.strip_prefix("ipv6:").unwrap_or(literal);
            return match ip.parse::<IpAddr>() {
                Ok(ip) => {
                    Ok(Answer::Targets(vec![Target { name: domain.clone(), addr: SocketAddr::new(ip, self.port) }]))
                }
                Err(_) => Ok(Answer::NotFound(format!("bad address literal {domain}"))),
            };
        }
        let fqdn = format!("{domain}.");
        match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                if mx.len() == 1 && (mx[0].1 == "." || mx[0].1.is_empty()) {
                    return Ok(Answer::NullMx);
                }
                mx.retain(|(_, host)| host != "." && !host.is_empty());
                mx.shuffle(&mut rand::rng());
                mx.sort_by_key(|(pref, _)| *pref);
                let mut targets = Vec::new();
                let mut last_error = None;
                for (_, host) in mx {
                    match self.addresses(&host).await {
                        Ok(addrs) => {
                            let name = host.trim_end_matches('.').to_string();
                            targets.extend(
                                addrs
                                    .into_iter()
                                    .map(|ip| Target { name: name.clone(), addr: SocketAddr::new(ip, self.port) }),
                            );
                        }
                        // This MX host does not exist or has no address: not usable, now or later.
                        Err(TemporaryFailure(e)) if e.starts_with("NX:") => {}
                        Err(e) => last_error = Some(e),
                    }
                    if targets.len() >= MAX_ADDRESSES {
                        break;
                    }
                }
                targets.truncate(MAX_ADDRESSES);
                match (targets.is_empty(), last_error) {
                    (false, _) => Ok(Answer::Targets(targets)),
                    (true, Some(e)) => Err(e),
                    // RFC 5321 §5.1: MX records, none usable: an error, not a reason to wait.
                    (true, None) => Ok(Answer::NotFound(format!("no MX host for {domain} has an address record"))),
                }
            }
            Err(e) if e.is_nx_domain() => Ok(Answer::NotFound(format!("Host or domain name not found: {domain}"))),
            // No MX: the domain itself is the mail host (implicit MX).
            Err(e) if e.is_no_records_found() => self.host_targets(&domain, self.port).await,
            Err(e) => Err(TemporaryFailure(format!("MX lookup for {domain}: {e}"))),
        }
    }

    /// A relay host or an implicit MX: its addresses.
    pub async fn host_targets(&self, host: &str, port: u16) -> Result<Answer, TemporaryFailure> {
        if let Ok(ip) = host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
            return Ok(Answer::Targets(vec![Target { name: host.to_string(), addr: SocketAddr::new(ip, port) }]));
        }
        match self.addresses(host).await {
            Ok(addrs) if addrs.is_empty() => Ok(Answer::NotFound(format!("no address for {host}"))),
            Ok(addrs) => Ok(Answer::Targets(
                addrs
                    .into_iter()
                    .take(MAX_ADDRESSES)
                    .map(|ip| Target { name: host.to_string(), addr: SocketAddr::new(ip, port) })
                    .collect(),
            )),
            Err(TemporaryFailure(e)) if e.starts_with("NX:") => {
                Ok(Answer::NotFound(format!("Host or domain name not found: {host}")))
            }
            Err(e) => Err(e),
        }
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, TemporaryFailure> {
        let fqdn = if host.ends_with('.') { host.to_string() } else { format!("{host}.") };
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Err(TemporaryFailure(format!("NX: {host}"))),
            Err(e) => Err(TemporaryFailure(format!("address lookup for {host}: {e}"))),
        }
    }
}
