//! Log search at scale: N messages (default 1,000,000, about 10 events each) over 30 days
//! and 100 domains (50 account domains, 50 more sender domains: each message is found
//! under two), written through the real ingest path (the batching [`EventWriter`] thread
//! into an embedded store file), then timed: the search for one domain and one day (first
//! page of 50; median and p95 of 50 queries over random domains and days), a
//! domain admin's variant with a status filter, and a message's timeline (median of 200).
//!
//! `cargo run --release -p postern-store --example log_bench -- [FILE] [MESSAGES]`
//! FILE defaults to /tmp/postern-log-bench.db; it is removed at the end unless KEEP=1.
//! FILE `postgres`: the same into PostgreSQL (`POSTERN_BENCH_POSTGRES`, default
//! `host=127.0.0.1 user=postgres dbname=test`), in a schema of its own (`log_bench_<pid>`),
//! dropped at the end unless KEEP=1. A fourth figure: a subject search over every domain
//! and the whole month (SQLite reads the rows; PostgreSQL uses its trigram index when it
//! has `pg_trgm`).
//!
//! The mix per message: connect, TLS and AUTH; then 3 % refused at RCPT (no queue id),
//! 1 % quarantined (held, refused at the end of data, checked), the rest checked, DKIM
//! signed, queued with 1-4 recipients, one delivery event per recipient (5 % of messages
//! deferred once and delivered 5 minutes later, 1 % bounced with a DSN); disconnect.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use postern_core::{CheckRecord, Disposition, Event, EventKind, MessageFacts, QueueId, Stage};
use postern_store::{
    EventStore, EventWriter, LogQuery, LogSearch, MessageKey, MessageStatus, PgConfig, PgStore, Scope, SqliteStore,
};

const DAY_MS: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

fn ev(at_ms: i64, session: u64, ip: &str, queue_id: Option<QueueId>, kind: EventKind) -> Event {
    Event { at_ms, session, client_ip: ip.parse().expect("ip"), queue_id, kind }
}

/// A verdict trace as the pipeline writes it: the built-in checks, the last one deciding.
fn checks(result: &str, rule: Option<&str>) -> Vec<CheckRecord> {
    let c = |stage: &str, engine: &str, result: &str, rule: Option<&str>| CheckRecord {
        stage: stage.into(),
        engine: engine.into(),
        rule: rule.map(Into::into),
        result: result.into(),
        part: None,
        score: None,
        micros: 120,
    };
    vec![
        c("account", "identity", "pass", None),
        CheckRecord { score: Some(0.12), ..c("content", "scorer", "pass", None) },
        c("content", "attachments", "pass", None),
        c("content", "gtube", result, rule),
    ]
}

/// Events in time order: the present message's, and later deliveries waiting in a heap.
struct Generator {
    rng: Rng,
    later: BinaryHeap<Reverse<(i64, u64, Box<EventOrd>)>>,
    seq: u64,
    sample: Vec<QueueId>,
    sample_every: u64,
}

/// An event ordered only by the heap key.
struct EventOrd(Event);
impl PartialEq for EventOrd {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for EventOrd {}
impl PartialOrd for EventOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EventOrd {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Generator {
    fn defer(&mut self, e: Event) {
        self.seq += 1;
        self.later.push(Reverse((e.at_ms, self.seq, Box::new(EventOrd(e)))));
    }

    /// Deliveries due by `now`, in time order.
    fn due(&mut self, now: i64, out: &mut Vec<Event>) {
        while self.later.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            if let Some(Reverse((_, _, e))) = self.later.pop() {
                out.push(e.0);
            }
        }
    }

