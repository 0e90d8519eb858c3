//! Identities: registered on first sight and counted by batches of sightings, registered
//! ahead by hand, listed within a tenant's scope, locked and deleted.

use postern_core::tenancy::{AccountKind, LockState};

use super::{FIRST, add_account, add_domain, conflict, keys, not_found, ok, present, sighting};
use crate::directory::{AccountChange, DirectoryStore, IdentityFilter, Page, Scope};

fn find(store: &dyn DirectoryStore, account_id: i64, name: &str) -> postern_core::tenancy::Identity {
    let filter = IdentityFilter { account_id: Some(account_id), ..IdentityFilter::default() };
    let page = ok(store.list_identities(&Scope::All, &filter, FIRST), "list");
    match page.items.into_iter().find(|i| i.name == name) {
        Some(identity) => identity,
        None => panic!("identity {name} of account {account_id} is missing"),
    }
}

pub fn sightings_register_and_count(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let host = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    let user = add_account(store, "example.com", AccountKind::User, "u@example.com");
    ok(store.record_identities(&[]), "an empty batch");
    ok(store.record_identities(&[sighting(host.id, "alice@example.com", 1_000)]), "first sight");
    let alice = find(store, host.id, "alice@example.com");
    assert_eq!((alice.messages, alice.first_seen_ms, alice.last_seen_ms), (1, 1_000, 1_000), "first sight");
    assert_eq!((alice.account_id, alice.domain.as_str()), (host.id, "example.com"), "the account's domain");
    assert_eq!(alice.lock, LockState::default(), "a new identity is unlocked");
    assert_eq!(ok(store.identity(alice.id), "get"), Some(alice.clone()), "get returns what the list shows");

    let batch = [
        sighting(host.id, "alice@example.com", 3_000),
        sighting(host.id, "alice@example.com", 2_000),
        sighting(host.id, "bob@example.com", 2_500),
    ];
    ok(store.record_identities(&batch), "a batch");
    let again = find(store, host.id, "alice@example.com");
    assert_eq!(again.id, alice.id, "the same identity");
    assert_eq!(again.messages, 3, "each sighting counts one message");
    assert_eq!((again.first_seen_ms, again.last_seen_ms), (1_000, 3_000), "last seen is the latest sighting");
    let bob = find(store, host.id, "bob@example.com");
    assert_eq!((bob.messages, bob.first_seen_ms, bob.last_seen_ms), (1, 2_500, 2_500));

    ok(store.record_identities(&[sighting(host.id, "alice@example.com", 500)]), "an older sighting");
    let again = find(store, host.id, "alice@example.com");
    assert_eq!(
        (again.messages, again.first_seen_ms, again.last_seen_ms),
        (4, 500, 3_000),
        "first seen is the earliest"
    );

    ok(store.record_identities(&[sighting(user.id, "alice@example.com", 10)]), "another account");
    let other = find(store, user.id, "alice@example.com");
    assert_ne!(other.id, alice.id, "the same name behind another account is another identity");
    assert_eq!(other.messages, 1);
    assert_eq!(find(store, host.id, "alice@example.com").messages, 4, "the first one is not counted");
    let all = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), FIRST), "all");
    assert_eq!(all.total, 3);
}

pub fn sightings_of_missing_accounts_are_skipped(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let kept = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    let gone = add_account(store, "example.com", AccountKind::Ip, "198.51.100.0/24");
    ok(store.delete_account(gone.id), "delete");
    let batch = [
        sighting(gone.id, "x@example.com", 1),
        sighting(kept.id, "y@example.com", 2),
        sighting(kept.id + 1000, "z", 3),
    ];
    ok(store.record_identities(&batch), "a batch with sightings of missing accounts is no error");
    let all = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), FIRST), "all");
    assert_eq!(keys(&all, |i| (i.account_id, i.name.clone(), i.messages)), [(kept.id, "y@example.com".into(), 1)]);
}

