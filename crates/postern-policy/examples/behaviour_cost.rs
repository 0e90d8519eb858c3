//! The per-message cost of behaviour profiles (issue 15; target < 10 µs median on the
//! embedded counters):
//!
//! ```text
//! cargo run --release -p postern-policy --example behaviour_cost
//! ```
//!
//! 1,000 senders, 200,000 messages of 1 to 5 recipients each, over a simulated week.
//! Timed per message: (a) `behaviour::observe` alone, the profile in memory; (b) the whole
//! round through the embedded counters: load the blob, decode, observe, encode, save;
//! (c) what the pipeline calls, `Detector::message`: (b) for the identity's profile and
//! the account's, under their stripe locks, with a compare-and-set save each (10 accounts
//! of 100 identities). Prints median and p99 of each.

use std::sync::Arc;
use std::time::Instant;

use postern_core::BoxFuture;
use postern_core::tenancy::{AccountKind, LockState};
use postern_counters::Counters;
use postern_counters::conformance::{ManualClock, START_MS};
use postern_counters::embedded::EmbeddedCounters;
use postern_policy::behaviour::store::ProfileStore;
use postern_policy::behaviour::{BehaviourSettings, Detector, Observation, Profile, Submitted, hash_address, observe};
use postern_policy::locks::{LockWriter, Locks};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SENDERS: usize = 1000;
const MESSAGES: usize = 200_000;

fn percentiles(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let settings = BehaviourSettings::default();
    let mut rng = StdRng::seed_from_u64(15);
    let mut profiles: Vec<Profile> = (0..SENDERS).map(|_| Profile::new(START_MS)).collect();
    let domains = [hash_address("example.org")];
    let step = 7 * 86_400_000 / MESSAGES as i64;
    let mut pure = Vec::with_capacity(MESSAGES);
    let mut recipients = Vec::with_capacity(5);
    for i in 0..MESSAGES {
        let sender = rng.random_range(0..SENDERS);
        recipients.clear();
        for _ in 0..rng.random_range(1..=5) {
            recipients.push(hash_address(&format!("r{}@example.org", rng.random_range(0..200))));
        }
        let message = Observation {
            recipients: &recipients,
            domains: &domains,
            network: 1,
            authenticated: true,
            spam_score: Some(1.0),
            now_ms: START_MS + i as i64 * step,
        };
        let t = Instant::now();
        let finding = observe(&settings, &mut profiles[sender], &message, "identity");
        pure.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(finding);
    }

    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = ProfileStore::new(Arc::new(EmbeddedCounters::open(dir.path(), clock.clone())?));
    let keys: Vec<String> = (0..SENDERS).map(|i| format!("behaviour-identity:user:sender{i}")).collect();
    let mut stored = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let sender = rng.random_range(0..SENDERS);
        recipients.clear();
        for _ in 0..rng.random_range(1..=5) {
            recipients.push(hash_address(&format!("r{}@example.org", rng.random_range(0..200))));
        }
        let now_ms = START_MS + i as i64 * step;
        clock.set(now_ms);
        let message = Observation {
            recipients: &recipients,
            domains: &domains,
            network: 1,
            authenticated: true,
            spam_score: Some(1.0),
            now_ms,
        };
        let t = Instant::now();
        let (mut profile, version) = store.load(&keys[sender], now_ms).await?;
        let finding = observe(&settings, &mut profile, &message, "identity");
        store.save(&keys[sender], &profile, version).await?;
        stored.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(finding);
    }
    // (c) The detector, as the pipeline calls it.
    let counters: Arc<dyn Counters> = Arc::new(EmbeddedCounters::open(&dir.path().join("detector"), clock.clone())?);
    let locks = Arc::new(Locks::new(Arc::clone(&counters), Arc::new(NoLocks), clock.clone()));
    let detector = Detector::new(locks, clock.clone());
    let accounts: Vec<_> = (0..10)
        .map(|a| postern_core::test_support::account_of(a, "example.com", AccountKind::Ip, &format!("192.0.2.{a}/32")))
        .collect();
    let identities: Vec<String> = (0..SENDERS).map(|i| format!("sender{i}@example.com")).collect();
    let mut judged = Vec::with_capacity(MESSAGES);
    let mut addresses = Vec::with_capacity(5);
    for i in 0..MESSAGES {
        let sender = rng.random_range(0..SENDERS);
        addresses.clear();
        for _ in 0..rng.random_range(1..=5) {
            addresses.push(format!("r{}@example.org", rng.random_range(0..200)));
        }
        clock.set(START_MS + i as i64 * step);
        let message = Submitted {
            identity: &identities[sender],
            recipients: &addresses,
            client: std::net::IpAddr::from([192, 0, 2, 1]),
            authenticated: false,
            spam_score: Some(1.0),
        };
        let t = Instant::now();
        let finding = detector.message(&accounts[sender % 10], &message).await;
        judged.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(finding);
    }

    let (p50, p99) = percentiles(pure);
    println!("observe, profile in memory:                 median {p50:.2} µs, p99 {p99:.2} µs");
    let (p50, p99) = percentiles(stored);
    println!("load + observe + save, embedded counters:   median {p50:.2} µs, p99 {p99:.2} µs");
    let (p50, p99) = percentiles(judged);
    println!("Detector::message (identity + account):     median {p50:.2} µs, p99 {p99:.2} µs");
    println!("profile size: {} bytes", postern_policy::behaviour::ENCODED_LEN);
    Ok(())
}

/// Locks are not the cost measured here (the default action, monitor, sets none).
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
