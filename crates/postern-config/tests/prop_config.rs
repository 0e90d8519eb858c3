//! Property tests (fuzzing in CI) for the configuration file: TOML documents built from
//! the real setting names (every table and key that `raw.rs` knows, plus typos) with
//! values of random types and random text (quotes, newlines, NUL, 8-bit, huge numbers),
//! sometimes broken by a mutation.
//!
//! In: generated documents, loaded from a temporary file as `serve --config` does.
//! Out: failures naming the shrunk document. Beyond "never panics": an error is one line
//! (`FILE:LINE: KEY: REASON`, what an operator greps), names a line that exists in the
//! file, and loading is deterministic. Cases: [`config`] (`PROPTEST_CASES` raises it).

use std::io::Write;

use postern_config::{Config, Defaults, Overrides};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

const TOP: &[&str] = &["hostname", "banner", "data_dir", "trusted_networks", "relay_host"];
const TABLES: &[(&str, &[&str])] = &[
    ("log", &["format", "level"]),
    ("tls", &["certificate", "private_key"]),
    (
        "limits",
        &[
            "max_message_size",
            "max_recipients",
            "max_hops",
            "max_line_length",
            "command_timeout",
            "data_timeout",
            "max_connections",
            "hard_error_limit",
            "shutdown_timeout",
        ],
    ),
    ("admin", &["address"]),
    ("auth", &["max_failures", "failure_window", "block_time", "failure_delay", "trusted_networks_check_sender"]),
    ("counters", &["backend", "redis_url", "redis_prefix"]),
    ("store", &["backend", "url", "pool_size"]),
    (
        "delivery",
        &[
            "smtp_port",
            "dns_servers",
            "concurrency",
            "destination_concurrency",
            "connect_timeout",
            "command_timeout",
            "data_timeout",
            "connection_reuse_time",
            "retry_first",
            "retry_max",
            "max_queue_lifetime",
            "delay_warning",
            "default_route",
        ],
    ),
    ("delivery.mx_overrides", &["example.com", "\"a.example\"", "\"x\\ny\"", "\"é\""]),
    ("listeners.smtp", LISTENER),
    ("listeners.submission", LISTENER),
    ("listeners.smtps", LISTENER),
    (
        "[delivery.relay_hosts]",
        &["name", "host", "port", "tls", "require_tls", "username", "password", "tls_verify", "tls_ca_file"],
    ),
    ("[delivery.rules]", &["kind", "match", "pattern", "route"]),
];
const LISTENER: &[&str] = &[
    "address",
    "add_missing_headers",
    "allow_plaintext_auth",
    "max_connections_per_ip",
    "connections_per_minute_per_ip",
    "messages_per_minute_per_ip",
    "event_limit_exceptions",
    "require_fcrdns",
    "helo_must_be_fqdn",
    "helo_must_resolve",
    "sender_must_be_fqdn",
    "sender_domain_must_resolve",
    "reject_unauth_pipelining",
    "junk_command_limit",
    "soft_error_limit",
    "error_sleep",
    "refused_recipients_limit",
    "auth_failures_limit",
    "monitor",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("127.0.0.1:0".to_string()),
        Just("[::1]:25".to_string()),
        Just("192.0.2.0/24".to_string()),
        Just("direct".to_string()),
        Just("json".to_string()),
        Just("redis://127.0.0.1:6379".to_string()),
        Just("starttls".to_string()),
        "[a-z0-9.:/-]{0,30}",
        "[ -~]{0,30}",
        "[\0-\u{7f}é]{0,12}",
    ]
}

/// A TOML value of any type; strings are written as escaped basic strings.
fn value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        3 => text().prop_map(|t| toml_string(&t)),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => Just("18446744073709551615".to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => Just("1.5".to_string()),
        1 => Just("1979-05-27T07:32:00Z".to_string()),
    ];
    prop_oneof![
        6 => scalar.clone(),
        2 => prop::collection::vec(scalar.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => prop::collection::vec(("[a-z_]{1,8}", scalar), 0..3)
            .prop_map(|kv| format!("{{ {} }}", kv.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "))),
    ]
}

/// TOML basic string: printable ASCII as is, everything else as `\uXXXX` escapes.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Key and a typo of it, sometimes.
fn key(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(names), 0u8..12).prop_map(|(k, typo)| match typo {
        0 => format!("{k}z"),
        1 => k.to_ascii_uppercase(),
        _ => k.to_string(),
    })
}

fn section() -> impl Strategy<Value = String> {
    (0..TABLES.len()).prop_flat_map(|i| {
        let (table, keys) = TABLES[i];
        prop::collection::vec((key(keys), value()), 0..5).prop_map(move |kv| {
            // `[[delivery.rules]]` for arrays of tables (their names carry the extra brackets).
            let header = format!("[{table}]");
            let body: String = kv.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            format!("{header}\n{body}")
        })
    })
}

fn document() -> impl Strategy<Value = String> {
    (prop::collection::vec((key(TOP), value()), 0..4), prop::collection::vec(section(), 0..6))
        .prop_map(|(top, sections)| {
            let mut doc: String = top.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            for s in sections {
                doc.push_str(&s);
            }
            doc
        })
        .prop_flat_map(|doc| {
            (
                Just(doc),
                prop::collection::vec(
                    (
                        any::<prop::sample::Index>(),
                        prop::sample::select(vec!['=', '[', ']', '"', '\n', '\0', 'é', ' ']),
                    ),
                    0..2,
                ),
            )
        })
        .prop_map(|(doc, edits)| {
            let mut chars: Vec<char> = doc.chars().collect();
            for (at, c) in edits {
                chars.insert(at.index(chars.len() + 1), c);
            }
            chars.into_iter().collect()
        })
}

fn load(text: &str) -> Result<Config, postern_config::ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let defaults = Defaults { hostname: "gw.example.net".into() };
    Config::load(Some(f.path()), &Overrides::default(), &defaults)
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn config_errors_are_one_line_and_point_into_the_file(doc in document()) {
        match load(&doc) {
            Ok(_) => {}
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(!shown.contains('\n') && !shown.contains('\r'), "error spans lines: {shown:?}");
                prop_assert!(!e.reason.is_empty());
                if let Some(line) = e.line {
                    prop_assert!(line >= 1 && line <= doc.lines().count().max(1) + 1, "line {line}: {shown}");
                }
                let again = load(&doc).unwrap_err();
                prop_assert_eq!((again.line, again.key, again.reason), (e.line, e.key, e.reason));
            }
        }
    }
}

/// One setting in its table, everything else default: the error (if any) is about that
/// setting, on one line, at the line it is written on.
fn single_setting() -> impl Strategy<Value = (String, String, String)> {
    (0..TABLES.len()).prop_flat_map(|i| {
        let (table, keys) = TABLES[i];
        (prop::sample::select(keys), value()).prop_map(move |(key, value)| (table.to_string(), key.to_string(), value))
    })
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn single_setting_errors_name_the_setting((table, key, value) in single_setting()) {
        let doc = format!("[{table}]\n{key} = {value}\n");
        if let Err(e) = load(&doc) {
            let shown = e.to_string();
            prop_assert!(!shown.contains('\n') && !shown.contains('\r'), "error spans lines: {shown:?}");
            prop_assert!(e.line.is_none_or(|line| line <= 3), "{shown}");
        }
    }
}
