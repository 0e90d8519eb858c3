//! Raw file values + flag overrides + machine defaults -> a [`Config`], checking each value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::raw::{RawAuth, RawConfig, RawCounters, RawLimits, RawListener, RawStore};
use crate::{
    AuthConfig, Config, ConfigError, CountersConfig, Defaults, HostPort, Limits, ListenerConfig, ListenerKind,
    LogConfig, LogFormat, Overrides, TlsFiles,
};

type Result<T> = std::result::Result<T, ConfigError>;

pub fn validate(raw: RawConfig, flags: &Overrides, defaults: &Defaults) -> Result<Config> {
    let hostname = match &flags.hostname {
        Some(h) => check_hostname("--hostname", h)?,
        None => match &raw.hostname {
            Some(h) => check_hostname("hostname", h)?,
            None => defaults.hostname.clone(),
        },
    };
    let banner = raw.banner.unwrap_or_else(|| "$hostname ESMTP Postern".to_string());
    if banner.chars().any(char::is_control) || banner.len() > 400 {
        return Err(ConfigError::key("banner", "must be one line of at most 400 characters"));
    }
    let banner = banner.replace("$hostname", &hostname);

    let data_dir = flags.data_dir.clone().or(raw.data_dir).unwrap_or_else(|| PathBuf::from("./postern-data"));

    let trusted_networks = if !flags.trusted_networks.is_empty() {
        parse_cidrs("--trusted-network", &flags.trusted_networks)?
    } else if let Some(list) = &raw.trusted_networks {
        parse_cidrs("trusted_networks", list)?
    } else {
        parse_cidrs("trusted_networks", &["127.0.0.0/8".into(), "::1/128".into()])?
    };

    let relay_host = match (&flags.relay_host, &raw.relay_host) {
        (Some(v), _) => Some(parse_host_port("--relay-host", v)?),
        (None, Some(v)) => Some(parse_host_port("relay_host", v)?),
        (None, None) => None,
    };

    let format = match raw.log.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(ConfigError::key("log.format", format!("{other:?} is not one of \"text\", \"json\"")));
        }
    };
    let level = raw.log.level.unwrap_or_else(|| "info".to_string());
    if level.is_empty() || level.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::key("log.level", "must be a filter such as \"info\""));
    }
    let retention_days = match raw.log.retention_days {
        None => LogConfig::DEFAULT_RETENTION_DAYS,
        Some(days @ 1..=3650) => days as u32,
        Some(days) => return Err(ConfigError::key("log.retention_days", format!("{days} is not between 1 and 3650"))),
    };

    let tls = match (raw.tls.certificate, raw.tls.private_key) {
        (None, None) => None,
        (Some(certificate), Some(private_key)) => {
            check_readable("tls.certificate", &certificate)?;
            check_readable("tls.private_key", &private_key)?;
            Some(TlsFiles { certificate, private_key })
        }
        (Some(_), None) => return Err(ConfigError::key("tls.private_key", "missing (tls.certificate is set)")),
        (None, Some(_)) => return Err(ConfigError::key("tls.certificate", "missing (tls.private_key is set)")),
    };

    let max_connections_set = raw.limits.max_connections.is_some();
    let mut limits = limits(raw.limits)?;

    let mut listeners = Vec::new();
    let specs = [
        (ListenerKind::Smtp, &flags.smtp, raw.listeners.smtp, "127.0.0.1:2525", false),
        (ListenerKind::Submission, &flags.submission, raw.listeners.submission, "127.0.0.1:2587", true),
        (ListenerKind::Smtps, &flags.smtps, raw.listeners.smtps, "127.0.0.1:2465", true),
    ];
    for (kind, flag, raw_listener, default_addr, default_headers) in specs {
        if let Some(l) =
            listener(kind, flag.as_deref(), raw_listener, default_addr, default_headers, &trusted_networks)?
        {
            listeners.push(l);
        }
    }
    if listeners.is_empty() {
        return Err(ConfigError::key("listeners", "every listener is turned off"));
    }
    if !max_connections_set {
        // Unset, the overall ceiling never makes one listener's clients wait for another's.
        limits.max_connections = listeners.iter().map(|l| l.max_connections).sum();
    }

    let delivery = crate::delivery::validate(raw.delivery, relay_host.as_ref(), flags.relay_host.is_some())?;
    let auth = auth(raw.auth)?;
    let counters = counters(raw.counters)?;
    let store = store(raw.store)?;
    let engines = crate::engines::validate(raw.rspamd, raw.spamassassin, raw.clamav)?;
    let postmaster = crate::postmaster::validate(raw.postmaster, &hostname)?;
    let quarantine = quarantine(raw.quarantine)?;
    let scorer = scorer(raw.scorer)?;
    let domain_age = crate::domain_age::validate(raw.domain_age)?;
    let attachments = crate::attachments::validate(raw.attachments)?;
    let metrics = crate::metrics::validate(raw.metrics)?;
    let panel = crate::panel::validate(raw.panel)?;
    let (admin_key, admin_text) = match (&flags.admin, raw.admin.address.as_deref()) {
        (Some(f), _) => ("--admin".to_string(), f.as_str()),
        (None, Some(a)) => ("admin.address".to_string(), a),
        (None, None) => (String::new(), "127.0.0.1:8025"),
    };
    let admin = if admin_text.is_empty() {
        None
    } else {
        Some(admin_text.parse::<SocketAddr>().map_err(|_| {
            ConfigError::key(admin_key, format!("{admin_text:?} is not an IP address and port such as 127.0.0.1:8025"))
        })?)
    };
    let d = crate::IpAccountLimits::default();
    let ip_accounts = crate::IpAccountLimits {
        widest_ipv4: num(
            "admin.domain_admin_widest_ipv4",
            raw.admin.domain_admin_widest_ipv4,
            d.widest_ipv4.into(),
            0,
            32,
        )? as u8,
        widest_ipv6: num(
            "admin.domain_admin_widest_ipv6",
            raw.admin.domain_admin_widest_ipv6,
            d.widest_ipv6.into(),
            0,
            128,
        )? as u8,
    };
    Ok(Config {
        hostname,
        banner,
        data_dir,
        trusted_networks,
        relay_host,
        log: LogConfig { format, level, retention_days },
        tls,
        limits,
        listeners,
        delivery,
        admin,
        admin_tls: raw.admin.tls.unwrap_or(false),
        ip_accounts,
        auth,
        counters,
        store,
        engines,
        postmaster,
        quarantine,
        scorer,
        domain_age,
        attachments,
        metrics,
        panel,
    })
}

