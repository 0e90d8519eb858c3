//! The web panel's pages at scale (issue 14: "pages answer in under 100 ms at the median
//! with 100,000 accounts and 1 million log rows"). Seeds an embedded store file with
//! ACCOUNTS accounts over 1,000 domains (2 % locked, one identity each and a second for
//! one in ten), about EVENTS log events (messages of about ten events each over the last
//! 30 days, up to now, written through `EventStore::append` in batches of 1,000), and a
//! few hundred queued, quarantined and archived messages; then builds the real admin
//! router (API and panel, as `postern serve` does), logs in through the login form as a
//! superadmin and as a domain admin of two domains, and times `GET` of every page: 30
//! requests each after one warm-up, median and p95, printed as a Markdown table.
//!
//! `cargo run --release -p postern-admin --example panel_bench -- [FILE] [ACCOUNTS] [EVENTS]`
//! FILE defaults to /tmp/postern-panel-bench.db (the spool, quarantine and archive go in a
//! folder next to it); both are removed at the end unless KEEP=1.
//!
//! Requests go through the router in process (`tower::oneshot`): the figures are the
//! pages' own work (operations, store, rendering), without a socket. To time another page,
//! add it to [`pages`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use postern_admin::{AdminState, IpAccountRules, Ops, router};
use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, LockKind, LockState, Role};
use postern_core::test_support;
use postern_core::{BoxFuture, CheckRecord, Disposition, Enqueue, Envelope, Event, EventKind, EventSink};
use postern_core::{MessageFacts, QueueId, Recipient, Stage};
use postern_queue::{Job, Outcome, QueueManager, RcptResult, SchedulerConfig, Spool, Transport};
use postern_store::{AccountChange, AdminUserStore, DirectoryStore, EventStore, NewAccount, NewAdminUser, NewDomain};
use postern_store::{DirectoryChange, SqliteStore};
use tower::ServiceExt;

type Error = Box<dyn std::error::Error>;

const DOMAINS: u64 = 1_000;
const DAY_MS: i64 = 86_400_000;
const PASSWORD: &str = "bench password 1";
/// Requests per page and role, after one warm-up.
const ROUNDS: usize = 30;

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
}

fn domain(n: u64) -> String {
    format!("d{n:04}.example")
}

/// Defers every recipient: queued messages stay queued (the delivery loop is not started).
struct DeferAll;

impl Transport for DeferAll {
    fn destination(&self, _envelope: &Envelope, recipient: &Recipient) -> String {
        recipient.address.domain.as_str().to_ascii_lowercase()
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        let results = job
            .recipients
            .iter()
            .map(|&index| RcptResult {
                index,
                outcome: Outcome::Deferred,
                status: "4.4.1".into(),
                reply: "bench: deferred".into(),
                remote: None,
                dsn_passed_on: false,
            })
            .collect();
        Box::pin(async move { results })
    }
}

struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The admin router over `store`, with a queue, quarantine and archive in `dir`.
struct World {
    router: Router,
    queue: QueueManager,
    quarantine: Arc<postern_pipeline::Quarantine>,
    archive: postern_archive::Archive,
}

fn world(store: &Arc<SqliteStore>, dir: &std::path::Path) -> Result<World, Error> {
    let config = SchedulerConfig {
        hostname: "postern.bench".into(),
        concurrency: 2,
        destination_concurrency: 1,
        retry_first: Duration::from_secs(3600),
        retry_max: Duration::from_secs(3600),
        max_queue_lifetime: Duration::from_secs(86_400),
        delay_warning: None,
    };
    let queue = QueueManager::new(Spool::open(&dir.join("spool"))?, Arc::new(DeferAll), Arc::new(NoEvents), config)?;
    let quarantine = Arc::new(postern_pipeline::Quarantine::new(
        postern_queue::QuarantineDir::open(&dir.join("quarantine"))?,
        Arc::clone(store) as Arc<dyn postern_store::QuarantineStore>,
        Arc::new(queue.clone()),
        Arc::new(NoEvents),
        "postern.bench".into(),
    ));
    let archive = postern_archive::Archive::open(&dir.join("archive"))?.0;
    let state = AdminState::new(Ops {
        queue: queue.clone(),
        directory: Arc::clone(store) as Arc<dyn DirectoryStore>,
        on_change: Arc::new(|_: &DirectoryChange| {}),
        limits: None,
        locks: None,
        dkim: None,
        ip_rules: IpAccountRules::default(),
        client_blocks: None,
        events: None,
        system_mail: None,
        quarantine: Some(Arc::clone(&quarantine)),
        scorer: None,
        archive: Some(archive.clone()),
        log: Some(Arc::clone(store) as Arc<dyn postern_store::LogSearch>),
        panel: Some(Arc::new(postern_ops::panel_auth::PanelAuth::new(
            Arc::clone(store) as Arc<dyn AdminUserStore>,
            postern_ops::panel_auth::SessionRules {
                idle: Duration::from_secs(3600),
                lifetime: Duration::from_secs(12 * 3600),
            },
        ))),
    });
    Ok(World { router: router(state), queue, quarantine, archive })
}

