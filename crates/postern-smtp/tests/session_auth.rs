//! Accounts at the SMTP door: AUTH PLAIN/LOGIN only over TLS, failures throttled and then
//! blocked, IP accounts and re-authentication, sender ownership, disabled domains, and the
//! owner (account + identity) recorded in the spooled envelope.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Options, start};
use postern_core::tenancy::{Account, AccountKind, Domain, IdentificationMethod, SenderSecurity};
use postern_core::test_support::account_of as account;
use postern_core::{EventKind, Owner};
use postern_policy::{Directory, DirectoryIndex, GuardConfig, RelayPolicy, password};

const ALICE_PASSWORD: &str = "alice's long secret";

fn domain(name: &str, enabled: bool) -> Domain {
    Domain {
        name: name.into(),
        filter_enabled: enabled,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash(ALICE_PASSWORD).unwrap()).clone()
}

/// example.com (enabled) with alice (user), the domain account, and 10.9.0.0/16 (ip,
/// re-authentication per `reauth`); disabled.example with bob (user).
fn policy(reauth: bool, tweak: impl FnOnce(&mut Vec<(Account, Option<String>)>)) -> RelayPolicy {
    let mut ip = account(3, "example.com", AccountKind::Ip, "10.9.0.0/16");
    ip.settings.allow_reauthentication = reauth;
    let mut accounts = vec![
        (account(1, "example.com", AccountKind::User, "alice@example.com"), Some(hash())),
        (account(2, "example.com", AccountKind::Domain, "example.com"), Some(hash())),
        (ip, None),
        (account(4, "disabled.example", AccountKind::User, "bob@disabled.example"), Some(hash())),
    ];
    tweak(&mut accounts);
    let index = DirectoryIndex::build(vec![domain("example.com", true), domain("disabled.example", false)], accounts);
    RelayPolicy::new(vec![]).with_directory(Arc::new(Directory::new(index))).with_auth_guard(GuardConfig {
        max_failures: 3,
        failure_window: Duration::from_secs(60),
        block_time: Duration::from_secs(60),
        failure_delay: Duration::ZERO,
    })
}

fn plain(user: &str, pass: &str) -> String {
    STANDARD.encode(format!("\0{user}\0{pass}"))
}

fn opts(policy: RelayPolicy) -> Options {
    Options { policy: Some(policy), peer: "192.0.2.50:40000".parse().unwrap(), ..Options::default() }
}

