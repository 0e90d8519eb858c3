//! The start page: messages per hour over the last 24 hours and 7 days (sent, refused,
//! quarantined), the spam rate, the top senders, the locked accounts and identities, and
//! (for a superadmin) the queue by state, as server-drawn charts ([`crate::chart`]) with
//! their figures in tables.
//!
//! In: the session's caller. Out: the page, from [`postern_ops::dashboard::show`] (which
//! decides what the caller may see). Times are UTC, like every time in the panel.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use postern_core::tenancy::{Account, Identity};
use postern_ops::dashboard::{self, Activity, Locked};
use postern_queue::QueueCounts;
use postern_store::{HourCounts, SenderCount};
use serde::Deserialize;

use crate::accounts::lock_text;
use crate::chart::{self, Bar, Column, Layer};
use crate::chrome::Chrome;
use crate::error::render;
use crate::session::Session;
use crate::view::link;
use crate::{PanelError, PanelState};

/// What the hourly charts stack: messages queued for delivery, refused, quarantined.
const LAYERS: [Layer; 3] = [
    Layer { name: "sent", class: "sent" },
    Layer { name: "refused", class: "refused" },
    Layer { name: "quarantined", class: "quarantined" },
];

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    /// `None`: this server keeps no message log.
    activity: Option<ActivityView>,
    locked_accounts: LockList,
    locked_identities: LockList,
    /// The whole server's queue: a superadmin's only.
    queue: Option<QueueView>,
    version: &'static str,
}

/// The counts of one hour (or day) in a table.
struct Row {
    label: String,
    sent: u64,
    refused: u64,
    quarantined: u64,
}

struct Sender {
    name: String,
    messages: u64,
    /// Log search for its messages of the last 24 hours.
    link: String,
}

struct ActivityView {
    day_chart: String,
    week_chart: String,
    day: Vec<Row>,
    /// The last 7 days, one row per day.
    week: Vec<Row>,
    totals: Row,
    checked: u64,
    spam: u64,
    /// `12.5 %`, or `-` when nothing was checked.
    spam_rate: String,
    accounts_chart: String,
    identities_chart: String,
    top_accounts: Vec<Sender>,
    top_identities: Vec<Sender>,
}

struct LockRow {
    name: String,
    domain: String,
    link: String,
    lock: String,
}

struct LockList {
    total: u64,
    rows: Vec<LockRow>,
    /// The whole list of locked ones.
    all: &'static str,
}

struct QueueView {
    chart: String,
    total: u64,
    states: Vec<(&'static str, u64)>,
}

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    done: Option<String>,
}

pub async fn show(State(state): State<PanelState>, session: Session, Query(q): Query<DashboardQuery>) -> Response {
    let now = postern_core::event::now_ms();
    let figures = match dashboard::show(&state.ops, &session.caller, now).await {
        Ok(figures) => figures,
        Err(e) => return PanelError::from(e).into_response(),
    };
    let page = DashboardPage {
        chrome: Chrome::new(&session, "/").with_notice(q.done.as_deref()),
        activity: figures.activity.map(|a| activity(a, now)),
        locked_accounts: accounts(figures.locked_accounts),
        locked_identities: identities(figures.locked_identities),
        queue: figures.queue.map(queue),
        version: env!("CARGO_PKG_VERSION"),
    };
    render(&page)
}

