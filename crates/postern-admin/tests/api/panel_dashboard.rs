//! The web panel's dashboard in process, as a superadmin and as a domain admin: charts
//! drawn, figures scoped (another tenant's accounts, identities and counts never appear
//! on a domain admin's page), locks listed with their links, the queue a superadmin's
//! only, and a sender's name with markup shown only as text. The browser side is
//! tests/e2e/test_panel_dashboard.py.

use axum::http::StatusCode;
use postern_core::event::MessageFacts;
use postern_core::tenancy::{AccountKind, IdentitySighting, LockState, Role};
use postern_core::{CheckRecord, Disposition, Event, EventKind, QueueId};
use postern_store::{AccountChange, AdminUserStore, DirectoryStore, EventStore, NewAdminUser};
use serde_json::json;

use crate::harness::Api;
use crate::panel::{Jar, get, hidden, location, logged_in, post};

const PASSWORD: &str = "a long panel password";
const PAYLOAD: &str = "<script id=\"pwned\">x</script>@b.example";

/// A message of `account` (of `domain`) from `sender`, logged as the pipeline does.
fn message(api: &Api, account: &str, domain: &str, sender: &str, disposition: Disposition) {
    let q = QueueId::generate();
    let at = postern_core::event::now_ms();
    let event =
        |kind| Event { at_ms: at, session: 1, client_ip: "192.0.2.1".parse().unwrap(), queue_id: Some(q), kind };
    let held = disposition != Disposition::Deliver;
    // A message not queued carries its facts, and the check that decided.
    let facts = held.then(|| {
        Box::new(MessageFacts {
            sender: sender.into(),
            recipients: vec!["someone@destination.test".into()],
            size: 10,
            account: Some(account.into()),
            domain: Some(domain.into()),
            sender_domain: sender.rsplit_once('@').map(|(_, d)| d.to_string()),
            identity: Some(sender.into()),
            ..MessageFacts::default()
        })
    });
    let checks = if held { vec![spam_check()] } else { Vec::new() };
    let mut events = vec![event(EventKind::Checked { disposition, checks, message: facts })];
    if !held {
        events.push(event(EventKind::Queued {
            size: 10,
            sender: sender.into(),
            recipients: vec!["someone@destination.test".into()],
            tls: None,
            message_id: None,
            account: Some(account.into()),
            account_id: None,
            domain: Some(domain.into()),
            sender_domain: sender.rsplit_once('@').map(|(_, d)| d.to_string()),
            identity: Some(sender.into()),
            subject: None,
        }));
    }
    api.store.append(&events).unwrap();
}

fn spam_check() -> CheckRecord {
    CheckRecord {
        stage: "content".into(),
        engine: "gtube".into(),
        rule: Some("GTUBE".into()),
        result: "spam".into(),
        score: None,
        micros: 1,
        part: None,
    }
}

