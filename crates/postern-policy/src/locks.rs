//! Spam events and automatic locks (SPEC.md §3). The content scanner (and today the GTUBE
//! check, and the admin API's spam-event endpoint) reports a spam message of an account and
//! identity here. More than `spam_threshold` spam messages within `spam_window_secs` lock
//! the account (with "lock automatically") and the identity (with "lock identities
//! automatically"). An automatic lock ends by itself after `timeout_minutes`, unless the
//! account already had `max_automatic_unlocks` automatic unlocks: then it stays until an
//! administrator unlocks it, which resets the count.
//!
//! In: spam events, lock checks. Out: lock states written through a [`LockWriter`] (the
//! store, then a directory reload). Counters only count; this module decides.

use std::sync::Arc;
use std::time::Duration;

use postern_core::BoxFuture;
use postern_core::tenancy::{Account, LockKind, LockSettings, LockState};
use postern_counters::{Clock, Counters};

use crate::limits::key;

/// Where lock states are kept (the store). Implementations make the change visible to
/// the SMTP policy before returning (the directory: reloaded for an account, changed in
/// place for an identity).
pub trait LockWriter: Send + Sync + 'static {
    fn set_account_lock(&self, account_id: i64, lock: LockState) -> BoxFuture<'_, Result<(), String>>;
    /// Registers the identity when it is not known yet.
    fn set_identity_lock(
        &self,
        account_id: i64,
        identity: String,
        lock: LockState,
    ) -> BoxFuture<'_, Result<(), String>>;
    /// The identity's lock state; `None`: never locked. Asked for every message, so it is
    /// answered from memory, never from the database.
    fn identity_lock(&self, account_id: i64, identity: &str) -> Option<LockState>;
}

/// What one spam event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpamOutcome {
    /// Spam messages within the window, after this one.
    pub account_count: u64,
    pub identity_count: u64,
    /// The event locked the account / the identity now.
    pub account_locked: bool,
    pub identity_locked: bool,
}

pub struct Locks {
    counters: Arc<dyn Counters>,
    writer: Arc<dyn LockWriter>,
    clock: Arc<dyn Clock>,
}

/// The lock an automatic lock sets, given the previous state.
pub fn automatic_lock(settings: &LockSettings, previous: &LockState, count: u64, now_ms: i64) -> LockState {
    let because = format!("{count} spam messages within {} minutes", settings.spam_window_secs / 60);
    automatic_lock_because(settings, previous, &because, now_ms)
}

/// An automatic lock for `because` (spam, or a behaviour finding), with the timeout rules.
pub fn automatic_lock_because(settings: &LockSettings, previous: &LockState, because: &str, now_ms: i64) -> LockState {
    let timed = settings.timeout_minutes > 0 && previous.automatic_unlocks < settings.max_automatic_unlocks;
    LockState {
        locked: true,
        by: Some(LockKind::Automatic),
        reason: Some(format!(
            "locked automatically: {because}{}",
            if timed { "" } else { "; stays until an administrator unlocks" }
        )),
        since_ms: Some(now_ms),
        until_ms: timed.then(|| now_ms + i64::from(settings.timeout_minutes) * 60_000),
        automatic_unlocks: previous.automatic_unlocks,
    }
}

/// Whether `lock` holds at `now_ms`: locked, and not an automatic lock whose time ran out.
fn holds(lock: &LockState, now_ms: i64) -> bool {
    lock.locked && lock.until_ms.is_none_or(|until| now_ms < until)
}

/// The state after an automatic lock ran out.
pub fn expired(previous: &LockState) -> LockState {
    LockState { automatic_unlocks: previous.automatic_unlocks.saturating_add(1), ..LockState::default() }
}

