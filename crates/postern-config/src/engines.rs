//! The real engines' sections, the spam engines `[rspamd]` and `[spamassassin]` and the
//! virus scanner `[clamav]`: each table, when present, turns its engine on. Raw form and
//! validation.
//!
//! In: the tables as written. Out: [`Engines`] (each engine's address, timeout, what a
//! failure means, its largest message and, for the spam engines, their spam decision:
//! Rspamd's actions that mean spam, SpamAssassin's optional threshold), or a
//! [`ConfigError`] naming the key.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::validate::{num, parse_host_port};
use crate::{ConfigError, HostPort};

type Result<T> = std::result::Result<T, ConfigError>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRspamd {
    pub address: Option<String>,
    pub timeout: Option<f64>,
    pub on_failure: Option<String>,
    pub max_message_size: Option<u64>,
    pub spam_actions: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpamassassin {
    pub address: Option<String>,
    pub timeout: Option<f64>,
    pub on_failure: Option<String>,
    pub max_message_size: Option<u64>,
    pub threshold: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClamav {
    pub address: Option<String>,
    pub timeout: Option<f64>,
    pub on_failure: Option<String>,
    pub max_message_size: Option<u64>,
}

/// The engines that are on (SPEC.md §5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Engines {
    pub rspamd: Option<RspamdConfig>,
    pub spamassassin: Option<SpamassassinConfig>,
    pub clamav: Option<ClamavConfig>,
}

/// What every engine has.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub address: HostPort,
    /// Connect, send and the whole reply, together.
    pub timeout: Duration,
    pub on_failure: EngineFailure,
    /// Larger messages are not sent to the engine.
    pub max_message_size: u64,
}

/// What a failed engine (down, too slow, a garbled reply) means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFailure {
    /// The other checks decide; logged every time.
    Skip,
    /// `451 4.7.1`: the client tries again later.
    Tempfail,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RspamdConfig {
    pub engine: EngineConfig,
    /// The Rspamd actions that mean spam.
    pub spam_actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpamassassinConfig {
    pub engine: EngineConfig,
    /// Spam at this score or above; `None`: spamd's own verdict (its `required_score`).
    pub threshold: Option<f64>,
}

/// clamd (`[clamav]`): the same settings as a spam engine's, at a TCP address or a Unix
/// socket.
#[derive(Debug, Clone, PartialEq)]
pub struct ClamavConfig {
    pub address: ClamdAddress,
    /// Connect, send and the whole reply, together.
    pub timeout: Duration,
    pub on_failure: EngineFailure,
    /// Larger messages are not sent to clamd (keep it at most clamd's `StreamMaxLength`).
    pub max_message_size: u64,
}

/// Where clamd listens: its `TCPSocket` (with `TCPAddr`) or its `LocalSocket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Tcp(HostPort),
    /// An absolute path.
    Unix(PathBuf),
}

/// The longest Unix socket path the kernel takes (`sun_path` is 108 octets with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The actions Rspamd 3 knows.
const RSPAMD_ACTIONS: &[&str] =
    &["no action", "greylist", "add header", "rewrite subject", "soft reject", "reject", "discard", "quarantine"];

pub fn validate(
    rspamd: Option<RawRspamd>,
    spamassassin: Option<RawSpamassassin>,
    clamav: Option<RawClamav>,
) -> Result<Engines> {
    let rspamd = match rspamd {
        None => None,
        Some(raw) => {
            let engine = engine(
                "rspamd",
                raw.address.as_deref(),
                "127.0.0.1:11333",
                raw.timeout,
                10.0,
                raw.on_failure.as_deref(),
                raw.max_message_size,
                50 * 1024 * 1024,
            )?;
            let spam_actions = match raw.spam_actions {
                None => ["reject", "add header", "rewrite subject"].map(String::from).to_vec(),
                Some(list) => spam_actions(list)?,
            };
            Some(RspamdConfig { engine, spam_actions })
        }
    };
    let spamassassin = match spamassassin {
        None => None,
        Some(raw) => {
            let engine = engine(
                "spamassassin",
                raw.address.as_deref(),
                "127.0.0.1:783",
                raw.timeout,
                30.0,
                raw.on_failure.as_deref(),
                raw.max_message_size,
                512 * 1024,
            )?;
            if let Some(t) = raw.threshold.filter(|t| !t.is_finite() || t.abs() > 10_000.0) {
                return Err(ConfigError::key(
                    "spamassassin.threshold",
                    format!("{t} is not a score within -10000..=10000"),
                ));
            }
            Some(SpamassassinConfig { engine, threshold: raw.threshold })
        }
    };
    let clamav = clamav.map(self::clamav).transpose()?;
    Ok(Engines { rspamd, spamassassin, clamav })
}

