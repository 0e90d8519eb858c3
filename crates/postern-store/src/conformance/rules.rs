//! Block and allow list rules: canonical values, one rule per value in each list, tenant
//! scope (a domain admin sees its domains' rules, never global ones nor other tenants'),
//! deletion and the cascade of a domain's deletion.

use postern_core::tenancy::{ListAction, ListKind, ListRule};

use super::{FIRST, add_domain, conflict, keys, not_found, ok, present};
use crate::directory::{DirectoryStore, NewRule, Page, RuleFilter, Scope};

fn new_rule(domain: Option<&str>, kind: ListKind, value: &str, action: ListAction) -> NewRule {
    NewRule { domain: domain.map(str::to_string), kind, value: value.into(), action, comment: None }
}

fn add_rule(
    store: &dyn DirectoryStore,
    domain: Option<&str>,
    kind: ListKind,
    value: &str,
    action: ListAction,
) -> ListRule {
    let what = format!("create {} rule {value} in {domain:?}", kind.name());
    ok(store.create_rule(&new_rule(domain, kind, value, action)), &what)
}

fn values(store: &dyn DirectoryStore, scope: &Scope, filter: &RuleFilter) -> Vec<String> {
    keys(&ok(store.list_rules(scope, filter, FIRST), "list rules"), |r| r.value.clone())
}

pub fn create_get_and_canonical(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let mut new = new_rule(Some("example.com"), ListKind::Network, "192.0.2.77/255.255.255.0", ListAction::Reject);
    new.comment = Some("spam run of 2024-05".into());
    let created = ok(store.create_rule(&new), "create a network rule with a dotted mask");
    assert_eq!(created.value, "192.0.2.0/24", "a dotted mask is stored as CIDR, host bits cleared");
    assert_eq!(created.domain.as_deref(), Some("example.com"));
    assert_eq!((created.kind, created.action), (ListKind::Network, ListAction::Reject));
    assert_eq!(created.comment.as_deref(), Some("spam run of 2024-05"));
    assert!(created.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms: {}", created.created_at_ms);
    assert_eq!(ok(store.rule(created.id), "get"), Some(created.clone()), "get returns what create returned");
    assert_eq!(ok(store.rule(created.id + 1000), "get missing"), None);

    let global = add_rule(store, None, ListKind::Sender, " Boss@Example.NET ", ListAction::Allow);
    assert_eq!(global.domain, None, "no domain: a global rule");
    assert_eq!(global.value, "boss@example.net", "addresses are lower-case");
    assert_ne!(global.id, created.id);
    let ip = add_rule(store, None, ListKind::Ip, "::ffff:198.51.100.7", ListAction::Discard);
    assert_eq!(ip.value, "198.51.100.7", "an ip rule is one address, IPv4-mapped as IPv4");
    let domain = add_rule(store, None, ListKind::SenderDomain, "Spam.Example.", ListAction::Reject);
    assert_eq!(domain.value, "spam.example");
    let rcpt = add_rule(store, Some("example.com"), ListKind::Recipient, "Dest@Remote.Example", ListAction::Reject);
    assert_eq!(rcpt.value, "dest@remote.example");

    not_found(
        store.create_rule(&new_rule(Some("missing.example"), ListKind::Ip, "192.0.2.1", ListAction::Reject)),
        "a rule of a missing domain",
    );
    for (kind, bad) in [
        (ListKind::Ip, "192.0.2.0/24"),
        (ListKind::Network, "192.0.2.0/255.0.255.0"),
        (ListKind::Sender, "not an address"),
        (ListKind::SenderDomain, "localhost"),
    ] {
        conflict(
            store.create_rule(&new_rule(None, kind, bad, ListAction::Reject)),
            &format!("{} {bad:?}", kind.name()),
        );
    }
    let all = ok(store.list_rules(&Scope::All, &RuleFilter::default(), FIRST), "list");
    assert_eq!(all.total, 5, "refused rules were not stored: {all:?}");
}

pub fn duplicates_conflict(store: &dyn DirectoryStore) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    let first = add_rule(store, Some("a.example"), ListKind::Network, "10.0.0.0/8", ListAction::Reject);
    let message = conflict(
        store.create_rule(&new_rule(Some("a.example"), ListKind::Network, "10.1.2.3/255.0.0.0", ListAction::Allow)),
        "the same network in the same list, written otherwise, with another action",
    );
    assert!(message.contains(&first.id.to_string()), "the conflict names the existing rule: {message}");
    // The same value in another list, or of another kind, is another rule.
    add_rule(store, Some("b.example"), ListKind::Network, "10.0.0.0/8", ListAction::Allow);
    add_rule(store, None, ListKind::Network, "10.0.0.0/8", ListAction::Discard);
    conflict(store.create_rule(&new_rule(None, ListKind::Network, "10.0.0.0/8", ListAction::Reject)), "global twice");
    add_rule(store, Some("a.example"), ListKind::Ip, "10.0.0.1", ListAction::Allow);
    add_rule(store, Some("a.example"), ListKind::Network, "10.0.0.1/32", ListAction::Reject);
    add_rule(store, Some("a.example"), ListKind::Sender, "x@spam.example", ListAction::Reject);
    add_rule(store, Some("a.example"), ListKind::Recipient, "x@spam.example", ListAction::Reject);
    conflict(
        store.create_rule(&new_rule(Some("a.example"), ListKind::Sender, "X@Spam.Example", ListAction::Discard)),
        "the same address in another case",
    );
    let all = ok(store.list_rules(&Scope::All, &RuleFilter::default(), FIRST), "list");
    assert_eq!(all.total, 7, "conflicts stored nothing: {all:?}");
}

