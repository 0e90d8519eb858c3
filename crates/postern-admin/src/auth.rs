//! Bearer tokens: `Authorization: Bearer <secret>`. The secret is hashed (SHA-256, lower-case
//! hex) and looked up in the directory; only hashes are stored. A missing, malformed or
//! unknown token is 401 and never says which. A known token becomes a [`Caller`] in the
//! request's extensions: its role and the domains it may see.
//!
//! Defends against: secrets kept in the database (only their hash is), over-long headers
//! (refused before hashing), and timing on the secret (the lookup is by hash, so timing
//! tells nothing about the secret).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::{AdminState, ApiError};

/// Prefix of every secret, so that leaked secrets are easy to find and recognize.
pub const SECRET_PREFIX: &str = "pst_";
const LONGEST_SECRET: usize = 256;

pub use postern_ops::Caller;

/// Handlers take the caller as an argument; a route outside the token check has none.
impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AdminState) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

pub async fn require_token(State(state): State<AdminState>, mut request: Request, next: Next) -> Response {
    let secret = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .filter(|secret| !secret.is_empty() && secret.len() <= LONGEST_SECRET);
    let Some(secret) = secret else { return ApiError::unauthorized().into_response() };
    let hash = secret_hash(secret);
    match state.directory(move |d| d.token_by_secret_hash(&hash)).await {
        Ok(Some(token)) => {
            request.extensions_mut().insert(Caller::of(token));
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

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
