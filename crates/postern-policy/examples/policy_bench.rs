//! Policy evaluation per message with a large directory (issue 5's benchmark):
//!
//! ```text
//! cargo run --release -p postern-policy --example policy_bench -- \
//!     --db /tmp/bench.db --accounts 1000000 --identities 10000000 --counters embedded|redis
//! ```
//!
//! The store (SQLite) is filled once with `--accounts` user accounts over 1,000 domains and
//! `--identities` identities spread over them (reused on later runs with the same --db).
//! Then, per message, everything the SMTP path asks the policy between AUTH and the spool
//! is timed: the session counted against the account's five session windows, MAIL (lock
//! state, domain enabled, sender owned, sender security), RCPT (relay, daily recipients),
//! the owner and identity, and the identity's lock (kept in memory) and daily recipients.
//! Each message picks a random account (an application server authenticated as a user
//! account) and one of its identities, named in an `X-Client-ID` header. Prints median and
//! p99.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::BoxFuture;
use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, LockState, SenderSecurity};
use postern_core::{Address, Verdict};
use postern_counters::{Clock, Counters, SystemClock};
use postern_policy::{Attribution, Directory, DirectoryIndex, LimitVerdict, Limits, LockWriter, Locks, RelayPolicy};
use postern_store::{DirectoryStore, NewAccount, NewDomain, SqliteStore};
use rand::Rng;

const DOMAINS: usize = 1000;

struct Args {
    db: PathBuf,
    accounts: usize,
    identities: usize,
    counters: String,
    messages: usize,
}

