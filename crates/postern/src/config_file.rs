//! The configuration as `serve` takes it: the file (when given) with the flags on top,
//! validated by `postern-config`, and then what only the binary can check (the log
//! filter, the certificate files). Shared by `serve` at start, `SIGHUP` reloads and
//! `postern check-config`, so the three never disagree about what is valid.
//!
//! In: the file's path, the flags. Out: a [`Config`], or the one error line (file, line,
//! key, reason) that `serve` and `check-config` print after `postern: config error: `.

use std::path::Path;

use postern_config::{Config, Defaults, Overrides};

pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, String> {
    let defaults = Defaults { hostname: system_hostname() };
    let config = Config::load(file, overrides, &defaults).map_err(|e| e.to_string())?;
    let in_file = file.map(|p| format!("{}: ", p.display())).unwrap_or_default();
    crate::logging::check(&config.log).map_err(|e| format!("{in_file}{e}"))?;
    if let Some(files) = &config.tls {
        crate::tls::load(Some(files), &config.data_dir, &config.hostname).map_err(|e| format!("{in_file}{e}"))?;
    }
    Ok(config)
}

pub fn system_hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    let valid = !name.is_empty()
        && name.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if valid { name } else { "localhost".to_string() }
}
