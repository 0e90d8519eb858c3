//! Tenant isolation, endpoint by endpoint. Two tenants, A and B, each with a domain,
//! accounts, an identity, a list rule, a DKIM key, an inbound relay domain and a queued message. For every operation in the OpenAPI
//! document, A's domain-admin token must not reach B's objects: the answer must be the
//! one it gets for objects that do not exist at all (so it learns nothing), and that is a
//! 404 for objects, a 403 for superadmin-only actions, and lists without B. The same
//! operations on A's own objects work (or are 403 where only a superadmin may act).
//!
//! The table must cover every documented operation: a new endpoint fails this test until
//! its isolation cases are written.

use std::collections::BTreeSet;

use postern_core::QueueId;
use serde_json::{Value, json};

use crate::harness::Api;

/// The objects a request is aimed at.
#[derive(Debug, Clone)]
struct Target {
    domain: String,
    ip_account: i64,
    user_account: i64,
    identity: i64,
    message: String,
    token: i64,
    rule: i64,
    /// The selector of the domain's DKIM key.
    selector: String,
    /// The id of an IP range delegated to the domain.
    delegation: i64,
    /// The id of a held (quarantined) message of the domain.
    held: i64,
    /// The id of an archived copy of one of the domain's messages.
    archived: i64,
    /// The id of a web panel user, domain admin of the domain.
    admin_user: i64,
}

struct Case {
    method: &'static str,
    /// The path as documented in the OpenAPI document.
    template: &'static str,
    expect: u16,
    request: fn(&Target) -> (String, Option<Value>),
}

const fn case(
    method: &'static str,
    template: &'static str,
    expect: u16,
    request: fn(&Target) -> (String, Option<Value>),
) -> Case {
    Case { method, template, expect, request }
}

