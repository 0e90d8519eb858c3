//! The dashboard's figures (issue 14): messages per hour over the last 24 hours and 7
//! days, the spam rate, the top senders by account and by identity, the locked accounts
//! and identities, and the queue by state.
//!
//! In: the caller and the time now. Out: a [`Dashboard`] of plain values, every hour
//! present (the hours without activity are zeros), for the panel to draw.
//!
//! A domain admin sees the hours and top senders of the messages under its domains (the
//! account's or the sender's, as log search), and only its own accounts among the top
//! accounts: another tenant's account that sent from one of its addresses is left out.
//! Locks are its own accounts' and identities'; the queue (the whole server's) is a
//! superadmin's only. Cost: one read of the hour counts (168 rows at most), two bounded
//! top-sender counts, and the locked rows through their partial indexes (store
//! migration 13), never a scan of every account.

use postern_core::tenancy::{Account, AccountKind, Identity, parse_network};
use postern_queue::QueueCounts;
use postern_store::{HourCounts, Paged, Scope, SenderCount, SenderKind};

use crate::{Caller, OpError, Ops, Result, blocking};

/// Hours in the short series.
pub const DAY_HOURS: usize = 24;
/// Hours in the long series.
pub const WEEK_HOURS: usize = 7 * 24;
/// How many top senders, locked accounts and locked identities are listed.
pub const TOP: usize = 10;
/// How many top accounts a domain admin's list is picked from (some may be another
/// tenant's, which it does not see).
const TOP_CANDIDATES: u32 = 50;

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// `null` when this server keeps no message log.
    pub activity: Option<Activity>,
    pub locked_accounts: Locked<Account>,
    pub locked_identities: Locked<Identity>,
    /// Messages in the queue by state; a superadmin's only (`null` for a domain admin).
    pub queue: Option<QueueCounts>,
}

/// The messages of the last hours.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The last 24 hours, oldest first; the last is the current hour (so far). `refused`
    /// does not count the quarantined messages (each is in `quarantined`).
    pub day: Vec<HourCounts>,
    /// The last 7 days by hour, oldest first, ending with the current hour.
    pub week: Vec<HourCounts>,
    /// The sums of `day` (`hour_ms`: its first hour).
    pub day_totals: HourCounts,
    /// Spam among the messages checked in the last 24 hours (0 to 1); `null` when none
    /// was checked.
    pub spam_rate: Option<f64>,
    /// The accounts with the most messages in the last 24 hours, most first.
    pub top_accounts: Vec<SenderCount>,
    /// The identities with the most messages in the last 24 hours, most first.
    pub top_identities: Vec<SenderCount>,
}

/// The first locked objects (by id) and how many there are.
#[derive(Debug, Clone)]
pub struct Locked<T> {
    pub total: u64,
    pub first: Vec<T>,
}

impl<T> From<Paged<T>> for Locked<T> {
    fn from(page: Paged<T>) -> Locked<T> {
        Locked { total: page.total, first: page.items }
    }
}

/// The dashboard as `caller` may see it, at `now_ms`.
pub async fn show(ops: &Ops, caller: &Caller, now_ms: i64) -> Result<Dashboard> {
    let activity = match ops.log.clone() {
        Some(log) => {
            let scope = caller.scope.clone();
            let directory = std::sync::Arc::clone(&ops.directory);
            let activity = blocking(move || -> postern_store::Result<Activity> {
                let (from, to) = week_range(now_ms);
                let week = every_hour(&log.hourly(&scope, from, to)?, from, WEEK_HOURS);
                let since = now_ms - DAY_HOURS as i64 * HourCounts::HOUR_MS;
                let candidates = if matches!(scope, Scope::All) { TOP as u32 } else { TOP_CANDIDATES };
                let accounts = log.top_senders(&scope, since, SenderKind::Account, candidates)?;
                let top_accounts = own_accounts(directory.as_ref(), &scope, accounts)?;
                let top_identities = log.top_senders(&scope, since, SenderKind::Identity, TOP as u32)?;
                Ok(Activity::new(week, top_accounts, top_identities))
            });
            Some(activity.await?.map_err(OpError::from)?)
        }
        None => None,
    };
    let scope = caller.scope.clone();
    let (locked_accounts, locked_identities) = ops
        .directory(move |d| Ok((d.locked_accounts(&scope, TOP as u32)?, d.locked_identities(&scope, TOP as u32)?)))
        .await?;
    let queue = caller.is_superadmin().then(|| ops.queue.counts_by_state());
    Ok(Dashboard {
        activity,
        locked_accounts: locked_accounts.into(),
        locked_identities: locked_identities.into(),
        queue,
    })
}