#[tokio::test]
async fn auth_is_offered_and_accepted_only_over_tls() {
    let mut c = start(opts(policy(false, |_| {}))).await;
    c.send(b"EHLO client.example\r\n").await;
    let ehlo = c.reply().await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    let line = format!("AUTH PLAIN {}", plain("alice@example.com", ALICE_PASSWORD));
    c.cmd(&line, "538 5.7.11 Encryption required for requested authentication mechanism\r\n").await;
    // Unattributed: no relaying.
    c.cmd("MAIL FROM:<alice@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<x@remote.example>", "554 5.7.1 <x@remote.example>: Relay access denied\r\n").await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS\r\n").await;
    c.tls_handshake().await;
    c.send(b"EHLO client.example\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    c.cmd(&line, "235 2.7.0 Authentication successful\r\n").await;
    c.cmd(&line, "503 5.5.1 Error: already authenticated\r\n").await;
    c.send_message("alice@example.com", &["x@remote.example"], "Subject: t\r\n\r\nhi\r\n").await;
    let (envelope, _) = c.spooled().pop().unwrap();
    assert_eq!(
        envelope.owner,
        Some(Owner {
            account_id: Some(1),
            account: "alice@example.com".into(),
            domain: Some("example.com".into()),
            identity: "alice@example.com".into(),
            auth_user: Some("alice@example.com".into()),
        })
    );
    let events = c.events.0.lock().unwrap().clone();
    let auth = events.iter().find_map(|e| match &e.kind {
        EventKind::Auth { result, user, .. } => Some((result.clone(), user.clone())),
        _ => None,
    });
    assert_eq!(auth, Some(("success".into(), "alice@example.com".into())));
    let queued = events.iter().find_map(|e| match &e.kind {
        EventKind::Queued { domain, sender_domain, identity, .. } => {
            Some((domain.clone(), sender_domain.clone(), identity.clone()))
        }
        _ => None,
    });
    assert_eq!(
        queued,
        Some((Some("example.com".into()), Some("example.com".into()), Some("alice@example.com".into())))
    );
}

#[tokio::test]
async fn plaintext_auth_when_the_listener_allows_it() {
    let mut c = start(Options { allow_plaintext_auth: true, ..opts(policy(false, |_| {})) }).await;
    c.send(b"EHLO client.example\r\n").await;
    assert!(c.reply().await.contains("250-AUTH PLAIN LOGIN\r\n"));
    let line = format!("AUTH PLAIN {}", plain("example.com", ALICE_PASSWORD));
    c.cmd(&line, "235 2.7.0 Authentication successful\r\n").await;
    // A domain account may use any address of its domain, and only those.
    c.cmd("MAIL FROM:<anyone@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd(
        "MAIL FROM:<anyone@other.example>",
        "553 5.7.1 <anyone@other.example>: Sender address rejected: not owned by user example.com\r\n",
    )
    .await;
}

#[tokio::test]
async fn login_mechanism_and_protocol_errors() {
    let mut c = start(opts(policy(false, |_| {}))).await;
    c.ehlo().await;
    c.starttls().await;
    c.cmd("AUTH CRAM-MD5", "504 5.5.4 Unsupported authentication mechanism\r\n").await;
    c.cmd("AUTH", "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n").await;
    c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6\r\n").await;
    c.cmd("*", "501 5.7.0 Authentication aborted\r\n").await;
    c.cmd("AUTH PLAIN", "334 \r\n").await;
    c.cmd("not base64!", "501 5.5.2 Error: cannot decode response\r\n").await;
    let other = STANDARD.encode("mallory@example.com\0alice@example.com\0x");
    c.cmd(&format!("AUTH PLAIN {other}"), "535 5.7.8 Error: authorization identity not allowed\r\n").await;
    c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6\r\n").await;
    c.cmd(&STANDARD.encode("Alice@Example.com"), "334 UGFzc3dvcmQ6\r\n").await;
    c.cmd(&STANDARD.encode(ALICE_PASSWORD), "235 2.7.0 Authentication successful\r\n").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("AUTH PLAIN =", "503 5.5.1 Error: MAIL transaction in progress\r\n").await;
}

#[tokio::test]
async fn failures_are_refused_then_the_client_is_blocked() {
    let p = policy(false, |_| {});
    let mut c = start(opts(p)).await;
    c.ehlo().await;
    c.starttls().await;
    let wrong = format!("AUTH PLAIN {}", plain("alice@example.com", "wrong password"));
    c.cmd(&wrong, "535 5.7.8 Error: authentication failed\r\n").await;
    let unknown = format!("AUTH PLAIN {}", plain("nobody@example.com", ALICE_PASSWORD));
    c.cmd(&unknown, "535 5.7.8 Error: authentication failed\r\n").await;
    // The third failure reaches the limit: 421 and the connection is closed.
    c.cmd(&wrong, "421 4.7.0 mx.test.example Error: too many failed authentications; try again later\r\n").await;
    c.expect_closed().await;
    let results: Vec<String> = c
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Auth { result, detail, .. } => Some(format!("{result}: {detail}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        [
            "failure: wrong password for account alice@example.com",
            "failure: unknown user",
            "blocked: too many authentication failures from this client"
        ]
    );
    for e in c.events.0.lock().unwrap().iter() {
        let json = serde_json::to_string(e).unwrap();
        assert!(!json.contains("wrong password\""), "{json}");
        assert!(!json.contains(ALICE_PASSWORD), "{json}");
    }
}

#[tokio::test]
async fn ip_accounts_relay_without_auth_and_reauthenticate_only_with_the_flag() {
    let peer = "10.9.1.2:5000".parse().unwrap();
    let mut c = start(Options { peer, ..opts(policy(false, |_| {})) }).await;
    c.ehlo().await;
    c.send_message("app@example.com", &["x@remote.example"], "Subject: t\r\n\r\nhi\r\n").await;
    c.cmd(
        "MAIL FROM:<app@foreign.example>",
        "553 5.7.1 <app@foreign.example>: Sender address rejected: not owned by user 10.9.0.0/16\r\n",
    )
    .await;
    c.starttls().await;
    let line = format!("AUTH PLAIN {}", plain("alice@example.com", ALICE_PASSWORD));
    c.cmd(&line, "503 5.5.1 Error: authentication not allowed for this client\r\n").await;
    let (envelope, _) = c.spooled().pop().unwrap();
    let owner = envelope.owner.unwrap();
    assert_eq!((owner.account_id, owner.identity.as_str()), (Some(3), "app@example.com"));

    // With the flag, the same client may AUTH and is then attributed to that account.
    let mut c = start(Options { peer, ..opts(policy(true, |_| {})) }).await;
    c.ehlo().await;
    c.starttls().await;
    let line = format!("AUTH PLAIN {}", plain("bob@disabled.example", ALICE_PASSWORD));
    c.cmd(&line, "235 2.7.0 Authentication successful\r\n").await;
    // bob's domain is disabled: the account may not send at all.
    c.cmd(
        "MAIL FROM:<bob@disabled.example>",
        "550 5.7.1 <bob@disabled.example>: Sender address rejected: outgoing filter is not enabled for domain disabled.example\r\n",
    )
    .await;
}

#[tokio::test]
async fn foreign_sender_domains_when_allowed() {
    let p = policy(false, |accounts| accounts[2].0.settings.allow_foreign_sender_domains = true);
    let mut c = start(Options { peer: "10.9.1.2:5000".parse().unwrap(), ..opts(p) }).await;
    c.ehlo().await;
    c.send_message("app@foreign.example", &["x@remote.example"], "Subject: t\r\n\r\nhi\r\n").await;
}

#[tokio::test]
async fn header_identification_with_regex_and_stripping() {
    let p = policy(false, |accounts| {
        let id = &mut accounts[2].0.settings.identification;
        id.method = IdentificationMethod::Header;
        id.headers = vec!["X-AuthUser".into(), "X-Client-ID".into()];
        id.regex = Some(r"customer=(\w+)".into());
        id.strip = true;
    });
    let mut c = start(Options { peer: "10.9.1.2:5000".parse().unwrap(), ..opts(p) }).await;
    c.ehlo().await;
    let data = "From: shop@example.com\r\nX-Client-ID: shop=1; customer=c42\r\nSubject: order\r\n\r\nX-Client-ID: body stays\r\n";
    c.send_message("shop@example.com", &["x@remote.example"], data).await;
    let (envelope, message) = c.spooled().pop().unwrap();
    assert_eq!(envelope.owner.unwrap().identity, "c42");
    let text = String::from_utf8(message).unwrap();
    assert!(!text.contains("X-Client-ID: shop=1"), "{text}");
    assert!(text.contains("\r\nFrom: shop@example.com\r\nSubject: order\r\n\r\nX-Client-ID: body stays\r\n"), "{text}");
    assert_eq!(envelope.size, text.len() as u64);
}
