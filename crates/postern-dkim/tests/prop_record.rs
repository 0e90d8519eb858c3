//! Property tests (fuzzing in CI) for DKIM key records as DNS returns them (RFC 6376
//! §3.6.1 tag lists), and for the records we publish.
//!
//! In: tag lists built from the record grammar (`v`, `k`, `p`, `h`, `s`, `t`, `n`, unknown
//! tags, folding whitespace) with random mutations, and arbitrary text. Out: failures
//! naming the shrunk record. Beyond "never panics": what we publish reads back as the key
//! we published, whole or joined from its ≤255-octet strings; folding whitespace inside
//! `p=` changes nothing; the check's verdict on such a record is `published`.
//! Cases: [`config`] (`PROPTEST_CASES` raises it).

use postern_core::dkim::DkimAlgorithm;
use postern_dkim::record::{MAX_STRING, parse_record, split_strings};
use postern_dkim::{CheckStatus, check::judge, dns_record};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn base64() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{0,700}(=|==)?"
}

fn whitespace() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "\t", "\r\n ", "\r\n\t", "  "]).prop_map(str::to_string)
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v=DKIM1".to_string()),
        "v=[A-Za-z0-9]{0,6}",
        "k=(rsa|ed25519|[a-z0-9]{0,8})",
        base64().prop_map(|p| format!("p={p}")),
        "h=(sha256|sha1|sha256:sha1)",
        "s=(email|\\*)",
        "t=(y|s|y:s)",
        "n=[ -:<-~]{0,30}",
        "[a-z][a-z0-9_]{0,6}=[ -:<-~]{0,20}",
        "[^;]{0,20}",
    ]
}

fn mutate(text: String) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        prop::sample::select(vec!['=', ';', ' ', '\0', 'é', '\u{fffd}', 'p', 'v']),
        any::<bool>(),
    );
    prop::collection::vec(edit, 0..3).prop_map(move |edits| {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, c, insert) in edits {
            let i = at.index(chars.len() + 1);
            if insert || i == chars.len() {
                chars.insert(i, c);
            } else {
                chars.remove(i);
            }
        }
        chars.into_iter().collect()
    })
}

fn record() -> impl Strategy<Value = String> {
    (prop::collection::vec((tag(), whitespace(), whitespace()), 0..8), any::<bool>())
        .prop_map(|(tags, trailing)| {
            let mut text: String = tags.iter().map(|(t, a, b)| format!("{a}{t}{b}")).collect::<Vec<_>>().join(";");
            if trailing {
                text.push(';');
            }
            text
        })
        .prop_flat_map(mutate)
}

fn algorithm() -> impl Strategy<Value = DkimAlgorithm> {
    prop_oneof![Just(DkimAlgorithm::Rsa), Just(DkimAlgorithm::Ed25519)]
}

/// `p=` with folding whitespace inserted where the RFC allows it.
fn folded(key: &str, spaces: &[(prop::sample::Index, String)]) -> String {
    let mut out: Vec<String> = key.chars().map(String::from).collect();
    for (at, ws) in spaces {
        let i = at.index(out.len() + 1);
        out.insert(i, ws.clone());
    }
    out.concat()
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any record: no panic; a key that is read has no whitespace in `p=`.
    #[test]
    fn parse_record_never_panics(text in prop_oneof![record(), ".{0,200}"]) {
        if let Some(key) = parse_record(&text) {
            prop_assert!(!key.public_key.chars().any(|c| c.is_ascii_whitespace()));
            prop_assert!(text.contains("p") || text.contains('P'));
        }
        let records = vec![text.clone(), text];
        let verdict = judge("s._domainkey.example.com", &records, DkimAlgorithm::Rsa, "AAAA");
        prop_assert!(verdict.found.len() <= records.len());
    }

    /// What we publish reads back as the same key, whole or from its strings.
    #[test]
    fn published_record_round_trips(
        domain in "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){1,3}",
        selector in "[a-z0-9-]{1,20}",
        algorithm in algorithm(),
        key in "[A-Za-z0-9+/]{1,1000}={0,2}",
    ) {
        let record = dns_record(&domain, &selector, algorithm, &key);
        prop_assert_eq!(record.strings.concat(), record.value.clone());
        prop_assert!(record.strings.iter().all(|s| s.len() <= MAX_STRING && !s.is_empty()));
        let read = parse_record(&record.strings.concat()).expect("our own record is a DKIM record");
        prop_assert_eq!(read.algorithm, algorithm.name());
        prop_assert_eq!(&read.public_key, &key);
        let verdict = judge(&record.name, std::slice::from_ref(&record.value), algorithm, &key);
        prop_assert_eq!(verdict.status, CheckStatus::Published);
    }

    /// Folding whitespace inside `p=` is ignored (RFC 6376 §3.6.1).
    #[test]
    fn folding_whitespace_in_p_is_ignored(
        key in "[A-Za-z0-9+/]{1,400}",
        spaces in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![" ", "\t", "\r\n "]).prop_map(str::to_string)), 0..10),
    ) {
        let text = format!("v=DKIM1; k=rsa; p={}", folded(&key, &spaces));
        prop_assert_eq!(parse_record(&text).map(|k| k.public_key), Some(key));
    }

    /// Splitting keeps every character, in order, in strings of at most 255 octets.
    #[test]
    fn split_strings_is_lossless_and_bounded(value in ".{0,900}") {
        let strings = split_strings(&value);
        prop_assert_eq!(strings.concat(), value.clone());
        prop_assert!(strings.iter().all(|s| s.len() <= MAX_STRING));
        prop_assert!(strings.len() == 1 || strings.iter().all(|s| !s.is_empty()));
    }
}
