//! Accounts: creation and its conflicts, lookups, partial updates, lists, deletion, the
//! snapshot (the only place password hashes come out), and ids that are never reused.

use postern_core::tenancy::{AccountKind, AccountSettings, LockState};

use super::{FIRST, add_account, add_domain, conflict, keys, new_account, not_found, ok, present, sighting, tick};
use crate::directory::{AccountChange, AccountFilter, DirectoryStore, IdentityFilter, Page, Scope};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

pub fn create_and_look_up(store: &dyn DirectoryStore) {
    let orphan = new_account("missing.example", AccountKind::User, "a@missing.example");
    not_found(store.create_account(&orphan), "an account of a missing domain");
    add_domain(store, "example.com");
    let mut new = new_account("example.com", AccountKind::User, "alice@example.com");
    new.password_hash = Some(HASH.into());
    new.settings.monitor_only = true;
    new.settings.dkim_selector = Some("s1".into());
    let created = ok(store.create_account(&new), "create alice");
    assert!(created.id > 0, "ids are positive");
    assert_eq!(created.domain, "example.com");
    assert_eq!(created.kind, AccountKind::User);
    assert_eq!(created.name, "alice@example.com");
    assert!(created.has_password, "has_password: a hash was given");
    assert_eq!(created.settings, new.settings, "settings are stored whole");
    assert_eq!(created.lock, LockState::default(), "a new account is unlocked");
    assert!(created.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms");
    assert_eq!(created.created_at_ms, created.updated_at_ms);

    assert_eq!(ok(store.account(created.id), "get"), Some(created.clone()), "get returns what create returned");
    let by_name = ok(store.account_by_name(AccountKind::User, "alice@example.com"), "by name");
    assert_eq!(by_name, Some(created.clone()), "exact lookup by kind and name");
    assert_eq!(ok(store.account_by_name(AccountKind::Domain, "alice@example.com"), "other kind"), None);
    assert_eq!(ok(store.account_by_name(AccountKind::User, "alice@example"), "prefix"), None, "lookup is exact");
    assert_eq!(ok(store.account(created.id + 1000), "missing"), None);

    let smarthost = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    assert!(!smarthost.has_password, "has_password: no hash was given");
    assert_eq!(smarthost.network().map(|n| n.to_string()).as_deref(), Some("192.0.2.0/24"));
    let domain = add_account(store, "example.com", AccountKind::Domain, "example.com");
    assert_eq!((domain.kind, domain.name.as_str()), (AccountKind::Domain, "example.com"));
}

pub fn duplicates_conflict(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    add_domain(store, "other.example");
    let alice = add_account(store, "example.com", AccountKind::User, "alice@example.com");
    conflict(store.create_account(&new_account("example.com", AccountKind::User, "alice@example.com")), "same user");
    let twin = new_account("other.example", AccountKind::User, "alice@example.com");
    conflict(store.create_account(&twin), "the same user name in another domain");
    add_account(store, "example.com", AccountKind::Domain, "example.com");
    let second = new_account("example.com", AccountKind::Domain, "example.com");
    let message = conflict(store.create_account(&second), "a second domain account");
    assert!(message.contains("example.com"), "the conflict says what: {message}");
    let renamed = new_account("example.com", AccountKind::Domain, "mail.example.com");
    conflict(store.create_account(&renamed), "a second domain account under another name");
    add_account(store, "other.example", AccountKind::Domain, "other.example");

    let all = ok(store.list_accounts(&Scope::All, &AccountFilter::default(), FIRST), "list");
    assert_eq!(all.total, 3, "refused accounts are not stored: {all:?}");
    assert_eq!(ok(store.account(alice.id), "alice"), Some(alice), "a conflict changes nothing");
}

pub fn update_applies_only_what_is_given(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let created = add_account(store, "example.com", AccountKind::User, "alice@example.com");
    tick();
    let mut settings = AccountSettings::for_kind(AccountKind::User);
    settings.limits.recipients_per_message = 7;
    let change = AccountChange { settings: Some(settings.clone()), ..AccountChange::default() };
    let updated = present(store.update_account(created.id, &change), "settings");
    assert_eq!(updated.settings, settings);
    assert!(!updated.has_password, "the password stays unset");
    assert_eq!(updated.lock, created.lock, "the lock stays");
    assert_eq!((updated.name.as_str(), updated.created_at_ms), ("alice@example.com", created.created_at_ms));
    assert!(updated.updated_at_ms > created.updated_at_ms, "updated_at_ms moves on");
    assert_eq!(ok(store.account(created.id), "get"), Some(updated.clone()), "the update is stored");

    let change = AccountChange { password_hash: Some(Some(HASH.into())), ..AccountChange::default() };
    let updated = present(store.update_account(created.id, &change), "set password");
    assert!(updated.has_password, "has_password after setting a hash");
    assert_eq!(updated.settings, settings, "settings stay");
    assert_eq!(hash_of(store, created.id), Some(HASH.into()), "the snapshot has the new hash");

    let lock = LockState {
        locked: true,
        reason: Some("spam".into()),
        since_ms: Some(5),
        until_ms: None,
        by: None,
        automatic_unlocks: 1,
    };
    let updated = present(
        store.update_account(created.id, &AccountChange { lock: Some(lock.clone()), ..AccountChange::default() }),
        "lock",
    );
    assert_eq!(updated.lock, lock);
    assert!(updated.has_password, "the password stays");
    assert_eq!(ok(store.account(created.id), "get"), Some(updated));

    let change = AccountChange { password_hash: Some(None), ..AccountChange::default() };
    let updated = present(store.update_account(created.id, &change), "remove password");
    assert!(!updated.has_password, "Some(None) removes the password");
    assert_eq!(hash_of(store, created.id), None, "the snapshot has no hash");
    assert_eq!(updated.lock, lock, "the lock stays");

    let missing = ok(store.update_account(created.id + 1000, &change), "update missing");
    assert_eq!(missing, None, "updating a missing account is None");
}

fn hash_of(store: &dyn DirectoryStore, id: i64) -> Option<String> {
    let snapshot = ok(store.snapshot(), "snapshot");
    snapshot.accounts.into_iter().find(|r| r.account.id == id).and_then(|r| r.password_hash)
}

pub fn list_filters_scopes_and_pages(store: &dyn DirectoryStore) {
    add_domain(store, "a.example");
    add_domain(store, "b.example");
    let made = [
        add_account(store, "a.example", AccountKind::Ip, "192.0.2.0/24"),
        add_account(store, "b.example", AccountKind::User, "bob@b.example"),
        add_account(store, "a.example", AccountKind::User, "alice@a.example"),
        add_account(store, "b.example", AccountKind::Ip, "198.51.100.0/24"),
        add_account(store, "a.example", AccountKind::Domain, "a.example"),
        add_account(store, "b.example", AccountKind::User, "alice@b.example"),
    ];
    let ids: Vec<i64> = made.iter().map(|a| a.id).collect();
    let list = |scope: &Scope, filter: &AccountFilter, page: Page| ok(store.list_accounts(scope, filter, page), "list");
    let id_list = |scope: &Scope, filter: &AccountFilter| keys(&list(scope, filter, FIRST), |a| a.id);

    let all = list(&Scope::All, &AccountFilter::default(), FIRST);
    assert_eq!(keys(&all, |a| a.id), ids, "ordered by id");
    assert_eq!(all.items[2], made[2], "listed as created");
    assert_eq!(all.total, 6);

    let in_a = AccountFilter { domain: Some("a.example".into()), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &in_a), [ids[0], ids[2], ids[4]], "domain filter");
    let partial = AccountFilter { domain: Some("a.exampl".into()), ..AccountFilter::default() };
    assert!(id_list(&Scope::All, &partial).is_empty(), "the domain filter is exact");
    let users = AccountFilter { kind: Some(AccountKind::User), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &users), [ids[1], ids[2], ids[5]], "kind filter");
    let alices = AccountFilter { name: Some("ALICE".into()), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &alices), [ids[2], ids[5]], "case-insensitive name substring");
    let ranges = AccountFilter { name: Some("100.0/".into()), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &ranges), [ids[3]], "substring of a range");

    let lock = LockState { locked: true, ..LockState::default() };
    present(store.update_account(ids[5], &AccountChange { lock: Some(lock), ..AccountChange::default() }), "lock");
    let locked = AccountFilter { locked: Some(true), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &locked), [ids[5]], "locked filter");
    let unlocked = AccountFilter { locked: Some(false), ..AccountFilter::default() };
    assert_eq!(id_list(&Scope::All, &unlocked), ids[..5], "unlocked filter");
    let unlocked_alices = AccountFilter { locked: Some(false), ..alices.clone() };
    assert_eq!(id_list(&Scope::All, &unlocked_alices), [ids[2]], "filters combine with AND");

    let tenant_b = Scope::Domains(vec!["b.example".into()]);
    let seen = list(&tenant_b, &AccountFilter::default(), FIRST);
    assert_eq!((keys(&seen, |a| a.id), seen.total), (vec![ids[1], ids[3], ids[5]], 3), "tenant scope");
    assert_eq!(id_list(&tenant_b, &alices), [ids[5]], "scope and filter");
    assert!(id_list(&tenant_b, &in_a).is_empty(), "a filter never widens the scope");
    let nobody = list(&Scope::Domains(Vec::new()), &AccountFilter::default(), FIRST);
    assert!(nobody.items.is_empty() && nobody.total == 0, "an empty scope sees nothing");

    let page = list(&Scope::All, &AccountFilter::default(), Page { limit: 2, offset: 3 });
    assert_eq!(keys(&page, |a| a.id), ids[3..5], "a page");
    assert_eq!((page.total, page.limit, page.offset), (6, 2, 3), "total ignores limit and offset");
    let page = list(&tenant_b, &AccountFilter::default(), Page { limit: 1, offset: 1 });
    assert_eq!((keys(&page, |a| a.id), page.total), (vec![ids[3]], 3), "a page of a scope");
}

