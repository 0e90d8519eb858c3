//! The embedded backend's background work, on threads of its own: every flush interval
//! (or sooner, when the journal's buffer grows large) write and fsync the journal and
//! sweep a few shards; when the journals outgrow the snapshot, write a new snapshot on a
//! second thread, so that flushes go on while a large snapshot is written.
//!
//! In: the counters' shared state (held weakly: the thread ends once they are dropped)
//! and a [`Signal`]. Out: durable files. Defends against the async runtime's scheduling:
//! a task that never yields can starve other tasks of its worker, and durability must not
//! depend on that, so none of this runs on the runtime.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{Inner, lock};

/// Wakes the background thread before its next tick.
#[derive(Default)]
pub(crate) struct Signal {
    raised: Mutex<bool>,
    condvar: Condvar,
}

impl Signal {
    pub(crate) fn raise(&self) {
        *lock(&self.raised) = true;
        self.condvar.notify_one();
    }

    /// Returns when raised, or after `timeout`.
    fn wait(&self, timeout: Duration) {
        let mut raised = lock(&self.raised);
        if !*raised {
            raised = match self.condvar.wait_timeout(raised, timeout) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *raised = false;
    }
}

/// Starts the thread that keeps `inner` durable, until it is dropped or closed.
pub(crate) fn start(inner: Weak<Inner>, signal: Arc<Signal>, every: Duration) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("counters-journal".into()).spawn(move || {
        loop {
            signal.wait(every);
            let Some(inner) = inner.upgrade() else { return };
            if inner.closed.load(Ordering::Relaxed) {
                return;
            }
            if inner.maintain() && !inner.compacting.swap(true, Ordering::AcqRel) {
                start_compaction(inner);
            }
        }
    })
}

fn start_compaction(inner: Arc<Inner>) {
    let compactor = Arc::clone(&inner);
    let started = thread::Builder::new().name("counters-snapshot".into()).spawn(move || {
        compactor.compact_if_idle();
        compactor.compacting.store(false, Ordering::Release);
    });
    if let Err(e) = started {
        inner.compacting.store(false, Ordering::Release);
        tracing::error!(error = %e, "counters: cannot start the snapshot thread; will retry");
    }
}
