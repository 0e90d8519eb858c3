//! Loading real files: unknown keys and type errors name the file, line and key.

use std::io::Write;

use postern_config::{Config, Defaults, Overrides};

fn load(text: &str) -> (String, Result<Config, postern_config::ConfigError>) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let path = f.path().display().to_string();
    let defaults = Defaults { hostname: "gw.example.net".into() };
    (path, Config::load(Some(f.path()), &Overrides::default(), &defaults))
}

#[test]
fn unknown_key_is_one_line_with_file_line_and_key() {
    let (path, r) = load("hostname = \"mx.example.net\"\n\n[limits]\nmax_hopz = 3\n");
    let msg = r.unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{path}:4: limits.max_hopz: unknown field `max_hopz`")), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn wrong_type_names_key() {
    let (path, r) = load("[limits]\nmax_hops = \"many\"\n");
    let msg = r.unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{path}:2: limits.max_hops: invalid type")), "{msg}");
}

#[test]
fn the_auth_cache_ttl_is_a_number_of_seconds() {
    let (path, r) = load("[auth]\ncache_ttl = \"10m\"\n");
    let msg = r.unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{path}:2: auth.cache_ttl: invalid type: string \"10m\"")), "{msg}");
}

#[test]
fn validation_error_carries_file() {
    let (path, r) = load("trusted_networks = [\"not-a-cidr\"]\n");
    let msg = r.unwrap_err().to_string();
    assert_eq!(
        msg,
        format!("{path}:1: trusted_networks[0]: \"not-a-cidr\" is not an IP address or CIDR such as 192.0.2.0/24")
    );
}

#[test]
fn documented_example_file_loads() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/postern.example.toml")).unwrap();
    let (_, r) = load(&text);
    let c = r.unwrap();
    assert_eq!(c.hostname, "mail.example.net");
}

#[test]
fn example_file_shows_the_listener_policy_defaults() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/postern.example.toml")).unwrap();
    let c = load(&text).1.unwrap();
    let smtp = c.listeners.iter().find(|l| l.kind == postern_config::ListenerKind::Smtp).unwrap();
    let defaults = postern_config::ConnectionPolicy {
        event_limit_exceptions: c.trusted_networks.clone(),
        ..postern_config::ConnectionPolicy::default()
    };
    assert_eq!(smtp.policy, defaults);
}

#[test]
fn listener_policy_errors_name_file_line_and_key() {
    let (path, r) = load("[listeners.submission]\nsoft_error_limit = 5000\n");
    assert_eq!(
        r.unwrap_err().to_string(),
        format!("{path}:2: listeners.submission.soft_error_limit: 5000 is out of range 0..=1000")
    );
    let (path, r) = load("[listeners.smtp]\nmonitor = [\"require_fcrdns\"]\n");
    assert_eq!(
        r.unwrap_err().to_string(),
        format!("{path}:2: listeners.smtp.monitor[0]: \"require_fcrdns\" is not turned on for this listener")
    );
}

/// Found by fuzzing (`prop_config.rs`): a quoted TOML key may hold a newline, and the
/// error that names it was printed over two lines (a forged second log line).
#[test]
fn errors_stay_on_one_line_when_a_key_holds_control_characters() {
    let (path, r) = load("[delivery.mx_overrides]\n\"x\\ny\" = \"not a host\"\n");
    let msg = r.unwrap_err().to_string();
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg:?}");
    assert!(msg.starts_with(&format!("{path}: delivery.mx_overrides.x\\ny: ")), "{msg}");
}

#[test]
fn the_scorer_minimum_is_read_and_checked() {
    let c = load("[scorer]\nmin_ham = 5\nmin_spam = 7\n").1.unwrap();
    assert_eq!(c.scorer, postern_config::ScorerConfig { min_ham: 5, min_spam: 7 });
    assert_eq!(load("").1.unwrap().scorer, postern_config::ScorerConfig { min_ham: 200, min_spam: 200 });
    let (path, r) = load("[scorer]\nmin_spam = 0\n");
    let msg = r.unwrap_err().to_string();
    assert_eq!(msg, format!("{path}:2: scorer.min_spam: 0 is out of range 1..=10000000"));
    assert!(load("[scorer]\nmin_hams = 5\n").1.is_err());
}