/// 1,000 domains, `accounts` accounts over them (one domain account, four IP accounts, the
/// rest users; 2 % locked), their identities, and the two panel users. Returns the id of
/// an account of d0001.example.
fn seed_directory(store: &SqliteStore, accounts: u64) -> Result<i64, Error> {
    let password_hash = postern_policy::password::hash(PASSWORD)?;
    for d in 0..DOMAINS {
        let new = NewDomain {
            name: domain(d),
            filter_enabled: d % 2 == 0,
            sender_security: Default::default(),
            abuse_contact: None,
        };
        store.create_domain(&new)?;
    }
    let per_domain = accounts.div_ceil(DOMAINS).max(1);
    let mut rng = Rng(7);
    let mut sightings = Vec::new();
    let mut one_of_d0001 = 0;
    let now = postern_core::event::now_ms();
    for n in 0..accounts {
        let (d, i) = (n / per_domain, n % per_domain);
        let name = domain(d);
        let (kind, account_name) = match i {
            0 => (AccountKind::Domain, name.clone()),
            1..=4 => (AccountKind::Ip, format!("10.{}.{}.{}/32", (n >> 16) & 255, (n >> 8) & 255, n & 255)),
            _ => (AccountKind::User, format!("user{i}@{name}")),
        };
        let new = NewAccount {
            domain: name.clone(),
            kind,
            name: account_name.clone(),
            password_hash: (kind != AccountKind::Ip).then(|| password_hash.clone()),
            settings: AccountSettings::default(),
        };
        let account = store.create_account(&new)?;
        if d == 1 && one_of_d0001 == 0 {
            one_of_d0001 = account.id;
        }
        if rng.below(100) < 2 {
            let lock = LockState {
                locked: true,
                by: Some(LockKind::Administrator),
                reason: Some("bench".into()),
                since_ms: Some(now),
                until_ms: None,
                ..LockState::default()
            };
            store.update_account(account.id, &AccountChange { lock: Some(lock), ..AccountChange::default() })?;
        }
        let identity = if kind == AccountKind::User { account_name } else { format!("sender{i}@{name}") };
        sightings.push(IdentitySighting { account_id: account.id, name: identity, at_ms: now - 60_000 });
        if rng.below(10) == 0 {
            sightings.push(IdentitySighting { account_id: account.id, name: format!("other{i}@{name}"), at_ms: now });
        }
        if sightings.len() >= 1000 {
            store.record_identities(&sightings)?;
            sightings.clear();
        }
    }
    store.record_identities(&sightings)?;
    for (name, role, domains) in
        [("bench-root", Role::Superadmin, vec![]), ("bench-domain", Role::DomainAdmin, vec![domain(1), domain(2)])]
    {
        let password_hash = password_hash.clone();
        store.create_admin_user(&NewAdminUser { name: name.into(), role, domains, password_hash })?;
    }
    Ok(one_of_d0001)
}

fn ev(at_ms: i64, session: u64, queue_id: Option<QueueId>, kind: EventKind) -> Event {
    Event { at_ms, session, client_ip: "198.51.100.7".parse().expect("a literal address"), queue_id, kind }
}

