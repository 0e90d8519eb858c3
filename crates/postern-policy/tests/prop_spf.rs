//! Property tests (fuzzing in CI) for SPF records and macro strings (RFC 7208 §4.5, §5,
//! §7, §12), which arrive from the sender domain's DNS.
//!
//! In: records built from the RFC's grammar (qualifiers, every mechanism with and without
//! domain-specs and CIDR lengths, modifiers, macros with transformers and delimiters), with
//! random mutations and arbitrary text; the TXT set a domain publishes. Out: failures
//! naming the shrunk record. Beyond "never panics": CIDR lengths stay in range; extra
//! spaces between terms change nothing; a set with two SPF records is always an error and
//! one without any is always "no record"; macro expansion of a parsed domain-spec is a
//! name of at most 253 octets unless a single label is longer (which DNS then refuses).
//! Cases: [`config`] (`PROPTEST_CASES` raises it).

use std::net::IpAddr;

use postern_policy::spf::macros::{MacroString, Vars};
use postern_policy::spf::record::{Mechanism, parse, select};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn macro_expr() -> impl Strategy<Value = String> {
    (
        "[slodiphvcrtSLODIPHVCRTxz]",
        prop_oneof![Just(String::new()), "[0-9]{1,3}"],
        prop_oneof![Just(""), Just("r"), Just("R")],
        "[.+,/_=-]{0,3}",
    )
        .prop_map(|(l, d, r, delim)| format!("%{{{l}{d}{r}{delim}}}"))
}

fn domain_spec() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z0-9-]{1,12}",
        2 => macro_expr(),
        1 => prop::sample::select(vec!["%%", "%_", "%-", "%", "%{", "}", ".", ""]).prop_map(str::to_string),
    ];
    (prop::collection::vec(piece, 1..5), prop_oneof![Just(".com"), Just(".example."), Just(""), Just(".123")])
        .prop_map(|(pieces, end)| format!("{}{end}", pieces.join(".")))
}

fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => (0u32..140).prop_map(|n| format!("/{n}")),
        1 => (0u32..140).prop_map(|n| format!("//{n}")),
        1 => (0u32..40, 0u32..140).prop_map(|(a, b)| format!("/{a}//{b}")),
        1 => "/0[0-9]|/|//|/[0-9]{4}",
    ]
}

fn mechanism() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("all".to_string()),
        domain_spec().prop_map(|d| format!("include:{d}")),
        domain_spec().prop_map(|d| format!("exists:{d}")),
        (
            prop_oneof![Just("a"), Just("mx"), Just("ptr"), Just("A"), Just("MX")],
            prop::option::of(domain_spec()),
            cidr()
        )
            .prop_map(|(m, d, c)| format!("{m}{}{c}", d.map_or(String::new(), |d| format!(":{d}")))),
        (any::<[u8; 4]>(), cidr()).prop_map(|(o, c)| format!("ip4:{}.{}.{}.{}{c}", o[0], o[1], o[2], o[3])),
        (any::<[u16; 8]>(), cidr()).prop_map(|(s, c)| format!("ip6:{}{c}", std::net::Ipv6Addr::from(s))),
        "ip4:[0-9.]{0,16}",
        "[a-z]{1,8}(:[!-~]{0,10})?",
    ]
}

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (prop_oneof![Just(""), Just("+"), Just("-"), Just("~"), Just("?")], mechanism()).prop_map(|(q, m)| format!("{q}{m}")),
        1 => domain_spec().prop_map(|d| format!("redirect={d}")),
        1 => domain_spec().prop_map(|d| format!("exp={d}")),
        1 => ("[a-zA-Z][a-zA-Z0-9._-]{0,8}", domain_spec()).prop_map(|(n, v)| format!("{n}={v}")),
    ]
}

