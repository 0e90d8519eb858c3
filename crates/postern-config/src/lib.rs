//! Configuration: a TOML file and command-line flags become one validated [`Config`].
//!
//! In: the file's text (optional), [`Overrides`] from flags, and [`Defaults`] the binary
//! measured (the machine's hostname). Out: a [`Config`] whose every value has been checked,
//! or one [`ConfigError`] that names the file, the key and the reason. Defends against:
//! unknown keys (typos never pass silently), wrong types, out-of-range numbers, bad
//! addresses and CIDRs, and missing certificate files.
//!
//! # Layout
//! - [`raw`]: the file as written (`serde`, every key optional, unknown keys refused).
//! - [`validate`]: raw + overrides + defaults -> [`Config`] (the ripgrep LowArgs -> HiArgs step).
//! - [`delivery`]: the `[delivery]` section (routes, relay hosts, rules, retries).
//! - [`engines`]: `[rspamd]` and `[spamassassin]`, the spam engines; `[clamav]`, the virus scanner.
//! - [`domain_age`]: `[domain_age]`, where the age of a sender's domain comes from.
//! - [`connection_policy`]: each listener's connection and protocol policy (SPEC.md §4).
//! - [`attachments`]: the `[attachments]` section (the attachment checks' bounds).
//! - [`metrics`]: the `[metrics]` section (who may read `/metrics`).
//! - [`panel`]: the `[panel]` section (how long a web panel login lasts).
//! - [`postmaster`]: the `[postmaster]` section (system mail's sender, external postmasters).
//! - [`error`]: [`ConfigError`] and how a TOML parse error becomes one line.

mod attachments;
mod connection_policy;
mod delivery;
mod domain_age;
mod engines;
mod error;
mod metrics;
mod panel;
mod postmaster;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use connection_policy::{ConnectionPolicy, PolicyCheck};
pub use delivery::{Credentials, Delivery, RelayHost, Route, RouteRule, RuleKind, TlsMode};
pub use domain_age::DomainAgeConfig;
pub use engines::{ClamavConfig, ClamdAddress, EngineConfig, EngineFailure, Engines, RspamdConfig, SpamassassinConfig};
pub use error::ConfigError;
use ipnet::IpNet;
pub use metrics::MetricsConfig;
pub use panel::PanelConfig;

/// The fully validated configuration. Every field has a value.
#[derive(Debug, Clone)]
pub struct Config {
    pub hostname: String,
    /// Greeting text after `220 `; `$hostname` is replaced.
    pub banner: String,
    pub data_dir: PathBuf,
    pub trusted_networks: Vec<IpNet>,
    pub relay_host: Option<HostPort>,
    pub log: LogConfig,
    /// `None`: a self-signed certificate generated in the data directory.
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    pub listeners: Vec<ListenerConfig>,
    pub delivery: Delivery,
    /// The admin API listener (`None`: off).
    pub admin: Option<SocketAddr>,
    /// `admin.tls`: the admin listener (API and web panel) speaks HTTPS with the server's
    /// certificate; the panel's session cookie is then `Secure`.
    pub admin_tls: bool,
    /// What a domain admin's ip accounts may be (`[admin] domain_admin_widest_*`).
    pub ip_accounts: IpAccountLimits,
    pub auth: AuthConfig,
    pub counters: CountersConfig,
    /// Where the directory, DKIM keys and panel users live (`[store]`).
    pub store: StoreConfig,
    /// The engines that are on (`[rspamd]`, `[spamassassin]`, `[clamav]`).
    pub engines: Engines,
    /// Who mail Postern writes itself comes from; who gets copies (`[postmaster]`).
    pub postmaster: postern_core::system_mail::Postmaster,
    pub quarantine: QuarantineConfig,
    /// The built-in scorer's training (`[scorer]`).
    pub scorer: ScorerConfig,
    /// Where the age of a sender's domain comes from (`[domain_age]`).
    pub domain_age: DomainAgeConfig,
    /// How far the attachment checks look into a message (`[attachments]`).
    pub attachments: AttachmentsConfig,
    /// Who may read `/metrics` (`[metrics]`).
    pub metrics: MetricsConfig,
    /// How long a web panel login lasts (`[panel]`).
    pub panel: PanelConfig,
}

