//! The `[metrics]` section: who may read `/metrics` on the admin listener.
//!
//! In: `token` (a bearer token, optional) and `allow` (networks that need no token; default
//! loopback only). Out: a [`MetricsConfig`]. Checked: each network is an address or a CIDR
//! with its host bits zero; the token is 16 to 256 printable ASCII characters without
//! spaces (it travels in an HTTP header). A reload applies a new section at once.

use ipnet::IpNet;
use serde::Deserialize;

use crate::ConfigError;
use crate::validate::parse_cidrs;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub token: Option<String>,
    pub allow: Option<Vec<String>>,
}

/// Who may read `/metrics`: a peer in `allow`, or a request with `Authorization: Bearer
/// <token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub token: Option<String>,
    pub allow: Vec<IpNet>,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        let loopback = ["127.0.0.0/8", "::1/128"].iter().filter_map(|n| n.parse().ok()).collect();
        MetricsConfig { token: None, allow: loopback }
    }
}

/// Never prints the token.
impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("allow", &self.allow)
            .finish()
    }
}

pub fn validate(raw: RawMetrics) -> Result<MetricsConfig, ConfigError> {
    let allow = match &raw.allow {
        Some(list) => parse_cidrs("metrics.allow", list)?,
        None => MetricsConfig::default().allow,
    };
    if let Some(token) = &raw.token
        && (!(16..=256).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ConfigError::key("metrics.token", "must be 16 to 256 printable ASCII characters without spaces"));
    }
    Ok(MetricsConfig { token: raw.token, allow })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(token: Option<&str>, allow: Option<&[&str]>) -> RawMetrics {
        RawMetrics { token: token.map(str::to_string), allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()) }
    }

    #[test]
    fn loopback_by_default() {
        let c = validate(raw(None, None)).unwrap();
        assert_eq!(c, MetricsConfig::default());
        assert_eq!(c.allow.len(), 2);
        assert!(c.token.is_none());
    }

    #[test]
    fn networks_and_token_are_checked() {
        let c = validate(raw(Some("0123456789abcdef"), Some(&["10.0.0.0/8", "2001:db8::1"]))).unwrap();
        assert_eq!(c.allow[1].to_string(), "2001:db8::1/128");
        let e = validate(raw(None, Some(&["10.0.0.1/8"]))).unwrap_err();
        assert_eq!(e.to_string(), "metrics.allow[0]: \"10.0.0.1/8\" is not an IP address or CIDR such as 192.0.2.0/24");
        assert!(validate(raw(None, Some(&["not-a-network"]))).is_err());
        assert!(validate(raw(Some("short"), None)).is_err());
        assert!(validate(raw(Some("with a space inside it"), None)).is_err());
        assert!(validate(raw(None, Some(&[]))).unwrap().allow.is_empty(), "token only");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = validate(raw(Some("0123456789abcdef-secret"), None)).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