/// `min_ham`, `min_spam`: at least one sample of each, at most ten million.
fn scorer(raw: crate::raw::RawScorer) -> Result<crate::ScorerConfig> {
    let d = crate::ScorerConfig::default();
    Ok(crate::ScorerConfig {
        min_ham: num("scorer.min_ham", raw.min_ham, d.min_ham.into(), 1, 10_000_000)? as u32,
        min_spam: num("scorer.min_spam", raw.min_spam, d.min_spam.into(), 1, 10_000_000)? as u32,
    })
}

/// `lifetime_days`: more than one second, at most ten years; fractions allowed.
fn quarantine(raw: crate::raw::RawQuarantine) -> Result<crate::QuarantineConfig> {
    let Some(days) = raw.lifetime_days else { return Ok(crate::QuarantineConfig::default()) };
    let seconds = days * 86_400.0;
    if !seconds.is_finite() || !(1.0..=3650.0 * 86_400.0).contains(&seconds) {
        return Err(ConfigError::key(
            "quarantine.lifetime_days",
            format!("{days} is not between one second (0.0000116) and 3650 days"),
        ));
    }
    Ok(crate::QuarantineConfig { lifetime: std::time::Duration::from_secs_f64(seconds) })
}

fn counters(raw: RawCounters) -> Result<CountersConfig> {
    match raw.backend.as_deref() {
        None | Some("embedded") => {
            if raw.redis_url.is_some() {
                return Err(ConfigError::key("counters.redis_url", "set, but counters.backend is not \"redis\""));
            }
            Ok(CountersConfig::Embedded)
        }
        Some("redis") => {
            let url = raw.redis_url.unwrap_or_else(|| "redis://127.0.0.1:6379".to_string());
            if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
                return Err(ConfigError::key("counters.redis_url", format!("{url:?} is not a redis:// URL")));
            }
            let prefix = raw.redis_prefix.unwrap_or_else(|| "postern".to_string());
            if prefix.is_empty() || prefix.len() > 64 || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::key("counters.redis_prefix", "1 to 64 characters without spaces"));
            }
            Ok(CountersConfig::Redis { url, prefix })
        }
        Some(other) => {
            Err(ConfigError::key("counters.backend", format!("{other:?} is not one of \"embedded\", \"redis\"")))
        }
    }
}

