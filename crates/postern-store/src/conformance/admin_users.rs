//! Panel users and sessions: create, find, change and delete users; sessions end with
//! their idle time, their absolute end, their user's change and their user's deletion.

use postern_core::tenancy::Role;

use crate::StoreError;
use crate::admin_users::{AdminUserChange, AdminUserStore, NewAdminSession, NewAdminUser};

fn user(name: &str, role: Role, domains: &[&str]) -> NewAdminUser {
    NewAdminUser {
        name: name.into(),
        role,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        password_hash: format!("$argon2id$hash-of-{name}"),
    }
}

fn session(hash: &str, user_id: i64, at: i64) -> NewAdminSession {
    NewAdminSession {
        secret_hash: hash.into(),
        user_id,
        csrf: format!("csrf-{hash}"),
        created_at_ms: at,
        expires_at_ms: at + 1_000_000,
    }
}

pub(super) fn users_create_find_change_delete(store: &dyn AdminUserStore) {
    let admin = store.create_admin_user(&user("admin", Role::Superadmin, &[])).unwrap();
    let tenant = store.create_admin_user(&user("support@a.example", Role::DomainAdmin, &["a.example"])).unwrap();
    assert_ne!(admin.id, tenant.id);
    assert_eq!(tenant.domains, vec!["a.example".to_string()]);
    assert_eq!(tenant.last_login_ms, None);
    let taken = store.create_admin_user(&user("ADMIN", Role::DomainAdmin, &["a.example"]));
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "names are unique without regard to case: {taken:?}");

    let (found, hash) = store.admin_user_by_name("support@a.example").unwrap().expect("found by name");
    assert_eq!(found, tenant);
    assert_eq!(hash, "$argon2id$hash-of-support@a.example");
    assert!(store.admin_user_by_name("nobody").unwrap().is_none());
    assert_eq!(store.admin_user(admin.id).unwrap().as_ref(), Some(&admin));
    let listed: Vec<String> = store.list_admin_users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(listed, ["admin", "support@a.example"], "listed in creation order");

    store.admin_user_logged_in(tenant.id, 1234).unwrap();
    assert_eq!(store.admin_user(tenant.id).unwrap().unwrap().last_login_ms, Some(1234));

    let change = AdminUserChange {
        domains: Some(vec!["a.example".into(), "b.example".into()]),
        password_hash: Some("$argon2id$new".into()),
        ..AdminUserChange::default()
    };
    let changed = store.update_admin_user(tenant.id, &change).unwrap().expect("changed");
    assert_eq!(changed.domains.len(), 2);
    assert_eq!(changed.role, Role::DomainAdmin, "what is not given is kept");
    assert_eq!(store.admin_user_by_name("support@a.example").unwrap().unwrap().1, "$argon2id$new");
    assert!(store.update_admin_user(9999, &change).unwrap().is_none());

    assert!(store.delete_admin_user(tenant.id).unwrap());
    assert!(!store.delete_admin_user(tenant.id).unwrap());
    assert!(store.admin_user(tenant.id).unwrap().is_none());
}

pub(super) fn sessions_end_by_time_change_and_deletion(store: &dyn AdminUserStore) {
    let u = store.create_admin_user(&user("admin", Role::Superadmin, &[])).unwrap();
    store.create_admin_session(&session("h1", u.id, 1000)).unwrap();
    let found = store.touch_admin_session("h1", 2000, 0).unwrap().expect("live");
    assert_eq!(found.user.id, u.id);
    assert_eq!(found.csrf, "csrf-h1");
    assert_eq!(found.last_seen_ms, 2000);
    assert!(store.touch_admin_session("h2", 2000, 0).unwrap().is_none(), "unknown secret");
    assert!(store.touch_admin_session("h1", 3000, 2500).unwrap().is_none(), "idle since 2000, limit 2500");
    assert!(store.touch_admin_session("h1", 1_001_000, 0).unwrap().is_none(), "past its absolute end");
    assert!(store.touch_admin_session("h1", 2500, 2000).unwrap().is_some(), "seen at 2000: not idle");
    let dup = store.create_admin_session(&session("h1", u.id, 1000));
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // A change of the user ends its sessions.
    let change = AdminUserChange { password_hash: Some("x".into()), ..AdminUserChange::default() };
    store.update_admin_user(u.id, &change).unwrap();
    assert!(store.touch_admin_session("h1", 2600, 0).unwrap().is_none(), "ended by the change");

    store.create_admin_session(&session("h3", u.id, 3000)).unwrap();
    assert!(store.delete_admin_session("h3").unwrap(), "logout");
    assert!(!store.delete_admin_session("h3").unwrap());

    store.create_admin_session(&session("h4", u.id, 3000)).unwrap();
    store.create_admin_session(&session("h5", u.id, 5000)).unwrap();
    assert_eq!(store.purge_admin_sessions(6000, 4000).unwrap(), 1, "h4 idle since 3000");
    assert!(store.touch_admin_session("h5", 6000, 0).unwrap().is_some());
    assert!(store.delete_admin_user(u.id).unwrap());
    assert!(store.touch_admin_session("h5", 6000, 0).unwrap().is_none(), "deleted with its user");
    let orphan = store.create_admin_session(&session("h6", u.id, 7000));
    assert!(orphan.is_err(), "no session for a missing user");
}
