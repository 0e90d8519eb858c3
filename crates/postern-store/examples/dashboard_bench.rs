//! The dashboard's store reads at scale: 100,000 accounts and identities (a few dozen
//! locked) in 1,000 domains, 1,000,000 message rows over 30 days and their hour counts,
//! written straight into an embedded store file with SQL (not through the ingest path:
//! log_bench times that), then timed — the median and the worst of 20 runs of each read
//! the dashboard makes, for a superadmin and for one domain's admin.
//!
//! `cargo run --release -p postern-store --example dashboard_bench -- [FILE]`
//! FILE defaults to /tmp/postern-dashboard-bench.db; it is removed at the end unless KEEP=1.

use std::time::Instant;

use postern_store::{DirectoryStore, HourCounts, LogSearch, Scope, SenderKind, SqliteStore};

const ACCOUNTS: i64 = 100_000;
const MESSAGES: i64 = 1_000_000;
const DOMAINS: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "/tmp/postern-dashboard-bench.db".into());
    let _ = std::fs::remove_file(&path);
    let now = postern_core::event::now_ms();
    drop(SqliteStore::open(std::path::Path::new(&path))?);
    let started = Instant::now();
    fill(&path, now)?;
    eprintln!("filled in {:.1} s", started.elapsed().as_secs_f64());

    let store = SqliteStore::open(std::path::Path::new(&path))?;
    let hour = HourCounts::HOUR_MS;
    let week_from = (now / hour - 167) * hour;
    let day = now - DAY_MS;
    let mine = Scope::Domains(vec!["d7.example".into()]);
    let mut total = 0.0;
    for (name, scope) in [("superadmin", Scope::All), ("domain admin", mine)] {
        let mut run = |what: &str, f: &dyn Fn() -> usize| {
            let mut times: Vec<f64> = (0..20)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f());
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(f64::total_cmp);
            println!("{name:>12} {what:<28} median {:7.2} ms  worst {:7.2} ms  ({} items)", times[10], times[19], f());
            total += times[10];
        };
        run("hourly, 7 days", &|| store.hourly(&scope, week_from, now + hour).map(|h| h.len()).unwrap_or(0));
        run("top accounts, 24 h", &|| {
            store.top_senders(&scope, day, SenderKind::Account, 50).map(|s| s.len()).unwrap_or(0)
        });
        run("top identities, 24 h", &|| {
            store.top_senders(&scope, day, SenderKind::Identity, 10).map(|s| s.len()).unwrap_or(0)
        });
        run("locked accounts", &|| store.locked_accounts(&scope, 10).map(|p| p.total as usize).unwrap_or(0));
        run("locked identities", &|| store.locked_identities(&scope, 10).map(|p| p.total as usize).unwrap_or(0));
    }
    println!("sum of medians (both callers): {total:.2} ms");
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

/// Accounts, identities, message rows and hour counts, in one transaction.
fn fill(path: &str, now: i64) -> rusqlite::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let unlocked = r#"{"locked":false,"automatic_unlocks":0}"#;
    let locked = r#"{"locked":true,"reason":"spam","since_ms":1,"automatic_unlocks":0}"#;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
         INSERT INTO domains (name, filter_enabled, sender_security, created_at_ms, updated_at_ms)
         SELECT 'd' || i || '.example', 1, '{}', 0, 0 FROM n",
        [DOMAINS],
    )?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
         INSERT INTO accounts (domain, kind, name, settings, lock, created_at_ms, updated_at_ms, locked)
         SELECT 'd' || (i % ?2) || '.example', 'ip', '10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256) || '/32',
            '{}', CASE WHEN i % 2000 = 7 THEN ?4 ELSE ?3 END, 0, 0, i % 2000 = 7 FROM n",
        rusqlite::params![ACCOUNTS, DOMAINS, unlocked, locked],
    )?;
    tx.execute(
        "INSERT INTO identities (account_id, name, first_seen_ms, last_seen_ms, messages, lock, lock_kept, locked)
         SELECT id, 'user' || id || '@' || domain, 0, 0, 1, CASE WHEN id % 3000 = 7 THEN ?2 ELSE ?1 END,
            id % 3000 = 7, id % 3000 = 7 FROM accounts",
        rusqlite::params![unlocked, locked],
    )?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
         INSERT INTO messages (first_at_ms, last_at_ms, session, client_ip, account, account_domain, sender_domain,
            identity, sender, phase, status)
         SELECT ?2 - i * (30 * ?3 / ?1), ?2 - i * (30 * ?3 / ?1), 0, '192.0.2.1',
            'acct' || (i * 7919 % ?4), 'd' || (i % ?5) || '.example', 'd' || (i % ?5) || '.example',
            'user' || (i * 7919 % 50000) || '@d' || (i % ?5) || '.example', 'x@y', 'delivered', 'delivered' FROM n",
        rusqlite::params![MESSAGES, now, DAY_MS, ACCOUNTS, DOMAINS],
    )?;
    // Hour counts: every domain every hour of the 30 days, and the hours' totals.
    tx.execute(
        "INSERT INTO message_hours (hour, account_domain, sender_domain, received, checked, spam)
         SELECT hour, account_domain, sender_domain, count(*), count(*), count(*) / 20 FROM (
            SELECT first_at_ms / 3600000 AS hour, account_domain, sender_domain FROM messages)
         GROUP BY hour, account_domain, sender_domain",
        [],
    )?;
    tx.execute(
        "INSERT INTO message_hours (hour, account_domain, sender_domain, received, checked, spam)
         SELECT hour, '*', '*', sum(received), sum(checked), sum(spam) FROM message_hours GROUP BY hour",
        [],
    )?;
    // No ANALYZE: the server never runs one either.
    tx.commit()
}
