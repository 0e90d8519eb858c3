//! The conformance suite against the Redis backend. Needs a Redis server: at
//! `POSTERN_TEST_REDIS_URL`, else redis://127.0.0.1:6379. Without one these tests FAIL
//! (they never skip). Each case uses a prefix of its own and deletes its keys afterwards.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use postern_counters::conformance::{ManualClock, run_case};
use postern_counters::redis::RedisCounters;
use postern_counters::{Counters, SystemClock};

fn redis_url() -> String {
    std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn connect(prefix: &str, clock: Arc<dyn postern_counters::Clock>) -> RedisCounters {
    let url = redis_url();
    match RedisCounters::connect(&url, prefix, clock).await {
        Ok(counters) => counters,
        Err(e) => panic!(
            "Redis is not reachable at {url} ({e}). The Redis counter tests need a running Redis \
             server: start one (e.g. `redis-server --daemonize yes`) or set POSTERN_TEST_REDIS_URL."
        ),
    }
}

/// A prefix no other run or case shares.
fn unique_prefix(case: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("postern-test:{}:{nanos}:{case}", std::process::id())
}

async fn run(case: &str) {
    let prefix = unique_prefix(case);
    let made = Arc::new(AtomicUsize::new(0));
    let base = prefix.clone();
    let make = move |clock: Arc<ManualClock>| {
        let prefix = format!("{base}:{}", made.fetch_add(1, Ordering::Relaxed));
        Box::pin(async move { Arc::new(connect(&prefix, clock).await) as Arc<dyn Counters> })
            as postern_core::BoxFuture<'static, Arc<dyn Counters>>
    };
    let result = run_case(case, &make).await;
    let cleaner = connect(&prefix, Arc::new(SystemClock)).await;
    cleaner.delete_all().await.unwrap();
    if let Err(e) = result {
        panic!("redis backend: {e}");
    }
}

conformance_tests!(crate::run);
