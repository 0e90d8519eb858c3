//! The connection and protocol policy of one listener (SPEC.md §4, seed 004): per-client
//! limits (concurrency, connection and message rates, a daily block), DNS checks of the
//! client, its HELO name and its sender, unauthorized pipelining, junk commands and the
//! soft error limit. Postfix's names and defaults where Postfix has the setting.
//!
//! In: the optional keys of one `[listeners.*]` table. Out: a [`ConnectionPolicy`] whose
//! every value was checked, or a [`ConfigError`] naming `listeners.<name>.<key>`.

use std::time::Duration;

use ipnet::IpNet;

use crate::ConfigError;
use crate::raw::RawListener;
use crate::validate::{num, parse_cidrs};

/// A check whose refusals can be turned into log lines only ([`ConnectionPolicy::monitor`]).
/// Each is named after the key that turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyCheck {
    MaxConnectionsPerIp,
    ConnectionsPerMinutePerIp,
    MessagesPerMinutePerIp,
    RequireFcrdns,
    HeloMustBeFqdn,
    HeloMustResolve,
    SenderMustBeFqdn,
    SenderDomainMustResolve,
    RejectUnauthPipelining,
    RefusedRecipientsLimit,
    AuthFailuresLimit,
}

impl PolicyCheck {
    pub const ALL: [PolicyCheck; 11] = [
        PolicyCheck::MaxConnectionsPerIp,
        PolicyCheck::ConnectionsPerMinutePerIp,
        PolicyCheck::MessagesPerMinutePerIp,
        PolicyCheck::RequireFcrdns,
        PolicyCheck::HeloMustBeFqdn,
        PolicyCheck::HeloMustResolve,
        PolicyCheck::SenderMustBeFqdn,
        PolicyCheck::SenderDomainMustResolve,
        PolicyCheck::RejectUnauthPipelining,
        PolicyCheck::RefusedRecipientsLimit,
        PolicyCheck::AuthFailuresLimit,
    ];

    /// The configuration key that turns the check on (and names it in `monitor`).
    pub fn key(self) -> &'static str {
        match self {
            PolicyCheck::MaxConnectionsPerIp => "max_connections_per_ip",
            PolicyCheck::ConnectionsPerMinutePerIp => "connections_per_minute_per_ip",
            PolicyCheck::MessagesPerMinutePerIp => "messages_per_minute_per_ip",
            PolicyCheck::RequireFcrdns => "require_fcrdns",
            PolicyCheck::HeloMustBeFqdn => "helo_must_be_fqdn",
            PolicyCheck::HeloMustResolve => "helo_must_resolve",
            PolicyCheck::SenderMustBeFqdn => "sender_must_be_fqdn",
            PolicyCheck::SenderDomainMustResolve => "sender_domain_must_resolve",
            PolicyCheck::RejectUnauthPipelining => "reject_unauth_pipelining",
            PolicyCheck::RefusedRecipientsLimit => "refused_recipients_limit",
            PolicyCheck::AuthFailuresLimit => "auth_failures_limit",
        }
    }

    pub fn from_key(key: &str) -> Option<PolicyCheck> {
        PolicyCheck::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// One listener's connection and protocol policy. `0` turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPolicy {
    /// Concurrent connections from one client address; beyond: `421 4.7.0` and close
    /// (Postfix `smtpd_client_connection_count_limit`).
    pub max_connections_per_ip: u32,
    /// Connections from one client address per minute window; beyond, refused (`421
    /// 4.7.0`) for the rest of the window (Postfix `smtpd_client_connection_rate_limit`).
    pub connections_per_minute_per_ip: u32,
    /// MAIL commands from one client address per minute window; beyond, `450 4.7.1` for
    /// the rest of the window (Postfix `smtpd_client_message_rate_limit`).
    pub messages_per_minute_per_ip: u32,
    /// Clients exempt from the per-client limits and the daily block (Postfix
    /// `smtpd_client_event_limit_exceptions`). The file's default is `trusted_networks`;
    /// [`Default`] has none.
    pub event_limit_exceptions: Vec<IpNet>,
    /// The client's address must have a PTR name whose A/AAAA records contain it.
    pub require_fcrdns: bool,
    pub helo_must_be_fqdn: bool,
    /// The HELO name must have an A, AAAA or MX record.
    pub helo_must_resolve: bool,
    pub sender_must_be_fqdn: bool,
    /// The sender domain must have an MX or an A/AAAA record, and no null MX.
    pub sender_domain_must_resolve: bool,
    pub reject_unauth_pipelining: bool,
    /// NOOP, VRFY, ETRN and RSET beyond this many (since the last message) count as errors
    /// (Postfix `smtpd_junk_command_limit`); each tenth one waits a second. 0: off.
    pub junk_command_limit: u32,
    /// From this many errors on, every reply waits `error_sleep` (Postfix
    /// `smtpd_soft_error_limit`). 0: off.
    pub soft_error_limit: u32,
    pub error_sleep: Duration,
    /// A client refused more recipients (5xx at RCPT) than this in one UTC day is refused
    /// at connect for the rest of the day. 0: off.
    pub refused_recipients_limit: u32,
    /// Likewise for failed AUTH attempts. 0: off.
    pub auth_failures_limit: u32,
    /// Checks that log what they would refuse (a `refused` event) and refuse nothing.
    pub monitor: Vec<PolicyCheck>,
}

