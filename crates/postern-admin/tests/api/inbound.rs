//! Inbound relay domains: added, shown, listed and removed by a superadmin, each field
//! checked and named when wrong, the change hook called; a domain admin may not add or
//! remove (403), sees only the entries named like its own domains, and another tenant's
//! entry is 404 as if it did not exist.

use postern_core::tenancy::Role;
use postern_store::DirectoryChange;
use serde_json::{Value, json};

use crate::harness::Api;

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().into_iter().flatten().map(|i| i["name"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn inbound_domains_crud_as_superadmin() {
    let api = Api::new();
    let body = json!({"name": "Inbound.Example.", "host": "10.0.0.25", "port": 2525, "tls": "none",
        "comment": " office server "});
    let added = api.ok("POST", "/inbound-domains", Some(&body), 201).await;
    assert_eq!(added["name"], "inbound.example", "normalized: {added}");
    assert_eq!((added["host"].as_str(), added["port"].as_u64()), (Some("10.0.0.25"), Some(2525)));
    assert_eq!((added["tls"].as_str(), added["require_tls"].as_bool()), (Some("none"), Some(false)));
    assert_eq!(added["comment"], "office server");
    assert_eq!(api.change_log().last(), Some(&DirectoryChange::InboundDomains), "the SMTP policy reloads them");

    let defaults =
        api.ok("POST", "/inbound-domains", Some(&json!({"name": "b.example", "host": "mx.b.example"})), 201).await;
    assert_eq!((defaults["port"].as_u64(), defaults["tls"].as_str()), (Some(25), Some("starttls")));
    let implicit = json!({"name": "c.example", "host": "::1", "port": 465, "tls": "implicit"});
    assert_eq!(api.ok("POST", "/inbound-domains", Some(&implicit), 201).await["require_tls"], true);

    let again =
        api.root("POST", "/inbound-domains", Some(&json!({"name": "INBOUND.example", "host": "x.example"}))).await;
    assert_eq!(again.status, 409, "{}", again.text);
    for (body, field) in [
        (json!({"name": "not a domain", "host": "x.example"}), "name"),
        (json!({"name": "localhost", "host": "x.example"}), "name"),
        (json!({"name": "d.example", "host": "x.example:25"}), "host"),
        (json!({"name": "d.example", "host": ""}), "host"),
        (json!({"name": "d.example", "host": "x.example", "port": 0}), "port"),
        (json!({"name": "d.example", "host": "x.example", "port": 70000}), "port"),
        (json!({"name": "d.example", "host": "x.example", "tls": "always"}), "tls"),
        (json!({"name": "d.example", "host": "x.example", "tls": "none", "require_tls": true}), "require_tls"),
        (json!({"name": "d.example", "host": "x.example", "tls": "implicit", "require_tls": false}), "require_tls"),
        (json!({"name": "d.example", "host": "x.example", "relay": true}), "relay"),
        (json!({"host": "x.example"}), "name"),
    ] {
        let answer = api.root("POST", "/inbound-domains", Some(&body)).await;
        assert_eq!((answer.status.as_u16(), answer.field()), (400, Some(field)), "{body}: {}", answer.text);
    }

    assert_eq!(
        names(&api.ok("GET", "/inbound-domains", None, 200).await),
        ["b.example", "c.example", "inbound.example"]
    );
    let page = api.ok("GET", "/inbound-domains?limit=1&offset=2", None, 200).await;
    assert_eq!((names(&page), page["total"].as_u64()), (vec!["inbound.example".to_string()], Some(3)));
    assert_eq!(api.ok("GET", "/inbound-domains/Inbound.Example", None, 200).await, added);
    for missing in ["sub.inbound.example", "nothing.example", "%20"] {
        assert_eq!(api.root("GET", &format!("/inbound-domains/{missing}"), None).await.status, 404, "{missing}");
    }

    let changes = api.changes();
    let deleted = api.ok("DELETE", "/inbound-domains/inbound.example", None, 200).await;
    assert_eq!(deleted, json!({"name": "inbound.example", "result": "deleted"}));
    assert_eq!(api.changes(), changes + 1);
    assert_eq!(api.root("DELETE", "/inbound-domains/inbound.example", None).await.status, 404);
    assert_eq!(api.changes(), changes + 1, "failed requests change nothing");
}

#[tokio::test]
async fn domain_admins_only_look_at_their_own() {
    let api = Api::new();
    for name in ["a.example", "b.example"] {
        api.ok("POST", "/domains", Some(&json!({"name": name})), 201).await;
        api.ok("POST", "/inbound-domains", Some(&json!({"name": name, "host": "10.0.0.25"})), 201).await;
    }
    let a = api.token("admin of a", Role::DomainAdmin, &["a.example"]);
    let a = Some(a.as_str());
    let changes = api.changes();

    let list = api.call(a, "GET", "/inbound-domains", None).await;
    assert_eq!((list.status.as_u16(), names(&list.json)), (200, vec!["a.example".to_string()]));
    assert_eq!(list.json["total"], 1, "the total counts only its own");
    assert_eq!(api.call(a, "GET", "/inbound-domains/a.example", None).await.status, 200);
    let foreign = api.call(a, "GET", "/inbound-domains/b.example", None).await;
    let ghost = api.call(a, "GET", "/inbound-domains/ghost.example", None).await;
    assert_eq!((foreign.status.as_u16(), &foreign.json), (404, &ghost.json), "another tenant's entry looks missing");

    // Adding opens the gateway to the internet for a domain: never a domain admin's call.
    for name in ["a.example", "new.example", "b.example"] {
        let added = api.call(a, "POST", "/inbound-domains", Some(&json!({"name": name, "host": "203.0.113.9"}))).await;
        assert_eq!(added.status, 403, "{name}: {}", added.text);
    }
    let own = api.call(a, "DELETE", "/inbound-domains/a.example", None).await;
    assert_eq!(own.status, 403, "{}", own.text);
    let other = api.call(a, "DELETE", "/inbound-domains/b.example", None).await;
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(api.changes(), changes, "nothing changed");
    assert_eq!(names(&api.ok("GET", "/inbound-domains", None, 200).await), ["a.example", "b.example"]);
    assert_eq!(api.call(None, "GET", "/inbound-domains", None).await.status, 401);
}
