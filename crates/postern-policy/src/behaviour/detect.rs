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

pub struct Detector {
    store: ProfileStore,
    locks: Arc<Locks>,
    clock: Arc<dyn Clock>,
}

impl Detector {
    pub fn new(locks: Arc<Locks>, clock: Arc<dyn Clock>) -> Detector {
        Detector { store: ProfileStore::new(Arc::clone(locks.counters())), locks, clock }
    }

    pub async fn message(&self, account: &Account, message: &Submitted<'_>) -> Option<Judged> {
        let mut settings = BehaviourSettings::of_account(&account.settings.behaviour);
        // Spam and near-spam as the account's own content checks see them.
        settings.spam_score = account.settings.checks.spam_threshold as f32;
        settings.near_spam_score = settings.spam_score * 0.8;
        if settings.action == BehaviourAction::Off {
            return None;
        }
        let now = self.clock.now_ms();
        let key = profile_key(account, Some(message.identity));
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
