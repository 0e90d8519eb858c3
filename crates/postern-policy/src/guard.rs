//! AUTH failure throttling (SPEC.md §2): each failure from a client waits a little longer
//! before its `535`; after `max_failures` within `failure_window` the client may not AUTH
//! for `block_time`. A client is an IPv4 address or an IPv6 /64 (one host's usual
//! allocation), so rotating through a /64 does not escape the count.
//!
//! A block lasts its whole `block_time`, even for the right password (that is what a block
//! is for); an administrator may lift it earlier ([`AuthGuard::lift`], the admin API's
//! client blocks). A successful AUTH from a client that is not blocked forgets its
//! failures, so a user who mistyped a few times does not carry them into the next
//! window. (A client with one valid password could thus interleave successes with
//! guesses; the listeners' daily `auth_failures_limit`, which a success does not reset,
//! is the bound for that.)
//!
//! Bounded: at most [`MAX_CLIENTS`] clients are tracked; when full, entries that no longer
//! matter are dropped first, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

pub const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub max_failures: u32,
    pub failure_window: Duration,
    pub block_time: Duration,
    pub failure_delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct AuthGuard {
    config: GuardConfig,
    clients: Mutex<HashMap<IpNet, Record>>,
}

/// What a failure costs the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Penalty {
    /// Wait this long, then answer `535`.
    Delay(Duration),
    /// The limit is reached: answer `421` and close.
    Blocked,
}

fn client_key(ip: IpAddr) -> IpNet {
    let prefix = if ip.is_ipv4() { 32 } else { 64 };
    IpNet::new(ip, prefix).map(|n| n.trunc()).unwrap_or_else(|_| IpNet::from(ip))
}

impl AuthGuard {
    pub fn new(config: GuardConfig) -> AuthGuard {
        AuthGuard { config, clients: Mutex::new(HashMap::new()) }
    }

    /// Whether `ip` is blocked from AUTH now.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(&client_key(ip)).and_then(|r| r.blocked_until).is_some_and(|until| Instant::now() < until)
    }

    /// Counts a failed AUTH from `ip` and says what it costs.
    pub fn failed(&self, ip: IpAddr) -> Penalty {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS {
            self.prune(&mut clients, now);
        }
        let record =
            clients.entry(client_key(ip)).or_insert(Record { window_start: now, failures: 0, blocked_until: None });
        if now.duration_since(record.window_start) > self.config.failure_window {
            *record = Record { window_start: now, failures: 0, blocked_until: None };
        }
        record.failures += 1;
        if record.failures >= self.config.max_failures {
            record.blocked_until = Some(now + self.config.block_time);
            record.window_start = now;
            record.failures = 0;
            return Penalty::Blocked;
        }
        Penalty::Delay(self.config.failure_delay * record.failures.min(5))
    }

    /// A successful AUTH from `ip`: forgets its failures, unless it is blocked (a block
    /// holds for its whole time).
    pub fn succeeded(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let key = client_key(ip);
        if clients.get(&key).is_some_and(|r| r.blocked_until.is_none_or(|until| now >= until)) {
            clients.remove(&key);
        }
    }

    /// The clients blocked now (an IPv4 address or an IPv6 /64) and how long each stays
    /// blocked, longest first.
    pub fn blocked(&self) -> Vec<(IpNet, Duration)> {
        let now = Instant::now();
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(IpNet, Duration)> = clients
            .iter()
            .filter_map(|(key, r)| r.blocked_until.filter(|until| now < *until).map(|until| (*key, until - now)))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Lifts the block of the client `ip` belongs to and forgets its failures. `true`:
    /// it was blocked.
    pub fn lift(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let removed = clients.remove(&client_key(ip));
        removed.and_then(|r| r.blocked_until).is_some_and(|until| now < until)
    }

    fn prune(&self, clients: &mut HashMap<IpNet, Record>, now: Instant) {
        let window = self.config.failure_window;
        clients.retain(|_, r| r.blocked_until.is_some_and(|u| now < u) || now.duration_since(r.window_start) <= window);
        if clients.len() >= MAX_CLIENTS {
            let mut by_age: Vec<(IpNet, Instant)> = clients.iter().map(|(k, r)| (*k, r.window_start)).collect();
            by_age.sort_by_key(|(_, t)| *t);
            for (key, _) in by_age.into_iter().take(MAX_CLIENTS / 10) {
                clients.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> AuthGuard {
        AuthGuard::new(GuardConfig {
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(60),
            failure_delay: Duration::from_millis(100),
        })
    }

    #[test]
    fn throttles_then_blocks() {
        let g = guard();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(g.failed(ip), Penalty::Delay(Duration::from_millis(100)));
        assert_eq!(g.failed(ip), Penalty::Delay(Duration::from_millis(200)));
        assert!(!g.is_blocked(ip));
        assert_eq!(g.failed(ip), Penalty::Blocked);
        assert!(g.is_blocked(ip));
        assert!(!g.is_blocked("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn success_forgets_failures_but_not_a_block() {
        let g = guard();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        g.failed(ip);
        g.failed(ip);
        g.succeeded(ip);
        assert_eq!(g.failed(ip), Penalty::Delay(Duration::from_millis(100)), "counting starts over");
        g.failed(ip);
        assert_eq!(g.failed(ip), Penalty::Blocked);
        g.succeeded(ip);
        assert!(g.is_blocked(ip), "a success never lifts a block");
        let blocked = g.blocked();
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].0.to_string(), "192.0.2.1/32");
        assert!(blocked[0].1 <= Duration::from_secs(60));
        assert!(g.lift(ip));
        assert!(!g.is_blocked(ip));
        assert!(!g.lift(ip), "nothing left to lift");
        assert_eq!(g.failed(ip), Penalty::Delay(Duration::from_millis(100)), "failures forgotten too");
    }

    #[test]
    fn ipv6_counts_per_64() {
        let g = guard();
        g.failed("2001:db8::1".parse().unwrap());
        g.failed("2001:db8::2".parse().unwrap());
        g.failed("2001:db8::3".parse().unwrap());
        assert!(g.is_blocked("2001:db8::ffff".parse().unwrap()));
        assert!(!g.is_blocked("2001:db8:0:1::1".parse().unwrap()));
    }
}
