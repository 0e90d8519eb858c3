//! AFL target: a MAIL/RCPT path -> `Address::parse` (first byte: SMTPUTF8 or not).
//! Crashes on a panic, or on an accepted address that does not print back as its path,
//! breaks the RFC 5321 lengths, carries a control character, or is 8-bit without SMTPUTF8.
use postern_core::address::{Address, MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else { return };
        let Ok(path) = std::str::from_utf8(rest) else { return };
        let utf8 = flags & 1 == 1;
        if let Ok(address) = Address::parse(path, utf8) {
            assert_eq!(address.to_string(), path);
            assert_eq!(Address::parse(path, true).as_ref(), Ok(&address));
            assert!(address.local_part.len() <= MAX_LOCAL_PART && address.domain.as_str().len() <= MAX_DOMAIN);
            assert!(path.len() + 2 <= MAX_PATH);
            assert!(!path.chars().any(char::is_control));
            assert!(utf8 || path.is_ascii());
            assert!(!address.domain.as_str().contains('@') && !path.starts_with('@'));
        }
    });
}
