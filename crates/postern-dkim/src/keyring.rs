//! The keys that sign, in memory: every active key of every domain, loaded once (an RSA
//! key takes milliseconds to load, a signature well under that) and replaced whole when
//! keys change, so that signing never waits on the store or the master key.
//!
//! In: active keys (domain, selector, key pair). Out: for a signing domain and the
//! account's selector, the keys to sign with ([`KeyRing::choose`]): the account's selector
//! when it names one of the domain's active keys, else every active key of the domain
//! (at most one per algorithm, so RSA and Ed25519 both sign: RFC 8463 dual signing).

use std::collections::HashMap;
use std::sync::Arc;

use mail_auth::common::crypto::DkimKey as LoadedKey;
use postern_core::dkim::DkimAlgorithm;

use crate::{KeyPair, Result};

/// One active key, ready to sign.
pub struct SigningKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub(crate) key: Arc<LoadedKey>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// `domain` and `selector` as stored (lower-case).
    pub fn new(domain: &str, selector: &str, pair: &KeyPair) -> Result<SigningKey> {
        Ok(SigningKey {
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_ascii_lowercase(),
            algorithm: pair.algorithm(),
            key: Arc::new(pair.signing_key()?),
        })
    }
}

/// The keys to sign one message with, and a remark for the log when the account's
/// selector could not be used.
#[derive(Debug, Default)]
pub struct Choice {
    pub keys: Vec<Arc<SigningKey>>,
    pub note: Option<String>,
}

#[derive(Debug, Default)]
pub struct KeyRing {
    domains: HashMap<String, Vec<Arc<SigningKey>>>,
}

impl KeyRing {
    /// Each domain's keys in signing order: RSA first (topmost in the message, for
    /// verifiers that read only the first signature), then Ed25519.
    pub fn new(keys: impl IntoIterator<Item = SigningKey>) -> KeyRing {
        let mut domains: HashMap<String, Vec<Arc<SigningKey>>> = HashMap::new();
        for key in keys {
            domains.entry(key.domain.clone()).or_default().push(Arc::new(key));
        }
        for keys in domains.values_mut() {
            keys.sort_by(|a, b| (a.algorithm, &a.selector).cmp(&(b.algorithm, &b.selector)));
        }
        KeyRing { domains }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.domains.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys for `domain` (lower-case) given the account's `selector`.
    pub fn choose(&self, domain: &str, selector: Option<&str>) -> Choice {
        let keys = self.domains.get(domain).map(Vec::as_slice).unwrap_or_default();
        let Some(selector) = selector else { return Choice { keys: keys.to_vec(), note: None } };
        match keys.iter().find(|k| k.selector.eq_ignore_ascii_case(selector)) {
            Some(key) => Choice { keys: vec![Arc::clone(key)], note: None },
            None if keys.is_empty() => Choice::default(),
            None => Choice {
                keys: keys.to_vec(),
                note: Some(format!("the account's selector {selector} is not an active key of {domain}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(domain: &str, selector: &str, pair: &KeyPair) -> SigningKey {
        SigningKey::new(domain, selector, pair).unwrap()
    }

    #[test]
    fn choices() {
        let ed = KeyPair::generate_ed25519().unwrap();
        let rsa = KeyPair::generate_rsa(2048).unwrap();
        let ring =
            KeyRing::new([key("a.example", "ed", &ed), key("a.example", "RSA", &rsa), key("b.example", "b1", &ed)]);
        assert_eq!(ring.len(), 3);
        let selectors = |c: Choice| c.keys.iter().map(|k| k.selector.clone()).collect::<Vec<_>>();
        assert_eq!(selectors(ring.choose("a.example", None)), ["rsa", "ed"], "dual signing, RSA first");
        assert_eq!(selectors(ring.choose("a.example", Some("ED"))), ["ed"]);
        let fallback = ring.choose("a.example", Some("old"));
        assert!(fallback.note.as_deref().unwrap_or("").contains("old"));
        assert_eq!(selectors(fallback), ["rsa", "ed"]);
        assert!(ring.choose("c.example", None).keys.is_empty());
        let none = ring.choose("c.example", Some("x"));
        assert!(none.keys.is_empty() && none.note.is_none());
        assert!(KeyRing::default().is_empty());
    }
}