fn clamav(raw: RawClamav) -> Result<ClamavConfig> {
    let text = raw.address.as_deref().unwrap_or("127.0.0.1:3310");
    let address = if text.starts_with('/') {
        if text.len() > MAX_SOCKET_PATH || text.chars().any(|c| c.is_control()) {
            return Err(ConfigError::key(
                "clamav.address",
                format!("{text:?} is not a Unix socket path (at most {MAX_SOCKET_PATH} octets)"),
            ));
        }
        ClamdAddress::Unix(PathBuf::from(text))
    } else {
        ClamdAddress::Tcp(parse_host_port("clamav.address", text).map_err(|e| {
            ConfigError::key(e.key, format!("{text:?} is not HOST:PORT (such as 127.0.0.1:3310) nor a socket path"))
        })?)
    };
    // clamd's own default StreamMaxLength as Debian configures it: 25 MiB.
    let (timeout, on_failure, max_message_size) =
        options("clamav", raw.timeout, 30.0, raw.on_failure.as_deref(), raw.max_message_size, 25 * 1024 * 1024)?;
    Ok(ClamavConfig { address, timeout, on_failure, max_message_size })
}

#[allow(clippy::too_many_arguments)]
fn engine(
    section: &str,
    address: Option<&str>,
    default_address: &str,
    timeout: Option<f64>,
    default_timeout: f64,
    on_failure: Option<&str>,
    max_message_size: Option<u64>,
    default_max_size: u64,
) -> Result<EngineConfig> {
    let address = parse_host_port(&format!("{section}.address"), address.unwrap_or(default_address))?;
    let (timeout, on_failure, max_message_size) =
        options(section, timeout, default_timeout, on_failure, max_message_size, default_max_size)?;
    Ok(EngineConfig { address, timeout, on_failure, max_message_size })
}

/// What every engine has besides its address: timeout, `on_failure`, `max_message_size`.
fn options(
    section: &str,
    timeout: Option<f64>,
    default_timeout: f64,
    on_failure: Option<&str>,
    max_message_size: Option<u64>,
    default_max_size: u64,
) -> Result<(Duration, EngineFailure, u64)> {
    let timeout = timeout.unwrap_or(default_timeout);
    if !(0.1..=600.0).contains(&timeout) {
        return Err(ConfigError::key(
            format!("{section}.timeout"),
            format!("{timeout} is out of range 0.1..=600 (seconds)"),
        ));
    }
    let on_failure = match on_failure {
        None | Some("skip") => EngineFailure::Skip,
        Some("tempfail") => EngineFailure::Tempfail,
        Some(other) => {
            return Err(ConfigError::key(
                format!("{section}.on_failure"),
                format!("{other:?} is not one of \"skip\", \"tempfail\""),
            ));
        }
    };
    let max_message_size =
        num(&format!("{section}.max_message_size"), max_message_size, default_max_size, 1, 1024 * 1024 * 1024)?;
    Ok((Duration::from_secs_f64(timeout), on_failure, max_message_size))
}

