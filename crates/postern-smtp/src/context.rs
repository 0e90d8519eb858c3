//! What a session needs from outside, passed down explicitly (no globals):
//! [`ListenerContext`] (per listener: names, limits, TLS, connection and protocol policy)
//! and [`Services`] (shared: policy, the message pipeline, event sink, memory budget,
//! shutdown signal, the count of open sessions).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use postern_config::{Limits, ListenerKind};
use postern_core::{EventSink, MessagePipeline};
use postern_policy::RelayPolicy;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::protection::Protection;

pub struct ListenerContext {
    pub kind: ListenerKind,
    pub hostname: String,
    /// Greeting text after `220 `.
    pub banner: String,
    pub limits: Limits,
    /// Add `Message-ID` and `Date` when missing (submission).
    pub add_missing_headers: bool,
    /// Offer and accept AUTH before TLS (off by default: credentials only over TLS).
    pub allow_plaintext_auth: bool,
    /// `None`: STARTTLS is not offered (and an smtps listener cannot run).
    pub tls: Option<TlsAcceptor>,
    /// Concurrent connections on this listener (`listeners.<kind>.max_connections`).
    pub max_connections: usize,
    /// Connection and protocol policy (SPEC.md §4) with its per-client counts.
    pub protection: Protection,
}

pub struct Services {
    pub policy: RelayPolicy,
    /// From the end of DATA to the spool: checks, disposition, DKIM, spool.
    pub pipeline: Arc<dyn MessagePipeline>,
    pub events: Arc<dyn EventSink>,
    /// Message bytes all sessions may hold while receiving (`limits.max_data_in_flight`).
    pub memory: Arc<crate::budget::MemoryBudget>,
    /// Cancelled on SIGTERM/Ctrl-C: idle sessions say 421 and close; transactions finish.
    pub shutdown: CancellationToken,
    /// Sessions open now (the metrics read it).
    pub open_sessions: Arc<OpenSessions>,
}

/// How many sessions are open now. Each session holds an [`OpenSession`] for as long as it
/// runs; dropping it (the session ended, its task was dropped, or it panicked) counts it out.
#[derive(Debug, Default)]
pub struct OpenSessions(AtomicU64);

impl OpenSessions {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts a session in until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> OpenSession {
        self.0.fetch_add(1, Ordering::Relaxed);
        OpenSession(Arc::clone(self))
    }
}

/// One open session, counted in [`OpenSessions`] while it lives.
#[derive(Debug)]
pub struct OpenSession(Arc<OpenSessions>);

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}