/// A's token aimed at B's objects. Every answer must equal the one for missing objects.
const FOREIGN: &[Case] = &[
    case("GET", "/whoami", 200, |_| ("/whoami".into(), None)),
    case("GET", "/domains", 200, |_| ("/domains".into(), None)),
    case("GET", "/domains", 200, |t| (format!("/domains?name={}", t.domain), None)),
    case("POST", "/domains", 403, |t| ("/domains".into(), Some(json!({"name": t.domain})))),
    case("GET", "/domains/{name}", 404, |t| (format!("/domains/{}", t.domain), None)),
    case("GET", "/domains/{name}/ip-ranges", 404, |t| (format!("/domains/{}/ip-ranges", t.domain), None)),
    case("POST", "/domains/{name}/ip-ranges", 404, |t| {
        (format!("/domains/{}/ip-ranges", t.domain), Some(json!({"range": "198.18.0.0/24"})))
    }),
    case("DELETE", "/domains/{name}/ip-ranges/{id}", 404, |t| {
        (format!("/domains/{}/ip-ranges/{}", t.domain, t.delegation), None)
    }),
    case("GET", "/client-blocks", 403, |_| ("/client-blocks".into(), None)),
    case("DELETE", "/client-blocks/{ip}", 403, |_| ("/client-blocks/192.0.2.200".into(), None)),
    case("PATCH", "/domains/{name}", 404, |t| {
        (format!("/domains/{}", t.domain), Some(json!({"abuse_contact": "abuse@a.example"})))
    }),
    case("PATCH", "/domains/{name}", 404, |t| {
        (format!("/domains/{}", t.domain), Some(json!({"filter_enabled": true})))
    }),
    case("DELETE", "/domains/{name}", 404, |t| (format!("/domains/{}", t.domain), None)),
    case("GET", "/accounts", 200, |_| ("/accounts".into(), None)),
    case("GET", "/accounts", 200, |t| (format!("/accounts?domain={}", t.domain), None)),
    case("POST", "/accounts", 404, |t| {
        ("/accounts".into(), Some(json!({"domain": t.domain, "kind": "ip", "name": "203.0.113.99"})))
    }),
    case("GET", "/accounts/{id}", 404, |t| (format!("/accounts/{}", t.ip_account), None)),
    case("PATCH", "/accounts/{id}", 404, |t| (format!("/accounts/{}", t.user_account), Some(json!({"locked": true})))),
    case("PATCH", "/accounts/{id}", 404, |t| {
        (format!("/accounts/{}", t.ip_account), Some(json!({"settings": {"monitor_only": true}})))
    }),
    case("DELETE", "/accounts/{id}", 404, |t| (format!("/accounts/{}", t.user_account), None)),
    case("GET", "/identities", 200, |_| ("/identities".into(), None)),
    case("GET", "/identities", 200, |t| (format!("/identities?account_id={}", t.ip_account), None)),
    case("GET", "/identities", 200, |t| (format!("/identities?domain={}", t.domain), None)),
    case("POST", "/identities", 404, |t| {
        ("/identities".into(), Some(json!({"account_id": t.ip_account, "name": "sneaky"})))
    }),
    case("GET", "/identities/{id}", 404, |t| (format!("/identities/{}", t.identity), None)),
    case("PATCH", "/identities/{id}", 404, |t| (format!("/identities/{}", t.identity), Some(json!({"locked": true})))),
    case("DELETE", "/identities/{id}", 404, |t| (format!("/identities/{}", t.identity), None)),
    case("GET", "/accounts/{id}/counters", 404, |t| (format!("/accounts/{}/counters", t.user_account), None)),
    case("GET", "/identities/{id}/counters", 404, |t| (format!("/identities/{}/counters", t.identity), None)),
    case("POST", "/spam-events", 404, |t| ("/spam-events".into(), Some(json!({"account_id": t.user_account})))),
    case("GET", "/rules", 200, |_| ("/rules".into(), None)),
    case("GET", "/rules", 200, |t| (format!("/rules?domain={}", t.domain), None)),
    case("POST", "/rules", 404, |t| {
        ("/rules".into(), Some(json!({"domain": t.domain, "kind": "ip", "value": "203.0.113.99", "action": "allow"})))
    }),
    case("POST", "/rules", 403, |_| {
        ("/rules".into(), Some(json!({"kind": "ip", "value": "203.0.113.98", "action": "allow"})))
    }),
    case("GET", "/rules/{id}", 404, |t| (format!("/rules/{}", t.rule), None)),
    case("DELETE", "/rules/{id}", 404, |t| (format!("/rules/{}", t.rule), None)),
    case("GET", "/inbound-domains", 200, |_| ("/inbound-domains".into(), None)),
    case("POST", "/inbound-domains", 403, |t| {
        ("/inbound-domains".into(), Some(json!({"name": t.domain, "host": "203.0.113.25"})))
    }),
    case("GET", "/inbound-domains/{name}", 404, |t| (format!("/inbound-domains/{}", t.domain), None)),
    case("DELETE", "/inbound-domains/{name}", 404, |t| (format!("/inbound-domains/{}", t.domain), None)),
    case("GET", "/tokens", 403, |_| ("/tokens".into(), None)),
    case("POST", "/tokens", 403, |t| {
        ("/tokens".into(), Some(json!({"name": "mine now", "role": "domain_admin", "domains": [t.domain]})))
    }),
    case("DELETE", "/tokens/{id}", 403, |t| (format!("/tokens/{}", t.token), None)),
    case("GET", "/admin-users", 403, |_| ("/admin-users".into(), None)),
    case("POST", "/admin-users", 403, |t| {
        let body =
            json!({"name": "mine-now", "password": "a long password", "role": "domain_admin", "domains": [t.domain]});
        ("/admin-users".into(), Some(body))
    }),
    case("GET", "/admin-users/{id}", 403, |t| (format!("/admin-users/{}", t.admin_user), None)),
    case("PATCH", "/admin-users/{id}", 403, |t| {
        (format!("/admin-users/{}", t.admin_user), Some(json!({"password": "taken over now"})))
    }),
    case("DELETE", "/admin-users/{id}", 403, |t| (format!("/admin-users/{}", t.admin_user), None)),
    case("GET", "/dkim", 200, |_| ("/dkim".into(), None)),
    case("GET", "/dkim", 200, |t| (format!("/dkim?domain={}", t.domain), None)),
    case("GET", "/domains/{name}/dkim/keys", 404, |t| (format!("/domains/{}/dkim/keys", t.domain), None)),
    case("POST", "/domains/{name}/dkim/keys", 404, |t| {
        (format!("/domains/{}/dkim/keys", t.domain), Some(json!({"selector": "mine", "algorithm": "ed25519"})))
    }),
    case("GET", "/domains/{name}/dkim/keys/{selector}", 404, |t| {
        (format!("/domains/{}/dkim/keys/{}", t.domain, t.selector), None)
    }),
    case("DELETE", "/domains/{name}/dkim/keys/{selector}", 404, |t| {
        (format!("/domains/{}/dkim/keys/{}?force=true", t.domain, t.selector), None)
    }),
    case("GET", "/domains/{name}/dkim/dns", 404, |t| (format!("/domains/{}/dkim/dns", t.domain), None)),
    case("GET", "/domains/{name}/dkim/check", 404, |t| (format!("/domains/{}/dkim/check", t.domain), None)),
    case("POST", "/domains/{name}/dkim/rotate", 404, |t| {
        (format!("/domains/{}/dkim/rotate", t.domain), Some(json!({"selector": t.selector, "force": true})))
    }),
    case("GET", "/queue", 200, |_| ("/queue".into(), None)),
    case("GET", "/queue", 200, |t| (format!("/queue?domain={}", t.domain), None)),
    case("POST", "/queue/retry", 200, |_| ("/queue/retry".into(), None)),
    case("GET", "/queue/{id}", 404, |t| (format!("/queue/{}", t.message), None)),
    case("DELETE", "/queue/{id}", 404, |t| (format!("/queue/{}", t.message), None)),
    case("POST", "/queue/{id}/retry", 404, |t| (format!("/queue/{}/retry", t.message), None)),
    case("POST", "/queue/{id}/hold", 404, |t| (format!("/queue/{}/hold", t.message), None)),
    case("POST", "/queue/{id}/release", 404, |t| (format!("/queue/{}/release", t.message), None)),
    case("GET", "/queue/{id}/content", 404, |t| (format!("/queue/{}/content", t.message), None)),
    case("GET", "/quarantine", 200, |_| ("/quarantine".into(), None)),
    case("GET", "/quarantine", 200, |t| (format!("/quarantine?domain={}", t.domain), None)),
    case("GET", "/quarantine/{id}", 404, |t| (format!("/quarantine/{}", t.held), None)),
    case("GET", "/quarantine/{id}/arf", 404, |t| (format!("/quarantine/{}/arf", t.held), None)),
    case("POST", "/quarantine/{id}/release", 404, |t| (format!("/quarantine/{}/release", t.held), None)),
    case("POST", "/quarantine/{id}/confirm", 404, |t| (format!("/quarantine/{}/confirm", t.held), None)),
    case("POST", "/quarantine/{id}/request-release", 404, |t| {
        (format!("/quarantine/{}/request-release", t.held), Some(json!({"note": "please"})))
    }),
    case("DELETE", "/quarantine/{id}", 404, |t| (format!("/quarantine/{}", t.held), None)),
    case("GET", "/archive", 200, |_| ("/archive".into(), None)),
    case("GET", "/archive", 200, |t| (format!("/archive?domain={}", t.domain), None)),
    case("GET", "/archive", 200, |t| (format!("/archive?account_id={}", t.ip_account), None)),
    case("GET", "/archive", 200, |t| (format!("/archive?sender=sender@{}&text=archived", t.domain), None)),
    case("GET", "/archive/{id}", 404, |t| (format!("/archive/{}", t.archived), None)),
    case("GET", "/archive/{id}/message", 404, |t| (format!("/archive/{}/message", t.archived), None)),
    case("GET", "/archive/export", 404, |t| (format!("/archive/export?format=mbox&domain={}", t.domain), None)),
    case("GET", "/archive/export", 404, |t| (format!("/archive/export?format=zip&account_id={}", t.ip_account), None)),
    case("GET", "/status", 403, |_| ("/status".into(), None)),
    case("GET", "/training", 403, |_| ("/training".into(), None)),
    case("POST", "/training", 403, |_| ("/training?label=spam".into(), None)),
    case("GET", "/log", 200, |_| ("/log".into(), None)),
    case("GET", "/log", 200, |t| (format!("/log?domain={}", t.domain), None)),
    case("GET", "/log", 200, |t| (format!("/log?queue_id={}", t.message), None)),
    case("GET", "/log", 200, |t| (format!("/log?message_id=%3C{}@{}%3E", t.message, t.domain), None)),
    case("GET", "/log", 200, |t| (format!("/log?sender=sender@{}", t.domain), None)),
    case("GET", "/log/{key}", 404, |t| (format!("/log/{}", t.message), None)),
    case("GET", "/log/{key}", 404, |t| (format!("/log/%3C{}@{}%3E", t.message, t.domain), None)),
];

