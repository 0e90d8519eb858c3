//! Client blocks as administrators see them: the AUTH failure blocks ([`AuthGuard`], for
//! `auth.block_time`) and each listener's daily blocks ([`ClientTracker`], too many refused
//! recipients or failed AUTHs today, until the end of the UTC day). Listed with reason and
//! expiry, and lifted by client address (the admin API, superadmin only).
//!
//! In: the guard and every listener's tracker with its daily limits, handed over by the
//! binary. Out: [`ClientBlock`] values; lifting forgets the client's counts. Only counts
//! this node keeps in memory: blocks are per node and end with a restart.

use std::net::IpAddr;
use std::sync::Arc;

use crate::client::{ClientTracker, utc_day};
use crate::guard::AuthGuard;

/// One listener's daily block table and its limits (0: off).
pub struct ListenerBlocks {
    /// `smtp`, `submission`, `smtps`.
    pub listener: String,
    pub tracker: Arc<ClientTracker>,
    pub refused_recipients_limit: u32,
    pub auth_failures_limit: u32,
}

/// Which block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Too many failed AUTHs within `auth.failure_window`: no AUTH until it ends.
    AuthFailures,
    /// A listener's daily block: refused at connect until the end of the UTC day.
    Daily,
}

impl BlockKind {
    /// `auth_failures`, `daily`.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::AuthFailures => "auth_failures",
            BlockKind::Daily => "daily",
        }
    }
}

/// A client blocked now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientBlock {
    /// An IPv4 address, or an IPv6 /64 for AUTH failure blocks (one host's allocation).
    pub client: String,
    pub kind: BlockKind,
    /// The listener of a daily block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    pub reason: String,
    /// When the block ends by itself (milliseconds since the epoch).
    pub until_ms: i64,
}

pub struct ClientBlocks {
    guard: Arc<AuthGuard>,
    listeners: Vec<ListenerBlocks>,
}

impl ClientBlocks {
    pub fn new(guard: Arc<AuthGuard>, listeners: Vec<ListenerBlocks>) -> ClientBlocks {
        ClientBlocks { guard, listeners }
    }

    /// Every block in force at `now_ms`: AUTH failure blocks first (longest first), then
    /// each listener's daily blocks by address.
    pub fn list(&self, now_ms: i64) -> Vec<ClientBlock> {
        let mut out: Vec<ClientBlock> = self
            .guard
            .blocked()
            .into_iter()
            .map(|(client, left)| ClientBlock {
                client: client.to_string(),
                kind: BlockKind::AuthFailures,
                listener: None,
                reason: "too many failed AUTH attempts".into(),
                until_ms: now_ms.saturating_add(i64::try_from(left.as_millis()).unwrap_or(i64::MAX)),
            })
            .collect();
        let day = utc_day(now_ms);
        let end_of_day = i64::try_from(day.saturating_add(1)).unwrap_or(i64::MAX / 86_400_000) * 86_400_000;
        for l in &self.listeners {
            for (ip, counts) in l.tracker.over_daily(day, l.refused_recipients_limit, l.auth_failures_limit) {
                let mut why = Vec::new();
                if l.refused_recipients_limit > 0 && counts.refused_recipients > l.refused_recipients_limit {
                    why.push(format!(
                        "{} recipients refused today, limit {}",
                        counts.refused_recipients, l.refused_recipients_limit
                    ));
                }
                if l.auth_failures_limit > 0 && counts.auth_failures > l.auth_failures_limit {
                    why.push(format!(
                        "{} failed AUTH attempts today, limit {}",
                        counts.auth_failures, l.auth_failures_limit
                    ));
                }
                out.push(ClientBlock {
                    client: ip.to_string(),
                    kind: BlockKind::Daily,
                    listener: Some(l.listener.clone()),
                    reason: why.join("; "),
                    until_ms: end_of_day,
                });
            }
        }
        out
    }

    /// Lifts every block of `ip` (and forgets its counts): returns the blocks that were
    /// in force.
    pub fn lift(&self, ip: IpAddr, now_ms: i64) -> Vec<ClientBlock> {
        let ip = ip.to_canonical();
        let before: Vec<ClientBlock> = self.list(now_ms).into_iter().filter(|b| covers(b, ip)).collect();
        self.guard.lift(ip);
        for l in &self.listeners {
            l.tracker.lift_daily(ip);
        }
        before
    }
}

/// Whether a listed block is the block of `ip`.
fn covers(block: &ClientBlock, ip: IpAddr) -> bool {
    match block.client.parse::<ipnet::IpNet>() {
        Ok(net) => net.contains(&ip),
        Err(_) => block.client.parse::<IpAddr>().is_ok_and(|a| a == ip),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::GuardConfig;
    use crate::client::DailyCounts;

    #[test]
    fn lists_and_lifts_both_kinds() {
        let guard = Arc::new(AuthGuard::new(GuardConfig {
            max_failures: 2,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(600),
            failure_delay: Duration::ZERO,
        }));
        let tracker = Arc::new(ClientTracker::new());
        let listener = ListenerBlocks {
            listener: "submission".into(),
            tracker: Arc::clone(&tracker),
            refused_recipients_limit: 0,
            auth_failures_limit: 1,
        };
        let blocks = ClientBlocks::new(Arc::clone(&guard), vec![listener]);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let now = 86_400_000 * 10 + 5;
        guard.failed(ip);
        guard.failed(ip);
        tracker.auth_failure(ip, 10, |_: &DailyCounts| true);
        tracker.auth_failure(ip, 10, |_: &DailyCounts| true);
        let listed = blocks.list(now);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[0].client, "192.0.2.9/32");
        assert_eq!(listed[0].kind, BlockKind::AuthFailures);
        assert!(listed[0].until_ms > now && listed[0].until_ms <= now + 600_000);
        assert_eq!(listed[1].kind, BlockKind::Daily);
        assert_eq!(listed[1].until_ms, 86_400_000 * 11);
        assert!(listed[1].reason.contains("2 failed AUTH attempts today, limit 1"), "{}", listed[1].reason);
        assert!(blocks.lift("192.0.2.10".parse().unwrap(), now).is_empty(), "another client lifts nothing");
        assert_eq!(blocks.lift(ip, now).len(), 2);
        assert!(blocks.list(now).is_empty());
        assert!(!guard.is_blocked(ip));
    }
}
