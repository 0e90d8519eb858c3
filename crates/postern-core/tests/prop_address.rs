//! Property tests (fuzzing in CI) for the RFC 5321 address parser: paths built from the
//! mailbox grammar with hostile pieces mixed in (`%`, `!`, source routes `@a:b@c`, quoted
//! local parts, NUL and other controls, 8-bit text, over-long parts, address literals).
//!
//! In: generated paths. Out: failures naming the shrunk path. Beyond "never panics": an
//! accepted address prints back as the path it came from and parses again to itself, its
//! parts respect the RFC's lengths, it has no control characters, it is ASCII unless
//! SMTPUTF8 was declared, its domain is the text after the separating `@`, and SMTPUTF8
//! only ever widens what is accepted. Cases: [`config`] (`PROPTEST_CASES` raises it).

use postern_core::address::{Address, AddressError, MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn hostile() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "%", "!", "@", "\"", "\\", "\0", "\x7f", "\r\n", " ", "\t", "é", "ü", "\u{200b}", "[", "]", ":", ",", ".",
        "..", "<", ">", "-", "ÿ",
    ])
    .prop_map(str::to_string)
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,12}",
        1 => hostile(),
        1 => "[a-z]{60,70}",
        1 => "[à-ÿ]{1,6}",
    ]
}

fn local_part() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(atom(), 1..4).prop_map(|atoms| atoms.join(".")),
        2 => prop::collection::vec(prop_oneof!["[ -!#-\\[\\]-~]{1,8}", Just("\\\"".to_string()), Just("\\\\".to_string()), hostile()], 0..5)
            .prop_map(|parts| format!("\"{}\"", parts.concat())),
        1 => "[!-~]{0,70}",
    ]
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?",
        1 => "-[a-z]{1,4}|[a-z]{1,4}-",
        1 => "[a-z]{63,64}",
        1 => "[à-ÿ]{1,6}",
        1 => hostile(),
        1 => Just(String::new()),
    ]
}

fn domain() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join(".")),
        1 => (any::<[u8; 4]>(), any::<bool>()).prop_map(|(o, short)| if short {
            format!("[{}.{}]", o[0], o[1])
        } else {
            format!("[{}.{}.{}.{}]", o[0], o[1], o[2], o[3])
        }),
        1 => any::<[u16; 8]>().prop_map(|s| format!("[IPv6:{}]", std::net::Ipv6Addr::from(s))),
        1 => "\\[[ -~]{0,20}\\]",
        1 => prop::collection::vec("[a-z]{60,63}", 4..6).prop_map(|labels| labels.join(".")),
    ]
}

/// A path: mostly `local@domain`, sometimes a source route, two `@`s or no `@` at all.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (local_part(), domain()).prop_map(|(l, d)| format!("{l}@{d}")),
        1 => (domain(), domain(), local_part(), domain()).prop_map(|(a, b, l, d)| format!("@{a},@{b}:{l}@{d}")),
        1 => (local_part(), domain(), domain()).prop_map(|(l, a, b)| format!("{l}@{a}@{b}")),
        1 => local_part(),
        1 => "[^\r\n]{0,300}",
    ]
}

fn check_accepted(path: &str, utf8: bool, address: &Address) -> Result<(), TestCaseError> {
    prop_assert_eq!(address.to_string(), path);
    prop_assert_eq!(&Address::parse(&address.to_string(), utf8), &Ok(address.clone()));
    prop_assert!(!address.local_part.is_empty() && address.local_part.len() <= MAX_LOCAL_PART);
    prop_assert!(address.domain.as_str().len() <= MAX_DOMAIN);
    prop_assert!(path.len() + 2 <= MAX_PATH);
    prop_assert!(!path.chars().any(char::is_control), "control character accepted");
    prop_assert!(utf8 || path.is_ascii(), "8-bit accepted without SMTPUTF8");
    prop_assert!(!address.domain.as_str().contains('@'), "@ in the domain");
    prop_assert!(!path.starts_with('@'), "source route accepted");
    prop_assert_eq!(address.is_utf8(), !path.is_ascii());
    Ok(())
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn address_parse_keeps_its_promises(path in path(), utf8 in any::<bool>()) {
        match Address::parse(&path, utf8) {
            Ok(address) => {
                check_accepted(&path, utf8, &address)?;
                if !utf8 {
                    prop_assert_eq!(Address::parse(&path, true), Ok(address), "SMTPUTF8 must only widen");
                }
            }
            Err(AddressError::SourceRoute) => prop_assert!(path.starts_with('@')),
            Err(AddressError::Empty) => prop_assert!(path.is_empty()),
            Err(_) => {}
        }
    }

    /// Plain grammar addresses are accepted, whatever `%` and `!` they carry: they are text.
    #[test]
    fn grammar_addresses_are_accepted(
        atoms in prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}", 1..4),
        labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", 1..4),
        tld in "[a-z]{2,6}",
    ) {
        let local = atoms.join(".");
        let domain = format!("{}.{tld}", labels.join("."));
        let path = format!("{local}@{domain}");
        prop_assume!(local.len() <= MAX_LOCAL_PART);
        let address = Address::parse(&path, false).map_err(|e| TestCaseError::fail(format!("{path:?}: {e}")))?;
        prop_assert_eq!(address.local_part, local);
        prop_assert_eq!(address.domain.as_str(), domain);
    }
}