/// A's token on A's own objects, in this order (deletions last).
const OWN: &[Case] = &[
    case("GET", "/whoami", 200, |_| ("/whoami".into(), None)),
    case("GET", "/domains", 200, |_| ("/domains".into(), None)),
    case("POST", "/domains", 403, |_| ("/domains".into(), Some(json!({"name": "new.example"})))),
    case("GET", "/domains/{name}", 200, |t| (format!("/domains/{}", t.domain), None)),
    case("PATCH", "/domains/{name}", 200, |t| {
        (format!("/domains/{}", t.domain), Some(json!({"abuse_contact": "abuse@a.example"})))
    }),
    case("PATCH", "/domains/{name}", 200, |t| {
        (format!("/domains/{}", t.domain), Some(json!({"filter_enabled": false})))
    }),
    case("PATCH", "/domains/{name}", 403, |t| {
        (format!("/domains/{}", t.domain), Some(json!({"filter_enabled": true})))
    }),
    case("DELETE", "/domains/{name}", 403, |t| (format!("/domains/{}", t.domain), None)),
    case("GET", "/domains/{name}/ip-ranges", 200, |t| (format!("/domains/{}/ip-ranges", t.domain), None)),
    case("POST", "/domains/{name}/ip-ranges", 403, |t| {
        (format!("/domains/{}/ip-ranges", t.domain), Some(json!({"range": "198.18.0.0/24"})))
    }),
    case("DELETE", "/domains/{name}/ip-ranges/{id}", 403, |t| {
        (format!("/domains/{}/ip-ranges/{}", t.domain, t.delegation), None)
    }),
    case("GET", "/client-blocks", 403, |_| ("/client-blocks".into(), None)),
    case("DELETE", "/client-blocks/{ip}", 403, |_| ("/client-blocks/192.0.2.200".into(), None)),
    case("GET", "/accounts", 200, |_| ("/accounts".into(), None)),
    case("POST", "/accounts", 201, |t| {
        ("/accounts".into(), Some(json!({"domain": t.domain, "kind": "ip", "name": "203.0.113.0/28"})))
    }),
    // Outside the domain's delegation (203.0.113.0/25), wider than /24, or trusted.
    case("POST", "/accounts", 403, |t| {
        ("/accounts".into(), Some(json!({"domain": t.domain, "kind": "ip", "name": "0.0.0.0/0"})))
    }),
    case("POST", "/accounts", 403, |t| {
        ("/accounts".into(), Some(json!({"domain": t.domain, "kind": "ip", "name": "203.0.113.200"})))
    }),
    case("POST", "/accounts", 403, |t| {
        ("/accounts".into(), Some(json!({"domain": t.domain, "kind": "ip", "name": "127.0.0.1"})))
    }),
    case("GET", "/accounts/{id}", 200, |t| (format!("/accounts/{}", t.ip_account), None)),
    case("PATCH", "/accounts/{id}", 200, |t| (format!("/accounts/{}", t.user_account), Some(json!({"locked": true})))),
    case("GET", "/identities", 200, |_| ("/identities".into(), None)),
    case("POST", "/identities", 201, |t| {
        ("/identities".into(), Some(json!({"account_id": t.ip_account, "name": "new"})))
    }),
    case("GET", "/identities/{id}", 200, |t| (format!("/identities/{}", t.identity), None)),
    case("PATCH", "/identities/{id}", 200, |t| (format!("/identities/{}", t.identity), Some(json!({"locked": true})))),
    case("GET", "/accounts/{id}/counters", 503, |t| (format!("/accounts/{}/counters", t.user_account), None)),
    case("GET", "/identities/{id}/counters", 503, |t| (format!("/identities/{}/counters", t.identity), None)),
    case("POST", "/spam-events", 503, |t| ("/spam-events".into(), Some(json!({"account_id": t.user_account})))),
    case("GET", "/dkim", 200, |_| ("/dkim".into(), None)),
    case("GET", "/domains/{name}/dkim/keys", 200, |t| (format!("/domains/{}/dkim/keys", t.domain), None)),
    case("POST", "/domains/{name}/dkim/keys", 201, |t| {
        (format!("/domains/{}/dkim/keys", t.domain), Some(json!({"selector": "own2", "algorithm": "ed25519"})))
    }),
    case("GET", "/domains/{name}/dkim/keys/{selector}", 200, |t| {
        (format!("/domains/{}/dkim/keys/{}", t.domain, t.selector), None)
    }),
    case("GET", "/domains/{name}/dkim/dns", 200, |t| (format!("/domains/{}/dkim/dns", t.domain), None)),
    case("GET", "/domains/{name}/dkim/check", 200, |t| (format!("/domains/{}/dkim/check", t.domain), None)),
    case("POST", "/domains/{name}/dkim/rotate", 409, |t| {
        (format!("/domains/{}/dkim/rotate", t.domain), Some(json!({"selector": t.selector})))
    }),
    case("POST", "/domains/{name}/dkim/rotate", 200, |t| {
        (format!("/domains/{}/dkim/rotate", t.domain), Some(json!({"selector": t.selector, "force": true})))
    }),
    case("DELETE", "/domains/{name}/dkim/keys/{selector}", 409, |t| {
        (format!("/domains/{}/dkim/keys/{}", t.domain, t.selector), None)
    }),
    case("DELETE", "/domains/{name}/dkim/keys/{selector}", 200, |t| {
        (format!("/domains/{}/dkim/keys/{}?force=true", t.domain, t.selector), None)
    }),
    case("DELETE", "/identities/{id}", 200, |t| (format!("/identities/{}", t.identity), None)),
    case("DELETE", "/accounts/{id}", 200, |t| (format!("/accounts/{}", t.user_account), None)),
    case("GET", "/rules", 200, |_| ("/rules".into(), None)),
    case("POST", "/rules", 201, |t| {
        (
            "/rules".into(),
            Some(json!({"domain": t.domain, "kind": "sender", "value": "x@spam.example", "action": "discard"})),
        )
    }),
    case("POST", "/rules", 403, |_| {
        ("/rules".into(), Some(json!({"kind": "sender", "value": "x@spam.example", "action": "discard"})))
    }),
    case("GET", "/rules/{id}", 200, |t| (format!("/rules/{}", t.rule), None)),
    case("DELETE", "/rules/{id}", 200, |t| (format!("/rules/{}", t.rule), None)),
    case("GET", "/inbound-domains", 200, |_| ("/inbound-domains".into(), None)),
    case("POST", "/inbound-domains", 403, |_| {
        ("/inbound-domains".into(), Some(json!({"name": "new.example", "host": "203.0.113.25"})))
    }),
    case("GET", "/inbound-domains/{name}", 200, |t| (format!("/inbound-domains/{}", t.domain), None)),
    case("DELETE", "/inbound-domains/{name}", 403, |t| (format!("/inbound-domains/{}", t.domain), None)),
    case("GET", "/tokens", 403, |_| ("/tokens".into(), None)),
    case("POST", "/tokens", 403, |t| {
        ("/tokens".into(), Some(json!({"name": "another", "role": "domain_admin", "domains": [t.domain]})))
    }),
    case("DELETE", "/tokens/{id}", 403, |t| (format!("/tokens/{}", t.token), None)),
    // Panel users are the superadmin's, even the domain's own.
    case("GET", "/admin-users", 403, |_| ("/admin-users".into(), None)),
    case("POST", "/admin-users", 403, |t| {
        let body =
            json!({"name": "another", "password": "a long password", "role": "domain_admin", "domains": [t.domain]});
        ("/admin-users".into(), Some(body))
    }),
    case("GET", "/admin-users/{id}", 403, |t| (format!("/admin-users/{}", t.admin_user), None)),
    case("PATCH", "/admin-users/{id}", 403, |t| {
        (format!("/admin-users/{}", t.admin_user), Some(json!({"role": "superadmin"})))
    }),
    case("DELETE", "/admin-users/{id}", 403, |t| (format!("/admin-users/{}", t.admin_user), None)),
    case("GET", "/queue", 200, |_| ("/queue".into(), None)),
    case("GET", "/queue/{id}", 200, |t| (format!("/queue/{}", t.message), None)),
    case("GET", "/queue/{id}/content", 200, |t| (format!("/queue/{}/content", t.message), None)),
    case("GET", "/status", 403, |_| ("/status".into(), None)),
    case("POST", "/queue/{id}/hold", 200, |t| (format!("/queue/{}/hold", t.message), None)),
    case("POST", "/queue/{id}/release", 200, |t| (format!("/queue/{}/release", t.message), None)),
    case("POST", "/queue/{id}/retry", 200, |t| (format!("/queue/{}/retry", t.message), None)),
    case("POST", "/queue/retry", 200, |_| ("/queue/retry".into(), None)),
    case("DELETE", "/queue/{id}", 200, |t| (format!("/queue/{}", t.message), None)),
    case("GET", "/quarantine", 200, |_| ("/quarantine".into(), None)),
    case("GET", "/quarantine/{id}", 200, |t| (format!("/quarantine/{}", t.held), None)),
    case("GET", "/quarantine/{id}/arf", 200, |t| (format!("/quarantine/{}/arf", t.held), None)),
    case("POST", "/quarantine/{id}/request-release", 200, |t| {
        (format!("/quarantine/{}/request-release", t.held), Some(json!({"note": "a customer's invoice"})))
    }),
    case("POST", "/quarantine/{id}/confirm", 200, |t| (format!("/quarantine/{}/confirm", t.held), None)),
    case("POST", "/quarantine/{id}/release", 403, |t| (format!("/quarantine/{}/release", t.held), None)),
    case("DELETE", "/quarantine/{id}", 200, |t| (format!("/quarantine/{}", t.held), None)),
    case("GET", "/archive", 200, |_| ("/archive".into(), None)),
    case("GET", "/archive/{id}", 200, |t| (format!("/archive/{}", t.archived), None)),
    case("GET", "/archive/{id}/message", 200, |t| (format!("/archive/{}/message", t.archived), None)),
    case("GET", "/archive/export", 200, |_| ("/archive/export?format=zip".into(), None)),
    case("GET", "/training", 403, |_| ("/training".into(), None)),
    case("POST", "/training", 403, |_| ("/training?label=ham".into(), None)),
    case("GET", "/log", 200, |t| (format!("/log?domain={}", t.domain), None)),
    case("GET", "/log/{key}", 200, |t| (format!("/log/{}", t.message), None)),
];

