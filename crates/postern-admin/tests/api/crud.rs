//! Happy paths and store conflicts for domains, accounts (all three kinds), identities
//! and tokens, as the superadmin; passwords never come back.

use serde_json::{Value, json};

use postern_store::DirectoryChange;

use crate::harness::Api;

const PASSWORD: &str = "Correct-Horse-Battery-9";

#[tokio::test]
async fn domains_crud() {
    let api = Api::new();
    let created = api.ok("POST", "/domains", Some(&json!({"name": "Example.COM."})), 201).await;
    assert_eq!(created["name"], "example.com");
    assert_eq!(created["filter_enabled"], false);
    assert_eq!(api.changes(), 1);

    let dup = api.root("POST", "/domains", Some(&json!({"name": "example.com"}))).await;
    assert_eq!(dup.status, 409, "{}", dup.text);

    let body = json!({"name": "other.test", "filter_enabled": true, "abuse_contact": "abuse@other.test",
        "sender_security": {"allowed_senders": ["Boss@Other.test"], "ip_check": "allowlist", "allowed_ips": ["192.0.2.7/24"]}});
    let other = api.ok("POST", "/domains", Some(&body), 201).await;
    assert_eq!(other["filter_enabled"], true);
    assert_eq!(other["sender_security"]["allowed_senders"], json!(["boss@other.test"]));
    assert_eq!(other["sender_security"]["allowed_ips"], json!(["192.0.2.0/24"]));

    let shown = api.ok("GET", "/domains/EXAMPLE.com", None, 200).await;
    assert_eq!(shown["name"], "example.com");

    let list = api.ok("GET", "/domains", None, 200).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["offset"], 0);
    assert!(list["limit"].as_u64().is_some());
    let enabled = api.ok("GET", "/domains?filter_enabled=true", None, 200).await;
    assert_eq!(names(&enabled), ["other.test"]);
    let page = api.ok("GET", "/domains?limit=1&offset=1", None, 200).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["total"], 2);

    let patch =
        json!({"filter_enabled": true, "abuse_contact": "abuse@example.com", "sender_security": {"ip_check": "spf"}});
    let changed = api.ok("PATCH", "/domains/example.com", Some(&patch), 200).await;
    assert_eq!(changed["filter_enabled"], true);
    assert_eq!(changed["abuse_contact"], "abuse@example.com");
    assert_eq!(changed["sender_security"]["ip_check"], "spf");
    let cleared = api.ok("PATCH", "/domains/example.com", Some(&json!({"abuse_contact": null})), 200).await;
    assert!(cleared.get("abuse_contact").is_none(), "{cleared}");
    assert_eq!(cleared["filter_enabled"], true, "untouched fields stay");

    let deleted = api.ok("DELETE", "/domains/other.test", None, 200).await;
    assert_eq!(deleted["result"], "deleted");
    assert_eq!(api.root("GET", "/domains/other.test", None).await.status, 404);
    assert_eq!(api.root("DELETE", "/domains/other.test", None).await.status, 404);
    let domain = |name: &str| DirectoryChange::Domain(name.into());
    assert_eq!(
        api.change_log(),
        [
            domain("example.com"),
            domain("other.test"),
            domain("example.com"),
            domain("example.com"),
            domain("other.test")
        ]
    );
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().into_iter().flatten().map(|i| i["name"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn accounts_of_every_kind() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;

    let ip = api
        .ok("POST", "/accounts", Some(&json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.7"})), 201)
        .await;
    assert_eq!(ip["name"], "192.0.2.7/32");
    assert_eq!(ip["has_password"], false);
    assert_eq!(ip["settings"]["identification"]["method"], "sender");

    let body = json!({"domain": "example.com", "kind": "user", "name": "Alice@Example.COM", "password": PASSWORD,
        "settings": {"limits": {"recipients_per_message": 5}}});
    let user = api.root("POST", "/accounts", Some(&body)).await;
    assert_eq!(user.status, 201, "{}", user.text);
    assert!(!user.text.contains(PASSWORD));
    assert_eq!(user.json["name"], "alice@example.com");
    assert_eq!(user.json["has_password"], true);
    assert_eq!(user.json["settings"]["identification"]["method"], "auth");
    assert_eq!(user.json["settings"]["limits"]["recipients_per_message"], 5);

    let body = json!({"domain": "example.com", "kind": "domain", "password": PASSWORD});
    let domain = api.root("POST", "/accounts", Some(&body)).await;
    assert_eq!(domain.status, 201, "{}", domain.text);
    assert_eq!(domain.json["name"], "example.com");
    assert_eq!(domain.json["has_password"], true);

    let user_id = user.json["id"].as_i64().expect("id");
    let path = format!("/accounts/{user_id}");
    let shown = api.root("GET", &path, None).await;
    assert_eq!(shown.status, 200);
    assert!(!shown.text.contains(PASSWORD) && !shown.text.contains("argon2"), "{}", shown.text);

    // Settings merge deeply: the second patch keeps the first one's change.
    let patch =
        json!({"settings": {"limits": {"max_hops": 30}, "dkim_selector": "s2024"}, "password": "Another-Good-Pass-1"});
    let changed = api.root("PATCH", &path, Some(&patch)).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert!(!changed.text.contains("Another-Good-Pass-1"));
    assert_eq!(changed.json["settings"]["limits"]["recipients_per_message"], 5);
    assert_eq!(changed.json["settings"]["limits"]["max_hops"], 30);
    assert_eq!(changed.json["settings"]["dkim_selector"], "s2024");

    let locked = api.ok("PATCH", &path, Some(&json!({"locked": true})), 200).await;
    assert_eq!(locked["lock"]["locked"], true);
    assert_eq!(locked["lock"]["reason"], "locked by administrator");
    assert!(locked["lock"]["since_ms"].as_i64().is_some());
    let unlocked = api.ok("PATCH", &path, Some(&json!({"locked": false})), 200).await;
    assert_eq!(unlocked["lock"]["locked"], false);
    assert_eq!(unlocked["lock"]["automatic_unlocks"], 0);

    let list = api.ok("GET", "/accounts?domain=example.com&kind=user", None, 200).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["name"], "alice@example.com");
    let locked_list = api.ok("GET", "/accounts?locked=true", None, 200).await;
    assert_eq!(locked_list["total"], 0);
    let all = api.root("GET", "/accounts", None).await;
    assert_eq!(all.json["total"], 3);
    assert!(!all.text.contains(PASSWORD) && !all.text.contains("password_hash"));

    assert_eq!(api.ok("DELETE", &path, None, 200).await["result"], "deleted");
    assert_eq!(api.root("GET", &path, None).await.status, 404);
    assert_eq!(api.root("PATCH", &path, Some(&json!({"locked": true}))).await.status, 404);
    // The domain, 3 accounts, 3 changes, 1 deletion.
    assert_eq!(api.changes(), 8);
}

#[tokio::test]
async fn account_rules_and_conflicts() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    api.ok("POST", "/domains", Some(&json!({"name": "example.net"})), 201).await;
    let changes = api.changes();

    let api = &api;
    let post = |body: Value| async move { api.root("POST", "/accounts", Some(&body)).await };
    api.ok("POST", "/accounts", Some(&json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.7"})), 201).await;
    let overlap = post(json!({"domain": "example.net", "kind": "ip", "name": "192.0.2.0/24"})).await;
    assert_eq!(overlap.status, 409, "{}", overlap.text);

    api.ok("POST", "/accounts", Some(&json!({"domain": "example.com", "kind": "domain", "password": PASSWORD})), 201)
        .await;
    let second = post(json!({"domain": "example.com", "kind": "domain", "password": PASSWORD})).await;
    assert_eq!(second.status, 409, "{}", second.text);

    let foreign =
        post(json!({"domain": "example.com", "kind": "user", "name": "bob@example.net", "password": PASSWORD})).await;
    assert_eq!((foreign.status.as_u16(), foreign.field()), (400, Some("name")), "{}", foreign.text);

    let ip_password =
        post(json!({"domain": "example.com", "kind": "ip", "name": "198.51.100.1", "password": PASSWORD})).await;
    assert_eq!((ip_password.status.as_u16(), ip_password.field()), (400, Some("password")));
    assert!(!ip_password.text.contains(PASSWORD));

    let weak =
        post(json!({"domain": "example.com", "kind": "user", "name": "carol@example.com", "password": "short"})).await;
    assert_eq!((weak.status.as_u16(), weak.field()), (400, Some("password")));
    assert!(!weak.text.contains("\"short\""));

    let no_domain = post(json!({"domain": "missing.test", "kind": "domain", "password": PASSWORD})).await;
    assert_eq!((no_domain.status.as_u16(), no_domain.field()), (404, Some("domain")));

    let dup_user = json!({"domain": "example.com", "kind": "user", "name": "dave@example.com", "password": PASSWORD});
    api.ok("POST", "/accounts", Some(&dup_user), 201).await;
    assert_eq!(post(dup_user).await.status, 409);
    assert_eq!(api.changes(), changes + 3, "only successful changes reload the policy");
}

#[tokio::test]
async fn identities_crud() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    let account = api
        .ok("POST", "/accounts", Some(&json!({"domain": "example.com", "kind": "ip", "name": "192.0.2.0/28"})), 201)
        .await;
    let account_id = account["id"].as_i64().expect("id");

    let body = json!({"account_id": account_id, "name": "client-42"});
    let identity = api.ok("POST", "/identities", Some(&body), 201).await;
    assert_eq!(identity["name"], "client-42");
    assert_eq!(identity["domain"], "example.com");
    assert_eq!(identity["account_id"], account_id);
    assert_eq!(api.root("POST", "/identities", Some(&body)).await.status, 409);
    let missing = api.root("POST", "/identities", Some(&json!({"account_id": 999_999, "name": "x"}))).await;
    assert_eq!((missing.status.as_u16(), missing.field()), (404, Some("account_id")));

    let id = identity["id"].as_i64().expect("id");
    let path = format!("/identities/{id}");
    assert_eq!(api.ok("GET", &path, None, 200).await["name"], "client-42");
    let list = api.ok("GET", &format!("/identities?account_id={account_id}&name=client"), None, 200).await;
    assert_eq!(list["total"], 1);
    let locked = api.ok("PATCH", &path, Some(&json!({"locked": true})), 200).await;
    assert_eq!(locked["lock"]["locked"], true);
    assert_eq!(api.ok("GET", "/identities?locked=true", None, 200).await["total"], 1);
    let unlocked = api.ok("PATCH", &path, Some(&json!({"locked": false})), 200).await;
    assert_eq!(unlocked["lock"]["locked"], false);
    assert_eq!(api.ok("DELETE", &path, None, 200).await["result"], "deleted");
    assert_eq!(api.root("GET", &path, None).await.status, 404);
    // The SMTP policy is told which identity's lock state to read again (lock, unlock,
    // deletion); registering an identity changes no lock.
    let client = DirectoryChange::Identity { account_id, name: "client-42".into() };
    assert_eq!(api.change_log()[2..], [client.clone(), client.clone(), client]);
    assert_eq!(api.change_log()[1], DirectoryChange::Account(account_id));
}

#[tokio::test]
async fn tokens_crud() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;

    let me = api.ok("GET", "/whoami", None, 200).await;
    assert_eq!(me["role"], "superadmin");
    assert_eq!(me["name"], "root");
    assert_eq!(me["domains"], json!([]));

    let body = json!({"name": "example admin", "role": "domain_admin", "domains": ["Example.com", "example.com"]});
    let created = api.ok("POST", "/tokens", Some(&body), 201).await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("pst_") && secret.len() == 68, "{secret}");
    assert_eq!(created["token"]["domains"], json!(["example.com"]));
    assert_eq!(created["token"]["role"], "domain_admin");
    let token_id = created["token"]["id"].as_i64().expect("id");

    let whoami = api.call(Some(&secret), "GET", "/whoami", None).await;
    assert_eq!(whoami.status, 200);
    assert_eq!(whoami.json["role"], "domain_admin");
    assert_eq!(whoami.json["token_id"], token_id);
    assert_eq!(whoami.json["domains"], json!(["example.com"]));

    let list = api.root("GET", "/tokens", None).await;
    assert_eq!(list.json["total"], 2);
    assert!(!list.text.contains(&secret), "the secret is shown once");
    assert!(!list.text.contains(&secret[4..]), "nor is it stored in the clear");

    let none = api.root("POST", "/tokens", Some(&json!({"name": "x", "role": "domain_admin"}))).await;
    assert_eq!((none.status.as_u16(), none.field()), (400, Some("domains")));
    let unknown = api
        .root("POST", "/tokens", Some(&json!({"name": "x", "role": "domain_admin", "domains": ["nope.test"]})))
        .await;
    assert_eq!((unknown.status.as_u16(), unknown.field()), (404, Some("domains[0]")));
    let super_domains = api
        .root("POST", "/tokens", Some(&json!({"name": "x", "role": "superadmin", "domains": ["example.com"]})))
        .await;
    assert_eq!((super_domains.status.as_u16(), super_domains.field()), (400, Some("domains")));

    let my_id = me["token_id"].as_i64().expect("id");
    assert_eq!(api.root("DELETE", &format!("/tokens/{my_id}"), None).await.status, 409);
    assert_eq!(api.ok("DELETE", &format!("/tokens/{token_id}"), None, 200).await["result"], "deleted");
    assert_eq!(api.call(Some(&secret), "GET", "/whoami", None).await.status, 401, "a deleted token is dead at once");
    assert_eq!(api.root("DELETE", &format!("/tokens/{token_id}"), None).await.status, 404);
}

#[tokio::test]
async fn unauthenticated_requests_learn_nothing() {
    let api = Api::new();
    let paths = ["/whoami", "/domains", "/accounts/1", "/tokens", "/queue"];
    for path in paths {
        for token in [None, Some("pst_wrong"), Some(""), Some(&*"x".repeat(10_000))] {
            let answer = api.call(token, "GET", path, None).await;
            assert_eq!(answer.status, 401, "{path} {token:?}");
            assert_eq!(answer.json["error"], "missing or invalid bearer token");
        }
    }
    let request = axum::http::Request::builder()
        .uri("/api/v1/whoami")
        .header("authorization", format!("Basic {}", api.root_secret))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(api.send(request).await.status, 401);
    let request = axum::http::Request::builder()
        .uri("/api/v1/whoami")
        .header("authorization", format!("bearer {}", api.root_secret))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(api.send(request).await.status, 200, "the scheme is case-insensitive");
    assert_eq!(api.call(None, "GET", "/openapi.json", None).await.status, 200);
    let health = api.send(axum::http::Request::get("/health").body(axum::body::Body::empty()).expect("request")).await;
    assert_eq!(health.status, 200);
}