/// One session with one message at `at`: 3 % refused at RCPT, 1 % held as spam, the rest
/// checked, signed, queued with 1-3 recipients and delivered. About ten events. Returns the
/// domain's number and the queue id of a message that was queued.
fn message(rng: &mut Rng, n: u64, at: i64, accounts_per_domain: u64, out: &mut Vec<Event>) -> (u64, Option<QueueId>) {
    let number = rng.below(DOMAINS);
    let domain = domain(number);
    let sender = format!("user{}@{domain}", 5 + rng.below(accounts_per_domain.saturating_sub(5).max(1)));
    let recipients: Vec<String> =
        (0..1 + rng.below(3)).map(|i| format!("rcpt{i}@r{:03}.example", rng.below(500))).collect();
    let q = QueueId::generate();
    out.push(ev(at, n, None, EventKind::Connect { client_port: 40_000, listener: "submission".into() }));
    let tls = EventKind::Tls { version: "TLSv1.3".into(), cipher: "TLS13_AES_256_GCM_SHA384".into() };
    out.push(ev(at + 5, n, None, tls));
    let auth = EventKind::Auth {
        mechanism: "PLAIN".into(),
        user: sender.clone(),
        result: "success".into(),
        detail: sender.clone(),
    };
    out.push(ev(at + 8, n, None, auth));
    let disconnect = EventKind::Disconnect { messages: 1, duration_ms: 40, reason: "QUIT".into() };
    let roll = rng.below(100);
    let check = |result: &str| CheckRecord {
        stage: "content".into(),
        engine: "gtube".into(),
        rule: (result == "spam").then(|| "GTUBE".into()),
        result: result.into(),
        part: None,
        score: None,
        micros: 120,
    };
    if roll < 3 {
        let refused = EventKind::Refused {
            stage: Stage::Rcpt,
            reply: "554 5.7.1 Relay access denied".into(),
            reason: "recipient on the block list".into(),
            sender: Some(sender.clone()),
            recipient: recipients.first().cloned(),
            account: Some(sender),
            domain: Some(domain),
        };
        out.push(ev(at + 10, n, None, refused));
        out.push(ev(at + 12, n, None, disconnect));
        return (number, None);
    }
    let facts = MessageFacts {
        sender: sender.clone(),
        recipients: recipients.clone(),
        size: 2_000 + rng.below(50_000),
        message_id: Some(format!("<{q}.{n}@mua.{domain}>")),
        subject: Some(format!("Order {n} confirmation")),
        account: Some(sender.clone()),
        domain: Some(domain.clone()),
        sender_domain: Some(domain.clone()),
        identity: Some(sender.clone()),
    };
    if roll < 4 {
        let checked = EventKind::Checked {
            disposition: Disposition::Quarantine,
            checks: vec![check("spam")],
            message: Some(Box::new(facts)),
        };
        out.push(ev(at + 22, n, Some(q), checked));
        out.push(ev(at + 25, n, None, disconnect));
        return (number, None);
    }
    out.push(ev(
        at + 20,
        n,
        Some(q),
        EventKind::Checked { disposition: Disposition::Deliver, checks: vec![check("pass")], message: None },
    ));
    let dkim = EventKind::Dkim {
        result: "signed".into(),
        domain: Some(domain.clone()),
        selectors: vec!["s1".into()],
        reason: None,
    };
    out.push(ev(at + 21, n, Some(q), dkim));
    let queued = EventKind::Queued {
        size: facts.size,
        sender: facts.sender,
        recipients: recipients.clone(),
        tls: Some("TLSv1.3".into()),
        message_id: facts.message_id,
        account: facts.account,
        account_id: None,
        domain: facts.domain,
        sender_domain: facts.sender_domain,
        identity: facts.identity,
        subject: facts.subject,
    };
    out.push(ev(at + 22, n, Some(q), queued));
    out.push(ev(at + 25, n, None, disconnect));
    for recipient in recipients {
        let delivery = EventKind::Delivery {
            recipient,
            result: "delivered".into(),
            status: "2.0.0".into(),
            reply: "250 2.0.0 Ok: queued as 4Xyz".into(),
            remote: Some("mx.r.example [203.0.113.5]".into()),
            attempt: 1,
            destination: "r.example".into(),
            duration_ms: Some(150),
            queued_at_ms: None,
        };
        out.push(ev(at + 300, 0, Some(q), delivery));
    }
    (number, Some(q))
}

