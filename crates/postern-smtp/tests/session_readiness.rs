//! A cluster node whose directory may be stale (it could not follow its shared store):
//! `451 4.3.0` at MAIL, and at RCPT for a transaction begun before, ahead of anything the
//! directory decides (a list's reject would be a permanent answer on stale data); logged
//! as a refusal. Current again: the same commands pass.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Options, start};
use postern_core::tenancy::{ListAction, ListKind, ListRule};
use postern_policy::{Directory, DirectoryIndex, Readiness, RelayPolicy};

const STALE: &str = "451 4.3.0 directory store unavailable, try again later\r\n";

#[tokio::test]
async fn a_stale_directory_answers_451_at_mail_and_rcpt_until_caught_up() {
    let trap = ListRule {
        id: 1,
        domain: None,
        kind: ListKind::Recipient,
        value: "trap@remote.example".into(),
        action: ListAction::Reject,
        comment: None,
        created_at_ms: 0,
    };
    let index = DirectoryIndex::default().with_rules(vec![trap]);
    let readiness = Readiness::following(Duration::from_millis(200));
    let policy = RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
        .with_directory(Arc::new(Directory::new(index)))
        .with_readiness(readiness.clone());
    let mut c = start(Options { policy: Some(policy), ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    c.cmd("RCPT TO:<trap@remote.example>", STALE).await;
    c.cmd("RCPT TO:<b@remote.example>", STALE).await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", STALE).await;
    let refusals = c.refusals();
    assert_eq!(refusals.len(), 3);
    assert!(refusals.iter().all(|(_, reason)| reason.starts_with("directory store unavailable")), "{refusals:?}");

    readiness.caught_up();
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@remote.example>", "250 2.1.5 Ok\r\n").await;
}
