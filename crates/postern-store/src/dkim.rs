//! DKIM keys per domain and selector (SPEC.md §6): [`DkimStore`], the narrow trait every
//! backend implements; [`crate::conformance`] tests it (`conformance/dkim.rs`).
//!
//! The store keeps the public key and the private key *sealed* (AES-256-GCM under the
//! master key file of the data directory, `postern-dkim`'s `MasterKey`): it never sees a
//! usable private key, so a dump of the database holds none. Rotation is one transaction
//! ([`DkimStore::activate_dkim_key`]): at most one key per domain and algorithm is active.
//!
//! Tenant scope as in the directory: lists take a [`Scope`]; a domain's keys go with it.

use postern_core::dkim::{DkimAlgorithm, DkimKey};

use crate::Result;
use crate::directory::{Page, Paged, Scope};

/// Keys one domain may have at once (pending, active and retiring together).
pub const MOST_KEYS_PER_DOMAIN: usize = 10;

#[derive(Debug, Clone)]
pub struct NewDkimKey {
    /// Normalized; must exist.
    pub domain: String,
    /// Lower-case, one label ([`postern_core::dkim::valid_selector`]).
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// The `p=` value.
    pub public_key: String,
    /// PKCS#8, sealed by the caller. Opaque to the store.
    pub sealed_private_key: Vec<u8>,
    /// Which master key sealed it (its public fingerprint).
    pub master_key_id: String,
}

/// A key with its sealed private part: only for the process that signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedDkimKey {
    pub key: DkimKey,
    pub sealed_private_key: Vec<u8>,
    pub master_key_id: String,
}

/// What a rotation did: the key now active, and the keys it replaced (now retiring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub activated: DkimKey,
    pub retiring: Vec<DkimKey>,
}

/// DKIM keys. Blocking, like every store trait; async callers use `spawn_blocking`.
pub trait DkimStore: Send + Sync + 'static {
    /// A new key, `pending`. Conflict: the domain has a key with this selector, or
    /// [`MOST_KEYS_PER_DOMAIN`] keys already; NotFound: no such domain.
    fn create_dkim_key(&self, new: &NewDkimKey) -> Result<DkimKey>;
    fn dkim_key(&self, domain: &str, selector: &str) -> Result<Option<DkimKey>>;
    /// By domain, then selector; `domain` narrows to one domain.
    fn list_dkim_keys(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<DkimKey>>;
    /// Makes the key `active` (activated now, no retire time) and, in the same
    /// transaction, every other active key of its domain and algorithm `retiring` until
    /// `retire_at_ms`. An active key stays as it is and retires nothing. `None`: no such key.
    fn activate_dkim_key(&self, domain: &str, selector: &str, retire_at_ms: i64) -> Result<Option<Activation>>;
    /// `false`: no such key.
    fn delete_dkim_key(&self, domain: &str, selector: &str) -> Result<bool>;
    /// Every active key of every domain with its sealed private key, for the signer; by
    /// domain, then selector.
    fn active_dkim_keys(&self) -> Result<Vec<SealedDkimKey>>;
}
