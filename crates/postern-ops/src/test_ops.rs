//! Unit-test support: an [`Ops`] over real parts in a temporary directory — a SQLite
//! store, a spool and queue manager whose delivery loop never runs, a quarantine, DKIM
//! with a master key and a DNS that publishes nothing — and callers of either role.
//! Test-only (`cfg(test)`).

use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::{Role, SenderSecurity};
use postern_core::test_support::{self, Collected};
use postern_core::{BoxFuture, CheckRecord, Envelope, QueueId, Recipient};
use postern_dkim::{LookupFailed, MasterKey, TxtLookup};
use postern_pipeline::Quarantine;
use postern_queue::{Job, QueueManager, RcptResult, SchedulerConfig, Spool, Transport};
use postern_store::{DirectoryStore, DkimStore, NewDomain, QuarantineStore, Scope, SqliteStore};
use tempfile::TempDir;

use crate::{Caller, DkimAdmin, IpAccountRules, Ops};

/// Never called: the delivery loop is not started, so messages stay queued.
struct NoDelivery;

impl Transport for NoDelivery {
    fn destination(&self, _envelope: &Envelope, recipient: &Recipient) -> String {
        recipient.address.domain.as_str().to_ascii_lowercase()
    }

    fn deliver(&self, _job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        Box::pin(async { Vec::new() })
    }
}

/// Every name is NXDOMAIN.
struct NoDns;

impl TxtLookup for NoDns {
    fn txt<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupFailed>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

pub struct TestOps {
    pub ops: Ops,
    pub store: Arc<SqliteStore>,
    pub quarantine: Arc<Quarantine>,
    _dir: TempDir,
}

impl TestOps {
    pub fn new() -> TestOps {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).expect("database"));
        let spool = Spool::open(&dir.path().join("spool")).expect("spool");
        let config = SchedulerConfig {
            hostname: "postern.test".into(),
            concurrency: 1,
            destination_concurrency: 1,
            retry_first: Duration::from_secs(3600),
            retry_max: Duration::from_secs(3600),
            max_queue_lifetime: Duration::from_secs(86_400),
            delay_warning: None,
        };
        let events = Arc::new(Collected::default());
        let queue = QueueManager::new(spool, Arc::new(NoDelivery), events.clone(), config).expect("queue");
        let held = postern_queue::QuarantineDir::open(&dir.path().join("quarantine")).expect("quarantine");
        let quarantine = Arc::new(Quarantine::new(
            held,
            Arc::clone(&store) as Arc<dyn QuarantineStore>,
            Arc::new(queue.clone()),
            events,
            "postern.test".into(),
        ));
        let master_key = MasterKey::load_or_create(&dir.path().join("dkim.key")).expect("master key").0;
        let ops = Ops {
            queue,
            directory: Arc::clone(&store) as Arc<dyn DirectoryStore>,
            on_change: Arc::new(|_| {}),
            limits: None,
            locks: None,
            dkim: Some(DkimAdmin {
                store: Arc::clone(&store) as Arc<dyn DkimStore>,
                master_key: Arc::new(master_key),
                dns: Arc::new(NoDns),
                on_change: Arc::new(|| {}),
            }),
            ip_rules: IpAccountRules::default(),
            client_blocks: None,
            events: None,
            system_mail: None,
            quarantine: Some(Arc::clone(&quarantine)),
            scorer: None,
            archive: None,
            log: None,
            panel: None,
        };
        TestOps { ops, store, quarantine, _dir: dir }
    }

    /// Creates these domains in the store.
    pub fn domains(&self, names: &[&str]) {
        for name in names {
            let new = NewDomain {
                name: name.to_string(),
                filter_enabled: false,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            };
            self.store.create_domain(&new).expect("domain");
        }
    }

    /// Queues a message of `domain`'s account 1, sent from `sender`.
    pub async fn queue_message(&self, domain: &str, sender: &str) -> QueueId {
        let body = b"Subject: test\r\n\r\nhello\r\n".to_vec();
        let envelope = owned_envelope(domain, sender, body.len());
        let id = envelope.queue_id;
        postern_core::Enqueue::enqueue(&self.ops.queue, envelope, Vec::new(), body).await.expect("queued");
        id
    }

    /// Holds a spam message of `domain`'s account, sent from `sender`, as the pipeline
    /// does; returns its quarantine id.
    pub async fn hold_message(&self, domain: &str, sender: &str) -> i64 {
        let message = format!("From: {sender}\r\nSubject: pills\r\n\r\nBuy now\r\n").into_bytes();
        let envelope = owned_envelope(domain, sender, message.len());
        let submission = postern_core::Submission {
            hostname: "postern.test".into(),
            ..test_support::submission(None, envelope, message.clone())
        };
        let checks = [CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: Some("GTUBE".into()),
            result: "spam".into(),
            part: None,
            score: None,
            micros: 1,
        }];
        let held = self.quarantine.hold(&submission, b"Received: from test\r\n", &message, "GTUBE", &checks, "reject");
        held.await.expect("held").id
    }
}

fn owned_envelope(domain: &str, sender: &str, size: usize) -> Envelope {
    Envelope {
        received_at_ms: postern_core::event::now_ms(),
        client: test_support::client("192.0.2.1:40000", "submission"),
        size: size as u64,
        owner: Some(test_support::owner(Some(1), Some(domain), sender)),
        ..test_support::envelope(Some(sender), &["someone@destination.test"])
    }
}

/// A caller of `role`; a domain admin sees `domains`.
pub fn caller(role: Role, domains: &[&str]) -> Caller {
    let scope = match role {
        Role::Superadmin => Scope::All,
        Role::DomainAdmin => Scope::Domains(domains.iter().map(|d| d.to_string()).collect()),
    };
    let name = match role {
        Role::Superadmin => "root",
        Role::DomainAdmin => "tenant",
    };
    Caller { token_id: 1, name: name.into(), role, scope }
}
