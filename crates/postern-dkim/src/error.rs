//! The one error type of the crate. Texts name what is wrong in words an administrator can
//! act on; they never contain key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// A key that cannot be used: not PEM, not RSA or Ed25519, a bad size, damaged DER.
    #[error("{0}")]
    Key(String),
    /// The system could not make a key (no randomness, a library failure).
    #[error("key generation failed: {0}")]
    Generate(String),
    /// A sealed private key that does not open: another master key, or damaged bytes.
    #[error("sealed private key: {0}")]
    Seal(String),
    #[error("master key {}: {reason}", path.display())]
    MasterKey { path: PathBuf, reason: String },
    #[error("signing failed: {0}")]
    Sign(String),
}

pub type Result<T> = std::result::Result<T, DkimError>;
