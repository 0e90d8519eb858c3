//! The panel's domain, queue, admin user and token pages in process: what they show, a
//! refused form shown again with the message at its field and what was typed, and the
//! tenant walls — a domain admin's forged posts to another tenant's objects are the 404
//! page and change nothing; the superadmin's pages are 403 for it. The pages are driven in
//! a real browser by tests/e2e/test_panel_domains.py.

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::Api;
use crate::panel::{Jar, get, hidden, location, logged_in, post};

/// Logs `name` in through the login form.
async fn login_as(api: &Api, name: &str, password: &str) -> Jar {
    let mut jar = Jar::default();
    let (_, _, page) = get(api, &mut jar, "/login").await;
    let token = hidden(&page, "csrf");
    let form = [("csrf", token.as_str()), ("name", name), ("password", password), ("next", "/")];
    let (status, _, page) = post(api, &mut jar, "/login", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    jar
}

/// A page's CSRF token.
async fn csrf(api: &Api, jar: &mut Jar) -> String {
    let (_, _, page) = get(api, jar, "/").await;
    hidden(&page, "csrf")
}

/// Two domains, a superadmin logged in, and `support`, the domain admin of a.example.
async fn two_tenants() -> (Api, Jar, Jar) {
    let api = Api::new();
    for name in ["a.example", "b.example"] {
        api.ok("POST", "/domains", Some(&json!({ "name": name })), 201).await;
    }
    let mut root = logged_in(&api).await;
    let token = csrf(&api, &mut root).await;
    let form = [
        ("csrf", token.as_str()),
        ("name", "support"),
        ("password", "correct horse battery"),
        ("role", "domain_admin"),
        ("domains", "A.example"),
    ];
    let (status, headers, page) = post(&api, &mut root, "/admin-users", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert!(location(&headers).starts_with("/admin-users/"), "{headers:?}");
    let support = login_as(&api, "support", "correct horse battery").await;
    (api, root, support)
}

#[tokio::test]
async fn a_superadmin_sets_up_a_domain() {
    let (api, mut root, _) = two_tenants().await;
    let t = csrf(&api, &mut root).await;
    let (status, headers, _) =
        post(&api, &mut root, "/domains", &[("csrf", &t), ("name", "New.Example"), ("abuse_contact", "")], None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/domains/new.example?done=created"));
    let (status, _, page) = get(&api, &mut root, "/domains?name=new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("href=\"/domains/new.example\"") && !page.contains("href=\"/domains/a.example\""), "{page}");

    let (status, _, _) =
        post(&api, &mut root, "/domains/new.example/filter", &[("csrf", &t), ("filter_enabled", "true")], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(api.ok("GET", "/domains/new.example", None, 200).await["filter_enabled"], true);

    // A refused form: the message next to its field, what was typed kept.
    let form =
        [("csrf", t.as_str()), ("allowed_senders", "ok@new.example"), ("ip_check", "allowlist"), ("allowed_ips", "")];
    let (status, _, page) = post(&api, &mut root, "/domains/new.example/sender-security", &form, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("the allowlist check needs at least one network"), "{page}");
    assert!(page.contains(">ok@new.example</textarea>"), "typed senders kept: {page}");
    let form =
        [("csrf", t.as_str()), ("allowed_senders", ""), ("ip_check", "allowlist"), ("allowed_ips", "192.0.2.9/24")];
    let (status, _, _) = post(&api, &mut root, "/domains/new.example/sender-security", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let domain = api.ok("GET", "/domains/new.example", None, 200).await;
    assert_eq!(domain["sender_security"]["allowed_ips"], json!(["192.0.2.0/24"]));

    // DKIM: a key, its record, the check (no record in DNS), rotation refused without it.
    let form = [("csrf", t.as_str()), ("selector", "s1"), ("key_type", "ed25519"), ("private_key_pem", "")];
    let (status, _, _) = post(&api, &mut root, "/domains/new.example/dkim", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = get(&api, &mut root, "/domains/new.example?check=dns").await;
    assert!(page.contains("s1._domainkey.new.example"), "{page}");
    assert!(page.contains("&#34;v=DKIM1; k=ed25519; p="), "the TXT value, quoted: {page}");
    assert!(page.contains("class=\"check-missing\""), "{page}");
    let form = [("csrf", t.as_str()), ("selector", "s1"), ("grace_days", "7")];
    let (status, _, page) = post(&api, &mut root, "/domains/new.example/dkim/rotate", &form, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("is not published in DNS (missing)"), "{page}");
    let form = [("csrf", t.as_str()), ("selector", "bad_selector!"), ("key_type", "ed25519")];
    let (status, _, page) = post(&api, &mut root, "/domains/new.example/dkim", &form, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("value=\"bad_selector!\""), "{page}");

    // A rule, its comment escaped, then deleted.
    let form = [
        ("csrf", t.as_str()),
        ("kind", "sender"),
        ("value", "Spam@Bad.example"),
        ("action", "reject"),
        ("comment", "<script>alert(1)</script>"),
    ];
    let (status, _, _) = post(&api, &mut root, "/domains/new.example/rules", &form, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let rules = api.ok("GET", "/rules?domain=new.example", None, 200).await;
    assert_eq!(rules["items"][0]["value"], "spam@bad.example");
    let (_, _, page) = get(&api, &mut root, "/domains/new.example").await;
    assert!(page.contains("&#60;script&#62;alert(1)") && !page.contains("<script>alert"), "{page}");
    let id = rules["items"][0]["id"].to_string();
    let form = [("csrf", t.as_str()), ("back", "/domains/new.example#rules")];
    let (status, headers, _) = post(&api, &mut root, &format!("/rules/{id}/delete"), &form, None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/domains/new.example?done=deleted#rules"));
    let form = [("csrf", t.as_str()), ("back", "//evil.example/")];
    let (status, _, _) = post(&api, &mut root, &format!("/rules/{id}/delete"), &form, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone");

    // A global rule at /rules.
    let form = [("csrf", t.as_str()), ("domain", ""), ("kind", "ip"), ("value", "192.0.2.1"), ("action", "discard")];
    let (status, headers, _) = post(&api, &mut root, "/rules", &form, None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/rules?done=created"));
    let (_, _, page) = get(&api, &mut root, "/rules?scope=global").await;
    assert!(page.contains("192.0.2.1") && page.contains(">global<"), "{page}");
}

#[tokio::test]
async fn a_domain_admin_sees_its_domain_only_and_forged_posts_change_nothing() {
    let (api, mut root, mut support) = two_tenants().await;
    api.ok(
        "POST",
        "/rules",
        Some(&json!({"domain": "b.example", "kind": "ip", "value": "192.0.2.1", "action": "reject"})),
        201,
    )
    .await;
    let theirs = api.queue_message(1, "b.example", "x@b.example").await.to_string();
    let mine = api.queue_message(2, "a.example", "y@a.example").await.to_string();
    let before = api.ok("GET", "/domains/b.example", None, 200).await;
    let rules_before = api.ok("GET", "/rules", None, 200).await;

    let (status, _, page) = get(&api, &mut support, "/domains").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/domains/a.example") && !page.contains("b.example"), "{page}");
    assert!(!page.contains("/admin-users") && !page.contains("/tokens"), "menu: {page}");
    let (_, _, page) = get(&api, &mut support, "/queue").await;
    assert!(page.contains(&mine) && !page.contains(&theirs), "{page}");
    let (_, _, page) = get(&api, &mut support, "/rules").await;
    assert!(!page.contains("192.0.2.1"), "{page}");

    for path in ["/domains/b.example", "/domains/ghost.example", &format!("/queue/{theirs}")] {
        let (status, _, page) = get(&api, &mut support, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("no such") && !page.contains("id=\"domain-name\""), "{path}: {page}");
    }
    for path in ["/admin-users", "/tokens", "/admin-users/1"] {
        let (status, _, _) = get(&api, &mut support, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    let t = csrf(&api, &mut support).await;
    let rule_id = rules_before["items"][0]["id"].to_string();
    let forged: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/domains/b.example/filter".into(), vec![("filter_enabled", "true")]),
        ("/domains/b.example/abuse-contact".into(), vec![("abuse_contact", "me@a.example")]),
        ("/domains/b.example/sender-security".into(), vec![("ip_check", "allowlist"), ("allowed_ips", "nonsense")]),
        ("/domains/b.example/dkim".into(), vec![("selector", "s1"), ("key_type", "ed25519")]),
        ("/domains/b.example/dkim".into(), vec![("selector", "-bad"), ("key_type", "nonsense")]),
        ("/domains/b.example/dkim/rotate".into(), vec![("selector", "s1"), ("grace_days", "x")]),
        ("/domains/b.example/dkim/s1/delete".into(), vec![("force", "true")]),
        ("/domains/b.example/rules".into(), vec![("kind", "ip"), ("value", "nonsense"), ("action", "allow")]),
        ("/domains/b.example/ip-ranges".into(), vec![("range", "203.0.113.0/25")]),
        ("/domains/b.example/ip-ranges/1/delete".into(), vec![]),
        ("/domains/b.example/delete".into(), vec![]),
        (format!("/rules/{rule_id}/delete"), vec![("back", "/rules")]),
        ("/rules".into(), vec![("domain", "b.example"), ("kind", "ip"), ("value", "192.0.2.3"), ("action", "allow")]),
        (format!("/queue/{theirs}/hold"), vec![]),
        (format!("/queue/{theirs}/delete"), vec![]),
    ];
    for (path, fields) in &forged {
        let mut form = vec![("csrf", t.as_str())];
        form.extend(fields.iter().copied());
        let (status, _, page) = post(&api, &mut support, path, &form, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
        assert!(!page.contains("b.example") && !page.contains("192.0.2.1"), "{path} shows nothing of b: {page}");
    }
    assert_eq!(api.ok("GET", "/domains/b.example", None, 200).await, before, "untouched");
    assert_eq!(api.ok("GET", "/rules", None, 200).await, rules_before, "untouched");
    assert_eq!(api.ok("GET", &format!("/queue/{theirs}"), None, 200).await["state"], "incoming");
    let keys = api.ok("GET", "/domains/b.example/dkim/keys", None, 200).await;
    assert_eq!(keys["total"], 0);

    // Its own domain: the filter switch is a superadmin's (403), the rest is its own.
    let (status, _, _) =
        post(&api, &mut support, "/domains/a.example/filter", &[("csrf", &t), ("filter_enabled", "true")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        &api,
        &mut support,
        "/domains/a.example/abuse-contact",
        &[("csrf", &t), ("abuse_contact", "abuse@a.example")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(&api, &mut support, &format!("/queue/{mine}/hold"), &[("csrf", &t)], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(
        &api,
        &mut support,
        "/admin-users",
        &[("csrf", &t), ("name", "x"), ("password", "correct horse battery"), ("role", "superadmin")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = get(&api, &mut root, "/admin-users").await;
    assert!(!page.contains(">x<"), "{page}");
}

#[tokio::test]
async fn queue_actions_and_their_refusals() {
    let api = Api::new();
    let mut root = logged_in(&api).await;
    let id = api.queue_message(1, "a.example", "x@a.example").await.to_string();
    let t = csrf(&api, &mut root).await;
    let (_, _, page) = get(&api, &mut root, "/queue?state=incoming").await;
    assert!(page.contains(&id), "{page}");
    let (_, _, page) = get(&api, &mut root, "/queue?state=held").await;
    assert!(!page.contains(&id), "{page}");
    let (status, _, page) = get(&api, &mut root, "/queue?state=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("state: "), "{page}");

    let (status, headers, _) = post(&api, &mut root, &format!("/queue/{id}/hold"), &[("csrf", &t)], None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, format!("/queue/{id}?done=held").as_str()));
    let (_, _, page) = get(&api, &mut root, &format!("/queue/{id}?done=held&headers=1")).await;
    assert!(page.contains("Held.") && page.contains(">held<") && page.contains("Subject: test"), "{page}");
    let (status, _, _) = post(&api, &mut root, &format!("/queue/{id}/release"), &[("csrf", &t)], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = post(&api, &mut root, &format!("/queue/{id}/release"), &[("csrf", &t)], None).await;
    assert_eq!(status, StatusCode::CONFLICT, "not held: the page with the answer");
    assert!(page.contains("not in a state that allows this") && page.contains(&id), "{page}");
    let (status, headers, _) = post(&api, &mut root, "/queue/retry", &[("csrf", &t)], None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/queue?done=retried"));
    let (status, headers, _) = post(&api, &mut root, &format!("/queue/{id}/delete"), &[("csrf", &t)], None).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/queue?done=deleted"));
    let (status, _, _) = get(&api, &mut root, &format!("/queue/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = post(&api, &mut root, &format!("/queue/{id}/delete"), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no form token");
}

#[tokio::test]
async fn users_the_last_superadmin_and_a_token_shown_once() {
    let api = Api::new();
    let mut root = logged_in(&api).await;
    let t = csrf(&api, &mut root).await;
    let (_, _, page) = get(&api, &mut root, "/admin-users").await;
    let marker = "<a href=\"/admin-users/";
    let start = page.find(marker).expect("the first superadmin is listed") + marker.len();
    let admin_id = page[start..].split('"').next().unwrap().to_string();

    let (status, _, page) =
        post(&api, &mut root, &format!("/admin-users/{admin_id}/delete"), &[("csrf", &t)], None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("the last superadmin stays"), "{page}");

    let form =
        [("csrf", t.as_str()), ("name", "bad name"), ("password", "correct horse battery"), ("role", "superadmin")];
    let (status, _, page) = post(&api, &mut root, "/admin-users", &form, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("value=\"bad name\"") && !page.contains("correct horse battery"), "{page}");
    let form = [
        ("csrf", t.as_str()),
        ("name", "u"),
        ("password", "correct horse battery"),
        ("role", "domain_admin"),
        ("domains", "ghost.example"),
    ];
    let (status, _, page) = post(&api, &mut root, "/admin-users", &form, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the form again, with the operation's answer");
    assert!(page.contains("no such domain") && page.contains("value=\"ghost.example\""), "{page}");

    let form = [("csrf", t.as_str()), ("name", "deploy"), ("role", "superadmin"), ("domains", "")];
    let (status, headers, page) = post(&api, &mut root, "/tokens", &form, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    let secret = page.split("id=\"token-secret\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(secret.starts_with("pst_"), "{secret}");
    let whoami = api.call(Some(&secret), "GET", "/whoami", None).await;
    assert_eq!(whoami.json["name"], "deploy");
    let (_, _, page) = get(&api, &mut root, "/tokens").await;
    assert!(page.contains("deploy") && !page.contains(&secret), "the secret is shown once: {page}");
    let id = whoami.json["token_id"].to_string();
    let (status, _, _) = post(&api, &mut root, &format!("/tokens/{id}/delete"), &[("csrf", &t)], None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(api.call(Some(&secret), "GET", "/whoami", None).await.status, StatusCode::UNAUTHORIZED);
}
