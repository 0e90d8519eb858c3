//! IP ranges delegated to domains: canonical, never overlapping (in any domain), scoped
//! like every other object, removed with their domain.

use super::{FIRST, add_domain, conflict, not_found, ok};
use crate::directory::{DirectoryStore, NewDelegation, Scope};

fn delegation(domain: &str, range: &str) -> NewDelegation {
    NewDelegation { domain: domain.into(), range: range.into(), comment: None }
}

pub fn create_list_overlap_and_cascade(store: &dyn DirectoryStore) {
    add_domain(store, "one.example");
    add_domain(store, "two.example");
    let first = ok(store.create_delegation(&delegation("one.example", "192.0.2.7/24")), "delegate");
    assert_eq!(first.range, "192.0.2.0/24", "stored canonical");
    assert_eq!(first.domain, "one.example");
    let second = ok(
        store.create_delegation(&NewDelegation {
            comment: Some("office".into()),
            ..delegation("two.example", "2001:db8::/48")
        }),
        "delegate v6",
    );
    assert_eq!(second.comment.as_deref(), Some("office"));
    // Overlaps in either direction, in the same or another domain, are refused.
    conflict(store.create_delegation(&delegation("two.example", "192.0.2.128/25")), "narrower");
    conflict(store.create_delegation(&delegation("one.example", "192.0.0.0/16")), "wider");
    conflict(store.create_delegation(&delegation("one.example", "192.0.2.0/24")), "same");
    conflict(store.create_delegation(&delegation("one.example", "not a range")), "garbage");
    not_found(store.create_delegation(&delegation("ghost.example", "198.51.100.0/24")), "no such domain");
    ok(store.create_delegation(&delegation("one.example", "192.0.3.0/24")), "a sibling");

    let all = ok(store.list_delegations(&Scope::All, None, FIRST), "list all");
    assert_eq!(all.total, 3);
    let one = ok(store.list_delegations(&Scope::All, Some("one.example"), FIRST), "list one");
    assert_eq!(one.items.iter().map(|d| d.range.as_str()).collect::<Vec<_>>(), ["192.0.2.0/24", "192.0.3.0/24"]);
    let scoped = ok(store.list_delegations(&Scope::Domains(vec!["two.example".into()]), None, FIRST), "scoped");
    assert_eq!(scoped.total, 1);
    assert_eq!(scoped.items[0].id, second.id);
    let nothing =
        ok(store.list_delegations(&Scope::Domains(vec!["two.example".into()]), Some("one.example"), FIRST), "x");
    assert_eq!(nothing.total, 0, "a scope never sees another domain's delegations");

    assert_eq!(ok(store.delegation(first.id), "get"), Some(first.clone()));
    assert!(ok(store.delete_delegation(first.id), "delete"));
    assert!(!ok(store.delete_delegation(first.id), "delete again"));
    ok(store.create_delegation(&delegation("two.example", "192.0.2.0/25")), "free again after the delete");
    assert!(ok(store.delete_domain("two.example"), "delete domain"));
    let left = ok(store.list_delegations(&Scope::All, None, FIRST), "list after cascade");
    assert_eq!(left.total, 1, "the domain's delegations went with it: {left:?}");
}
