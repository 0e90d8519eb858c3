//! The gateways the simulation drives with the same events: the behaviour profiles
//! (`postern_policy::behaviour`), and the fixed rules of the seeds as a baseline (the real
//! `Locks`, "more than 5 spam in 10 minutes", and the real `Limits`, sessions per hour and
//! recipients per day, over the real embedded counters on an injected clock).
//!
//! In both, a message scoring at or above the spam threshold is quarantined by the content
//! checks (never delivered); a locked sender is refused; a lock stays for the rest of the
//! run (as an automatic lock without a timeout).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use postern_core::BoxFuture;
use postern_core::tenancy::{Account, AccountKind, LockState};
use postern_counters::conformance::ManualClock;
use postern_counters::embedded::EmbeddedCounters;
use postern_policy::behaviour::{self, BehaviourAction, BehaviourSettings, Observation, Profile};
use postern_policy::{LimitVerdict, Limits, LockWriter, Locks};

use crate::Message;

/// The spam threshold of the content checks.
pub const SPAM_SCORE: f32 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Held by the content checks.
    Quarantined,
    /// The sender is locked (now or before).
    Refused,
    /// A rate limit answered 451.
    Delayed,
}

/// The behaviour profiles, kept in memory (their storage is measured apart, by the
/// `behaviour_cost` example of postern-policy): per identity and per account (a sender is
/// an account; its identity 0 is its own address), judged as `Detector` judges them: the
/// identity's finding first; an account's finding locks the account.
pub struct BehaviourGateway {
    pub training: BehaviourSettings,
    pub acting: BehaviourSettings,
    /// Per sender (account).
    accounts: Vec<Profile>,
    identities: HashMap<(usize, u32), Profile>,
    /// Judge the account's profile too.
    account_profiles: bool,
    base_ms: i64,
    /// Per sender: when and why it was first locked (identity or account).
    pub locks: Vec<Option<(i64, String)>>,
    account_locked: Vec<bool>,
    identity_locked: HashSet<(usize, u32)>,
    /// Findings logged in monitor mode (the training period), per sender.
    pub monitored: Vec<u32>,
    /// Messages held by a finding with the quarantine action, per sender.
    pub held: Vec<u32>,
}

impl BehaviourGateway {
    pub fn new(senders: usize, base_ms: i64, acting: BehaviourSettings, account_profiles: bool) -> BehaviourGateway {
        let training = BehaviourSettings { action: BehaviourAction::Monitor, ..acting.clone() };
        BehaviourGateway {
            training,
            acting,
            accounts: (0..senders).map(|_| Profile::new(base_ms)).collect(),
            identities: HashMap::new(),
            account_profiles,
            base_ms,
            locks: vec![None; senders],
            account_locked: vec![false; senders],
            identity_locked: HashSet::new(),
            monitored: vec![0; senders],
            held: vec![0; senders],
        }
    }

    fn refused(&self, sender: usize, identity: u32) -> bool {
        self.account_locked[sender] || self.identity_locked.contains(&(sender, identity))
    }

    /// Acts on a finding; the outcome for the message, if the finding decides it.
    fn found(
        &mut self,
        sender: usize,
        identity: u32,
        finding: Option<(behaviour::Finding, bool)>,
        now_ms: i64,
    ) -> Option<Outcome> {
        let (finding, account_wide) = finding?;
        match finding.action {
            BehaviourAction::LockIdentity | BehaviourAction::LockAccount => {
                if account_wide || finding.action == BehaviourAction::LockAccount {
                    self.account_locked[sender] = true;
                } else {
                    self.identity_locked.insert((sender, identity));
                }
                self.locks[sender].get_or_insert((now_ms, finding.reason));
                Some(Outcome::Refused)
            }
            BehaviourAction::Quarantine => {
                self.held[sender] += 1;
                Some(Outcome::Quarantined)
            }
            BehaviourAction::Monitor | BehaviourAction::Off => {
                self.monitored[sender] += 1;
                None
            }
        }
    }

    /// Runs `judge` on the identity's profile, then the account's; the first finding and
    /// whether it is the account's.
    fn judge(
        &mut self,
        sender: usize,
        identity: u32,
        judge: impl Fn(&mut Profile, &str) -> Option<behaviour::Finding>,
    ) -> Option<(behaviour::Finding, bool)> {
        let base_ms = self.base_ms;
        let profile = self.identities.entry((sender, identity)).or_insert_with(|| Profile::new(base_ms));
        let by_identity = judge(profile, "identity");
        let by_account = if self.account_profiles { judge(&mut self.accounts[sender], "account") } else { None };
        behaviour::first_finding(by_identity, by_account)
    }