/// About `events` events over the last 30 days, in time order, appended 1,000 at a time. Returns the
/// queue id of the last message of d0001.example (the domain admin's) that was queued.
fn seed_log(store: &SqliteStore, events: u64, accounts_per_domain: u64) -> Result<Option<QueueId>, Error> {
    // As many messages as make `events` at this mix's average (measured on 10,000).
    let mut sample = Vec::new();
    let mut rng = Rng(1);
    for n in 0..10_000 {
        message(&mut rng, n, 0, accounts_per_domain, &mut sample);
    }
    let messages = ((events as f64 * 10_000.0 / sample.len() as f64).ceil() as u64).max(1);
    let now = postern_core::event::now_ms();
    let step = (30 * DAY_MS - 60_000) / messages as i64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut batch, mut total, mut recent) = (Vec::with_capacity(1100), 0_u64, None);
    for n in 0..messages {
        let at = now - 30 * DAY_MS + n as i64 * step;
        if let (1, Some(q)) = message(&mut rng, n, at, accounts_per_domain, &mut batch) {
            recent = Some(q);
        }
        if batch.len() >= 1000 {
            total += batch.len() as u64;
            store.append(&batch)?;
            batch.clear();
        }
    }
    total += batch.len() as u64;
    store.append(&batch)?;
    eprintln!("log: {messages} messages, {total} events");
    Ok(recent)
}

/// A message of `domain` from `sender`, received now.
fn envelope(domain: &str, sender: &str, size: usize) -> Envelope {
    Envelope {
        received_at_ms: postern_core::event::now_ms(),
        client: test_support::client("192.0.2.1:40000", "submission"),
        size: size as u64,
        owner: Some(test_support::owner(Some(1), Some(domain), sender)),
        ..test_support::envelope(Some(sender), &["someone@destination.test"])
    }
}

/// `count` queued, held and archived messages each, over the first ten domains.
async fn seed_messages(world: &World, count: u64) -> Result<(), Error> {
    for n in 0..count {
        let domain = domain(n % 10);
        let sender = format!("user5@{domain}");
        let body = format!("From: {sender}\r\nSubject: message {n}\r\nMessage-ID: <m{n}@{domain}>\r\n\r\nbody {n}\r\n");
        let env = envelope(&domain, &sender, body.len());
        let queued = world.queue.enqueue(env.clone(), Vec::new(), body.clone().into_bytes()).await;
        queued.map_err(|reply| format!("enqueue: {reply:?}"))?;
        let submission = postern_core::Submission {
            hostname: "postern.bench".into(),
            ..test_support::submission(None, env.clone(), body.clone().into_bytes())
        };
        let check = CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: Some("GTUBE".into()),
            result: "spam".into(),
            score: None,
            micros: 1,
            part: None,
        };
        let head = b"Received: from bench\r\n";
        let held = world.quarantine.hold(&submission, head, body.as_bytes(), "GTUBE", &[check], "reject").await;
        held.map_err(|reply| format!("hold: {reply:?}"))?;
        let copy = postern_core::ArchiveCopy {
            envelope: env,
            head: Arc::new(head.to_vec()),
            message: Arc::new(body.into_bytes()),
            message_id: Some(format!("<m{n}@{domain}>")),
        };
        world.archive.store(&copy)?;
    }
    Ok(())
}

/// A logged-in browser: its cookies.
struct Browser {
    router: Router,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let Some((name, value)) = pair.split_once('=') else { continue };
            self.cookies.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Result<(StatusCode, String), Error> {
        let jar = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let request = request.header(header::COOKIE, jar).header(header::HOST, "panel.bench").body(body)?;
        let response = self.router.clone().oneshot(request).await?;
        let (parts, body) = response.into_parts();
        self.take(&parts.headers);
        let bytes = body.collect().await?.to_bytes();
        Ok((parts.status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn get(&mut self, path: &str) -> Result<(StatusCode, String), Error> {
        self.send(Request::get(path), Body::empty()).await
    }

    /// Logs in through the login form.
    async fn login(router: &Router, name: &str) -> Result<Browser, Error> {
        let mut browser = Browser { router: router.clone(), cookies: Vec::new() };
        let (_, page) = browser.get("/login").await?;
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).ok_or("no csrf field on the login page")? + marker.len();
        let csrf = page[start..].split('"').next().unwrap_or_default().to_string();
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("csrf", csrf.as_str()), ("name", name), ("password", PASSWORD), ("next", "/")])
            .finish();
        let post = Request::post("/login").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let (status, _) = browser.send(post, Body::from(form)).await?;
        if status != StatusCode::SEE_OTHER {
            return Err(format!("login as {name}: {status}").into());
        }
        Ok(browser)
    }
}

