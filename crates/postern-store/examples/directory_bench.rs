//! The directory store, SQLite beside PostgreSQL, through the same trait:
//!
//! ```text
//! cargo run --release -p postern-store --example directory_bench -- \
//!     --accounts 20000 --url "host=127.0.0.1 user=postgres dbname=test"
//! ```
//!
//! Each backend starts empty (SQLite in a temporary file, PostgreSQL in a schema of its own,
//! dropped at the end), gets `--accounts` user accounts over 100 domains one call at a
//! time, then answers lookups by name in random order, takes batches of 1,000 identity
//! sightings, and makes the snapshot the SMTP policy loads at start. Prints the median and
//! p99 of each call, and the snapshot's time.

use std::time::{Duration, Instant};

use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, SenderSecurity};
use postern_store::{DirectoryStore, NewAccount, NewDomain, PgConfig, PgStore, SqliteStore};
use rand::Rng;

const DOMAINS: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut accounts = 20_000usize;
    let mut url = "host=127.0.0.1 user=postgres dbname=test".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--accounts", Some(n)) => accounts = n.parse()?,
            ("--url", Some(u)) => url = u,
            _ => return Err(format!("usage: directory_bench [--accounts N] [--url URL], not {arg:?}").into()),
        }
    }
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(&dir.path().join("bench.db"))?;
    run("sqlite", &sqlite, accounts)?;

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let schema = format!("bench_{}_{nanos}", std::process::id());
    let config = PgConfig { url: url.clone(), pool_size: 4, schema: Some(schema.clone()), ca_file: None };
    let pg = PgStore::open(&config)?;
    let outcome = run("postgres", &pg, accounts);
    drop(pg);
    drop_schema(&url, &schema)?;
    outcome
}

/// Drops the benchmark's schema, on a connection of its own.
fn drop_schema(url: &str, schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await?;
        drop(client);
        let _ = connection.await;
        Ok(())
    })
}

fn run(name: &str, store: &dyn DirectoryStore, accounts: usize) -> Result<(), Box<dyn std::error::Error>> {
    for d in 0..DOMAINS {
        let domain = NewDomain {
            name: format!("d{d}.example"),
            filter_enabled: true,
            sender_security: SenderSecurity::default(),
            abuse_contact: None,
        };
        store.create_domain(&domain)?;
    }
    let mut creates = Vec::with_capacity(accounts);
    let mut ids = Vec::with_capacity(accounts);
    for a in 0..accounts {
        let new = NewAccount {
            domain: format!("d{}.example", a % DOMAINS),
            kind: AccountKind::User,
            name: format!("u{a}@d{}.example", a % DOMAINS),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            settings: AccountSettings::for_kind(AccountKind::User),
        };
        let started = Instant::now();
        ids.push(store.create_account(&new)?.id);
        creates.push(started.elapsed());
    }
    let mut rng = rand::rng();
    let mut lookups = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let a = rng.random_range(0..accounts);
        let started = Instant::now();
        let found = store.account_by_name(AccountKind::User, &format!("u{a}@d{}.example", a % DOMAINS))?;
        lookups.push(started.elapsed());
        if found.is_none() {
            return Err(format!("account {a} not found").into());
        }
    }
    let mut batches = Vec::new();
    for b in 0..20 {
        let sightings: Vec<IdentitySighting> = (0..1000)
            .map(|i| IdentitySighting {
                account_id: ids[rng.random_range(0..ids.len())],
                name: format!("sender{}@client.example", (b * 1000 + i) % 5000),
                at_ms: 1_000 + i as i64,
            })
            .collect();
        let started = Instant::now();
        store.record_identities(&sightings)?;
        batches.push(started.elapsed());
    }
    let started = Instant::now();
    let snapshot = store.snapshot()?;
    let snapshot_time = started.elapsed();
    println!(
        "{name:9} accounts {accounts}: create {} | lookup by name {} | 1,000 sightings {} | snapshot of {} accounts {:.0} ms",
        figures(&mut creates),
        figures(&mut lookups),
        figures(&mut batches),
        snapshot.accounts.len(),
        snapshot_time.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// "median / p99" in microseconds.
fn figures(times: &mut [Duration]) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_micros();
    format!("median {} µs, p99 {} µs", at(0.5), at(0.99))
}
