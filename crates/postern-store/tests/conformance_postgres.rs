//! The directory, DKIM, quarantine and panel users conformance suites against PostgreSQL,
//! unchanged:
//! the server at 127.0.0.1:5432, database `test` (`POSTERN_TEST_POSTGRES` may name
//! another), each case in a fresh schema of its own (`t_<pid>_<nanos>_<n>`), every schema
//! dropped at the end, also when a case fails (a drop guard). PostgreSQL unreachable: the
//! tests fail and say so; CI runs the server.
//!
//! Beside the suites: the blocking bridge called from inside async code, two stores (two
//! nodes) racing on one schema, and an unreachable server reported as unavailable.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::tenancy::{AccountKind, AccountSettings, SenderSecurity};
use postern_store::conformance::{self, DkimBackend};
use postern_store::{DirectoryStore, NewAccount, NewDomain, PgConfig, PgStore, QuarantineStore, StoreError};

const DEFAULT_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

fn url() -> String {
    std::env::var("POSTERN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A helper runtime for the guard's own statements (the tests themselves are blocking).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime")
}

/// Runs `sql` on a connection of its own; panics with a clear message when the server
/// cannot be reached.
fn admin(sql: &str) {
    let url = url();
    runtime().block_on(async {
        let connect = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        let (client, connection) = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
                panic!(
                    "PostgreSQL at {url:?} is not reachable ({e}{cause}): these tests need it (CI runs it; \
                     set POSTERN_TEST_POSTGRES to use another server)"
                )
            }
            Err(_) => panic!("PostgreSQL at {url:?} did not answer within 10 s"),
        };
        let connection = tokio::spawn(connection);
        if let Err(e) = client.batch_execute(sql).await {
            panic!("{sql}: {e}");
        }
        drop(client);
        let _ = connection.await;
    });
}

/// The schemas one test made; dropped with it, whether it passed or panicked.
struct Schemas {
    prefix: String,
    made: RefCell<Vec<String>>,
}

impl Schemas {
    fn new(test: &str) -> Schemas {
        // Fails here, with the message above, when the server is away.
        admin("SELECT 1");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Schemas { prefix: format!("t_{}_{nanos}_{test}", std::process::id()), made: RefCell::new(Vec::new()) }
    }

    /// A fresh schema's name (created by the store that opens it).
    fn next(&self) -> String {
        let mut made = self.made.borrow_mut();
        let name = format!("{}_{}", self.prefix, made.len() + 1);
        made.push(name.clone());
        name
    }

    fn open(&self, schema: &str) -> PgStore {
        let config = PgConfig { url: url(), pool_size: 4, schema: Some(schema.to_owned()) };
        match PgStore::open(&config) {
            Ok(store) => store,
            Err(e) => panic!("open PostgreSQL schema {schema}: {e}"),
        }
    }

    fn fresh(&self) -> PgStore {
        let schema = self.next();
        self.open(&schema)
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let made = self.made.borrow();
        if made.is_empty() {
            return;
        }
        let sql: String = made.iter().map(|s| format!("DROP SCHEMA IF EXISTS {s} CASCADE;")).collect();
        // A panic here while a case's panic unwinds would abort: report and go on.
        let outcome = std::panic::catch_unwind(|| admin(&sql));
        if outcome.is_err() {
            eprintln!("could not drop the test schemas {made:?}");
        }
    }
}

#[test]
fn postgres_passes_the_directory_conformance_suite() {
    let schemas = Schemas::new("dir");
    let make = || -> Box<dyn DirectoryStore> { Box::new(schemas.fresh()) };
    conformance::run_all(&make);
    assert_eq!(schemas.made.borrow().len(), conformance::CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_dkim_conformance_suite() {
    let schemas = Schemas::new("dkim");
    let make = || -> Box<dyn DkimBackend> { Box::new(schemas.fresh()) };
    conformance::run_dkim(&make);
    assert_eq!(schemas.made.borrow().len(), conformance::DKIM_CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_quarantine_conformance_suite() {
    let schemas = Schemas::new("quarantine");
    let make = || -> Box<dyn QuarantineStore> { Box::new(schemas.fresh()) };
    conformance::run_quarantine(&make);
    assert_eq!(schemas.made.borrow().len(), conformance::QUARANTINE_CASES.len(), "one fresh store per case");
}

#[test]
fn postgres_passes_the_admin_users_conformance_suite() {
    let schemas = Schemas::new("admin_users");
    let make = || -> Box<dyn postern_store::AdminUserStore> { Box::new(schemas.fresh()) };
    conformance::run_admin_users(&make);
    assert_eq!(schemas.made.borrow().len(), conformance::ADMIN_USER_CASES.len(), "one fresh store per case");
}

#[test]
fn migrations_run_once_and_a_second_node_finds_them_done() {
    let schemas = Schemas::new("migrate");
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
    let schemas = Schemas::new("bridge");
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
    let schemas = Schemas::new("race");
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
    let config = PgConfig { url: "host=127.0.0.1 port=1 user=postgres dbname=test".into(), pool_size: 1, schema: None };
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
    let schemas = Schemas::new("reconnect");
    let schema = schemas.next();
    let name = format!("postern_reconnect_{}", std::process::id());
    let config = PgConfig { url: format!("{} application_name={name}", url()), pool_size: 2, schema: Some(schema) };
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
    let schemas = Schemas::new("bodies");
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
    let schemas = Schemas::new("scorer");
    let make = || -> Box<dyn postern_store::ScorerStore> { Box::new(schemas.fresh()) };
    let writers = || -> Box<dyn Fn() -> Arc<dyn postern_store::ScorerStore>> {
        let schema = schemas.next();
        // The first handle creates the schema; the others (other nodes) find it.
        let config = PgConfig { url: url(), pool_size: 2, schema: Some(schema) };
        Box::new(move || match PgStore::open(&config) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("open a writer: {e}"),
        })
    };
    conformance::run_scorer(&make, &writers);
}
