//! Counters for limits (SPEC.md §3): per key, a sliding window made of sub-buckets, with
//! one trait and two backends: embedded (in memory, persisted in the data directory) and
//! Redis (shared by every node of a cluster). Counters only count; the policy decides.
//!
//! # Semantics (every backend, checked by the conformance suite)
//! A window of length `W` is divided into [`BUCKETS`] buckets of `W / BUCKETS`; bucket
//! index `b = floor(now_ms / (W / BUCKETS))`. The count of a key at `now` is the sum of the
//! buckets `b - BUCKETS ..= b` (one more than a window's worth): any two events less than
//! `W` apart are then always counted together, so no interval of length `W` ever admits
//! more than the limit, across bucket and window boundaries. The price is precision: an
//! event may be refused up to `W / BUCKETS` earlier than an exact log would refuse it.
//!
//! When `W` is not a multiple of [`BUCKETS`] ms, a bucket lasts `ceil(W / BUCKETS)` ms (see
//! [`Window`]), so that `BUCKETS` buckets always cover at least `W`. Buckets newer than
//! `b` (the clock stepped back, or another node's clock is ahead) are counted too: when
//! in doubt, count more.
//!
//! Time comes from a [`Clock`] so tests can move it; every node of a cluster must keep
//! its clock in sync (NTP), as the bucket index is computed from it.
//!
//! Beside counters, a backend keeps small blobs with a time to live ([`Counters::put_blob`]),
//! for state that is not a count (behaviour profiles).
//!
//! # Layout
//! - `lib.rs`: the [`Counters`] trait, its requests and answers, its errors and [`Clock`].
//! - [`window`]: window and bucket arithmetic and argument checks shared by every backend (pure).
//! - [`embedded`]: sharded in-memory counters, persisted by a journal and snapshots.
//! - [`redis`]: the same semantics in Redis, one Lua script per operation.
//! - [`conformance`]: the suite every backend must pass, and a [`conformance::ManualClock`].

use std::time::Duration;

use postern_core::BoxFuture;

pub mod conformance;
pub mod embedded;
pub mod redis;
pub mod window;

pub use window::{MAX_REQUESTS, Window, check_key, check_requests};

/// Sub-buckets per window.
pub const BUCKETS: u64 = 60;

/// The largest value [`Counters::put_blob`] stores.
pub const MAX_BLOB_LEN: usize = 32 * 1024;
/// The longest time a blob is kept.
const MAX_BLOB_TTL_MS: u128 = 10 * 366 * 86_400_000;

/// Checks a blob's key, length and time to live; the time to live in ms.
pub fn check_blob(key: &str, value: &[u8], ttl: Duration) -> Result<i64> {
    check_key(key)?;
    if value.len() > MAX_BLOB_LEN || ttl.as_millis() == 0 || ttl.as_millis() > MAX_BLOB_TTL_MS {
        return Err(CounterError::BadBlob);
    }
    Ok(ttl.as_millis() as i64)
}

#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("counter backend: {0}")]
    Backend(String),
    #[error("counter key is empty or longer than 512 bytes")]
    BadKey,
    #[error("counter window must be at least {BUCKETS} ms and at most ten years")]
    BadWindow,
    #[error("at most {MAX_REQUESTS} counters may be acquired at once")]
    TooManyRequests,
    #[error("a blob holds at most {MAX_BLOB_LEN} bytes, for at most ten years")]
    BadBlob,
}

pub type Result<T> = std::result::Result<T, CounterError>;

/// The answer of [`Counters::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Added; the count within the window is now `count`.
    Allowed { count: u64 },
    /// Not added: `count + n` would exceed the limit. `count` is the current count.
    Denied { count: u64 },
}

/// One request of [`Counters::acquire_all`]: the arguments of one [`Counters::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquire {
    pub key: String,
    pub window: Duration,
    pub n: u64,
    /// 0 means unlimited.
    pub limit: u64,
}

/// The answer of [`Counters::acquire_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiDecision {
    /// Every request was added; `counts[i]` is the count request `i` saw after its add.
    Allowed { counts: Vec<u64> },
    /// Nothing was added: request `index` is the first that does not fit, and `count` is
    /// the count it saw (so `count + n > limit`).
    Denied { index: usize, count: u64 },
}

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        postern_core::event::now_ms()
    }
}

pub trait Counters: Send + Sync + 'static {
    /// Atomically: if `count(key) + n <= limit`, add `n` and answer `Allowed`, else answer
    /// `Denied` and add nothing. `limit == 0` means unlimited (always added).
    fn acquire(&self, key: &str, window: Duration, n: u64, limit: u64) -> BoxFuture<'_, Result<Decision>>;
    /// Several [`Counters::acquire`] as one, all or nothing, in one round trip. Atomically:
    /// if every request fits (`count + n <= limit`, `limit == 0` unlimited), add every one
    /// and answer `Allowed` with the counts; else add NOTHING and answer `Denied` with the
    /// index of the first request that does not fit.
    ///
    /// The requests are taken in order, as if acquired one after another: a (key, window)
    /// named twice is counted cumulatively, so the second sees the first's `n` (and the
    /// counts, or a denial's count, say so). Every request is checked before anything is
    /// counted: a bad key or window, or more than [`MAX_REQUESTS`] requests, is an error
    /// and adds nothing. No requests: `Allowed` with no counts.
    fn acquire_all(&self, requests: &[Acquire]) -> BoxFuture<'_, Result<MultiDecision>>;
    /// Adds `n` unconditionally; returns the count within the window after the add.
    fn add(&self, key: &str, window: Duration, n: u64) -> BoxFuture<'_, Result<u64>>;
    /// The count within the window now.
    fn count(&self, key: &str, window: Duration) -> BoxFuture<'_, Result<u64>>;
    /// Forgets every window of `key` (e.g. an administrator's unlock).
    fn reset(&self, key: &str) -> BoxFuture<'_, Result<()>>;
    /// The blob stored under `key` by [`Counters::put_blob`], unless it expired. Blobs
    /// have a key space of their own (a counter and a blob may share a name); [`Counters::reset`]
    /// does not touch them.
    fn get_blob(&self, key: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>>>;
    /// Stores `value` (at most [`MAX_BLOB_LEN`] bytes) under `key` for `ttl` (at least 1 ms,
    /// at most ten years), replacing what was there; an empty value removes the blob. Small
    /// state that must survive a restart and be shared by nodes (behaviour profiles).
    fn put_blob(&self, key: &str, value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<()>>;
    /// Stores like [`Counters::put_blob`], but only if the blob there now begins with
    /// `guard` — with an empty guard, only if there is no blob (or it expired). Atomic
    /// against every other write of the key, across nodes with Redis: a compare-and-set
    /// on a version the caller keeps at the head of its blobs. Whether it stored.
    fn put_blob_if(&self, key: &str, guard: &[u8], value: &[u8], ttl: Duration) -> BoxFuture<'_, Result<bool>>;
    /// Makes what was counted so far durable (the embedded backend; a no-op for Redis).
    fn flush(&self) -> BoxFuture<'_, Result<()>>;
    /// Whether the backend answers now (the health check). The embedded backend always
    /// does.
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
