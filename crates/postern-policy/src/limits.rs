//! Per-account limits (SPEC.md §3) over the shared counters: sessions per minute, hour,
//! day, week and month; recipients per day (per account and per identity, identities
//! inherit the account's settings); messages per session, recipients per message, size and
//! hops are counted by the session itself. Exceeding a rate or a quota is temporary:
//! `451 4.7.1`, the text naming the limit. A limit the counters cannot check (Redis away)
//! is temporary too: `451 4.3.0`, never a pass. With the account in monitor mode, a limit
//! that would refuse is reported as such and nothing is refused.
//!
//! Counter keys name accounts by kind and name (not by database id), so every node of a
//! cluster counts the same account under the same key.

use std::sync::Arc;
use std::time::Duration;

use postern_core::Reply;
use postern_core::tenancy::{Account, AccountLimits};
use postern_counters::{Acquire, Counters, Decision, MultiDecision};

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// The session windows of SPEC.md §3 with their names.
fn session_windows(l: &AccountLimits) -> [(&'static str, u64, u64); 5] {
    [
        ("minute", MINUTE, l.connections_per_minute),
        ("hour", HOUR, l.connections_per_hour),
        ("day", DAY, l.connections_per_day),
        ("week", 7 * DAY, l.connections_per_week),
        ("month", 30 * DAY, l.connections_per_month),
    ]
}

/// What a limit says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitVerdict {
    Allowed,
    /// Refuse with this reply; `reason` for the log.
    Refuse {
        reply: Reply,
        reason: String,
    },
    /// Monitor mode: this reply would have been sent.
    WouldRefuse {
        reply: Reply,
        reason: String,
    },
}

impl LimitVerdict {
    /// The counters cannot be asked (Redis away): the limit cannot be checked, so the mail
    /// waits (`451 4.3.0`, the client tries again) rather than pass unchecked; nothing was
    /// counted. Monitor mode, which refuses for no limit, only reports it.
    fn unavailable(account: &Account, limit: &str, error: &postern_counters::CounterError) -> LimitVerdict {
        tracing::error!(error = %error, account = %account.name, limit, "counters unavailable");
        let reply = Reply::new(451, "4.3.0", "limit counters unavailable, try again later");
        LimitVerdict::exceeded(account, reply, format!("counters unavailable ({limit}): {error}"))
    }

    fn exceeded(account: &Account, reply: Reply, reason: String) -> LimitVerdict {
        if account.settings.monitor_only {
            LimitVerdict::WouldRefuse { reply, reason }
        } else {
            LimitVerdict::Refuse { reply, reason }
        }
    }
}

/// A counter key: `prefix:kind:name[:extra]`; long keys are shortened with a stable hash so
/// that every node computes the same key.
pub fn key(prefix: &str, account: &Account, extra: Option<&str>) -> String {
    let mut key = format!("{prefix}:{}:{}", account.kind.name(), account.name);
    if let Some(extra) = extra {
        key.push('\u{1f}');
        key.push_str(extra);
    }
    if key.len() > 480 {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let head: String = key.chars().take(400).collect();
        key = format!("{head}#{hash:016x}");
    }
    key
}

pub struct Limits {
    counters: Arc<dyn Counters>,
}

impl Limits {
    pub fn new(counters: Arc<dyn Counters>) -> Limits {
        Limits { counters }
    }

    pub fn counters(&self) -> &Arc<dyn Counters> {
        &self.counters
    }

    /// A session was attributed to `account` (at connect for `ip` accounts, at AUTH for
    /// the others): count it in every window that has a limit, all or none, in one call
    /// (one round trip to Redis). Refused: the first window, shortest first, that is full.
    /// Counter trouble (Redis away) refuses for now ([`LimitVerdict::unavailable`]).
    pub async fn session(&self, account: &Account) -> LimitVerdict {
        let windows: Vec<(&str, u64, u64)> =
            session_windows(&account.settings.limits).into_iter().filter(|&(_, _, limit)| limit > 0).collect();
        if windows.is_empty() {
            return LimitVerdict::Allowed;
        }
        let requests: Vec<Acquire> = windows
            .iter()
            .map(|&(name, secs, limit)| Acquire {
                key: key(&format!("sessions-{name}"), account, None),
                window: Duration::from_secs(secs),
                n: 1,
                limit,
            })
            .collect();
        match self.counters.acquire_all(&requests).await {
            Ok(MultiDecision::Allowed { .. }) => LimitVerdict::Allowed,
            Ok(MultiDecision::Denied { index, count }) => {
                let Some(&(name, _, limit)) = windows.get(index) else {
                    tracing::error!(index, account = %account.name, "session counter named no window");
                    return LimitVerdict::Allowed;
                };
                let text = format!("Error: connection limit of {limit} per {name} reached for {}", account.name);
                let reason = format!("sessions per {name}: {count} of {limit}");
                LimitVerdict::exceeded(account, Reply::new(451, "4.7.1", text), reason)
            }
            Err(e) => LimitVerdict::unavailable(account, "sessions", &e),
        }
    }

