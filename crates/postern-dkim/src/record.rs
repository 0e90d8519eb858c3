//! The DNS side of a key as text: the TXT record to publish, and the reading of records
//! found in DNS. Pure functions.
//!
//! In: domain, selector, algorithm and `p=` value; or the text of a TXT record. Out: a
//! [`DnsRecord`] (name, value, the value cut into character-strings of at most 255 octets,
//! and a zone-file line), or the `k=` and `p=` a published record carries.
//!
//! Defends against: values longer than one DNS character-string (RSA-2048 records are
//! about 410 octets: they must be split, and a resolver joins the strings back without
//! separators, RFC 6376 §3.6.2.2); folding whitespace inside `p=` (allowed and ignored);
//! records of other kinds at the same name (`v=` other than `DKIM1` is not ours).

use postern_core::dkim::DkimAlgorithm;
use serde::Serialize;

/// The longest character-string in a TXT record (RFC 1035 §3.3).
pub const MAX_STRING: usize = 255;

/// The TXT record that publishes a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DnsRecord {
    /// `<selector>._domainkey.<domain>`, without the final dot.
    pub name: String,
    /// `TXT`.
    #[serde(rename = "type")]
    #[schema(pattern = "^TXT$")]
    pub kind: &'static str,
    /// The whole value, as a verifier sees it once the strings are joined.
    pub value: String,
    /// The value in strings of at most 255 octets, in order: what to enter in DNS.
    pub strings: Vec<String>,
    /// The record as one zone-file line.
    pub zone_line: String,
}

/// The record that publishes a key.
pub fn dns_record(domain: &str, selector: &str, algorithm: DkimAlgorithm, public_key: &str) -> DnsRecord {
    let name = format!("{selector}._domainkey.{domain}");
    let value = format!("v=DKIM1; k={}; p={public_key}", algorithm.name());
    let strings = split_strings(&value);
    let quoted: Vec<String> = strings.iter().map(|s| format!("\"{s}\"")).collect();
    let zone_line = format!("{name}. IN TXT ( {} )", quoted.join(" "));
    DnsRecord { name, kind: "TXT", value, strings, zone_line }
}

/// Cuts an ASCII value into strings of at most [`MAX_STRING`] octets (a non-ASCII value is
/// cut at character boundaries, never inside one).
pub fn split_strings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in value.chars() {
        if current.len() + c.len_utf8() > MAX_STRING {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// What a published DKIM key record says, as far as the check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// `k=`, `rsa` when absent (RFC 6376 §3.6.1).
    pub algorithm: String,
    /// `p=` without whitespace; empty: the key was revoked.
    pub public_key: String,
}

/// Reads the joined text of one TXT record as a DKIM key record; `None` when it is not one
/// (another `v=`, no `p=`, not a tag list).
pub fn parse_record(text: &str) -> Option<PublishedKey> {
    let tags = parse_tags(text)?;
    let get = |name: &str| tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    if let Some((first, version)) = tags.first()
        && first == "v"
        && version != "DKIM1"
    {
        return None;
    }
    if tags.iter().skip(1).any(|(name, _)| name == "v") {
        return None;
    }
    let public_key: String = get("p")?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let algorithm = get("k").unwrap_or("rsa").to_string();
    Some(PublishedKey { algorithm, public_key })
}

/// `tag=value; ...` (RFC 6376 §3.2): names and values trimmed; `None` when a part has no `=`.
fn parse_tags(text: &str) -> Option<Vec<(String, String)>> {
    let mut tags = Vec::new();
    for part in text.split(';') {
        if part.trim().is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=')?;
        tags.push((name.trim().to_string(), value.trim().to_string()));
    }
    Some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_split_into_strings_of_at_most_255_octets() {
        let p = "A".repeat(392);
        let r = dns_record("example.com", "s1", DkimAlgorithm::Rsa, &p);
        assert_eq!(r.name, "s1._domainkey.example.com");
        assert_eq!(r.value, format!("v=DKIM1; k=rsa; p={p}"));
        assert_eq!(r.strings.len(), 2);
        assert_eq!(r.strings[0].len(), 255);
        assert_eq!(r.strings.concat(), r.value);
        assert!(r.zone_line.starts_with("s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=AAA"));
        assert!(r.zone_line.ends_with("AAA\" )"));
        let short = dns_record("example.com", "ed", DkimAlgorithm::Ed25519, "abc=");
        assert_eq!(short.strings, ["v=DKIM1; k=ed25519; p=abc="]);
        assert_eq!(split_strings(""), [""]);
        assert_eq!(split_strings(&"é".repeat(200)).iter().map(|s| s.len()).collect::<Vec<_>>(), [254, 146]);
        assert_eq!(split_strings(&"x".repeat(510)).len(), 2);
        assert_eq!(split_strings(&"x".repeat(511)).len(), 3);
    }

    #[test]
    fn published_records_are_read_leniently() {
        let read = |t: &str| parse_record(t).map(|k| (k.algorithm, k.public_key));
        assert_eq!(read("v=DKIM1; k=rsa; p=AB CD\t=="), Some(("rsa".into(), "ABCD==".into())));
        assert_eq!(read("p=XYZ"), Some(("rsa".into(), "XYZ".into())));
        assert_eq!(read(" v = DKIM1 ;k=ed25519;p=Q;"), Some(("ed25519".into(), "Q".into())));
        assert_eq!(read("v=DKIM1; p="), Some(("rsa".into(), String::new())), "revoked");
        assert_eq!(read("v=spf1 -all"), None);
        assert_eq!(read("v=DKIM2; p=X"), None);
        assert_eq!(read("k=rsa; v=DKIM1; p=X"), None, "v= must come first");
        assert_eq!(read("v=DKIM1; k=rsa"), None);
        assert_eq!(read("hello world"), None);
    }
}
