//! What the pipeline's in-process tests share: an event sink that collects, a pipeline over
//! a real spool in a temporary directory, an account and a submission.
#![allow(dead_code)]

use std::sync::Arc;

use postern_core::tenancy::Account;
use postern_core::test_support::{envelope, owner};
use postern_core::{CheckRecord, Disposition, Envelope, EventKind, Submission};
use postern_pipeline::Pipeline;
use postern_queue::Spool;

pub use postern_core::test_support::Collected;

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
            EventKind::Checked { disposition, checks, .. } => Some((*disposition, checks.clone())),
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

pub use postern_core::test_support::account;

pub fn submission(account: Option<Account>, text: &str) -> Submission {
    let message = format!("From: alice@example.com\r\nSubject: t\r\n\r\n{text}\r\n");
    let owner = owner(account.as_ref().map(|a| a.id), account.as_ref().map(|a| a.domain.as_str()), "alice@example.com");
    let envelope = Envelope { owner: Some(owner), ..envelope(Some("alice@example.com"), &["bob@remote.example"]) };
    postern_core::test_support::submission(account, envelope, message)
}
