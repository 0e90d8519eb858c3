//! The RDAP bootstrap (RFC 9224): which RDAP server answers for which top-level domain.
//!
//! In: a bootstrap file's JSON, `{"services": [[["com", "net"], ["https://..."]], ...]}`:
//! the one shipped in the binary (`bootstrap.json`: com, net, org, info) or an operator's
//! own (`[domain_age] bootstrap`, such as IANA's `dns.json`). Out: a [`Bootstrap`] that
//! names the base URL for a domain by the longest matching label suffix (RFC 9224 §4).
//! Defends against: an oversized file, too many entries, base URLs that are not `http`
//! or `https` (an `https` one is preferred when a service has both, RFC 9224 §3).

use std::collections::HashMap;

use serde::Deserialize;

/// The bootstrap shipped in the binary.
pub const BUILTIN: &str = include_str!("bootstrap.json");

/// Largest bootstrap file read (IANA's `dns.json` is about 100 KiB).
pub const MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;
/// Most entries (top-level domains) taken from one file.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bootstrap {
    /// Entry (lower-case labels, `com` or `co.uk`) -> base URL ending with `/`.
    bases: HashMap<String, String>,
}

#[derive(Deserialize)]
struct File {
    services: Vec<(Vec<String>, Vec<String>)>,
}

impl Bootstrap {
    /// The bootstrap shipped in the binary.
    pub fn builtin() -> Bootstrap {
        // A unit test proves that the shipped file parses; never panic regardless.
        Bootstrap::parse(BUILTIN.as_bytes()).unwrap_or_default()
    }

    /// Parses a bootstrap file. A service without a usable URL is left out; a file that is
    /// not the format at all is an error.
    pub fn parse(json: &[u8]) -> Result<Bootstrap, String> {
        if json.len() as u64 > MAX_FILE_SIZE {
            return Err(format!("larger than {MAX_FILE_SIZE} bytes"));
        }
        let file: File = serde_json::from_slice(json).map_err(|e| format!("not an RDAP bootstrap file: {e}"))?;
        let mut bases = HashMap::new();
        for (entries, urls) in file.services {
            let Some(base) = pick_base(&urls) else { continue };
            for entry in entries {
                if bases.len() >= MAX_ENTRIES {
                    return Err(format!("more than {MAX_ENTRIES} entries"));
                }
                let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
                if !entry.is_empty() {
                    bases.entry(entry).or_insert_with(|| base.clone());
                }
            }
        }
        Ok(Bootstrap { bases })
    }

    /// The base URL for `domain` (lower-case ASCII): the entry that matches the most labels
    /// at its end (`co.uk` before `uk`).
    pub fn base_for(&self, domain: &str) -> Option<&str> {
        let mut rest = domain;
        loop {
            if let Some(base) = self.bases.get(rest) {
                return Some(base);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    pub fn len(&self) -> usize {
        self.bases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }
}

/// A service's base URL: `https` first, else `http`; always ending with `/`.
fn pick_base(urls: &[String]) -> Option<String> {
    let usable = |scheme: &str| {
        urls.iter().map(|u| u.trim()).find(|u| {
            u.len() > scheme.len() + 3
                && u.len() <= 2048
                && u[..scheme.len()].eq_ignore_ascii_case(scheme)
                && u[scheme.len()..].starts_with("://")
                && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        })
    };
    let url = usable("https").or_else(|| usable("http"))?;
    Some(if url.ends_with('/') { url.to_string() } else { format!("{url}/") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_bootstrap_parses() {
        let b = Bootstrap::parse(BUILTIN.as_bytes()).unwrap();
        assert_eq!(b.base_for("example.com"), Some("https://rdap.verisign.com/com/v1/"));
        assert_eq!(b.base_for("example.net"), Some("https://rdap.verisign.com/net/v1/"));
        assert_eq!(b.base_for("example.org"), Some("https://rdap.publicinterestregistry.org/rdap/"));
        assert_eq!(b.base_for("example.test"), None);
        assert_eq!(Bootstrap::builtin(), b);
    }

    #[test]
    fn the_longest_match_wins_and_https_is_preferred() {
        let json = br#"{"version": "1.0", "publication": "2026-01-01T00:00:00Z", "services": [
            [["uk"], ["https://uk.example/rdap"]],
            [["co.uk", "ORG.UK."], ["http://plain.example/", "https://secure.example/rdap/"]],
            [["test"], ["http://127.0.0.1:8080/"]],
            [["gopher"], ["gopher://old.example/"]],
            [["none"], []]
        ]}"#;
        let b = Bootstrap::parse(json).unwrap();
        assert_eq!(b.base_for("example.co.uk"), Some("https://secure.example/rdap/"));
        assert_eq!(b.base_for("example.org.uk"), Some("https://secure.example/rdap/"));
        assert_eq!(b.base_for("example.uk"), Some("https://uk.example/rdap/"), "a slash is added");
        assert_eq!(b.base_for("a.b.example.uk"), Some("https://uk.example/rdap/"));
        assert_eq!(b.base_for("young.test"), Some("http://127.0.0.1:8080/"));
        assert_eq!(b.base_for("x.gopher"), None, "only http and https");
        assert_eq!(b.base_for("x.none"), None);
        assert_eq!(b.base_for("com"), None);
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn what_is_not_a_bootstrap_file_is_an_error() {
        for bad in [&b"not json"[..], b"{}", b"[]", br#"{"services": [["com"]]}"#, br#"{"services": 3}"#] {
            assert!(Bootstrap::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(Bootstrap::parse(br#"{"services": []}"#).unwrap().is_empty());
    }
}
