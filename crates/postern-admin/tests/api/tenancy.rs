//! What a tenant may claim (issue 10, part 1): ip account ranges only inside the ranges a
//! superadmin delegated to its domain, never wider than the prefix limit, never over a
//! trusted network or a listener's address; an overlap refused without naming the other
//! tenant's range; identities named after another tenant's addresses refused; client
//! blocks listed and lifted by a superadmin only; the one spelling of the role.

use serde_json::{Value, json};

use crate::harness::Api;

/// a.example (with 192.0.2.0/24 and 2001:db8:a::/48 delegated, and 10.0.0.0/16 and
/// 127.0.0.0/24 for the width and trusted cases) and b.example; returns A's admin secret.
async fn two_tenants(api: &Api) -> String {
    for name in ["a.example", "b.example"] {
        api.ok("POST", "/domains", Some(&json!({"name": name})), 201).await;
    }
    for range in ["192.0.2.0/24", "2001:db8:a::/48", "10.0.0.0/16", "127.0.0.0/24"] {
        api.ok("POST", "/domains/a.example/ip-ranges", Some(&json!({"range": range})), 201).await;
    }
    let body = json!({"name": "admin of a", "role": "domain_admin", "domains": ["a.example"]});
    api.ok("POST", "/tokens", Some(&body), 201).await["secret"].as_str().expect("secret").to_string()
}

fn ip(domain: &str, range: &str) -> Value {
    json!({"domain": domain, "kind": "ip", "name": range})
}

#[tokio::test]
async fn a_domain_admin_claims_only_delegated_narrow_ranges_away_from_trusted_networks() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    let a = Some(a.as_str());
    for (range, why) in [
        ("0.0.0.0/0", "wider than /24"),
        ("::/0", "wider than /48"),
        ("10.0.0.0/20", "wider than /24"),
        ("2001:db8:a::/40", "wider than /48"),
        ("198.51.100.0/28", "not inside an IP range delegated to a.example"),
        ("127.0.0.1", "overlaps a trusted network or one of the gateway's own addresses"),
        ("127.0.0.0/24", "overlaps a trusted network"),
    ] {
        let answer = api.call(a, "POST", "/accounts", Some(&ip("a.example", range))).await;
        assert_eq!(answer.status.as_u16(), 403, "{range}: {}", answer.text);
        assert!(answer.json["error"].as_str().unwrap_or("").contains(why), "{range}: {}", answer.text);
        assert_eq!(answer.field(), Some("name"));
    }
    assert_eq!(api.ok("GET", "/accounts", None, 200).await["total"], 0, "nothing was created");
    for range in ["192.0.2.16/28", "2001:db8:a:1::/64", "10.0.3.0/24"] {
        let answer = api.call(a, "POST", "/accounts", Some(&ip("a.example", range))).await;
        assert_eq!(answer.status.as_u16(), 201, "{range}: {}", answer.text);
    }
    // Only a superadmin delegates; a domain admin lists its own.
    let more = api.call(a, "POST", "/domains/a.example/ip-ranges", Some(&json!({"range": "0.0.0.0/0"}))).await;
    assert_eq!(more.status.as_u16(), 403, "{}", more.text);
    let listed = api.call(a, "GET", "/domains/a.example/ip-ranges", None).await;
    assert_eq!(listed.json["total"], 4, "{}", listed.text);
    // A delegation never overlaps another (here b.example asks for part of a's).
    let overlapping = json!({"range": "192.0.2.128/25"});
    let refused = api.root("POST", "/domains/b.example/ip-ranges", Some(&overlapping)).await;
    assert_eq!(refused.status.as_u16(), 409, "{}", refused.text);
}

#[tokio::test]
async fn a_refused_overlap_names_nothing_of_another_tenant() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    // The provider placed b.example's smarthost inside a's delegation.
    let b = api.ok("POST", "/accounts", Some(&ip("b.example", "192.0.2.20/32")), 201).await;
    let answer = api.call(Some(&a), "POST", "/accounts", Some(&ip("a.example", "192.0.2.16/28"))).await;
    assert_eq!(answer.status.as_u16(), 409, "{}", answer.text);
    assert_eq!(answer.json["error"], "192.0.2.16/28 overlaps another account's range");
    for secret in ["192.0.2.20", &format!("account {}", b["id"]), "b.example"] {
        assert!(!answer.text.contains(secret), "shows {secret}: {}", answer.text);
    }
    // The superadmin is told which.
    let root = api.root("POST", "/accounts", Some(&ip("a.example", "192.0.2.16/28"))).await;
    assert_eq!(root.status.as_u16(), 409);
    assert!(
        root.text.contains("192.0.2.20/32") && root.text.contains(&format!("account {}", b["id"])),
        "{}",
        root.text
    );
}

