//! The [`Detector`] the pipeline asks once per accepted message, and the queue once per
//! delivery attempt with permanent failures: it loads the sender's two profiles — the
//! identity's and the account's (all its identities together) —, observes the message or
//! the failures, saves them, and acts on a finding as the account's settings say (lock
//! the identity or the account through the automatic locks; quarantine and monitor are the
//! caller's to carry out).
//!
//! Two profiles, because an attacker who controls an account can send as many identities:
//! a compromised web server behind an `ip` account writing from random addresses makes
//! every identity new (each in its lenient warm-up), while the account's traffic jumps far
//! above its own history. A finding of the account's profile names "this account's usual"
//! and, with `lock_identity`, locks the account: locking one of many identities would not
//! stop it.
//!
//! In: the account, the identity, the recipients, the client's address, AUTH or not, the
//! content checks' score; or a number of delivery failures. Out: the finding, if any,
//! whether it was the account's profile, and whether a lock was set. Counter trouble
//! never refuses mail: it is logged and nothing is judged.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::tenancy::Account;
use postern_counters::Clock;

use super::store::{ProfileStore, profile_key};
use super::{
    BehaviourAction, BehaviourSettings, Finding, Observation, Profile, failed, first_finding, hash_address,
    network_hash, observe,
};
use crate::locks::Locks;

/// One message as the pipeline knows it.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    pub identity: &'a str,
    pub recipients: &'a [String],
    pub client: IpAddr,
    pub authenticated: bool,
    pub spam_score: Option<f32>,
}

/// What the detector found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub finding: Finding,
    /// The finding is the account's profile's (all its identities together): a lock is
    /// the account's, whether the action is `lock_identity` or `lock_account`.
    pub account_wide: bool,
    /// The lock was set now (false with monitor and quarantine, or when already locked).
    pub locked: bool,
}

impl Judged {
    /// Whether a lock action locks the whole account.
    pub fn locks_account(&self) -> bool {
        self.finding.action == BehaviourAction::LockAccount
            || (self.account_wide && self.finding.action == BehaviourAction::LockIdentity)
    }
}

/// How many locks a detector keeps for its profiles (a profile's key picks one).
const STRIPES: usize = 64;

pub struct Detector {
    store: ProfileStore,
    locks: Arc<Locks>,
    clock: Arc<dyn Clock>,
    /// A profile is loaded, changed and saved under its stripe's lock, so that messages of
    /// one sender in concurrent sessions (an attacker's burst over many connections) are
    /// each counted, not lost to each other's save. Between nodes sharing Redis, a save
    /// is a compare-and-set on the profile's version ([`ProfileStore::save`]).
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// A sender's two profiles, loaded under their stripes' locks (held until dropped).
struct Loaded<'a> {
    keys: [String; 2],
    profiles: [Profile; 2],
    versions: [u64; 2],
    _guards: Vec<tokio::sync::MutexGuard<'a, ()>>,
}

const WHOSE: [&str; 2] = ["identity", "account"];

/// How often a save that lost a compare-and-set against another node is tried again. Each
/// loss means another node's save landed (progress), and tries are spread by a random
/// pause that doubles (up to [`SAVE_PAUSE_MAX_US`]), so two nodes hammering one sender's
/// profile settle instead of overtaking each other in lockstep.
const SAVE_TRIES: u32 = 12;
const SAVE_PAUSE_MAX_US: u64 = 20_000;

