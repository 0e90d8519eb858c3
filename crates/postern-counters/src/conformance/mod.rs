//! The conformance suite: the semantics of [`Counters`] (see the crate docs), checked the
//! same way against every backend.
//!
//! In: a factory that builds a fresh, empty backend reading the [`ManualClock`] it is
//! given. Out: for each named case in [`CASES`], `Ok` or a [`CaseFailure`] saying what
//! differed. A backend's tests call [`run_case`] once per case (or [`run_all`]). The cases
//! need a multi-threaded Tokio runtime (the concurrency case spawns tasks).
//!
//! The sliding cases (in `sliding.rs`) check the central promise on a long pseudo-random
//! schedule: no interval of one window ever admits more than the limit, through `acquire`
//! and through `acquire_all` alike. The other `acquire_all` cases are in `all.rs`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use postern_core::BoxFuture;

use crate::{BUCKETS, Clock, CounterError, Counters, Decision};

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock { now_ms: AtomicI64::new(now_ms) }
    }

    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Why a case failed.
#[derive(Debug)]
pub struct CaseFailure(pub String);

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<CounterError> for CaseFailure {
    fn from(e: CounterError) -> Self {
        CaseFailure(format!("unexpected error: {e}"))
    }
}

pub type CaseResult = std::result::Result<(), CaseFailure>;
/// Builds a fresh, empty backend on the given clock.
pub type MakeCounters = dyn Fn(Arc<ManualClock>) -> BoxFuture<'static, Arc<dyn Counters>> + Send + Sync;
pub type Case = fn(Arc<dyn Counters>, Arc<ManualClock>) -> BoxFuture<'static, CaseResult>;

/// Where every case's clock starts: a whole hour (and minute) since the epoch.
pub const START_MS: i64 = 1_800_000_000_000;

pub const CASES: &[(&str, Case)] = &[
    ("acquire_up_to_the_limit_then_denied", |c, k| Box::pin(acquire_up_to_the_limit_then_denied(c, k))),
    ("limit_zero_is_unlimited", |c, k| Box::pin(limit_zero_is_unlimited(c, k))),
    ("n_greater_than_one", |c, k| Box::pin(n_greater_than_one(c, k))),
    ("keys_are_independent", |c, k| Box::pin(keys_are_independent(c, k))),
    ("windows_are_independent", |c, k| Box::pin(windows_are_independent(c, k))),
    ("count_and_add", |c, k| Box::pin(count_and_add(c, k))),
    ("reset_forgets_every_window", |c, k| Box::pin(reset_forgets_every_window(c, k))),
    ("counts_expire_bucket_by_bucket", |c, k| Box::pin(counts_expire_bucket_by_bucket(c, k))),
    ("clock_stepping_back_counts_more", |c, k| Box::pin(clock_stepping_back_counts_more(c, k))),
    ("sliding_hour_never_exceeds_the_limit", |c, k| {
        Box::pin(sliding::run(c, k, 3_600_000, 20, 0x5eed_0001, Via::Acquire))
    }),
    ("sliding_odd_window_never_exceeds_the_limit", |c, k| {
        Box::pin(sliding::run(c, k, 61_007, 7, 0x5eed_0002, Via::Acquire))
    }),
    ("concurrent_acquires_are_atomic", |c, k| Box::pin(concurrent_acquires_are_atomic(c, k))),
    ("bad_keys_and_windows_are_refused", |c, k| Box::pin(bad_keys_and_windows_are_refused(c, k))),
    ("flush_keeps_counts", |c, k| Box::pin(flush_keeps_counts(c, k))),
    ("blobs_are_stored_replaced_and_removed", |c, k| Box::pin(blobs_are_stored_replaced_and_removed(c, k))),
    ("blobs_expire_by_the_clock", |c, k| Box::pin(blobs_expire_by_the_clock(c, k))),
    ("bad_blobs_are_refused", |c, k| Box::pin(bad_blobs_are_refused(c, k))),
    ("put_blob_if_is_a_compare_and_set", |c, k| Box::pin(put_blob_if_is_a_compare_and_set(c, k))),
    ("put_blob_if_loses_no_concurrent_update", |c, k| Box::pin(put_blob_if_loses_no_concurrent_update(c, k))),
    ("acquire_all_counts_every_request_when_all_fit", |c, k| Box::pin(all::every_request_counted_when_all_fit(c, k))),
    ("acquire_all_counts_nothing_when_one_does_not_fit", |c, k| {
        Box::pin(all::nothing_counted_when_one_does_not_fit(c, k))
    }),
    ("acquire_all_same_key_twice_counts_cumulatively", |c, k| Box::pin(all::same_key_twice_counts_cumulatively(c, k))),
    ("acquire_all_limit_zero_is_unlimited", |c, k| Box::pin(all::limit_zero_is_unlimited(c, k))),
    ("acquire_all_bad_requests_count_nothing", |c, k| Box::pin(all::bad_requests_count_nothing(c, k))),
    ("acquire_all_concurrent_calls_are_atomic", |c, k| Box::pin(all::concurrent_calls_are_atomic(c, k))),
    ("acquire_all_sliding_hour_like_acquire", |c, k| {
        Box::pin(sliding::run(c, k, 3_600_000, 20, 0x5eed_0001, Via::AcquireAll))
    }),
    ("acquire_all_sliding_odd_window_like_acquire", |c, k| {
        Box::pin(sliding::run(c, k, 61_007, 7, 0x5eed_0002, Via::AcquireAll))
    }),
];

