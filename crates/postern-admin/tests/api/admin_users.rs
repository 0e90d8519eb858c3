//! The web panel's users through `/admin-users`: the superadmin lists, creates, shows,
//! changes and deletes them; a domain admin is refused (403) like for `/tokens`; missing
//! ids are 404; password hashes never come back; the last superadmin stays.

use postern_core::tenancy::Role;
use serde_json::json;

use crate::harness::Api;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn admin_users_crud() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "a.example"})), 201).await;
    let empty = api.ok("GET", "/admin-users", None, 200).await;
    assert_eq!((empty["total"].as_u64(), empty["items"].as_array().map(Vec::len)), (Some(0), Some(0)));

    let body = json!({"name": "root2", "password": PASSWORD, "role": "superadmin"});
    let root2 = api.ok("POST", "/admin-users", Some(&body), 201).await;
    assert_eq!(
        (&root2["name"], &root2["role"], &root2["domains"]),
        (&json!("root2"), &json!("superadmin"), &json!([]))
    );
    assert!(root2.get("last_login_ms").is_none(), "{root2}");
    let body = json!({"name": "support", "password": PASSWORD, "role": "domain-admin", "domains": ["A.Example."]});
    let support = api.ok("POST", "/admin-users", Some(&body), 201).await;
    assert_eq!((&support["role"], &support["domains"]), (&json!("domain_admin"), &json!(["a.example"])));
    let id = support["id"].as_i64().expect("id");

    let dup = json!({"name": "SUPPORT", "password": PASSWORD, "role": "superadmin"});
    assert_eq!(api.root("POST", "/admin-users", Some(&dup)).await.status, 409, "unique without regard to case");
    let weak = json!({"name": "x", "password": "short", "role": "superadmin"});
    let weak = api.root("POST", "/admin-users", Some(&weak)).await;
    assert_eq!((weak.status.as_u16(), weak.field()), (400, Some("password")), "{}", weak.text);
    let ghost = json!({"name": "x", "password": PASSWORD, "role": "domain_admin", "domains": ["ghost.example"]});
    let ghost = api.root("POST", "/admin-users", Some(&ghost)).await;
    assert_eq!((ghost.status.as_u16(), ghost.field()), (404, Some("domains[0]")), "{}", ghost.text);
    let spaced = json!({"name": "a b", "password": PASSWORD, "role": "superadmin"});
    assert_eq!(api.root("POST", "/admin-users", Some(&spaced)).await.field(), Some("name"));

    let list = api.root("GET", "/admin-users", None).await;
    assert_eq!(list.json["total"], 2, "{}", list.text);
    for secret in [PASSWORD, "argon2", "password"] {
        assert!(!list.text.contains(secret), "{secret} in {}", list.text);
    }
    let page = api.ok("GET", "/admin-users?limit=1&offset=1", None, 200).await;
    assert_eq!((page["items"][0]["name"].as_str(), page["total"].as_u64()), (Some("support"), Some(2)));
    assert_eq!(api.ok("GET", &format!("/admin-users/{id}"), None, 200).await, support);

    // A change: the password (never echoed), then the role.
    let path = format!("/admin-users/{id}");
    let changed = api.root("PATCH", &path, Some(&json!({"password": "another good one"}))).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert!(!changed.text.contains("another good one") && !changed.text.contains("argon2"), "{}", changed.text);
    let promoted = api.ok("PATCH", &format!("/admin-users/{id}"), Some(&json!({"role": "superadmin"})), 200).await;
    assert_eq!((&promoted["role"], &promoted["domains"]), (&json!("superadmin"), &json!([])));
    let back = json!({"role": "domain_admin", "domains": ["a.example"]});
    let back = api.ok("PATCH", &format!("/admin-users/{id}"), Some(&back), 200).await;
    assert_eq!(back["domains"], json!(["a.example"]));
    let mixed = json!({"role": "superadmin", "domains": ["a.example"]});
    assert_eq!(api.root("PATCH", &path, Some(&mixed)).await.field(), Some("domains"), "a superadmin takes none");

    // The last superadmin stays: neither deleted nor demoted.
    let root2_id = root2["id"].as_i64().expect("id");
    let demote = json!({"role": "domain_admin", "domains": ["a.example"]});
    let refused = api.root("PATCH", &format!("/admin-users/{root2_id}"), Some(&demote)).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    let refused = api.root("DELETE", &format!("/admin-users/{root2_id}"), None).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.json["error"].as_str().is_some_and(|e| e.contains("last superadmin")), "{}", refused.text);

    assert_eq!(
        api.ok("DELETE", &format!("/admin-users/{id}"), None, 200).await,
        json!({"result": "deleted", "id": id})
    );
    assert_eq!(api.ok("GET", "/admin-users", None, 200).await["total"], 1);
}

#[tokio::test]
async fn missing_ids_are_404_and_domain_admins_403() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "a.example"})), 201).await;
    let body = json!({"name": "only", "password": PASSWORD, "role": "superadmin"});
    let only = api.ok("POST", "/admin-users", Some(&body), 201).await;
    for id in ["987654321", "abc", "-1", "99999999999999999999999"] {
        for (method, body) in [("GET", None), ("PATCH", Some(json!({"role": "superadmin"}))), ("DELETE", None)] {
            let answer = api.root(method, &format!("/admin-users/{id}"), body.as_ref()).await;
            assert_eq!(answer.status, 404, "{method} {id}: {}", answer.text);
            assert_eq!(answer.json["error"], "no such admin user", "{method} {id}");
        }
    }

    let a = api.token("a admin", Role::DomainAdmin, &["a.example"]);
    let a = Some(a.as_str());
    let only = only["id"].as_i64().expect("id");
    let create = json!({"name": "mine", "password": PASSWORD, "role": "superadmin"});
    for (method, path, body) in [
        ("GET", "/admin-users".to_string(), None),
        ("POST", "/admin-users".to_string(), Some(create)),
        ("GET", format!("/admin-users/{only}"), None),
        ("PATCH", format!("/admin-users/{only}"), Some(json!({"password": "taken over now"}))),
        ("DELETE", format!("/admin-users/{only}"), None),
        ("GET", "/admin-users/987654321".to_string(), None),
    ] {
        let answer = api.call(a, method, &path, body.as_ref()).await;
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text);
        assert!(!answer.text.contains("only\""), "{method} {path}: {}", answer.text);
    }
    assert_eq!(api.ok("GET", "/admin-users", None, 200).await["total"], 1, "nothing was created or deleted");
    assert_eq!(api.call(None, "GET", "/admin-users", None).await.status, 401);
}
