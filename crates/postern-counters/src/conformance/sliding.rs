//! The sliding cases: a deterministic pseudo-random schedule over several windows, with
//! bursts on both sides of bucket and window boundaries. Every answer is checked against a
//! model of the bucket arithmetic computed from the log, then the two promises are checked
//! directly on the log of allowed events: no interval of one window ever admits more than
//! the limit, and a refusal only happens when the last `BUCKETS + 1` buckets really hold
//! the limit (the counter is never stricter than its precision).
//!
//! The same schedule runs through `acquire` and through `acquire_all`, which must behave
//! exactly alike at every boundary.

use std::sync::Arc;
use std::time::Duration;

use super::{CaseFailure, CaseResult, ManualClock, START_MS, allowed, denied};
use crate::{Acquire, BUCKETS, Counters, Decision, MultiDecision, Window};

/// The key the schedule is counted under.
const KEY: &str = "sliding";
/// Through [`Via::AcquireAll`], an unlimited key acquired before [`KEY`] in every call:
/// counted only along with it, it must always hold exactly the same count.
const COMPANION: &str = "sliding-companion";

/// How the schedule is acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// One `acquire` per event.
    Acquire,
    /// One `acquire_all` per event: the companion, then the key (so a refusal is index 1).
    AcquireAll,
}

/// One event of the sliding schedule and what became of it.
#[derive(Debug, Clone, Copy)]
struct Event {
    at: i64,
    n: u64,
    allowed: bool,
}

pub(super) async fn run(
    c: Arc<dyn Counters>,
    clock: Arc<ManualClock>,
    window_ms: u64,
    limit: u64,
    seed: u64,
    via: Via,
) -> CaseResult {
    let window = Window::from_ms(window_ms)?;
    let duration = Duration::from_millis(window_ms);
    let mut events = schedule(window, limit, seed);
    let bucket = window.bucket_ms() as i64;
    for i in 0..events.len() {
        let Event { at, n, .. } = events[i];
        let expected = expected_decision(&events[..i], window, at, n, limit);
        clock.set(at);
        let decision = acquire(&*c, via, duration, n, limit).await?;
        ensure_eq!(decision, expected, "event {i} at +{} ms (n = {n})", at - START_MS);
        events[i].allowed = matches!(decision, Decision::Allowed { .. });
    }
    let log: Vec<Event> = events.iter().copied().filter(|e| e.allowed).collect();
    // 1. No interval of one window admits more than the limit (such an interval can
    //    always be moved to start at an allowed event).
    for first in &log {
        let inside: u64 =
            log.iter().filter(|e| e.at >= first.at && e.at < first.at + window_ms as i64).map(|e| e.n).sum();
        if inside > limit {
            return Err(CaseFailure(format!("{inside} admitted within one window from +{} ms", first.at - START_MS)));
        }
    }
    // 2. A refusal only when the last BUCKETS + 1 buckets hold the limit: never stricter.
    let horizon = (BUCKETS as i64 + 1) * bucket;
    for e in events.iter().filter(|e| !e.allowed) {
        let recent: u64 = log.iter().filter(|a| a.at <= e.at && a.at > e.at - horizon).map(|a| a.n).sum();
        if recent + e.n <= limit {
            return Err(CaseFailure(format!("refused at +{} ms with only {recent} recent", e.at - START_MS)));
        }
    }
    // 3. After a window and a bucket of silence, the whole limit is available again.
    let quiet = events.last().map_or(START_MS, |e| e.at) + window_ms as i64 + bucket;
    clock.set(quiet);
    for i in 1..=limit {
        ensure_eq!(acquire(&*c, via, duration, 1, limit).await?, allowed(i), "after the silence, acquire {i}");
    }
    ensure_eq!(acquire(&*c, via, duration, 1, limit).await?, denied(limit), "after the silence, one too many");
    Ok(())
}

/// One event, acquired `via` one call or the other; the answer for [`KEY`].
async fn acquire(c: &dyn Counters, via: Via, window: Duration, n: u64, limit: u64) -> Result<Decision, CaseFailure> {
    if via == Via::Acquire {
        return Ok(c.acquire(KEY, window, n, limit).await?);
    }
    let requests =
        [Acquire { key: COMPANION.into(), window, n, limit: 0 }, Acquire { key: KEY.into(), window, n, limit }];
    match c.acquire_all(&requests).await? {
        MultiDecision::Allowed { counts } if counts.len() == 2 && counts[0] == counts[1] => Ok(allowed(counts[1])),
        MultiDecision::Denied { index: 1, count } => Ok(denied(count)),
        other => {
            Err(CaseFailure(format!("acquire_all answered {other:?}; the companion must count what the key counts")))
        }
    }
}

/// The bucket arithmetic, computed from the log: what a correct backend answers.
fn expected_decision(before: &[Event], window: Window, at: i64, n: u64, limit: u64) -> Decision {
    let oldest = window.oldest_counted(window.bucket_index(at));
    let count: u64 = before.iter().filter(|e| e.allowed && window.bucket_index(e.at) >= oldest).map(|e| e.n).sum();
    if limit == 0 || count + n <= limit { allowed(count + n) } else { denied(count) }
}

/// Events over eight windows, in time order: uniform ones over six windows, bursts on both
/// sides of bucket boundaries, bursts larger than the limit on both sides of window
/// boundaries (the pattern that lets twice the limit through a fixed window), and a pair
/// of bursts one ms less than a window apart at the worst bucket alignment.
fn schedule(window: Window, limit: u64, seed: u64) -> Vec<Event> {
    let mut random = SplitMix(seed);
    let w = window.ms() as i64;
    let bucket = window.bucket_ms() as i64;
    let span = 6 * w;
    let mut events = Vec::new();
    let mut push = |at: i64, n: u64| events.push(Event { at, n, allowed: false });
    for _ in 0..600 {
        let at = START_MS + random.below(span as u64) as i64;
        push(at, weight(&mut random));
    }
    for _ in 0..40 {
        let boundary = (START_MS.div_euclid(bucket) + 1 + random.below((span / bucket) as u64) as i64) * bucket;
        for offset in [-1, 0, 1] {
            for _ in 0..3 {
                push(boundary + offset, weight(&mut random));
            }
        }
    }
    let first_boundary = (START_MS.div_euclid(w) + 1) * w;
    for k in 0..5 {
        let boundary = first_boundary + k * w;
        for offset in [-bucket, -1, 0, 1, bucket - 1] {
            for _ in 0..limit + 2 {
                push(boundary + offset, 1);
            }
        }
    }
    // The worst alignment: the limit spent in the last ms of a bucket, then asked for
    // again one ms less than a window later (after the rest, on a quiet stretch).
    let spent = (START_MS + 7 * w).div_euclid(bucket) * bucket - 1;
    for at in [spent, spent + w - 1] {
        for _ in 0..=limit {
            push(at, 1);
        }
    }
    events.sort_by_key(|e| e.at);
    events
}

/// Mostly single events, some of 2 and 3.
fn weight(random: &mut SplitMix) -> u64 {
    match random.below(20) {
        0 => 3,
        1..=3 => 2,
        _ => 1,
    }
}

/// A small deterministic generator (SplitMix64), so every run replays the same schedule.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