/// Runs the case called `name` on a fresh backend.
pub async fn run_case(name: &str, make: &MakeCounters) -> CaseResult {
    let Some((_, case)) = CASES.iter().find(|(n, _)| *n == name) else {
        return Err(CaseFailure(format!("no conformance case named {name}")));
    };
    let clock = Arc::new(ManualClock::new(START_MS));
    let counters = make(Arc::clone(&clock)).await;
    case(counters, clock).await.map_err(|e| CaseFailure(format!("{name}: {e}")))
}

/// Runs every case, each on a fresh backend; the error lists every failure.
pub async fn run_all(make: &MakeCounters) -> CaseResult {
    let mut failures = Vec::new();
    for (name, _) in CASES {
        if let Err(e) = run_case(name, make).await {
            failures.push(e.0);
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(CaseFailure(failures.join("\n"))) }
}

/// Returns a [`CaseFailure`] from the case when `actual != expected`.
macro_rules! ensure_eq {
    ($actual:expr, $expected:expr, $($what:tt)+) => {{
        let (actual, expected) = ($actual, $expected);
        if actual != expected {
            return Err(CaseFailure(format!("{}: expected {:?}, got {:?}", format!($($what)+), expected, actual)));
        }
    }};
}

async fn blobs_are_stored_replaced_and_removed(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    ensure_eq!(c.get_blob("profile").await?, None, "a blob never stored");
    c.put_blob("profile", b"one", HOUR).await?;
    ensure_eq!(c.get_blob("profile").await?, Some(b"one".to_vec()), "a stored blob");
    let big: Vec<u8> = (0..crate::MAX_BLOB_LEN).map(|i| (i % 251) as u8).collect();
    c.put_blob("profile", &big, HOUR).await?;
    ensure_eq!(c.get_blob("profile").await?, Some(big.clone()), "a replaced blob of the largest size");
    c.add("profile", HOUR, 3).await?;
    c.reset("profile").await?;
    ensure_eq!(c.get_blob("profile").await?, Some(big), "blobs and counters have their own key spaces");
    c.put_blob("profile", b"", HOUR).await?;
    ensure_eq!(c.get_blob("profile").await?, None, "an empty value removes the blob");
    c.flush().await?;
    Ok(())
}

async fn put_blob_if_is_a_compare_and_set(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    ensure_eq!(c.put_blob_if("cas", b"v1", b"v2-data", HOUR).await?, false, "a guard on a missing blob");
    ensure_eq!(c.put_blob_if("cas", b"", b"v1-data", HOUR).await?, true, "an empty guard on a missing blob");
    ensure_eq!(c.put_blob_if("cas", b"", b"v1-other", HOUR).await?, false, "an empty guard on a blob");
    ensure_eq!(c.put_blob_if("cas", b"v2", b"v2-data", HOUR).await?, false, "a guard that does not match");
    ensure_eq!(c.get_blob("cas").await?, Some(b"v1-data".to_vec()), "refused writes changed nothing");
    ensure_eq!(c.put_blob_if("cas", b"v1", b"v2-data", HOUR).await?, true, "a matching guard");
    ensure_eq!(c.get_blob("cas").await?, Some(b"v2-data".to_vec()), "the blob was replaced");
    ensure_eq!(c.put_blob_if("cas", b"v2-data-and-more", b"x", HOUR).await?, false, "a guard longer than the blob");
    c.put_blob("short", b"v9", Duration::from_secs(60)).await?;
    clock.advance(Duration::from_secs(60));
    ensure_eq!(c.put_blob_if("short", b"v9", b"v10", HOUR).await?, false, "a guard on an expired blob");
    ensure_eq!(c.put_blob_if("short", b"", b"v1", HOUR).await?, true, "an expired blob is no blob");
    ensure_eq!(c.put_blob_if("cas", b"v2", b"", HOUR).await?, true, "removal under a guard");
    ensure_eq!(c.get_blob("cas").await?, None, "removed");
    Ok(())
}

/// 8 writers × 25 increments of one number kept in a blob, each a read then a
/// compare-and-set retried until it holds: no increment is lost.
async fn put_blob_if_loses_no_concurrent_update(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                loop {
                    let current = c.get_blob("tally").await?;
                    let n = current.as_deref().map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0);
                    let guard = current.unwrap_or_default();
                    if c.put_blob_if("tally", &guard, &(n + 1).to_le_bytes(), HOUR).await? {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            Ok::<(), crate::CounterError>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| CaseFailure(format!("writer panicked: {e}")))??;
    }
    let stored = c.get_blob("tally").await?.unwrap_or_default();
    ensure_eq!(stored, 200u64.to_le_bytes().to_vec(), "every increment kept");
    Ok(())
}

