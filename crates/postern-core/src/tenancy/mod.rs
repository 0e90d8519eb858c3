//! Who sends (SPEC.md §1–§3): customer domains, the outgoing accounts that belong to them,
//! the identities found behind each account, API tokens with their role, and the rules of
//! the block and allow lists (SPEC.md §4: [`ListRule`], global or per domain).
//!
//! These are plain serde data shared by the store, the admin API, the CLI and the SMTP
//! policy. Every per-account setting of SPEC.md §1–§3 lives in [`AccountSettings`], stored
//! and editable now even where a later stage enforces it. Settings documents deny unknown
//! fields and default every missing one, so old rows read back and typos are refused.
//!
//! # Layout
//! - `domain`: [`Domain`], its [`SenderSecurity`] and [`normalize_domain`].
//! - `account`: [`Account`], [`AccountKind`] and [`parse_network`] for `ip` account names.
//! - `delegation`: [`IpDelegation`], an IP range a superadmin delegated to a domain.
//! - `settings`: [`AccountSettings`] and its parts (identification, limits, locking, checks).
//! - `lock`: [`LockState`], whether an account or identity may send now.
//! - `identity`: [`Identity`] and [`IdentitySighting`], the senders behind an account.
//! - `token`: [`ApiToken`] and its [`Role`].
//! - `list`: block and allow list rules ([`ListRule`], [`ListKind`], [`ListAction`]).
//! - `inbound`: inbound relay domains ([`InboundDomain`]) and their internal server.

mod account;
mod delegation;
mod domain;
mod identity;
mod inbound;
mod list;
mod lock;
mod settings;
mod token;

pub use account::{Account, AccountKind, parse_network};
pub use delegation::IpDelegation;
pub use domain::{Domain, IpCheck, SenderSecurity, normalize_domain};
pub use identity::{Identity, IdentitySighting};
pub use inbound::{InboundDomain, InboundTls, check_inbound_host};
pub use list::{ListAction, ListKind, ListRule, list_address_key, parse_masked_network};
pub use lock::{ADMINISTRATOR_LOCK_REASON, LockKind, LockState};
pub use settings::{
    AccountLimits, AccountSettings, Archive, BehaviourAction, BehaviourDetection, ContentChecks, Identification,
    IdentificationMethod, LockSettings, NEW_DOMAIN_HOURS_RANGE, QuarantineReaction, SPAM_THRESHOLD_RANGE,
};
pub use token::{AdminUser, ApiToken, Role};