/// The attachment checks' bounds (`[attachments]`): how deep containers are opened, how
/// much is unpacked and how many entries are walked per message, the compression ratio of
/// one entry, and the largest message analysed. Passing a bound refuses the message with
/// its own rule; a message over `max_message_bytes` is not analysed (logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentsConfig {
    pub max_depth: usize,
    pub max_unpacked_bytes: u64,
    pub max_entries: usize,
    pub max_ratio: u64,
    pub max_message_bytes: u64,
}

impl Default for AttachmentsConfig {
    fn default() -> AttachmentsConfig {
        AttachmentsConfig {
            max_depth: 5,
            max_unpacked_bytes: 200 << 20,
            max_entries: 1000,
            max_ratio: 100,
            max_message_bytes: 64 << 20,
        }
    }
}

/// The built-in scorer (`[scorer]`): how many ham and spam samples the installation needs
/// before its own model takes part in verdicts (SpamAssassin's Bayes: 200 and 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScorerConfig {
    pub min_ham: u32,
    pub min_spam: u32,
}

impl Default for ScorerConfig {
    fn default() -> ScorerConfig {
        ScorerConfig { min_ham: 200, min_spam: 200 }
    }
}

/// The quarantine (`[quarantine]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineConfig {
    /// How long a held message is kept before the purge removes it (`lifetime_days`).
    pub lifetime: std::time::Duration,
}

impl Default for QuarantineConfig {
    fn default() -> QuarantineConfig {
        QuarantineConfig { lifetime: std::time::Duration::from_secs(30 * 86_400) }
    }
}

/// The widest ip account range a domain admin may create, as prefix lengths: an IPv4
/// range of at least `/widest_ipv4`, an IPv6 range of at least `/widest_ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpAccountLimits {
    pub widest_ipv4: u8,
    pub widest_ipv6: u8,
}

impl Default for IpAccountLimits {
    fn default() -> IpAccountLimits {
        IpAccountLimits { widest_ipv4: 24, widest_ipv6: 48 }
    }
}

/// Where limit counters live (SPEC.md §3, §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountersConfig {
    /// In memory, persisted in `<data_dir>/counters` (one node).
    Embedded,
    /// Shared by every node of a cluster.
    Redis { url: String, prefix: String },
}

/// Where the directory (domains, accounts, identities, tokens, list rules, delegations,
/// inbound domains), the DKIM keys and the panel's users live (SPEC.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `<data_dir>/postern.db` (one node; no server needed).
    Sqlite,
    /// A PostgreSQL database that several nodes may share.
    Postgres {
        /// `host=… user=… dbname=…` or a `postgres://` URL.
        url: String,
        /// Connections at most (1 to 64).
        pool_size: usize,
        /// The certificate authority (PEM) of the server's certificate: TLS required and
        /// verified against it. `None`: TLS only with `sslmode=require` in `url`, verified
        /// against the system's roots.
        ca_file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `postern_smtp=debug,info`.
    pub level: String,
    /// How long log search keeps events and message rows, in days (1 to 3650; default
    /// [`LogConfig::DEFAULT_RETENTION_DAYS`]). Changes on `SIGHUP`.
    pub retention_days: u32,
}

