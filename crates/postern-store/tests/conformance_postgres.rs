//! The directory, DKIM, quarantine, panel users and log search conformance suites against
//! PostgreSQL, unchanged:
//! the server at 127.0.0.1:5432, database `test` (`POSTERN_TEST_POSTGRES` may name
//! another), each case in a fresh schema of its own (`t_<pid>_<nanos>_<n>`), every schema
//! dropped at the end, also when a case fails (a drop guard). PostgreSQL unreachable: the
//! tests fail and say so; CI runs the server.
//!
//! Beside the suites: the blocking bridge called from inside async code, two stores (two
//! nodes) racing on one schema, two nodes' event logs in one (each node's sessions apart,
//! the tenant wall across nodes), and an unreachable server reported as unavailable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::tenancy::{AccountKind, AccountSettings, SenderSecurity};
use postern_store::conformance::{self, DkimBackend};
use postern_store::postgres::testing::{TestSchemas, admin, url};
use postern_store::{DirectoryStore, NewAccount, NewDomain, PgConfig, PgStore, QuarantineStore, StoreError};

/// A helper runtime for statements of the tests' own (the tests themselves are blocking).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime")
}

#[test]
fn postgres_passes_the_directory_conformance_suite() {
    let schemas = TestSchemas::new("t", "dir");
    let make = || -> Box<dyn DirectoryStore> { Box::new(schemas.fresh()) };
    conformance::run_all(&make);
    assert_eq!(schemas.count(), conformance::CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_dkim_conformance_suite() {
    let schemas = TestSchemas::new("t", "dkim");
    let make = || -> Box<dyn DkimBackend> { Box::new(schemas.fresh()) };
    conformance::run_dkim(&make);
    assert_eq!(schemas.count(), conformance::DKIM_CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_quarantine_conformance_suite() {
    let schemas = TestSchemas::new("t", "quarantine");
    let make = || -> Box<dyn QuarantineStore> { Box::new(schemas.fresh()) };
    conformance::run_quarantine(&make);
    assert_eq!(schemas.count(), conformance::QUARANTINE_CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_admin_users_conformance_suite() {
    let schemas = TestSchemas::new("t", "admin_users");
    let make = || -> Box<dyn postern_store::AdminUserStore> { Box::new(schemas.fresh()) };
    conformance::run_admin_users(&make);
    assert_eq!(schemas.count(), conformance::ADMIN_USER_CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_log_search_conformance_suite() {
    let schemas = TestSchemas::new("t", "log");
    let make = || -> Box<dyn conformance::LogBackend> { Box::new(schemas.fresh()) };
    conformance::run_log(&make);
    assert_eq!(schemas.count(), conformance::LOG_CASES.len(), "one fresh store per case");
}

#[test]
fn migrations_run_once_and_a_second_node_finds_them_done() {
    let schemas = TestSchemas::new("t", "migrate");
    let schema = schemas.next();
    let first = schemas.open(&schema);
    let second = schemas.open(&schema);
    let latest = PgStore::latest_schema_version();
    assert_eq!(first.schema_version().unwrap(), latest);
    assert_eq!(second.schema_version().unwrap(), latest);
}

fn domain(name: &str) -> NewDomain {
    NewDomain {
        name: name.into(),
        filter_enabled: true,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
    }
}

fn ip_account(range: &str) -> NewAccount {
    NewAccount {
        domain: "example.com".into(),
        kind: AccountKind::Ip,
        name: range.into(),
        password_hash: None,
        settings: AccountSettings::for_kind(AccountKind::Ip),
    }
}

#[test]
fn the_bridge_works_from_async_code_of_either_flavour() {
    let schemas = TestSchemas::new("t", "bridge");
    let store = Arc::new(schemas.fresh());
    store.create_domain(&domain("example.com")).unwrap();

    // A call on a current-thread runtime's only thread: no "runtime within a runtime".
    let current = runtime();
    let found = current.block_on({
        let store = Arc::clone(&store);
        async move { store.domain("example.com") }
    });
    assert_eq!(found.unwrap().map(|d| d.name), Some("example.com".to_owned()));

    // From tasks of a multi-thread runtime, at once.
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let names = multi.block_on({
        let store = Arc::clone(&store);
        async move {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let store = Arc::clone(&store);
                    tokio::spawn(async move { store.create_domain(&domain(&format!("d{i}.example"))).map(|d| d.name) })
                })
                .collect();
            let mut names = Vec::new();
            for task in tasks {
                names.push(task.await.unwrap().unwrap());
            }
            names
        }
    });
    assert_eq!(names.len(), 8);

    // The last owner dropped inside async code: no panic either.
    current.block_on(async move { drop(store) });
}

#[test]
fn two_nodes_racing_for_overlapping_ranges_get_one_account() {
    let schemas = TestSchemas::new("t", "race");
    let schema = schemas.next();
    let nodes = [Arc::new(schemas.open(&schema)), Arc::new(schemas.open(&schema))];
    nodes[0].create_domain(&domain("example.com")).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let node = Arc::clone(&nodes[i % 2]);
            // Nested ranges, none equal: only the overlap check can refuse them.
            std::thread::spawn(move || node.create_account(&ip_account(&format!("10.0.0.0/{}", 8 + i))))
        })
        .collect();
    let mut created = 0;
    for thread in threads {
        match thread.join().unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::RangeOverlap { .. }) => {}
            Err(other) => panic!("expected a range overlap, got {other:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one of the nested ranges is an account");
}

#[test]
fn an_unreachable_server_is_unavailable_quickly() {
    let started = Instant::now();
    // Nothing listens on port 1 of the loopback.
    let config = PgConfig {
        url: "host=127.0.0.1 port=1 user=postgres dbname=test".into(),
        pool_size: 1,
        schema: None,
        ca_file: None,
    };
    match PgStore::open(&config) {
        Err(e) => {
            assert!(e.is_unavailable(), "expected unavailable, got {e:?}");
            assert!(e.to_string().contains("refused"), "the text names the cause: {e}");
        }
        Ok(_) => panic!("opened a store on a closed port"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn lost_connections_are_replaced_without_a_restart() {
    let schemas = TestSchemas::new("t", "reconnect");
    let schema = schemas.next();
    let name = format!("postern_reconnect_{}", std::process::id());
    let config = PgConfig {
        url: format!("{} application_name={name}", url()),
        pool_size: 2,
        schema: Some(schema),
        ca_file: None,
    };
    let store = PgStore::open(&config).unwrap();
    store.create_domain(&domain("example.com")).unwrap();
    // What a server restart does to the pool: every connection ends.
    admin(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"));
    std::thread::sleep(Duration::from_millis(100));
    let mut failures = 0;
    let found = loop {
        match store.domain("example.com") {
            Ok(found) => break found,
            Err(e) if e.is_unavailable() && failures < 2 => failures += 1,
            Err(e) => panic!("after {failures} failures: {e:?}"),
        }
    };
    assert_eq!(found.map(|d| d.name), Some("example.com".to_owned()));
    assert!(failures <= 2, "a dead connection fails at most one call each");
}

/// Held messages' bytes (the quarantine of a cluster): stored once under a queue id, read
/// back bounded from another node, listed by age for the start-up sweep, set aside when
/// corrupt, removed idempotently.
#[test]
fn held_bodies_are_shared_bounded_listed_by_age_and_set_aside() {
    use postern_store::HeldBodyStore;
    let schemas = TestSchemas::new("t", "bodies");
    let schema = schemas.next();
    let (one, other) = (schemas.open(&schema), schemas.open(&schema));
    one.put_held_body("Q1", b"first bytes", 1_000).unwrap();
    one.put_held_body("Q2", &[7u8; 300], 5_000).unwrap();
    assert!(matches!(other.put_held_body("Q1", b"again", 2_000), Err(StoreError::Conflict(_))), "one body a key");
    assert_eq!(other.held_body("Q1", 100).unwrap().as_deref(), Some(&b"first bytes"[..]), "read by another node");
    assert!(other.held_body("Q2", 299).is_err(), "over the bound: an error, not the bytes");
    assert_eq!(other.held_body("Q2", 300).unwrap().map(|b| b.len()), Some(300));
    assert_eq!(other.held_body("nothing", 100).unwrap(), None);
    assert_eq!(other.held_body_keys(2_000, 10).unwrap(), vec!["Q1".to_string()], "only the older than asked");
    assert_eq!(other.held_body_keys(10_000, 10).unwrap(), vec!["Q1".to_string(), "Q2".to_string()]);
    assert_eq!(other.held_body_keys(10_000, 1).unwrap().len(), 1, "bounded");
    other.set_held_body_corrupt("Q1").unwrap();
    assert_eq!(one.held_body("Q1", 100).unwrap(), None, "a corrupt body is never read");
    assert_eq!(one.held_body_keys(10_000, 10).unwrap(), vec!["Q2".to_string()], "nor swept again");
    one.remove_held_body("Q2").unwrap();
    one.remove_held_body("Q2").unwrap();
    assert_eq!(other.held_body("Q2", 1_000).unwrap(), None);
}

#[test]
fn postgres_passes_the_scorer_conformance_suite() {
    let schemas = TestSchemas::new("t", "scorer");
    let make = || -> Box<dyn postern_store::ScorerStore> { Box::new(schemas.fresh()) };
    let writers = || -> Box<dyn Fn() -> Arc<dyn postern_store::ScorerStore>> {
        let schema = schemas.next();
        // The first handle creates the schema; the others (other nodes) find it.
        let config = PgConfig { url: url(), pool_size: 2, schema: Some(schema), ca_file: None };
        Box::new(move || match PgStore::open(&config) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("open a writer: {e}"),
        })
    };
    conformance::run_scorer(&make, &writers);
}

mod two_nodes {
    //! Two nodes (two stores, two writers) sharing one event log.

    use postern_core::{CheckRecord, Disposition, Event, EventKind, QueueId};
    use postern_store::{EventStore, LogQuery, LogSearch, MessageKey, MessageStatus, Scope};

    use super::*;

    const T0: i64 = 1_700_000_000_000;
    /// Both nodes' first session, from the same client: session numbers restart at 1 in
    /// every process.
    const SESSION: u64 = 1;

    fn ev(at_ms: i64, queue_id: Option<QueueId>, kind: EventKind) -> Event {
        Event { at_ms, session: SESSION, client_ip: "192.0.2.10".parse().unwrap(), queue_id, kind }
    }

    /// A whole message's life on one node: connect, checked, queued, delivered, disconnect.
    fn message(at: i64, q: QueueId, domain: &str, listener: &str) -> Vec<Event> {
        let check = CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: None,
            result: "pass".into(),
            part: None,
            score: None,
            micros: 1,
        };
        vec![
            ev(at, None, EventKind::Connect { client_port: 1, listener: listener.into() }),
            ev(
                at + 1,
                Some(q),
                EventKind::Checked { disposition: Disposition::Deliver, checks: vec![check], message: None },
            ),
            ev(
                at + 2,
                Some(q),
                EventKind::Queued {
                    size: 10,
                    sender: format!("a@{domain}"),
                    recipients: vec!["x@example.net".into()],
                    tls: None,
                    message_id: None,
                    account: Some(format!("acct-{domain}")),
                    account_id: Some(1),
                    domain: Some(domain.into()),
                    sender_domain: Some(domain.into()),
                    identity: None,
                    subject: Some(format!("from {listener}")),
                },
            ),
            ev(
                at + 3,
                Some(q),
                EventKind::Delivery {
                    recipient: "x@example.net".into(),
                    result: "delivered".into(),
                    status: "2.0.0".into(),
                    reply: "250 2.0.0 Ok".into(),
                    remote: None,
                    attempt: 1,
                    destination: "example.net".into(),
                    duration_ms: None,
                    queued_at_ms: None,
                },
            ),
            ev(at + 4, None, EventKind::Disconnect { messages: 1, duration_ms: 4, reason: "QUIT".into() }),
        ]
    }

    #[test]
    fn each_node_finds_the_others_messages_with_their_own_session_only() {
        let schemas = TestSchemas::new("t", "log_nodes");
        let schema = schemas.next();
        let (a, b) = (schemas.open(&schema), schemas.open(&schema));
        let (on_a, on_b) = (QueueId::generate(), QueueId::generate());
        // Interleaved in time, same session number and client: only the writer tells them apart.
        a.append(&message(T0, on_a, "a.example", "node-a")).unwrap();
        b.append(&message(T0 + 2, on_b, "b.example", "node-b")).unwrap();

        let found = a.search(&Scope::All, &LogQuery { queue_id: Some(on_b), ..LogQuery::default() }).unwrap();
        assert_eq!(found.items.len(), 1, "node A finds node B's message");
        assert_eq!(found.items[0].status, MessageStatus::Delivered);
        let t = a.timeline(&Scope::All, &MessageKey::QueueId(on_b)).unwrap().expect("B's timeline on A");
        let steps: Vec<(&str, &str)> = t.steps.iter().map(|s| (s.kind.as_str(), s.summary.as_str())).collect();
        let kinds: Vec<&str> = steps.iter().map(|s| s.0).collect();
        assert_eq!(kinds, ["connect", "checked", "queued", "delivery", "disconnect"], "{steps:?}");
        assert!(steps[0].1.contains("node-b"), "B's own connect, not A's: {steps:?}");

        // The wall holds across nodes: a.example's admin on node B sees only A's message.
        let tenant = Scope::Domains(vec!["a.example".into()]);
        let mine = b.search(&tenant, &LogQuery::default()).unwrap();
        let ids: Vec<Option<String>> = mine.items.iter().map(|m| m.queue_id.clone()).collect();
        assert_eq!(ids, vec![Some(on_a.to_string())]);
        assert!(b.timeline(&tenant, &MessageKey::QueueId(on_b)).unwrap().is_none());
        let hours = b.hourly(&tenant, T0, T0 + 3_600_000).unwrap();
        assert_eq!(hours.iter().map(|h| h.received).sum::<u64>(), 1, "{hours:?}");
        let all = a.hourly(&Scope::All, T0, T0 + 3_600_000).unwrap();
        assert_eq!(all.iter().map(|h| (h.received, h.delivered)).collect::<Vec<_>>(), vec![(2, 2)]);
    }

    #[test]
    fn two_nodes_writing_at_once_lose_nothing() {
        let schemas = TestSchemas::new("t", "log_race");
        let schema = schemas.next();
        let nodes = [Arc::new(schemas.open(&schema)), Arc::new(schemas.open(&schema))];
        // Both nodes report on the same queue ids at once (the worst case: one makes a row
        // the other makes too), in batches of 50 messages.
        let shared: Vec<QueueId> = (0..200).map(|_| QueueId::generate()).collect();
        let threads: Vec<_> = (0..2)
            .map(|n| {
                let node = Arc::clone(&nodes[n]);
                let shared = shared.clone();
                std::thread::spawn(move || {
                    for chunk in shared.chunks(50) {
                        let events: Vec<Event> = chunk
                            .iter()
                            .flat_map(|q| message(T0 + n as i64 * 10, *q, "race.example", "race"))
                            .collect();
                        node.append(&events).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut seen = 0;
        let mut query = LogQuery { limit: 500, ..LogQuery::default() };
        loop {
            let page = nodes[0].search(&Scope::All, &query).unwrap();
            seen += page.items.len();
            assert!(page.items.iter().all(|m| m.recipient_count == 1), "one recipient each, never twice");
            let Some(next) = page.next else { break };
            query.before = postern_store::LogCursor::parse(&next);
        }
        assert_eq!(seen, 200, "one row per queue id");
        let stored = nodes[1].query(&postern_store::EventQuery { limit: 10_000, ..Default::default() }).unwrap();
        assert_eq!(stored.len(), 2 * 200 * 5, "every event of both nodes");
    }
}

/// One row of the first column of `sql`, as text, on a connection of its own.
fn ask(sql: &str) -> String {
    let url = url();
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
        let connection = tokio::spawn(connection);
        let row = client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let text: String = row.get(0);
        drop(client);
        let _ = connection.await;
        text
    })
}

/// TLS to PostgreSQL: with the server's certificate authority as `ca_file`, every
/// connection of the store is TLS (the server's `pg_stat_ssl` says so); the certificate is
/// verified, chain and name: another authority's certificate does not vouch for it, and a
/// name the certificate is not for is refused, never a fall back to the clear. Uses the machine's server with its own certificate (`ssl = on`, Debian's
/// snakeoil for `localhost`).
#[test]
fn tls_is_verified_against_the_ca_file_and_never_falls_back() {
    let schemas = TestSchemas::new("t", "tls");
    assert_eq!(ask("SHOW ssl"), "on", "this test needs the server's ssl = on (Debian's default)");
    let certificate = std::path::PathBuf::from(ask("SHOW ssl_cert_file"));
    let schema = schemas.next();
    let name = format!("postern_tls_{}", std::process::id());
    let tls_url = format!("host=localhost user=postgres dbname=test application_name={name}");
    let config = |url: String, ca_file: Option<std::path::PathBuf>| PgConfig {
        url,
        pool_size: 2,
        schema: Some(schema.clone()),
        ca_file,
    };
    let store = PgStore::open(&config(tls_url.clone(), Some(certificate.clone()))).expect("TLS with the CA file");
    store.create_domain(&domain("example.com")).unwrap();
    let sql = format!(
        "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = '{name}'"
    );
    let states = ask(&sql);
    assert!(!states.is_empty() && states.split(',').all(|s| s == "true"), "every connection is TLS: {states}");
    drop(store);

    // Another authority (any public root of the system's bundle) does not vouch for it.
    let other_ca = std::fs::read_dir("/usr/share/ca-certificates/mozilla")
        .expect("the system's CA bundle (ca-certificates)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "crt"))
        .expect("a public root certificate");
    match PgStore::open(&config(tls_url.clone(), Some(other_ca))) {
        Err(e) => assert!(e.to_string().to_lowercase().contains("certificate"), "the text names the cause: {e}"),
        Ok(_) => panic!("a certificate accepted by an authority that did not sign it"),
    }
    let wrong_name =
        config(format!("host=127.0.0.1 user=postgres dbname=test application_name={name}"), Some(certificate));
    match PgStore::open(&wrong_name) {
        Err(e) => assert!(e.to_string().to_lowercase().contains("certificate"), "the text names the cause: {e}"),
        Ok(_) => panic!("a certificate for localhost accepted for 127.0.0.1"),
    }
    let missing = config(tls_url, Some("/nonexistent/ca.pem".into()));
    match PgStore::open(&missing) {
        Err(e) => assert!(e.to_string().contains("ca_file"), "names the setting: {e}"),
        Ok(_) => panic!("a missing CA file accepted"),
    }
}
