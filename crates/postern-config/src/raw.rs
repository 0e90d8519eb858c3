//! The configuration file as written. Every key is optional (a default applies) and every
//! table refuses keys it does not know. `docs/CONFIG.md` documents each one.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub hostname: Option<String>,
    pub banner: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub trusted_networks: Option<Vec<String>>,
    pub relay_host: Option<String>,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub listeners: RawListeners,
    #[serde(default)]
    pub delivery: crate::delivery::RawDelivery,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub counters: RawCounters,
    #[serde(default)]
    pub store: RawStore,
    /// Present: Rspamd is on (`engines.rs`).
    pub rspamd: Option<crate::engines::RawRspamd>,
    /// Present: SpamAssassin (spamd) is on.
    pub spamassassin: Option<crate::engines::RawSpamassassin>,
    /// Present: ClamAV (clamd) is on.
    pub clamav: Option<crate::engines::RawClamav>,
    #[serde(default)]
    pub postmaster: crate::postmaster::RawPostmaster,
    #[serde(default)]
    pub quarantine: RawQuarantine,
    #[serde(default)]
    pub scorer: RawScorer,
    #[serde(default)]
    pub domain_age: crate::domain_age::RawDomainAge,
    #[serde(default)]
    pub attachments: crate::attachments::RawAttachments,
    #[serde(default)]
    pub metrics: crate::metrics::RawMetrics,
    #[serde(default)]
    pub panel: crate::panel::RawPanel,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScorer {
    /// Ham samples the installation needs before its model takes part.
    pub min_ham: Option<u64>,
    /// Spam samples, likewise.
    pub min_spam: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuarantine {
    /// Days a held message is kept; fractions allowed.
    pub lifetime_days: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCounters {
    pub backend: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub backend: Option<String>,
    pub url: Option<String>,
    pub pool_size: Option<u64>,
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub max_failures: Option<u64>,
    pub failure_window: Option<u64>,
    pub block_time: Option<u64>,
    pub failure_delay: Option<u64>,
    pub trusted_networks_check_sender: Option<bool>,
    pub cache_size: Option<u64>,
    pub cache_ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `host:port` of the admin API, or `""` to turn it off.
    pub address: Option<String>,
    /// The widest ip account range a domain admin may create (prefix lengths).
    pub domain_admin_widest_ipv4: Option<u64>,
    pub domain_admin_widest_ipv6: Option<u64>,
    /// Serve the API and the web panel over TLS (the server's certificate).
    pub tls: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
    pub retention_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_message_size: Option<u64>,
    pub max_recipients: Option<u64>,
    pub max_hops: Option<u64>,
    pub max_line_length: Option<u64>,
    pub command_timeout: Option<u64>,
    pub data_timeout: Option<u64>,
    pub max_data_time: Option<u64>,
    pub max_data_in_flight: Option<u64>,
    pub max_connections: Option<u64>,
    pub hard_error_limit: Option<u64>,
    pub shutdown_timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListeners {
    #[serde(default)]
    pub smtp: RawListener,
    #[serde(default)]
    pub submission: RawListener,
    #[serde(default)]
    pub smtps: RawListener,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// `host:port`, or `""` to turn the listener off.
    pub address: Option<String>,
    pub add_missing_headers: Option<bool>,
    pub allow_plaintext_auth: Option<bool>,
    pub max_connections: Option<u64>,
    // Connection and protocol policy (`connection_policy.rs`).
    pub max_connections_per_ip: Option<u64>,
    pub connections_per_minute_per_ip: Option<u64>,
    pub messages_per_minute_per_ip: Option<u64>,
    pub event_limit_exceptions: Option<Vec<String>>,
    pub require_fcrdns: Option<bool>,
    pub helo_must_be_fqdn: Option<bool>,
    pub helo_must_resolve: Option<bool>,
    pub sender_must_be_fqdn: Option<bool>,
    pub sender_domain_must_resolve: Option<bool>,
    pub reject_unauth_pipelining: Option<bool>,
    pub junk_command_limit: Option<u64>,
    pub soft_error_limit: Option<u64>,
    pub error_sleep: Option<u64>,
    pub refused_recipients_limit: Option<u64>,
    pub auth_failures_limit: Option<u64>,
    pub monitor: Option<Vec<String>>,
}

pub fn parse(text: &str) -> Result<RawConfig, toml::de::Error> {
    toml::from_str(text)
}
