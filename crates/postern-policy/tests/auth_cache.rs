//! The AUTH cache behind `RelayPolicy::authenticate`: a remembered password skips argon2id
//! (counted by the cache's hits and misses: a miss is one argon2id verification), for user
//! and domain accounts; a changed password, a deleted account and a wrong password do not;
//! a locked account still authenticates and is still refused at MAIL FROM; without a cache
//! nothing is remembered.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::{Account, AccountKind, Domain, SenderSecurity};
use postern_core::test_support::account_of as account;
use postern_core::{Address, Verdict};
use postern_policy::{
    AuthCache, AuthCacheConfig, AuthCacheStats, AuthOutcome, Directory, DirectoryIndex, GuardConfig, RelayPolicy,
    password,
};

const OLD: &str = "the old long password";
const NEW: &str = "the new long password";

fn hash_of(text: &str) -> String {
    static HASHES: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut hashes = HASHES.lock().unwrap();
    if let Some((_, h)) = hashes.iter().find(|(t, _)| t == text) {
        return h.clone();
    }
    let h = password::hash(text).unwrap();
    hashes.push((text.to_string(), h.clone()));
    h
}

fn domain() -> Domain {
    Domain {
        name: "example.com".into(),
        filter_enabled: true,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn alice() -> Account {
    account(1, "example.com", AccountKind::User, "alice@example.com")
}

fn accounts() -> Vec<(Account, Option<String>)> {
    vec![
        (alice(), Some(hash_of(OLD))),
        (account(2, "example.com", AccountKind::Domain, "example.com"), Some(hash_of(OLD))),
    ]
}

fn policy(cache: Option<AuthCacheConfig>) -> (RelayPolicy, Arc<Directory>) {
    let directory = Arc::new(Directory::new(DirectoryIndex::build(vec![domain()], accounts())));
    let cache = cache.map(|c| AuthCache::new(c).unwrap().unwrap());
    let policy = RelayPolicy::new(vec![])
        .with_directory(Arc::clone(&directory))
        .with_auth_guard(GuardConfig {
            max_failures: 100,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(60),
            failure_delay: Duration::ZERO,
        })
        .with_auth_cache(cache);
    (policy, directory)
}

fn on() -> Option<AuthCacheConfig> {
    Some(AuthCacheConfig { max_entries: 100, ttl: Duration::from_secs(600) })
}

const CLIENT: &str = "192.0.2.7";

async fn auth(policy: &RelayPolicy, user: &str, pass: &str) -> bool {
    let ip: IpAddr = CLIENT.parse().unwrap();
    match policy.authenticate(ip, user, pass.as_bytes().to_vec()).await {
        AuthOutcome::Success { .. } => true,
        AuthOutcome::Failure { .. } => false,
        AuthOutcome::Blocked => panic!("blocked"),
    }
}

fn stats(policy: &RelayPolicy) -> AuthCacheStats {
    policy.auth_cache_stats().unwrap()
}

#[tokio::test]
async fn a_remembered_password_skips_argon2_for_user_and_domain_accounts() {
    let (p, _) = policy(on());
    for user in ["alice@example.com", "example.com"] {
        assert!(auth(&p, user, OLD).await);
    }
    assert_eq!(stats(&p), AuthCacheStats { hits: 0, misses: 2, entries: 2 });
    for user in ["Alice@Example.com", "example.com", "alice@example.com"] {
        assert!(auth(&p, user, OLD).await);
    }
    assert_eq!(stats(&p), AuthCacheStats { hits: 3, misses: 2, entries: 2 }, "three AUTHs without argon2id");
}

#[tokio::test]
async fn a_wrong_password_misses_and_is_not_remembered() {
    let (p, _) = policy(on());
    assert!(!auth(&p, "alice@example.com", "a wrong long password").await);
    assert_eq!(stats(&p).entries, 0);
    assert!(auth(&p, "alice@example.com", OLD).await);
    assert!(!auth(&p, "alice@example.com", "a wrong long password").await, "cached right one does not help");
    assert!(!auth(&p, "nobody@example.com", OLD).await, "unknown user");
    assert_eq!(stats(&p), AuthCacheStats { hits: 0, misses: 3, entries: 1 });
}

#[tokio::test]
async fn a_changed_password_or_deleted_account_misses_at_once() {
    let (p, directory) = policy(on());
    assert!(auth(&p, "alice@example.com", OLD).await);
    assert!(auth(&p, "alice@example.com", OLD).await);
    assert_eq!(stats(&p).hits, 1);
    // A password change through the API: a patched index with the new hash.
    let index = directory.load().with_account(1, Some((alice(), Some(hash_of(NEW)))));
    directory.replace(index);
    assert!(!auth(&p, "alice@example.com", OLD).await, "the old password is refused although remembered");
    assert!(auth(&p, "alice@example.com", NEW).await);
    assert!(auth(&p, "alice@example.com", NEW).await);
    assert_eq!(stats(&p).hits, 2, "the new one is remembered");
    // The account is deleted, then made again with the old password (a new hash, new salt).
    directory.replace(directory.load().with_account(1, None));
    assert!(!auth(&p, "alice@example.com", NEW).await);
    let again = password::hash(NEW).unwrap();
    directory.replace(directory.load().with_account(1, Some((alice(), Some(again)))));
    let hits = stats(&p).hits;
    assert!(auth(&p, "alice@example.com", NEW).await);
    assert_eq!(stats(&p).hits, hits, "verified again, not a hit");
}

#[tokio::test]
async fn a_locked_account_authenticates_from_the_cache_and_is_refused_at_mail_from() {
    let (p, directory) = policy(on());
    assert!(auth(&p, "alice@example.com", OLD).await);
    let mut locked = alice();
    locked.lock.locked = true;
    locked.lock.reason = Some("by hand".into());
    directory.replace(directory.load().with_account(1, Some((locked, Some(hash_of(OLD))))));
    let ip: IpAddr = CLIENT.parse().unwrap();
    let AuthOutcome::Success { attribution, cached: true } =
        p.authenticate(ip, "alice@example.com", OLD.as_bytes().to_vec()).await
    else {
        panic!("AUTH itself does not look at locks, with or without the cache");
    };
    assert_eq!(stats(&p).hits, 1);
    let from = Address::parse("alice@example.com", false).unwrap();
    let verdict = p.mail_from(&attribution, ip, "client.example", Some(&from)).await;
    assert!(matches!(verdict, Verdict::Refuse { .. }), "{verdict:?}");
}

#[tokio::test]
async fn without_a_cache_every_auth_verifies() {
    let (p, _) = policy(None);
    assert!(auth(&p, "alice@example.com", OLD).await);
    assert!(auth(&p, "alice@example.com", OLD).await);
    assert!(p.auth_cache_stats().is_none());
}
