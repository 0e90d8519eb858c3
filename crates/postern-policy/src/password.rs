//! Account passwords: argon2id (RFC 9106) hashes in PHC string format. The password itself
//! is never stored, logged or returned. Both functions are CPU-heavy by design: call them
//! from `spawn_blocking`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Bounds on a new password, in bytes.
pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

/// argon2id with 19 MiB, 2 passes, 1 lane: OWASP's first recommended profile.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused.
pub fn check_new(password: &str) -> Result<(), String> {
    if password.len() < MIN_LENGTH {
        return Err(format!("a password has at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("a password has at most {MAX_LENGTH} bytes"));
    }
    if password.chars().any(|c| c.is_control()) {
        return Err("a password may not contain control characters".into());
    }
    Ok(())
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| format!("hash: {e}"))
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(phc: &str, password: &[u8]) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, for unknown users, so that timing does not tell
/// whether a user name exists.
pub fn verify_nothing(password: &[u8]) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("postern-dummy-password").unwrap_or_default());
    let _ = verify(phc, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, b"correct horse"));
        assert!(!verify(&h, b"correct horsf"));
        assert!(!verify("not a hash", b"correct horse"));
        assert_ne!(hash("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new("short").is_err());
        assert!(check_new("long enough").is_ok());
        assert!(check_new("tab\tinside").is_err());
        assert!(check_new(&"x".repeat(2000)).is_err());
    }
}