/// Builds one tenant: domain, an IP range delegated to it, an ip and a user account, an
/// identity, a queued message and a domain-admin token. Returns its objects and the
/// token's secret.
async fn tenant(api: &Api, domain: &str, network: &str, delegated: &str) -> (Target, String) {
    api.ok("POST", "/domains", Some(&json!({"name": domain})), 201).await;
    let range = json!({"range": delegated, "comment": format!("contract of {domain}")});
    let delegation = api.ok("POST", &format!("/domains/{domain}/ip-ranges"), Some(&range), 201).await;
    let ip = api.ok("POST", "/accounts", Some(&json!({"domain": domain, "kind": "ip", "name": network})), 201).await;
    let user = format!("user@{domain}");
    let body = json!({"domain": domain, "kind": "user", "name": user, "password": "Correct-Horse-Battery-9"});
    let user_account = api.ok("POST", "/accounts", Some(&body), 201).await;
    let ip_account = ip["id"].as_i64().expect("id");
    let identity =
        api.ok("POST", "/identities", Some(&json!({"account_id": ip_account, "name": "client-1"})), 201).await;
    let message = api.queue_message(ip_account, domain, &format!("sender@{domain}")).await;
    api.log_message(message, domain, &format!("sender@{domain}"));
    let held = api.hold_message(ip_account, domain, &format!("sender@{domain}")).await;
    let archived = api.archive_message(ip_account, domain, &format!("sender@{domain}"), "archived");
    let body = json!({"domain": domain, "kind": "network", "value": network, "action": "reject"});
    let rule = api.ok("POST", "/rules", Some(&body), 201).await;
    let key = json!({"selector": "s1", "algorithm": "ed25519"});
    api.ok("POST", &format!("/domains/{domain}/dkim/keys"), Some(&key), 201).await;
    api.ok("POST", "/inbound-domains", Some(&json!({"name": domain, "host": "10.0.0.25"})), 201).await;
    let body = json!({"name": format!("admin of {domain}"), "role": "domain_admin", "domains": [domain]});
    let token = api.ok("POST", "/tokens", Some(&body), 201).await;
    let body = json!({"name": format!("support@{domain}"), "password": "a long password", "role": "domain_admin",
        "domains": [domain]});
    let admin_user = api.ok("POST", "/admin-users", Some(&body), 201).await;
    let target = Target {
        domain: domain.into(),
        ip_account,
        user_account: user_account["id"].as_i64().expect("id"),
        identity: identity["id"].as_i64().expect("id"),
        message: message.to_string(),
        token: token["token"]["id"].as_i64().expect("id"),
        rule: rule["id"].as_i64().expect("id"),
        selector: "s1".into(),
        delegation: delegation["id"].as_i64().expect("id"),
        held,
        archived,
        admin_user: admin_user["id"].as_i64().expect("id"),
    };
    (target, token["secret"].as_str().expect("secret").to_string())
}

