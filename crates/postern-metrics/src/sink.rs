//! [`MetricsSink`]: a tee in the event sink chain. Each event is counted
//! ([`Metrics::observe`]), then handed to the next sink (the log and the store) unchanged.
//!
//! In: events from sessions, the pipeline, the queue manager and the quarantine. Out: the
//! same events, in the same order, to `next`. Counting never waits and never fails, so the
//! tee adds no backpressure of its own: `next` decides how long `emit` takes.

use std::sync::Arc;

use postern_core::{BoxFuture, Event, EventSink};

use crate::Metrics;

pub struct MetricsSink {
    metrics: Arc<Metrics>,
    next: Arc<dyn EventSink>,
}

impl MetricsSink {
    pub fn new(metrics: Arc<Metrics>, next: Arc<dyn EventSink>) -> MetricsSink {
        MetricsSink { metrics, next }
    }
}

impl EventSink for MetricsSink {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()> {
        self.metrics.observe(&event);
        self.next.emit(event)
    }
}