async fn blobs_expire_by_the_clock(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    c.put_blob("short", b"x", Duration::from_secs(60)).await?;
    clock.advance(Duration::from_secs(59));
    ensure_eq!(c.get_blob("short").await?, Some(b"x".to_vec()), "a blob before its time");
    clock.advance(Duration::from_secs(1));
    ensure_eq!(c.get_blob("short").await?, None, "a blob at its time");
    Ok(())
}

async fn bad_blobs_are_refused(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let too_big = vec![0u8; crate::MAX_BLOB_LEN + 1];
    ensure_eq!(c.put_blob("big", &too_big, HOUR).await.map_err(kind), Err("BadBlob"), "a blob over the maximum");
    let zero = c.put_blob("zero", b"x", Duration::ZERO).await.map_err(kind);
    ensure_eq!(zero, Err("BadBlob"), "a blob without a time to live");
    ensure_eq!(c.put_blob("", b"x", HOUR).await.map_err(kind), Err("BadKey"), "an empty key");
    ensure_eq!(c.get_blob("").await.map_err(kind), Err("BadKey"), "get, an empty key");
    ensure_eq!(c.get_blob("big").await?, None, "nothing was stored");
    Ok(())
}

mod all;
mod sliding;

use sliding::Via;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn allowed(count: u64) -> Decision {
    Decision::Allowed { count }
}

fn denied(count: u64) -> Decision {
    Decision::Denied { count }
}

async fn acquire_up_to_the_limit_then_denied(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    for i in 1..=5 {
        ensure_eq!(c.acquire("up-to", HOUR, 1, 5).await?, allowed(i), "acquire {i} of 5");
    }
    ensure_eq!(c.acquire("up-to", HOUR, 1, 5).await?, denied(5), "acquire 6 of 5");
    ensure_eq!(c.acquire("up-to", HOUR, 1, 5).await?, denied(5), "a denial adds nothing");
    clock.advance(Duration::from_secs(1800));
    ensure_eq!(c.acquire("up-to", HOUR, 1, 5).await?, denied(5), "half a window later");
    ensure_eq!(c.count("up-to", HOUR).await?, 5, "count");
    Ok(())
}