fn store(raw: RawStore) -> Result<crate::StoreConfig> {
    match raw.backend.as_deref() {
        None | Some("sqlite") => {
            if raw.url.is_some() {
                return Err(ConfigError::key("store.url", "set, but store.backend is not \"postgres\""));
            }
            if raw.pool_size.is_some() {
                return Err(ConfigError::key("store.pool_size", "set, but store.backend is not \"postgres\""));
            }
            if raw.ca_file.is_some() {
                return Err(ConfigError::key("store.ca_file", "set, but store.backend is not \"postgres\""));
            }
            Ok(crate::StoreConfig::Sqlite)
        }
        Some("postgres") => {
            let Some(url) = raw.url.filter(|u| !u.trim().is_empty()) else {
                return Err(ConfigError::key("store.url", "required with store.backend = \"postgres\""));
            };
            let pool_size = raw.pool_size.unwrap_or(8);
            if !(1..=64).contains(&pool_size) {
                return Err(ConfigError::key("store.pool_size", format!("{pool_size} is not 1 to 64")));
            }
            if raw.ca_file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
                return Err(ConfigError::key("store.ca_file", "empty: leave it out, or name a PEM file"));
            }
            Ok(crate::StoreConfig::Postgres { url, pool_size: pool_size as usize, ca_file: raw.ca_file })
        }
        Some(other) => {
            Err(ConfigError::key("store.backend", format!("{other:?} is not one of \"sqlite\", \"postgres\"")))
        }
    }
}

fn auth(raw: RawAuth) -> Result<AuthConfig> {
    let d = AuthConfig::default();
    Ok(AuthConfig {
        max_failures: num("auth.max_failures", raw.max_failures, u64::from(d.max_failures), 1, 1000)? as u32,
        failure_window: opt_secs("auth.failure_window", raw.failure_window, d.failure_window.as_secs(), 86_400)?,
        block_time: opt_secs("auth.block_time", raw.block_time, d.block_time.as_secs(), 7 * 86_400)?,
        failure_delay: Duration::from_secs(num(
            "auth.failure_delay",
            raw.failure_delay,
            d.failure_delay.as_secs(),
            0,
            60,
        )?),
        trusted_networks_check_sender: raw.trusted_networks_check_sender.unwrap_or(false),
        cache_size: num("auth.cache_size", raw.cache_size, d.cache_size as u64, 0, MAX_AUTH_CACHE_SIZE)? as usize,
        cache_ttl: Duration::from_secs(num("auth.cache_ttl", raw.cache_ttl, d.cache_ttl.as_secs(), 0, 86_400)?),
    })
}

/// About 100 bytes an entry: at most about 100 MB.
const MAX_AUTH_CACHE_SIZE: u64 = 1_000_000;

fn listener(
    kind: ListenerKind,
    flag: Option<&str>,
    raw: RawListener,
    default_addr: &str,
    default_headers: bool,
    trusted_networks: &[IpNet],
) -> Result<Option<ListenerConfig>> {
    let (key, text) = match (flag, raw.address.as_deref()) {
        (Some(f), _) => (format!("--{}", kind.name()), f),
        (None, Some(a)) => (format!("listeners.{}.address", kind.name()), a),
        (None, None) => (String::new(), default_addr),
    };
    if text.is_empty() {
        return Ok(None);
    }
    let address: SocketAddr = text
        .parse()
        .map_err(|_| ConfigError::key(key, format!("{text:?} is not an IP address and port such as 127.0.0.1:2525")))?;
    let add_missing_headers = raw.add_missing_headers.unwrap_or(default_headers);
    let allow_plaintext_auth = raw.allow_plaintext_auth.unwrap_or(false);
    let max_connections = num(
        &format!("listeners.{}.max_connections", kind.name()),
        raw.max_connections,
        DEFAULT_LISTENER_CONNECTIONS,
        1,
        100_000,
    )? as usize;
    let policy = crate::connection_policy::validate(kind.name(), &raw, trusted_networks)?;
    Ok(Some(ListenerConfig { kind, address, add_missing_headers, allow_plaintext_auth, max_connections, policy }))
}