#[tokio::test]
async fn a_superadmin_goes_wide_but_covers_a_trusted_network_only_when_asked() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    api.ok("POST", "/accounts", Some(&ip("a.example", "172.16.0.0/12")), 201).await;
    let all = api.root("POST", "/accounts", Some(&ip("b.example", "0.0.0.0/0"))).await;
    assert_eq!(all.status.as_u16(), 409, "{}", all.text);
    assert_eq!(all.field(), Some("cover_trusted"));
    assert!(all.text.contains("trusted network 127.0.0.0/8"), "{}", all.text);
    let asked = json!({"domain": "b.example", "kind": "ip", "name": "::/0", "cover_trusted": true});
    api.ok("POST", "/accounts", Some(&asked), 201).await;
    // A domain admin may not ask for it.
    let body = json!({"domain": "a.example", "kind": "ip", "name": "127.0.0.0/28", "cover_trusted": true});
    let refused = api.call(Some(&a), "POST", "/accounts", Some(&body)).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
}

#[tokio::test]
async fn a_domain_admin_changes_settings_only_of_ip_accounts_inside_its_delegations() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    let a = Some(a.as_str());
    let outside = api.ok("POST", "/accounts", Some(&ip("a.example", "198.51.100.0/24")), 201).await;
    let path = format!("/accounts/{}", outside["id"]);
    let settings = json!({"settings": {"allow_foreign_sender_domains": true}});
    let answer = api.call(a, "PATCH", &path, Some(&settings)).await;
    assert_eq!(answer.status.as_u16(), 403, "{}", answer.text);
    assert_eq!(api.ok("GET", &path, None, 200).await["settings"]["allow_foreign_sender_domains"], false);
    assert_eq!(api.call(a, "PATCH", &path, Some(&json!({"locked": true}))).await.status.as_u16(), 200);
    let inside = api.call(a, "POST", "/accounts", Some(&ip("a.example", "192.0.2.64/26"))).await;
    let path = format!("/accounts/{}", inside.json["id"]);
    assert_eq!(api.call(a, "PATCH", &path, Some(&settings)).await.status.as_u16(), 200);
}

#[tokio::test]
async fn identities_named_after_another_tenants_address_are_refused_alike() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    let a = Some(a.as_str());
    let account = api.call(a, "POST", "/accounts", Some(&ip("a.example", "192.0.2.7"))).await;
    let id = account.json["id"].as_i64().expect("id");
    let create = |name: &str| json!({"account_id": id, "name": name});
    let existing = api.call(a, "POST", "/identities", Some(&create("ceo@b.example"))).await;
    let missing = api.call(a, "POST", "/identities", Some(&create("ceo@nowhere.example"))).await;
    assert_eq!(existing.status.as_u16(), 403, "{}", existing.text);
    assert_eq!((existing.status, &existing.json), (missing.status, &missing.json), "b.example's existence leaks");
    assert!(!existing.text.contains("b.example"), "{}", existing.text);
    let display = api.call(a, "POST", "/identities", Some(&create("CEO <ceo@B.example>"))).await;
    assert_eq!(display.status.as_u16(), 403, "{}", display.text);
    for allowed in ["ceo@a.example", "client-7"] {
        assert_eq!(api.call(a, "POST", "/identities", Some(&create(allowed))).await.status.as_u16(), 201, "{allowed}");
    }
    api.ok("POST", "/identities", Some(&create("ceo@b.example")), 201).await;
    // Nor through a spam event, which registers the identity it locks.
    let spam = json!({"account_id": id, "identity": "ceo@b.example"});
    assert_eq!(api.call(a, "POST", "/spam-events", Some(&spam)).await.status.as_u16(), 403);
}

#[tokio::test]
async fn client_blocks_are_listed_and_lifted_by_a_superadmin() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    let client: std::net::IpAddr = "192.0.2.50".parse().unwrap();
    api.guard.failed(client);
    api.guard.failed(client);
    assert!(api.guard.is_blocked(client));
    let listed = api.ok("GET", "/client-blocks", None, 200).await;
    assert_eq!(listed["total"], 1, "{listed}");
    let block = &listed["items"][0];
    assert_eq!((block["client"].as_str(), block["kind"].as_str()), (Some("192.0.2.50/32"), Some("auth_failures")));
    assert!(block["until_ms"].as_i64().unwrap() > postern_core::event::now_ms());
    assert!(block["reason"].as_str().unwrap().contains("failed AUTH"));
    assert_eq!(api.call(Some(&a), "GET", "/client-blocks", None).await.status.as_u16(), 403);
    assert_eq!(api.call(Some(&a), "DELETE", "/client-blocks/192.0.2.50", None).await.status.as_u16(), 403);
    assert!(api.guard.is_blocked(client), "a domain admin lifted nothing");
    let lifted = api.ok("DELETE", "/client-blocks/192.0.2.50", None, 200).await;
    assert_eq!(lifted["lifted"].as_array().map(Vec::len), Some(1), "{lifted}");
    assert!(!api.guard.is_blocked(client));
    assert_eq!(api.ok("GET", "/client-blocks", None, 200).await["total"], 0);
    assert_eq!(api.root("DELETE", "/client-blocks/192.0.2.50", None).await.status.as_u16(), 404);
    assert_eq!(api.root("DELETE", "/client-blocks/not-an-ip", None).await.status.as_u16(), 404);
}

