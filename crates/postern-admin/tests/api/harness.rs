//! A real API over real parts: the router with a SQLite directory on a temporary file, a
//! queue manager over a temporary spool (its delivery loop not started, so states stay
//! put), a transport that defers everything, DKIM with a master key in the temporary
//! directory and a DNS table the test fills ([`FakeDns`]). Requests go through
//! `tower::oneshot`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use postern_admin::{AdminState, DkimAdmin, IpAccountRules, Ops, new_token_secret, router};
use postern_core::tenancy::Role;
use postern_core::test_support;
use postern_core::{BoxFuture, Enqueue, Envelope, Event, EventSink, QueueId, Recipient};
use postern_dkim::{LookupFailed, MasterKey, TxtLookup};
use postern_policy::ClientBlocks;
use postern_policy::guard::{AuthGuard, GuardConfig};
use postern_queue::{Job, Outcome, QueueManager, RcptResult, SchedulerConfig, Spool, Transport};
use postern_store::{DirectoryChange, DirectoryStore, DkimStore, EventStats, NewToken, SqliteStore};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

/// Defers every recipient: messages stay queued.
struct DeferAll;

impl Transport for DeferAll {
    fn destination(&self, _envelope: &Envelope, recipient: &Recipient) -> String {
        recipient.address.domain.as_str().to_ascii_lowercase()
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        Box::pin(async move {
            job.recipients
                .iter()
                .map(|&index| RcptResult {
                    index,
                    outcome: Outcome::Deferred,
                    status: "4.4.1".into(),
                    reply: "test transport: deferred".into(),
                    remote: None,
                    dsn_passed_on: false,
                })
                .collect()
        })
    }
}

struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// TXT records by name; a name mapped to `None` fails like a DNS timeout.
#[derive(Default)]
pub struct FakeDns(pub Mutex<HashMap<String, Option<Vec<String>>>>);

impl FakeDns {
    pub fn publish(&self, name: &str, records: &[&str]) {
        let records = records.iter().map(|r| r.to_string()).collect();
        self.0.lock().expect("dns table").insert(name.to_string(), Some(records));
    }
}

impl TxtLookup for FakeDns {
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupFailed>> {
        let answer = self.0.lock().expect("dns table").get(name).cloned();
        Box::pin(async move {
            match answer {
                Some(Some(records)) => Ok(records),
                Some(None) => Err(LookupFailed("timed out".into())),
                None => Ok(Vec::new()),
            }
        })
    }
}

pub struct Api {
    pub router: Router,
    pub store: Arc<SqliteStore>,
    pub queue: QueueManager,
    /// How often `on_change` was called.
    /// What the API said it changed, in order.
    pub changes: Arc<Mutex<Vec<DirectoryChange>>>,
    /// A superadmin's secret.
    pub root_secret: String,
    /// What DKIM checks find in DNS.
    pub dns: Arc<FakeDns>,
    /// How often the DKIM keys were reloaded (after rotations and removals).
    pub dkim_reloads: Arc<AtomicUsize>,
    /// Held messages (a real quarantine over the temporary directory).
    pub quarantine: Arc<postern_pipeline::Quarantine>,
    /// The AUTH failure blocks the client-block endpoints list and lift.
    pub guard: Arc<AuthGuard>,
    /// The archive (a real one over the temporary directory).
    pub archive: postern_archive::Archive,
    _dir: TempDir,
}

/// One answer: status, the JSON body (Null if not JSON) and the raw text.
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
}

impl Answer {
    pub fn field(&self) -> Option<&str> {
        self.json.get("field").and_then(Value::as_str)
    }
}

