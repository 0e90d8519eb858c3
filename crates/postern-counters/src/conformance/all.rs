//! The `acquire_all` cases: all or nothing over several counters; the first request that
//! does not fit is the one reported; requests are taken in order (a key and window named
//! twice count cumulatively); every request is checked before anything is counted; and
//! concurrent calls stay atomic. How it behaves at bucket and window boundaries is checked
//! by the sliding cases, through the same schedule as `acquire`.

use std::sync::Arc;
use std::time::Duration;

use super::{CaseFailure, CaseResult, DAY, HOUR, MINUTE, ManualClock, kind};
use crate::{Acquire, BUCKETS, Counters, Decision, MAX_REQUESTS, MultiDecision};

fn request(key: &str, window: Duration, n: u64, limit: u64) -> Acquire {
    Acquire { key: key.into(), window, n, limit }
}

fn all_allowed(counts: &[u64]) -> MultiDecision {
    MultiDecision::Allowed { counts: counts.to_vec() }
}

fn denied_at(index: usize, count: u64) -> MultiDecision {
    MultiDecision::Denied { index, count }
}

pub(super) async fn every_request_counted_when_all_fit(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    c.add("fit-b", HOUR, 3).await?;
    let requests = [request("fit-a", MINUTE, 1, 5), request("fit-b", HOUR, 2, 5), request("fit-c", DAY, 4, 0)];
    ensure_eq!(c.acquire_all(&requests).await?, all_allowed(&[1, 5, 4]), "three requests that fit");
    ensure_eq!(c.count("fit-a", MINUTE).await?, 1, "fit-a counted");
    ensure_eq!(c.count("fit-b", HOUR).await?, 5, "fit-b counted, up to its limit");
    ensure_eq!(c.count("fit-c", DAY).await?, 4, "fit-c counted");
    ensure_eq!(c.acquire("fit-b", HOUR, 1, 5).await?, Decision::Denied { count: 5 }, "acquire sees the adds");
    ensure_eq!(c.acquire_all(&[request("fit-b", HOUR, 0, 5)]).await?, all_allowed(&[5]), "n = 0 at the limit");
    ensure_eq!(c.acquire_all(&[]).await?, all_allowed(&[]), "no requests");
    Ok(())
}

pub(super) async fn nothing_counted_when_one_does_not_fit(
    c: Arc<dyn Counters>,
    _clock: Arc<ManualClock>,
) -> CaseResult {
    c.add("deny-full", HOUR, 3).await?;
    c.add("deny-other", HOUR, 2).await?;
    let requests = [
        request("deny-a", MINUTE, 1, 5),
        request("deny-full", HOUR, 1, 3),
        request("deny-other", HOUR, 1, 2),
        request("deny-c", DAY, 1, 0),
    ];
    ensure_eq!(c.acquire_all(&requests).await?, denied_at(1, 3), "the first request that does not fit");
    ensure_eq!(c.count("deny-a", MINUTE).await?, 0, "the request before it, not counted");
    ensure_eq!(c.count("deny-full", HOUR).await?, 3, "the full one, unchanged");
    ensure_eq!(c.count("deny-other", HOUR).await?, 2, "the next full one, unchanged");
    ensure_eq!(c.count("deny-c", DAY).await?, 0, "the unlimited one after it, not counted");

    let requests = [request("deny-a", MINUTE, 2, 5), request("deny-c", DAY, 1, 0), request("deny-huge", HOUR, 11, 10)];
    ensure_eq!(c.acquire_all(&requests).await?, denied_at(2, 0), "the last request, n above its limit");
    let requests = [request("deny-a", MINUTE, 2, 5), request("deny-huge", HOUR, u64::MAX - 1, 10)];
    ensure_eq!(c.acquire_all(&requests).await?, denied_at(1, 0), "a huge n");
    ensure_eq!(c.count("deny-a", MINUTE).await?, 0, "deny-a after the refusals");
    ensure_eq!(c.count("deny-c", DAY).await?, 0, "deny-c after the refusals");

    let requests = [request("deny-a", MINUTE, 1, 5), request("deny-full", HOUR, 1, 4), request("deny-c", DAY, 1, 0)];
    ensure_eq!(c.acquire_all(&requests).await?, all_allowed(&[1, 4, 1]), "with room again, all counted");
    Ok(())
}