impl Detector {
    pub fn new(locks: Arc<Locks>, clock: Arc<dyn Clock>) -> Detector {
        let stripes = (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Detector { store: ProfileStore::new(Arc::clone(locks.counters())), locks, clock, stripes }
    }

    fn stripe_of(key: &str) -> usize {
        (hash_address(key) % STRIPES as u64) as usize
    }

    /// The account's settings; its `monitor_only` makes every action a monitor.
    fn settings(account: &Account) -> BehaviourSettings {
        let mut settings = BehaviourSettings::of_account(&account.settings.behaviour);
        if account.settings.monitor_only && settings.action != BehaviourAction::Off {
            settings.action = BehaviourAction::Monitor;
        }
        // Spam and near-spam as the account's own content checks see them.
        settings.spam_score = account.settings.checks.spam_threshold as f32;
        settings.near_spam_score = settings.spam_score * 0.8;
        settings
    }

    /// Locks the stripes of both keys (in index order: no deadlock between two senders)
    /// and loads both profiles.
    async fn load(&self, account: &Account, identity: &str, now: i64) -> Option<Loaded<'_>> {
        let keys = [profile_key(account, Some(identity)), profile_key(account, None)];
        let mut stripes = [Self::stripe_of(&keys[0]), Self::stripe_of(&keys[1])];
        stripes.sort_unstable();
        let mut guards = vec![self.stripes[stripes[0]].lock().await];
        if stripes[1] != stripes[0] {
            guards.push(self.stripes[stripes[1]].lock().await);
        }
        let mut profiles = Vec::with_capacity(2);
        let mut versions = [0; 2];
        for (at, key) in keys.iter().enumerate() {
            match self.store.load(key, now).await {
                Ok((profile, version)) => {
                    profiles.push(profile);
                    versions[at] = version;
                }
                Err(e) => {
                    tracing::error!(error = %e, account = %account.name, "behaviour profile unavailable");
                    return None;
                }
            }
        }
        let profiles: [Profile; 2] = profiles.try_into().ok()?;
        Some(Loaded { keys, profiles, versions, _guards: guards })
    }

    /// Saves what changed. A save another node overtook is redone on its profile with
    /// `again` (the change of this message or these failures, applied once more).
    async fn save(&self, account: &Account, loaded: &Loaded<'_>, changed: &[Profile; 2], again: impl Fn(&mut Profile)) {
        for (at, profile) in changed.iter().enumerate() {
            let key = &loaded.keys[at];
            let mut attempt = self.store.save(key, profile, loaded.versions[at]).await;
            let mut tries = 1;
            // Another node saved this profile since it was loaded: apply this change to
            // its version (its finding stays the one acted on here).
            while let Ok(false) = attempt {
                if tries >= SAVE_TRIES {
                    tracing::warn!(account = %account.name, key, "behaviour profile busy on other nodes; change dropped");
                    break;
                }
                let ceiling = (200u64 << tries.min(7)).min(SAVE_PAUSE_MAX_US);
                let pause = getrandom::u64().unwrap_or(ceiling / 2) % (ceiling + 1);
                tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                tries += 1;
                let now = self.clock.now_ms();
                attempt = match self.store.load(key, now).await {
                    Ok((mut theirs, version)) => {
                        again(&mut theirs);
                        self.store.save(key, &theirs, version).await
                    }
                    Err(e) => Err(e),
                };
            }
            if let Err(e) = attempt {
                tracing::error!(error = %e, account = %account.name, "behaviour profile not saved");
            }
        }
    }

    pub async fn message(&self, account: &Account, message: &Submitted<'_>) -> Option<Judged> {
        let settings = Self::settings(account);
        if settings.action == BehaviourAction::Off {
            return None;
        }
        let now = self.clock.now_ms();
        let mut loaded = self.load(account, message.identity, now).await?;
        let recipients: Vec<u64> = message.recipients.iter().map(|r| hash_address(r)).collect();
        let mut domains: Vec<u64> =
            message.recipients.iter().filter_map(|r| r.rsplit_once('@')).map(|(_, d)| hash_address(d)).collect();
        domains.sort_unstable();
        domains.dedup();
        let observation = Observation {
            recipients: &recipients,
            domains: &domains,
            network: network_hash(message.client),
            authenticated: message.authenticated,
            spam_score: message.spam_score,
            now_ms: now,
        };
        let [identity, account_profile] = &mut loaded.profiles;
        let by_identity = observe(&settings, identity, &observation, WHOSE[0]);
        let by_account = observe(&settings, account_profile, &observation, WHOSE[1]);
        let found = first_finding(by_identity, by_account);
        // A message held in the quarantine was not sent: it counts for nothing (else the
        // next hour's messages would all be held for it).
        let held = found.as_ref().is_some_and(|(f, _)| f.action == BehaviourAction::Quarantine);
        if !held {
            let again = |p: &mut Profile| {
                observe(&settings, p, &observation, "");
            };
            self.save(account, &loaded, &loaded.profiles, again).await;
        }
        drop(loaded);
        let (finding, account_wide) = found?;
        self.act(account, message.identity, finding, account_wide).await
    }

