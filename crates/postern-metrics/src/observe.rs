//! From events to counters: [`Metrics::observe`] counts one [`Event`], so that the
//! metrics say what the log says, event for event.
//!
//! In: every event the server emits (through [`crate::MetricsSink`]). Out: counters and
//! histograms updated. Every label value goes through `labels.rs` (bounded, short).
//! Monitor mode's `would refuse` refusals are counted apart: nothing was refused.

use postern_core::{Disposition, Event, EventKind, Stage};

use crate::Metrics;
use crate::labels::refusal_rule;
use crate::registry::{ActionLabel, AuthLabels, EngineLabel, ListenerLabel, Refusal, ResultLabel, StageLabel};

/// How a monitor-mode refusal's reason starts (the session and the pipeline write it so).
const MONITOR: &str = "would refuse (monitor)";

impl Metrics {
    /// Counts one event.
    pub fn observe(&self, event: &Event) {
        match &event.kind {
            EventKind::Connect { listener, .. } => {
                self.sessions.get_or_create(&ListenerLabel { listener: self.values.admit(listener) }).inc();
            }
            EventKind::Refused { stage, reason, .. } => self.refusal(*stage, reason),
            EventKind::Queued { .. } => {
                self.queued.inc();
            }
            EventKind::Auth { mechanism, result, .. } => {
                let labels = AuthLabels {
                    mechanism: self.values.admit(&mechanism.to_ascii_uppercase()),
                    result: self.values.admit(result),
                };
                self.auth.get_or_create(&labels).inc();
            }
            EventKind::Delivery { result, duration_ms, queued_at_ms, .. } => {
                self.delivery(event.at_ms, result, *duration_ms, *queued_at_ms);
            }
            EventKind::Dsn { action, .. } => {
                self.dsns.get_or_create(&ActionLabel { action: self.values.admit(action) }).inc();
            }
            EventKind::Dkim { result, .. } => {
                self.dkim.get_or_create(&ResultLabel { result: self.values.admit(result) }).inc();
            }
            EventKind::Checked { disposition, checks, .. } => {
                self.received.inc();
                if *disposition == Disposition::Quarantine {
                    self.quarantined.inc();
                }
                // The time of each content check that ran (not those off or skipped).
                for check in
                    checks.iter().filter(|c| c.stage == "content" && c.result != "off" && c.result != "skipped")
                {
                    let engine = EngineLabel { engine: self.values.admit(&check.engine) };
                    self.scan_seconds.get_or_create(&engine).observe(check.micros as f64 / 1e6);
                }
            }
            EventKind::Discarded { .. } => {
                self.received.inc();
                self.discarded.inc();
            }
            EventKind::Quarantine { action, .. } => {
                self.quarantine_actions.get_or_create(&ActionLabel { action: self.values.admit(action) }).inc();
            }
            EventKind::Tls { .. } | EventKind::Disconnect { .. } | EventKind::Behaviour { .. } => {}
        }
    }

    fn refusal(&self, stage: Stage, reason: &str) {
        let stage = stage_name(stage).to_string();
        if reason.starts_with(MONITOR) {
            self.would_refuse.get_or_create(&StageLabel { stage }).inc();
            return;
        }
        let rule = self.rules.admit(&refusal_rule(reason));
        self.refused.get_or_create(&Refusal { stage, rule }).inc();
    }

    fn delivery(&self, at_ms: i64, result: &str, duration_ms: Option<u64>, queued_at_ms: Option<i64>) {
        let result = ResultLabel { result: self.values.admit(result) };
        self.deliveries.get_or_create(&result).inc();
        if let Some(ms) = duration_ms {
            self.attempt_seconds.get_or_create(&result).observe(ms as f64 / 1000.0);
        }
        if let (true, Some(queued)) = (result.result == "delivered", queued_at_ms) {
            // A clock stepped back gives no negative latency.
            self.latency_seconds.observe(at_ms.saturating_sub(queued).max(0) as f64 / 1000.0);
        }
    }
}

/// The stage as the events name it (`rcpt`, `data`...).
fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Connect => "connect",
        Stage::Helo => "helo",
        Stage::Tls => "tls",
        Stage::Mail => "mail",
        Stage::Rcpt => "rcpt",
        Stage::Data => "data",
        Stage::Bdat => "bdat",
        Stage::Queue => "queue",
        Stage::Command => "command",
        Stage::Auth => "auth",
    }
}
