//! Block and allow lists in scripted sessions: a rejected recipient and its event, a
//! discarded message (DATA and BDAT) answered as queued but never spooled, and an allow
//! rule that never lets an unattributed client relay.

mod common;

use std::sync::Arc;

use common::{Options, start};
use postern_core::EventKind;
use postern_core::tenancy::{ListAction, ListKind, ListRule};
use postern_policy::{Directory, DirectoryIndex, RelayPolicy};

fn rule(id: i64, kind: ListKind, value: &str, action: ListAction) -> ListRule {
    ListRule { id, domain: None, kind, value: value.into(), action, comment: None, created_at_ms: 0 }
}

/// 127.0.0.0/8 trusted, with these global rules.
fn opts(rules: Vec<ListRule>) -> Options {
    let index = DirectoryIndex::default().with_rules(rules);
    let policy = RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]).with_directory(Arc::new(Directory::new(index)));
    Options { policy: Some(policy), ..Options::default() }
}

fn discarded(c: &common::Client) -> Vec<(String, i64, String, Vec<String>)> {
    let events = c.events.0.lock().unwrap().clone();
    events
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Discarded { rule, sender, recipients, .. } => {
                Some((e.queue_id.map(|q| q.to_string()).unwrap_or_default(), rule, sender, recipients))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_rejected_recipient_is_answered_and_logged_the_others_go() {
    let mut c = start(opts(vec![rule(4, ListKind::Recipient, "trap@remote.example", ListAction::Reject)])).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd(
        "RCPT TO:<Trap@remote.example>",
        "554 5.7.1 <Trap@remote.example>: Recipient address rejected: blocked by list rule 4\r\n",
    )
    .await;
    c.cmd("RCPT TO:<b@remote.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let spooled = c.spooled();
    assert_eq!(spooled.len(), 1);
    assert_eq!(spooled[0].0.recipients.len(), 1);
    assert_eq!(
        c.refusals(),
        [(
            "554 5.7.1 <Trap@remote.example>: Recipient address rejected: blocked by list rule 4".to_string(),
            "recipient address rejected by list rule 4 (global: reject recipient trap@remote.example)".to_string()
        )]
    );
}

#[tokio::test]
async fn a_discarded_message_is_answered_as_queued_and_never_spooled() {
    let mut c = start(opts(vec![rule(7, ListKind::SenderDomain, "bulk.example", ListAction::Discard)])).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<news@bulk.example>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<a@remote.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("RCPT TO:<b@remote.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n").await;
    let reply = c.reply().await;
    let id = reply.strip_prefix("250 2.0.0 Ok: queued as ").expect("a queued reply").trim_end().to_string();
    // BDAT too; and the session goes on with ordinary mail.
    c.cmd("MAIL FROM:<news@bulk.example>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<a@remote.example>", "250 2.1.5 Ok\r\n").await;
    c.send(b"BDAT 4 LAST\r\nhi\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let kept = c.send_message("a@example.com", &["a@remote.example"], "Subject: kept\r\n\r\nhi\r\n").await;
    let spooled = c.spooled();
    assert_eq!(spooled.len(), 1, "only the ordinary message is spooled");
    assert_eq!(spooled[0].0.queue_id.to_string(), kept);
    let events = discarded(&c);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0],
        (id, 7, "news@bulk.example".to_string(), vec!["a@remote.example".to_string(), "b@remote.example".to_string()])
    );
}

#[tokio::test]
async fn an_allow_never_lets_an_unattributed_client_relay() {
    let rules = vec![
        rule(1, ListKind::Network, "192.0.2.0/24", ListAction::Allow),
        rule(2, ListKind::Recipient, "bin@remote.example", ListAction::Discard),
    ];
    let mut c = start(Options { peer: "192.0.2.50:40000".parse().unwrap(), ..opts(rules) }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<x@remote.example>", "554 5.7.1 <x@remote.example>: Relay access denied\r\n").await;
    c.cmd("RCPT TO:<bin@remote.example>", "554 5.7.1 <bin@remote.example>: Relay access denied\r\n").await;
    c.cmd("DATA", "503 5.5.1 Error: need RCPT command\r\n").await;
    assert!(c.spooled().is_empty());
    assert!(discarded(&c).is_empty());
}
