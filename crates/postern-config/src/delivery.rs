//! The `[delivery]` section: routes (direct MX, relay hosts, sender and recipient rules),
//! the resolver, concurrency, timeouts and the retry schedule. Raw form and validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::validate::{num, opt_secs, parse_host_port, range};
use crate::{ConfigError, HostPort};

type Result<T> = std::result::Result<T, ConfigError>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub smtp_port: Option<u64>,
    pub dns_servers: Option<Vec<String>>,
    pub mx_overrides: Option<BTreeMap<String, String>>,
    pub concurrency: Option<u64>,
    pub destination_concurrency: Option<u64>,
    pub connect_timeout: Option<u64>,
    pub command_timeout: Option<u64>,
    pub data_timeout: Option<u64>,
    pub connection_reuse_time: Option<u64>,
    pub retry_first: Option<u64>,
    pub retry_max: Option<u64>,
    pub max_queue_lifetime: Option<u64>,
    pub delay_warning: Option<u64>,
    pub default_route: Option<String>,
    #[serde(default)]
    pub relay_hosts: Vec<RawRelayHost>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelayHost {
    pub name: String,
    pub host: String,
    pub port: Option<u64>,
    pub tls: Option<String>,
    pub require_tls: Option<bool>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls_verify: Option<bool>,
    pub tls_ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub kind: String,
    #[serde(rename = "match")]
    pub pattern: String,
    pub route: String,
}

/// How a connection to a relay host is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    /// STARTTLS when offered (or always, with `require_tls`).
    StartTls,
    /// TLS from the first byte (RFC 8314).
    Implicit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHost {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub require_tls: bool,
    pub auth: Option<Credentials>,
    /// Verify the server's certificate (system roots plus `tls_ca_file`) and name.
    pub tls_verify: bool,
    pub tls_ca_file: Option<std::path::PathBuf>,
}

/// Where mail goes: MX lookup, or a relay host (index into `Delivery::relay_hosts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Direct,
    Relay(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Recipient,
    Sender,
}

/// `pattern` is a lower-cased address (`user@example.com`) or domain (`example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub kind: RuleKind,
    pub pattern: String,
    pub route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Port for direct (MX) delivery.
    pub smtp_port: u16,
    /// Resolvers to ask; empty: the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// Domain -> host:port used instead of its MX (air-gapped sites, tests).
    pub mx_overrides: BTreeMap<String, HostPort>,
    pub concurrency: usize,
    pub destination_concurrency: usize,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub connection_reuse_time: Duration,
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub max_queue_lifetime: Duration,
    /// Send a "delayed" DSN once a message has waited this long; `None`: never.
    pub delay_warning: Option<Duration>,
    pub relay_hosts: Vec<RelayHost>,
    pub default_route: Route,
    /// Recipient rules first, then sender rules, each in file order.
    pub rules: Vec<RouteRule>,
}