impl Default for ConnectionPolicy {
    fn default() -> ConnectionPolicy {
        ConnectionPolicy {
            max_connections_per_ip: 50,
            connections_per_minute_per_ip: 0,
            messages_per_minute_per_ip: 0,
            event_limit_exceptions: Vec::new(),
            require_fcrdns: false,
            helo_must_be_fqdn: false,
            helo_must_resolve: false,
            sender_must_be_fqdn: false,
            sender_domain_must_resolve: false,
            reject_unauth_pipelining: false,
            junk_command_limit: 100,
            soft_error_limit: 10,
            error_sleep: Duration::from_secs(1),
            refused_recipients_limit: 0,
            auth_failures_limit: 0,
            monitor: Vec::new(),
        }
    }
}

impl ConnectionPolicy {
    /// Whether `check` only logs.
    pub fn monitors(&self, check: PolicyCheck) -> bool {
        self.monitor.contains(&check)
    }

    /// Whether `check` is turned on (monitored or enforced).
    pub fn enabled(&self, check: PolicyCheck) -> bool {
        match check {
            PolicyCheck::MaxConnectionsPerIp => self.max_connections_per_ip > 0,
            PolicyCheck::ConnectionsPerMinutePerIp => self.connections_per_minute_per_ip > 0,
            PolicyCheck::MessagesPerMinutePerIp => self.messages_per_minute_per_ip > 0,
            PolicyCheck::RequireFcrdns => self.require_fcrdns,
            PolicyCheck::HeloMustBeFqdn => self.helo_must_be_fqdn,
            PolicyCheck::HeloMustResolve => self.helo_must_resolve,
            PolicyCheck::SenderMustBeFqdn => self.sender_must_be_fqdn,
            PolicyCheck::SenderDomainMustResolve => self.sender_domain_must_resolve,
            PolicyCheck::RejectUnauthPipelining => self.reject_unauth_pipelining,
            PolicyCheck::RefusedRecipientsLimit => self.refused_recipients_limit > 0,
            PolicyCheck::AuthFailuresLimit => self.auth_failures_limit > 0,
        }
    }

    /// Whether any check asks DNS (then a resolver must be configured).
    pub fn uses_dns(&self) -> bool {
        self.require_fcrdns || self.helo_must_resolve || self.sender_domain_must_resolve
    }
}

