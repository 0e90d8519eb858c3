//! A real [`Ops`] for the operations' unit tests: a SQLite directory and a spool in a
//! temporary directory, a queue whose delivery loop never starts (its transport would
//! defer everything), and none of the optional parts (counters, locks, DKIM, client
//! blocks, quarantine, scorer). Callers: a superadmin and domain admins of given domains.

use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::Role;
use postern_core::test_support::Collected;
use postern_core::{BoxFuture, Envelope, Recipient};
use postern_queue::{Job, Outcome, QueueManager, RcptResult, SchedulerConfig, Spool, Transport};
use postern_store::{DirectoryStore, Scope, SqliteStore};
use tempfile::TempDir;

use crate::domains::{self, DomainCreate};
use crate::{Caller, IpAccountRules, Ops};

struct DeferAll;

impl Transport for DeferAll {
    fn destination(&self, _envelope: &Envelope, recipient: &Recipient) -> String {
        recipient.address.domain.as_str().to_ascii_lowercase()
    }

    fn deliver(&self, job: Job) -> BoxFuture<'_, Vec<RcptResult>> {
        let results = job.recipients.iter().map(|&index| RcptResult {
            index,
            outcome: Outcome::Deferred,
            status: "4.4.1".into(),
            reply: "test transport: deferred".into(),
            remote: None,
            dsn_passed_on: false,
        });
        let results = results.collect();
        Box::pin(async move { results })
    }
}

pub(crate) struct TestOps {
    pub ops: Ops,
    /// The store behind the directory (and the log, for tests that set `ops.log`).
    pub store: Arc<SqliteStore>,
    _dir: TempDir,
}

impl TestOps {
    pub fn new() -> TestOps {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("postern.db")).unwrap());
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let config = SchedulerConfig {
            hostname: "postern.test".into(),
            concurrency: 1,
            destination_concurrency: 1,
            retry_first: Duration::from_secs(3600),
            retry_max: Duration::from_secs(3600),
            max_queue_lifetime: Duration::from_secs(86_400),
            delay_warning: None,
        };
        let queue = QueueManager::new(spool, Arc::new(DeferAll), Arc::new(Collected::default()), config).unwrap();
        let ops = Ops {
            queue,
            directory: Arc::clone(&store) as Arc<dyn DirectoryStore>,
            on_change: Arc::new(|_| {}),
            limits: None,
            locks: None,
            dkim: None,
            ip_rules: IpAccountRules::default(),
            client_blocks: None,
            events: None,
            system_mail: None,
            quarantine: None,
            scorer: None,
            archive: None,
            log: None,
            panel: Some(Arc::new(crate::panel_auth::PanelAuth::new(
                Arc::clone(&store) as Arc<dyn postern_store::AdminUserStore>,
                crate::panel_auth::SessionRules {
                    idle: Duration::from_secs(3600),
                    lifetime: Duration::from_secs(12 * 3600),
                },
            ))),
        };
        TestOps { ops, store, _dir: dir }
    }

    /// A new domain, created by a superadmin.
    pub async fn domain(&self, name: &str) {
        let input = DomainCreate {
            name: name.into(),
            filter_enabled: false,
            sender_security: Default::default(),
            abuse_contact: None,
        };
        domains::create(&self.ops, &superadmin(), input).await.unwrap();
    }
}

pub(crate) fn superadmin() -> Caller {
    Caller { token_id: 1, name: "root".into(), role: Role::Superadmin, scope: Scope::All }
}

pub(crate) fn admin_of(domain: &str) -> Caller {
    Caller {
        token_id: 2,
        name: format!("admin of {domain}"),
        role: Role::DomainAdmin,
        scope: Scope::Domains(vec![domain.into()]),
    }
}