pub fn create_identity(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let host = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    not_found(store.create_identity(host.id + 1000, "x@example.com"), "identity of a missing account");
    let created = ok(store.create_identity(host.id, "carol@example.com"), "create");
    assert_eq!(
        (created.account_id, created.domain.as_str(), created.name.as_str()),
        (host.id, "example.com", "carol@example.com")
    );
    assert_eq!(created.messages, 0, "registered ahead: no message yet");
    assert_eq!(created.lock, LockState::default());
    assert_eq!(ok(store.identity(created.id), "get"), Some(created.clone()));
    assert_eq!(ok(store.identity(created.id + 1000), "missing"), None);
    conflict(store.create_identity(host.id, "carol@example.com"), "the same identity again");

    let at = created.last_seen_ms + 10;
    ok(store.record_identities(&[sighting(host.id, "carol@example.com", at)]), "first message");
    let seen = present(store.identity(created.id), "get");
    assert_eq!((seen.messages, seen.last_seen_ms), (1, at), "a sighting counts on the registered identity");
}

pub fn list_filters_scopes_and_pages(store: &dyn DirectoryStore) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    let host_a = add_account(store, "a.example", AccountKind::Ip, "192.0.2.0/24");
    let user_a = add_account(store, "a.example", AccountKind::User, "alice@a.example");
    let host_b = add_account(store, "b.example", AccountKind::Ip, "198.51.100.0/24");
    let made = [
        (host_a.id, "x1@a.example"),
        (host_a.id, "x2@a.example"),
        (host_b.id, "shared@client.example"),
        (user_a.id, "alice@a.example"),
        (host_a.id, "shared@client.example"),
        (host_b.id, "y@b.example"),
    ];
    for (account_id, name) in made {
        ok(store.record_identities(&[sighting(account_id, name, 1)]), "record");
    }
    let list = |scope: &Scope, filter: &IdentityFilter| ok(store.list_identities(scope, filter, FIRST), "list");
    let pairs = |scope: &Scope, filter: &IdentityFilter| keys(&list(scope, filter), |i| (i.account_id, i.name.clone()));
    let made_at = |idx: &[usize]| idx.iter().map(|&i| (made[i].0, made[i].1.to_string())).collect::<Vec<_>>();

    let all = list(&Scope::All, &IdentityFilter::default());
    assert_eq!(all.total, 6);
    assert_eq!(keys(&all, |i| (i.account_id, i.name.clone())), made_at(&[0, 1, 2, 3, 4, 5]), "ordered by id");
    assert!(all.items.windows(2).all(|w| w[0].id < w[1].id), "ids ascend");
    let by_account = IdentityFilter { account_id: Some(host_a.id), ..IdentityFilter::default() };
    assert_eq!(pairs(&Scope::All, &by_account), made_at(&[0, 1, 4]), "account filter");
    let by_domain = IdentityFilter { domain: Some("b.example".into()), ..IdentityFilter::default() };
    assert_eq!(pairs(&Scope::All, &by_domain), made_at(&[2, 5]), "domain filter (the account's domain)");
    let by_name = IdentityFilter { name: Some("SHARED@".into()), ..IdentityFilter::default() };
    assert_eq!(pairs(&Scope::All, &by_name), made_at(&[2, 4]), "case-insensitive name substring");

    let tenant_a = Scope::Domains(vec!["a.example".into()]);
    let seen = list(&tenant_a, &IdentityFilter::default());
    assert_eq!(seen.total, 4, "tenant scope counts only its identities");
    assert_eq!(pairs(&tenant_a, &by_name), made_at(&[4]), "scope and filter");
    assert!(pairs(&tenant_a, &by_domain).is_empty(), "a filter never widens the scope");
    let other = IdentityFilter { account_id: Some(host_b.id), ..IdentityFilter::default() };
    assert!(pairs(&tenant_a, &other).is_empty(), "another tenant's account is not visible");
    let nobody = list(&Scope::Domains(Vec::new()), &IdentityFilter::default());
    assert!(nobody.items.is_empty() && nobody.total == 0, "an empty scope sees nothing");

    let lock = LockState { locked: true, ..LockState::default() };
    present(store.update_identity_lock(all.items[3].id, &lock), "lock");
    let locked = IdentityFilter { locked: Some(true), ..IdentityFilter::default() };
    assert_eq!(pairs(&Scope::All, &locked), made_at(&[3]), "locked filter");
    let unlocked = IdentityFilter { locked: Some(false), ..IdentityFilter::default() };
    assert_eq!(pairs(&Scope::All, &unlocked), made_at(&[0, 1, 2, 4, 5]), "unlocked filter");

    let page = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), Page { limit: 4, offset: 4 }), "page");
    assert_eq!(keys(&page, |i| (i.account_id, i.name.clone())), made_at(&[4, 5]), "the last page");
    assert_eq!((page.total, page.limit, page.offset), (6, 4, 4), "total ignores limit and offset");
    let page = ok(store.list_identities(&tenant_a, &IdentityFilter::default(), Page { limit: 2, offset: 2 }), "page");
    assert_eq!(
        (keys(&page, |i| i.name.clone()), page.total),
        (vec!["alice@a.example".into(), "shared@client.example".into()], 4)
    );
}