/// The policy keys of `[listeners.<name>]`; `trusted` is the default of `event_limit_exceptions`.
pub(crate) fn validate(name: &str, raw: &RawListener, trusted: &[IpNet]) -> Result<ConnectionPolicy, ConfigError> {
    let d = ConnectionPolicy::default();
    let key = |k: &str| format!("listeners.{name}.{k}");
    let count = |k: &str, v: Option<u64>, default: u32, max: u64| -> Result<u32, ConfigError> {
        Ok(num(&key(k), v, u64::from(default), 0, max)? as u32)
    };
    let event_limit_exceptions = match &raw.event_limit_exceptions {
        Some(list) => parse_cidrs(&key("event_limit_exceptions"), list)?,
        None => trusted.to_vec(),
    };
    let mut policy = ConnectionPolicy {
        max_connections_per_ip: count(
            "max_connections_per_ip",
            raw.max_connections_per_ip,
            d.max_connections_per_ip,
            100_000,
        )?,
        connections_per_minute_per_ip: count(
            "connections_per_minute_per_ip",
            raw.connections_per_minute_per_ip,
            d.connections_per_minute_per_ip,
            1_000_000,
        )?,
        messages_per_minute_per_ip: count(
            "messages_per_minute_per_ip",
            raw.messages_per_minute_per_ip,
            d.messages_per_minute_per_ip,
            1_000_000,
        )?,
        event_limit_exceptions,
        require_fcrdns: raw.require_fcrdns.unwrap_or(d.require_fcrdns),
        helo_must_be_fqdn: raw.helo_must_be_fqdn.unwrap_or(d.helo_must_be_fqdn),
        helo_must_resolve: raw.helo_must_resolve.unwrap_or(d.helo_must_resolve),
        sender_must_be_fqdn: raw.sender_must_be_fqdn.unwrap_or(d.sender_must_be_fqdn),
        sender_domain_must_resolve: raw.sender_domain_must_resolve.unwrap_or(d.sender_domain_must_resolve),
        reject_unauth_pipelining: raw.reject_unauth_pipelining.unwrap_or(d.reject_unauth_pipelining),
        junk_command_limit: count("junk_command_limit", raw.junk_command_limit, d.junk_command_limit, 100_000)?,
        soft_error_limit: count("soft_error_limit", raw.soft_error_limit, d.soft_error_limit, 1000)?,
        error_sleep: Duration::from_secs(num(&key("error_sleep"), raw.error_sleep, d.error_sleep.as_secs(), 0, 60)?),
        refused_recipients_limit: count(
            "refused_recipients_limit",
            raw.refused_recipients_limit,
            d.refused_recipients_limit,
            1_000_000,
        )?,
        auth_failures_limit: count("auth_failures_limit", raw.auth_failures_limit, d.auth_failures_limit, 1_000_000)?,
        monitor: Vec::new(),
    };
    for (i, name) in raw.monitor.iter().flatten().enumerate() {
        let at = format!("{}[{i}]", key("monitor"));
        let Some(check) = PolicyCheck::from_key(name) else {
            let known: Vec<&str> = PolicyCheck::ALL.iter().map(|c| c.key()).collect();
            return Err(ConfigError::key(at, format!("{name:?} is not one of {}", known.join(", "))));
        };
        if !policy.enabled(check) {
            return Err(ConfigError::key(at, format!("{name:?} is not turned on for this listener")));
        }
        if !policy.monitor.contains(&check) {
            policy.monitor.push(check);
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawListener {
        toml::from_str(text).expect("toml")
    }

    #[test]
    fn defaults_are_postfix_limits_with_checks_off() {
        let trusted: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let p = validate("smtp", &raw(""), &trusted).unwrap();
        assert_eq!(p, ConnectionPolicy { event_limit_exceptions: trusted, ..ConnectionPolicy::default() });
        assert!(!p.uses_dns());
    }

    #[test]
    fn values_and_monitor() {
        let p = validate(
            "submission",
            &raw("require_fcrdns = true\nerror_sleep = 0\nevent_limit_exceptions = []\nmonitor = [\"require_fcrdns\", \"max_connections_per_ip\"]"),
            &[],
        )
        .unwrap();
        assert!(p.require_fcrdns && p.uses_dns());
        assert_eq!(p.error_sleep, Duration::ZERO);
        assert!(p.monitors(PolicyCheck::RequireFcrdns) && p.monitors(PolicyCheck::MaxConnectionsPerIp));
        assert!(!p.monitors(PolicyCheck::HeloMustBeFqdn));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = validate("smtp", &raw("error_sleep = 61"), &[]).unwrap_err();
        assert_eq!(e.to_string(), "listeners.smtp.error_sleep: 61 is out of range 0..=60");
        let e = validate("smtp", &raw("monitor = [\"helo_must_be_fqdn\"]"), &[]).unwrap_err();
        assert_eq!(e.key, "listeners.smtp.monitor[0]");
        assert!(e.reason.contains("not turned on"), "{e}");
        let e = validate("smtp", &raw("monitor = [\"fcrdns\"]"), &[]).unwrap_err();
        assert_eq!(e.key, "listeners.smtp.monitor[0]");
        assert!(e.reason.starts_with("\"fcrdns\" is not one of max_connections_per_ip, "), "{e}");
        let e = validate("smtps", &raw("event_limit_exceptions = [\"10.0.0.1/8\"]"), &[]).unwrap_err();
        assert_eq!(e.key, "listeners.smtps.event_limit_exceptions[0]");
    }
}