async fn login(api: &Api, name: &str) -> Jar {
    let mut jar = Jar::default();
    let (_, _, page) = get(api, &mut jar, "/login").await;
    let token = hidden(&page, "csrf");
    let form = [("csrf", token.as_str()), ("name", name), ("password", PASSWORD), ("next", "/")];
    let (status, headers, page) = post(api, &mut jar, "/login", &form, None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/"), "{page}");
    jar
}

async fn dashboard(api: &Api, jar: &mut Jar) -> String {
    let (status, _, page) = get(api, jar, "/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(!page.contains("<script id=") && !page.contains("style="), "markup stays text: {page}");
    page
}

#[tokio::test]
async fn the_dashboard_draws_each_callers_own_figures() {
    let api = Api::new();
    for domain in ["a.example", "b.example"] {
        api.ok("POST", "/domains", Some(&json!({"name": domain})), 201).await;
    }
    let a = json!({"domain": "a.example", "kind": "ip", "name": "192.0.2.0/28"});
    let a_id = api.ok("POST", "/accounts", Some(&a), 201).await["id"].as_i64().unwrap();
    let b = json!({"domain": "b.example", "kind": "ip", "name": "198.51.100.0/28"});
    let b_id = api.ok("POST", "/accounts", Some(&b), 201).await["id"].as_i64().unwrap();
    let deliver = Disposition::Deliver;
    message(&api, "192.0.2.0/28", "a.example", "alice@a.example", deliver);
    message(&api, "192.0.2.0/28", "a.example", "alice@a.example", deliver);
    for _ in 0..3 {
        message(&api, "198.51.100.0/28", "b.example", "secret-b@b.example", deliver);
    }
    message(&api, "198.51.100.0/28", "b.example", PAYLOAD, deliver);
    message(&api, "198.51.100.0/28", "b.example", "q@b.example", Disposition::Quarantine);
    // b's account is locked; so is an identity of a's.
    let lock = LockState { locked: true, reason: Some("too much spam".into()), ..LockState::default() };
    api.store.update_account(b_id, &AccountChange { lock: Some(lock.clone()), ..AccountChange::default() }).unwrap();
    let seen = IdentitySighting { account_id: a_id, name: "stuck@a.example".into(), at_ms: 1 };
    api.store.record_identities(&[seen]).unwrap();
    let stuck = api.store.identity_by_name(a_id, "stuck@a.example").unwrap().unwrap();
    api.store.update_identity_lock(stuck.id, &lock).unwrap();
    assert!(api.store.account_by_name(AccountKind::Ip, "198.51.100.0/28").unwrap().unwrap().lock.locked);

    let mut root = logged_in(&api).await;
    let page = dashboard(&api, &mut root).await;
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 5, "24 h, 7 days, two top lists, the queue: {page}");
    assert!(
        page.contains(r#"role="img" aria-label="Messages per hour, last 24 hours: 6 sent, 0 refused, 1 quarantined""#)
    );
    assert!(page.contains(r#"<p class="figure" id="sent-24h">6</p>"#), "{page}");
    assert!(page.contains(r#"id="spam-rate">14.3 %"#), "1 quarantined of 7 checked: {page}");
    assert!(page.contains("<rect class=\"bar sent\" x=") && page.contains("Queue by state"));
    assert!(page.contains("&lt;script id=&quot;pwned&quot;&gt;"), "the payload as text: {page}");
    assert!(page.contains("198.51.100.0/28") && page.contains("secret-b@b.example"));
    assert!(page.contains(&format!(r#"href="/accounts/{b_id}""#)), "{page}");
    assert!(page.contains("stuck@a.example") && page.contains("too much spam"));
    assert!(page.contains("/log?account=192.0.2.0%2F28&#38;since="), "top senders link to their messages: {page}");

    for (name, domain) in [("alice", "a.example"), ("bob", "b.example")] {
        let new = NewAdminUser {
            name: name.into(),
            role: Role::DomainAdmin,
            domains: vec![domain.into()],
            password_hash: postern_policy::password::hash(PASSWORD).unwrap(),
        };
        api.store.create_admin_user(&new).unwrap();
    }
    let mut alice = login(&api, "alice").await;
    let page = dashboard(&api, &mut alice).await;
    assert!(page.contains(r#"<p class="figure" id="sent-24h">2</p>"#), "{page}");
    assert!(page.contains("192.0.2.0/28") && page.contains("alice@a.example"));
    for other in ["198.51.100.0/28", "secret-b", "pwned", "b.example", "Queue by state", r#"id="queued""#] {
        assert!(!page.contains(other), "{other} is b's or the server's: {page}");
    }
    assert!(page.contains("Locked accounts (0)") && page.contains("Locked identities (1)"), "{page}");
    assert!(page.contains(&format!("/identities?account={a_id}&#38;name=stuck%40a.example&#38;locked=yes")), "{page}");
    assert!(page.contains(r#"id="spam-rate">0.0 %"#), "{page}");

    let mut bob = login(&api, "bob").await;
    let page = dashboard(&api, &mut bob).await;
    assert!(page.contains(r#"<p class="figure" id="sent-24h">4</p>"#), "{page}");
    assert!(page.contains("Locked accounts (1)") && page.contains("Locked identities (0)"), "{page}");
    for other in ["192.0.2.0/28", "alice@", "stuck@"] {
        assert!(!page.contains(other), "{other} is a's: {page}");
    }
}

#[tokio::test]
async fn an_empty_server_draws_empty_charts() {
    let api = Api::new();
    let mut root = logged_in(&api).await;
    let page = dashboard(&api, &mut root).await;
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 3, "24 h, 7 days, the queue: {page}");
    assert!(page.contains("No messages from an account") && page.contains(r#"id="spam-rate">-"#));
    assert!(page.contains("No account is locked.") && page.contains(r#"id="queued">0"#));
    assert!(!page.contains("NaN"));
}
