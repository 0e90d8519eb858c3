//! API tokens: created with the hash of their secret, found by it, listed, deleted.

use postern_core::tenancy::Role;

use super::{conflict, ok};
use crate::directory::{DirectoryStore, NewToken};

fn new_token(name: &str, role: Role, domains: &[&str], secret_hash: &str) -> NewToken {
    NewToken {
        name: name.into(),
        role,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        secret_hash: secret_hash.into(),
    }
}

pub fn create_find_list_delete(store: &dyn DirectoryStore) {
    assert!(ok(store.list_tokens(), "list").is_empty(), "no tokens at first");
    let root = ok(store.create_token(&new_token("ops", Role::Superadmin, &[], &"a".repeat(64))), "create ops");
    let tenant_hash = "0123456789abcdef".repeat(4);
    let tenant = new_token("tenant", Role::DomainAdmin, &["a.example", "b.example"], &tenant_hash);
    let tenant = ok(store.create_token(&tenant), "create tenant");
    assert_ne!(root.id, tenant.id);
    assert_eq!((root.name.as_str(), root.role, root.domains.len()), ("ops", Role::Superadmin, 0));
    assert_eq!(tenant.role, Role::DomainAdmin);
    assert_eq!(tenant.domains, ["a.example", "b.example"], "domains round-trip in order");
    assert!(tenant.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms");

    assert_eq!(ok(store.token_by_secret_hash(&tenant_hash), "by hash"), Some(tenant.clone()), "found by its hash");
    assert_eq!(ok(store.token_by_secret_hash(&"a".repeat(64)), "by hash"), Some(root.clone()));
    assert_eq!(ok(store.token_by_secret_hash(&"b".repeat(64)), "unknown"), None, "an unknown hash finds nothing");
    assert_eq!(ok(store.token_by_secret_hash(""), "empty"), None);
    assert_eq!(ok(store.list_tokens(), "list"), [root.clone(), tenant.clone()], "listed by id");
    conflict(store.create_token(&new_token("again", Role::Superadmin, &[], &tenant_hash)), "a duplicate secret hash");

    assert!(ok(store.delete_token(root.id), "delete"), "deleting an existing token is true");
    assert!(!ok(store.delete_token(root.id), "delete again"), "deleting a missing token is false");
    assert_eq!(ok(store.token_by_secret_hash(&"a".repeat(64)), "deleted"), None, "a deleted token is not found");
    assert_eq!(ok(store.list_tokens(), "list"), [tenant]);
}
