//! Who may relay. Pure decisions over values; no I/O.
//!
//! In: the client (address, listener) and, per recipient, the address. Out: an
//! [`Attribution`] for the session and a [`Verdict`] per recipient. This is the one place
//! that says yes or no to relaying: the session only asks. Accounts (IP ranges, AUTH users)
//! arrive as further [`Attribution`] variants; the session code does not change.
//!
//! # Layout
//! - [`relay`]: [`RelayPolicy`]: trusted networks today; accounts slot in here.

pub mod relay;

pub use relay::{Attribution, RelayPolicy};
