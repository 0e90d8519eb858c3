//! DKIM keys: created pending, found, listed by scope, rotated in one step (one active key
//! per domain and algorithm), deleted, and gone with their domain. The sealed private key
//! comes back byte for byte, only through [`DkimStore::active_dkim_keys`].

use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};

use super::{FIRST, add_domain, conflict, keys, not_found, ok, present};
use crate::directory::{Page, Scope};
use crate::dkim::{DkimStore, MOST_KEYS_PER_DOMAIN, NewDkimKey};

use super::DkimBackend;

fn new_key(domain: &str, selector: &str, algorithm: DkimAlgorithm) -> NewDkimKey {
    NewDkimKey {
        domain: domain.into(),
        selector: selector.into(),
        algorithm,
        public_key: format!("P-{domain}-{selector}"),
        sealed_private_key: format!("sealed {selector}").into_bytes(),
        master_key_id: "0011223344556677".into(),
    }
}

fn add_key(store: &dyn DkimStore, domain: &str, selector: &str, algorithm: DkimAlgorithm) -> DkimKey {
    ok(store.create_dkim_key(&new_key(domain, selector, algorithm)), &format!("create key {selector} of {domain}"))
}

fn state(store: &dyn DkimStore, domain: &str, selector: &str) -> DkimKeyState {
    present(store.dkim_key(domain, selector), &format!("key {selector} of {domain}")).state
}

pub fn create_get_and_conflict(store: &dyn DkimBackend) {
    add_domain(store, "a.example");
    let key = add_key(store, "a.example", "s1", DkimAlgorithm::Rsa);
    assert_eq!(key.state, DkimKeyState::Pending, "a new key is pending");
    assert_eq!((key.activated_at_ms, key.retire_at_ms), (None, None));
    assert!(key.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms");
    assert_eq!(key.public_key, "P-a.example-s1");
    assert_eq!(present(store.dkim_key("a.example", "s1"), "get"), key, "found as created");
    assert_eq!(ok(store.dkim_key("a.example", "s2"), "missing selector"), None);
    assert_eq!(ok(store.dkim_key("b.example", "s1"), "missing domain"), None);
    conflict(store.create_dkim_key(&new_key("a.example", "s1", DkimAlgorithm::Ed25519)), "a second s1");
    not_found(store.create_dkim_key(&new_key("nowhere.example", "s1", DkimAlgorithm::Rsa)), "a key of no domain");
    assert!(ok(store.active_dkim_keys(), "active").is_empty(), "a pending key does not sign");
}

pub fn at_most_ten_keys_per_domain(store: &dyn DkimBackend) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    for i in 0..MOST_KEYS_PER_DOMAIN {
        add_key(store, "a.example", &format!("s{i}"), DkimAlgorithm::Ed25519);
    }
    let message = conflict(store.create_dkim_key(&new_key("a.example", "one-more", DkimAlgorithm::Rsa)), "11th key");
    assert!(message.contains("a.example"), "{message}");
    add_key(store, "b.example", "s1", DkimAlgorithm::Rsa);
    assert!(ok(store.delete_dkim_key("a.example", "s0"), "delete"));
    add_key(store, "a.example", "one-more", DkimAlgorithm::Rsa);
}

