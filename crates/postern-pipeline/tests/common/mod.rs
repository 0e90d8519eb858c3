//! What the pipeline's in-process tests share: an event sink that collects, a pipeline over
//! a real spool in a temporary directory, an account and a submission.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use postern_core::tenancy::{Account, AccountKind, AccountSettings, LockState};
use postern_core::{
    Address, BodyType, BoxFuture, CheckRecord, ClientInfo, Disposition, Envelope, Event, EventKind, EventSink, Owner,
    QueueId, Recipient, Submission,
};
use postern_pipeline::Pipeline;
use postern_queue::Spool;

#[derive(Default)]
pub struct Collected(pub Mutex<Vec<Event>>);

impl EventSink for Collected {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub spool: Spool,
    pub events: Arc<Collected>,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        Setup { _dir: dir, spool, events: Arc::default() }
    }

    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(Arc::new(self.spool.clone()), self.events.clone())
    }

    pub fn spooled(&self) -> usize {
        self.spool.recover().unwrap().messages.len()
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.events.0.lock().unwrap().iter().map(|e| e.kind.name()).collect()
    }

    pub fn trace(&self) -> (Disposition, Vec<CheckRecord>) {
        let events = self.events.0.lock().unwrap();
        let found = events.iter().find_map(|e| match &e.kind {
            EventKind::Checked { disposition, checks } => Some((*disposition, checks.clone())),
            _ => None,
        });
        found.expect("a checked event")
    }

    pub fn refusals(&self) -> Vec<String> {
        let events = self.events.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn account(settings: AccountSettings) -> Account {
    Account {
        id: 7,
        domain: "example.com".into(),
        kind: AccountKind::User,
        name: "alice@example.com".into(),
        has_password: true,
        settings,
        lock: LockState::default(),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

pub fn submission(account: Option<Account>, text: &str) -> Submission {
    let message = format!("From: alice@example.com\r\nSubject: t\r\n\r\n{text}\r\n").into_bytes();
    Submission {
        session: 1,
        hostname: "mx.test".into(),
        envelope: Envelope {
            queue_id: QueueId::generate(),
            received_at_ms: 0,
            sender: Some(Address::parse("alice@example.com", false).unwrap()),
            recipients: vec![Recipient {
                address: Address::parse("bob@remote.example", false).unwrap(),
                notify: None,
                orcpt: None,
            }],
            body: BodyType::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
            client: ClientInfo {
                ip: "127.0.0.1".parse().unwrap(),
                port: 1,
                listener: "submission".into(),
                helo: None,
                tls: None,
            },
            size: 0,
            owner: Some(Owner {
                account_id: account.as_ref().map(|a| a.id),
                account: "alice@example.com".into(),
                domain: account.as_ref().map(|a| a.domain.clone()),
                identity: "alice@example.com".into(),
                auth_user: None,
            }),
        },
        account,
        head: "Received: from test\r\n".into(),
        message,
        message_id: None,
    }
}