/// Each listener's `max_connections` unless set.
const DEFAULT_LISTENER_CONNECTIONS: u64 = 1000;

fn limits(raw: RawLimits) -> Result<Limits> {
    let d = Limits::default();
    let secs = |key: &str, v: Option<u64>, default: Duration, max: u64| opt_secs(key, v, default.as_secs(), max);
    let max_message_size = num("limits.max_message_size", raw.max_message_size, d.max_message_size, 1024, 1 << 31)?;
    let max_data_in_flight =
        num("limits.max_data_in_flight", raw.max_data_in_flight, d.max_data_in_flight, 1 << 20, 1 << 40)?;
    if max_data_in_flight < max_message_size {
        return Err(ConfigError::key(
            "limits.max_data_in_flight",
            format!(
                "{max_data_in_flight} is less than limits.max_message_size ({max_message_size}): no message of the largest size could ever be received"
            ),
        ));
    }
    Ok(Limits {
        max_message_size,
        max_recipients: num("limits.max_recipients", raw.max_recipients, d.max_recipients as u64, 1, 100_000)? as usize,
        max_hops: num("limits.max_hops", raw.max_hops, d.max_hops as u64, 1, 1000)? as usize,
        max_line_length: num("limits.max_line_length", raw.max_line_length, d.max_line_length as u64, 512, 65_536)?
            as usize,
        command_timeout: secs("limits.command_timeout", raw.command_timeout, d.command_timeout, 3600)?,
        data_timeout: secs("limits.data_timeout", raw.data_timeout, d.data_timeout, 3600)?,
        max_data_time: secs("limits.max_data_time", raw.max_data_time, d.max_data_time, 86_400)?,
        max_data_in_flight,
        max_connections: num("limits.max_connections", raw.max_connections, d.max_connections as u64, 1, 100_000)?
            as usize,
        hard_error_limit: num("limits.hard_error_limit", raw.hard_error_limit, u64::from(d.hard_error_limit), 1, 1000)?
            as u32,
        shutdown_timeout: secs("limits.shutdown_timeout", raw.shutdown_timeout, d.shutdown_timeout, 3600)?,
    })
}

/// An optional number of seconds (1..=max), or the default.
pub(crate) fn opt_secs(key: &str, value: Option<u64>, default: u64, max: u64) -> Result<Duration> {
    Ok(Duration::from_secs(num(key, value, default, 1, max)?))
}

/// An optional number in min..=max, or the default.
pub(crate) fn num(key: &str, value: Option<u64>, default: u64, min: u64, max: u64) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(n) => range(key, n, min, max),
    }
}

pub(crate) fn range(key: &str, value: u64, min: u64, max: u64) -> Result<u64> {
    if value < min || value > max {
        return Err(ConfigError::key(key, format!("{value} is out of range {min}..={max}")));
    }
    Ok(value)
}

pub(crate) fn parse_cidrs(key: &str, list: &[String]) -> Result<Vec<IpNet>> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            let key = if key.starts_with("--") { key.to_string() } else { format!("{key}[{i}]") };
            parse_cidr(text).ok_or_else(|| {
                ConfigError::key(key, format!("{text:?} is not an IP address or CIDR such as 192.0.2.0/24"))
            })
        })
        .collect()
}

/// An address (a host route) or a CIDR; host bits must be zero, as in Postfix's mynetworks check.
fn parse_cidr(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return (net.trunc() == net).then_some(net);
    }
    text.parse::<std::net::IpAddr>().ok().map(IpNet::from)
}

pub(crate) fn parse_host_port(key: &str, text: &str) -> Result<HostPort> {
    let bad = || ConfigError::key(key, format!("{text:?} is not HOST:PORT such as smtp.example.net:587"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
        (h, p)
    } else {
        text.rsplit_once(':').ok_or_else(bad)?
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(HostPort { host: host.to_string(), port })
}

fn check_hostname(key: &str, name: &str) -> Result<String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(ConfigError::key(key, format!("{name:?} is not a valid host name")));
    }
    Ok(name.to_string())
}