    /// One session with one message (or refusal) at `at`.
    fn message(&mut self, n: u64, at: i64, out: &mut Vec<Event>) {
        let r = &mut self.rng;
        let session = n + 1;
        let ip = format!("198.51.{}.{}", r.below(4), r.below(250) + 1);
        let account_domain = format!("d{:02}.example", r.below(50));
        let sender_domain = if r.percent(70) { account_domain.clone() } else { format!("c{:02}.example", r.below(50)) };
        let sender = format!("user{}@{sender_domain}", r.below(2000));
        let rcpts: Vec<String> =
            (0..1 + r.below(4)).map(|i| format!("rcpt{}@r{:03}.example", r.below(100_000) + i, r.below(500))).collect();
        out.push(ev(at, session, &ip, None, EventKind::Connect { client_port: 40_000, listener: "smtp".into() }));
        out.push(ev(
            at + 5,
            session,
            &ip,
            None,
            EventKind::Tls { version: "TLSv1.3".into(), cipher: "TLS13_AES_256_GCM_SHA384".into() },
        ));
        let user = format!("relay@{account_domain}");
        let auth = EventKind::Auth {
            mechanism: "PLAIN".into(),
            user: user.clone(),
            result: "success".into(),
            detail: user.clone(),
        };
        out.push(ev(at + 8, session, &ip, None, auth));
        let q = QueueId::generate();
        let facts = MessageFacts {
            sender: sender.clone(),
            recipients: rcpts.clone(),
            size: 2_000 + r.below(50_000),
            message_id: Some(format!("<{q}.{n}@mua.{sender_domain}>")),
            subject: Some(format!("Order {n} confirmation")),
            account: Some(user.clone()),
            domain: Some(account_domain.clone()),
            sender_domain: Some(sender_domain.clone()),
            identity: Some(sender.clone()),
        };
        let roll = r.below(100);
        let disconnect = |_: i64| EventKind::Disconnect { messages: 1, duration_ms: 40, reason: "QUIT".into() };
        if roll < 3 {
            let refused = EventKind::Refused {
                stage: Stage::Rcpt,
                reply: "554 5.7.1 Relay access denied".into(),
                reason: "recipient on the block list".into(),
                sender: Some(sender),
                recipient: rcpts.first().cloned(),
                account: Some(user),
                domain: Some(account_domain),
            };
            out.push(ev(at + 10, session, &ip, None, refused));
            out.push(ev(at + 12, session, &ip, None, disconnect(at)));
            return;
        }
        if roll < 4 {
            let held = EventKind::Quarantine {
                action: "held".into(),
                id: n as i64,
                by: None,
                domain: Some(account_domain.clone()),
                detail: Some("rule GTUBE".into()),
            };
            out.push(ev(at + 20, 0, &ip, Some(q), held));
            let refused = EventKind::Refused {
                stage: Stage::Data,
                reply: "550 5.7.1 Error: message content rejected as spam (GTUBE)".into(),
                reason: "spam (rule GTUBE): rejected; held as quarantine id 1".into(),
                sender: Some(sender),
                recipient: None,
                account: Some(user),
                domain: Some(account_domain),
            };
            out.push(ev(at + 21, session, &ip, None, refused));
            let checked = EventKind::Checked {
                disposition: Disposition::Quarantine,
                checks: checks("spam", Some("GTUBE")),
                message: Some(Box::new(facts)),
            };
            out.push(ev(at + 22, session, &ip, Some(q), checked));
            out.push(ev(at + 25, session, &ip, None, disconnect(at)));
            return;
        }
        let checked =
            EventKind::Checked { disposition: Disposition::Deliver, checks: checks("pass", None), message: None };
        out.push(ev(at + 20, session, &ip, Some(q), checked));
        let dkim = EventKind::Dkim {
            result: "signed".into(),
            domain: Some(account_domain.clone()),
            selectors: vec!["s1".into()],
            reason: None,
        };
        out.push(ev(at + 21, session, &ip, Some(q), dkim));
        let queued = EventKind::Queued {
            size: facts.size,
            sender: facts.sender.clone(),
            recipients: rcpts.clone(),
            tls: Some("TLSv1.3".into()),
            message_id: facts.message_id.clone(),
            account: facts.account.clone(),
            account_id: Some(1),
            domain: facts.domain.clone(),
            sender_domain: facts.sender_domain.clone(),
            identity: facts.identity.clone(),
            subject: facts.subject.clone(),
        };
        out.push(ev(at + 22, session, &ip, Some(q), queued));
        out.push(ev(at + 25, session, &ip, None, disconnect(at)));
        let fate = self.rng.below(100);
        for rcpt in rcpts {
            let delivery = |at: i64, result: &str, attempt: u32| {
                let reply = match result {
                    "delivered" => "250 2.0.0 Ok: queued as 4Xyz",
                    "deferred" => "451 4.7.1 Greylisted, try again later",
                    _ => "550 5.1.1 User unknown",
                };
                let kind = EventKind::Delivery {
                    recipient: rcpt.clone(),
                    result: result.into(),
                    status: reply[4..9].into(),
                    reply: reply.into(),
                    remote: Some("mx.r.example [203.0.113.5]".into()),
                    attempt,
                    destination: "r.example".into(),
                    duration_ms: Some(150 + u64::from(attempt) * 100),
                    queued_at_ms: None,
                };
                ev(at, 0, &ip, Some(q), kind)
            };
            let first = at + 200 + self.rng.below(2_000) as i64;
            match fate {
                0 => {
                    self.defer(delivery(first, "bounced", 1));
                    let dsn = EventKind::Dsn {
                        dsn_queue_id: QueueId::generate().to_string(),
                        action: "failed".into(),
                        to: facts.sender.clone(),
                        recipients: vec![rcpt.clone()],
                    };
                    self.defer(ev(first + 1, 0, &ip, Some(q), dsn));
                }
                1..=5 => {
                    self.defer(delivery(first, "deferred", 1));
                    self.defer(delivery(first + 300_000, "delivered", 2));
                }
                _ => self.defer(delivery(first, "delivered", 1)),
            }
        }
        if n.is_multiple_of(self.sample_every) {
            self.sample.push(q);
        }
    }
}

/// This process's CPU time (user + system) in seconds, from /proc (100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    let at = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

/// The writer's store and the searched one: the same store, seen through each trait.
type Stores = (Arc<dyn EventStore>, Arc<dyn LogSearch>);

/// Where the bench writes: a SQLite file, or a PostgreSQL schema of its own.
enum Target {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

impl Target {
    fn open(&self) -> Result<Stores, Box<dyn std::error::Error>> {
        match self {
            Target::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                let store = Arc::new(SqliteStore::open(path)?);
                Ok((store.clone(), store))
            }
            Target::Postgres { url, schema } => {
                let config = PgConfig { url: url.clone(), pool_size: 4, schema: Some(schema.clone()), ca_file: None };
                let store = Arc::new(PgStore::open(&config)?);
                Ok((store.clone(), store))
            }
        }
    }