impl LogConfig {
    pub const DEFAULT_RETENTION_DAYS: u32 = 30;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_hops: usize,
    pub max_line_length: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// The whole DATA phase (after `354`) or BDAT transfer (first chunk to LAST) must end
    /// within this time, however steadily the client drips bytes.
    pub max_data_time: Duration,
    /// Message bytes all sessions together may hold in memory while receiving (DATA and
    /// BDAT); a session that cannot get more reads to the end and answers `452 4.3.1`.
    pub max_data_in_flight: u64,
    /// Overall ceiling on connections over all listeners (each listener has its own
    /// `max_connections` too). Default: the sum of the listeners' limits.
    pub max_connections: usize,
    pub hard_error_limit: u32,
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_size: 26_214_400,
            max_recipients: 1000,
            max_hops: 50,
            max_line_length: 2048,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
            max_data_time: Duration::from_secs(600),
            max_data_in_flight: 256 * 1024 * 1024,
            max_connections: 1000,
            hard_error_limit: 20,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// What a listener speaks on accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Plain SMTP relay port, STARTTLS offered.
    Smtp,
    /// Message submission (RFC 6409), STARTTLS offered.
    Submission,
    /// Implicit TLS (RFC 8314).
    Smtps,
}

impl ListenerKind {
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Smtp => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Smtps => "smtps",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub kind: ListenerKind,
    pub address: SocketAddr,
    /// Add `Message-ID` and `Date` when the message has none.
    pub add_missing_headers: bool,
    /// Offer and accept AUTH before TLS (off: AUTH only after STARTTLS or on smtps).
    pub allow_plaintext_auth: bool,
    /// Concurrent connections on this listener (beyond: `421 4.3.2`), so that one
    /// listener's idle connections never lock out another's clients.
    pub max_connections: usize,
    /// Connection and protocol policy (SPEC.md §4).
    pub policy: ConnectionPolicy,
}

/// SMTP AUTH and sender rules (SPEC.md §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Failed AUTH attempts from one client (IPv4 address or IPv6 /64) within
    /// `failure_window` before it is blocked from AUTH for `block_time`.
    pub max_failures: u32,
    pub failure_window: Duration,
    pub block_time: Duration,
    /// Each failure's `535` waits this long times the failures so far (at most 5 times).
    pub failure_delay: Duration,
    /// Trusted networks normally skip the sender check; with this, their envelope senders
    /// must belong to a domain in the directory whose outgoing filter is enabled.
    pub trusted_networks_check_sender: bool,
    /// The AUTH cache (Dovecot's `auth_cache_size`, counted in accounts here): at most this
    /// many accounts' last verified password are remembered, as keyed digests.
    pub cache_size: usize,
    /// ... each for this long after its argon2id verification (Dovecot's `auth_cache_ttl`).
    /// Zero (or a zero `cache_size`): no cache, every AUTH verifies argon2id.
    pub cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            max_failures: 5,
            failure_window: Duration::from_secs(600),
            block_time: Duration::from_secs(1800),
            failure_delay: Duration::from_secs(1),
            trusted_networks_check_sender: false,
            cache_size: 100_000,
            cache_ttl: Duration::from_secs(600),
        }
    }
}

/// Values from the command line; each one replaces the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub smtp: Option<String>,
    pub submission: Option<String>,
    pub smtps: Option<String>,
    pub admin: Option<String>,
    pub trusted_networks: Vec<String>,
    pub relay_host: Option<String>,
    pub hostname: Option<String>,
}

/// Facts about the machine that defaults depend on.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub hostname: String,
}

impl Config {
    /// Reads and validates `file` (when given) with `overrides` on top.
    pub fn load(file: Option<&Path>, overrides: &Overrides, defaults: &Defaults) -> Result<Config, ConfigError> {
        let (raw, text) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    file: Some(path.to_path_buf()),
                    line: None,
                    key: String::new(),
                    reason: format!("cannot read: {e}"),
                })?;
                let raw = raw::parse(&text).map_err(|e| error::from_toml(path, &text, &e))?;
                (raw, text)
            }
            None => (raw::RawConfig::default(), String::new()),
        };
        validate::validate(raw, overrides, defaults).map_err(|mut e| {
            if e.file.is_none() && !e.key.starts_with("--") {
                e.file = file.map(Path::to_path_buf);
                if e.line.is_none() {
                    e.line = error::line_of(&text, &e.key);
                }
            }
            e
        })
    }
}