/// Objects that exist nowhere.
fn ghost() -> Target {
    Target {
        domain: "ghost.example".into(),
        ip_account: 987_654_321,
        user_account: 987_654_322,
        identity: 987_654_323,
        message: QueueId::generate().to_string(),
        token: 987_654_324,
        rule: 987_654_325,
        selector: "s1".into(),
        delegation: 987_654_326,
        held: 987_654_327,
        archived: 987_654_328,
        admin_user: 987_654_329,
    }
}

/// Every (method, path) the OpenAPI document describes.
async fn documented(api: &Api) -> BTreeSet<(String, String)> {
    let doc = api.ok("GET", "/openapi.json", None, 200).await;
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    ops
}

fn covered(cases: &[Case]) -> BTreeSet<(String, String)> {
    cases.iter().map(|c| (c.method.to_string(), c.template.to_string())).collect()
}

#[tokio::test]
async fn every_endpoint_keeps_tenants_apart() {
    let api = Api::new();
    let (own, a_secret) = tenant(&api, "a.example", "192.0.2.0/28", "203.0.113.0/25").await;
    let (foreign, _) = tenant(&api, "b.example", "198.51.100.0/28", "203.0.113.128/25").await;
    let a = Some(a_secret.as_str());

    let documented = documented(&api).await;
    assert!(documented.len() >= 20, "{documented:?}");
    for (name, cases) in [("FOREIGN", FOREIGN), ("OWN", OWN)] {
        let covered = covered(cases);
        let missing: Vec<_> = documented.difference(&covered).collect();
        assert!(missing.is_empty(), "documented operations without an isolation case in {name}: {missing:?}");
        let undocumented: Vec<_> = covered.difference(&documented).collect();
        assert!(undocumented.is_empty(), "isolation cases for undocumented operations in {name}: {undocumented:?}");
    }

    let ghost = ghost();
    let b_markers = [
        foreign.domain.clone(),
        "198.51.100.".into(),
        foreign.message.clone(),
        "user@b.example".into(),
        "203.0.113.128".into(),
    ];
    for c in FOREIGN {
        let (path, body) = (c.request)(&foreign);
        let answer = api.call(a, c.method, &path, body.as_ref()).await;
        let what = format!("{} {path}", c.method);
        assert_eq!(answer.status.as_u16(), c.expect, "{what}: {}", answer.text);
        assert!(answer.json.is_object() || answer.json.is_array(), "{what}: JSON answer, got {}", answer.text);
        for marker in &b_markers {
            assert!(!answer.text.contains(marker.as_str()), "{what} shows B's {marker}: {}", answer.text);
        }
        let (ghost_path, ghost_body) = (c.request)(&ghost);
        let missing = api.call(a, c.method, &ghost_path, ghost_body.as_ref()).await;
        assert_eq!(
            (answer.status, &answer.json),
            (missing.status, &missing.json),
            "{what}: B's object must look exactly like a missing one"
        );
    }
    let retried = api.call(a, "POST", "/queue/retry", None).await;
    assert_eq!(retried.json["retried"], 1, "only A's own message is retried");

    // B's objects are untouched.
    let domain = api.ok("GET", "/domains/b.example", None, 200).await;
    assert_eq!(domain["filter_enabled"], false);
    assert!(domain.get("abuse_contact").is_none());
    assert_eq!(
        api.ok("GET", &format!("/accounts/{}", foreign.ip_account), None, 200).await["settings"]["monitor_only"],
        false
    );
    assert_eq!(api.ok("GET", &format!("/accounts/{}", foreign.user_account), None, 200).await["lock"]["locked"], false);
    assert_eq!(api.ok("GET", &format!("/identities/{}", foreign.identity), None, 200).await["lock"]["locked"], false);
    assert_eq!(api.ok("GET", &format!("/queue/{}", foreign.message), None, 200).await["state"], "incoming");
    assert_eq!(api.ok("GET", "/tokens", None, 200).await["total"], 3);
    let panel_user = api.ok("GET", &format!("/admin-users/{}", foreign.admin_user), None, 200).await;
    assert_eq!((&panel_user["role"], &panel_user["domains"]), (&json!("domain_admin"), &json!(["b.example"])));
    assert_eq!(api.ok("GET", "/admin-users", None, 200).await["total"], 2, "A created no panel user");
    assert_eq!(api.ok("GET", &format!("/rules/{}", foreign.rule), None, 200).await["action"], "reject");
    let key = api.ok("GET", &format!("/domains/b.example/dkim/keys/{}", foreign.selector), None, 200).await;
    assert_eq!(key["state"], "pending", "B's key was neither rotated nor removed");
    assert_eq!(api.ok("GET", "/dkim?domain=b.example", None, 200).await["total"], 1, "and A added none to B");
    let ranges = api.ok("GET", "/domains/b.example/ip-ranges", None, 200).await;
    assert_eq!(ranges["total"], 1, "B's delegation is neither removed nor added to: {ranges}");
    assert_eq!(api.ok("GET", "/inbound-domains/b.example", None, 200).await["host"], "10.0.0.25");
    let held = api.ok("GET", &format!("/quarantine/{}", foreign.held), None, 200).await;
    assert_eq!(held["state"], "held", "B's held message is still held: {held}");
    assert!(held["release_requested_by"].is_null() && held["confirmed_by"].is_null(), "{held}");

    for c in OWN {
        let (path, body) = (c.request)(&own);
        let answer = api.call(a, c.method, &path, body.as_ref()).await;
        let what = format!("{} {path}", c.method);
        assert_eq!(answer.status.as_u16(), c.expect, "{what}: {}", answer.text);
        for marker in &b_markers {
            assert!(!answer.text.contains(marker.as_str()), "{what} shows B's {marker}: {}", answer.text);
        }
    }
    // The superadmin still sees both tenants.
    assert_eq!(api.ok("GET", "/domains", None, 200).await["total"], 2);
    // A deleted its own message; what is left is B's, and the notice of A's lock of its own
    // account (a lock through the API sends one), addressed to A's user.
    let queue = api.ok("GET", "/queue", None, 200).await;
    let items = queue.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{queue}");
    assert!(items.iter().any(|m| m["queue_id"] == json!(foreign.message)), "{queue}");
    let notice = items.iter().find(|m| m["queue_id"] != json!(foreign.message)).expect("the lock notice");
    assert_eq!(notice["recipients"][0]["address"], json!(format!("user@{}", own.domain)), "{queue}");
}