pub fn rotation_keeps_one_active_key_per_algorithm(store: &dyn DkimBackend) {
    add_domain(store, "a.example");
    add_key(store, "a.example", "r1", DkimAlgorithm::Rsa);
    add_key(store, "a.example", "r2", DkimAlgorithm::Rsa);
    add_key(store, "a.example", "e1", DkimAlgorithm::Ed25519);
    assert_eq!(ok(store.activate_dkim_key("a.example", "nope", 0), "missing"), None);

    let first = present(store.activate_dkim_key("a.example", "r1", 5_000), "activate r1");
    assert_eq!(first.activated.state, DkimKeyState::Active);
    assert!(first.activated.activated_at_ms.is_some());
    assert!(first.retiring.is_empty(), "nothing to retire the first time");
    let ed = present(store.activate_dkim_key("a.example", "e1", 5_000), "activate e1");
    assert!(ed.retiring.is_empty(), "another algorithm retires nothing: dual signing");

    let rotated = present(store.activate_dkim_key("a.example", "r2", 9_000), "rotate to r2");
    assert_eq!(rotated.activated.selector, "r2");
    let retired: Vec<&str> = rotated.retiring.iter().map(|k| k.selector.as_str()).collect();
    assert_eq!(retired, ["r1"], "the previous RSA key retires");
    assert_eq!(rotated.retiring[0].retire_at_ms, Some(9_000));
    assert_eq!(state(store, "a.example", "r1"), DkimKeyState::Retiring);
    assert_eq!(present(store.dkim_key("a.example", "r1"), "r1").retire_at_ms, Some(9_000), "stored");
    assert_eq!(state(store, "a.example", "r2"), DkimKeyState::Active);
    assert_eq!(state(store, "a.example", "e1"), DkimKeyState::Active);

    let again = present(store.activate_dkim_key("a.example", "r2", 1), "activate the active key");
    assert!(again.retiring.is_empty());
    assert_eq!(again.activated.activated_at_ms, rotated.activated.activated_at_ms, "an active key stays as it is");

    let back = present(store.activate_dkim_key("a.example", "r1", 7_000), "back to r1");
    assert_eq!(back.activated.retire_at_ms, None, "a reactivated key no longer retires");
    assert_eq!(state(store, "a.example", "r2"), DkimKeyState::Retiring);

    let active: Vec<(String, String, DkimKeyState)> = ok(store.active_dkim_keys(), "active")
        .into_iter()
        .map(|s| (s.key.selector.clone(), String::from_utf8_lossy(&s.sealed_private_key).into_owned(), s.key.state))
        .collect();
    assert_eq!(
        active,
        [
            ("e1".to_string(), "sealed e1".to_string(), DkimKeyState::Active),
            ("r1".to_string(), "sealed r1".to_string(), DkimKeyState::Active)
        ],
        "exactly the active keys, by selector, with their sealed bytes"
    );
    let sealed = ok(store.active_dkim_keys(), "active");
    assert!(sealed.iter().all(|s| s.master_key_id == "0011223344556677"));
}

pub fn list_scopes_and_pages(store: &dyn DkimBackend) {
    for domain in ["a.example", "b.example"] {
        add_domain(store, domain);
    }
    add_key(store, "b.example", "s2", DkimAlgorithm::Rsa);
    add_key(store, "a.example", "s9", DkimAlgorithm::Rsa);
    add_key(store, "a.example", "s1", DkimAlgorithm::Ed25519);
    let all = ok(store.list_dkim_keys(&Scope::All, None, FIRST), "all");
    assert_eq!(
        keys(&all, |k| k.record_name()),
        ["s1._domainkey.a.example", "s9._domainkey.a.example", "s2._domainkey.b.example"]
    );
    assert_eq!(all.total, 3);
    let a = ok(store.list_dkim_keys(&Scope::Domains(vec!["a.example".into()]), None, FIRST), "scope a");
    assert_eq!(keys(&a, |k| k.selector.clone()), ["s1", "s9"]);
    let b_from_a =
        ok(store.list_dkim_keys(&Scope::Domains(vec!["a.example".into()]), Some("b.example"), FIRST), "b in a's scope");
    assert!(b_from_a.items.is_empty() && b_from_a.total == 0, "another tenant's keys are not listed");
    let none = ok(store.list_dkim_keys(&Scope::Domains(vec![]), None, FIRST), "empty scope");
    assert_eq!(none.total, 0);
    let page = ok(store.list_dkim_keys(&Scope::All, None, Page { limit: 1, offset: 1 }), "page");
    assert_eq!((keys(&page, |k| k.selector.clone()), page.total), (vec!["s9".to_string()], 3));
}

pub fn delete_and_cascade(store: &dyn DkimBackend) {
    add_domain(store, "a.example");
    add_key(store, "a.example", "s1", DkimAlgorithm::Rsa);
    add_key(store, "a.example", "s2", DkimAlgorithm::Rsa);
    present(store.activate_dkim_key("a.example", "s2", 0), "activate");
    assert!(ok(store.delete_dkim_key("a.example", "s1"), "delete"), "deleting an existing key is true");
    assert!(!ok(store.delete_dkim_key("a.example", "s1"), "again"), "deleting a missing key is false");
    assert_eq!(ok(store.dkim_key("a.example", "s1"), "deleted"), None);
    assert!(ok(store.delete_domain("a.example"), "delete domain"));
    assert_eq!(ok(store.dkim_key("a.example", "s2"), "cascade"), None, "keys go with their domain");
    assert!(ok(store.active_dkim_keys(), "active").is_empty());
    add_domain(store, "a.example");
    add_key(store, "a.example", "s2", DkimAlgorithm::Rsa);
}
