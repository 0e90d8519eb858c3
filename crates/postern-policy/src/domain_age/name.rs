//! Which name a domain's age is asked for: the *registrable* domain, the name a registry
//! registered (`mail.sub.example.co.uk` -> `example.co.uk`), by the ICANN section of the
//! Public Suffix List (the `psl` crate, compiled in).
//!
//! In: a domain as a sender wrote it (any case, a trailing dot, U-labels). Out: the
//! registrable domain in lower-case ASCII (A-labels), or `None` for what has none: an
//! address literal, a public suffix itself (`co.uk`), a single label, a name that is not
//! a host name. Defends against: over-long names and labels, non-LDH characters (the
//! result goes into an RDAP URL path), private-section suffixes (`x.blogspot.com` is
//! registered as `blogspot.com`: the registry knows only that one).

use psl::Type;

/// RFC 1035: at most 253 octets in text form, 63 per label.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// The lower-case ASCII form of a host name: A-labels for U-labels, no trailing dot.
/// `None` when it is not a host name (an address literal, empty labels, characters other
/// than letters, digits and hyphens).
pub fn ascii_host(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 4 * MAX_NAME {
        return None;
    }
    let ascii = if name.is_ascii() { name.to_ascii_lowercase() } else { idna::domain_to_ascii(name).ok()? };
    let ldh = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (ascii.len() <= MAX_NAME && ascii.split('.').all(ldh)).then_some(ascii)
}

/// The registrable domain of `name` (see the module documentation).
pub fn registrable(name: &str) -> Option<String> {
    let ascii = ascii_host(name)?;
    // The list is written in U-labels: ask it in that form; the label count is the same.
    let unicode = match ascii.contains("xn--") {
        true => match idna::domain_to_unicode(&ascii) {
            (text, Ok(())) => text,
            (_, Err(_)) => return None,
        },
        false => ascii.clone(),
    };
    let suffix_labels = icann_suffix_labels(&unicode)?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() <= suffix_labels {
        return None;
    }
    Some(labels[labels.len() - suffix_labels - 1..].join("."))
}

/// How many labels the ICANN public suffix of `name` has: a private-section suffix
/// (`blogspot.com`) is skipped for the ICANN one under it (`com`). An unlisted top-level
/// domain is a suffix of one label (the list's default rule).
fn icann_suffix_labels(name: &str) -> Option<usize> {
    let mut rest = name;
    // Each round drops at least one label: bounded by the label count.
    loop {
        let suffix = psl::suffix(rest.as_bytes())?;
        let text = std::str::from_utf8(suffix.trim().as_bytes()).ok()?;
        if suffix.typ() != Some(Type::Private) {
            return Some(text.split('.').count());
        }
        // `rest` ends with the private suffix: look again without its first label.
        rest = text.split_once('.')?.1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registrable_domain_is_the_one_a_registry_registered() {
        assert_eq!(registrable("mail.sub.example.co.uk").as_deref(), Some("example.co.uk"));
        assert_eq!(registrable("Example.COM.").as_deref(), Some("example.com"));
        assert_eq!(registrable("a.b.c.example.com").as_deref(), Some("example.com"));
        assert_eq!(registrable("example.com").as_deref(), Some("example.com"));
        // An unlisted top-level domain: the default rule, one label.
        assert_eq!(registrable("mail.young.test").as_deref(), Some("young.test"));
        // Private-section suffixes are skipped: the registry knows blogspot.com.
        assert_eq!(registrable("someone.blogspot.com").as_deref(), Some("blogspot.com"));
        assert_eq!(registrable("x.y.github.io").as_deref(), Some("github.io"));
    }

    #[test]
    fn names_without_a_registrable_domain() {
        for name in ["co.uk", "com", "localhost", "", ".", "[192.0.2.1]", "a..b.com", "-a.com", "a_b.com", "a b.com"] {
            assert_eq!(registrable(name), None, "{name:?}");
        }
        assert_eq!(registrable(&format!("{}.com", "a".repeat(64))), None, "label over 63 octets");
        let long = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(registrable(&long), None, "name over 253 octets");
    }

    #[test]
    fn u_labels_become_a_labels() {
        assert_eq!(registrable("Mail.Bücher.de").as_deref(), Some("xn--bcher-kva.de"));
        assert_eq!(registrable("mail.xn--bcher-kva.de").as_deref(), Some("xn--bcher-kva.de"));
        // A suffix of the list written in U-labels: пример.рф (.xn--p1ai).
        assert_eq!(registrable("www.пример.рф").as_deref(), Some("xn--e1afmkfd.xn--p1ai"));
        assert_eq!(ascii_host("ÉCOLE.fr").as_deref(), Some("xn--cole-9oa.fr"));
    }
}