fn activity(a: Activity, now_ms: i64) -> ActivityView {
    let hour_label = |ms: i64| time(ms, "%H");
    let day_columns: Vec<Column> = a
        .day
        .iter()
        .map(|h| Column {
            label: hour_label(h.hour_ms),
            tooltip: time(h.hour_ms, "%Y-%m-%d %H:00 UTC"),
            values: values(h),
        })
        .collect();
    let week_columns: Vec<Column> = a
        .week
        .iter()
        .map(|h| Column {
            label: time(h.hour_ms, "%a"),
            tooltip: time(h.hour_ms, "%a %Y-%m-%d %H:00 UTC"),
            values: values(h),
        })
        .collect();
    let since = time(now_ms - dashboard::DAY_HOURS as i64 * HourCounts::HOUR_MS, "%Y-%m-%dT%H:%M:%SZ");
    let senders = |list: Vec<SenderCount>, field: &str| -> Vec<Sender> {
        list.into_iter()
            .map(|s| Sender {
                link: link("/log", &[(field, &s.name), ("since", &since)]),
                name: s.name,
                messages: s.messages,
            })
            .collect()
    };
    let top_accounts = senders(a.top_accounts, "account");
    let top_identities = senders(a.top_identities, "identity");
    let bars = |list: &[Sender]| -> Vec<Bar> {
        list.iter().map(|s| Bar { name: s.name.clone(), value: s.messages, class: "sent" }).collect()
    };
    ActivityView {
        day_chart: chart::columns("Messages per hour, last 24 hours", &LAYERS, &day_columns, 3),
        // Labelled once a day, at the hour of now.
        week_chart: chart::columns("Messages per hour, last 7 days", &LAYERS, &week_columns, 24),
        day: a.day.iter().rev().map(|h| row(time(h.hour_ms, "%Y-%m-%d %H:00"), h)).collect(),
        week: days(&a.week),
        totals: row("Last 24 hours".into(), &a.day_totals),
        checked: a.day_totals.checked,
        spam: a.day_totals.spam,
        spam_rate: a.spam_rate.map_or_else(|| "-".to_string(), |r| format!("{:.1} %", r * 100.0)),
        accounts_chart: chart::bars("Top accounts, last 24 hours", &bars(&top_accounts)),
        identities_chart: chart::bars("Top identities, last 24 hours", &bars(&top_identities)),
        top_accounts,
        top_identities,
    }
}

fn values(h: &HourCounts) -> Vec<u64> {
    vec![h.received, h.refused, h.quarantined]
}

fn row(label: String, h: &HourCounts) -> Row {
    Row { label, sent: h.received, refused: h.refused, quarantined: h.quarantined }
}

/// The hours summed by (UTC) day, newest first.
fn days(hours: &[HourCounts]) -> Vec<Row> {
    let mut out: Vec<(String, HourCounts)> = Vec::new();
    for h in hours {
        let day = time(h.hour_ms, "%a %Y-%m-%d");
        match out.last_mut() {
            Some((d, sum)) if *d == day => sum.add(h),
            _ => out.push((day, *h)),
        }
    }
    out.into_iter().rev().map(|(day, sum)| row(day, &sum)).collect()
}

fn time(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| "-".into(), |t| t.format(format).to_string())
}

fn accounts(locked: Locked<Account>) -> LockList {
    let rows = locked
        .first
        .iter()
        .map(|a| LockRow {
            name: a.name.clone(),
            domain: a.domain.clone(),
            link: format!("/accounts/{}", a.id),
            lock: lock_text(&a.lock),
        })
        .collect();
    LockList { total: locked.total, rows, all: "/accounts?locked=yes" }
}

fn identities(locked: Locked<Identity>) -> LockList {
    let rows = locked
        .first
        .iter()
        .map(|i| LockRow {
            name: i.name.clone(),
            domain: i.domain.clone(),
            link: link(
                "/identities",
                &[("account", i.account_id.to_string().as_str()), ("name", i.name.as_str()), ("locked", "yes")],
            ),
            lock: lock_text(&i.lock),
        })
        .collect();
    LockList { total: locked.total, rows, all: "/identities?locked=yes" }
}

fn queue(counts: QueueCounts) -> QueueView {
    let states = vec![
        ("incoming", counts.incoming),
        ("active", counts.active),
        ("deferred", counts.deferred),
        ("held", counts.held),
    ];
    let bars: Vec<Bar> = states.iter().map(|&(name, value)| Bar { name: name.into(), value, class: name }).collect();
    QueueView { chart: chart::bars("Queue by state", &bars), total: states.iter().map(|s| s.1).sum(), states }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HourCounts::HOUR_MS;

    #[test]
    fn hours_sum_into_days_newest_first() {
        let start = 1_767_225_600_000 - 2 * H; // 22:00 the day before
        let hours: Vec<HourCounts> = (0..5)
            .map(|i| HourCounts { hour_ms: start + i * H, received: 1, refused: i as u64, ..HourCounts::default() })
            .collect();
        let rows = days(&hours);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].label.as_str(), rows[0].sent, rows[0].refused), ("Thu 2026-01-01", 3, 9));
        assert_eq!((rows[1].sent, rows[1].refused), (2, 1));
    }

    #[test]
    fn the_queue_chart_names_every_state() {
        let view = queue(QueueCounts { incoming: 1, active: 0, deferred: 4, held: 2 });
        assert_eq!(view.total, 7);
        for state in ["incoming", "active", "deferred", "held"] {
            assert!(view.chart.contains(&format!(">{state}</text>")), "{state}");
        }
    }
}
