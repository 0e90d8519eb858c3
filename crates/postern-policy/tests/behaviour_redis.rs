//! Behaviour profiles through the Redis counters: saved by one node, read by another.
//! Needs a Redis server at `POSTERN_TEST_REDIS_URL`, else redis://127.0.0.1:6379 (like the
//! counters' Redis tests, it fails rather than skips without one).

use std::sync::Arc;

use postern_core::BoxFuture;
use postern_core::tenancy::{AccountKind, BehaviourAction, LockState};
use postern_counters::Counters;
use postern_counters::conformance::{ManualClock, START_MS};
use postern_counters::redis::RedisCounters;
use postern_policy::behaviour::store::{ProfileStore, profile_key};
use postern_policy::behaviour::{BehaviourSettings, Detector, Observation, Profile, Submitted, hash_address, observe};
use postern_policy::locks::{LockWriter, Locks};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_saved_by_one_node_is_read_by_another() {
    let url = std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("postern-test:{}:{nanos}:behaviour", std::process::id());
    let clock = Arc::new(ManualClock::new(START_MS));
    let node = |clock: Arc<ManualClock>| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            RedisCounters::connect(&url, &prefix, clock).await.unwrap_or_else(|e| {
                panic!("Redis is not reachable at {url} ({e}): start one or set POSTERN_TEST_REDIS_URL")
            })
        }
    };
    let (one, other) = (Arc::new(node(clock.clone()).await), Arc::new(node(clock.clone()).await));
    let account = postern_core::test_support::account_of(1, "example.com", AccountKind::User, "a@example.com");
    let key = profile_key(&account, Some("alice@example.com"));

    let settings = BehaviourSettings::default();
    let mut profile = Profile::new(START_MS);
    let to: Vec<u64> = (0..5).map(|i| hash_address(&format!("friend{i}@example.org"))).collect();
    for i in 0..30 {
        let m = Observation {
            recipients: &to,
            domains: &[],
            network: 1,
            authenticated: true,
            spam_score: None,
            now_ms: START_MS + i * 60_000,
        };
        observe(&settings, &mut profile, &m, "identity");
    }
    let store = ProfileStore::new(one.clone());
    assert_eq!(store.load(&key, START_MS).await.unwrap(), (Profile::new(START_MS), 0));
    assert!(store.save(&key, &profile, 0).await.unwrap());
    let read = ProfileStore::new(other.clone()).load(&key, START_MS).await.unwrap();
    assert_eq!(read, (profile, 1));
    one.delete_all().await.unwrap();
}

struct NoLocks;

impl LockWriter for NoLocks {
    fn set_account_lock(&self, _: i64, _: LockState) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn set_identity_lock(&self, _: i64, _: String, _: LockState) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn identity_lock(&self, _: i64, _: &str) -> Option<LockState> {
        None
    }
}

/// Two nodes judge one sender's messages at once (an attacker's burst spread by the load
/// balancer): every message is counted in the identity's and the account's profiles, none
/// lost to the other node's save (the compare-and-set on the profile's version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_lose_no_message_of_one_sender() {
    let url = std::env::var("POSTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("postern-test:{}:{nanos}:two-nodes", std::process::id());
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let counters: Arc<dyn Counters> = Arc::new(
            RedisCounters::connect(&url, &prefix, clock.clone())
                .await
                .unwrap_or_else(|e| panic!("Redis is not reachable at {url} ({e})")),
        );
        let locks = Arc::new(Locks::new(Arc::clone(&counters), Arc::new(NoLocks), clock.clone()));
        nodes.push((Arc::new(Detector::new(locks, clock.clone())), counters));
    }
    let mut account = postern_core::test_support::account_of(1, "example.com", AccountKind::User, "a@example.com");
    account.settings.behaviour.action = BehaviourAction::Monitor;
    let account = Arc::new(account);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (detector, account) = (Arc::clone(&nodes[i % 2].0), Arc::clone(&account));
        tasks.push(tokio::spawn(async move {
            let recipients = [format!("r{i}@dest.example")];
            let message = Submitted {
                identity: "a@example.com",
                recipients: &recipients,
                client: "192.0.2.1".parse().unwrap(),
                authenticated: true,
                spam_score: None,
            };
            detector.message(&account, &message).await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = ProfileStore::new(Arc::clone(&nodes[0].1));
    for identity in [Some("a@example.com"), None] {
        let (profile, _) = store.load(&profile_key(&account, identity), START_MS).await.unwrap();
        assert_eq!(profile.messages(), 64, "{identity:?}");
    }
}