#[tokio::test]
async fn the_role_has_one_spelling_and_takes_the_other_as_an_alias() {
    let api = Api::new();
    api.ok("POST", "/domains", Some(&json!({"name": "a.example"})), 201).await;
    for role in ["domain_admin", "domain-admin"] {
        let body = json!({"name": role, "role": role, "domains": ["a.example"]});
        let made = api.ok("POST", "/tokens", Some(&body), 201).await;
        assert_eq!(made["token"]["role"], "domain_admin", "{made}");
        let whoami = api.call(made["secret"].as_str(), "GET", "/whoami", None).await;
        assert_eq!(whoami.json["role"], "domain_admin", "{}", whoami.text);
    }
}

/// The quarantine between tenants: a domain admin lists, shows and asks; only a
/// superadmin releases, once; a request is visible to the superadmin; filters narrow.
#[tokio::test]
async fn the_quarantine_keeps_tenants_apart_and_only_a_superadmin_releases() {
    let api = Api::new();
    let a = two_tenants(&api).await;
    let a = Some(a.as_str());
    let own = api.hold_message(1, "a.example", "sender@a.example").await;
    let other = api.hold_message(2, "b.example", "sender@b.example").await;

    let list = api.call(a, "GET", "/quarantine", None).await;
    assert_eq!(list.status.as_u16(), 200, "{}", list.text);
    assert_eq!(list.json["total"], 1, "{}", list.text);
    assert_eq!(list.json["items"][0]["id"], own);
    assert!(!list.text.contains("b.example"), "{}", list.text);
    let all = api.ok("GET", "/quarantine", None, 200).await;
    assert_eq!(all["total"], 2);
    let narrowed = api.ok("GET", "/quarantine?domain=b.example&rule=GTUBE&sender=sender@b", None, 200).await;
    assert_eq!((narrowed["total"].as_u64(), narrowed["items"][0]["id"].as_i64()), (Some(1), Some(other)));
    let none = api.ok("GET", "/quarantine?since_ms=99999999999999", None, 200).await;
    assert_eq!(none["total"], 0);
    let bad = api.root("GET", "/quarantine?state=lost", None).await;
    assert_eq!((bad.status.as_u16(), bad.field()), (400, Some("state")));

    let shown = api.call(a, "GET", &format!("/quarantine/{own}"), None).await;
    assert_eq!(shown.status.as_u16(), 200, "{}", shown.text);
    assert_eq!(shown.json["subject"], "pills for a.example");
    assert_eq!(shown.json["preview"], "Buy now\n", "control characters (BEL, CR) removed");
    assert_eq!(shown.json["checks"][0]["rule"], "GTUBE", "the verdict trace");
    let arf = shown.json["arf"].as_str().unwrap_or_default();
    assert!(arf.contains("Feedback-Type: abuse") && arf.contains("Source-IP: 192.0.2.1"), "{arf}");
    assert!(shown.json["headers"].as_array().is_some_and(|h| h.iter().any(|f| f[0] == "Subject")));
    assert_eq!(api.call(a, "GET", &format!("/quarantine/{other}"), None).await.status.as_u16(), 404);

    let refused = api.call(a, "POST", &format!("/quarantine/{own}/release"), None).await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
    let note = json!({"note": "invoice"});
    let asked = api.call(a, "POST", &format!("/quarantine/{own}/request-release"), Some(&note)).await;
    assert_eq!(asked.status.as_u16(), 200, "{}", asked.text);
    let seen = api.ok("GET", &format!("/quarantine/{own}"), None, 200).await;
    assert_eq!(
        (seen["release_requested_by"].as_str(), seen["release_note"].as_str()),
        (Some("admin of a"), Some("invoice"))
    );

    assert!(api.queue.list(&Default::default()).is_empty());
    let released = api.ok("POST", &format!("/quarantine/{own}/release"), None, 200).await;
    assert_eq!(released["by"], "root");
    let again = api.root("POST", &format!("/quarantine/{own}/release"), None).await;
    assert_eq!(again.status.as_u16(), 409, "released once: {}", again.text);
    let queued = api.queue.list(&Default::default());
    assert_eq!(queued.len(), 1, "spooled exactly once");
    assert_eq!(queued[0].queue_id.to_string(), released["queue_id"].as_str().unwrap_or_default());
    let after = api.ok("GET", &format!("/quarantine/{own}"), None, 200).await;
    assert_eq!((after["state"].as_str(), after["released_by"].as_str()), (Some("released"), Some("root")));
    assert!(after["preview"].is_null(), "the bytes went to the spool");
}