fn record() -> impl Strategy<Value = String> {
    (
        prop_oneof![4 => Just("v=spf1"), 1 => Just("V=SPF1"), 1 => Just("v=spf10"), 1 => Just("spf1")],
        prop::collection::vec((term(), prop_oneof![Just(" "), Just("  "), Just("\t")]), 0..12),
    )
        .prop_map(|(v, terms)| {
            let mut text = v.to_string();
            for (term, sep) in terms {
                text.push_str(sep);
                text.push_str(&term);
            }
            text
        })
        .prop_flat_map(mutate)
}

fn mutate(text: String) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        prop::sample::select(vec![' ', ':', '/', '%', '{', '}', '=', '\0', 'é', '.']),
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

fn check_cidrs(mechanism: &Mechanism) -> Result<(), TestCaseError> {
    match mechanism {
        Mechanism::A { cidr4, cidr6, .. } | Mechanism::Mx { cidr4, cidr6, .. } => {
            prop_assert!(*cidr4 <= 32 && *cidr6 <= 128)
        }
        Mechanism::Ip4(_, len) => prop_assert!(*len <= 32),
        Mechanism::Ip6(_, len) => prop_assert!(*len <= 128),
        _ => {}
    }
    Ok(())
}

/// A sender of the kind a hostile client sends (long, dotted, 8-bit, macro-like text).
fn vars_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9.-]{0,40}", "[a-z]{60,64}", "[!-~]{0,80}", "[a-zé.]{0,300}"]
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any record: no panic; what parses has CIDR lengths in range, and extra spaces
    /// between terms do not change it.
    #[test]
    fn spf_parse_keeps_its_promises(text in prop_oneof![6 => record(), 1 => ".{0,120}"]) {
        let parsed = parse(&text);
        if let Ok(record) = &parsed {
            for d in &record.directives {
                check_cidrs(&d.mechanism)?;
            }
            let spaced = text.replace(' ', "   ");
            prop_assert_eq!(&parse(&spaced), &Ok(record.clone()));
        }
    }

    /// A TXT set: two SPF records are always an error, none is "no record", and non-SPF
    /// records never matter.
    #[test]
    fn spf_select_counts_records(
        records in prop::collection::vec(prop_oneof![record(), "[ -~]{0,40}"], 0..5),
        bytes in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        let mut txts: Vec<Vec<u8>> = records.into_iter().map(String::into_bytes).collect();
        txts.push(bytes);
        let is_spf = |t: &Vec<u8>| t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && matches!(t.get(6), None | Some(b' '));
        let count = txts.iter().filter(|t| is_spf(t)).count();
        let result = select(&txts);
        match count {
            0 => prop_assert_eq!(result, Ok(None)),
            1 => prop_assert!(!matches!(result, Ok(None))),
            _ => prop_assert!(result.is_err()),
        }
    }

    /// Expanding a parsed domain-spec never panics and is bounded like a DNS name.
    #[test]
    fn macro_expansion_is_bounded(
        spec in domain_spec(),
        explanation in "[ -~]{0,80}",
        local in vars_text(),
        domain in vars_text(),
        helo in vars_text(),
        ip in any::<IpAddr>(),
    ) {
        let sender = format!("{local}@{domain}");
        let vars = Vars {
            sender: &sender,
            local: &local,
            sender_domain: &domain,
            domain: &domain,
            ip,
            validated: Some(&helo),
            helo: &helo,
            receiver: "mx.example",
            timestamp: 1_700_000_000,
        };
        if let Ok(spec) = MacroString::domain_spec(&spec) {
            let name = spec.expand_domain(&vars);
            prop_assert!(name.len() <= 253 || !name.contains('.'), "{} octets: {name:?}", name.len());
            // (A trailing dot can remain when a macro expands to empty labels, `%{lr-}` of
            // `--` gives `.`: DNS refuses such a name before any query, as it should.)
        }
        if let Ok(text) = MacroString::explanation(&explanation) {
            let _ = text.expand(&vars);
        }
    }
}
