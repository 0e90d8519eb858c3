//! Behaviour profiles through the Redis counters: saved by one node, read by another.
//! Needs a Redis server at `POSTERN_TEST_REDIS_URL`, else redis://127.0.0.1:6379 (like the
//! counters' Redis tests, it fails rather than skips without one).

use std::sync::Arc;

use postern_core::tenancy::AccountKind;
use postern_counters::conformance::{ManualClock, START_MS};
use postern_counters::redis::RedisCounters;
use postern_policy::behaviour::store::{ProfileStore, profile_key};
use postern_policy::behaviour::{BehaviourSettings, Observation, Profile, hash_address, observe};

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
    assert_eq!(store.load(&key, START_MS).await.unwrap(), Profile::new(START_MS));
    store.save(&key, &profile).await.unwrap();
    let read = ProfileStore::new(other.clone()).load(&key, START_MS).await.unwrap();
    assert_eq!(read, profile);
    one.delete_all().await.unwrap();
}