#[test]
fn the_domain_age_section_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("new-domains.txt");
    std::fs::write(&feed, "young.example 2026-07-01\n").unwrap();
    let text =
        format!("[domain_age]\nfeed = \"{}\"\nrdap = false\ntimeout = 1.5\ncache_not_found = 600\n", feed.display());
    let c = load(&text).1.unwrap().domain_age;
    assert_eq!(c.feed.as_deref(), Some(feed.as_path()));
    assert!(!c.rdap && c.bootstrap.is_none());
    assert_eq!((c.timeout.as_millis(), c.cache_not_found.as_secs(), c.cache_error.as_secs()), (1500, 600, 300));
    assert_eq!(load("").1.unwrap().domain_age, postern_config::DomainAgeConfig::default());
    let (path, r) = load("[domain_age]\nbootstrap = \"/nonexistent/dns.json\"\n");
    let msg = r.unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{path}:2: domain_age.bootstrap: cannot read /nonexistent/dns.json")), "{msg}");
    assert!(load("[domain_age]\nrdap_servers = 1\n").1.is_err(), "unknown keys are refused");
}

#[test]
fn example_file_shows_the_attachment_defaults() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/postern.example.toml")).unwrap();
    assert!(text.contains("\n[attachments]\n"));
    let c = load(&text).1.unwrap();
    assert_eq!(c.attachments, postern_config::AttachmentsConfig::default());
}

#[test]
fn the_log_retention_is_read_and_checked() {
    assert_eq!(load("").1.unwrap().log.retention_days, 30, "the default");
    for days in [1, 90, 3650] {
        assert_eq!(load(&format!("[log]\nretention_days = {days}\n")).1.unwrap().log.retention_days, days);
    }
    for bad in ["0", "3651", "-1"] {
        let (path, r) = load(&format!("[log]\nretention_days = {bad}\n"));
        let msg = r.unwrap_err().to_string();
        assert_eq!(msg, format!("{path}:2: log.retention_days: {bad} is not between 1 and 3650"), "{bad}");
    }
    let (path, r) = load("[log]\nretention_days = 1.5\n");
    assert!(r.unwrap_err().to_string().starts_with(&format!("{path}:2: log.retention_days: invalid type")));
}

#[test]
fn the_store_backend_is_read_and_checked() {
    use postern_config::StoreConfig;
    assert_eq!(load("").1.unwrap().store, StoreConfig::Sqlite, "the default: no server needed");
    assert_eq!(load("[store]\nbackend = \"sqlite\"\n").1.unwrap().store, StoreConfig::Sqlite);
    let pg = load("[store]\nbackend = \"postgres\"\nurl = \"host=127.0.0.1 dbname=postern\"\n").1.unwrap();
    assert_eq!(
        pg.store,
        StoreConfig::Postgres { url: "host=127.0.0.1 dbname=postern".into(), pool_size: 8, ca_file: None }
    );
    let sized = load("[store]\nbackend = \"postgres\"\nurl = \"postgres://p@db/postern\"\npool_size = 2\n").1.unwrap();
    assert_eq!(
        sized.store,
        StoreConfig::Postgres { url: "postgres://p@db/postern".into(), pool_size: 2, ca_file: None }
    );
    let tls =
        load("[store]\nbackend = \"postgres\"\nurl = \"host=db\"\nca_file = \"/etc/postern/db-ca.pem\"\n").1.unwrap();
    let ca_file = Some(std::path::PathBuf::from("/etc/postern/db-ca.pem"));
    assert_eq!(tls.store, StoreConfig::Postgres { url: "host=db".into(), pool_size: 8, ca_file });
    for (text, key) in [
        ("[store]\nbackend = \"postgres\"\n", "store.url: required"),
        ("[store]\nbackend = \"postgres\"\nurl = \"x\"\npool_size = 0\n", "store.pool_size: 0 is not 1 to 64"),
        ("[store]\nbackend = \"postgres\"\nurl = \"x\"\npool_size = 65\n", "store.pool_size: 65 is not 1 to 64"),
        ("[store]\nurl = \"host=db\"\n", "store.url: set, but store.backend is not \"postgres\""),
        ("[store]\npool_size = 4\n", "store.pool_size: set, but store.backend is not \"postgres\""),
        ("[store]\nca_file = \"/etc/ca.pem\"\n", "store.ca_file: set, but store.backend is not \"postgres\""),
        ("[store]\nbackend = \"postgres\"\nurl = \"x\"\nca_file = \"\"\n", "store.ca_file: empty"),
        ("[store]\nbackend = \"mysql\"\n", "store.backend: \"mysql\" is not one of \"sqlite\", \"postgres\""),
        ("[store]\nschema = \"x\"\n", "store.schema: unknown field"),
    ] {
        let msg = load(text).1.unwrap_err().to_string();
        assert!(msg.contains(key), "{text:?}: {msg}");
    }
}
