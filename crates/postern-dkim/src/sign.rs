//! One message, signed: relaxed/relaxed, `rsa-sha256` or `ed25519-sha256`, over the
//! message exactly as it will be spooled (our trace headers, then the client's message).
//!
//! In: the keys to sign with, the signing domain, the `h=` template
//! ([`crate::headers::signing_template`]), our headers and the message. Out: the
//! `DKIM-Signature:` fields to put on top, folded, each ending in CRLF.
//!
//! The message is not copied: the two parts are read as one. The body is hashed once for
//! all keys, by [`crate::body`] (mail-auth would hash it again for each key, through a
//! slower path); mail-auth does the rest (the headers, the signature field, its folding)
//! and takes that hash through [`MailAuthKey::hash`], which it calls for the body only.
//! The signature's `t=` is now;
//! there is no `x=` (an expiry would fail mail that waits in a queue) and no `l=` (a body
//! length would let anyone append to the body).

use std::sync::Arc;

use mail_auth::common::crypto::{Algorithm, DkimKey as LoadedKey, HashOutput, Sha256, SigningKey as MailAuthKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::{Canonicalization, DkimSigner};

use ring::digest::Digest;

use crate::body::body_hash;
use crate::keyring::SigningKey;
use crate::{DkimError, Result};

/// A shared loaded key, and the body hash of the message it signs.
struct Shared<'a> {
    key: &'a LoadedKey,
    body_hash: Digest,
}

impl MailAuthKey for Shared<'_> {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.key.sign(input)
    }

    /// mail-auth 0.13.3 hashes the canonical body, and nothing else, through this: the
    /// hash is already known (`tests/verify.rs` checks the signatures verify).
    fn hash(&self, _body: impl Writable) -> HashOutput {
        HashOutput::Digest(self.body_hash)
    }

    fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }
}

/// The signature fields of `keys`, in their order, for `head` followed by `message`.
pub fn signatures(
    keys: &[Arc<SigningKey>],
    domain: &str,
    template: &[&str],
    head: &[u8],
    message: &[u8],
) -> Result<String> {
    let body_hash = body_hash(message);
    let mut out = String::new();
    for key in keys {
        let signature = DkimSigner::from_key(Shared { key: &key.key, body_hash })
            .domain(domain)
            .selector(key.selector.as_str())
            .headers(template.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign_chained([head, message])
            .map_err(|e| DkimError::Sign(format!("selector {}: {e}", key.selector)))?;
        out.push_str(&signature.to_header());
    }
    Ok(out)
}
