//! API token secrets: a fresh secret (`pst_` and 64 hex digits, 256 random bits from the
//! operating system) and its SHA-256, the only form the directory stores.
//!
//! Defends against: secrets at rest (only the hash is kept; a secret is shown once, when
//! its token is created) and guessable secrets (the operating system's random numbers;
//! none at all is an error, never a weaker secret).

use sha2::{Digest, Sha256};

/// Prefix of every secret, so that leaked secrets are easy to find and recognize.
pub const SECRET_PREFIX: &str = "pst_";

/// SHA-256 of a secret, lower-case hex: what the directory stores.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// A fresh secret (`pst_` and 64 hex digits, 256 random bits) and its hash.
pub fn try_new_token_secret() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!("{SECRET_PREFIX}{}", hex(&bytes));
    let hash = secret_hash(&secret);
    Ok((secret, hash))
}

/// A fresh token secret and its hash: `(secret, secret_hash)`. The secret is shown once;
/// only the hash is stored ([`postern_store::NewToken::secret_hash`]).
///
/// # Panics
/// When the operating system has no random numbers to give (a broken system, where no
/// secret can be made safely).
pub fn new_token_secret() -> (String, String) {
    match try_new_token_secret() {
        Ok(pair) => pair,
        Err(e) => panic!("no randomness from the operating system for a token secret: {e}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_hashes() {
        let (secret, hash) = new_token_secret();
        assert!(secret.starts_with("pst_"));
        assert_eq!(secret.len(), 4 + 64);
        assert!(secret[4..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(hash, secret_hash(&secret));
        assert_ne!(new_token_secret().0, secret);
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(secret_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