/// `relay_host` from the top level or `--relay-host`: an implicit relay host named
/// `relay_host` (STARTTLS when offered, no AUTH) that becomes the default route. From the
/// file, `delivery.default_route` may still name another route; from the flag
/// (`relay_host_flag`) it is the default route whatever the file says: flags win. Routing
/// rules of the file apply either way.
pub fn validate(raw: RawDelivery, relay_host: Option<&HostPort>, relay_host_flag: bool) -> Result<Delivery> {
    let secs = opt_secs;
    let smtp_port = num("delivery.smtp_port", raw.smtp_port, 25, 1, 65535)? as u16;
    let mut dns_servers = Vec::new();
    for (i, text) in raw.dns_servers.unwrap_or_default().iter().enumerate() {
        let addr = text
            .parse::<SocketAddr>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| {
                ConfigError::key(format!("delivery.dns_servers[{i}]"), format!("{text:?} is not IP or IP:PORT"))
            })?;
        dns_servers.push(addr);
    }
    let mut mx_overrides = BTreeMap::new();
    for (domain, target) in raw.mx_overrides.unwrap_or_default() {
        let key = format!("delivery.mx_overrides.{domain}");
        mx_overrides.insert(domain.to_ascii_lowercase(), parse_host_port(&key, &target)?);
    }

    let mut relay_hosts = Vec::new();
    if let Some(hp) = relay_host {
        relay_hosts.push(RelayHost {
            name: "relay_host".into(),
            host: hp.host.clone(),
            port: hp.port,
            tls: TlsMode::StartTls,
            require_tls: false,
            auth: None,
            tls_verify: false,
            tls_ca_file: None,
        });
    }
    for (i, r) in raw.relay_hosts.into_iter().enumerate() {
        let key = |k: &str| format!("delivery.relay_hosts[{i}].{k}");
        if r.name.is_empty() || relay_hosts.iter().any(|h: &RelayHost| h.name == r.name) {
            return Err(ConfigError::key(key("name"), format!("{:?} is empty or used twice", r.name)));
        }
        if r.host.is_empty() || r.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::key(key("host"), format!("{:?} is not a host name or address", r.host)));
        }
        let tls = match r.tls.as_deref() {
            None | Some("starttls") => TlsMode::StartTls,
            Some("implicit") => TlsMode::Implicit,
            Some("none") => TlsMode::None,
            Some(other) => {
                return Err(ConfigError::key(
                    key("tls"),
                    format!("{other:?} is not one of \"none\", \"starttls\", \"implicit\""),
                ));
            }
        };
        let default_port = if tls == TlsMode::Implicit { 465 } else { 587 };
        let port = num(&key("port"), r.port, default_port, 1, 65535)? as u16;
        let require_tls = r.require_tls.unwrap_or(tls == TlsMode::Implicit);
        if require_tls && tls == TlsMode::None {
            return Err(ConfigError::key(key("require_tls"), "cannot be true with tls = \"none\""));
        }
        let auth = match (r.username, r.password) {
            (None, None) => None,
            (Some(username), Some(password)) if !username.is_empty() => {
                if tls == TlsMode::None {
                    return Err(ConfigError::key(
                        key("tls"),
                        "AUTH needs TLS: credentials are never sent in plaintext",
                    ));
                }
                Some(Credentials { username, password })
            }
            _ => return Err(ConfigError::key(key("username"), "username and password go together")),
        };
        // Security by default: a connection that must be encrypted, or that carries our
        // credentials, is only worth it to the right server.
        let tls_verify = r.tls_verify.unwrap_or(require_tls || auth.is_some());
        if tls_verify && tls == TlsMode::None {
            return Err(ConfigError::key(key("tls_verify"), "cannot be true with tls = \"none\""));
        }
        if let Some(path) = &r.tls_ca_file
            && let Err(e) = std::fs::File::open(path)
        {
            return Err(ConfigError::key(key("tls_ca_file"), format!("cannot read {}: {e}", path.display())));
        }
        relay_hosts.push(RelayHost {
            name: r.name,
            host: r.host,
            port,
            tls,
            require_tls,
            auth,
            tls_verify,
            tls_ca_file: r.tls_ca_file,
        });
    }
    let route_by_name = |key: &str, name: &str| -> Result<Route> {
        if name == "direct" {
            return Ok(Route::Direct);
        }
        relay_hosts
            .iter()
            .position(|h| h.name == name)
            .map(Route::Relay)
            .ok_or_else(|| ConfigError::key(key, format!("{name:?} is neither \"direct\" nor a relay host's name")))
    };
    let default_route = match (raw.default_route.as_deref(), relay_host.is_some()) {
        (Some(name), _) => {
            let route = route_by_name("delivery.default_route", name)?;
            if relay_host_flag { Route::Relay(0) } else { route }
        }
        (None, true) => Route::Relay(0),
        (None, false) => Route::Direct,
    };
    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let kind = match r.kind.as_str() {
            "recipient" => RuleKind::Recipient,
            "sender" => RuleKind::Sender,
            other => {
                return Err(ConfigError::key(
                    format!("delivery.rules[{i}].kind"),
                    format!("{other:?} is not \"recipient\" or \"sender\""),
                ));
            }
        };
        let pattern = r.pattern.trim().to_ascii_lowercase();
        if pattern.is_empty() || pattern.starts_with('@') || pattern.matches('@').count() > 1 || pattern.contains(' ') {
            return Err(ConfigError::key(
                format!("delivery.rules[{i}].match"),
                format!("{:?} is not an address or a domain", r.pattern),
            ));
        }
        let route = route_by_name(&format!("delivery.rules[{i}].route"), &r.route)?;
        rules.push(RouteRule { kind, pattern, route });
    }
    rules.sort_by_key(|r| r.kind == RuleKind::Sender);

    let retry_first = secs("delivery.retry_first", raw.retry_first, 300, 86_400)?;
    let retry_max = secs("delivery.retry_max", raw.retry_max, 3600, 86_400)?;
    if retry_max < retry_first {
        return Err(ConfigError::key("delivery.retry_max", "must not be smaller than delivery.retry_first"));
    }
    Ok(Delivery {
        smtp_port,
        dns_servers,
        mx_overrides,
        concurrency: num("delivery.concurrency", raw.concurrency, 100, 1, 10_000)? as usize,
        destination_concurrency: num("delivery.destination_concurrency", raw.destination_concurrency, 20, 1, 1000)?
            as usize,
        connect_timeout: secs("delivery.connect_timeout", raw.connect_timeout, 30, 600)?,
        command_timeout: secs("delivery.command_timeout", raw.command_timeout, 300, 3600)?,
        data_timeout: secs("delivery.data_timeout", raw.data_timeout, 600, 3600)?,
        connection_reuse_time: secs("delivery.connection_reuse_time", raw.connection_reuse_time, 5, 300)?,
        retry_first,
        retry_max,
        max_queue_lifetime: secs("delivery.max_queue_lifetime", raw.max_queue_lifetime, 432_000, 60 * 86_400)?,
        delay_warning: match raw.delay_warning {
            None | Some(0) => None,
            Some(s) => Some(Duration::from_secs(range("delivery.delay_warning", s, 1, 60 * 86_400)?)),
        },
        relay_hosts,
        default_route,
        rules,
    })
}
