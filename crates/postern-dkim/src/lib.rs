//! DKIM for Postern (RFC 6376, RFC 8463 for Ed25519): keys, their protection at rest, the
//! DNS records that publish them, the check that they are published, and signing.
//!
//! Useful on its own: nothing here knows the store, the API or the SMTP session. The
//! binary loads sealed keys from the store, opens them with the [`MasterKey`], and hands
//! the session a [`Signer`]; the admin API generates, imports, seals and checks keys.
//!
//! # Layout
//! - [`key`]: [`KeyPair`]: generate (RSA-2048 default, Ed25519), import PEM, PKCS#8.
//! - [`seal`]: [`MasterKey`]: AES-256-GCM sealing under `<data_dir>/dkim.key`.
//! - [`record`]: the TXT record to publish (split into ≤255-octet strings) and reading
//!   published ones.
//! - [`check`]: published / missing / mismatched, through a [`TxtLookup`] ([`HickoryTxt`]).
//! - [`headers`]: the `h=` list (RFC 6376 §5.4, over-signing) and the From domain.
//! - [`keyring`]: the active keys in memory, and which sign a message.
//! - [`body`]: the body hash, once per message, fast on lines already canonical.
//! - [`sign`]: relaxed/relaxed signatures over our headers + the message.
//! - [`signer`]: [`Signer`]: the decision and the signing, for the session.
//! - [`error`]: the error type, [`DkimError`].

pub mod body;
pub mod check;
pub mod error;
pub mod headers;
pub mod key;
pub mod keyring;
pub mod record;
pub mod seal;
pub mod sign;
pub mod signer;

pub use check::{CheckResult, CheckStatus, HickoryTxt, LookupFailed, TxtLookup, check};
pub use error::{DkimError, Result};
pub use key::KeyPair;
pub use keyring::{KeyRing, SigningKey};
pub use record::{DnsRecord, dns_record};
pub use seal::{KeyIdentity, MasterKey};
pub use signer::{SignOutcome, SignRequest, Signer};