pub fn lock_and_delete(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let host = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    ok(
        store.record_identities(&[sighting(host.id, "x@example.com", 1), sighting(host.id, "x@example.com", 2)]),
        "record",
    );
    let identity = find(store, host.id, "x@example.com");
    let lock = LockState {
        locked: true,
        reason: Some("spam".into()),
        since_ms: Some(3),
        until_ms: Some(4),
        by: None,
        automatic_unlocks: 2,
    };
    let locked = present(store.update_identity_lock(identity.id, &lock), "lock");
    assert_eq!(locked.lock, lock);
    assert_eq!(ok(store.identity_by_name(host.id, "x@example.com"), "by name"), Some(locked.clone()));
    assert_eq!(ok(store.identity_by_name(host.id, "x@example.co"), "by name, no prefix match"), None);
    assert_eq!(ok(store.identity_by_name(host.id + 1000, "x@example.com"), "by name, other account"), None);
    assert_eq!((locked.messages, locked.name.as_str()), (2, "x@example.com"), "only the lock changes");
    assert_eq!(ok(store.identity(identity.id), "get"), Some(locked));
    let unlocked = present(store.update_identity_lock(identity.id, &LockState::default()), "unlock");
    assert!(!unlocked.lock.locked);
    assert_eq!(ok(store.update_identity_lock(identity.id + 1000, &lock), "lock missing"), None);

    assert!(ok(store.delete_identity(identity.id), "delete"), "deleting an existing identity is true");
    assert_eq!(ok(store.identity(identity.id), "get"), None);
    assert!(!ok(store.delete_identity(identity.id), "delete again"), "deleting a missing identity is false");
    ok(store.record_identities(&[sighting(host.id, "x@example.com", 9)]), "seen again");
    let reborn = find(store, host.id, "x@example.com");
    assert_eq!((reborn.messages, reborn.first_seen_ms), (1, 9), "seen again after deletion: registered anew");
}

