//! Per-client counts for one listener, in memory on this node (Postfix's `anvil`: it only
//! counts, the session decides): concurrent connections, connections and messages per
//! fixed one-minute window, and per UTC day the refused recipients and failed AUTHs that
//! lead to the daily block.
//!
//! In: events (a connection opened or closed, a MAIL, a refused recipient, a failed AUTH)
//! with the time they happened. Out: the counts a decision needs. Time is passed in (a
//! monotonic instant, a day number), so tests move it. Defends against: unbounded growth
//! under a flood of distinct addresses. At most [`MAX_CLIENTS`] clients are tracked per
//! table; when one is full, entries that no longer matter go first, then idle ones, so
//! under stress the tracker forgets partial counts instead of growing. Clients with open
//! connections are never forgotten (they are bounded by `limits.max_connections`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Clients tracked per table (rate windows, daily counts).
pub const MAX_CLIENTS: usize = 100_000;

/// The length of a rate window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A fixed window: it starts at the first event after the previous one ended.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    fn add(slot: &mut Option<Window>, now: Instant) -> u32 {
        match slot {
            Some(w) if now.duration_since(w.start) < WINDOW => {
                w.count = w.count.saturating_add(1);
                w.count
            }
            _ => {
                *slot = Some(Window { start: now, count: 1 });
                1
            }
        }
    }

    fn expired(slot: &Option<Window>, now: Instant) -> bool {
        slot.is_none_or(|w| now.duration_since(w.start) >= WINDOW)
    }
}

#[derive(Debug, Default)]
struct Activity {
    open: u32,
    connections: Option<Window>,
    messages: Option<Window>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyCounts {
    pub refused_recipients: u32,
    pub auth_failures: u32,
}

#[derive(Debug)]
struct Daily {
    day: u64,
    counts: DailyCounts,
}

/// What [`ClientTracker::connect`] counted, this connection included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectCounts {
    pub concurrent: u32,
    pub per_minute: u32,
}

#[derive(Debug, Default)]
pub struct ClientTracker {
    activity: Mutex<HashMap<IpAddr, Activity>>,
    daily: Mutex<HashMap<IpAddr, Daily>>,
}