fn args() -> Args {
    let mut a = Args {
        db: PathBuf::from("/tmp/postern-policy-bench.db"),
        accounts: 1_000_000,
        identities: 10_000_000,
        counters: "embedded".into(),
        messages: 100_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--db" => a.db = PathBuf::from(value),
            "--accounts" => a.accounts = value.parse().expect("--accounts N"),
            "--identities" => a.identities = value.parse().expect("--identities N"),
            "--counters" => a.counters = value,
            "--messages" => a.messages = value.parse().expect("--messages N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn user(i: usize) -> String {
    format!("user{i}@d{}.example", i % DOMAINS)
}

fn identity(account: usize, n: usize) -> String {
    format!("client{n}+{account}@d{}.example", account % DOMAINS)
}

fn fill(store: &SqliteStore, accounts: usize, identities: usize) {
    let started = Instant::now();
    for d in 0..DOMAINS {
        let _ = store.create_domain(&NewDomain {
            name: format!("d{d}.example"),
            filter_enabled: true,
            sender_security: SenderSecurity::default(),
            abuse_contact: None,
        });
    }
    let mut settings = AccountSettings::for_kind(AccountKind::User);
    settings.limits.connections_per_minute = 1000;
    settings.limits.connections_per_hour = 10_000;
    settings.limits.connections_per_day = 100_000;
    settings.limits.recipients_per_day = 1_000_000;
    for i in 0..accounts {
        store
            .create_account(&NewAccount {
                domain: format!("d{}.example", i % DOMAINS),
                kind: AccountKind::User,
                name: user(i),
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into()),
                settings: settings.clone(),
            })
            .expect("create account");
        if i % 100_000 == 0 {
            eprintln!("accounts: {i} ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let per_account = identities.div_ceil(accounts.max(1));
    let mut batch = Vec::with_capacity(20_000);
    let mut made = 0;
    'outer: for n in 0..per_account {
        for a in 0..accounts {
            if made == identities {
                break 'outer;
            }
            batch.push(IdentitySighting { account_id: a as i64 + 1, name: identity(a, n), at_ms: 1 });
            made += 1;
            if batch.len() == batch.capacity() {
                store.record_identities(&batch).expect("identities");
                batch.clear();
            }
            if made % 1_000_000 == 0 {
                eprintln!("identities: {made} ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
    }
    store.record_identities(&batch).expect("identities");
    eprintln!("filled in {:.0} s", started.elapsed().as_secs_f64());
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

#[tokio::main]
async fn main() {
    let a = args();
    let fresh = !a.db.exists();
    let store = Arc::new(SqliteStore::open(&a.db).expect("open store"));
    if fresh {
        fill(&store, a.accounts, a.identities);
    }
    let started = Instant::now();
    let snapshot = store.snapshot().expect("snapshot");
    let accounts = snapshot.accounts.len();
    let identity_locks = snapshot.identity_locks;
    // Each account is an application server that names its customer in a header: the
    // identities are the header values (as the fill registered them).
    let accounts_with_header_identities = snapshot.accounts.into_iter().map(|mut r| {
        r.account.settings.identification.method = postern_core::tenancy::IdentificationMethod::Header;
        r.account.settings.identification.headers = vec!["X-Client-ID".into()];
        (r.account, r.password_hash)
    });
    let index = DirectoryIndex::build(snapshot.domains, accounts_with_header_identities.collect());
    let build_secs = started.elapsed().as_secs_f64();
    eprintln!("directory index: {accounts} accounts in {build_secs:.1} s");
    let directory = Arc::new(Directory::new(index));
    // The store's kept lock states, plus one identity in a hundred unlocked automatically
    // before (kept, not locked), so the lock check probes a realistically filled map.
    let per_account = a.identities.div_ceil(accounts.max(1)).max(1);
    let kept = (0..accounts * per_account).step_by(100).map(|k| (k / per_account, k % per_account));
    let once = LockState { automatic_unlocks: 1, ..LockState::default() };
    directory.replace_identity_locks(
        identity_locks
            .into_iter()
            .map(|l| (l.account_id, l.name, l.lock))
            .chain(kept.map(|(n, i)| (n as i64 + 1, identity(n, i), once.clone()))),
    );
    eprintln!("identity lock states kept: {}", directory.identity_locks_len());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dir = tempfile::tempdir().expect("tempdir");
    let counters: Arc<dyn Counters> = match a.counters.as_str() {
        "embedded" => Arc::new(
            postern_counters::embedded::EmbeddedCounters::open(&dir.path().join("counters"), Arc::clone(&clock))
                .expect("embedded counters"),
        ),
        "redis" => {
            let prefix = format!("postern-bench-{}", std::process::id());
            Arc::new(
                postern_counters::redis::RedisCounters::connect("redis://127.0.0.1:6379", &prefix, Arc::clone(&clock))
                    .await
                    .expect("redis counters"),
            )
        }
        other => panic!("--counters embedded|redis, not {other}"),
    };
    let policy = RelayPolicy::new(vec![])
        .with_directory(Arc::clone(&directory))
        .with_limits(Arc::new(Limits::new(Arc::clone(&counters))))
        .with_locks(Arc::new(Locks::new(Arc::clone(&counters), Arc::new(Locked(Arc::clone(&directory))), clock)));
    let index = directory.load();
    // What an API change of one account costs the SMTP side now: a patched copy of the
    // index (the store read of one row is not included; it is one indexed SELECT).
    let mut patches = Vec::new();
    for n in 0..5 {
        let entry = index.account_for_user(&user(n * 7919 % accounts)).expect("account");
        let record = (entry.account.clone(), entry.password_hash.clone());
        let t = Instant::now();
        let patched = index.with_account(record.0.id, Some(record));
        patches.push(t.elapsed());
        drop(patched);
    }
    patches.sort();
    eprintln!(
        "one account changed: patched copy of the index in {:.0} ms (median of 5); a whole load took {:.1} s",
        patches[2].as_secs_f64() * 1e3,
        build_secs
    );
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
    println!(
        "policy per message, {accounts} accounts, {} identities, counters {}: median {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} messages)",
        a.identities,
        a.counters,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        a.messages
    );
}
