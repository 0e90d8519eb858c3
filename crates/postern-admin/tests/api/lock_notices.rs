//! A lock set through the API sends its notice through the system mailer, like the
//! automatic lock: From the postmaster, the null sender, to the account's or identity's
//! address, shown only to the account's tenant.

use postern_core::tenancy::Role;
use postern_queue::QueueFilter;
use serde_json::json;

use crate::harness::Api;

const PASSWORD: &str = "Correct-Horse-Battery-9";

/// (recipients, message text) of every message with the null sender, oldest first.
fn notices(api: &Api) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for entry in api.queue.list(&QueueFilter::default()) {
        let (envelope, bytes) = api.queue.content(entry.queue_id).expect("queued");
        if envelope.sender.is_none() {
            let to = envelope.recipients.iter().map(|r| r.address.to_string()).collect();
            out.push((to, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[tokio::test]
async fn an_account_locked_through_the_api_is_told_so() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    let body = json!({"domain": "example.com", "kind": "user", "name": "alice@example.com", "password": PASSWORD});
    let alice = api.ok("POST", "/accounts", Some(&body), 201).await["id"].as_i64().expect("id");
    let body = json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.0/28"});
    let app = api.ok("POST", "/accounts", Some(&body), 201).await["id"].as_i64().expect("id");
    assert!(notices(&api).is_empty());

    api.ok("PATCH", &format!("/accounts/{alice}"), Some(&json!({"locked": true})), 200).await;
    let sent = notices(&api);
    assert_eq!(sent.len(), 1);
    let (to, text) = &sent[0];
    assert_eq!(to, &["alice@example.com"]);
    assert!(text.starts_with("From: Mail Delivery System <postmaster@postern.test>\r\nTo: <alice@example.com>\r\n"));
    assert!(text.contains("\r\nSubject: Sending from alice@example.com is locked\r\n"), "{text}");
    assert!(text.contains("\r\nAuto-Submitted: auto-generated\r\n"));
    assert!(text.contains("\r\n\r\nYour account has been locked by an administrator. Contact your administrator."));
    assert!(!text.contains("because it sent spam"), "never the spam template for a lock by hand");

    // Locked again: no news, no second notice. Unlocked and locked: a new one.
    api.ok("PATCH", &format!("/accounts/{alice}"), Some(&json!({"locked": true})), 200).await;
    assert_eq!(notices(&api).len(), 1);
    api.ok("PATCH", &format!("/accounts/{alice}"), Some(&json!({"locked": false})), 200).await;
    assert_eq!(notices(&api).len(), 1);
    api.ok("PATCH", &format!("/accounts/{alice}"), Some(&json!({"locked": true})), 200).await;
    assert_eq!(notices(&api).len(), 2);

    // An ip account has no address of its own: its domain's postmaster hears of it.
    api.ok("PATCH", &format!("/accounts/{app}"), Some(&json!({"locked": true})), 200).await;
    let sent = notices(&api);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].0, ["postmaster@example.com"]);

    // The notices are the tenant's: another domain's admin sees none of them.
    api.ok("POST", "/domains", Some(&json!({"name": "other.example"})), 201).await;
    let other = api.token("other", Role::DomainAdmin, &["other.example"]);
    let listed = api.call(Some(&other), "GET", "/queue", None).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.text.contains("example.com"), "{}", listed.text);
    let mine = api.token("mine", Role::DomainAdmin, &["example.com"]);
    let listed = api.call(Some(&mine), "GET", "/queue", None).await;
    assert!(listed.text.contains("alice@example.com"), "{}", listed.text);
}

#[tokio::test]
async fn an_identity_locked_through_the_api_is_told_so_when_it_is_an_address() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    let body = json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.0/28"});
    let account = api.ok("POST", "/accounts", Some(&body), 201).await["id"].as_i64().expect("id");
    let bob = json!({"account_id": account, "name": "Bob <bob@example.com>"});
    let bob = api.ok("POST", "/identities", Some(&bob), 201).await["id"].as_i64().expect("id");
    let client = json!({"account_id": account, "name": "client-7"});
    let client = api.ok("POST", "/identities", Some(&client), 201).await["id"].as_i64().expect("id");

    api.ok("PATCH", &format!("/identities/{client}"), Some(&json!({"locked": true})), 200).await;
    assert!(notices(&api).is_empty(), "an identity that is no address has nobody to tell");
    api.ok("PATCH", &format!("/identities/{bob}"), Some(&json!({"locked": true})), 200).await;
    let sent = notices(&api);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, ["bob@example.com"]);
    assert!(sent[0].1.contains("This sender has been locked by an administrator."), "{}", sent[0].1);
    assert!(sent[0].1.contains("Locked: identity Bob <bob@example.com>."), "{}", sent[0].1);
}