pub(crate) fn check_readable(key: &str, path: &std::path::Path) -> Result<()> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| ConfigError::key(key, format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw;

    fn load(text: &str) -> Result<Config> {
        let defaults = Defaults { hostname: "gw.example.net".into() };
        validate(raw::parse(text).expect("toml"), &Overrides::default(), &defaults)
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = load("").unwrap();
        assert_eq!(c.hostname, "gw.example.net");
        assert_eq!(c.banner, "gw.example.net ESMTP Postern");
        assert_eq!(c.listeners.len(), 3);
        assert_eq!(c.listeners[0].address.to_string(), "127.0.0.1:2525");
        assert!(!c.listeners[0].add_missing_headers);
        assert!(c.listeners[1].add_missing_headers);
        assert_eq!(c.trusted_networks.len(), 2);
        assert_eq!(c.limits, Limits { max_connections: 3000, ..Limits::default() });
        assert!(c.listeners.iter().all(|l| l.max_connections == 1000));
        assert_eq!(c.ip_accounts, crate::IpAccountLimits { widest_ipv4: 24, widest_ipv6: 48 });
    }

    #[test]
    fn ip_account_prefix_limits() {
        let c = load("[admin]\ndomain_admin_widest_ipv4 = 28\ndomain_admin_widest_ipv6 = 64").unwrap();
        assert_eq!(c.ip_accounts, crate::IpAccountLimits { widest_ipv4: 28, widest_ipv6: 64 });
        let e = load("[admin]\ndomain_admin_widest_ipv4 = 33").unwrap_err();
        assert_eq!(e.to_string(), "admin.domain_admin_widest_ipv4: 33 is out of range 0..=32");
        assert!(load("[admin]\ndomain_admin_widest_ipv6 = 129").is_err());
    }

    #[test]
    fn connection_limits_per_listener_and_overall() {
        let c = load("[listeners.smtp]\nmax_connections = 10\n[listeners.smtps]\naddress = \"\"").unwrap();
        assert_eq!(c.listeners.iter().map(|l| l.max_connections).collect::<Vec<_>>(), vec![10, 1000]);
        assert_eq!(c.limits.max_connections, 1010, "unset, the ceiling is the listeners' sum");
        let c = load("[limits]\nmax_connections = 50").unwrap();
        assert_eq!(c.limits.max_connections, 50);
        let e = load("[listeners.submission]\nmax_connections = 0").unwrap_err();
        assert_eq!(e.key, "listeners.submission.max_connections");
    }

    #[test]
    fn data_budget_must_hold_one_largest_message() {
        let c = load("[limits]\nmax_data_in_flight = 67108864\nmax_data_time = 30").unwrap();
        assert_eq!(c.limits.max_data_in_flight, 64 << 20);
        assert_eq!(c.limits.max_data_time, Duration::from_secs(30));
        let e = load("[limits]\nmax_message_size = 52428800\nmax_data_in_flight = 33554432").unwrap_err();
        assert_eq!(e.key, "limits.max_data_in_flight");
        assert!(e.reason.contains("less than limits.max_message_size"), "{e}");
    }

    #[test]
    fn the_auth_cache_is_on_by_default_bounded_and_can_be_off() {
        let c = load("").unwrap();
        assert_eq!((c.auth.cache_size, c.auth.cache_ttl), (100_000, Duration::from_secs(600)));
        let c = load("[auth]\ncache_size = 500\ncache_ttl = 3600").unwrap();
        assert_eq!((c.auth.cache_size, c.auth.cache_ttl), (500, Duration::from_secs(3600)));
        let c = load("[auth]\ncache_ttl = 0").unwrap();
        assert_eq!(c.auth.cache_ttl, Duration::ZERO, "off");
        let e = load("[auth]\ncache_ttl = 86401").unwrap_err();
        assert_eq!(e.to_string(), "auth.cache_ttl: 86401 is out of range 0..=86400");
        let e = load("[auth]\ncache_size = 1000001").unwrap_err();
        assert_eq!(e.to_string(), "auth.cache_size: 1000001 is out of range 0..=1000000");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = load("trusted_networks = [\"10.0.0.0/8\", \"10.0.0.0/33\"]").unwrap_err();
        assert_eq!(e.key, "trusted_networks[1]");
        let e = load("trusted_networks = [\"10.0.0.1/8\"]").unwrap_err();
        assert_eq!(e.key, "trusted_networks[0]");
        let e = load("[limits]\nmax_hops = 0").unwrap_err();
        assert_eq!(e.to_string(), "limits.max_hops: 0 is out of range 1..=1000");
        let e = load("[listeners.smtp]\naddress = \"localhost\"").unwrap_err();
        assert_eq!(e.key, "listeners.smtp.address");
        let e =
            load("[tls]\ncertificate = \"/nonexistent/cert.pem\"\nprivate_key = \"/nonexistent/key.pem\"").unwrap_err();
        assert_eq!(e.key, "tls.certificate");
        assert!(e.reason.contains("/nonexistent/cert.pem"), "{e}");
        let e = load("relay_host = \"nohost\"").unwrap_err();
        assert_eq!(e.key, "relay_host");
    }

    #[test]
    fn flags_override_file() {
        let defaults = Defaults { hostname: "h.example".into() };
        let flags = Overrides {
            smtp: Some("127.0.0.1:0".into()),
            submission: Some(String::new()),
            trusted_networks: vec!["192.0.2.0/24".into()],
            ..Overrides::default()
        };
        let raw = raw::parse("trusted_networks = [\"10.0.0.0/8\"]").unwrap();
        let c = validate(raw, &flags, &defaults).unwrap();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].address.port(), 0);
        assert_eq!(c.trusted_networks, vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]);
    }

    /// Every flag against a file that sets the same thing: the flag wins (README, SPEC §9).
    #[test]
    fn every_flag_wins_over_the_file() {
        let defaults = Defaults { hostname: "h.example".into() };
        let file = r#"
hostname = "file.example"
data_dir = "/file/data"
trusted_networks = ["10.0.0.0/8"]
relay_host = "file-relay.example:2525"
[admin]
address = "127.0.0.1:9001"
[listeners.smtp]
address = "127.0.0.1:9002"
[listeners.submission]
address = "127.0.0.1:9003"
[listeners.smtps]
address = "127.0.0.1:9004"
[delivery]
default_route = "direct"
"#;
        let flags = Overrides {
            data_dir: Some("/flag/data".into()),
            smtp: Some("127.0.0.1:1002".into()),
            submission: Some("127.0.0.1:1003".into()),
            smtps: Some("127.0.0.1:1004".into()),
            admin: Some("127.0.0.1:1001".into()),
            trusted_networks: vec!["192.0.2.0/24".into()],
            relay_host: Some("127.0.0.1:1".into()),
            hostname: Some("flag.example".into()),
        };
        let c = validate(raw::parse(file).unwrap(), &flags, &defaults).unwrap();
        assert_eq!(c.hostname, "flag.example");
        assert_eq!(c.banner, "flag.example ESMTP Postern");
        assert_eq!(c.data_dir, PathBuf::from("/flag/data"));
        assert_eq!(c.trusted_networks, vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(c.admin, Some("127.0.0.1:1001".parse().unwrap()));
        let ports: Vec<u16> = c.listeners.iter().map(|l| l.address.port()).collect();
        assert_eq!(ports, [1002, 1003, 1004]);
        assert_eq!(c.relay_host, Some(HostPort { host: "127.0.0.1".into(), port: 1 }));
        // The file's `default_route = "direct"` must not win over `--relay-host`.
        assert_eq!(c.delivery.default_route, crate::Route::Relay(0));
        assert_eq!(c.delivery.relay_hosts[0].host, "127.0.0.1");
        assert_eq!(c.delivery.relay_hosts[0].port, 1);

        // "" on the command line turns off what the file turns on.
        let off = Overrides { admin: Some(String::new()), submission: Some(String::new()), ..Overrides::default() };
        let c = validate(raw::parse(file).unwrap(), &off, &defaults).unwrap();
        assert_eq!(c.admin, None);
        assert_eq!(c.listeners.len(), 2);
        // Without the flag, the file's own default_route still decides over its relay_host.
        assert_eq!(c.delivery.default_route, crate::Route::Direct);
    }
}
