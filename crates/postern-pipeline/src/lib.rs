//! The message pipeline: one hallway from the end of DATA to the spool (SPEC.md §5, last
//! bullets). The SMTP session hands a [`Submission`](postern_core::Submission) to
//! [`Pipeline`] through the [`MessagePipeline`](postern_core::MessagePipeline) trait and
//! gets back a disposition and the reply the client hears.
//!
//! # Stage order (fixed)
//! 1. **account and identity checks** (`account.rs`): the identity's lock and daily
//!    recipients (the account's size and hop limits, like the listener's, are checked by
//!    the session before the 998-octet line limit: they are limits of the conversation);
//! 2. **content checks** (`scanner.rs`): every [`Scanner`] in order (GTUBE, `gtube.rs`;
//!    the real engines Rspamd, SpamAssassin and ClamAV when configured, `engines/`; the
//!    policy checks); each scanner's [`Setting`] names the account switch that turns it on
//!    (`checks.spam`, the attachment checks, `checks.clamav`, `checks.block_new_domains`;
//!    off: not run, trace `off`); a failed engine is skipped (logged) or refuses with
//!    `451 4.7.1`, as its `on_failure` says; the checks that read MIME (the built-in
//!    scorer, the attachment checks) share one parse of the message (`parsed.rs`), made by
//!    the first that asks, let go of after the last;
//! 3. **verdict**: spam, or a [`Block`] (its kind, rule and part), when any scanner says
//!    so; the first decides;
//! 4. **disposition** (`disposition.rs`): deliver, quarantine (spam: held in the
//!    quarantine, `quarantine.rs`, before the account's quarantine reaction says what the
//!    client hears; spam counts toward automatic locks,
//!    a lock sends a notice, `notice.rs`), reject; (discard is decided earlier, by block
//!    list rules in the session);
//!    4b. **behaviour** (`behaviour.rs`): a message the checks let through updates the
//!    identity's behaviour profile; a sender far above its usual is logged (monitor, the
//!    default), held, or locked, as the account's `behaviour.action` says;
//! 5. **DKIM signing** (`sign.rs`) over the final bytes;
//! 6. **archive** (`archive.rs`): for an account with `archive.enabled`, a copy of the
//!    signed message through the [`Archiver`](postern_core::Archiver), durable before the
//!    spool write; a failed copy is `451 4.3.0` and nothing is spooled;
//! 7. **spool**: `250` only once the spool says the message is durable.
//!
//! Every check adds a [`CheckRecord`](postern_core::CheckRecord) (stage, engine, rule,
//! result, score, time) to the message's trace, recorded as one `checked` event. Monitor
//! mode (the account's `monitor_only`) applies to every check: a check that would refuse
//! only logs `would refuse (monitor): ...` and the message goes on.
//!
//! # Layout
//! - `pipeline.rs`: [`Pipeline`], the stages in order, the trace, events.
//! - `account.rs`: account and identity checks.
//! - `scanner.rs`: the [`Scanner`] trait; `gtube.rs`: [`GtubeScanner`]; `parsed.rs`:
//!   [`Parsed`], the message's MIME parse shared by the checks that read MIME.
//! - `engines/`: [`RspamdScanner`](engines::RspamdScanner),
//!   [`SpamdScanner`](engines::SpamdScanner) and [`ClamavScanner`](engines::ClamavScanner)
//!   over their own protocols.
//! - `domain_age.rs`: [`DomainAgeScanner`], sender domains registered too recently
//!   (`NEW_DOMAIN`; the lookup is `postern_policy::domain_age`).
//! - `disposition.rs`: from the verdict to the reply, spam counts, locks.
//! - `behaviour.rs`: stage 4b, compromise detection by behaviour.
//! - `notice.rs`: the lock notice we write ourselves.
//! - `quarantine.rs`: [`Quarantine`]: holding spam (bytes on disk, a row in the store),
//!   release, delete, confirm, request release, purge.
//! - `arf.rs`: the RFC 5965 abuse report of a held message; `abuse.rs`:
//!   [`AbuseReports`], at most one report per account per window to the abuse contact.
//! - `sign.rs`: DKIM signing on a blocking thread.
//! - `archive.rs`: stage 6, the archive copy before the spool.

mod abuse;
mod account;
mod archive;
pub mod arf;
mod behaviour;
mod disposition;
mod domain_age;
pub mod engines;
mod gtube;
pub mod held_bodies;
pub mod notice;
mod parsed;
mod pipeline;
pub mod quarantine;
mod scanner;
mod sign;

pub use abuse::{AbuseContact, AbuseReports};
pub use behaviour::{AccountLookup, BehaviourFeedback};
pub use domain_age::DomainAgeScanner;
pub use gtube::GtubeScanner;
pub use held_bodies::HeldBodies;
pub use parsed::{Parse, ParseHandle, Parsed};
pub use pipeline::Pipeline;
pub use quarantine::{Quarantine, QuarantineError, QuarantineRecovery};
pub use scanner::{Block, BlockKind, OnFailure, ScanInput, ScanResult, Scanner, Setting};