    /// The bytes stored: the file and its WAL, or the schema's tables and indexes.
    fn size(&self) -> Result<u64, Box<dyn std::error::Error>> {
        match self {
            Target::Sqlite(path) => Ok(["", "-wal"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
                .map(|m| m.len())
                .sum()),
            Target::Postgres { url, schema } => {
                let sql = "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'";
                let rows = pg(url, sql, std::slice::from_ref(schema))?;
                Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as u64)
            }
        }
    }

    fn remove(&self) -> Result<(), Box<dyn std::error::Error>> {
        match self {
            Target::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Target::Postgres { url, schema } => {
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                pg(url, &sql, &[])?;
            }
        }
        Ok(())
    }
}

/// One statement (its text parameters bound in order) on a connection of its own.
fn pg(url: &str, sql: &str, params: &[String]) -> Result<Vec<tokio_postgres::Row>, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        let rows = client.query(sql, &params).await?;
        drop(client);
        let _ = connection.await;
        Ok(rows)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = match args.get(1).map(String::as_str) {
        Some("postgres") => Target::Postgres {
            url: std::env::var("POSTERN_BENCH_POSTGRES")
                .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into()),
            schema: format!("log_bench_{}", std::process::id()),
        },
        other => Target::Sqlite(other.unwrap_or("/tmp/postern-log-bench.db").into()),
    };
    let messages: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let (events, store) = target.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let writer = EventWriter::start(events, 4096);
    let mut generator = Generator {
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        later: BinaryHeap::new(),
        seq: 0,
        sample: Vec::new(),
        sample_every: (messages / 200).max(1),
    };
    let span = 30 * DAY_MS;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut total = 0_u64;
    let mut batch = Vec::new();
    runtime.block_on(async {
        for n in 0..messages {
            let at = T0 + (n as i64 * span) / messages as i64;
            generator.due(at, &mut batch);
            generator.message(n, at, &mut batch);
            for e in batch.drain(..) {
                writer.send(e).await;
                total += 1;
            }
            if n.is_multiple_of(100_000) && n > 0 {
                eprintln!(
                    "{n} messages, {total} events, {:.0} events/s",
                    total as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        generator.due(i64::MAX, &mut batch);
        for e in batch.drain(..) {
            writer.send(e).await;
            total += 1;
        }
        writer.stop().await;
    });
    let ingest = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let counts = writer.stats().counts();
    println!(
        "ingest: {messages} messages, {total} events in {ingest:.1} s: {:.0} events/s ({} stored, {} dropped); \
         {cpu:.1} s of CPU (generator included): {:.0} events per CPU second",
        total as f64 / ingest,
        counts.stored,
        counts.dropped,
        total as f64 / cpu
    );
    let size = target.size()?;
    println!("stored: {:.2} GB", size as f64 / 1e9);

    let mut rng = Rng(42);
    let mut search = |scope: &dyn Fn(&str) -> Scope,
                      status: Option<MessageStatus>|
     -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
        let (mut times, mut rows) = (Vec::new(), 0.0);
        for _ in 0..50 {
            let domain = if rng.percent(50) {
                format!("d{:02}.example", rng.below(50))
            } else {
                format!("c{:02}.example", rng.below(50))
            };
            let day = rng.below(30) as i64;
            let query = LogQuery {
                domain: Some(domain.clone()),
                since_ms: Some(T0 + day * DAY_MS),
                until_ms: Some(T0 + (day + 1) * DAY_MS - 1),
                status,
                limit: 50,
                ..LogQuery::default()
            };
            let t = Instant::now();
            let page = store.search(&scope(&domain), &query)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rows += page.items.len() as f64;
        }
        let (m, p95) = median(times);
        Ok((m, p95, rows / 50.0))
    };
    let (m, p95, rows) = search(&|_| Scope::All, None)?;
    println!(
        "search, one domain and one day, first page of 50 (superadmin): median {m:.2} ms, p95 {p95:.2} ms, {rows:.0} rows a page"
    );
    let (m, p95, rows) = search(&|d| Scope::Domains(vec![d.to_string()]), Some(MessageStatus::Delivered))?;
    println!(
        "search, same with a domain admin's scope and status=delivered: median {m:.2} ms, p95 {p95:.2} ms, {rows:.0} rows a page"
    );
    let mut times = Vec::new();
    let mut steps = 0;
    for i in 0..200 {
        let q = generator.sample[(i * 7) % generator.sample.len()];
        let t = Instant::now();
        let timeline = store.timeline(&Scope::All, &MessageKey::QueueId(q))?.ok_or("no timeline")?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        steps += timeline.steps.len();
    }
    let (m, p95) = median(times);
    println!(
        "timeline of one message (200 messages): median {m:.2} ms, p95 {p95:.2} ms, {:.1} steps each",
        steps as f64 / 200.0
    );
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..20 {
        let n = rng.below(messages.max(1));
        let query = LogQuery { subject: Some(format!("ORDER {n} conf")), limit: 50, ..LogQuery::default() };
        let t = Instant::now();
        found += store.search(&Scope::All, &query)?.items.len();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (m, p95) = median(times);
    println!(
        "search by part of the subject, every domain, the whole month (20 queries): median {m:.2} ms, p95 {p95:.2} ms, {:.1} rows each",
        found as f64 / 20.0
    );
    drop(store);
    if std::env::var("KEEP").as_deref() != Ok("1") {
        target.remove()?;
    }
    Ok(())
}