    /// One more recipient today for the account.
    pub async fn recipient(&self, account: &Account) -> LimitVerdict {
        let limit = account.settings.limits.recipients_per_day;
        if limit == 0 {
            return LimitVerdict::Allowed;
        }
        let key = key("recipients-day", account, None);
        match self.counters.acquire(&key, Duration::from_secs(DAY), 1, limit).await {
            Ok(Decision::Allowed { .. }) => LimitVerdict::Allowed,
            Ok(Decision::Denied { count }) => {
                let text = format!("Error: daily recipient limit of {limit} reached for {}", account.name);
                let reason = format!("recipients per day: {count} of {limit}");
                LimitVerdict::exceeded(account, Reply::new(451, "4.7.1", text), reason)
            }
            Err(e) => LimitVerdict::unavailable(account, "recipients per day", &e),
        }
    }

    /// `n` recipients today for one identity of the account (the same limit as the
    /// account's: identities inherit its settings).
    pub async fn identity_recipients(&self, account: &Account, identity: &str, n: u64) -> LimitVerdict {
        let limit = account.settings.limits.recipients_per_day;
        if limit == 0 || n == 0 {
            return LimitVerdict::Allowed;
        }
        let key = key("identity-recipients-day", account, Some(identity));
        match self.counters.acquire(&key, Duration::from_secs(DAY), n, limit).await {
            Ok(Decision::Allowed { .. }) => LimitVerdict::Allowed,
            Ok(Decision::Denied { count }) => {
                let text = format!("Error: daily recipient limit of {limit} reached for sender {identity}");
                let reason = format!("recipients per day of identity {identity}: {count} + {n} of {limit}");
                LimitVerdict::exceeded(account, Reply::new(451, "4.7.1", text), reason)
            }
            Err(e) => LimitVerdict::unavailable(account, "recipients per day of an identity", &e),
        }
    }

    /// The live values of an account's counters: (name, count, limit).
    pub async fn account_values(&self, account: &Account) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        for (name, secs, limit) in session_windows(&account.settings.limits) {
            let key = key(&format!("sessions-{name}"), account, None);
            let count = self.counters.count(&key, Duration::from_secs(secs)).await.unwrap_or(0);
            out.push((format!("sessions_per_{name}"), count, limit));
        }
        let key = key("recipients-day", account, None);
        let count = self.counters.count(&key, Duration::from_secs(DAY)).await.unwrap_or(0);
        out.push(("recipients_per_day".into(), count, account.settings.limits.recipients_per_day));
        out
    }

    /// The live values of one identity's counters.
    pub async fn identity_values(&self, account: &Account, identity: &str) -> Vec<(String, u64, u64)> {
        let key = key("identity-recipients-day", account, Some(identity));
        let count = self.counters.count(&key, Duration::from_secs(DAY)).await.unwrap_or(0);
        vec![("recipients_per_day".into(), count, account.settings.limits.recipients_per_day)]
    }
}

#[cfg(test)]
mod tests {
    use postern_core::BoxFuture;
    use postern_core::tenancy::{AccountKind, AccountSettings};
    use postern_counters::conformance::{ManualClock, START_MS};
    use postern_counters::embedded::EmbeddedCounters;
    use postern_counters::{CounterError, Result};

    use super::*;

    fn account(limits: [u64; 5]) -> Account {
        let mut settings = AccountSettings::for_kind(AccountKind::User);
        let [minute, hour, day, week, month] = limits;
        settings.limits.connections_per_minute = minute;
        settings.limits.connections_per_hour = hour;
        settings.limits.connections_per_day = day;
        settings.limits.connections_per_week = week;
        settings.limits.connections_per_month = month;
        Account {
            settings,
            ..postern_core::test_support::account_of(1, "example.com", AccountKind::User, "a@example.com")
        }
    }

