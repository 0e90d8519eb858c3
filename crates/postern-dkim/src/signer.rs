//! The signer a session holds: which keys sign a message, and the signing itself.
//!
//! In: the account's domain and DKIM selector (from the session's attribution), our
//! headers and the message as it will be spooled. Out: a [`SignOutcome`]: the signature
//! fields to prepend with the signing domain and selectors, or why the message goes
//! unsigned, or why signing failed (the message is then queued unsigned: signing never
//! loses a message).
//!
//! The signing domain is the From header's domain when it is the account's domain; mail
//! from trusted networks (no account) and mail whose From is another domain, or names no
//! single domain, is not signed. Keys change at run time ([`Signer::replace`], after an
//! API change): a message in flight keeps the key ring it started with.
//!
//! CPU work (an RSA-2048 signature takes about a millisecond; hashing a large body
//! longer): callers on async threads run [`Signer::sign`] on a blocking thread.

use std::sync::{Arc, RwLock};

use crate::KeyRing;
use crate::headers::{fields, from_domain, signing_template};
use crate::sign::signatures;

/// What the session knows about a message at the end of data.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// `None`: not an account's message (a trusted network): never signed.
    pub account_domain: Option<&'a str>,
    /// The account's `dkim_selector`.
    pub selector: Option<&'a str>,
    /// Our headers (Received, ...), on top of the message.
    pub head: &'a [u8],
    pub message: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutcome {
    Signed {
        domain: String,
        selectors: Vec<String>,
        /// `DKIM-Signature:` fields, each ending in CRLF, to put above `head`.
        fields: String,
        /// A remark for the log (the account's selector was not usable).
        note: Option<String>,
    },
    Unsigned {
        reason: String,
    },
    Failed {
        error: String,
    },
}

pub struct Signer {
    ring: RwLock<Arc<KeyRing>>,
}

impl Signer {
    pub fn new(ring: KeyRing) -> Signer {
        Signer { ring: RwLock::new(Arc::new(ring)) }
    }

    /// Swaps in a new key ring (after keys were generated, rotated or removed).
    pub fn replace(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// The key ring in use now.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Decides and signs. Blocking: CPU only, no I/O.
    pub fn sign(&self, request: &SignRequest<'_>) -> SignOutcome {
        let unsigned = |reason: String| SignOutcome::Unsigned { reason };
        let Some(account_domain) = request.account_domain else {
            return unsigned("not an account's message (trusted network)".into());
        };
        let fields = fields(&[request.head, request.message]);
        let domain = match from_domain(&fields) {
            Ok(domain) => domain,
            Err(reason) => return unsigned(reason.into()),
        };
        if !domain.eq_ignore_ascii_case(account_domain) {
            return unsigned(format!("From domain {domain} is not the account's domain {account_domain}"));
        }
        let ring = self.ring();
        let choice = ring.choose(&domain, request.selector);
        if choice.keys.is_empty() {
            return unsigned(format!("{domain} has no active DKIM key"));
        }
        let template = signing_template(&fields);
        match signatures(&choice.keys, &domain, &template, request.head, request.message) {
            Ok(fields) => SignOutcome::Signed {
                domain,
                selectors: choice.keys.iter().map(|k| k.selector.clone()).collect(),
                fields,
                note: choice.note,
            },
            Err(e) => SignOutcome::Failed { error: e.to_string() },
        }
    }
}
