//! `[domain_age]` to the running lookup (`postern_policy::domain_age`): its settings, and
//! its files (the RDAP bootstrap, the feed of new domains) read at start and again on every
//! `SIGHUP` (a feed changes without the configuration changing).
//!
//! In: the validated section. Out: a [`DomainAge`] for the pipeline's `domain_age` check,
//! or the reason its files cannot be read (at start: the server does not start; on a
//! reload: the running files stay).

use std::sync::Arc;

use postern_config::DomainAgeConfig;
use postern_policy::domain_age::{DomainAge, Settings, Sources};

pub fn settings(c: &DomainAgeConfig) -> Settings {
    Settings {
        rdap: c.rdap,
        timeout: c.timeout,
        ttl_registered: c.cache_registered,
        ttl_not_found: c.cache_not_found,
        ttl_error: c.cache_error,
        cache_entries: c.cache_entries,
    }
}

/// Reads the files.
pub fn sources(c: &DomainAgeConfig) -> Result<Sources, String> {
    Sources::load(c.bootstrap.as_deref(), c.feed.as_deref())
}

/// The lookup, at start-up.
pub fn start(c: &DomainAgeConfig) -> anyhow::Result<Arc<DomainAge>> {
    let sources = sources(c).map_err(|e| anyhow::anyhow!("domain_age: {e}"))?;
    tracing::info!(rdap = c.rdap, sources = sources.summary.as_str(), "domain age sources read");
    Ok(Arc::new(DomainAge::new(settings(c), sources)))
}

/// On `SIGHUP`: the files again (and the settings); a file that cannot be read changes
/// nothing.
pub fn reload(lookup: &DomainAge, c: &DomainAgeConfig) {
    match sources(c) {
        Ok(sources) => {
            tracing::info!(rdap = c.rdap, sources = sources.summary.as_str(), "domain age sources reloaded");
            lookup.reload(settings(c), sources);
        }
        Err(e) => tracing::error!("domain_age: {e}; the running feed and bootstrap stay"),
    }
}
