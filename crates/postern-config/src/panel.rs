//! The `[panel]` section: how long a web panel login lasts.
//!
//! In: `session_idle_minutes` (a session unused this long ends; 5 to 1440, default 60) and
//! `session_hours` (no session lasts longer; 1 to 168, default 12). Out: a [`PanelConfig`].
//! A reload applies new values to every session's next request.

use std::time::Duration;

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPanel {
    pub session_idle_minutes: Option<u32>,
    pub session_hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelConfig {
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// No session lasts longer than this from its login.
    pub session_lifetime: Duration,
}

impl Default for PanelConfig {
    fn default() -> PanelConfig {
        PanelConfig { session_idle: Duration::from_secs(60 * 60), session_lifetime: Duration::from_secs(12 * 3600) }
    }
}

pub fn validate(raw: RawPanel) -> Result<PanelConfig, ConfigError> {
    let mut c = PanelConfig::default();
    if let Some(minutes) = raw.session_idle_minutes {
        if !(5..=1440).contains(&minutes) {
            return Err(ConfigError::key("panel.session_idle_minutes", "must be 5 to 1440"));
        }
        c.session_idle = Duration::from_secs(u64::from(minutes) * 60);
    }
    if let Some(hours) = raw.session_hours {
        if !(1..=168).contains(&hours) {
            return Err(ConfigError::key("panel.session_hours", "must be 1 to 168"));
        }
        c.session_lifetime = Duration::from_secs(u64::from(hours) * 3600);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(validate(RawPanel::default()).unwrap(), PanelConfig::default());
        let c = validate(RawPanel { session_idle_minutes: Some(5), session_hours: Some(168) }).unwrap();
        assert_eq!(c.session_idle, Duration::from_secs(300));
        assert_eq!(c.session_lifetime, Duration::from_secs(168 * 3600));
        let e = validate(RawPanel { session_idle_minutes: Some(4), session_hours: None }).unwrap_err();
        assert_eq!(e.to_string(), "panel.session_idle_minutes: must be 5 to 1440");
        let e = validate(RawPanel { session_idle_minutes: None, session_hours: Some(0) }).unwrap_err();
        assert_eq!(e.to_string(), "panel.session_hours: must be 1 to 168");
    }
}