pub(super) async fn same_key_twice_counts_cumulatively(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let twice = [request("twice", HOUR, 2, 5), request("twice", HOUR, 2, 5)];
    ensure_eq!(c.acquire_all(&twice).await?, all_allowed(&[2, 4]), "the second sees the first");
    ensure_eq!(c.count("twice", HOUR).await?, 4, "both counted");
    // 4 counted: the first fits (5 of 5), the second would make 6.
    let once_more = [request("twice", HOUR, 1, 5), request("twice", HOUR, 1, 5)];
    ensure_eq!(c.acquire_all(&once_more).await?, denied_at(1, 5), "the second sees the first's add");
    ensure_eq!(c.count("twice", HOUR).await?, 4, "neither counted");
    let apart = [request("twice", MINUTE, 3, 3), request("twice", HOUR, 1, 5)];
    ensure_eq!(c.acquire_all(&apart).await?, all_allowed(&[3, 5]), "other windows of one key are apart");
    ensure_eq!(c.count("twice", MINUTE).await?, 3, "the minute window");
    Ok(())
}

pub(super) async fn limit_zero_is_unlimited(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let requests = [request("free-a", MINUTE, 1, 0), request("free-b", HOUR, 2, 0)];
    for i in 1..=100 {
        ensure_eq!(c.acquire_all(&requests).await?, all_allowed(&[i, 2 * i]), "call {i} without limits");
    }
    let large = [request("free-a", MINUTE, 1_000_000, 0), request("free-a", MINUTE, 1_000_000, 0)];
    ensure_eq!(c.acquire_all(&large).await?, all_allowed(&[1_000_100, 2_000_100]), "a large n without limit");
    Ok(())
}

pub(super) async fn bad_requests_count_nothing(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let long = "k".repeat(513);
    let short = Duration::from_millis(BUCKETS - 1);
    let bad_key = [request("bad-ok", HOUR, 1, 0), request(&long, HOUR, 1, 0)];
    ensure_eq!(c.acquire_all(&bad_key).await.map_err(kind), Err("BadKey"), "a key too long");
    let empty_key = [request("bad-ok", HOUR, 1, 0), request("", HOUR, 1, 0)];
    ensure_eq!(c.acquire_all(&empty_key).await.map_err(kind), Err("BadKey"), "an empty key");
    let bad_window = [request("bad-ok", HOUR, 1, 0), request("bad-short", short, 1, 0)];
    ensure_eq!(c.acquire_all(&bad_window).await.map_err(kind), Err("BadWindow"), "a window too short");
    ensure_eq!(c.count("bad-ok", HOUR).await?, 0, "the good request of a refused call");

    let many: Vec<Acquire> = (0..=MAX_REQUESTS).map(|i| request(&format!("bad-{i}"), HOUR, 1, 0)).collect();
    ensure_eq!(c.acquire_all(&many).await.map_err(kind), Err("TooManyRequests"), "one request too many");
    ensure_eq!(c.count("bad-0", HOUR).await?, 0, "the first of too many");
    let counts = vec![1; MAX_REQUESTS];
    ensure_eq!(c.acquire_all(&many[..MAX_REQUESTS]).await?, all_allowed(&counts), "the most requests at once");
    ensure_eq!(c.count(&format!("bad-{MAX_REQUESTS}"), HOUR).await?, 0, "the one left out");
    Ok(())
}

/// Racers on `x` (limit 10): `acquire_all` of x and an unlimited y, in both orders (which
/// must not deadlock), and plain `acquire` of x. Exactly 10 get x, and y counts exactly the
/// `acquire_all` calls that were allowed.
pub(super) async fn concurrent_calls_are_atomic(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    const RACERS: usize = 60;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (c, barrier) = (Arc::clone(&c), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let x = request("race-x", HOUR, 1, 10);
            let y = request("race-y", HOUR, 1, 0);
            barrier.wait().await;
            // (x's count if allowed, whether y was counted too)
            Ok::<_, crate::CounterError>(match i % 3 {
                0 => match c.acquire_all(&[x, y]).await? {
                    MultiDecision::Allowed { counts } => (counts.first().copied(), true),
                    MultiDecision::Denied { .. } => (None, false),
                },
                1 => match c.acquire_all(&[y, x]).await? {
                    MultiDecision::Allowed { counts } => (counts.get(1).copied(), true),
                    MultiDecision::Denied { .. } => (None, false),
                },
                _ => match c.acquire(&x.key, x.window, x.n, x.limit).await? {
                    Decision::Allowed { count } => (Some(count), false),
                    Decision::Denied { .. } => (None, false),
                },
            })
        }));
    }
    let mut counts = Vec::new();
    let mut with_y = 0;
    for task in tasks {
        let (x, y) = task.await.map_err(|e| CaseFailure(format!("task failed: {e}")))??;
        counts.extend(x);
        with_y += u64::from(y);
    }
    counts.sort_unstable();
    ensure_eq!(counts, (1..=10).collect::<Vec<u64>>(), "counts of x of the allowed racers");
    ensure_eq!(c.count("race-x", HOUR).await?, 10, "x after the race");
    ensure_eq!(c.count("race-y", HOUR).await?, with_y, "y: only the allowed acquire_all calls");
    Ok(())
}
