//! Bearer tokens: `Authorization: Bearer <secret>`. The secret is hashed (SHA-256, lower-case
//! hex: [`postern_ops::token_secret`]) and looked up in the directory; only hashes are
//! stored. A missing, malformed or unknown token is 401 and never says which. A known token becomes a [`Caller`] in the
//! request's extensions: its role and the domains it may see.
//!
//! Defends against: secrets kept in the database (only their hash is), over-long headers
//! (refused before hashing), and timing on the secret (the lookup is by hash, so timing
//! tells nothing about the secret).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AdminState, ApiError};

pub use postern_ops::Caller;
pub use postern_ops::token_secret::{new_token_secret, secret_hash, try_new_token_secret};

const LONGEST_SECRET: usize = 256;

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
