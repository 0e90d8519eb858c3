//! The metrics from a sequence of real events, read back from the rendered text: each
//! counter says what the events say, labels stay bounded, scrape-time values show as given.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::test_support::Collected;
use postern_core::{CheckRecord, Disposition, Event, EventKind, EventSink, QueueId, Stage};
use postern_metrics::{EventFigures, Metrics, MetricsSink, Scraped};

fn event(kind: EventKind) -> Event {
    Event {
        at_ms: 10_000,
        session: 1,
        client_ip: IpAddr::from([127, 0, 0, 1]),
        queue_id: Some(QueueId::generate()),
        kind,
    }
}

fn refused(stage: Stage, reason: &str) -> Event {
    event(EventKind::Refused {
        stage,
        reply: "550 5.7.1 no".into(),
        reason: reason.into(),
        sender: None,
        recipient: None,
        account: None,
        domain: None,
    })
}

fn checked(disposition: Disposition, checks: Vec<CheckRecord>) -> Event {
    event(EventKind::Checked { disposition, checks, message: None })
}

fn check(engine: &str, result: &str, micros: u64) -> CheckRecord {
    CheckRecord {
        stage: "content".into(),
        engine: engine.into(),
        rule: None,
        result: result.into(),
        part: None,
        score: None,
        micros,
    }
}

fn delivery(result: &str, duration_ms: Option<u64>, queued_at_ms: Option<i64>) -> Event {
    event(EventKind::Delivery {
        recipient: "b@example.net".into(),
        result: result.into(),
        status: "2.0.0".into(),
        reply: "250 ok".into(),
        remote: None,
        attempt: 1,
        destination: "relay".into(),
        duration_ms,
        queued_at_ms,
    })
}

fn queued() -> Event {
    event(EventKind::Queued {
        size: 10,
        sender: "a@example.com".into(),
        recipients: vec!["b@example.net".into()],
        tls: None,
        message_id: None,
        account: None,
        account_id: None,
        domain: None,
        sender_domain: None,
        identity: None,
        subject: None,
    })
}

/// The value of the sample `name` with exactly `labels` (`a="x",b="y"`, or "" for none).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let want = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
    text.lines().find_map(|line| line.strip_prefix(&want)?.strip_prefix(' ')?.parse().ok())
}

async fn run(events: Vec<Event>) -> (Arc<Metrics>, Arc<Collected>) {
    let metrics = Arc::new(Metrics::new());
    let next = Arc::new(Collected::default());
    let sink = MetricsSink::new(Arc::clone(&metrics), Arc::clone(&next) as Arc<dyn EventSink>);
    for e in events {
        sink.emit(e).await;
    }
    (metrics, next)
}