#[tokio::test]
async fn lists_show_only_the_callers_domains() {
    let api = Api::new();
    let (_, a_secret) = tenant(&api, "a.example", "192.0.2.0/28", "203.0.113.0/25").await;
    tenant(&api, "b.example", "198.51.100.0/28", "203.0.113.128/25").await;
    api.ok("POST", "/rules", Some(&json!({"kind": "ip", "value": "203.0.113.7", "action": "reject"})), 201).await;
    let a = Some(a_secret.as_str());
    for path in ["/domains", "/accounts", "/identities", "/rules", "/dkim", "/inbound-domains", "/archive"] {
        let list = api.call(a, "GET", path, None).await;
        let items = list.json["items"].as_array().expect("items");
        assert!(!items.is_empty(), "{path}");
        for item in items {
            let domain = item.get("domain").or_else(|| item.get("name")).and_then(Value::as_str);
            assert_eq!(domain, Some("a.example"), "{path}: {item}");
        }
        assert_eq!(list.json["total"].as_u64(), Some(items.len() as u64), "{path}: total counts only A's");
    }
    let queue = api.call(a, "GET", "/queue", None).await;
    let messages = queue.json.as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["sender"], "sender@a.example");
    let log = api.call(a, "GET", "/log", None).await;
    let rows = log.json["items"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{}", log.text);
    assert_eq!((&rows[0]["account_domain"], &rows[0]["status"]), (&json!("a.example"), &json!("queued")));
    assert_eq!(api.ok("GET", "/log", None, 200).await["items"].as_array().map(Vec::len), Some(2), "the superadmin");
}