async fn limit_zero_is_unlimited(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    for i in 1..=200 {
        ensure_eq!(c.acquire("unlimited", MINUTE, 1, 0).await?, allowed(i), "acquire {i} without limit");
    }
    ensure_eq!(c.acquire("unlimited", MINUTE, 1_000_000, 0).await?, allowed(1_000_200), "a large n without limit");
    Ok(())
}

async fn n_greater_than_one(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    ensure_eq!(c.acquire("n", HOUR, 4, 10).await?, allowed(4), "4 of 10");
    ensure_eq!(c.acquire("n", HOUR, 4, 10).await?, allowed(8), "8 of 10");
    ensure_eq!(c.acquire("n", HOUR, 4, 10).await?, denied(8), "12 of 10");
    ensure_eq!(c.acquire("n", HOUR, 2, 10).await?, allowed(10), "exactly the limit");
    ensure_eq!(c.acquire("n", HOUR, 1, 10).await?, denied(10), "one past the limit");
    ensure_eq!(c.acquire("n", HOUR, 0, 10).await?, allowed(10), "n = 0 at the limit");
    ensure_eq!(c.acquire("n-fresh", HOUR, 11, 10).await?, denied(0), "n above the limit");
    ensure_eq!(c.count("n-fresh", HOUR).await?, 0, "nothing added");
    ensure_eq!(c.acquire("n-max", HOUR, u64::MAX - 1, 10).await?, denied(0), "a huge n");
    Ok(())
}

async fn keys_are_independent(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    // Keys that embed the separators a backend might use in its own names.
    let keys = ["x", "x:60000", "x:windows", "x:60000:60000", "ü 🙂 *?[]", &"k".repeat(512)];
    for (i, key) in keys.iter().enumerate() {
        for _ in 0..=i {
            c.add(key, MINUTE, 1).await?;
        }
    }
    for (i, key) in keys.iter().enumerate() {
        ensure_eq!(c.count(key, MINUTE).await?, i as u64 + 1, "count of key {key:?}");
    }
    ensure_eq!(c.acquire("x", MINUTE, 1, 1).await?, denied(1), "x is full");
    ensure_eq!(c.acquire("y", MINUTE, 1, 1).await?, allowed(1), "y is not");
    c.reset("x").await?;
    ensure_eq!(c.count("x", MINUTE).await?, 0, "x after its reset");
    for (i, key) in keys.iter().enumerate().skip(1) {
        ensure_eq!(c.count(key, MINUTE).await?, i as u64 + 1, "key {key:?} after resetting x");
    }
    Ok(())
}

async fn windows_are_independent(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    ensure_eq!(c.acquire("w", MINUTE, 2, 2).await?, allowed(2), "minute window");
    ensure_eq!(c.acquire("w", MINUTE, 1, 2).await?, denied(2), "minute window full");
    ensure_eq!(c.acquire("w", HOUR, 1, 2).await?, allowed(1), "hour window");
    ensure_eq!(c.count("w", DAY).await?, 0, "day window untouched");
    clock.advance(MINUTE + Duration::from_secs(1));
    ensure_eq!(c.count("w", MINUTE).await?, 0, "minute window after a minute and a bucket");
    ensure_eq!(c.count("w", HOUR).await?, 1, "hour window a minute later");
    Ok(())
}

async fn count_and_add(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    ensure_eq!(c.count("add", HOUR).await?, 0, "unknown key");
    ensure_eq!(c.add("add", HOUR, 3).await?, 3, "add 3");
    ensure_eq!(c.add("add", HOUR, 4).await?, 7, "add 4");
    ensure_eq!(c.add("add", HOUR, 0).await?, 7, "add 0");
    ensure_eq!(c.acquire("add", HOUR, 2, 8).await?, denied(7), "acquire sees adds");
    ensure_eq!(c.add("add", HOUR, 5).await?, 12, "add ignores any limit");
    ensure_eq!(c.count("add", HOUR).await?, 12, "count");
    Ok(())
}

async fn reset_forgets_every_window(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    for window in [MINUTE, HOUR, DAY] {
        c.add("reset", window, 3).await?;
        c.add("kept", window, 2).await?;
    }
    c.reset("reset").await?;
    c.reset("never-used").await?;
    for window in [MINUTE, HOUR, DAY] {
        ensure_eq!(c.count("reset", window).await?, 0, "reset key, window {window:?}");
        ensure_eq!(c.count("kept", window).await?, 2, "other key, window {window:?}");
    }
    ensure_eq!(c.acquire("reset", HOUR, 3, 3).await?, allowed(3), "counting again after a reset");
    Ok(())
}

