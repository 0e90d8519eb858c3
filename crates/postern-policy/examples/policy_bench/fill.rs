//! Fills an empty store with the benchmark's directory: `DOMAINS` domains, `accounts` user
//! accounts (`user{i}@d{i % DOMAINS}.example`, ids 1..=accounts) and `identities`
//! identities (`client{n}+{a}@d{a % DOMAINS}.example`, spread evenly over the accounts).
//!
//! SQLite is filled through the store's own calls (one account at a time, identities in
//! batches of 20,000 sightings), as before. PostgreSQL gets the same rows in bulk, because
//! one call per account is far too slow for a million: the domains and the first account
//! through the store's calls, then the other accounts as copies of that first row (the
//! same settings, lock and password hash texts; only the id, name and domain differ) and
//! the identities as the store's upsert would write them (one sighting each: messages 1,
//! seen at 1 ms, the default lock), by `INSERT … SELECT … FROM generate_series` in
//! statements of at most a million rows, with the store's change-feed triggers off for
//! the filling session.

use std::time::Instant;

use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, LockState, SenderSecurity};
use postern_store::{DirectoryStore, NewAccount, NewDomain, SqliteStore};

pub const DOMAINS: usize = 1000;

pub fn user(i: usize) -> String {
    format!("user{i}@d{}.example", i % DOMAINS)
}

pub fn identity(account: usize, n: usize) -> String {
    format!("client{n}+{account}@d{}.example", account % DOMAINS)
}

/// The settings every account gets: limits far above the benchmark's load.
fn settings() -> AccountSettings {
    let mut settings = AccountSettings::for_kind(AccountKind::User);
    settings.limits.connections_per_minute = 1000;
    settings.limits.connections_per_hour = 10_000;
    settings.limits.connections_per_day = 100_000;
    settings.limits.recipients_per_day = 1_000_000;
    settings
}

fn new_account(i: usize) -> NewAccount {
    NewAccount {
        domain: format!("d{}.example", i % DOMAINS),
        kind: AccountKind::User,
        name: user(i),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into()),
        settings: settings(),
    }
}

fn domains(store: &dyn DirectoryStore) {
    for d in 0..DOMAINS {
        store
            .create_domain(&NewDomain {
                name: format!("d{d}.example"),
                filter_enabled: true,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            })
            .expect("create domain");
    }
}

/// Per account, how many identities (the last round may cover only some accounts).
pub fn per_account(accounts: usize, identities: usize) -> usize {
    identities.div_ceil(accounts.max(1))
}

pub fn sqlite(store: &SqliteStore, accounts: usize, identities: usize) {
    let started = Instant::now();
    domains(store);
    for i in 0..accounts {
        store.create_account(&new_account(i)).expect("create account");
        if i % 100_000 == 0 {
            eprintln!("sqlite accounts: {i} ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let mut batch = Vec::with_capacity(20_000);
    let mut made = 0;
    'outer: for n in 0..per_account(accounts, identities) {
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
                eprintln!("sqlite identities: {made} ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
    }
    store.record_identities(&batch).expect("identities");
    eprintln!("sqlite filled in {:.0} s", started.elapsed().as_secs_f64());
}

/// `client` is a connection of the benchmark's own whose search path is the store's schema.
pub async fn postgres(store: &dyn DirectoryStore, client: &tokio_postgres::Client, accounts: usize, identities: usize) {
    let started = Instant::now();
    domains(store);
    let first = store.create_account(&new_account(0)).expect("create account");
    assert_eq!(first.id, 1, "the schema must be empty: the first account gets id 1");
    // One step per million rows; commits are not what is measured here. The store's
    // triggers (each written account an entry of the cluster's change feed) are off for
    // this session: the nodes of the benchmark read the filled store at their start, and
    // a million feed entries would only be read and pruned again. Needs a superuser (the
    // benchmark's `postgres`).
    client.batch_execute("SET synchronous_commit = off; SET session_replication_role = replica").await.expect("set");
    let step = 1_000_000usize;
    let mut from = 1;
    while from < accounts {
        let to = (from + step).min(accounts);
        client
            .execute(
                &format!(
                    "INSERT INTO accounts (id, domain, kind, name, password_hash, settings, lock, created_at_ms, updated_at_ms)
                     SELECT i + 1, 'd' || (i % {DOMAINS}) || '.example', t.kind,
                            'user' || i || '@d' || (i % {DOMAINS}) || '.example',
                            t.password_hash, t.settings, t.lock, t.created_at_ms, t.updated_at_ms
                       FROM accounts t CROSS JOIN generate_series($1::BIGINT, $2::BIGINT - 1) AS i
                      WHERE t.id = 1 ORDER BY i"
                ),
                &[&(from as i64), &(to as i64)],
            )
            .await
            .expect("accounts in bulk");
        from = to;
        eprintln!("postgres accounts: {to} ({:.0} s)", started.elapsed().as_secs_f64());
    }
    client
        .execute("SELECT setval(pg_get_serial_sequence('accounts', 'id'), $1)", &[&(accounts as i64)])
        .await
        .expect("account ids");
    let unlocked = serde_json::to_string(&LockState::default()).expect("lock text");
    let mut made = 0;
    for n in 0..per_account(accounts, identities) {
        let count = (identities - made).min(accounts);
        if count == 0 {
            break;
        }
        client
            .execute(
                &format!(
                    "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock)
                     SELECT a + 1, 'client' || $1::BIGINT || '+' || a || '@d' || (a % {DOMAINS}) || '.example', 1, 1, 1, $2
                       FROM generate_series(0::BIGINT, $3::BIGINT - 1) AS a"
                ),
                &[&(n as i64), &unlocked, &(count as i64)],
            )
            .await
            .expect("identities in bulk");
        made += count;
        eprintln!("postgres identities: {made} ({:.0} s)", started.elapsed().as_secs_f64());
    }
    client.batch_execute("ANALYZE").await.expect("analyze");
    eprintln!("postgres filled in {:.0} s", started.elapsed().as_secs_f64());
}