/// The pages timed: (label, path). A domain admin's filters name its own domain.
fn pages(account: i64, timeline: Option<QueueId>) -> Vec<(&'static str, String)> {
    let mut pages = vec![
        ("Dashboard", "/".to_string()),
        ("Accounts", "/accounts".into()),
        ("Accounts, filtered (domain, name, not locked)", "/accounts?domain=d0001.example&name=user1&locked=no".into()),
        ("Accounts, page 40", "/accounts?page=40".into()),
        ("One account", format!("/accounts/{account}")),
        ("Identities", "/identities".into()),
        ("Identities, filtered (domain)", "/identities?domain=d0001.example".into()),
        ("Quarantine", "/quarantine".into()),
        ("Log search (last hour)", "/log".into()),
        ("Log search, one domain, 30 days", "/log?domain=d0001.example&since=2000-01-01T00%3A00".into()),
        ("Archive", "/archive".into()),
        ("Domains", "/domains".into()),
        ("One domain", "/domains/d0001.example".into()),
        ("Queue", "/queue".into()),
        ("Admin users", "/admin-users".into()),
        ("API tokens", "/tokens".into()),
    ];
    if let Some(q) = timeline {
        pages.insert(10, ("A message's timeline", format!("/log/{q}")));
    }
    pages
}

fn median_p95(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

/// Median and p95 in ms of `path`, its status and the page's size.
async fn time(browser: &mut Browser, path: &str) -> Result<(f64, f64, StatusCode, usize), Error> {
    let (status, page) = browser.get(path).await?;
    if std::env::var("SHOW").is_ok_and(|s| path.starts_with(&s)) {
        eprintln!("{path}: {status}\n{page}");
    }
    let mut ms = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        browser.get(path).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (median, p95) = median_p95(ms);
    Ok((median, p95, status, page.len()))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "/tmp/postern-panel-bench.db".into()));
    let accounts: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let events: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = path.with_extension("files");
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    };
    remove();
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(&path)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let t = Instant::now();
    let account = seed_directory(&store, accounts)?;
    eprintln!("directory: {DOMAINS} domains, {accounts} accounts in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let recent = seed_log(&store, events, accounts.div_ceil(DOMAINS))?;
    eprintln!("log written in {:.1} s", t.elapsed().as_secs_f64());
    let world = world(&store, &dir)?;
    let result = runtime.block_on(async {
        let t = Instant::now();
        seed_messages(&world, 300).await?;
        eprintln!("300 queued, held and archived messages in {:.1} s", t.elapsed().as_secs_f64());
        let mut root = Browser::login(&world.router, "bench-root").await?;
        let mut tenant = Browser::login(&world.router, "bench-domain").await?;
        println!("| Page | superadmin: median / p95 | domain admin: median / p95 |");
        println!("|---|---|---|");
        let mut slow = Vec::new();
        for (label, path) in pages(account, recent) {
            let (m1, p1, s1, b1) = time(&mut root, &path).await?;
            let (m2, p2, s2, b2) = time(&mut tenant, &path).await?;
            let status = |s: StatusCode| if s == StatusCode::OK { String::new() } else { format!(", {}", s.as_u16()) };
            println!(
                "| {label} | {m1:.1} / {p1:.1} ms ({} kB{}) | {m2:.1} / {p2:.1} ms ({} kB{}) |",
                b1 / 1000,
                status(s1),
                b2 / 1000,
                status(s2)
            );
            if m1 > 100.0 || m2 > 100.0 {
                slow.push(path);
            }
        }
        if !slow.is_empty() {
            eprintln!("over 100 ms at the median: {slow:?}");
        }
        Ok::<(), Error>(())
    });
    drop(world);
    drop(store);
    if std::env::var("KEEP").as_deref() != Ok("1") {
        remove();
    }
    result
}
