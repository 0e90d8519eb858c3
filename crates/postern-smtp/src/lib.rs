//! The SMTP server: listeners, and one session per connection.
//!
//! In: TCP (or any byte stream) from clients. Out: replies, structured events, and
//! messages handed to the message pipeline through [`postern_core::MessagePipeline`]
//! (which checks, signs and spools them; the session never sees a concrete check). The session is generic
//! over `AsyncRead + AsyncWrite`, so tests script whole conversations over in-memory pipes.
//!
//! # Layout (in the order a message meets them)
//! - [`server`]: accept loops, connection limit, TLS (implicit and STARTTLS), shutdown.
//! - [`io`]: buffered reading of lines and chunks, reply buffering for pipelining.
//! - [`command`]: a command line -> [`command::Command`].
//! - [`protection`]: the listener's connection and protocol policy (limits per client,
//!   DNS checks, pipelining, junk commands, soft errors) around the session's commands.
//! - [`session`]: state and the command loop; `verbs/` holds one file per SMTP verb.
//! - [`dotstuff`]: the DATA decoder: dot-unstuffing and strict CRLF (no smuggling).
//! - [`budget`]: the memory budget of message bytes in flight over all sessions.
//! - [`lines`]: the 998-octet line limit, checked at the end of data.
//! - [`message`]: our trace headers and the header facts checked at end of data.
//! - [`context`]: what a session is given: limits, TLS, policy, pipeline, events, shutdown.

pub mod budget;
pub mod command;
pub mod context;
pub mod dotstuff;
pub mod io;
pub mod lines;
pub mod message;
pub mod protection;
pub mod server;
pub mod session;
mod verbs;

pub use budget::MemoryBudget;
pub use context::{ListenerContext, OpenSession, OpenSessions, Services};
pub use protection::Protection;
pub use server::{Listener, handle_connection, serve};