async fn counts_expire_bucket_by_bucket(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    // A minute has buckets of one second: one event in each of buckets 0..60.
    for s in 0..60 {
        clock.set(START_MS + s * 1000 + 500);
        c.add("expire", MINUTE, 1).await?;
    }
    for s in 60..=121 {
        clock.set(START_MS + s * 1000);
        let expected = (60 - (s - 60).clamp(0, 60)) as u64;
        ensure_eq!(c.count("expire", MINUTE).await?, expected, "count at second {s}");
        clock.set(START_MS + s * 1000 + 999);
        ensure_eq!(c.count("expire", MINUTE).await?, expected, "count at the end of second {s}");
    }
    Ok(())
}

async fn clock_stepping_back_counts_more(c: Arc<dyn Counters>, clock: Arc<ManualClock>) -> CaseResult {
    clock.set(START_MS + 120_000);
    c.add("back", MINUTE, 3).await?;
    clock.set(START_MS);
    ensure_eq!(c.count("back", MINUTE).await?, 3, "buckets newer than now still count");
    ensure_eq!(c.acquire("back", MINUTE, 1, 3).await?, denied(3), "and still limit");
    Ok(())
}

async fn concurrent_acquires_are_atomic(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, barrier) = (Arc::clone(&c), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let decision = c.acquire("race", HOUR, 1, 10).await;
            let added = c.add("race-add", HOUR, 5).await;
            (decision, added)
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        let (decision, added) = task.await.map_err(|e| CaseFailure(format!("task failed: {e}")))?;
        added?;
        if let Decision::Allowed { count } = decision? {
            counts.push(count);
        }
    }
    counts.sort_unstable();
    ensure_eq!(counts, (1..=10).collect::<Vec<u64>>(), "counts of the allowed racers");
    ensure_eq!(c.count("race", HOUR).await?, 10, "count after the race");
    ensure_eq!(c.count("race-add", HOUR).await?, 250, "no add lost");
    Ok(())
}

async fn bad_keys_and_windows_are_refused(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    let long = "k".repeat(513);
    for key in ["", long.as_str()] {
        let what = format!("key of {} bytes", key.len());
        ensure_eq!(c.acquire(key, HOUR, 1, 1).await.map_err(kind), Err("BadKey"), "acquire, {what}");
        ensure_eq!(c.add(key, HOUR, 1).await.map_err(kind), Err("BadKey"), "add, {what}");
        ensure_eq!(c.count(key, HOUR).await.map_err(kind), Err("BadKey"), "count, {what}");
        ensure_eq!(c.reset(key).await.map_err(kind), Err("BadKey"), "reset, {what}");
    }
    let short = Duration::from_millis(BUCKETS - 1);
    ensure_eq!(c.acquire("k", short, 1, 1).await.map_err(kind), Err("BadWindow"), "acquire, short window");
    ensure_eq!(c.add("k", short, 1).await.map_err(kind), Err("BadWindow"), "add, short window");
    ensure_eq!(c.count("k", short).await.map_err(kind), Err("BadWindow"), "count, short window");
    ensure_eq!(c.count("k", Duration::from_millis(BUCKETS)).await?, 0, "the shortest window");
    Ok(())
}

fn kind(e: CounterError) -> &'static str {
    match e {
        CounterError::Backend(_) => "Backend",
        CounterError::BadKey => "BadKey",
        CounterError::BadWindow => "BadWindow",
        CounterError::TooManyRequests => "TooManyRequests",
        CounterError::BadBlob => "BadBlob",
    }
}

async fn flush_keeps_counts(c: Arc<dyn Counters>, _clock: Arc<ManualClock>) -> CaseResult {
    c.add("flush", HOUR, 2).await?;
    c.flush().await?;
    c.flush().await?;
    ensure_eq!(c.add("flush", HOUR, 1).await?, 3, "count after flushes");
    Ok(())
}