/// Holds one open connection in the count; dropping it closes the connection.
#[derive(Debug)]
pub struct ConnectionTicket {
    tracker: Arc<ClientTracker>,
    ip: IpAddr,
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        let mut table = lock(&self.tracker.activity);
        if let Some(entry) = table.get_mut(&self.ip) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
fn key(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl ClientTracker {
    pub fn new() -> ClientTracker {
        ClientTracker::default()
    }

    /// A connection from `ip` opened at `now`: counts it (open and per minute) until the
    /// ticket is dropped.
    pub fn connect(self: &Arc<Self>, ip: IpAddr, now: Instant) -> (ConnectionTicket, ConnectCounts) {
        let ip = key(ip);
        let mut table = lock(&self.activity);
        if !table.contains_key(&ip) && table.len() >= MAX_CLIENTS {
            prune_activity(&mut table, now);
        }
        let entry = table.entry(ip).or_default();
        entry.open = entry.open.saturating_add(1);
        let counts = ConnectCounts { concurrent: entry.open, per_minute: Window::add(&mut entry.connections, now) };
        (ConnectionTicket { tracker: Arc::clone(self), ip }, counts)
    }

    /// A MAIL command from `ip` at `now`; returns the count in the current window.
    pub fn message(&self, ip: IpAddr, now: Instant) -> u32 {
        let ip = key(ip);
        let mut table = lock(&self.activity);
        if !table.contains_key(&ip) && table.len() >= MAX_CLIENTS {
            prune_activity(&mut table, now);
        }
        Window::add(&mut table.entry(ip).or_default().messages, now)
    }

    /// The counts of `ip` for `day` (days since the Unix epoch, UTC).
    pub fn daily(&self, ip: IpAddr, day: u64) -> DailyCounts {
        match lock(&self.daily).get(&key(ip)) {
            Some(d) if d.day == day => d.counts,
            _ => DailyCounts::default(),
        }
    }

    /// One more recipient refused to `ip` on `day`; returns the day's counts.
    pub fn refused_recipient(&self, ip: IpAddr, day: u64, keep: impl Fn(&DailyCounts) -> bool) -> DailyCounts {
        self.add_daily(ip, day, keep, |c| c.refused_recipients = c.refused_recipients.saturating_add(1))
    }

    /// One more failed AUTH from `ip` on `day`; returns the day's counts.
    pub fn auth_failure(&self, ip: IpAddr, day: u64, keep: impl Fn(&DailyCounts) -> bool) -> DailyCounts {
        self.add_daily(ip, day, keep, |c| c.auth_failures = c.auth_failures.saturating_add(1))
    }

    /// `keep` says which entries must survive when the table is full (the blocked ones).
    fn add_daily(
        &self,
        ip: IpAddr,
        day: u64,
        keep: impl Fn(&DailyCounts) -> bool,
        add: impl FnOnce(&mut DailyCounts),
    ) -> DailyCounts {
        let ip = key(ip);
        let mut table = lock(&self.daily);
        if !table.contains_key(&ip) && table.len() >= MAX_CLIENTS {
            table.retain(|_, d| d.day == day && keep(&d.counts));
            if table.len() >= MAX_CLIENTS {
                tracing::warn!(client = %ip, "daily block table full; not counting this client today");
                return DailyCounts::default();
            }
        }
        let entry = table.entry(ip).or_insert(Daily { day, counts: DailyCounts::default() });
        if entry.day != day {
            *entry = Daily { day, counts: DailyCounts::default() };
        }
        add(&mut entry.counts);
        entry.counts
    }

    /// The clients whose counts for `day` are over a limit (0: off), with the counts.
    pub fn over_daily(
        &self,
        day: u64,
        refused_recipients_limit: u32,
        auth_failures_limit: u32,
    ) -> Vec<(IpAddr, DailyCounts)> {
        let over = |c: &DailyCounts| {
            (refused_recipients_limit > 0 && c.refused_recipients > refused_recipients_limit)
                || (auth_failures_limit > 0 && c.auth_failures > auth_failures_limit)
        };
        let table = lock(&self.daily);
        let mut out: Vec<(IpAddr, DailyCounts)> =
            table.iter().filter(|(_, d)| d.day == day && over(&d.counts)).map(|(ip, d)| (*ip, d.counts)).collect();
        out.sort_by_key(|(ip, _)| *ip);
        out
    }

    /// Forgets the daily counts of `ip` (an administrator lifts its daily block); returns
    /// what they were.
    pub fn lift_daily(&self, ip: IpAddr) -> Option<DailyCounts> {
        lock(&self.daily).remove(&key(ip)).map(|d| d.counts)
    }

    /// Clients tracked (rate and concurrency table, daily table).
    pub fn len(&self) -> (usize, usize) {
        (lock(&self.activity).len(), lock(&self.daily).len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// Drops entries without open connections whose windows are over; if that is not enough,
/// every entry without open connections.
fn prune_activity(table: &mut HashMap<IpAddr, Activity>, now: Instant) {
    table.retain(|_, a| a.open > 0 || !Window::expired(&a.connections, now) || !Window::expired(&a.messages, now));
    if table.len() >= MAX_CLIENTS {
        tracing::warn!(clients = table.len(), "client rate table full; forgetting idle clients");
        table.retain(|_, a| a.open > 0);
    }
}

/// Today's number (days since the Unix epoch, UTC).
pub fn utc_day(now_ms: i64) -> u64 {
    u64::try_from(now_ms.div_euclid(86_400_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn concurrency_counts_open_tickets() {
        let t = Arc::new(ClientTracker::new());
        let now = Instant::now();
        let (a, c1) = t.connect(ip("192.0.2.1"), now);
        let (b, c2) = t.connect(ip("::ffff:192.0.2.1"), now);
        assert_eq!((c1.concurrent, c2.concurrent), (1, 2));
        drop(a);
        let (_c, c3) = t.connect(ip("192.0.2.1"), now);
        assert_eq!(c3, ConnectCounts { concurrent: 2, per_minute: 3 });
        drop(b);
        let (_d, other) = t.connect(ip("192.0.2.2"), now);
        assert_eq!(other, ConnectCounts { concurrent: 1, per_minute: 1 });
    }

    #[test]
    fn windows_are_fixed_from_their_first_event() {
        let t = ClientTracker::new();
        let start = Instant::now();
        assert_eq!(t.message(ip("192.0.2.1"), start), 1);
        assert_eq!(t.message(ip("192.0.2.1"), start + Duration::from_secs(59)), 2);
        // Events inside the window do not extend it.
        assert_eq!(t.message(ip("192.0.2.1"), start + Duration::from_secs(60)), 1);
    }

    #[test]
    fn daily_counts_start_over_each_day() {
        let t = ClientTracker::new();
        let keep = |_: &DailyCounts| true;
        assert_eq!(t.refused_recipient(ip("192.0.2.1"), 100, keep).refused_recipients, 1);
        assert_eq!(t.auth_failure(ip("192.0.2.1"), 100, keep), DailyCounts { refused_recipients: 1, auth_failures: 1 });
        assert_eq!(t.daily(ip("192.0.2.1"), 101), DailyCounts::default());
        assert_eq!(t.refused_recipient(ip("192.0.2.1"), 101, keep).refused_recipients, 1);
        assert_eq!(utc_day(86_400_000 * 3 + 5), 3);
    }

    #[test]
    fn daily_blocks_are_listed_and_lifted() {
        let t = ClientTracker::new();
        let keep = |_: &DailyCounts| true;
        for _ in 0..3 {
            t.auth_failure(ip("192.0.2.1"), 100, keep);
        }
        t.refused_recipient(ip("192.0.2.2"), 100, keep);
        assert_eq!(
            t.over_daily(100, 0, 2),
            vec![(ip("192.0.2.1"), DailyCounts { refused_recipients: 0, auth_failures: 3 })]
        );
        assert!(t.over_daily(101, 0, 2).is_empty(), "yesterday's counts block nobody");
        assert!(t.over_daily(100, 0, 0).is_empty(), "no limit, no block");
        assert_eq!(t.lift_daily(ip("::ffff:192.0.2.1")).map(|c| c.auth_failures), Some(3));
        assert!(t.over_daily(100, 0, 2).is_empty());
        assert_eq!(t.daily(ip("192.0.2.1"), 100), DailyCounts::default());
    }

    #[test]
    fn tables_stay_bounded() {
        let t = Arc::new(ClientTracker::new());
        let now = Instant::now();
        let (_held, _) = t.connect(ip("198.51.100.1"), now);
        for i in 0..MAX_CLIENTS as u32 + 10 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.message(addr, now);
            t.refused_recipient(addr, 1, |c| c.refused_recipients > 1);
        }
        let (activity, daily) = t.len();
        assert!(activity <= MAX_CLIENTS, "{activity}");
        assert!(daily <= MAX_CLIENTS, "{daily}");
        // The client with an open connection was kept.
        let (_again, counts) = t.connect(ip("198.51.100.1"), now);
        assert_eq!(counts.concurrent, 2);
    }
}
