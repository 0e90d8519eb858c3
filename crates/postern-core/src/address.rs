//! RFC 5321 mailbox syntax: `Local-part "@" (Domain / address-literal)`.
//!
//! In: the text between `<` and `>` of a MAIL or RCPT command. Out: an [`Address`] or the
//! reason it is not one. Defends against: source routes (refused, never interpreted),
//! over-long parts (64-octet local part, 255-octet domain, 256-octet path), control
//! characters, and non-ASCII text outside an SMTPUTF8 transaction. Characters such as `%`
//! and `!` are legal in a local part and are kept as text: Postern routes only on the
//! domain after the last `@` and never interprets them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain, in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path including the angle brackets (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why a path is not an address. Each maps to one SMTP reply in the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty address")]
    Empty,
    #[error("address too long")]
    TooLong,
    #[error("source routes are not supported")]
    SourceRoute,
    #[error("missing @domain")]
    MissingDomain,
    #[error("invalid local part")]
    BadLocalPart,
    #[error("invalid domain")]
    BadDomain,
    #[error("non-ASCII address requires SMTPUTF8")]
    NeedsSmtpUtf8,
}

/// A domain or an address literal, as written (case is kept; compare with [`Domain::eq_ignore_case`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    /// Parses a domain name or an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
    pub fn parse(text: &str, utf8: bool) -> Result<Domain, AddressError> {
        if text.is_empty() || text.len() > MAX_DOMAIN {
            return Err(AddressError::BadDomain);
        }
        if text.starts_with('[') {
            return parse_address_literal(text).map(|()| Domain(text.to_string()));
        }
        if !text.is_ascii() && !utf8 {
            return Err(AddressError::NeedsSmtpUtf8);
        }
        for label in text.split('.') {
            if !valid_label(label) {
                return Err(AddressError::BadDomain);
            }
        }
        Ok(Domain(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `localhost`, a domain that needs no parsing.
    pub(crate) fn localhost() -> Domain {
        Domain("localhost".into())
    }

    pub fn is_address_literal(&self) -> bool {
        self.0.starts_with('[')
    }

    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Let-dig [Ldh-str]`, at most 63 octets; non-ASCII characters count as letters (U-labels).
fn valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    if bytes.is_empty() || bytes.len() > 63 {
        return false;
    }
    let let_dig = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    let first = label.chars().next();
    let last = label.chars().last();
    first.is_some_and(let_dig)
        && last.is_some_and(let_dig)
        && label.chars().all(|c| let_dig(c) || c == '-')
        && !label.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn parse_address_literal(text: &str) -> Result<(), AddressError> {
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or(AddressError::BadDomain)?;
    if let Some(v6) = inner.strip_prefix("IPv6:").or_else(|| inner.strip_prefix("ipv6:")) {
        return v6.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| AddressError::BadDomain);
    }
    // Dotted quad only: `inet_aton` forms such as `[127.1]` are not address literals.
    let dotted = inner.split('.').count() == 4;
    match inner.parse::<Ipv4Addr>() {
        Ok(_) if dotted => Ok(()),
        _ => Err(AddressError::BadDomain),
    }
}

/// A mailbox: local part (as written, quotes included) and domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub local_part: String,
    pub domain: Domain,
}

impl Address {
    /// Parses the inside of `<...>` (without the brackets). `utf8`: the transaction
    /// declared SMTPUTF8, so non-ASCII local parts and U-label domains are allowed.
    pub fn parse(path: &str, utf8: bool) -> Result<Address, AddressError> {
        if path.is_empty() {
            return Err(AddressError::Empty);
        }
        if path.len() + 2 > MAX_PATH {
            return Err(AddressError::TooLong);
        }
        if path.starts_with('@') {
            return Err(AddressError::SourceRoute);
        }
        if path.chars().any(|c| c.is_control()) {
            return Err(AddressError::BadLocalPart);
        }
        let at = find_domain_separator(path)?;
        let (local, domain) = (&path[..at], &path[at + 1..]);
        parse_local_part(local, utf8)?;
        let domain = Domain::parse(domain, utf8)?;
        Ok(Address { local_part: local.to_string(), domain })
    }

    /// True when any part uses non-ASCII characters (delivery then needs SMTPUTF8).
    pub fn is_utf8(&self) -> bool {
        !self.local_part.is_ascii() || !self.domain.as_str().is_ascii()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The `@` that separates local part and domain. A quoted local part ends at its closing
/// quote, which must be followed by `@`; an unquoted one has exactly one `@` after it.
/// A second unquoted `@` (`user@a@b`) is a syntax error, never a route.
fn find_domain_separator(path: &str) -> Result<usize, AddressError> {
    if path.starts_with('"') {
        let mut escaped = false;
        for (i, c) in path.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' if path[i + 1..].starts_with('@') => return Ok(i + 1),
                '"' => return Err(AddressError::BadLocalPart),
                _ => {}
            }
        }
        return Err(AddressError::BadLocalPart);
    }
    let mut ats = path.match_indices('@').map(|(i, _)| i);
    match (ats.next(), ats.next()) {
        (None, _) => Err(AddressError::MissingDomain),
        (Some(i), None) => Ok(i),
        (Some(_), Some(_)) => Err(AddressError::BadDomain),
    }
}

fn parse_local_part(local: &str, utf8: bool) -> Result<(), AddressError> {
    if local.is_empty() {
        return Err(AddressError::BadLocalPart);
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(AddressError::TooLong);
    }
    if !local.is_ascii() && !utf8 {
        return Err(AddressError::NeedsSmtpUtf8);
    }
    if local.starts_with('"') {
        return parse_quoted_string(local);
    }
    for atom in local.split('.') {
        if atom.is_empty() || !atom.chars().all(|c| is_atext(c) || !c.is_ascii()) {
            return Err(AddressError::BadLocalPart);
        }
    }
    Ok(())
}

fn parse_quoted_string(local: &str) -> Result<(), AddressError> {
    let inner = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')).ok_or(AddressError::BadLocalPart)?;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(q) if (' '..='~').contains(&q) => {}
                _ => return Err(AddressError::BadLocalPart),
            },
            '"' => return Err(AddressError::BadLocalPart),
            c if c.is_ascii() && !(' '..='~').contains(&c) => {
                return Err(AddressError::BadLocalPart);
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Address {
        Address::parse(s, false).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ordinary_addresses() {
        let a = ok("John.Doe+tag@Example.COM");
        assert_eq!(a.local_part, "John.Doe+tag");
        assert!(a.domain.eq_ignore_case("example.com"));
        ok("a@b");
        ok("\"john doe\"@example.com");
        ok("\"a@b\"@example.com");
        ok("user@[192.0.2.1]");
        ok("user@[IPv6:2001:db8::1]");
        ok("a%b@example.com");
    }

    #[test]
    fn refused_forms() {
        use AddressError::*;
        let cases = [
            ("", Empty),
            ("@a.example,@b.example:user@c.example", SourceRoute),
            ("@a.example:user@c.example", SourceRoute),
            ("user", MissingDomain),
            ("user@a@b", BadDomain),
            ("user@", BadDomain),
            ("@example.com", SourceRoute),
            (".user@example.com", BadLocalPart),
            ("us..er@example.com", BadLocalPart),
            ("user@example.com.", BadDomain),
            ("user@-example.com", BadDomain),
            ("user@exa mple.com", BadDomain),
            ("user@[127.1]", BadDomain),
            ("user@[300.1.1.1]", BadDomain),
            ("us\"er@example.com", BadLocalPart),
            ("us er@example.com", BadLocalPart),
            ("\"a\"b\"@example.com", BadLocalPart),
            ("us\ter@example.com", BadLocalPart),
            ("jörg@example.com", NeedsSmtpUtf8),
            ("user@bücher.example", NeedsSmtpUtf8),
        ];
        for (input, want) in cases {
            assert_eq!(Address::parse(input, false), Err(want), "{input:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Address::parse(&long_local, false), Err(TooLong));
        let long_path = format!("a@{}.example", "b.".repeat(130));
        assert_eq!(Address::parse(&long_path, false), Err(TooLong));
    }

    #[test]
    fn utf8_allowed_with_smtputf8() {
        let a = Address::parse("jörg@bücher.example", true).unwrap();
        assert!(a.is_utf8());
    }
}
