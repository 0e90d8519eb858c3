//! What the event writer does when the store refuses a batch (disk full, database locked):
//! the events wait in a bounded buffer and are tried again with a growing delay; beyond
//! the buffer's bound the oldest are dropped. Every event is counted as stored, stored
//! after a retry, or dropped ([`EventCounts`]), so a loss is never silent.
//!
//! In: batches that could not be stored, the clock. Out: the batch to try now, counts.
//! Defends against: unbounded memory while the store is down (the buffer's bound), and a
//! tight loop of failing writes (the delay doubles up to its maximum).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postern_core::Event;
use serde::Serialize;

/// How long and how much the writer keeps events the store refused.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Events kept for retry at most; older ones are dropped first.
    pub capacity: usize,
    /// The wait after the first failure; it doubles after each failed retry.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// At most 100,000 events waiting, retried after 1 s, then every 2, 4, ... up to 30 s.
    fn default() -> RetryPolicy {
        RetryPolicy { capacity: 100_000, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) }
    }
}

/// The writer's running totals since start.
#[derive(Debug, Default)]
pub struct EventStats {
    stored: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    waiting: AtomicU64,
    failures: AtomicU64,
}

/// A snapshot of [`EventStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventCounts {
    /// Events written to the store (retried ones included).
    pub stored: u64,
    /// Of those, events written only after one or more failed attempts.
    pub retried: u64,
    /// Events given up: the retry buffer was full, or the writer stopped while the store failed.
    pub dropped: u64,
    /// Events waiting in the retry buffer now.
    pub waiting: u64,
    /// Failed store attempts.
    pub failures: u64,
}

impl EventStats {
    pub fn counts(&self) -> EventCounts {
        EventCounts {
            stored: self.stored.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn stored(&self, n: usize, retried: bool) {
        self.stored.fetch_add(n as u64, Ordering::Relaxed);
        if retried {
            self.retried.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_waiting(&self, n: usize) {
        self.waiting.store(n as u64, Ordering::Relaxed);
    }
}

/// Events the store refused, oldest first, and when to try them again.
pub(crate) struct RetryBuffer {
    policy: RetryPolicy,
    events: VecDeque<Event>,
    delay: Duration,
    due: Option<Instant>,
}

impl RetryBuffer {
    pub fn new(policy: RetryPolicy) -> RetryBuffer {
        RetryBuffer { policy, events: VecDeque::new(), delay: policy.first_delay, due: None }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Keeps `batch` for a retry (after those already waiting); returns how many of the
    /// oldest were dropped to stay within the capacity.
    pub fn keep(&mut self, batch: Vec<Event>, now: Instant) -> usize {
        if self.due.is_none() {
            self.due = Some(now + self.delay);
        }
        self.events.extend(batch);
        let over = self.events.len().saturating_sub(self.policy.capacity);
        self.events.drain(..over);
        over
    }

    /// Whether a retry is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.due.is_some_and(|due| now >= due)
    }

    /// How long until the next retry (zero when due or nothing waits).
    pub fn wait(&self, now: Instant) -> Duration {
        self.due.map(|due| due.saturating_duration_since(now)).unwrap_or_default()
    }

    /// The waiting events, in order, to try now; give them back with [`RetryBuffer::failed`]
    /// or drop them once stored ([`RetryBuffer::succeeded`]).
    pub fn events(&self) -> Vec<Event> {
        self.events.iter().cloned().collect()
    }

    pub fn succeeded(&mut self) {
        self.events.clear();
        self.delay = self.policy.first_delay;
        self.due = None;
    }

    /// A retry failed: the next one waits twice as long (up to the maximum).
    pub fn failed(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(self.policy.max_delay);
        self.due = Some(now + self.delay);
    }

    /// Gives up on every waiting event (the writer stops); returns how many.
    pub fn drop_all(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        self.due = None;
        n
    }
}

#[cfg(test)]
mod tests {
    use postern_core::EventKind;

    use super::*;

    fn events(n: u16) -> Vec<Event> {
        (0..n)
            .map(|port| Event {
                at_ms: 1,
                session: 1,
                client_ip: "192.0.2.1".parse().unwrap(),
                queue_id: None,
                kind: EventKind::Connect { client_port: port, listener: "smtp".into() },
            })
            .collect()
    }

    #[test]
    fn the_buffer_is_bounded_and_drops_the_oldest() {
        let policy = RetryPolicy { capacity: 5, ..RetryPolicy::default() };
        let mut buffer = RetryBuffer::new(policy);
        let now = Instant::now();
        assert_eq!(buffer.keep(events(3), now), 0);
        assert_eq!(buffer.keep(events(4), now), 2);
        assert_eq!(buffer.len(), 5);
        let ports: Vec<u16> = buffer
            .events()
            .iter()
            .map(|e| match e.kind {
                EventKind::Connect { client_port, .. } => client_port,
                _ => 99,
            })
            .collect();
        assert_eq!(ports, [2, 0, 1, 2, 3], "the oldest two went");
    }

    #[test]
    fn retries_back_off_to_the_maximum() {
        let policy =
            RetryPolicy { capacity: 10, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(3) };
        let mut buffer = RetryBuffer::new(policy);
        let now = Instant::now();
        buffer.keep(events(1), now);
        assert!(!buffer.due(now));
        assert!(buffer.due(now + Duration::from_secs(1)));
        buffer.failed(now);
        assert_eq!(buffer.wait(now), Duration::from_secs(2));
        buffer.failed(now);
        assert_eq!(buffer.wait(now), Duration::from_secs(3));
        buffer.succeeded();
        assert!(buffer.is_empty());
        buffer.keep(events(1), now);
        assert_eq!(buffer.wait(now), Duration::from_secs(1), "a new failure starts over");
    }
}