    /// `n` recipients of one of the sender's messages failed permanently (5xx) at delivery.
    /// A finding acts like a message's, except that `quarantine` only logs: the message
    /// already left.
    pub async fn failures(&self, account: &Account, identity: &str, n: u32) -> Option<Judged> {
        let settings = Self::settings(account);
        if settings.action == BehaviourAction::Off || n == 0 {
            return None;
        }
        let now = self.clock.now_ms();
        let mut loaded = self.load(account, identity, now).await?;
        let [by_identity, by_account] = [0, 1].map(|at| failed(&settings, &mut loaded.profiles[at], n, now, WHOSE[at]));
        let found = first_finding(by_identity, by_account);
        let again = |p: &mut Profile| {
            failed(&settings, p, n, now, "");
        };
        self.save(account, &loaded, &loaded.profiles, again).await;
        drop(loaded);
        let (mut finding, account_wide) = found?;
        if finding.action == BehaviourAction::Quarantine {
            finding.action = BehaviourAction::Monitor;
        }
        self.act(account, identity, finding, account_wide).await
    }

    async fn act(&self, account: &Account, identity: &str, finding: Finding, account_wide: bool) -> Option<Judged> {
        let mut judged = Judged { finding, account_wide, locked: false };
        if matches!(judged.finding.action, BehaviourAction::LockIdentity | BehaviourAction::LockAccount) {
            let whole = judged.locks_account();
            judged.locked = self.locks.lock_for(account, identity, whole, &judged.finding.reason).await;
        }
        Some(judged)
    }
}

#[cfg(test)]
mod tests {
    use postern_core::BoxFuture;
    use postern_core::tenancy::{AccountKind, LockState};
    use postern_counters::conformance::ManualClock;
    use postern_counters::embedded::EmbeddedCounters;

    use super::*;
    use crate::locks::LockWriter;

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

    /// An attacker's burst over many connections at once: every message is counted in the
    /// profile, none lost to a concurrent save.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_messages_of_one_sender_are_each_counted() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let counters: Arc<dyn postern_counters::Counters> =
            Arc::new(EmbeddedCounters::open(dir.path(), clock.clone()).unwrap());
        let locks = Arc::new(Locks::new(Arc::clone(&counters), Arc::new(NoLocks), clock.clone()));
        let detector = Arc::new(Detector::new(locks, clock.clone()));
        let mut account = postern_core::test_support::account_of(1, "example.com", AccountKind::User, "a@example.com");
        account.settings.behaviour.action = BehaviourAction::Monitor;
        let account = Arc::new(account);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (detector, account) = (Arc::clone(&detector), Arc::clone(&account));
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
        let key = profile_key(&account, Some("a@example.com"));
        let (profile, _) = ProfileStore::new(Arc::clone(&counters)).load(&key, clock.now_ms()).await.unwrap();
        assert_eq!(profile.messages, 64);
        let key = profile_key(&account, None);
        let (profile, version) = ProfileStore::new(counters).load(&key, clock.now_ms()).await.unwrap();
        assert_eq!((profile.messages, version), (64, 64), "the account's profile too, saved once per message");
    }
}
