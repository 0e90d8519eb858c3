//! Property tests (fuzzing in CI) for the admin API's request bodies: deserialisation and
//! validation of every JSON body the API takes, through the real router over a real
//! SQLite directory (the `tests/api` harness).
//!
//! In: JSON objects built from each body's real field names (and nested settings names)
//! with values of random types (strings with controls and 8-bit text, huge and negative
//! numbers, floats, nulls, arrays, objects), unknown fields, sometimes raw bytes that are
//! not JSON. Out: failures naming the shrunk request. The property: every answer is a
//! success or a 4xx JSON object (503 only where this harness has no counters), never a
//! 5xx and never a panic; a 400 names the field it is about.
//! Cases: [`config`] (`PROPTEST_CASES` raises it). One API serves all cases of a run, so
//! objects created by earlier cases are there for later ones (as on a real server).

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use axum::body::Body;
use axum::http::Request;
use harness::Api;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// (method, path, fields) for every endpoint that takes a JSON body.
const ENDPOINTS: &[(&str, &str, &[&str])] = &[
    ("POST", "/domains", &["name", "filter_enabled", "sender_security", "abuse_contact"]),
    ("PATCH", "/domains/example.com", &["filter_enabled", "sender_security", "abuse_contact"]),
    ("POST", "/accounts", &["domain", "kind", "name", "password", "settings"]),
    ("PATCH", "/accounts/1", &["settings", "password", "locked"]),
    ("POST", "/identities", &["account_id", "name"]),
    ("PATCH", "/identities/1", &["locked"]),
    ("POST", "/rules", &["domain", "kind", "value", "action", "comment"]),
    ("POST", "/tokens", &["name", "role", "domains"]),
    ("POST", "/spam-events", &["account_id", "identity"]),
    ("POST", "/domains/example.com/dkim/keys", &["selector", "algorithm", "bits", "private_key_pem"]),
    ("POST", "/domains/example.com/dkim/rotate", &["selector", "grace_secs", "force"]),
];

const SETTINGS: &[&str] = &[
    "identification",
    "allow_reauthentication",
    "allow_foreign_sender_domains",
    "quarantine_reaction",
    "archive",
    "lock",
    "limits",
    "dkim_selector",
    "checks",
];
const LIMITS: &[&str] = &[
    "connections_per_minute",
    "connections_per_hour",
    "connections_per_day",
    "connections_per_week",
    "connections_per_month",
    "messages_per_session",
    "recipients_per_day",
    "recipients_per_message",
    "max_message_size",
    "max_hops",
];
const SECURITY: &[&str] = &["allowed_senders", "ip_check", "allowed_ips"];

/// Words the API knows as values (kinds, roles, actions, ...), to get past the first check.
const WORDS: &[&str] = &[
    "example.com",
    "b.example",
    "ip",
    "user",
    "domain",
    "superadmin",
    "domain-admin",
    "domain_admin",
    "sender",
    "recipient",
    "client_ip",
    "helo",
    "allow",
    "deny",
    "reject",
    "rsa",
    "ed25519",
    "none",
    "spf",
    "list",
    "method",
    "192.0.2.1",
    "198.51.100.0/24",
    "0.0.0.0/0",
    "::/0",
    "alice@example.com",
    "*@example.com",
    "s1",
    "",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(WORDS).prop_map(|w| json!(w)),
        2 => "[ -~]{0,20}".prop_map(Value::from),
        1 => "[\0-\u{1f}é\u{202e}\u{fffd}a-z]{0,10}".prop_map(Value::from),
        1 => "[a-z]{300,400}".prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        2 => (0i64..5000).prop_map(Value::from),
        1 => Just(json!(18_446_744_073_709_551_615u64)),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

/// An object with some of `names` (and sometimes an unknown one), values from `leaf`.
fn object_of(names: &'static [&'static str], leaf: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    let field = prop_oneof![9 => prop::sample::select(names).prop_map(str::to_string), 1 => "[a-z_]{1,12}"];
    prop::collection::vec((field, leaf), 0..names.len().min(6) + 1)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

fn value() -> BoxedStrategy<Value> {
    let leaf = scalar().boxed();
    prop_oneof![
        8 => leaf.clone(),
        1 => prop::collection::vec(leaf.clone(), 0..4).prop_map(Value::Array),
        1 => object_of(LIMITS, leaf.clone()),
        1 => object_of(SECURITY, prop_oneof![leaf.clone(), prop::collection::vec(leaf.clone(), 0..3).prop_map(Value::Array)].boxed()),
        1 => object_of(SETTINGS, prop_oneof![leaf.clone(), object_of(LIMITS, leaf)].boxed()),
    ]
    .boxed()
}

fn domain_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[a-z0-9-]{1,10}\\.(example|test|com)".prop_map(Value::from),
        1 => Just(json!("example.com")),
        1 => "[a-zA-Z0-9.é_*-]{0,20}".prop_map(Value::from),
    ]
}

