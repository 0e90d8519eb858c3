//! Group commit for directory fsyncs.
//!
//! Every queued message needs its rename made durable by an fsync of the queue directory.
//! Concurrent sessions share one: a caller whose rename happened before a directory fsync
//! *started* is covered by it. One caller at a time runs the fsync (the leader); the others
//! wait for the first fsync that started after their rename. `docs/BENCHMARKS.md` has the
//! measured effect.

use std::fs::File;
use std::io;
use std::sync::{Condvar, Mutex};

/// Whether concurrent directory fsyncs are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// One directory fsync per message.
    PerMessage,
    /// Shared directory fsyncs (the default).
    Grouped,
}

#[derive(Default)]
struct State {
    /// Tickets handed out: one per rename that needs covering.
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    running: bool,
}

pub(crate) struct DirSync {
    dir: File,
    mode: SyncMode,
    state: Mutex<State>,
    done: Condvar,
}

impl DirSync {
    pub(crate) fn new(dir: File, mode: SyncMode) -> DirSync {
        DirSync { dir, mode, state: Mutex::new(State::default()), done: Condvar::new() }
    }

    /// Returns once a directory fsync that started after this call has completed.
    pub(crate) fn sync(&self) -> io::Result<()> {
        if self.mode == SyncMode::PerMessage {
            return self.dir.sync_all();
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.requested += 1;
        let ticket = state.requested;
        loop {
            if state.completed >= ticket {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                let target = state.requested;
                drop(state);
                let result = self.dir.sync_all();
                state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                state.running = false;
                if result.is_ok() {
                    state.completed = state.completed.max(target);
                }
                self.done.notify_all();
                result?;
                continue;
            }
            state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}
