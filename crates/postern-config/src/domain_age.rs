//! The `[domain_age]` section: where the age of a sender's domain comes from (SPEC.md §5,
//! newly registered sender domains; the accounts' `checks.block_new_domains` turns the
//! check on). Raw form and validation.
//!
//! In: the table as written. Out: [`DomainAgeConfig`] (the bootstrap and feed files,
//! whether RDAP is asked, its time limit, how long answers are cached and how many), or a
//! [`ConfigError`] naming the key. The files must be readable; their contents are read by
//! the lookup (`postern-policy/src/domain_age/`), at start and on every `SIGHUP`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::ConfigError;
use crate::validate::{check_readable, num};

type Result<T> = std::result::Result<T, ConfigError>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDomainAge {
    /// An RDAP bootstrap file (RFC 9224) used instead of the built-in one.
    pub bootstrap: Option<PathBuf>,
    /// A feed of newly registered domains (`domain date` per line).
    pub feed: Option<PathBuf>,
    /// Ask RDAP for domains the feed does not list.
    pub rdap: Option<bool>,
    /// Seconds for one RDAP lookup, redirects included; fractions allowed.
    pub timeout: Option<f64>,
    /// Seconds a registration date is cached.
    pub cache_registered: Option<u64>,
    /// Seconds "not found" (or no date) is cached.
    pub cache_not_found: Option<u64>,
    /// Seconds a failed lookup is cached.
    pub cache_error: Option<u64>,
    /// Most cached answers.
    pub cache_entries: Option<u64>,
}

/// `[domain_age]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainAgeConfig {
    /// `None`: the bootstrap built into the binary (com, net, org, info).
    pub bootstrap: Option<PathBuf>,
    /// `None`: no feed.
    pub feed: Option<PathBuf>,
    pub rdap: bool,
    pub timeout: Duration,
    pub cache_registered: Duration,
    pub cache_not_found: Duration,
    pub cache_error: Duration,
    pub cache_entries: usize,
}

impl Default for DomainAgeConfig {
    fn default() -> DomainAgeConfig {
        DomainAgeConfig {
            bootstrap: None,
            feed: None,
            rdap: true,
            timeout: Duration::from_secs(2),
            cache_registered: Duration::from_secs(7 * 86_400),
            cache_not_found: Duration::from_secs(3600),
            cache_error: Duration::from_secs(300),
            cache_entries: 100_000,
        }
    }
}

/// A year, the longest any answer is kept.
const MAX_TTL: u64 = 365 * 86_400;

pub fn validate(raw: RawDomainAge) -> Result<DomainAgeConfig> {
    let d = DomainAgeConfig::default();
    for (key, path) in [("domain_age.bootstrap", &raw.bootstrap), ("domain_age.feed", &raw.feed)] {
        if let Some(path) = path {
            check_readable(key, path)?;
        }
    }
    let timeout = raw.timeout.unwrap_or(d.timeout.as_secs_f64());
    if !(0.1..=30.0).contains(&timeout) {
        return Err(ConfigError::key("domain_age.timeout", format!("{timeout} is out of range 0.1..=30 (seconds)")));
    }
    let secs = |key: &str, value: Option<u64>, default: Duration| -> Result<Duration> {
        Ok(Duration::from_secs(num(key, value, default.as_secs(), 1, MAX_TTL)?))
    };
    Ok(DomainAgeConfig {
        bootstrap: raw.bootstrap,
        feed: raw.feed,
        rdap: raw.rdap.unwrap_or(d.rdap),
        timeout: Duration::from_secs_f64(timeout),
        cache_registered: secs("domain_age.cache_registered", raw.cache_registered, d.cache_registered)?,
        cache_not_found: secs("domain_age.cache_not_found", raw.cache_not_found, d.cache_not_found)?,
        cache_error: secs("domain_age.cache_error", raw.cache_error, d.cache_error)?,
        cache_entries: num("domain_age.cache_entries", raw.cache_entries, d.cache_entries as u64, 1, 10_000_000)?
            as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(raw: RawDomainAge) -> String {
        let e = validate(raw).unwrap_err();
        format!("{}: {}", e.key, e.reason)
    }

    #[test]
    fn defaults() {
        assert_eq!(validate(RawDomainAge::default()).unwrap(), DomainAgeConfig::default());
        let d = DomainAgeConfig::default();
        assert!(d.rdap && d.bootstrap.is_none() && d.feed.is_none());
        assert_eq!((d.timeout, d.cache_entries), (Duration::from_secs(2), 100_000));
        assert_eq!(
            (d.cache_registered.as_secs(), d.cache_not_found.as_secs(), d.cache_error.as_secs()),
            (604_800, 3600, 300)
        );
    }

    #[test]
    fn values_are_checked() {
        assert!(
            err(RawDomainAge { timeout: Some(0.0), ..Default::default() }).starts_with("domain_age.timeout: 0 is out")
        );
        assert!(
            err(RawDomainAge { timeout: Some(f64::NAN), ..Default::default() }).starts_with("domain_age.timeout: ")
        );
        assert!(
            err(RawDomainAge { cache_error: Some(0), ..Default::default() })
                .starts_with("domain_age.cache_error: 0 is out of range")
        );
        assert!(
            err(RawDomainAge { cache_entries: Some(20_000_000), ..Default::default() })
                .starts_with("domain_age.cache_entries: ")
        );
        let missing = PathBuf::from("/nonexistent/postern-feed.txt");
        assert!(
            err(RawDomainAge { feed: Some(missing.clone()), ..Default::default() })
                .starts_with("domain_age.feed: cannot read /nonexistent/postern-feed.txt")
        );
        assert!(
            err(RawDomainAge { bootstrap: Some(missing), ..Default::default() }).starts_with("domain_age.bootstrap: ")
        );
        let ok = validate(RawDomainAge {
            rdap: Some(false),
            timeout: Some(0.5),
            cache_registered: Some(86_400),
            cache_entries: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert!(!ok.rdap);
        assert_eq!(
            (ok.timeout, ok.cache_registered, ok.cache_entries),
            (Duration::from_millis(500), Duration::from_secs(86_400), 10)
        );
    }
}