fn address() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z%!.+]{1,10}@[a-z]{1,8}\\.example".prop_map(Value::from),
        Just(json!("*@example.com")),
        "[ -~]{0,20}".prop_map(Value::from),
    ]
}

fn network() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..40).prop_map(|(o, len)| json!(format!("{}.{}.{}.{}/{len}", o[0], o[1], o[2], o[3]))),
        any::<std::net::Ipv4Addr>().prop_map(|ip| json!(ip.to_string())),
        any::<std::net::Ipv6Addr>().prop_map(|ip| json!(ip.to_string())),
        Just(json!("0.0.0.0/0")),
    ]
}

fn security() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(address(), 0..3),
        prop::sample::select(vec!["none", "allowlist", "spf", "dns"]),
        prop::collection::vec(network(), 0..3),
    )
        .prop_map(|(senders, check, ips)| json!({"allowed_senders": senders, "ip_check": check, "allowed_ips": ips}))
}

fn settings() -> impl Strategy<Value = Value> {
    let limits = prop::collection::vec((prop::sample::select(LIMITS), 0u64..100_000), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect()));
    (any::<bool>(), any::<bool>(), prop::sample::select(vec!["reject", "accept", "hold"]), limits).prop_map(
        |(reauth, foreign, reaction, limits)| {
            json!({"allow_reauthentication": reauth, "allow_foreign_sender_domains": foreign,
                   "quarantine_reaction": reaction, "limits": limits})
        },
    )
}

/// A plausible body for endpoint `i`: the right fields with values that mostly pass the
/// first checks, so that validation behind deserialisation is reached.
fn template(i: usize) -> BoxedStrategy<Map<String, Value>> {
    let object = |pairs: Vec<(&str, Value)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match ENDPOINTS[i].1 {
        "/domains" | "/domains/example.com" => (domain_name(), any::<bool>(), security(), address())
            .prop_map(move |(n, f, s, a)| {
                object(vec![("name", n), ("filter_enabled", json!(f)), ("sender_security", s), ("abuse_contact", a)])
            })
            .boxed(),
        "/accounts" | "/accounts/1" => (
            domain_name(),
            prop::sample::select(vec!["ip", "user", "domain"]),
            prop_oneof![network(), address(), domain_name()],
            prop::option::of("[ -~]{0,16}"),
            settings(),
        )
            .prop_map(move |(d, k, n, p, s)| {
                let mut o = object(vec![("domain", d), ("kind", json!(k)), ("name", n), ("settings", s)]);
                if let Some(p) = p {
                    o.insert("password".into(), json!(p));
                }
                o
            })
            .boxed(),
        "/identities" | "/identities/1" => (0i64..4, address(), any::<bool>())
            .prop_map(move |(id, n, l)| object(vec![("account_id", json!(id)), ("name", n), ("locked", json!(l))]))
            .boxed(),
        "/rules" => (
            prop::option::of(domain_name()),
            prop::sample::select(vec!["ip", "network", "sender", "recipient"]),
            prop_oneof![network(), address()],
            prop::sample::select(vec!["reject", "discard", "allow"]),
        )
            .prop_map(move |(d, k, v, a)| {
                let mut o = object(vec![("kind", json!(k)), ("value", v), ("action", json!(a))]);
                if let Some(d) = d {
                    o.insert("domain".into(), d);
                }
                o
            })
            .boxed(),
        "/tokens" => (
            "[a-z ]{0,12}",
            prop::sample::select(vec!["superadmin", "domain_admin"]),
            prop::collection::vec(domain_name(), 0..3),
        )
            .prop_map(move |(n, r, d)| object(vec![("name", json!(n)), ("role", json!(r)), ("domains", json!(d))]))
            .boxed(),
        "/spam-events" => (0i64..4, prop::option::of(address()))
            .prop_map(move |(id, who)| {
                object(vec![("account_id", json!(id)), ("identity", who.unwrap_or(Value::Null))])
            })
            .boxed(),
        _ => ("[a-z0-9-]{0,12}", prop::sample::select(vec!["ed25519", "rsa"]), 0u64..10_000_000)
            .prop_map(move |(sel, alg, n)| {
                object(vec![
                    ("selector", json!(sel)),
                    ("algorithm", json!(alg)),
                    ("grace_secs", json!(n)),
                    ("force", json!(true)),
                ])
            })
            .boxed(),
    }
}

