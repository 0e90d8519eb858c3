//! What the scheduler asks of delivery: group recipients by destination, and try one
//! destination's recipients once. Implemented by `postern-deliver`; chosen by the binary.

use std::sync::Arc;

use postern_core::{BoxFuture, Envelope, Recipient};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: done.
    Delivered,
    /// 4xx, or no answer: try again later.
    Deferred,
    /// 5xx: give up, tell the sender.
    Bounced,
}

/// One recipient's result from one attempt.
#[derive(Debug, Clone)]
pub struct RcptResult {
    /// Index into the envelope's recipients.
    pub index: usize,
    pub outcome: Outcome,
    /// Enhanced status for a DSN (`5.1.1`, `4.4.1`, `2.0.0`).
    pub status: String,
    /// The remote reply or our own explanation (`connect to ...: Connection refused`).
    pub reply: String,
    /// The server that answered (`mx.example.net[192.0.2.1]:25`), when one did.
    pub remote: Option<String>,
    /// The next hop accepted DSN parameters, so success notices are its job, not ours.
    pub dsn_passed_on: bool,
}

/// One attempt for the recipients of one destination.
pub struct Job {
    pub destination: String,
    pub envelope: Arc<Envelope>,
    pub message: Arc<Vec<u8>>,
    pub recipients: Vec<usize>,
}

pub trait Transport: Send + Sync + 'static {
    /// The destination key of a recipient: recipients with the same key share one
    /// transaction, and keys are the unit of per-destination concurrency.
    fn destination(&self, envelope: &Envelope, recipient: &Recipient) -> String;

    /// Tries once; returns one result per recipient of the job, in any order.
    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>>;
}
