//! DKIM at the end of data: the signature goes on top of what is spooled (after our
//! Received header and identity header stripping), with the account's selector or the
//! domain's active keys; account messages that cannot be signed are queued unsigned and
//! the event says why; trusted networks' messages are neither signed nor given an event. Signatures are verified independently in tests/e2e/test_dkim.py (dkimpy).

mod common;

use std::sync::Arc;

use common::{Options, start};
use postern_core::EventKind;
use postern_core::dkim::DkimAlgorithm;
use postern_core::tenancy::{Account, AccountKind, AccountSettings, Domain, IdentificationMethod};
use postern_core::test_support::account_of;
use postern_dkim::{KeyPair, KeyRing, Signer, SigningKey};
use postern_policy::{Directory, DirectoryIndex, RelayPolicy};

fn domain(name: &str) -> Domain {
    Domain {
        name: name.into(),
        filter_enabled: true,
        sender_security: Default::default(),
        abuse_contact: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

/// example.com with an ip account for 10.9.0.0/16 (identified by X-Client-ID, stripped),
/// trusted network 127.0.0.0/8.
fn policy(selector: Option<&str>) -> RelayPolicy {
    let mut settings = AccountSettings::for_kind(AccountKind::Ip);
    settings.identification.method = IdentificationMethod::Header;
    settings.identification.headers = vec!["X-Client-ID".into()];
    settings.identification.strip = true;
    settings.dkim_selector = selector.map(str::to_string);
    let account = Account { settings, ..account_of(1, "example.com", AccountKind::Ip, "10.9.0.0/16") };
    let index = DirectoryIndex::build(vec![domain("example.com")], vec![(account, None)]);
    RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]).with_directory(Arc::new(Directory::new(index)))
}

fn signer() -> Arc<Signer> {
    let rsa = KeyPair::generate(DkimAlgorithm::Rsa, None).unwrap();
    let ed = KeyPair::generate(DkimAlgorithm::Ed25519, None).unwrap();
    Arc::new(Signer::new(KeyRing::new([
        SigningKey::new("example.com", "r1", &rsa).unwrap(),
        SigningKey::new("example.com", "e1", &ed).unwrap(),
    ])))
}

fn options(selector: Option<&str>, peer: &str, signer: &Arc<Signer>) -> Options {
    Options {
        policy: Some(policy(selector)),
        peer: peer.parse().unwrap(),
        dkim: Some(Arc::clone(signer)),
        ..Options::default()
    }
}

/// One `dkim` event: (result, domain, selectors, reason).
type DkimEvent = (String, Option<String>, Vec<String>, Option<String>);

fn dkim_events(c: &common::Client) -> Vec<DkimEvent> {
    c.events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Dkim { result, domain, selectors, reason } => {
                Some((result.clone(), domain.clone(), selectors.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The names of the header fields of a spooled message, in order.
fn field_names(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn signatures_go_on_top_of_the_final_message() {
    let signer = signer();
    let mut c = start(options(None, "10.9.1.2:5000", &signer)).await;
    c.ehlo().await;
    let data = "From: Shop <shop@example.com>\r\nX-Client-ID: c42\r\nSubject: order\r\n\r\nbody\r\n";
    c.send_message("shop@example.com", &["x@remote.example"], data).await;
    let (envelope, message) = c.spooled().pop().unwrap();
    assert_eq!(field_names(&message), ["DKIM-Signature", "DKIM-Signature", "Received", "From", "Subject"]);
    let text = String::from_utf8(message.clone()).unwrap();
    assert!(text.starts_with("DKIM-Signature: v=1; a=rsa-sha256; s=r1; d=example.com; c=relaxed/relaxed;"), "{text}");
    assert!(text.contains("DKIM-Signature: v=1; a=ed25519-sha256; s=e1; d=example.com;"), "{text}");
    assert!(!text.contains("X-Client-ID"), "stripped before signing: {text}");
    assert_eq!(envelope.size, message.len() as u64, "the size counts the signatures");
    assert_eq!(envelope.owner.unwrap().identity, "c42");
    let events = dkim_events(&c);
    assert_eq!(events, [("signed".into(), Some("example.com".into()), vec!["r1".into(), "e1".into()], None)]);
}

#[tokio::test]
async fn the_accounts_selector_picks_one_key() {
    let signer = signer();
    let mut c = start(options(Some("E1"), "10.9.1.2:5000", &signer)).await;
    c.ehlo().await;
    c.send_message("shop@example.com", &["x@remote.example"], "From: shop@example.com\r\n\r\nhi\r\n").await;
    let (_, message) = c.spooled().pop().unwrap();
    assert_eq!(field_names(&message)[..2], ["DKIM-Signature", "Received"]);
    assert_eq!(dkim_events(&c)[0].2, ["e1"]);

    let mut c = start(options(Some("gone"), "10.9.1.2:5000", &signer)).await;
    c.ehlo().await;
    c.send_message("shop@example.com", &["x@remote.example"], "From: shop@example.com\r\n\r\nhi\r\n").await;
    let (result, _, selectors, note) = dkim_events(&c).remove(0);
    assert_eq!((result.as_str(), selectors.len()), ("signed", 2), "falls back to the domain's keys");
    assert!(note.unwrap_or_default().contains("gone"));
}

#[tokio::test]
async fn messages_that_cannot_be_signed_are_queued_unsigned_and_say_why() {
    let signer = signer();
    let mut c = start(options(None, "10.9.1.2:5000", &signer)).await;
    c.ehlo().await;
    c.send_message("shop@example.com", &["x@remote.example"], "From: someone@other.example\r\n\r\nhi\r\n").await;
    let mut trusted = start(options(None, "127.0.0.1:5000", &signer)).await;
    trusted.ehlo().await;
    trusted.send_message("app@example.com", &["x@remote.example"], "From: app@example.com\r\n\r\nhi\r\n").await;
    signer.replace(KeyRing::default());
    c.send_message("shop@example.com", &["x@remote.example"], "From: shop@example.com\r\n\r\nhi\r\n").await;

    let reasons: Vec<String> =
        dkim_events(&c).into_iter().map(|(r, _, _, why)| format!("{r}: {}", why.unwrap())).collect();
    assert_eq!(
        reasons,
        [
            "unsigned: From domain other.example is not the account's domain example.com",
            "unsigned: example.com has no active DKIM key"
        ]
    );
    assert!(dkim_events(&trusted).is_empty(), "trusted networks: not signed, no event");
    for (_, message) in c.spooled().into_iter().chain(trusted.spooled()) {
        assert_eq!(field_names(&message)[0], "Received", "queued unsigned");
    }
}
