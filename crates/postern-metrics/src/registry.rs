//! [`Metrics`]: every metric Postern exports, registered once, and the text a scrape gets.
//!
//! In: events (`observe.rs` counts them) and, at scrape time, a [`Scraped`] snapshot of
//! what lives elsewhere (the queue's size by state, open sessions, the event writer's
//! counts). Out: the Prometheus text format (version 0.0.4). The names and their meaning
//! are listed in docs/MONITORING.md; a test there keeps the two in step.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::labels::Bounded;
use crate::{MetricsError, Result};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// Distinct refusal rules kept as labels; the rest are `other`.
pub const MAX_RULES: usize = 200;
/// Distinct values of all other labels fed from events together (listeners, results,
/// engines, mechanisms, actions).
pub const MAX_VALUES: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Refusal {
    pub stage: String,
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabel {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AuthLabels {
    pub mechanism: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ActionLabel {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListenerLabel {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EngineLabel {
    pub engine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

/// What a scrape reads from the running parts, at the moment of the scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scraped {
    /// Messages in the queue by state (`incoming`, `active`, `deferred`, `held`).
    pub queue: Vec<(&'static str, u64)>,
    /// SMTP sessions open now.
    pub sessions_open: u64,
    /// The event writer's counts; `None`: not reported.
    pub events: Option<EventFigures>,
}

/// The event writer's counts (all since start, but `waiting`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFigures {
    pub stored: u64,
    pub retried: u64,
    pub dropped: u64,
    pub waiting: u64,
    /// Failed store attempts.
    pub failures: u64,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric, and the bounds of the labels fed from events.
pub struct Metrics {
    registry: Registry,
    pub(crate) received: Counter,
    pub(crate) refused: Family<Refusal, Counter>,
    pub(crate) would_refuse: Family<StageLabel, Counter>,
    pub(crate) quarantined: Counter,
    pub(crate) discarded: Counter,
    pub(crate) queued: Counter,
    pub(crate) deliveries: Family<ResultLabel, Counter>,
    pub(crate) dsns: Family<ActionLabel, Counter>,
    pub(crate) auth: Family<AuthLabels, Counter>,
    pub(crate) sessions: Family<ListenerLabel, Counter>,
    pub(crate) quarantine_actions: Family<ActionLabel, Counter>,
    pub(crate) dkim: Family<ResultLabel, Counter>,
    pub(crate) attempt_seconds: Histograms<ResultLabel>,
    pub(crate) latency_seconds: Histogram,
    pub(crate) scan_seconds: Histograms<EngineLabel>,
    sessions_open: Gauge,
    queue: Family<StateLabel, Gauge>,
    events_stored: Counter,
    events_retried: Counter,
    events_dropped: Counter,
    events_waiting: Gauge,
    store_errors: Family<OperationLabel, Counter>,
    pub(crate) rules: Bounded,
    pub(crate) values: Bounded,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn attempt_histogram() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0])
}

fn scan_histogram() -> Histogram {
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("postern"),
            received: Counter::default(),
            refused: Family::default(),
            would_refuse: Family::default(),
            quarantined: Counter::default(),
            discarded: Counter::default(),
            queued: Counter::default(),
            deliveries: Family::default(),
            dsns: Family::default(),
            auth: Family::default(),
            sessions: Family::default(),
            quarantine_actions: Family::default(),
            dkim: Family::default(),
            attempt_seconds: Family::new_with_constructor(attempt_histogram),
            latency_seconds: Histogram::new([
                0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0, 432_000.0,
            ]),
            scan_seconds: Family::new_with_constructor(scan_histogram),
            sessions_open: Gauge::default(),
            queue: Family::default(),
            events_stored: Counter::default(),
            events_retried: Counter::default(),
            events_dropped: Counter::default(),
            events_waiting: Gauge::default(),
            store_errors: Family::default(),
            rules: Bounded::new(MAX_RULES),
            values: Bounded::new(MAX_VALUES),
        };
        m.register_all();
        m
    }

    /// Names every metric (each with the `postern_` prefix; counters get `_total`, the
    /// unit goes into the name).
    fn register_all(&mut self) {
        let r = &mut self.registry;
        let version = vec![("version".to_string(), env!("CARGO_PKG_VERSION").to_string())];
        r.register("build", "The running binary: version", Info::new(version));
        r.register(
            "messages_received",
            "Messages whose data was received and handed on (checked or discarded)",
            self.received.clone(),
        );
        r.register(
            "refusals",
            "Refusals (a transaction, a recipient or a message) by stage and rule",
            self.refused.clone(),
        );
        r.register("monitor_would_refuse", "Refusals monitor mode only logged, by stage", self.would_refuse.clone());
        r.register("messages_quarantined", "Messages held in the quarantine", self.quarantined.clone());
        r.register("messages_discarded", "Messages a list rule discarded (250, never spooled)", self.discarded.clone());
        r.register("messages_queued", "Messages spooled for delivery", self.queued.clone());
        r.register(
            "deliveries",
            "Recipients' delivery results by result: delivered, deferred, bounced, expired",
            self.deliveries.clone(),
        );
        r.register("dsns_sent", "Delivery status notifications queued, by action", self.dsns.clone());
        r.register(
            "auth_attempts",
            "AUTH exchanges by mechanism and result: success, failure, blocked",
            self.auth.clone(),
        );
        r.register("sessions", "SMTP sessions accepted, by listener", self.sessions.clone());
        r.register("sessions_open", "SMTP sessions open now", self.sessions_open.clone());
        r.register("quarantine_actions", "Things done to held messages, by action", self.quarantine_actions.clone());
        r.register("dkim_results", "DKIM results at the end of data: signed, unsigned, failed", self.dkim.clone());
        r.register("queue_messages", "Messages in the queue now, by state", self.queue.clone());
        r.register_with_unit(
            "delivery_attempt_duration",
            "How long a delivery attempt took, per recipient result",
            Unit::Seconds,
            self.attempt_seconds.clone(),
        );
        r.register_with_unit(
            "delivery_latency",
            "From receipt (spooled) to delivery, per delivered recipient",
            Unit::Seconds,
            self.latency_seconds.clone(),
        );
        r.register_with_unit(
            "scan_duration",
            "Time of each content check, by engine",
            Unit::Seconds,
            self.scan_seconds.clone(),
        );
        r.register("events_stored", "Events written to the store", self.events_stored.clone());
        r.register("events_retried", "Events written only after a failed attempt", self.events_retried.clone());
        r.register(
            "events_dropped",
            "Events given up (retry buffer full, or stopped while the store failed)",
            self.events_dropped.clone(),
        );
        r.register("events_waiting", "Events waiting in the retry buffer now", self.events_waiting.clone());
        r.register("store_errors", "Failed store operations, by operation", self.store_errors.clone());
    }

    /// The text of one scrape: `scraped` first becomes the scrape-time values.
    pub fn render(&self, scraped: &Scraped) -> Result<String> {
        self.sessions_open.set(i64::try_from(scraped.sessions_open).unwrap_or(i64::MAX));
        for (state, n) in &scraped.queue {
            self.queue
                .get_or_create(&StateLabel { state: (*state).to_string() })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        if let Some(e) = scraped.events {
            // Counted by the event writer: the counters show its figures as they are.
            self.events_stored.inner().store(e.stored, Ordering::Relaxed);
            self.events_retried.inner().store(e.retried, Ordering::Relaxed);
            self.events_dropped.inner().store(e.dropped, Ordering::Relaxed);
            self.events_waiting.set(i64::try_from(e.waiting).unwrap_or(i64::MAX));
            let errors = self.store_errors.get_or_create(&OperationLabel { operation: "events".into() });
            errors.inner().store(e.failures, Ordering::Relaxed);
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .map_err(MetricsError::Encode)?;
        Ok(text)
    }
}
