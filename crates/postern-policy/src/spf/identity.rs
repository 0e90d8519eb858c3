//! Which identity SPF checks, and whether its domain can be checked at all (RFC 7208 §2.3,
//! §2.4, §4.3). Pure: no I/O.
//!
//! In: the HELO/EHLO argument and the MAIL FROM address as the client sent them. Out: an
//! [`Identity`] (the domain whose record is evaluated and the sender for the `%{s}`/`%{l}`
//! macros), or `None` when the domain is malformed, which RFC 7208 §4.3 answers with the
//! result "none" without any DNS lookup.
//!
//! Defends against names a resolver would choke on or turn into a different question:
//! empty or over-long labels, over-long names, single-label names, address literals.

/// The identity to check: `sender` is always `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub domain: String,
    pub sender: String,
    /// True when the HELO name is checked (null reverse-path), false for MAIL FROM.
    pub helo: bool,
}

/// RFC 7208 §2.4: the MAIL FROM identity; for the null reverse-path, the HELO identity
/// with the sender `postmaster@<helo>`. A reverse-path without local part gets
/// `postmaster` (§4.3); one without `@` is taken as a bare domain, as the reference
/// implementation does.
pub fn identity(helo: &str, mail_from: &str) -> Option<Identity> {
    let mail_from = mail_from.strip_prefix('<').and_then(|m| m.strip_suffix('>')).unwrap_or(mail_from);
    let (local, domain, helo_identity) = if mail_from.is_empty() {
        ("postmaster", helo, true)
    } else {
        match mail_from.rsplit_once('@') {
            Some(("", domain)) => ("postmaster", domain, false),
            Some((local, domain)) => (local, domain, false),
            None => ("postmaster", mail_from, false),
        }
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if !is_checkable_domain(domain) {
        return None;
    }
    Some(Identity { domain: domain.to_string(), sender: format!("{local}@{domain}"), helo: helo_identity })
}

/// A domain SPF can be evaluated for: a multi-label name of at most 253 octets whose
/// labels are 1 to 63 octets, with no address literal (`[192.0.2.1]`) and no bytes that
/// are never part of a host name (spaces, control characters, brackets, `@`).
pub fn is_checkable_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
        return false;
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_');
    domain.split('.').all(|label| (1..=63).contains(&label.len()) && label.chars().all(allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(domain: &str, sender: &str, helo: bool) -> Option<Identity> {
        Some(Identity { domain: domain.into(), sender: sender.into(), helo })
    }

    #[test]
    fn mail_from_is_the_identity() {
        assert_eq!(identity("mx.example.net", "alice@example.com"), id("example.com", "alice@example.com", false));
        assert_eq!(identity("mx.example.net", "<alice@example.com>"), id("example.com", "alice@example.com", false));
        assert_eq!(identity("mx", "alice@example.com."), id("example.com", "alice@example.com", false));
    }

    #[test]
    fn null_sender_checks_helo_as_postmaster() {
        assert_eq!(identity("mx.example.net", ""), id("mx.example.net", "postmaster@mx.example.net", true));
        assert_eq!(identity("mx.example.net", "<>"), id("mx.example.net", "postmaster@mx.example.net", true));
    }

    #[test]
    fn missing_local_part_is_postmaster() {
        assert_eq!(identity("mx.example.net", "@example.com"), id("example.com", "postmaster@example.com", false));
        assert_eq!(identity("mx.example.net", "example.com"), id("example.com", "postmaster@example.com", false));
    }

    #[test]
    fn the_last_at_sign_starts_the_domain() {
        assert_eq!(identity("h.example", "\"a@b\"@example.com"), id("example.com", "\"a@b\"@example.com", false));
    }

    #[test]
    fn malformed_domains_are_not_checked() {
        for helo in ["", "localhost", "[192.0.2.1]", "a..example.com", ".example.com", "exa mple.com"] {
            assert_eq!(identity(helo, ""), None, "{helo:?}");
        }
        let long_label = format!("{}.example.com", "a".repeat(64));
        assert_eq!(identity("h.example", &format!("x@{long_label}")), None);
        let ok_label = format!("{}.example.com", "a".repeat(63));
        assert!(identity("h.example", &format!("x@{ok_label}")).is_some());
        let long_name = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(63)].join(".");
        assert_eq!(identity("h.example", &format!("x@{long_name}")), None);
    }
}
