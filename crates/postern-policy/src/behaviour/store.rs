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

/// A stored profile is `version (u64 LE) | profile`; version 0 is "none stored".
const VERSION_LEN: usize = 8;

impl ProfileStore {
    pub fn new(counters: Arc<dyn Counters>) -> ProfileStore {
        ProfileStore { counters }
    }

    /// The stored profile and its version, or a fresh one starting at `now_ms` (version
    /// 0). Backend trouble is an error (the caller decides: the pipeline logs it and
    /// judges nothing).
    pub async fn load(&self, key: &str, now_ms: i64) -> Result<(Profile, u64)> {
        let stored = self.counters.get_blob(key).await?;
        let read = stored.as_deref().and_then(|bytes| {
            let (version, profile) = bytes.split_first_chunk::<VERSION_LEN>()?;
            Some((Profile::decode(profile), u64::from_le_bytes(*version)))
        });
        Ok(match read {
            Some((Some(profile), version)) => (profile, version),
            // Unreadable (another version's layout): start again, but over the stored
            // version, so that the save still checks it.
            Some((None, version)) => (Profile::new(now_ms), version),
            None => (Profile::new(now_ms), 0),
        })
    }

    /// Saves `profile` if the stored one is still at `version` (the one loaded): a
    /// compare-and-set, so that two nodes never overwrite each other's change. Whether
    /// it was saved; `false`: load again and redo the change.
    pub async fn save(&self, key: &str, profile: &Profile, version: u64) -> Result<bool> {
        let guard = if version == 0 { Vec::new() } else { version.to_le_bytes().to_vec() };
        let mut blob = Vec::with_capacity(VERSION_LEN + super::ENCODED_LEN);
        blob.extend_from_slice(&version.wrapping_add(1).max(1).to_le_bytes());
        blob.extend_from_slice(&profile.encode());
        self.counters.put_blob_if(key, &guard, &blob, PROFILE_TTL).await
    }
}