fn spam_actions(list: Vec<String>) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(ConfigError::key("rspamd.spam_actions", "empty: no reply of Rspamd would ever be spam"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, action) in list.into_iter().enumerate() {
        let action = action.trim().to_ascii_lowercase();
        if !RSPAMD_ACTIONS.contains(&action.as_str()) {
            return Err(ConfigError::key(
                format!("rspamd.spam_actions[{i}]"),
                format!("{action:?} is not an Rspamd action ({})", RSPAMD_ACTIONS.join(", ")),
            ));
        }
        if action == "no action" {
            return Err(ConfigError::key(
                format!("rspamd.spam_actions[{i}]"),
                "\"no action\" cannot mean spam (every clean message would be)",
            ));
        }
        if !out.contains(&action) {
            out.push(action);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<Engines>) -> String {
        let e = r.unwrap_err();
        format!("{}: {}", e.key, e.reason)
    }

    #[test]
    fn absent_tables_are_off_and_present_ones_have_defaults() {
        assert_eq!(validate(None, None, None).unwrap(), Engines::default());
        let e = validate(Some(RawRspamd::default()), Some(RawSpamassassin::default()), None).unwrap();
        let r = e.rspamd.unwrap();
        assert_eq!(r.engine.address, HostPort { host: "127.0.0.1".into(), port: 11333 });
        assert_eq!(r.engine.on_failure, EngineFailure::Skip);
        assert_eq!(r.engine.timeout, Duration::from_secs(10));
        assert_eq!(r.spam_actions, ["reject", "add header", "rewrite subject"]);
        let s = e.spamassassin.unwrap();
        assert_eq!(s.engine.address.port, 783);
        assert_eq!(s.engine.max_message_size, 512 * 1024);
        assert_eq!(s.threshold, None);
    }

    #[test]
    fn values_are_checked() {
        let r = |f: fn(&mut RawRspamd)| {
            let mut raw = RawRspamd::default();
            f(&mut raw);
            validate(Some(raw), None, None)
        };
        assert!(err(r(|r| r.address = Some("localhost".into()))).starts_with("rspamd.address: "));
        assert!(err(r(|r| r.timeout = Some(0.0))).starts_with("rspamd.timeout: 0 is out of range"));
        assert_eq!(
            err(r(|r| r.on_failure = Some("drop".into()))),
            "rspamd.on_failure: \"drop\" is not one of \"skip\", \"tempfail\""
        );
        assert!(err(r(|r| r.spam_actions = Some(vec![]))).starts_with("rspamd.spam_actions: empty"));
        assert!(
            err(r(|r| r.spam_actions = Some(vec!["reject".into(), "spam".into()])))
                .starts_with("rspamd.spam_actions[1]: \"spam\" is not an Rspamd action")
        );
        assert!(err(r(|r| r.spam_actions = Some(vec!["No Action".into()]))).contains("cannot mean spam"));
        let ok = r(|r| {
            r.spam_actions = Some(vec!["Reject".into(), "reject".into(), "soft reject".into()]);
            r.on_failure = Some("tempfail".into());
            r.timeout = Some(0.5);
        })
        .unwrap()
        .rspamd
        .unwrap();
        assert_eq!(ok.spam_actions, ["reject", "soft reject"]);
        assert_eq!(ok.engine.on_failure, EngineFailure::Tempfail);
        assert_eq!(ok.engine.timeout, Duration::from_millis(500));
        let s = |t: f64| validate(None, Some(RawSpamassassin { threshold: Some(t), ..Default::default() }), None);
        assert!(err(s(f64::NAN)).starts_with("spamassassin.threshold: "));
        assert_eq!(s(8.5).unwrap().spamassassin.unwrap().threshold, Some(8.5));
        let m = validate(None, Some(RawSpamassassin { max_message_size: Some(0), ..Default::default() }), None);
        assert!(err(m).starts_with("spamassassin.max_message_size: 0 is out of range"));
    }

    #[test]
    fn clamav_at_a_tcp_address_or_a_unix_socket() {
        let c = |raw: RawClamav| validate(None, None, Some(raw));
        let d = c(RawClamav::default()).unwrap().clamav.unwrap();
        assert_eq!(d.address, ClamdAddress::Tcp(HostPort { host: "127.0.0.1".into(), port: 3310 }));
        assert_eq!(
            (d.timeout, d.on_failure, d.max_message_size),
            (Duration::from_secs(30), EngineFailure::Skip, 25 << 20)
        );
        let unix = c(RawClamav {
            address: Some("/run/clamav/clamd.ctl".into()),
            on_failure: Some("tempfail".into()),
            max_message_size: Some(1 << 20),
            timeout: Some(2.5),
        })
        .unwrap()
        .clamav
        .unwrap();
        assert_eq!(unix.address, ClamdAddress::Unix("/run/clamav/clamd.ctl".into()));
        assert_eq!(
            (unix.timeout, unix.on_failure, unix.max_message_size),
            (Duration::from_millis(2500), EngineFailure::Tempfail, 1 << 20)
        );
        let bad = |address: &str| err(c(RawClamav { address: Some(address.into()), ..Default::default() }));
        assert!(bad("clamd.ctl").starts_with("clamav.address: \"clamd.ctl\" is not HOST:PORT"), "{}", bad("clamd.ctl"));
        assert!(bad("localhost").contains("nor a socket path"));
        assert!(bad(&format!("/{}", "a".repeat(107))).contains("is not a Unix socket path"));
        assert!(bad("/run/a\nb").contains("is not a Unix socket path"));
        assert!(err(c(RawClamav { timeout: Some(0.0), ..Default::default() })).starts_with("clamav.timeout: "));
        assert!(
            err(c(RawClamav { on_failure: Some("pass".into()), ..Default::default() }))
                .starts_with("clamav.on_failure: ")
        );
        assert!(
            err(c(RawClamav { max_message_size: Some(0), ..Default::default() }))
                .starts_with("clamav.max_message_size: 0 is out of range")
        );
    }
}
