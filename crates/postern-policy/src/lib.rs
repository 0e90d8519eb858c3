//! Who may relay, and on whose behalf. Decisions are pure functions over values; the one
//! exception is [`spf`], which must ask DNS (bounded: lookup limits, timeouts, a deadline).
//!
//! In: the client (address, listener) and, per recipient, the address. Out: an
//! [`Attribution`] for the session and a [`Verdict`] per recipient. This is the one place
//! that says yes or no to relaying: the session only asks. Accounts (IP ranges, AUTH users)
//! arrive as further [`Attribution`] variants; the session code does not change.
//!
//! # Layout
//! - [`relay`]: [`RelayPolicy`]: trusted networks today; accounts slot in here.
//! - [`spf`]: SPF (RFC 7208) for sender security; unlike the rest, it does I/O (DNS lookups).

pub mod relay;
pub mod spf;

pub use relay::{Attribution, RelayPolicy};