#[tokio::test]
async fn counters_say_what_the_events_say_and_the_events_go_on() {
    let connect = || event(EventKind::Connect { client_port: 1, listener: "smtp".into() });
    let events = vec![
        connect(),
        connect(),
        checked(Disposition::Deliver, vec![check("gtube", "pass", 20), check("rspamd", "pass", 150_000)]),
        queued(),
        checked(Disposition::Deliver, vec![check("gtube", "pass", 30), check("rspamd", "off", 0)]),
        queued(),
        checked(Disposition::Quarantine, vec![check("gtube", "spam", 10)]),
        refused(Stage::Data, "spam (rule GTUBE): rejected; held as quarantine id 1"),
        refused(Stage::Rcpt, "relay access denied: client is not in a trusted network and has no account"),
        refused(Stage::Rcpt, "would refuse (monitor): recipients per day: 5 of 4"),
        delivery("deferred", Some(1_500), Some(1_000)),
        delivery("delivered", Some(250), Some(4_000)),
        delivery("expired", None, Some(1_000)),
        event(EventKind::Auth {
            mechanism: "plain".into(),
            user: "u".into(),
            result: "failure".into(),
            detail: "x".into(),
        }),
        event(EventKind::Dsn {
            dsn_queue_id: "X".into(),
            action: "failed".into(),
            to: "a@b".into(),
            recipients: vec![],
        }),
    ];
    let n = events.len();
    let (metrics, next) = run(events).await;
    assert_eq!(next.0.lock().unwrap().len(), n, "every event reaches the next sink");
    let text = metrics.render(&Scraped::default()).unwrap();
    let at =
        |name: &str, labels: &str| sample(&text, name, labels).unwrap_or_else(|| panic!("{name}{{{labels}}}\n{text}"));
    assert_eq!(at("postern_sessions_total", r#"listener="smtp""#), 2.0);
    assert_eq!(at("postern_messages_received_total", ""), 3.0);
    assert_eq!(at("postern_messages_queued_total", ""), 2.0);
    assert_eq!(at("postern_messages_quarantined_total", ""), 1.0);
    assert_eq!(at("postern_refusals_total", r#"stage="data",rule="GTUBE""#), 1.0);
    assert_eq!(at("postern_refusals_total", r#"stage="rcpt",rule="relay_denied""#), 1.0);
    assert_eq!(at("postern_monitor_would_refuse_total", r#"stage="rcpt""#), 1.0);
    assert_eq!(sample(&text, "postern_refusals_total", r#"stage="rcpt",rule="daily_recipients""#), None);
    for result in ["delivered", "deferred", "expired"] {
        assert_eq!(at("postern_deliveries_total", &format!(r#"result="{result}""#)), 1.0);
    }
    assert_eq!(at("postern_delivery_attempt_duration_seconds_count", r#"result="deferred""#), 1.0);
    assert_eq!(at("postern_delivery_attempt_duration_seconds_sum", r#"result="deferred""#), 1.5);
    assert_eq!(
        sample(&text, "postern_delivery_attempt_duration_seconds_count", r#"result="expired""#),
        None,
        "nothing tried"
    );
    // Only the delivered recipient: 10 s after it was spooled at 4 s.
    assert_eq!(at("postern_delivery_latency_seconds_count", ""), 1.0);
    assert_eq!(at("postern_delivery_latency_seconds_sum", ""), 6.0);
    assert_eq!(at("postern_delivery_latency_seconds_bucket", r#"le="5""#), 0.0);
    assert_eq!(at("postern_delivery_latency_seconds_bucket", r#"le="10""#), 1.0);
    assert_eq!(at("postern_scan_duration_seconds_count", r#"engine="gtube""#), 3.0);
    assert_eq!(at("postern_scan_duration_seconds_count", r#"engine="rspamd""#), 1.0, "not when off");
    assert_eq!(at("postern_scan_duration_seconds_sum", r#"engine="rspamd""#), 0.15);
    assert_eq!(at("postern_auth_attempts_total", r#"mechanism="PLAIN",result="failure""#), 1.0);
    assert_eq!(at("postern_dsns_sent_total", r#"action="failed""#), 1.0);
    assert!(text.contains(&format!("postern_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))), "{text}");
}

#[tokio::test]
async fn refusal_rules_are_bounded() {
    let events = (0..1000)
        .map(|i| refused(Stage::Data, &format!("spam (rule R{i}): rejected; held as quarantine id {i}")))
        .collect();
    let (metrics, _) = run(events).await;
    let text = metrics.render(&Scraped::default()).unwrap();
    let series = text.lines().filter(|l| l.starts_with("postern_refusals_total{")).count();
    assert_eq!(series, postern_metrics::MAX_RULES + 1, "the bound, and `other`");
    assert_eq!(sample(&text, "postern_refusals_total", r#"stage="data",rule="other""#), Some(800.0));
    assert_eq!(sample(&text, "postern_refusals_total", r#"stage="data",rule="R7""#), Some(1.0));
}

#[test]
fn scrape_time_values_show_as_given() {
    let metrics = Metrics::new();
    let mut scraped = Scraped {
        queue: vec![("incoming", 1), ("active", 2), ("deferred", 3), ("held", 0)],
        sessions_open: 4,
        events: Some(EventFigures { stored: 50, retried: 5, dropped: 1, waiting: 2, failures: 7 }),
    };
    let text = metrics.render(&scraped).unwrap();
    assert_eq!(sample(&text, "postern_queue_messages", r#"state="deferred""#), Some(3.0));
    assert_eq!(sample(&text, "postern_queue_messages", r#"state="held""#), Some(0.0));
    assert_eq!(sample(&text, "postern_sessions_open", ""), Some(4.0));
    assert_eq!(sample(&text, "postern_events_stored_total", ""), Some(50.0));
    assert_eq!(sample(&text, "postern_events_dropped_total", ""), Some(1.0));
    assert_eq!(sample(&text, "postern_events_waiting", ""), Some(2.0));
    assert_eq!(sample(&text, "postern_store_errors_total", r#"operation="events""#), Some(7.0));
    scraped.sessions_open = 0;
    scraped.queue = vec![("deferred", 0)];
    let text = metrics.render(&scraped).unwrap();
    assert_eq!(sample(&text, "postern_sessions_open", ""), Some(0.0));
    assert_eq!(sample(&text, "postern_queue_messages", r#"state="deferred""#), Some(0.0));
}
