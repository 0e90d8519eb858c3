//! The two handles a session writes to, as traits so that the session never sees a
//! concrete backend: [`Enqueue`] (the durable spool) and [`EventSink`] (log and store).

use std::future::Future;
use std::pin::Pin;

use crate::{Envelope, Event, Reply};

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
