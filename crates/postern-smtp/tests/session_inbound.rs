//! Inbound relay domains in scripted sessions: an unattributed client (127.0.0.1 is not
//! trusted here) may send to an inbound domain and to nothing else, in one transaction
//! too; the spooled envelope and the `queued` event name no account and the inbound domain.

mod common;

use std::sync::Arc;

use common::{Options, start};
use postern_core::EventKind;
use postern_core::tenancy::{InboundDomain, InboundTls};
use postern_policy::{Directory, DirectoryIndex, RelayPolicy};

fn opts() -> Options {
    let inbound = InboundDomain {
        name: "inbound.example".into(),
        host: "10.0.0.25".into(),
        port: 25,
        tls: InboundTls::Starttls,
        require_tls: false,
        comment: None,
        created_at_ms: 0,
    };
    let index = DirectoryIndex::default().with_inbound_domains(vec![inbound]);
    let policy =
        RelayPolicy::new(vec!["192.0.2.0/24".parse().unwrap()]).with_directory(Arc::new(Directory::new(index)));
    Options { policy: Some(policy), ..Options::default() }
}

#[tokio::test]
async fn only_the_inbound_recipients_of_a_transaction_are_accepted() {
    let mut c = start(opts()).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<someone@internet.example>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<bob@Inbound.Example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("RCPT TO:<carol@other.example>", "554 5.7.1 <carol@other.example>: Relay access denied\r\n").await;
    c.cmd("RCPT TO:<dave@sub.inbound.example>", "554 5.7.1 <dave@sub.inbound.example>: Relay access denied\r\n").await;
    c.cmd("RCPT TO:<user%evil.example@inbound.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: t\r\n\r\nhi\r\n.\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;

    let spooled = c.spooled();
    assert_eq!(spooled.len(), 1);
    let envelope = &spooled[0].0;
    let rcpts: Vec<String> = envelope.recipients.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(rcpts, ["bob@Inbound.Example", "user%evil.example@inbound.example"]);
    let owner = envelope.owner.as_ref().expect("an owner");
    assert_eq!((owner.account_id, owner.account.as_str()), (None, "inbound-relay"));
    assert_eq!(owner.domain.as_deref(), Some("inbound.example"));
    let queued = c.events.0.lock().unwrap().iter().find_map(|e| match &e.kind {
        EventKind::Queued { domain, account_id, .. } => Some((domain.clone(), *account_id)),
        _ => None,
    });
    assert_eq!(queued, Some((Some("inbound.example".to_string()), None)));
}

#[tokio::test]
async fn spam_to_an_inbound_domain_is_refused_and_counts_against_nobody() {
    let mut c = start(opts()).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<someone@internet.example>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<bob@inbound.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: t\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n.\r\n").await;
    c.expect("550 5.7.1 Error: message content rejected as spam (GTUBE)\r\n").await;
    assert!(c.spooled().is_empty(), "never queued, and no lock notice to anyone");
}

#[tokio::test]
async fn without_inbound_recipients_nothing_is_accepted() {
    let mut c = start(opts()).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<someone@internet.example>", "250 2.1.0 Ok\r\n").await;
    c.cmd(
        "RCPT TO:<x@inbound.example.evil.example>",
        "554 5.7.1 <x@inbound.example.evil.example>: Relay access denied\r\n",
    )
    .await;
    c.cmd("RCPT TO:<x@evil.example@inbound.example>", "501 5.1.3 Bad recipient address syntax\r\n").await;
    c.cmd("DATA", "503 5.5.1 Error: need RCPT command\r\n").await;
    assert!(c.spooled().is_empty());
}