impl Activity {
    /// `week`'s `refused` leave out the quarantined messages: the pipeline logs a refusal
    /// for each message it holds (naming the rule), which the hour counts count too.
    fn new(mut week: Vec<HourCounts>, top_accounts: Vec<SenderCount>, top_identities: Vec<SenderCount>) -> Activity {
        for hour in &mut week {
            hour.refused = hour.refused.saturating_sub(hour.quarantined);
        }
        let day = week[week.len().saturating_sub(DAY_HOURS)..].to_vec();
        let mut day_totals = HourCounts { hour_ms: day.first().map_or(0, |h| h.hour_ms), ..HourCounts::default() };
        for hour in &day {
            day_totals.add(hour);
        }
        let spam_rate = (day_totals.checked > 0).then(|| day_totals.spam as f64 / day_totals.checked as f64);
        Activity { day, week, day_totals, spam_rate, top_accounts, top_identities }
    }
}

/// The start of the first of the last 7 days' hours, and the end of the current hour.
fn week_range(now_ms: i64) -> (i64, i64) {
    let current = now_ms.div_euclid(HourCounts::HOUR_MS) * HourCounts::HOUR_MS;
    (current - (WEEK_HOURS as i64 - 1) * HourCounts::HOUR_MS, current + HourCounts::HOUR_MS)
}

/// `hours` hours from `from_ms`, each the one found or zeros.
fn every_hour(found: &[HourCounts], from_ms: i64, hours: usize) -> Vec<HourCounts> {
    let mut out: Vec<HourCounts> = (0..hours as i64)
        .map(|i| HourCounts { hour_ms: from_ms + i * HourCounts::HOUR_MS, ..HourCounts::default() })
        .collect();
    for hour in found {
        let index = (hour.hour_ms - from_ms).div_euclid(HourCounts::HOUR_MS);
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
            slot.add(hour);
        }
    }
    out
}

