//! The stub resolver every DNS-asking check shares the setup of: explicit name servers
//! (`delivery.dns_servers`, so tests ask a local DNS server) or the system's
//! `/etc/resolv.conf`; UDP with TCP for truncated answers; one attempt per query with a
//! timeout; `/etc/hosts` never consulted. And one answer shape: the records of the asked
//! type, where "no records" (NXDOMAIN or NODATA) is an empty list and anything else
//! (timeout, SERVFAIL...) is a failure.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::system_conf::read_system_conf;

/// A resolver asking `servers` (none: the system configuration), each query timing out
/// after `timeout`.
pub fn resolver(servers: &[SocketAddr], timeout: Duration) -> io::Result<TokioResolver> {
    build(servers, timeout, None)
}

/// The same without a cache: for checks an administrator repeats after fixing a record,
/// which must see the fix at once (the DKIM record check).
pub fn uncached_resolver(servers: &[SocketAddr], timeout: Duration) -> io::Result<TokioResolver> {
    build(servers, timeout, Some(0))
}

fn build(servers: &[SocketAddr], timeout: Duration, cache_size: Option<u64>) -> io::Result<TokioResolver> {
    let (config, mut options) = if servers.is_empty() {
        read_system_conf().map_err(io::Error::other)?
    } else {
        let names = servers.iter().map(|server| name_server(*server)).collect();
        (ResolverConfig::from_name_servers(names), ResolverOpts::default())
    };
    options.timeout = timeout;
    options.attempts = 1;
    options.use_hosts_file = ResolveHosts::Never;
    if let Some(size) = cache_size {
        options.cache_size = size;
    }
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(io::Error::other)
}

/// The records of `rtype` at `name` (CNAMEs followed); empty for NXDOMAIN or NODATA;
/// `Err(())` for any other trouble.
pub async fn records(dns: &TokioResolver, name: Name, rtype: RecordType) -> Result<Vec<RData>, ()> {
    match dns.lookup(name, rtype).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter(|record| record.record_type() == rtype)
            .map(|record| record.data.clone())
            .collect()),
        Err(err) if err.is_no_records_found() => Ok(Vec::new()),
        Err(_) => Err(()),
    }
}

fn name_server(server: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
}