    fn embedded(dir: &tempfile::TempDir) -> (Limits, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(START_MS));
        let counters = EmbeddedCounters::open(dir.path(), clock.clone()).unwrap();
        (Limits::new(Arc::new(counters)), clock)
    }

    /// The session counts of the account, minute to month.
    async fn sessions(limits: &Limits, account: &Account) -> Vec<u64> {
        limits.account_values(account).await.into_iter().take(5).map(|(_, count, _)| count).collect()
    }

    fn refused(limit: u64, name: &str, count: u64) -> LimitVerdict {
        LimitVerdict::Refuse {
            reply: Reply::new(
                451,
                "4.7.1",
                format!("Error: connection limit of {limit} per {name} reached for a@example.com"),
            ),
            reason: format!("sessions per {name}: {count} of {limit}"),
        }
    }

    #[tokio::test]
    async fn a_refused_session_is_counted_in_no_window() {
        let dir = tempfile::tempdir().unwrap();
        let (limits, _clock) = embedded(&dir);
        let account = account([10, 10, 0, 10, 2]);
        assert_eq!(limits.session(&account).await, LimitVerdict::Allowed);
        assert_eq!(limits.session(&account).await, LimitVerdict::Allowed);
        assert_eq!(sessions(&limits, &account).await, [2, 2, 0, 2, 2], "windows without a limit are not counted");
        assert_eq!(limits.session(&account).await, refused(2, "month", 2));
        assert_eq!(sessions(&limits, &account).await, [2, 2, 0, 2, 2], "the shorter windows did not count it");
    }

    #[tokio::test]
    async fn the_shortest_full_window_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (limits, clock) = embedded(&dir);
        let account = account([1, 2, 0, 0, 0]);
        assert_eq!(limits.session(&account).await, LimitVerdict::Allowed);
        assert_eq!(limits.session(&account).await, refused(1, "minute", 1));
        clock.advance(Duration::from_secs(61));
        assert_eq!(limits.session(&account).await, LimitVerdict::Allowed);
        clock.advance(Duration::from_secs(61));
        assert_eq!(limits.session(&account).await, refused(2, "hour", 2));
        assert_eq!(sessions(&limits, &account).await, [0, 2, 0, 0, 0]);
    }

    #[tokio::test]
    async fn monitor_mode_only_reports() {
        let dir = tempfile::tempdir().unwrap();
        let (limits, _clock) = embedded(&dir);
        let mut account = account([1, 0, 0, 0, 0]);
        account.settings.monitor_only = true;
        assert_eq!(limits.session(&account).await, LimitVerdict::Allowed);
        let LimitVerdict::WouldRefuse { reply, reason } = limits.session(&account).await else {
            panic!("monitor mode refuses nothing")
        };
        assert_eq!(reply.code, 451);
        assert_eq!(reason, "sessions per minute: 1 of 1");
    }

    /// A backend that is always down.
    struct Down;

    fn down<T: Send + 'static>() -> BoxFuture<'static, Result<T>> {
        Box::pin(std::future::ready(Err(CounterError::Backend("down".into()))))
    }

    impl Counters for Down {
        fn acquire(&self, _: &str, _: Duration, _: u64, _: u64) -> BoxFuture<'_, Result<Decision>> {
            down()
        }
        fn acquire_all(&self, _: &[Acquire]) -> BoxFuture<'_, Result<MultiDecision>> {
            down()
        }
        fn add(&self, _: &str, _: Duration, _: u64) -> BoxFuture<'_, Result<u64>> {
            down()
        }
        fn count(&self, _: &str, _: Duration) -> BoxFuture<'_, Result<u64>> {
            down()
        }
        fn reset(&self, _: &str) -> BoxFuture<'_, Result<()>> {
            down()
        }
        fn get_blob(&self, _: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
            down()
        }
        fn put_blob(&self, _: &str, _: &[u8], _: Duration) -> BoxFuture<'_, Result<()>> {
            down()
        }
        fn put_blob_if(&self, _: &str, _: &[u8], _: &[u8], _: Duration) -> BoxFuture<'_, Result<bool>> {
            down()
        }
        fn flush(&self) -> BoxFuture<'_, Result<()>> {
            down()
        }
    }

    #[tokio::test]
    async fn counter_trouble_is_a_temporary_refusal_never_a_pass() {
        let limits = Limits::new(Arc::new(Down));
        let mut account = account([1, 1, 1, 1, 1]);
        account.settings.limits.recipients_per_day = 10;
        let verdicts = [
            limits.session(&account).await,
            limits.recipient(&account).await,
            limits.identity_recipients(&account, "a@example.com", 1).await,
        ];
        for verdict in verdicts {
            let LimitVerdict::Refuse { reply, reason } = verdict else { panic!("{verdict:?}") };
            assert_eq!(reply.render(), "451 4.3.0 limit counters unavailable, try again later\r\n");
            assert!(reason.starts_with("counters unavailable ("), "{reason}");
        }
        assert_eq!(limits.session(&self::account([0; 5])).await, LimitVerdict::Allowed, "no limit, no counter");
        account.settings.monitor_only = true;
        assert!(matches!(limits.session(&account).await, LimitVerdict::WouldRefuse { .. }), "monitor mode reports");
    }
}