/// The first [`TOP`] of `counts` that name an account in `scope` (all of them for a
/// superadmin): a domain admin never sees another tenant's account names.
fn own_accounts(
    directory: &dyn postern_store::DirectoryStore,
    scope: &Scope,
    counts: Vec<SenderCount>,
) -> postern_store::Result<Vec<SenderCount>> {
    let Scope::Domains(domains) = scope else { return Ok(counts.into_iter().take(TOP).collect()) };
    let mut out = Vec::new();
    for count in counts {
        if out.len() == TOP {
            break;
        }
        let kind = if count.name.contains('@') {
            AccountKind::User
        } else if parse_network(&count.name).is_some() {
            AccountKind::Ip
        } else {
            AccountKind::Domain
        };
        let account = directory.account_by_name(kind, &count.name)?;
        if account.is_some_and(|a| domains.iter().any(|d| d.eq_ignore_ascii_case(&a.domain))) {
            out.push(count);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use postern_core::event::now_ms;
    use postern_core::tenancy::LockState;
    use postern_core::{Disposition, Event, EventKind, QueueId};
    use postern_store::{AccountChange, DirectoryStore, EventStore, SqliteStore};

    use super::*;
    use crate::accounts::{self, AccountCreate};
    use crate::testing::{TestOps, admin_of, superadmin};

    const H: i64 = HourCounts::HOUR_MS;

    #[test]
    fn every_hour_is_there_and_ranges_end_with_the_current_hour() {
        let now = 1_767_225_600_000 + 90 * 60_000; // 01:30
        let (from, to) = week_range(now);
        assert_eq!((to - from) / H, WEEK_HOURS as i64);
        assert_eq!(to, 1_767_225_600_000 + 2 * H);
        let found = [HourCounts { hour_ms: from + 3 * H, received: 4, ..HourCounts::default() }];
        let hours = every_hour(&found, from, WEEK_HOURS);
        assert_eq!(hours.len(), WEEK_HOURS);
        assert_eq!((hours[3].hour_ms, hours[3].received, hours[4].received), (from + 3 * H, 4, 0));
        assert!(hours.windows(2).all(|w| w[1].hour_ms - w[0].hour_ms == H));
        // Outside the range: ignored.
        let stray = [HourCounts { hour_ms: from - H, received: 1, ..HourCounts::default() }];
        assert!(every_hour(&stray, from, 3).iter().all(|h| h.received == 0));
    }

    #[test]
    fn the_spam_rate_is_of_checked_messages_and_held_ones_are_not_refused() {
        let week = every_hour(&[], 0, WEEK_HOURS);
        let quiet = Activity::new(week.clone(), Vec::new(), Vec::new());
        assert_eq!((quiet.day.len(), quiet.spam_rate), (DAY_HOURS, None));
        let mut busy = week;
        busy[WEEK_HOURS - 1].checked = 4;
        busy[WEEK_HOURS - 1].spam = 1;
        busy[0].checked = 100; // a week ago: not in the last 24 hours
        let busy = Activity::new(busy, Vec::new(), Vec::new());
        assert_eq!((busy.day_totals.checked, busy.spam_rate), (4, Some(0.25)));
        assert_eq!(busy.day_totals.hour_ms, (WEEK_HOURS - DAY_HOURS) as i64 * H);

        let mut held = every_hour(&[], 0, WEEK_HOURS);
        held[WEEK_HOURS - 1].refused = 3; // one refusal and the two held messages' own
        held[WEEK_HOURS - 1].quarantined = 2;
        let held = Activity::new(held, Vec::new(), Vec::new());
        assert_eq!((held.day_totals.refused, held.day_totals.quarantined), (1, 2), "a held message is not refused too");
    }

    fn message(store: &SqliteStore, at: i64, account: &str, domain: &str, sender: &str, disposition: Disposition) {
        let q = QueueId::generate();
        let event =
            |kind| Event { at_ms: at, session: 1, client_ip: "192.0.2.1".parse().unwrap(), queue_id: Some(q), kind };
        let checked = EventKind::Checked { disposition, checks: Vec::new(), message: None };
        let mut events = vec![event(checked)];
        if disposition == Disposition::Deliver {
            events.push(event(EventKind::Queued {
                size: 10,
                sender: sender.into(),
                recipients: vec!["x@dest.example".into()],
                tls: None,
                message_id: None,
                account: Some(account.into()),
                account_id: None,
                domain: Some(domain.into()),
                sender_domain: sender.rsplit_once('@').map(|(_, d)| d.to_string()),
                identity: Some(sender.into()),
                subject: None,
            }));
        }
        store.append(&events).unwrap();
    }

    async fn account(t: &TestOps, domain: &str, name: &str) -> Account {
        let input = AccountCreate {
            domain: domain.into(),
            kind: AccountKind::Ip,
            name: Some(name.into()),
            password: None,
            settings: None,
            cover_trusted: false,
        };
        accounts::create(&t.ops, &superadmin(), input).await.unwrap()
    }

    #[tokio::test]
    async fn a_domain_admin_sees_only_its_own_figures_senders_and_locks() {
        let mut t = TestOps::new();
        t.ops.log = Some(t.store.clone());
        t.domain("a.example").await;
        t.domain("b.example").await;
        let a = account(&t, "a.example", "192.0.2.0/28").await;
        let b = account(&t, "b.example", "198.51.100.0/28").await;
        let now = now_ms();
        let deliver = Disposition::Deliver;
        message(&t.store, now, &a.name, "a.example", "alice@a.example", deliver);
        message(&t.store, now, &a.name, "a.example", "alice@a.example", deliver);
        message(&t.store, now - 3 * H, &b.name, "b.example", "bob@b.example", deliver);
        // b's account sending as an address of a's domain: a sees the message, not b's account.
        message(&t.store, now - 3 * H, &b.name, "b.example", "spoof@a.example", deliver);
        message(&t.store, now - 30 * H, &a.name, "a.example", "old@a.example", deliver);
        let lock = LockState { locked: true, reason: Some("spam".into()), ..LockState::default() };
        let change = AccountChange { lock: Some(lock), ..AccountChange::default() };
        t.store.update_account(b.id, &change).unwrap();

        let all = show(&t.ops, &superadmin(), now).await.unwrap();
        let activity = all.activity.unwrap();
        assert_eq!((activity.day.len(), activity.week.len()), (DAY_HOURS, WEEK_HOURS));
        assert_eq!(activity.day_totals.received, 4);
        assert_eq!(activity.week.iter().map(|h| h.received).sum::<u64>(), 5);
        assert_eq!(activity.day[DAY_HOURS - 1].received, 2);
        assert_eq!(activity.day[DAY_HOURS - 4].received, 2);
        let names: Vec<_> = activity.top_accounts.iter().map(|s| (s.name.as_str(), s.messages)).collect();
        assert_eq!(names, [(a.name.as_str(), 2), (b.name.as_str(), 2)]);
        assert_eq!(all.locked_accounts.total, 1);
        assert_eq!(all.queue, Some(QueueCounts::default()));

        let mine = show(&t.ops, &admin_of("a.example"), now).await.unwrap();
        let activity = mine.activity.unwrap();
        assert_eq!(activity.day_totals.received, 3, "its two and the one from its address");
        let names: Vec<_> = activity.top_accounts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [a.name.as_str()], "never b's account");
        assert!(activity.top_identities.iter().all(|s| s.name.ends_with("@a.example")));
        assert_eq!((mine.locked_accounts.total, mine.locked_accounts.first.len()), (0, 0));
        assert!(mine.queue.is_none(), "the queue is the whole server's");

        let theirs = show(&t.ops, &admin_of("b.example"), now).await.unwrap();
        let activity = theirs.activity.unwrap();
        assert_eq!(activity.day_totals.received, 2);
        assert!(activity.top_identities.iter().all(|s| !s.name.starts_with("alice")));
        assert_eq!(theirs.locked_accounts.first.iter().map(|a| a.id).collect::<Vec<_>>(), [b.id]);

        let nobody = show(&t.ops, &admin_of("c.example"), now).await.unwrap();
        let activity = nobody.activity.unwrap();
        assert_eq!((activity.day_totals.received, activity.spam_rate), (0, None));
        assert!(activity.top_accounts.is_empty() && activity.top_identities.is_empty());
    }

    #[tokio::test]
    async fn without_a_log_the_locks_are_still_shown() {
        let t = TestOps::new();
        let dashboard = show(&t.ops, &superadmin(), now_ms()).await.unwrap();
        assert!(dashboard.activity.is_none());
        assert_eq!(dashboard.locked_identities.total, 0);
    }
}