impl Api {
    pub fn new() -> Api {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).expect("database"));
        let spool = Spool::open(&dir.path().join("spool")).expect("spool");
        let config = SchedulerConfig {
            hostname: "postern.test".into(),
            concurrency: 2,
            destination_concurrency: 1,
            retry_first: Duration::from_secs(3600),
            retry_max: Duration::from_secs(3600),
            max_queue_lifetime: Duration::from_secs(86_400),
            delay_warning: None,
        };
        let queue = QueueManager::new(spool, Arc::new(DeferAll), Arc::new(NoEvents), config).expect("queue");
        let changes = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::clone(&changes);
        let dns = Arc::new(FakeDns::default());
        let dkim_reloads = Arc::new(AtomicUsize::new(0));
        let reloads = Arc::clone(&dkim_reloads);
        let guard = Arc::new(AuthGuard::new(GuardConfig {
            max_failures: 2,
            failure_window: Duration::from_secs(600),
            block_time: Duration::from_secs(600),
            failure_delay: Duration::ZERO,
        }));
        let event_stats = Arc::new(EventStats::default());
        let held_dir = postern_queue::QuarantineDir::open(&dir.path().join("quarantine")).expect("quarantine");
        let quarantine = Arc::new(postern_pipeline::Quarantine::new(
            held_dir,
            Arc::clone(&store) as Arc<dyn postern_store::QuarantineStore>,
            Arc::new(queue.clone()),
            Arc::new(NoEvents),
            "postern.test".into(),
        ));
        // The built-in scorer's training over the same store, with a minimum of 2 and 2.
        let scorer = Arc::new(
            postern_scorer::ScorerTrainer::open(
                Arc::new(postern_scorer::Analyzer::default()),
                Arc::new(
                    postern_scorer::Models::shipped(postern_scorer::TrainingMinimum { ham: 2, spam: 2 })
                        .expect("shipped model"),
                ),
                Arc::clone(&store) as Arc<dyn postern_store::ScorerStore>,
            )
            .expect("scorer"),
        );
        let archive = postern_archive::Archive::open(&dir.path().join("archive")).expect("archive").0;
        let state = AdminState::new(Ops {
            queue: queue.clone(),
            directory: Arc::clone(&store) as Arc<dyn DirectoryStore>,
            on_change: Arc::new(move |change: &DirectoryChange| {
                counter.lock().unwrap().push(change.clone());
            }),
            // Counters and locks are exercised end to end (tests/e2e/test_limits.py); here
            // their endpoints must still keep tenants apart (404 before 503).
            limits: None,
            locks: None,
            dkim: Some(DkimAdmin {
                store: Arc::clone(&store) as Arc<dyn DkimStore>,
                master_key: Arc::new(MasterKey::load_or_create(&dir.path().join("dkim.key")).expect("master key").0),
                dns: Arc::clone(&dns) as Arc<dyn TxtLookup>,
                on_change: Arc::new(move || {
                    reloads.fetch_add(1, Ordering::SeqCst);
                }),
            }),
            // Loopback trusted and listening, /24 and /48: the configuration's defaults.
            ip_rules: IpAccountRules::default(),
            client_blocks: Some(Arc::new(ClientBlocks::new(Arc::clone(&guard), Vec::new()))),
            events: Some(Arc::clone(&event_stats)),
            system_mail: Some(Arc::new(queue.system_mailer())),
            quarantine: Some(Arc::clone(&quarantine)),
            scorer: Some(Arc::clone(&scorer)),
            archive: Some(archive.clone()),
            log: Some(Arc::clone(&store) as Arc<dyn postern_store::LogSearch>),
            panel: Some(Arc::new(postern_ops::panel_auth::PanelAuth::new(
                Arc::clone(&store) as Arc<dyn postern_store::AdminUserStore>,
                postern_ops::panel_auth::SessionRules {
                    idle: std::time::Duration::from_secs(3600),
                    lifetime: std::time::Duration::from_secs(12 * 3600),
                },
            ))),
        });
        let api = Api {
            router: router(state),
            store,
            queue,
            changes,
            root_secret: String::new(),
            dns,
            dkim_reloads,
            quarantine,
            guard,
            archive,
            _dir: dir,
        };
        let root = api.token("root", Role::Superadmin, &[]);
        Api { root_secret: root, ..api }
    }

    /// Creates a token directly in the store; returns its secret.
    pub fn token(&self, name: &str, role: Role, domains: &[&str]) -> String {
        let (secret, secret_hash) = new_token_secret();
        let domains = domains.iter().map(|d| d.to_string()).collect();
        self.store.create_token(&NewToken { name: name.into(), role, domains, secret_hash }).expect("token");
        secret
    }

    pub fn changes(&self) -> usize {
        self.changes.lock().unwrap().len()
    }

    /// The changes the API reported so far.
    pub fn change_log(&self) -> Vec<DirectoryChange> {
        self.changes.lock().unwrap().clone()
    }

    /// The whole answer, headers included (for the web panel's pages).
    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, json, text }
    }

    /// A request with `token` (if any) and a JSON body (if any).
    pub async fn call(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("/api/v1{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// As the superadmin.
    pub async fn root(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.call(Some(&self.root_secret), method, path, body).await
    }

    /// As the superadmin; panics unless the status is `expect`.
    pub async fn ok(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Value {
        let answer = self.root(method, path, body).await;
        assert_eq!(answer.status.as_u16(), expect, "{method} {path}: {}", answer.text);
        answer.json
    }

    /// Queues a message owned by `account_id` of `domain`, sent from `sender`.
    pub async fn queue_message(&self, account_id: i64, domain: &str, sender: &str) -> QueueId {
        let body = b"Subject: test\r\n\r\nhello\r\n".to_vec();
        let envelope = owned_envelope(account_id, domain, sender, body.len());
        let id = envelope.queue_id;
        self.queue.enqueue(envelope, Vec::new(), body).await.expect("queued");
        id
    }

    /// Logs message `id` of `domain` from `sender` as the pipeline would (its `checked` and
    /// `queued` events), so that log search finds it under `domain`.
    pub fn log_message(&self, id: QueueId, domain: &str, sender: &str) {
        use postern_core::{Disposition, Event, EventKind};
        use postern_store::EventStore;
        let event = |kind| Event {
            at_ms: postern_core::event::now_ms(),
            session: 1,
            client_ip: "192.0.2.1".parse().expect("ip"),
            queue_id: Some(id),
            kind,
        };
        let queued = EventKind::Queued {
            size: 10,
            sender: sender.into(),
            recipients: vec![format!("rcpt@{domain}")],
            tls: None,
            message_id: Some(format!("<{id}@{domain}>")),
            account: Some("192.0.2.0/28".into()),
            account_id: None,
            domain: Some(domain.into()),
            sender_domain: sender.rsplit_once('@').map(|(_, d)| d.to_string()),
            identity: Some(sender.into()),
            subject: Some(format!("hello from {domain}")),
        };
        let checked = EventKind::Checked { disposition: Disposition::Deliver, checks: Vec::new(), message: None };
        self.store.append(&[event(checked), event(queued)]).expect("logged");
    }

    /// Holds a spam message owned by `account_id` of `domain`, sent from `sender`, as the
    /// pipeline does; returns its quarantine id.
    pub async fn hold_message(&self, account_id: i64, domain: &str, sender: &str) -> i64 {
        let message = format!("From: {sender}\r\nSubject: pills for {domain}\r\n\r\nBuy \x07now\r\n").into_bytes();
        let envelope = owned_envelope(account_id, domain, sender, message.len());
        let submission = postern_core::Submission {
            hostname: "postern.test".into(),
            ..test_support::submission(None, envelope, message.clone())
        };
        let checks = [postern_core::CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: Some("GTUBE".into()),
            result: "spam".into(),
            score: None,
            micros: 1,
            part: None,
        }];
        let held = self.quarantine.hold(&submission, b"Received: from test\r\n", &message, "GTUBE", &checks, "reject");
        held.await.expect("held").id
    }
}

impl Api {
    /// Archives a message of `account_id` of `domain`, sent from `sender`, as the pipeline
    /// does; returns its archive id.
    pub fn archive_message(&self, account_id: i64, domain: &str, sender: &str, subject: &str) -> i64 {
        let message = format!(
            "From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@{domain}>\r\n\r\nbody of {subject}\r\n"
        );
        let copy = postern_core::ArchiveCopy {
            envelope: owned_envelope(account_id, domain, sender, message.len()),
            head: Arc::new(b"Received: from test\r\n".to_vec()),
            message: Arc::new(message.into_bytes()),
            message_id: Some(format!("<{subject}@{domain}>")),
        };
        self.archive.store(&copy).expect("archived").id
    }
}

/// A message from `sender` to `someone@destination.test`, received now, owned by
/// `account_id` of `domain`.
fn owned_envelope(account_id: i64, domain: &str, sender: &str, size: usize) -> Envelope {
    Envelope {
        received_at_ms: postern_core::event::now_ms(),
        client: test_support::client("192.0.2.1:40000", "submission"),
        size: size as u64,
        owner: Some(test_support::owner(Some(account_id), Some(domain), sender)),
        ..test_support::envelope(Some(sender), &["someone@destination.test"])
    }
}
