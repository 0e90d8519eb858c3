//! Domains: creation, lookup, partial updates, lists and the cascade of a deletion.

use postern_core::tenancy::{AccountKind, IpCheck, SenderSecurity};

use super::{FIRST, add_account, add_domain, conflict, keys, new_domain, ok, present, sighting, tick};
use crate::directory::{DirectoryStore, DomainChange, DomainFilter, IdentityFilter, Page, Scope};

pub fn create_get_and_conflict(store: &dyn DirectoryStore) {
    let mut new = new_domain("example.com");
    new.abuse_contact = Some("abuse@example.com".into());
    new.sender_security.allowed_senders = vec!["ceo@example.com".into()];
    let created = ok(store.create_domain(&new), "create example.com");
    assert_eq!(created.name, "example.com");
    assert!(!created.filter_enabled, "filter_enabled is what was given");
    assert_eq!(created.abuse_contact.as_deref(), Some("abuse@example.com"));
    assert_eq!(created.sender_security, new.sender_security);
    assert!(created.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms: {}", created.created_at_ms);
    assert_eq!(created.created_at_ms, created.updated_at_ms, "a new domain was never updated");
    assert_eq!(ok(store.domain("example.com"), "get"), Some(created.clone()), "get returns what create returned");
    assert_eq!(ok(store.domain("missing.example"), "get missing"), None);
    let message = conflict(store.create_domain(&new_domain("example.com")), "second example.com");
    assert!(message.contains("example.com"), "the conflict names the domain: {message}");
    assert_eq!(ok(store.domain("example.com"), "get after conflict"), Some(created), "a conflict changes nothing");
}

pub fn update_applies_only_what_is_given(store: &dyn DirectoryStore) {
    let mut new = new_domain("example.com");
    new.abuse_contact = Some("abuse@example.com".into());
    let created = ok(store.create_domain(&new), "create");
    tick();
    let enabled = DomainChange { filter_enabled: Some(true), ..DomainChange::default() };
    let updated = present(store.update_domain("example.com", &enabled), "enable filter");
    assert!(updated.filter_enabled);
    assert_eq!(updated.abuse_contact, created.abuse_contact, "untouched fields stay");
    assert_eq!(updated.sender_security, created.sender_security, "untouched fields stay");
    assert_eq!(updated.created_at_ms, created.created_at_ms, "created_at_ms never changes");
    assert!(updated.updated_at_ms > created.updated_at_ms, "updated_at_ms moves on");
    assert_eq!(ok(store.domain("example.com"), "get"), Some(updated.clone()), "the update is stored");

    let security = SenderSecurity { ip_check: IpCheck::Spf, ..SenderSecurity::default() };
    let change =
        DomainChange { sender_security: Some(security.clone()), abuse_contact: Some(None), ..DomainChange::default() };
    let updated = present(store.update_domain("example.com", &change), "security");
    assert_eq!(updated.sender_security, security);
    assert_eq!(updated.abuse_contact, None, "Some(None) clears the abuse contact");
    assert!(updated.filter_enabled, "the filter stays on");
    assert_eq!(ok(store.domain("example.com"), "get"), Some(updated));

    let missing = ok(store.update_domain("missing.example", &enabled), "update missing");
    assert_eq!(missing, None, "updating a missing domain is None");
}

pub fn list_filters_scopes_and_pages(store: &dyn DirectoryStore) {
    for name in ["delta.example", "alpha.example", "echo.example", "charlie.example", "bravo.example"] {
        add_domain(store, name);
    }
    for name in ["alpha.example", "echo.example"] {
        let on = DomainChange { filter_enabled: Some(true), ..DomainChange::default() };
        ok(store.update_domain(name, &on), "enable");
    }
    let all = ok(store.list_domains(&Scope::All, &DomainFilter::default(), FIRST), "list all");
    let sorted = ["alpha.example", "bravo.example", "charlie.example", "delta.example", "echo.example"];
    assert_eq!(keys(&all, |d| d.name.clone()), sorted, "ordered by name");
    assert_eq!((all.total, all.limit, all.offset), (5, 100, 0), "limit 0 means 100");

    let by_name = DomainFilter { name: Some("PH".into()), ..DomainFilter::default() };
    let found = ok(store.list_domains(&Scope::All, &by_name, FIRST), "name filter");
    assert_eq!(keys(&found, |d| d.name.clone()), ["alpha.example"], "case-insensitive substring");
    let by_name = DomainFilter { name: Some("r".into()), ..DomainFilter::default() };
    let found = ok(store.list_domains(&Scope::All, &by_name, FIRST), "name filter");
    assert_eq!(keys(&found, |d| d.name.clone()), ["bravo.example", "charlie.example"]);
    let enabled = DomainFilter { filter_enabled: Some(true), ..DomainFilter::default() };
    let found = ok(store.list_domains(&Scope::All, &enabled, FIRST), "enabled filter");
    assert_eq!(keys(&found, |d| d.name.clone()), ["alpha.example", "echo.example"]);
    let disabled = DomainFilter { filter_enabled: Some(false), name: Some("o".into()) };
    let found = ok(store.list_domains(&Scope::All, &disabled, FIRST), "both filters");
    assert_eq!(keys(&found, |d| d.name.clone()), ["bravo.example"], "filters combine with AND");

    let tenant = Scope::Domains(vec!["echo.example".into(), "bravo.example".into(), "zulu.example".into()]);
    let found = ok(store.list_domains(&tenant, &DomainFilter::default(), FIRST), "tenant");
    assert_eq!(keys(&found, |d| d.name.clone()), ["bravo.example", "echo.example"], "only the tenant's domains");
    assert_eq!(found.total, 2, "total counts only the tenant's domains");
    let nobody = ok(store.list_domains(&Scope::Domains(Vec::new()), &DomainFilter::default(), FIRST), "empty scope");
    assert!(nobody.items.is_empty() && nobody.total == 0, "an empty scope sees nothing: {nobody:?}");

    let page = ok(store.list_domains(&Scope::All, &DomainFilter::default(), Page { limit: 2, offset: 1 }), "page");
    assert_eq!(keys(&page, |d| d.name.clone()), ["bravo.example", "charlie.example"]);
    assert_eq!((page.total, page.limit, page.offset), (5, 2, 1), "total ignores limit and offset");
    let past = ok(store.list_domains(&Scope::All, &DomainFilter::default(), Page { limit: 2, offset: 10 }), "past");
    assert!(past.items.is_empty() && past.total == 5, "past the end: no items, same total");
    let huge = ok(store.list_domains(&Scope::All, &DomainFilter::default(), Page { limit: 5000, offset: 0 }), "huge");
    assert_eq!((huge.items.len(), huge.limit), (5, 1000), "the limit is at most 1000");
}

pub fn delete_cascades(store: &dyn DirectoryStore) {
    add_domain(store, "gone.example");
    add_domain(store, "kept.example");
    let gone = add_account(store, "gone.example", AccountKind::Ip, "192.0.2.0/24");
    let gone_user = add_account(store, "gone.example", AccountKind::User, "a@gone.example");
    let kept = add_account(store, "kept.example", AccountKind::Ip, "198.51.100.0/24");
    ok(
        store.record_identities(&[sighting(gone.id, "x@gone.example", 1), sighting(kept.id, "y@kept.example", 1)]),
        "record",
    );
    let registered = ok(store.create_identity(gone_user.id, "z@gone.example"), "create identity");

    assert!(ok(store.delete_domain("gone.example"), "delete"), "deleting an existing domain is true");
    assert_eq!(ok(store.domain("gone.example"), "get"), None);
    assert_eq!(ok(store.account(gone.id), "account"), None, "the domain's accounts go with it");
    assert_eq!(ok(store.account(gone_user.id), "account"), None, "the domain's accounts go with it");
    assert_eq!(ok(store.identity(registered.id), "identity"), None, "their identities go with them");
    let left = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), FIRST), "identities");
    assert_eq!(keys(&left, |i| i.name.clone()), ["y@kept.example"], "other domains keep theirs");
    assert!(ok(store.account(kept.id), "kept").is_some(), "other domains keep their accounts");
    assert!(!ok(store.delete_domain("gone.example"), "delete again"), "deleting a missing domain is false");
    // The range is free again.
    add_domain(store, "new.example");
    add_account(store, "new.example", AccountKind::Ip, "192.0.2.0/24");
}