pub fn list_filters_scopes_and_pages(store: &dyn DirectoryStore) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    add_rule(store, None, ListKind::Ip, "192.0.2.1", ListAction::Reject);
    add_rule(store, Some("a.example"), ListKind::Ip, "192.0.2.2", ListAction::Allow);
    add_rule(store, Some("b.example"), ListKind::Sender, "spam@b-partner.example", ListAction::Discard);
    add_rule(store, Some("a.example"), ListKind::SenderDomain, "spam.example", ListAction::Reject);
    add_rule(store, None, ListKind::Recipient, "trap@remote.example", ListAction::Discard);
    add_rule(store, Some("a.example"), ListKind::Network, "198.51.100.0/24", ListAction::Reject);

    let all = RuleFilter::default();
    assert_eq!(
        values(store, &Scope::All, &all),
        ["192.0.2.1", "192.0.2.2", "spam@b-partner.example", "spam.example", "trap@remote.example", "198.51.100.0/24"],
        "the superadmin sees every rule, by id"
    );
    let a = Scope::Domains(vec!["a.example".into()]);
    assert_eq!(
        values(store, &a, &all),
        ["192.0.2.2", "spam.example", "198.51.100.0/24"],
        "a domain scope sees its domains' rules: no global rule, no other tenant's"
    );
    let listed = ok(store.list_rules(&a, &all, FIRST), "list a");
    assert_eq!(listed.total, 3, "total counts only what the scope sees");
    let global_only = RuleFilter { global: Some(true), ..RuleFilter::default() };
    assert!(values(store, &a, &global_only).is_empty(), "a domain scope never sees global rules, even when asked");
    assert_eq!(values(store, &Scope::All, &global_only), ["192.0.2.1", "trap@remote.example"]);
    let domains_only = RuleFilter { global: Some(false), ..RuleFilter::default() };
    assert_eq!(values(store, &Scope::All, &domains_only).len(), 4);
    let of_b = RuleFilter { domain: Some("b.example".into()), ..RuleFilter::default() };
    assert!(values(store, &a, &of_b).is_empty(), "asking for another tenant's domain finds nothing");
    assert_eq!(values(store, &Scope::All, &of_b), ["spam@b-partner.example"]);
    let nobody = ok(store.list_rules(&Scope::Domains(Vec::new()), &all, FIRST), "empty scope");
    assert!(nobody.items.is_empty() && nobody.total == 0, "an empty scope sees nothing: {nobody:?}");

    let rejects = RuleFilter { action: Some(ListAction::Reject), ..RuleFilter::default() };
    assert_eq!(values(store, &Scope::All, &rejects), ["192.0.2.1", "spam.example", "198.51.100.0/24"]);
    let ips = RuleFilter { kind: Some(ListKind::Ip), ..RuleFilter::default() };
    assert_eq!(values(store, &Scope::All, &ips), ["192.0.2.1", "192.0.2.2"]);
    let spam = RuleFilter { value: Some("SPAM".into()), ..RuleFilter::default() };
    assert_eq!(values(store, &Scope::All, &spam), ["spam@b-partner.example", "spam.example"], "case-insensitive");
    let combined = RuleFilter { value: Some("spam".into()), action: Some(ListAction::Reject), ..RuleFilter::default() };
    assert_eq!(values(store, &Scope::All, &combined), ["spam.example"], "filters combine with AND");

    let page = ok(store.list_rules(&Scope::All, &all, Page { limit: 2, offset: 2 }), "page");
    assert_eq!(keys(&page, |r| r.value.clone()), ["spam@b-partner.example", "spam.example"]);
    assert_eq!((page.total, page.limit, page.offset), (6, 2, 2), "total ignores limit and offset");
}

