//! Block and allow list rules: values made canonical, filters and pages, conflicts, the
//! change hook, and who sees what: global rules are the superadmin's alone; a domain admin
//! manages its own domains' rules.

use postern_core::tenancy::Role;
use serde_json::{Value, json};

use crate::harness::Api;

fn values(list: &Value) -> Vec<String> {
    list["items"].as_array().into_iter().flatten().map(|i| i["value"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn rules_crud_as_superadmin() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "example.com"})), 201).await;
    let changes = api.changes();

    let body = json!({"domain": "Example.COM", "kind": "network", "value": "192.0.2.77/255.255.255.0",
        "action": "reject", "comment": "  spam run  "});
    let network = api.ok("POST", "/rules", Some(&body), 201).await;
    assert_eq!(network["value"], "192.0.2.0/24", "a dotted mask is stored as CIDR");
    assert_eq!(network["domain"], "example.com");
    assert_eq!(network["comment"], "spam run");
    assert!(network["created_at_ms"].as_i64().is_some());
    assert_eq!(api.changes(), changes + 1, "a new rule reloads the SMTP policy");

    let global = api
        .ok("POST", "/rules", Some(&json!({"kind": "sender", "value": "Boss@Example.NET", "action": "allow"})), 201)
        .await;
    assert!(global["domain"].is_null(), "no domain: a global rule: {global}");
    assert_eq!(global["value"], "boss@example.net");
    let explicit = json!({"domain": null, "kind": "sender_domain", "value": "Spam.Example", "action": "discard"});
    api.ok("POST", "/rules", Some(&explicit), 201).await;

    let dup = json!({"domain": "example.com", "kind": "network", "value": "192.0.2.0/24", "action": "allow"});
    let conflict = api.root("POST", "/rules", Some(&dup)).await;
    assert_eq!(conflict.status, 409, "one rule per value in a list: {}", conflict.text);
    let missing = json!({"domain": "missing.example", "kind": "ip", "value": "192.0.2.1", "action": "reject"});
    let missing = api.root("POST", "/rules", Some(&missing)).await;
    assert_eq!((missing.status.as_u16(), missing.field()), (404, Some("domain")), "{}", missing.text);

    let id = network["id"].as_i64().expect("id");
    assert_eq!(api.ok("GET", &format!("/rules/{id}"), None, 200).await, network);
    let all = api.ok("GET", "/rules", None, 200).await;
    assert_eq!(values(&all), ["192.0.2.0/24", "boss@example.net", "spam.example"]);
    assert_eq!(all["total"], 3);
    let global_only = api.ok("GET", "/rules?global=true", None, 200).await;
    assert_eq!(values(&global_only), ["boss@example.net", "spam.example"]);
    let of_domain = api.ok("GET", "/rules?domain=EXAMPLE.com", None, 200).await;
    assert_eq!(values(&of_domain), ["192.0.2.0/24"]);
    let filtered = api.ok("GET", "/rules?kind=sender_domain&action=discard&value=SPAM", None, 200).await;
    assert_eq!(values(&filtered), ["spam.example"]);
    let page = api.ok("GET", "/rules?limit=1&offset=1", None, 200).await;
    assert_eq!((values(&page), page["total"].as_u64()), (vec!["boss@example.net".to_string()], Some(3)));

    let changes = api.changes();
    let deleted = api.ok("DELETE", &format!("/rules/{id}"), None, 200).await;
    assert_eq!(deleted, json!({"id": id, "result": "deleted"}));
    assert_eq!(api.changes(), changes + 1, "a deletion reloads the SMTP policy");
    assert_eq!(api.root("GET", &format!("/rules/{id}"), None).await.status, 404);
    assert_eq!(api.root("DELETE", &format!("/rules/{id}"), None).await.status, 404);
    assert_eq!(api.changes(), changes + 1, "failed requests change nothing");

    // A domain's rules go with the domain.
    api.ok(
        "POST",
        "/rules",
        Some(&json!({"domain": "example.com", "kind": "ip", "value": "192.0.2.9",
        "action": "reject"})),
        201,
    )
    .await;
    api.ok("DELETE", "/domains/example.com", None, 200).await;
    assert_eq!(values(&api.ok("GET", "/rules", None, 200).await), ["boss@example.net", "spam.example"]);
}

#[tokio::test]
async fn global_rules_belong_to_the_superadmin() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "a.example"})), 201).await;
    let global =
        api.ok("POST", "/rules", Some(&json!({"kind": "ip", "value": "192.0.2.7", "action": "reject"})), 201).await;
    let global_id = global["id"].as_i64().expect("id");
    let own = api
        .ok(
            "POST",
            "/rules",
            Some(&json!({"domain": "a.example", "kind": "ip", "value": "192.0.2.7",
            "action": "allow"})),
            201,
        )
        .await;
    let tenant = api.token("tenant", Role::DomainAdmin, &["a.example"]);
    let a = Some(tenant.as_str());

    let listed = api.call(a, "GET", "/rules", None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(1), "{}", listed.text);
    assert_eq!(listed.json["items"][0]["id"], own["id"]);
    assert_eq!(listed.json["total"], 1, "the total does not count global rules");
    let asked = api.call(a, "GET", "/rules?global=true", None).await;
    assert_eq!(asked.json["total"], 0, "{}", asked.text);
    for method in ["GET", "DELETE"] {
        let answer = api.call(a, method, &format!("/rules/{global_id}"), None).await;
        assert_eq!(answer.status, 404, "{method}: a global rule does not exist for a domain admin: {}", answer.text);
        assert_eq!(answer.json["error"], "no such rule");
    }
    let create =
        api.call(a, "POST", "/rules", Some(&json!({"kind": "ip", "value": "192.0.2.8", "action": "reject"}))).await;
    assert_eq!(create.status, 403, "{}", create.text);
    assert_eq!(create.json["error"], "only a superadmin may create global rules");
    let create =
        json!({"domain": "a.example", "kind": "recipient", "value": "trap@remote.example", "action": "discard"});
    let created = api.call(a, "POST", "/rules", Some(&create)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let deleted = api.call(a, "DELETE", &format!("/rules/{}", own["id"]), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(api.ok("GET", &format!("/rules/{global_id}"), None, 200).await["action"], "reject", "untouched");
}