/// A template with a few fields replaced by random values, removed, or unknown ones added;
/// then only the endpoint's fields are kept (plus the unknown ones).
fn plausible(i: usize) -> impl Strategy<Value = Vec<u8>> {
    let fields = ENDPOINTS[i].2;
    let edit = (0u8..4, prop::sample::select(fields), value());
    (template(i), prop::collection::vec(edit, 0..3)).prop_map(move |(mut body, edits)| {
        body.retain(|k, _| fields.contains(&k.as_str()));
        for (kind, field, value) in edits {
            match kind {
                0 | 1 => {
                    body.insert(field.to_string(), value);
                }
                2 => {
                    body.remove(field);
                }
                _ => {
                    body.insert("colour".into(), value);
                }
            }
        }
        Value::Object(body).to_string().into_bytes()
    })
}

/// Raw body bytes: a plausible body, a random object, a cut, or not JSON at all.
fn body(i: usize) -> impl Strategy<Value = Vec<u8>> {
    let fields = ENDPOINTS[i].2;
    let object = object_of(fields, value()).prop_map(|v| v.to_string().into_bytes()).boxed();
    prop_oneof![
        6 => plausible(i),
        3 => object.clone(),
        1 => (object, any::<prop::sample::Index>()).prop_map(|(b, at)| b[..at.index(b.len() + 1)].to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn request() -> impl Strategy<Value = (&'static str, &'static str, Vec<u8>)> {
    (0..ENDPOINTS.len()).prop_flat_map(|i| {
        let (method, path, _) = ENDPOINTS[i];
        body(i).prop_map(move |b| (method, path, b))
    })
}

/// Generating RSA keys would make each case slow: a body that would generate one gets
/// an out-of-range `bits`, so it is refused before any work (ed25519 still generates).
fn keep_fast(path: &str, body: Vec<u8>) -> Vec<u8> {
    if !path.ends_with("/dkim/keys") {
        return body;
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut map)) if map.get("algorithm") != Some(&json!("ed25519")) => {
            map.insert("bits".into(), json!(1));
            Value::Object(map).to_string().into_bytes()
        }
        _ => body,
    }
}

struct World {
    runtime: tokio::runtime::Runtime,
    api: Api,
}

fn world() -> World {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let api = runtime.block_on(async {
        let api = Api::new();
        api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
        let body = json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.1"});
        api.ok("POST", "/accounts", Some(&body), 201).await;
        api.ok("POST", "/identities", Some(&json!({"account_id": 1, "name": "x@example.com"})), 201).await;
        api
    });
    World { runtime, api }
}

thread_local! {
    static WORLD: World = world();
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn api_bodies_get_4xx_never_5xx((method, path, body) in request()) {
        let body = keep_fast(path, body);
        let answer = WORLD.with(|w| {
            let request = Request::builder()
                .method(method)
                .uri(format!("/api/v1{path}"))
                .header("authorization", format!("Bearer {}", w.api.root_secret))
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            w.runtime.block_on(w.api.send(request))
        });
        let status = answer.status.as_u16();
        let shown = String::from_utf8_lossy(&body);
        let unavailable = status == 503 && path == "/spam-events";
        prop_assert!(status < 500 || unavailable, "{method} {path} {shown}: {status} {}", answer.text);
        if status >= 400 {
            prop_assert!(answer.json.is_object(), "{method} {path} {shown}: not JSON: {}", answer.text);
        }
        if status == 400 {
            prop_assert!(answer.field().is_some(), "{method} {path} {shown}: 400 without a field: {}", answer.text);
        }
    }
}