/// The snapshot carries exactly the identities whose lock state must be kept: locked, or
/// unlocked automatically before; an administrator's unlock (the default state) drops one.
pub fn snapshot_has_kept_identity_locks(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let host = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    let batch = [sighting(host.id, "a@example.com", 1), sighting(host.id, "b@example.com", 1)];
    ok(store.record_identities(&batch), "sightings");
    let c = ok(store.create_identity(host.id, "c@example.com"), "create");
    let d = ok(store.create_identity(host.id, "d@example.com"), "create");
    assert_eq!(ok(store.snapshot(), "snapshot").identity_locks, vec![], "nothing locked yet");

    let a = find(store, host.id, "a@example.com");
    let locked = LockState { locked: true, reason: Some("spam".into()), since_ms: Some(5), ..LockState::default() };
    let unlocked_once = LockState { automatic_unlocks: 1, ..LockState::default() };
    present(store.update_identity_lock(a.id, &locked), "lock a");
    present(store.update_identity_lock(c.id, &unlocked_once), "c unlocked automatically");
    present(store.update_identity_lock(d.id, &locked), "lock d");
    present(store.update_identity_lock(d.id, &LockState::default()), "an administrator unlocks d");
    let kept = ok(store.snapshot(), "snapshot").identity_locks;
    let names: Vec<(i64, &str, &LockState)> = kept.iter().map(|k| (k.account_id, k.name.as_str(), &k.lock)).collect();
    assert_eq!(names, vec![(host.id, "a@example.com", &locked), (host.id, "c@example.com", &unlocked_once)]);

    ok(store.record_identities(&[sighting(host.id, "a@example.com", 9)]), "a seen again");
    assert_eq!(ok(store.snapshot(), "snapshot").identity_locks.len(), 2, "a sighting keeps the lock");
    assert!(ok(store.delete_identity(a.id), "delete a"));
    let kept = ok(store.snapshot(), "snapshot").identity_locks;
    assert_eq!(kept.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec!["c@example.com"], "deleted: gone");
}

/// The locked accounts and identities: listed (the first `limit` by id) and counted, in
/// scope, and gone from the list once unlocked.
pub fn locked_accounts_and_identities(store: &dyn DirectoryStore) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    let a1 = add_account(store, "a.example", AccountKind::Ip, "192.0.2.0/28");
    let a2 = add_account(store, "a.example", AccountKind::Ip, "192.0.2.16/28");
    let a3 = add_account(store, "a.example", AccountKind::Ip, "192.0.2.32/28");
    let b1 = add_account(store, "b.example", AccountKind::Ip, "198.51.100.0/28");
    let lock = LockState { locked: true, reason: Some("spam".into()), since_ms: Some(5), ..LockState::default() };
    for id in [a1.id, a3.id, b1.id] {
        let change = AccountChange { lock: Some(lock.clone()), ..AccountChange::default() };
        present(store.update_account(id, &change), "lock account");
    }
    let sightings = [sighting(a2.id, "x@a.example", 1), sighting(b1.id, "y@b.example", 1)];
    ok(store.record_identities(&sightings), "record");
    for (account, name) in [(a2.id, "x@a.example"), (b1.id, "y@b.example")] {
        let identity = find(store, account, name);
        present(store.update_identity_lock(identity.id, &lock), "lock identity");
    }
    let all = ok(store.locked_accounts(&Scope::All, 2), "locked accounts");
    assert_eq!((all.total, keys(&all, |a| a.id)), (3, vec![a1.id, a3.id]), "the first 2 by id, all counted");
    assert_eq!(all.items[0].lock, lock, "with their lock");
    let a = Scope::Domains(vec!["a.example".into()]);
    let mine = ok(store.locked_accounts(&a, 10), "a's locked accounts");
    assert_eq!((mine.total, keys(&mine, |a| a.id)), (2, vec![a1.id, a3.id]), "only a domain's own");
    let ids = ok(store.locked_identities(&a, 10), "a's locked identities");
    assert_eq!((ids.total, keys(&ids, |i| i.name.clone())), (1, vec!["x@a.example".to_string()]));
    assert_eq!(ok(store.locked_identities(&Scope::All, 10), "locked identities").total, 2);
    assert_eq!(ok(store.locked_accounts(&Scope::Domains(Vec::new()), 10), "no domains").total, 0);

    let unlock = AccountChange { lock: Some(LockState::default()), ..AccountChange::default() };
    present(store.update_account(a1.id, &unlock), "unlock account");
    present(store.update_identity_lock(find(store, a2.id, "x@a.example").id, &LockState::default()), "unlock");
    assert_eq!(keys(&ok(store.locked_accounts(&a, 10), "after unlock"), |a| a.id), vec![a3.id]);
    assert_eq!(ok(store.locked_identities(&a, 10), "after unlock").total, 0);
}
