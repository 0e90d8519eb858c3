//! The conformance suite against the embedded backend, each case in a fresh directory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use postern_counters::Counters;
use postern_counters::conformance::run_case;
use postern_counters::embedded::EmbeddedCounters;

async fn run(case: &str) {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let opened = AtomicUsize::new(0);
    let make = move |clock: Arc<postern_counters::conformance::ManualClock>| {
        let dir = path.join(format!("counters-{}", opened.fetch_add(1, Ordering::Relaxed)));
        let counters: Arc<dyn Counters> = Arc::new(EmbeddedCounters::open(&dir, clock).unwrap());
        Box::pin(async move { counters }) as postern_core::BoxFuture<'static, Arc<dyn Counters>>
    };
    if let Err(e) = run_case(case, &make).await {
        panic!("embedded backend: {e}");
    }
}

conformance_tests!(crate::run);
