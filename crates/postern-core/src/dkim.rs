//! DKIM keys as the rest of Postern sees them (SPEC.md §6): a domain's signing keys by
//! selector, their algorithm, public key and rotation state. Never the private key: that
//! stays sealed in the store and in memory inside the signer (`postern-dkim`).
//!
//! States (docs/DKIM.md): `pending` (generated or imported, to be published; does not
//! sign), `active` (signs; at most one per domain and algorithm), `retiring` (replaced by a
//! rotation, no longer signs, still published until `retire_at_ms` so that mail signed
//! with it still verifies) and `retired` (the grace period is over: no longer listed for
//! DNS). `retired` is never stored: it is what a `retiring` key becomes by the clock, see
//! [`DkimKey::effective_state`].

use serde::{Deserialize, Serialize};

/// The signing algorithm of a key: `rsa-sha256` (RFC 6376) or `ed25519-sha256` (RFC 8463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

impl DkimAlgorithm {
    /// The `k=` tag of the DNS record, and the name used in the API and the store.
    pub fn name(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(name: &str) -> Option<DkimAlgorithm> {
        match name {
            "rsa" => Some(DkimAlgorithm::Rsa),
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            _ => None,
        }
    }
}

/// Where a key is in its life. pending: to publish, not signing; active: signs; retiring:
/// replaced, still published until `retire_at_ms`; retired: grace over, remove the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DkimKeyState {
    Pending,
    Active,
    Retiring,
    /// Only ever computed ([`DkimKey::effective_state`]), never stored.
    Retired,
}

impl DkimKeyState {
    pub fn name(self) -> &'static str {
        match self {
            DkimKeyState::Pending => "pending",
            DkimKeyState::Active => "active",
            DkimKeyState::Retiring => "retiring",
            DkimKeyState::Retired => "retired",
        }
    }

    pub fn parse(name: &str) -> Option<DkimKeyState> {
        match name {
            "pending" => Some(DkimKeyState::Pending),
            "active" => Some(DkimKeyState::Active),
            "retiring" => Some(DkimKeyState::Retiring),
            "retired" => Some(DkimKeyState::Retired),
            _ => None,
        }
    }
}

/// One key of one domain, without its private part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimKey {
    /// Normalized ([`crate::tenancy::normalize_domain`]).
    pub domain: String,
    /// One DNS label, lower-case.
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// The `p=` value: base64 of the SubjectPublicKeyInfo (RSA) or of the raw 32-octet key
    /// (Ed25519, RFC 8463).
    pub public_key: String,
    /// As stored: `pending`, `active` or `retiring`.
    pub state: DkimKeyState,
    pub created_at_ms: i64,
    /// When it last became active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at_ms: Option<i64>,
    /// A `retiring` key's end of grace: from then on it is `retired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at_ms: Option<i64>,
}

impl DkimKey {
    /// The state at `now_ms`: a `retiring` key whose grace period is over is `retired`.
    pub fn effective_state(&self, now_ms: i64) -> DkimKeyState {
        match (self.state, self.retire_at_ms) {
            (DkimKeyState::Retiring, Some(at)) if at <= now_ms => DkimKeyState::Retired,
            (state, _) => state,
        }
    }

    /// Whether its DNS record should be published at `now_ms` (every state but `retired`).
    pub fn published(&self, now_ms: i64) -> bool {
        self.effective_state(now_ms) != DkimKeyState::Retired
    }

    /// `<selector>._domainkey.<domain>`: where its TXT record lives.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }
}

/// Whether `text` is a selector Postern accepts: one DNS label of letters, digits and
/// inner hyphens (the account setting's syntax). Compared case-insensitively.
pub fn valid_selector(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: DkimKeyState, retire_at_ms: Option<i64>) -> DkimKey {
        DkimKey {
            domain: "example.com".into(),
            selector: "s1".into(),
            algorithm: DkimAlgorithm::Rsa,
            public_key: "AAAA".into(),
            state,
            created_at_ms: 0,
            activated_at_ms: None,
            retire_at_ms,
        }
    }

    #[test]
    fn retiring_keys_retire_by_the_clock() {
        let k = key(DkimKeyState::Retiring, Some(1000));
        assert_eq!(k.effective_state(999), DkimKeyState::Retiring);
        assert!(k.published(999));
        assert_eq!(k.effective_state(1000), DkimKeyState::Retired);
        assert!(!k.published(1000));
        assert_eq!(key(DkimKeyState::Active, Some(0)).effective_state(5), DkimKeyState::Active);
        assert_eq!(k.record_name(), "s1._domainkey.example.com");
    }

    #[test]
    fn names_round_trip() {
        for s in [DkimKeyState::Pending, DkimKeyState::Active, DkimKeyState::Retiring, DkimKeyState::Retired] {
            assert_eq!(DkimKeyState::parse(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        for a in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519] {
            assert_eq!(DkimAlgorithm::parse(a.name()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
    }

    #[test]
    fn selectors_are_single_labels() {
        for good in ["s1", "2024-01", "a", &"x".repeat(63)] {
            assert!(valid_selector(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a.b", "a b", "ä", &"x".repeat(64)] {
            assert!(!valid_selector(bad), "{bad}");
        }
    }
}
