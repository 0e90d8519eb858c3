//! Policy evaluation per message with a large directory (issues 5 and 16), on SQLite and on
//! PostgreSQL in one run:
//!
//! ```text
//! cargo run --release -p postern-policy --example policy_bench -- \
//!     --accounts 1000000 --identities 10000000 --store sqlite,postgres \
//!     --counters embedded,redis --db /tmp/bench.db \
//!     --url "host=127.0.0.1 user=postgres dbname=test"
//! ```
//!
//! Each store is filled once with `--accounts` user accounts over 1,000 domains and
//! `--identities` identities spread over them (`fill.rs`): SQLite in `--db` (reused on
//! later runs with the same file), PostgreSQL in a schema of its own that is dropped at
//! the end (`--pg-schema NAME` uses, fills if empty, and keeps that schema instead).
//! Per store it then measures:
//! - the start-up load: the store's directory snapshot, and building the in-memory index;
//! - per message, for each of `--counters`, everything the SMTP path asks the policy
//!   between AUTH and the spool: the session counted against the account's five session
//!   windows, MAIL (lock state, domain enabled, sender owned, sender security), RCPT
//!   (relay, daily recipients), the owner and identity, and the identity's lock (kept in
//!   memory) and daily recipients. Each message picks a random account (an application
//!   server authenticated as a user account) and one of its identities, named in an
//!   `X-Client-ID` header. Prints median and p99. The index is in memory whichever store
//!   it was loaded from;
//! - one account changed through the API (`change.rs`): on the node that made it, and,
//!   on PostgreSQL, on another node through the cluster's change feed.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::BoxFuture;
use postern_core::tenancy::LockState;
use postern_core::{Address, Verdict};
use postern_counters::{Clock, Counters, SystemClock};
use postern_policy::{Attribution, Directory, DirectoryIndex, LimitVerdict, Limits, LockWriter, Locks, RelayPolicy};
use postern_store::{DirectoryStore, PgConfig, PgStore, SqliteStore};
use rand::Rng;

mod change;
mod fill;

use fill::{identity, user};

struct Args {
    db: PathBuf,
    url: String,
    pg_schema: Option<String>,
    stores: Vec<String>,
    accounts: usize,
    identities: usize,
    counters: Vec<String>,
    messages: usize,
    changes: usize,
}

