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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `host:port` of the admin API, or `""` to turn it off.
    pub address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
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
}

pub fn parse(text: &str) -> Result<RawConfig, toml::de::Error> {
    toml::from_str(text)
}
