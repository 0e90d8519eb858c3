//! DKIM keys through the API: generate and import, the record to publish, the DNS check
//! (published, missing, mismatched, error), rotation with its grace period, removal; and
//! that no answer ever carries a private key.

use serde_json::{Value, json};

use crate::harness::Api;

/// RFC 8410's example Ed25519 key, as OpenSSL writes it.
const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";

async fn setup() -> Api {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    api
}

async fn generate(api: &Api, selector: &str, algorithm: &str) -> Value {
    let body = json!({"selector": selector, "algorithm": algorithm});
    api.ok("POST", "/domains/example.com/dkim/keys", Some(&body), 201).await
}

/// Publishes a key's record in the fake DNS, as show-dns says.
fn publish(api: &Api, key: &Value) {
    let strings: Vec<&str> =
        key["dns"]["strings"].as_array().expect("strings").iter().filter_map(Value::as_str).collect();
    api.dns.publish(key["dns"]["name"].as_str().expect("name"), &[strings.concat().as_str()]);
}

#[tokio::test]
async fn generated_keys_come_with_their_record_and_never_with_the_private_key() {
    let api = setup().await;
    let rsa = generate(&api, "S1", "rsa").await;
    assert_eq!((rsa["selector"].as_str(), rsa["state"].as_str()), (Some("s1"), Some("pending")));
    assert_eq!(rsa["dns"]["name"], "s1._domainkey.example.com");
    let value = rsa["dns"]["value"].as_str().unwrap();
    assert!(value.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"), "{value}");
    let strings = rsa["dns"]["strings"].as_array().unwrap();
    assert_eq!(strings.len(), 2, "an RSA-2048 record needs two strings");
    assert!(strings.iter().all(|s| s.as_str().unwrap().len() <= 255));
    let ed = generate(&api, "ed1", "ed25519").await;
    assert!(ed["dns"]["value"].as_str().unwrap().starts_with("v=DKIM1; k=ed25519; p="));
    let imported = api
        .ok(
            "POST",
            "/domains/example.com/dkim/keys",
            Some(&json!({"selector": "old", "private_key_pem": ED25519_PEM})),
            201,
        )
        .await;
    assert_eq!(imported["public_key"], "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");
    assert_eq!(imported["algorithm"], "ed25519");

    let again = api.root("POST", "/domains/example.com/dkim/keys", Some(&json!({"selector": "s1"}))).await;
    assert_eq!(again.status.as_u16(), 409, "{}", again.text);
    let list = api.ok("GET", "/domains/example.com/dkim/keys", None, 200).await;
    assert_eq!(list["total"], 3);
    let shown = api.ok("GET", "/domains/example.com/dkim/keys/S1", None, 200).await;
    assert_eq!(shown["public_key"], rsa["public_key"]);
    for answer in [&rsa, &ed, &imported, &list, &shown] {
        let text = answer.to_string();
        assert!(!text.contains("PRIVATE") && !text.contains("sealed") && !text.contains("MC4CAQAw"), "{text}");
    }
    let missing = api.root("GET", "/domains/example.com/dkim/keys/nope", None).await;
    assert_eq!((missing.status.as_u16(), missing.json["error"].as_str()), (404, Some("no such DKIM key")));
}

#[tokio::test]
async fn check_tells_published_missing_mismatched_and_dns_errors_apart() {
    let api = setup().await;
    let key = generate(&api, "s1", "ed25519").await;
    let status = |answer: &Value| answer["results"][0]["status"].as_str().unwrap_or("").to_string();
    let check = api.ok("GET", "/domains/example.com/dkim/check", None, 200).await;
    assert_eq!((status(&check), check["all_published"].as_bool()), ("missing".into(), Some(false)));
    publish(&api, &key);
    let check = api.ok("GET", "/domains/example.com/dkim/check", None, 200).await;
    assert_eq!((status(&check), check["all_published"].as_bool()), ("published".into(), Some(true)));
    api.dns.publish("s1._domainkey.example.com", &["v=DKIM1; k=ed25519; p=c29tZXRoaW5nIGVsc2U="]);
    let check = api.ok("GET", "/domains/example.com/dkim/check?selector=s1", None, 200).await;
    assert_eq!(status(&check), "mismatched");
    assert_eq!(check["results"][0]["found"][0], "v=DKIM1; k=ed25519; p=c29tZXRoaW5nIGVsc2U=");
    api.dns.0.lock().unwrap().insert("s1._domainkey.example.com".into(), None);
    let check = api.ok("GET", "/domains/example.com/dkim/check", None, 200).await;
    assert_eq!(status(&check), "error");
}

#[tokio::test]
async fn rotation_checks_dns_switches_the_signing_key_and_retires_the_old_one() {
    let api = setup().await;
    let s1 = generate(&api, "s1", "rsa").await;
    let refused = api.root("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "s1"}))).await;
    assert_eq!((refused.status.as_u16(), refused.field()), (409, Some("selector")), "{}", refused.text);
    assert!(refused.json["error"].as_str().unwrap().contains("not published"), "{}", refused.text);
    assert_eq!(api.dkim_reloads.load(std::sync::atomic::Ordering::SeqCst), 0);

    publish(&api, &s1);
    let first = api.ok("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "s1"})), 200).await;
    assert_eq!(first["activated"]["state"], "active");
    assert_eq!(first["retiring"], json!([]));
    assert_eq!(api.dkim_reloads.load(std::sync::atomic::Ordering::SeqCst), 1, "the signer reloads");
    let again = api.root("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "s1"}))).await;
    assert_eq!(again.status.as_u16(), 409, "already active: {}", again.text);

    let s2 = generate(&api, "s2", "rsa").await;
    publish(&api, &s2);
    let ed = generate(&api, "ed1", "ed25519").await;
    publish(&api, &ed);
    api.ok("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "ed1"})), 200).await;
    let body = json!({"selector": "s2", "grace_secs": 3600});
    let rotated = api.ok("POST", "/domains/example.com/dkim/rotate", Some(&body), 200).await;
    assert_eq!(rotated["activated"]["selector"], "s2");
    assert_eq!(rotated["retiring"][0]["selector"], "s1", "only the RSA key is replaced");
    assert_eq!(rotated["retiring"][0]["state"], "retiring");
    let until = rotated["retiring"][0]["retire_at_ms"].as_i64().unwrap();
    let now = postern_core::event::now_ms();
    assert!((now + 3_590_000..=now + 3_600_000).contains(&until), "{until} vs {now}");

    let dns = api.ok("GET", "/domains/example.com/dkim/dns", None, 200).await;
    let listed: Vec<(&str, &str)> = dns["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["selector"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("ed1", "active"), ("s1", "retiring"), ("s2", "active")], "both RSA selectors published");

    // A rotation with no grace retires the old key at once: it is no longer listed.
    let s3 = generate(&api, "s3", "rsa").await;
    publish(&api, &s3);
    api.ok("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "s3", "grace_secs": 0})), 200).await;
    let dns = api.ok("GET", "/domains/example.com/dkim/dns", None, 200).await;
    let selectors: Vec<&str> =
        dns["records"].as_array().unwrap().iter().map(|r| r["selector"].as_str().unwrap()).collect();
    assert_eq!(selectors, ["ed1", "s1", "s3"], "s2 retired");
    let s2_now = api.ok("GET", "/domains/example.com/dkim/keys/s2", None, 200).await;
    assert_eq!(s2_now["state"], "retired");
    let check = api.ok("GET", "/domains/example.com/dkim/check", None, 200).await;
    assert_eq!(check["results"].as_array().unwrap().len(), 3, "retired keys are not checked");
}

#[tokio::test]
async fn removing_the_active_key_needs_force() {
    let api = setup().await;
    generate(&api, "s1", "ed25519").await;
    api.ok("POST", "/domains/example.com/dkim/rotate", Some(&json!({"selector": "s1", "force": true})), 200).await;
    let reloads = api.dkim_reloads.load(std::sync::atomic::Ordering::SeqCst);
    let refused = api.root("DELETE", "/domains/example.com/dkim/keys/s1", None).await;
    assert_eq!(refused.status.as_u16(), 409, "{}", refused.text);
    api.ok("DELETE", "/domains/example.com/dkim/keys/s1?force=true", None, 200).await;
    assert_eq!(api.dkim_reloads.load(std::sync::atomic::Ordering::SeqCst), reloads + 1);
    generate(&api, "s2", "ed25519").await;
    api.ok("DELETE", "/domains/example.com/dkim/keys/s2", None, 200).await;
    assert_eq!(api.dkim_reloads.load(std::sync::atomic::Ordering::SeqCst), reloads + 1, "a pending key never signed");
    let gone = api.root("DELETE", "/domains/example.com/dkim/keys/s2", None).await;
    assert_eq!(gone.status.as_u16(), 404);
    // Keys go with their domain.
    generate(&api, "s3", "ed25519").await;
    api.ok("DELETE", "/domains/example.com", None, 200).await;
    assert_eq!(api.ok("GET", "/dkim", None, 200).await["total"], 0);
}
