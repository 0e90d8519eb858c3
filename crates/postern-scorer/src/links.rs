//! Hosts and domains of links: what the link rules compare.
//!
//! In: an href or a text that looks like an address. Out: its host, lower case, and an
//! approximation of the registrable domain (the last two labels, three under a two-letter
//! second-level such as `co.uk`). No public-suffix list: the rules only compare domains
//! with each other.

/// The host of an `http(s)://` href (or of `www.` text); `None` for anything else.
pub fn host(href: &str) -> Option<String> {
    let lower = href.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .or_else(|| lower.starts_with("www.").then_some(lower.as_str()))?;
    let end = rest.find(['/', '?', '#', ':', ' ', '"', '\'', '>']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority).trim_end_matches('.');
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.contains('.')
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    valid.then(|| host.to_string())
}

/// The registrable domain of a host, approximately.
pub fn registrable(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return host.to_string();
    }
    let second = labels[n - 2];
    let take =
        if labels[n - 1].len() == 2 && (second.len() <= 3 || matches!(second, "com" | "net" | "org")) { 3 } else { 2 };
    labels[n.saturating_sub(take)..].join(".")
}

/// What a link's text claims as its destination: a URL or a bare domain name.
pub fn shown_host(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches(['/', '.']);
    if let Some(h) = host(text) {
        return Some(h);
    }
    let lower = text.to_ascii_lowercase();
    let looks_like_domain = !lower.contains(' ')
        && lower.contains('.')
        && lower.len() <= 253
        && lower.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && lower.rsplit('.').next().is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    looks_like_domain.then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_domains() {
        assert_eq!(host("https://User@Bit.ly:443/x?y").as_deref(), Some("bit.ly"));
        assert_eq!(host("mailto:a@b.example"), None);
        assert_eq!(registrable("a.b.example.com"), "example.com");
        assert_eq!(registrable("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(shown_host("www.paypal.com").as_deref(), Some("www.paypal.com"));
        assert_eq!(shown_host("Click here"), None);
        assert_eq!(shown_host("paypal.com").as_deref(), Some("paypal.com"));
    }
}