pub fn delete_removes_identities(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let gone = add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    let kept = add_account(store, "example.com", AccountKind::Ip, "198.51.100.0/24");
    ok(
        store.record_identities(&[sighting(gone.id, "a@example.com", 1), sighting(kept.id, "b@example.com", 1)]),
        "record",
    );
    let registered = ok(store.create_identity(gone.id, "c@example.com"), "create identity");
    assert!(ok(store.delete_account(gone.id), "delete"), "deleting an existing account is true");
    assert_eq!(ok(store.account(gone.id), "get"), None);
    assert_eq!(ok(store.identity(registered.id), "identity"), None, "its identities go with it");
    let left = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), FIRST), "identities");
    assert_eq!(keys(&left, |i| i.name.clone()), ["b@example.com"], "other accounts keep theirs");
    assert!(!ok(store.delete_account(gone.id), "delete again"), "deleting a missing account is false");
    assert!(ok(store.domain("example.com"), "domain").is_some(), "the domain stays");
}

pub fn snapshot_has_everything_with_hashes(store: &dyn DirectoryStore) {
    let empty = ok(store.snapshot(), "empty snapshot");
    assert!(empty.domains.is_empty() && empty.accounts.is_empty(), "an empty store has an empty snapshot");
    let a = add_domain(store, "a.example");
    let b = add_domain(store, "b.example");
    let mut new = new_account("a.example", AccountKind::User, "alice@a.example");
    new.password_hash = Some(HASH.into());
    let alice = ok(store.create_account(&new), "alice");
    let host = add_account(store, "b.example", AccountKind::Ip, "2001:db8::/32");
    let snapshot = ok(store.snapshot(), "snapshot");
    let mut domains = snapshot.domains.clone();
    domains.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(domains, [a, b], "every domain");
    assert_eq!(snapshot.accounts.len(), 2, "every account");
    for record in &snapshot.accounts {
        let (expected, hash) = if record.account.id == alice.id { (&alice, Some(HASH)) } else { (&host, None) };
        assert_eq!(&record.account, expected, "the account as the store lists it");
        assert_eq!(record.password_hash.as_deref(), hash, "the hash, only here");
    }
    // One account the same way, as the policy reads it after a change.
    let record = present(store.account_record(alice.id), "alice's record");
    assert_eq!((&record.account, record.password_hash.as_deref()), (&alice, Some(HASH)));
    let record = present(store.account_record(host.id), "the host's record");
    assert_eq!((&record.account, record.password_hash), (&host, None));
    assert!(ok(store.account_record(host.id + 1000), "missing").is_none());
    ok(store.delete_account(alice.id), "delete alice");
    assert!(ok(store.account_record(alice.id), "deleted").is_none());
}

pub fn ids_are_never_reused(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    let first = add_account(store, "example.com", AccountKind::User, "a@example.com");
    let identity = ok(store.create_identity(first.id, "x"), "identity");
    ok(store.delete_identity(identity.id), "delete identity");
    let again = ok(store.create_identity(first.id, "x"), "identity again");
    assert_ne!(again.id, identity.id, "a deleted identity's id is not reused");
    ok(store.delete_account(first.id), "delete account");
    let second = add_account(store, "example.com", AccountKind::User, "a@example.com");
    assert_ne!(second.id, first.id, "a deleted account's id is not reused");
    ok(store.record_identities(&[sighting(first.id, "late@example.com", 1)]), "a late sighting");
    let found = ok(store.list_identities(&Scope::All, &IdentityFilter::default(), FIRST), "identities");
    assert_eq!(found.total, 0, "a late sighting of a deleted account lands nowhere: {found:?}");
}
