//! The [`Detector`] the pipeline asks once per accepted message: it loads the identity's
//! profile, observes the message, saves the profile, and acts on a finding as the
//! account's settings say (lock the identity or the account through the automatic locks;
//! quarantine and monitor are the caller's to carry out).
//!
//! In: the account, the identity, the recipients, the client's address, AUTH or not, the
//! content checks' score. Out: the finding, if any, and whether a lock was set. Counter
//! trouble never refuses mail: it is logged and nothing is judged.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::tenancy::Account;
use postern_counters::Clock;

use super::store::{ProfileStore, profile_key};
use super::{BehaviourAction, BehaviourSettings, Finding, Observation, hash_address, network_hash, observe};
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
    /// The lock was set now (false with monitor and quarantine, or when already locked).
    pub locked: bool,
}

/// How many locks a detector keeps for its profiles (a profile's key picks one).
const STRIPES: usize = 64;

pub struct Detector {
    store: ProfileStore,
    locks: Arc<Locks>,
    clock: Arc<dyn Clock>,
    /// A profile is loaded, changed and saved under its stripe's lock, so that messages of
    /// one sender in concurrent sessions (an attacker's burst over many connections) are
    /// each counted, not lost to each other's save. Per process: nodes sharing Redis each
    /// serialise their own messages.
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Detector {
    pub fn new(locks: Arc<Locks>, clock: Arc<dyn Clock>) -> Detector {
        let stripes = (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Detector { store: ProfileStore::new(Arc::clone(locks.counters())), locks, clock, stripes }
    }

    fn stripe(&self, key: &str) -> &tokio::sync::Mutex<()> {
        let at = (hash_address(key) % STRIPES as u64) as usize;
        &self.stripes[at]
    }

    pub async fn message(&self, account: &Account, message: &Submitted<'_>) -> Option<Judged> {
        let mut settings = BehaviourSettings::of_account(&account.settings.behaviour);
        // Spam and near-spam as the account's own content checks see them.
        settings.spam_score = account.settings.checks.spam_threshold as f32;
        settings.near_spam_score = settings.spam_score * 0.8;
        if settings.action == BehaviourAction::Off {
            return None;
        }
        let key = profile_key(account, Some(message.identity));
        let stripe = self.stripe(&key).lock().await;
        let now = self.clock.now_ms();
        let mut profile = match self.store.load(&key, now).await {
            Ok(profile) => profile,
            Err(e) => {
                tracing::error!(error = %e, account = %account.name, "behaviour profile unavailable");
                return None;
            }
        };
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
        let before = profile.clone();
        let finding = observe(&settings, &mut profile, &observation, "identity");
        // A message held in the quarantine was not sent: it counts for nothing (else the
        // next hour's messages would all be held for it).
        let kept =
            if finding.as_ref().is_some_and(|f| f.action == BehaviourAction::Quarantine) { &before } else { &profile };
        if let Err(e) = self.store.save(&key, kept).await {
            tracing::error!(error = %e, account = %account.name, "behaviour profile not saved");
        }
        drop(stripe);
        let finding = finding?;
        let locked = match finding.action {
            BehaviourAction::LockIdentity => {
                self.locks.lock_for(account, message.identity, false, &finding.reason).await
            }
            BehaviourAction::LockAccount => self.locks.lock_for(account, message.identity, true, &finding.reason).await,
            _ => false,
        };
        Some(Judged { finding, locked })
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
        let profile = ProfileStore::new(counters).load(&key, clock.now_ms()).await.unwrap();
        assert_eq!(profile.messages, 64);
    }
}
