//! Behaviour profiles kept through the counters backend (embedded or Redis), one blob per
//! sender, so they hold across restarts and are shared by the nodes of a cluster.
//!
//! In: a sender's key (see [`profile_key`]) and a profile. Out: the profile read back; a
//! missing, expired or unreadable blob gives a fresh profile (a sender starts its warm-up
//! again: the cost of losing a profile is leniency, never a lock). A profile not written
//! for [`PROFILE_TTL`] expires.

use std::sync::Arc;
use std::time::Duration;

use postern_core::tenancy::Account;
use postern_counters::{Counters, Result};

use super::Profile;
use crate::limits::key;

/// How long an untouched profile is kept.
pub const PROFILE_TTL: Duration = Duration::from_secs(60 * 86_400);

/// The key of the account's profile, or of one identity's.
pub fn profile_key(account: &Account, identity: Option<&str>) -> String {
    match identity {
        Some(identity) => key("behaviour-identity", account, Some(identity)),
        None => key("behaviour", account, None),
    }
}

pub struct ProfileStore {
    counters: Arc<dyn Counters>,
}

impl ProfileStore {
    pub fn new(counters: Arc<dyn Counters>) -> ProfileStore {
        ProfileStore { counters }
    }

    /// The stored profile, or a fresh one starting at `now_ms`. Backend trouble is an error
    /// (the caller decides: the pipeline logs it and judges nothing).
    pub async fn load(&self, key: &str, now_ms: i64) -> Result<Profile> {
        let stored = self.counters.get_blob(key).await?;
        Ok(stored.and_then(|bytes| Profile::decode(&bytes)).unwrap_or_else(|| Profile::new(now_ms)))
    }

    pub async fn save(&self, key: &str, profile: &Profile) -> Result<()> {
        self.counters.put_blob(key, &profile.encode(), PROFILE_TTL).await
    }
}
