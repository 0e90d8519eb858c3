//! Outbound delivery: where a recipient's mail goes and how it gets there.
//!
//! In: jobs from the queue manager (one destination's recipients of one message). Out: one
//! result per recipient (delivered / deferred / bounced, with the remote reply).
//!
//! # Layout
//! - [`route`]: inbound relay domains, recipient rules, sender rules, the default route (pure).
//! - [`dns`]: MX lookup with preference order, implicit MX (A/AAAA), null MX; overrides.
//! - [`client`]: the outbound SMTP client: EHLO, STARTTLS, AUTH, pipelined transaction.
//! - [`transport`]: [`Delivery`], the `Transport` the queue manager calls, with connection reuse.

pub mod client;
pub mod dns;
pub mod route;
pub mod transport;

pub use route::InboundLookup;
pub use transport::Delivery;