fn args() -> Args {
    let mut a = Args {
        db: PathBuf::from("/tmp/postern-policy-bench.db"),
        url: "host=127.0.0.1 user=postgres dbname=test".into(),
        pg_schema: None,
        stores: vec!["sqlite".into()],
        accounts: 1_000_000,
        identities: 10_000_000,
        counters: vec!["embedded".into()],
        messages: 100_000,
        changes: 20,
    };
    let list = |v: &str| v.split(',').map(str::to_owned).collect::<Vec<_>>();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--db" => a.db = PathBuf::from(value),
            "--url" => a.url = value,
            "--pg-schema" => a.pg_schema = Some(value),
            "--store" => a.stores = list(&value),
            "--accounts" => a.accounts = value.parse().expect("--accounts N"),
            "--identities" => a.identities = value.parse().expect("--identities N"),
            "--counters" => a.counters = list(&value),
            "--messages" => a.messages = value.parse().expect("--messages N"),
            "--changes" => a.changes = value.parse().expect("--changes N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Lock states from the directory, as the server's StoreLocks answers them (writes are
/// not part of the measured path).
struct Locked(Arc<Directory>);

impl LockWriter for Locked {
    fn set_account_lock(&self, _: i64, _: LockState) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn set_identity_lock(&self, _: i64, _: String, _: LockState) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn identity_lock(&self, account_id: i64, identity: &str) -> Option<LockState> {
        self.0.identity_lock(account_id, identity)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// A connection of the benchmark's own (bulk fill, dropping the schema).
async fn connect(url: &str, schema: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"))
        .await
        .expect("schema");
    client
}

#[tokio::main]
async fn main() {
    let a = args();
    for name in a.stores.clone() {
        match name.as_str() {
            "sqlite" => {
                let fresh = !a.db.exists();
                let store = Arc::new(SqliteStore::open(&a.db).expect("open store"));
                if fresh {
                    fill::sqlite(&store, a.accounts, a.identities);
                }
                let directory = load("sqlite", store.as_ref(), &a);
                per_message("sqlite", &directory, &a).await;
                let s = Arc::clone(&store);
                let d = Arc::clone(&directory);
                let accounts = a.accounts;
                let changes = a.changes;
                let line = tokio::task::spawn_blocking(move || change::on_this_node(s.as_ref(), &d, accounts, changes))
                    .await
                    .expect("task");
                println!("sqlite: one account changed, on this node: {line}");
            }
            "postgres" => postgres(&a).await,
            other => panic!("--store sqlite,postgres, not {other}"),
        }
    }
}

async fn postgres(a: &Args) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let (schema, keep) = match &a.pg_schema {
        Some(s) => (s.clone(), true),
        None => (format!("bench_policy_{}_{nanos}", std::process::id()), false),
    };
    let client = connect(&a.url, &schema).await;
    let config = PgConfig { url: a.url.clone(), pool_size: 4, schema: Some(schema.clone()), ca_file: None };
    let store = {
        let config = config.clone();
        Arc::new(tokio::task::spawn_blocking(move || PgStore::open(&config)).await.expect("task").expect("open store"))
    };
    let filled: i64 = client.query_one("SELECT COUNT(*) FROM accounts", &[]).await.expect("count").get(0);
    if filled == 0 {
        fill::postgres(store.as_ref(), &client, a.accounts, a.identities).await;
    }
    let directory = {
        let (s, accounts, identities) = (Arc::clone(&store), a.accounts, a.identities);
        tokio::task::spawn_blocking(move || load_with("postgres", s.as_ref(), accounts, identities))
            .await
            .expect("task")
    };
    per_message("postgres", &directory, a).await;
    let line = {
        let (s, d, accounts, changes) = (Arc::clone(&store), Arc::clone(&directory), a.accounts, a.changes);
        tokio::task::spawn_blocking(move || change::on_this_node(s.as_ref(), &d, accounts, changes))
            .await
            .expect("task")
    };
    println!("postgres: one account changed, on this node: {line}");
    let line =
        change::through_the_feed(Arc::clone(&store), &config, Arc::clone(&directory), a.accounts, a.changes).await;
    println!("postgres: one account changed, on another node through the change feed: {line}");
    drop(directory);
    drop(store);
    if !keep {
        client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop schema");
        eprintln!("schema {schema} dropped");
    }
}

fn load(name: &str, store: &dyn DirectoryStore, a: &Args) -> Arc<Directory> {
    load_with(name, store, a.accounts, a.identities)
}

/// The start-up load: the snapshot, the index, and the kept identity lock states.
fn load_with(name: &str, store: &dyn DirectoryStore, accounts: usize, identities: usize) -> Arc<Directory> {
    let started = Instant::now();
    let snapshot = store.snapshot().expect("snapshot");
    let snapshot_secs = started.elapsed().as_secs_f64();
    let loaded = snapshot.accounts.len();
    assert_eq!(loaded, accounts, "the store holds another directory (another --accounts?)");
    let identity_locks = snapshot.identity_locks;
    // Each account is an application server that names its customer in a header: the
    // identities are the header values (as the fill registered them).
    let accounts_with_header_identities = snapshot.accounts.into_iter().map(|mut r| {
        r.account.settings.identification.method = postern_core::tenancy::IdentificationMethod::Header;
        r.account.settings.identification.headers = vec!["X-Client-ID".into()];
        (r.account, r.password_hash)
    });
    let built = Instant::now();
    let index = DirectoryIndex::build(snapshot.domains, accounts_with_header_identities.collect());
    let build_secs = built.elapsed().as_secs_f64();
    println!(
        "{name}: start-up load of {loaded} accounts: snapshot {snapshot_secs:.1} s + index {build_secs:.1} s = {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let directory = Arc::new(Directory::new(index));
    // The store's kept lock states, plus one identity in a hundred unlocked automatically
    // before (kept, not locked), so the lock check probes a realistically filled map.
    let per_account = fill::per_account(accounts, identities).max(1);
    let kept = (0..accounts * per_account).step_by(100).map(|k| (k / per_account, k % per_account));
    let once = LockState { automatic_unlocks: 1, ..LockState::default() };
    directory.replace_identity_locks(
        identity_locks
            .into_iter()
            .map(|l| (l.account_id, l.name, l.lock))
            .chain(kept.map(|(n, i)| (n as i64 + 1, identity(n, i), once.clone()))),
    );
    eprintln!("identity lock states kept: {}", directory.identity_locks_len());
    directory
}

/// The policy's decisions for `--messages` messages, once per kind of counters.
async fn per_message(name: &str, directory: &Arc<Directory>, a: &Args) {
    let accounts = directory.load().len().1;
    let per_account = fill::per_account(accounts, a.identities).max(1);
    for kind in &a.counters {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let dir = tempfile::tempdir().expect("tempdir");
        let counters: Arc<dyn Counters> = match kind.as_str() {
            "embedded" => Arc::new(
                postern_counters::embedded::EmbeddedCounters::open(&dir.path().join("counters"), Arc::clone(&clock))
                    .expect("embedded counters"),
            ),
            "redis" => {
                let prefix = format!("postern-bench-{}-{name}", std::process::id());
                Arc::new(
                    postern_counters::redis::RedisCounters::connect(
                        "redis://127.0.0.1:6379",
                        &prefix,
                        Arc::clone(&clock),
                    )
                    .await
                    .expect("redis counters"),
                )
            }
            other => panic!("--counters embedded,redis, not {other}"),
        };
        let policy = RelayPolicy::new(vec![])
            .with_directory(Arc::clone(directory))
            .with_limits(Arc::new(Limits::new(Arc::clone(&counters))))
            .with_locks(Arc::new(Locks::new(Arc::clone(&counters), Arc::new(Locked(Arc::clone(directory))), clock)));
        let index = directory.load();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let rcpt = Address::parse("someone@remote.example", false).expect("rcpt");
        let mut rng = rand::rng();
        let mut times = Vec::with_capacity(a.messages);
        for _ in 0..a.messages {
            let n = rng.random_range(0..accounts);
            let sender = Address::parse(&user(n), false).expect("sender");
            let message =
                format!("X-Client-ID: {}\r\nSubject: x\r\n\r\nbody\r\n", identity(n, rng.random_range(0..per_account)));
            let t = Instant::now();
            let entry = index.account_for_user(&user(n)).expect("account").clone();
            let attribution = Attribution::Account { entry, auth_user: Some(user(n)) };
            assert_eq!(policy.session_attributed(&attribution).await, LimitVerdict::Allowed);
            let attribution = policy.refresh(&attribution, ip);
            assert_eq!(policy.mail_from(&attribution, ip, "client.example", Some(&sender)).await, Verdict::Accept);
            assert_eq!(policy.rcpt(&attribution, &rcpt), Verdict::Accept);
            assert_eq!(policy.recipient_limit(&attribution).await, LimitVerdict::Allowed);
            let (owner, _) = policy.owner(&attribution, Some(&sender), &[], message.as_bytes());
            assert_eq!(policy.identity_checks(&attribution, &owner.identity, 1).await, LimitVerdict::Allowed);
            times.push(t.elapsed());
        }
        times.sort();
        if kind == "redis" {
            forget_redis_keys(&format!("postern-bench-{}-{name}", std::process::id()));
        }
        println!(
            "{name}: policy per message, {accounts} accounts, {} identities, counters {kind}: median {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} messages)",
            a.identities,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            percentile(&times, 1.0),
            a.messages
        );
    }
}

/// Deletes the run's counters from Redis (they would expire, some only after a month).
fn forget_redis_keys(prefix: &str) {
    let script = format!("redis-cli --scan --pattern '{prefix}:*' | xargs -r -n 1000 redis-cli DEL >/dev/null");
    match std::process::Command::new("sh").arg("-c").arg(&script).status() {
        Ok(status) if status.success() => {}
        other => eprintln!("could not delete the Redis keys {prefix}:* ({other:?}); they expire by themselves"),
    }
}
