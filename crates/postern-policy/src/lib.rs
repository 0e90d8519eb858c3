//! Who may relay, and on whose behalf. Decisions are pure functions over values; the one
//! exception is [`spf`], which must ask DNS (bounded: lookup limits, timeouts, a deadline).
//!
//! In: the client (address, listener) and, per recipient, the address. Out: an
//! [`Attribution`] for the session and a [`Verdict`] per recipient. This is the one place
//! that says yes or no to relaying: the session only asks. Accounts (IP ranges, AUTH users)
//! arrive as further [`Attribution`] variants; the session code does not change.
//!
//! # Layout
//! - [`relay`]: [`RelayPolicy`], the facade a session asks: attribution, AUTH, MAIL, RCPT.
//! - [`dns`]: the shared stub-resolver setup and answer shape of every DNS check.
//! - [`directory`]: the in-memory index of domains and accounts (swapped whole on change).
//! - [`lists`]: block and allow lists (seed 004): reject, discard, or skip checks.
//! - [`readiness`]: whether the in-memory directory may decide (in a cluster: while the
//!   node keeps up with the shared store); else `451 4.3.0` at MAIL and RCPT.
//! - [`password`]: argon2id hashes.
//! - [`auth_cache`]: recent successful AUTH verifications, so a reconnecting client does
//!   not pay argon2id every time (keyed digests, bounded, with a TTL).
//! - [`guard`]: AUTH failure throttling and blocking per client.
//! - [`blocks`]: the AUTH failure and daily client blocks, listed and lifted by administrators.
//! - [`sender`]: sender rules: account may send, sender owned, sender security (seed 003).
//! - [`limits`]: per-account rate limits and quotas over the shared counters.
//! - [`locks`]: spam events and automatic locks (with timeouts and a maximum of unlocks).
//! - [`behaviour`]: compromise detection: per-sender behaviour profiles, their usual, and
//!   findings when a sender jumps far above it (stored as blobs in the counters).
//! - [`content`]: content checks that need no engine (GTUBE today).
//! - [`domain_age`]: how old a sender's registrable domain is (a feed, RDAP; cached); unlike
//!   most of the rest, it does I/O (files, HTTPS), bounded.
//! - [`identity`]: the identity behind an account, and stripping identification headers.
//! - [`spf`]: SPF (RFC 7208) for sender security; unlike the rest, it does I/O (DNS lookups).

pub mod auth_cache;
pub mod behaviour;
pub mod blocks;
pub mod client;
pub mod content;
pub mod directory;
pub mod dns;
pub mod dns_checks;
pub mod domain_age;
pub mod guard;
pub mod identity;
pub mod limits;
pub mod lists;
pub mod locks;
pub mod password;
pub mod readiness;
pub mod relay;
pub mod sender;
pub mod spf;

pub use auth_cache::{AuthCache, AuthCacheConfig, AuthCacheStats};
pub use blocks::{ClientBlock, ClientBlocks, ListenerBlocks};
pub use directory::{AccountEntry, Directory, DirectoryIndex};
pub use guard::GuardConfig;
pub use limits::{LimitVerdict, Limits};
pub use lists::{ListIndex, ListVerdict, Skips};
pub use locks::{LockWriter, Locks, SpamOutcome};
pub use readiness::Readiness;
pub use relay::{Attribution, AuthOutcome, RelayPolicy, identity_checks};