    pub fn message(&mut self, sender: usize, message: &Message, now_ms: i64, measured: bool) -> Outcome {
        if self.refused(sender, message.identity) {
            return Outcome::Refused;
        }
        let observation = Observation {
            recipients: &message.recipients,
            domains: &message.domains,
            network: message.network,
            authenticated: true,
            spam_score: Some(message.score),
            now_ms,
        };
        let settings = if measured { self.acting.clone() } else { self.training.clone() };
        let finding =
            self.judge(sender, message.identity, |p, whose| behaviour::observe(&settings, p, &observation, whose));
        if let Some(outcome) = self.found(sender, message.identity, finding, now_ms) {
            outcome
        } else if message.score >= SPAM_SCORE {
            Outcome::Quarantined
        } else {
            Outcome::Delivered
        }
    }

    pub fn failure(&mut self, sender: usize, identity: u32, n: u32, now_ms: i64, measured: bool) {
        if self.refused(sender, identity) {
            return;
        }
        let settings = if measured { self.acting.clone() } else { self.training.clone() };
        let finding = self.judge(sender, identity, |p, whose| behaviour::failed(&settings, p, n, now_ms, whose));
        self.found(sender, identity, finding, now_ms);
    }
}

/// Lock states in memory, as the store would keep them.
#[derive(Default)]
struct MemoryLocks {
    accounts: Mutex<HashMap<i64, LockState>>,
    identities: Mutex<HashMap<(i64, String), LockState>>,
}

impl LockWriter for MemoryLocks {
    fn set_account_lock(&self, account_id: i64, lock: LockState) -> BoxFuture<'_, Result<(), String>> {
        self.accounts.lock().map_err(|e| e.to_string()).map(|mut a| a.insert(account_id, lock)).ok();
        Box::pin(std::future::ready(Ok(())))
    }
    fn set_identity_lock(
        &self,
        account_id: i64,
        identity: String,
        lock: LockState,
    ) -> BoxFuture<'_, Result<(), String>> {
        self.identities.lock().map_err(|e| e.to_string()).map(|mut i| i.insert((account_id, identity), lock)).ok();
        Box::pin(std::future::ready(Ok(())))
    }
    fn identity_lock(&self, account_id: i64, identity: &str) -> Option<LockState> {
        self.identities.lock().ok()?.get(&(account_id, identity.to_string())).cloned()
    }
}

/// The seeds' fixed rules: the real `Locks` and `Limits` over embedded counters.
pub struct FixedGateway {
    pub name: &'static str,
    accounts: Vec<Account>,
    writer: Arc<MemoryLocks>,
    locks: Locks,
    limits: Limits,
    clock: Arc<ManualClock>,
    /// Per sender: when it was locked.
    pub locked_at: Vec<Option<i64>>,
    _dir: tempfile::TempDir,
}

const IDENTITY: &str = "sender";

impl FixedGateway {
    /// `per_hour`: sessions (one per message) per hour; `per_day`: recipients per day.
    pub fn new(name: &'static str, senders: usize, per_hour: u64, per_day: u64) -> anyhow::Result<FixedGateway> {
        let dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(0));
        let counters = Arc::new(EmbeddedCounters::open(dir.path(), clock.clone())?);
        let writer = Arc::new(MemoryLocks::default());
        let accounts = (0..senders)
            .map(|i| {
                let mut a = postern_core::test_support::account_of(
                    i as i64 + 1,
                    "example.com",
                    AccountKind::User,
                    &format!("sender{i}@example.com"),
                );
                a.settings.lock.automatic = true;
                a.settings.lock.lock_identities = true;
                a.settings.lock.timeout_minutes = 0;
                a.settings.limits.connections_per_hour = per_hour;
                a.settings.limits.recipients_per_day = per_day;
                a
            })
            .collect();
        Ok(FixedGateway {
            name,
            accounts,
            locks: Locks::new(counters.clone(), writer.clone(), clock.clone()),
            limits: Limits::new(counters),
            writer,
            clock,
            locked_at: vec![None; senders],
            _dir: dir,
        })
    }

    pub async fn message(&mut self, sender: usize, message: &Message, now_ms: i64) -> Outcome {
        self.clock.set(now_ms);
        let account = &self.accounts[sender];
        if self.locks.account_locked(account).await || self.locks.identity_locked(account, IDENTITY).await {
            return Outcome::Refused;
        }
        if !matches!(self.limits.session(account).await, LimitVerdict::Allowed) {
            return Outcome::Delayed;
        }
        let n = message.recipients.len() as u64;
        if !matches!(self.limits.identity_recipients(account, IDENTITY, n).await, LimitVerdict::Allowed) {
            return Outcome::Delayed;
        }
        if message.score < SPAM_SCORE {
            return Outcome::Delivered;
        }
        let outcome = self.locks.spam(account, Some(IDENTITY)).await;
        if outcome.account_locked || outcome.identity_locked {
            self.locked_at[sender].get_or_insert(now_ms);
            if let Ok(accounts) = self.writer.accounts.lock()
                && let Some(lock) = accounts.get(&account.id)
            {
                self.accounts[sender].lock = lock.clone();
            }
        }
        Outcome::Quarantined
    }
}