pub fn delete_and_cascade(store: &dyn DirectoryStore) {
    add_domain(store, "gone.example");
    add_domain(store, "kept.example");
    let gone = add_rule(store, Some("gone.example"), ListKind::Ip, "192.0.2.1", ListAction::Reject);
    let kept = add_rule(store, Some("kept.example"), ListKind::Ip, "192.0.2.1", ListAction::Reject);
    let global = add_rule(store, None, ListKind::Ip, "192.0.2.1", ListAction::Allow);
    let removed = add_rule(store, None, ListKind::Ip, "192.0.2.9", ListAction::Allow);

    assert!(ok(store.delete_rule(removed.id), "delete"), "deleting an existing rule is true");
    assert!(!ok(store.delete_rule(removed.id), "delete again"), "deleting a missing rule is false");
    assert_eq!(ok(store.rule(removed.id), "get deleted"), None);
    let again = add_rule(store, None, ListKind::Ip, "192.0.2.9", ListAction::Allow);
    assert!(again.id > removed.id, "ids are never reused: {} after {}", again.id, removed.id);

    assert!(ok(store.delete_domain("gone.example"), "delete domain"));
    assert_eq!(ok(store.rule(gone.id), "get"), None, "a domain's rules go with it");
    assert_eq!(present(store.rule(kept.id), "kept"), kept, "other domains keep theirs");
    assert_eq!(present(store.rule(global.id), "global"), global, "global rules stay");
    let all = ok(store.list_rules(&Scope::All, &RuleFilter::default(), FIRST), "list");
    assert_eq!(keys(&all, |r| r.id), [kept.id, global.id, again.id]);
    // A new domain of the same name starts with an empty list.
    add_domain(store, "gone.example");
    let mine = RuleFilter { domain: Some("gone.example".into()), ..RuleFilter::default() };
    assert!(values(store, &Scope::All, &mine).is_empty());
    add_rule(store, Some("gone.example"), ListKind::Ip, "192.0.2.1", ListAction::Reject);
}

pub fn snapshot_has_every_rule(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let rules = [
        add_rule(store, None, ListKind::Network, "10.0.0.0/255.255.0.0", ListAction::Reject),
        add_rule(store, Some("example.com"), ListKind::Sender, "a@example.net", ListAction::Allow),
        add_rule(store, Some("example.com"), ListKind::Recipient, "b@example.net", ListAction::Discard),
    ];
    let snapshot = ok(store.snapshot(), "snapshot");
    assert_eq!(snapshot.rules, rules, "every rule, by id, as stored");
    assert_eq!(snapshot.rules[0].value, "10.0.0.0/16");
    assert_eq!(ok(store.all_rules(), "all rules"), rules, "the same without the rest of the snapshot");
}