impl Locks {
    pub fn new(counters: Arc<dyn Counters>, writer: Arc<dyn LockWriter>, clock: Arc<dyn Clock>) -> Locks {
        Locks { counters, writer, clock }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Counts a spam message of `account` (and `identity`) and locks what crossed its limit.
    pub async fn spam(&self, account: &Account, identity: Option<&str>) -> SpamOutcome {
        let settings = &account.settings.lock;
        let window = Duration::from_secs(settings.spam_window_secs.max(60));
        let mut outcome = SpamOutcome::default();
        let now = self.clock.now_ms();
        match self.counters.add(&key("spam", account, None), window, 1).await {
            Ok(count) => {
                outcome.account_count = count;
                if settings.automatic && !account.lock.locked && count > u64::from(settings.spam_threshold) {
                    let lock = automatic_lock(settings, &account.lock, count, now);
                    match self.writer.set_account_lock(account.id, lock).await {
                        Ok(()) => outcome.account_locked = true,
                        Err(e) => tracing::error!(error = %e, account = %account.name, "cannot lock account"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, account = %account.name, "spam counter unavailable"),
        }
        let Some(identity) = identity else { return outcome };
        match self.counters.add(&key("spam-identity", account, Some(identity)), window, 1).await {
            Ok(count) => {
                outcome.identity_count = count;
                if settings.lock_identities && count > u64::from(settings.spam_threshold) {
                    let previous = self.writer.identity_lock(account.id, identity).unwrap_or_default();
                    if !previous.locked {
                        let lock = automatic_lock(settings, &previous, count, now);
                        match self.writer.set_identity_lock(account.id, identity.to_string(), lock).await {
                            Ok(()) => outcome.identity_locked = true,
                            Err(e) => tracing::error!(error = %e, identity, "cannot lock identity"),
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, identity, "identity spam counter unavailable"),
        }
        outcome
    }

    /// Locks the identity (or, with `whole_account`, the account) automatically for
    /// `because` (a behaviour finding), with the account's timeout rules. True when this
    /// call locked it (false: already locked, or the store failed, which is logged).
    pub async fn lock_for(&self, account: &Account, identity: &str, whole_account: bool, because: &str) -> bool {
        let settings = &account.settings.lock;
        let now = self.clock.now_ms();
        if whole_account {
            if account.lock.locked {
                return false;
            }
            let lock = automatic_lock_because(settings, &account.lock, because, now);
            return match self.writer.set_account_lock(account.id, lock).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, account = %account.name, "cannot lock account");
                    false
                }
            };
        }
        let previous = self.writer.identity_lock(account.id, identity).unwrap_or_default();
        if previous.locked {
            return false;
        }
        let lock = automatic_lock_because(settings, &previous, because, now);
        match self.writer.set_identity_lock(account.id, identity.to_string(), lock).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, identity, "cannot lock identity");
                false
            }
        }
    }

    pub fn counters(&self) -> &Arc<dyn Counters> {
        &self.counters
    }

    /// Whether the account is locked now; an automatic lock whose time ran out is lifted
    /// here (and counted).
    pub async fn account_locked(&self, account: &Account) -> bool {
        let lock = &account.lock;
        if !lock.locked || holds(lock, self.clock.now_ms()) {
            return lock.locked;
        }
        if let Err(e) = self.writer.set_account_lock(account.id, expired(lock)).await {
            tracing::error!(error = %e, account = %account.name, "cannot end an expired lock");
        }
        tracing::info!(account = %account.name, "automatic lock ended");
        false
    }

    /// Whether an identity of the account is locked now (lifting an expired lock).
    pub async fn identity_locked(&self, account: &Account, identity: &str) -> bool {
        self.identity_lock_in_force(account, identity).await.is_some()
    }

    /// The identity's lock when it holds now (an expired automatic lock is lifted here).
    pub async fn identity_lock_in_force(&self, account: &Account, identity: &str) -> Option<LockState> {
        let lock = self.writer.identity_lock(account.id, identity)?;
        if !lock.locked {
            return None;
        }
        if holds(&lock, self.clock.now_ms()) {
            return Some(lock);
        }
        if let Err(e) = self.writer.set_identity_lock(account.id, identity.to_string(), expired(&lock)).await {
            tracing::error!(error = %e, identity, "cannot end an expired identity lock");
        }
        None
    }

    /// Spam messages of the account within its window now.
    pub async fn spam_count(&self, account: &Account, identity: Option<&str>) -> u64 {
        let window = Duration::from_secs(account.settings.lock.spam_window_secs.max(60));
        let key = match identity {
            Some(i) => key("spam-identity", account, Some(i)),
            None => key("spam", account, None),
        };
        self.counters.count(&key, window).await.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_locks_time_out_until_the_maximum() {
        let settings = LockSettings { timeout_minutes: 10, max_automatic_unlocks: 2, ..LockSettings::default() };
        let first = automatic_lock(&settings, &LockState::default(), 6, 1000);
        assert_eq!(first.until_ms, Some(1000 + 600_000));
        let after = expired(&first);
        assert!(!after.locked && after.automatic_unlocks == 1);
        let second = automatic_lock(&settings, &after, 6, 2000);
        assert!(second.until_ms.is_some());
        let third = automatic_lock(&settings, &expired(&second), 6, 3000);
        assert_eq!(third.until_ms, None, "after 2 automatic unlocks the lock stays");
        assert!(third.reason.unwrap().contains("until an administrator unlocks"));
        let never = LockSettings { timeout_minutes: 0, ..LockSettings::default() };
        assert_eq!(automatic_lock(&never, &LockState::default(), 6, 0).until_ms, None);
    }
}
