//! The handles a session writes to, as traits so that the session never sees a concrete
//! backend: [`Enqueue`] (the durable spool) and [`EventSink`] (log and store); and the
//! one delivery answers through, [`DeliveryFeedback`] (back to the sender's behaviour
//! profile).

use std::future::Future;
use std::pin::Pin;

use crate::{Envelope, Event, QueueId, Reply};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where accepted messages go. `Ok` means durable: message and envelope are on disk and
/// fsynced, so the session may answer `250`. `Err` carries the 4xx reply for the client.
pub trait Enqueue: Send + Sync + 'static {
    /// `head` (our added headers) and `body` (the message as received) are stored one
    /// after the other as the message.
    fn enqueue(&self, envelope: Envelope, head: Vec<u8>, body: Vec<u8>) -> BoxFuture<'_, Result<(), Reply>>;
}

/// Where events go. Waits when the consumer is behind (backpressure), never drops.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()>;
}

/// Where delivery results go back to the policy (compromise detection, issue 15): the
/// recipients of one message that one delivery attempt failed permanently (5xx). Called by
/// the queue for an account's mail only; what it does is the implementation's (judge the
/// sender's profile, lock, log), and it never changes the message's delivery.
pub trait DeliveryFeedback: Send + Sync + 'static {
    fn failed(&self, id: QueueId, envelope: &Envelope, failures: u32) -> BoxFuture<'_, ()>;
}
