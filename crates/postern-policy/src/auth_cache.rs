//! The AUTH verification cache (Dovecot's `auth_cache_size` and `auth_cache_ttl`): a client
//! that connects, AUTHs, sends one message and disconnects pays one argon2id verification
//! (about 30 ms of CPU) per message; with this cache only the first AUTH of a password
//! within the TTL does.
//!
//! In: after a successful argon2id verification, the account id, the stored hash (PHC
//! string) it was verified against and the password. Out: at a later AUTH, whether the same
//! password for the same account with the same stored hash was verified within the TTL.
//!
//! What is kept is one keyed digest per account: HMAC-SHA256 under a random key made at
//! start-up (never written anywhere) of the account id, the stored hash and the password.
//! Never the password. Because the stored hash is inside the digest, a password change (a new
//! hash, new salt), a deleted and re-created account or a malformed hash misses on its own:
//! nothing has to invalidate entries. The cache only stands in for the hash check: locks,
//! a disabled domain and everything else are decided later, on the current directory, as
//! without it.
//!
//! Defends against: a timing oracle (only successes are remembered; a wrong password or an
//! unknown user costs a full argon2id verification as before); unbounded memory (at most
//! `max_entries`, the oldest insertion leaves first; an entry lives `ttl` from its
//! insertion, a hit does not extend it, so every password is checked against argon2 at least
//! once per TTL). What it does not defend against: someone who can read the process's memory
//! gets the key and the digests, and can test guesses at SHA-256 speed instead of argon2's
//! for the accounts that authenticated within the TTL (as with Dovecot's cache); turn it off
//! (`cache_ttl = 0`) where that matters more than the CPU.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ring::hmac;

/// How many entries and for how long (`[auth] cache_size`, `cache_ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCacheConfig {
    pub max_entries: usize,
    pub ttl: Duration,
}

impl AuthCacheConfig {
    /// Zero entries or a zero TTL: no cache, every AUTH verifies argon2id.
    pub fn enabled(&self) -> bool {
        self.max_entries > 0 && !self.ttl.is_zero()
    }
}

/// One HMAC-SHA256 output.
type Digest = [u8; 32];

#[derive(Debug)]
struct Entry {
    digest: Digest,
    inserted: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    by_account: HashMap<i64, Entry>,
    /// Insertions, oldest first: (account id, insertion time). An account remembered again
    /// leaves its older record behind; that record is skipped when it comes out (its time
    /// differs from the entry's), and it counts toward the bound, so the map never holds
    /// more than `max_entries`.
    order: VecDeque<(i64, Instant)>,
}

/// How often the cache answered, for the logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

pub struct AuthCache {
    config: AuthCacheConfig,
    key: hmac::Key,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("AuthCache").field("config", &self.config).field("stats", &self.stats()).finish()
    }
}

impl AuthCache {
    /// A cache with a fresh random key; `None` when `config` turns it off. Fails only when
    /// the system has no randomness to give.
    pub fn new(config: AuthCacheConfig) -> Result<Option<AuthCache>, String> {
        if !config.enabled() {
            return Ok(None);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("random key for the AUTH cache: {e}"))?;
        Ok(Some(AuthCache {
            config,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            entries: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    /// Whether `password` for `account_id` was verified against `stored_hash` within the TTL.
    pub fn verified(&self, account_id: i64, stored_hash: &str, password: &[u8]) -> bool {
        self.verified_at(account_id, stored_hash, password, Instant::now())
    }

    /// Remembers a successful argon2id verification. Call it only after one.
    pub fn remember(&self, account_id: i64, stored_hash: &str, password: &[u8]) {
        self.remember_at(account_id, stored_hash, password, Instant::now());
    }

    pub fn stats(&self) -> AuthCacheStats {
        AuthCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().by_account.len(),
        }
    }

    fn verified_at(&self, account_id: i64, stored_hash: &str, password: &[u8], now: Instant) -> bool {
        let digest = self.digest(account_id, stored_hash, password);
        let hit = {
            let entries = self.lock();
            entries.by_account.get(&account_id).is_some_and(|entry| {
                now.saturating_duration_since(entry.inserted) < self.config.ttl && same(&entry.digest, &digest)
            })
        };
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    fn remember_at(&self, account_id: i64, stored_hash: &str, password: &[u8], now: Instant) {
        let digest = self.digest(account_id, stored_hash, password);
        let mut entries = self.lock();
        let Entries { by_account, order } = &mut *entries;
        // Make room: what expired, then the oldest insertions, until one more fits.
        while let Some(&(id, inserted)) = order.front() {
            let expired = now.saturating_duration_since(inserted) >= self.config.ttl;
            if !expired && order.len() < self.config.max_entries {
                break;
            }
            order.pop_front();
            if by_account.get(&id).is_some_and(|entry| entry.inserted == inserted) {
                by_account.remove(&id);
            }
        }
        by_account.insert(account_id, Entry { digest, inserted: now });
        order.push_back((account_id, now));
    }

    /// HMAC-SHA256(key, id || length of the hash || hash || password): the length keeps the
    /// hash and the password from running into each other.
    fn digest(&self, account_id: i64, stored_hash: &str, password: &[u8]) -> Digest {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(&account_id.to_be_bytes());
        context.update(&(stored_hash.len() as u64).to_be_bytes());
        context.update(stored_hash.as_bytes());
        context.update(password);
        let tag = context.sign();
        let mut digest = [0u8; 32];
        digest.copy_from_slice(tag.as_ref());
        digest
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Equality in time independent of where the digests differ.
fn same(a: &Digest, b: &Digest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2huZXc";

    fn cache(max_entries: usize, ttl_secs: u64) -> AuthCache {
        AuthCache::new(AuthCacheConfig { max_entries, ttl: Duration::from_secs(ttl_secs) }).unwrap().unwrap()
    }

    #[test]
    fn off_when_size_or_ttl_is_zero() {
        assert!(AuthCache::new(AuthCacheConfig { max_entries: 0, ttl: Duration::from_secs(60) }).unwrap().is_none());
        assert!(AuthCache::new(AuthCacheConfig { max_entries: 10, ttl: Duration::ZERO }).unwrap().is_none());
    }

    #[test]
    fn remembered_password_hits_and_others_miss() {
        let c = cache(10, 600);
        let t = Instant::now();
        assert!(!c.verified_at(1, HASH, b"secret pw", t), "nothing remembered yet");
        c.remember_at(1, HASH, b"secret pw", t);
        assert!(c.verified_at(1, HASH, b"secret pw", t + Duration::from_secs(1)));
        assert!(!c.verified_at(1, HASH, b"secret pX", t), "another password");
        assert!(!c.verified_at(1, HASH, b"secret p", t), "a prefix");
        assert!(!c.verified_at(2, HASH, b"secret pw", t), "another account with the same hash");
        assert!(!c.verified_at(1, NEW_HASH, b"secret pw", t), "the stored hash changed");
        assert_eq!(c.stats(), AuthCacheStats { hits: 1, misses: 5, entries: 1 });
    }

    #[test]
    fn hash_and_password_do_not_run_into_each_other() {
        let c = cache(10, 600);
        let t = Instant::now();
        c.remember_at(1, "$h$ab", b"cd", t);
        assert!(!c.verified_at(1, "$h$a", b"bcd", t));
    }

    #[test]
    fn an_entry_lives_its_ttl_from_insertion() {
        let c = cache(10, 600);
        let t = Instant::now();
        c.remember_at(7, HASH, b"pw", t);
        assert!(c.verified_at(7, HASH, b"pw", t + Duration::from_secs(599)));
        assert!(!c.verified_at(7, HASH, b"pw", t + Duration::from_secs(600)), "expired, hits did not extend it");
        c.remember_at(7, HASH, b"pw", t + Duration::from_secs(600));
        assert!(c.verified_at(7, HASH, b"pw", t + Duration::from_secs(1000)), "a new verification restarts it");
    }

    #[test]
    fn bounded_oldest_first() {
        let c = cache(3, 600);
        let t = Instant::now();
        for id in 1..=5 {
            c.remember_at(id, HASH, b"pw", t + Duration::from_secs(id as u64));
        }
        assert_eq!(c.stats().entries, 3);
        let later = t + Duration::from_secs(10);
        let hits: Vec<i64> = (1..=5).filter(|&id| c.verified_at(id, HASH, b"pw", later)).collect();
        assert_eq!(hits, vec![3, 4, 5]);
    }

    #[test]
    fn the_same_account_again_does_not_grow_it() {
        let c = cache(3, 600);
        let t = Instant::now();
        for i in 0..100u64 {
            c.remember_at(1, HASH, format!("pw{i}").as_bytes(), t + Duration::from_millis(i));
            let entries = c.lock();
            assert!(entries.order.len() <= 3 && entries.by_account.len() == 1);
        }
        assert!(c.verified_at(1, HASH, b"pw99", t + Duration::from_secs(1)));
        assert!(!c.verified_at(1, HASH, b"pw98", t + Duration::from_secs(1)), "one digest per account");
    }

    #[test]
    fn expired_entries_make_room_first() {
        let c = cache(2, 60);
        let t = Instant::now();
        c.remember_at(1, HASH, b"pw", t);
        c.remember_at(2, HASH, b"pw", t + Duration::from_secs(30));
        c.remember_at(3, HASH, b"pw", t + Duration::from_secs(61));
        let now = t + Duration::from_secs(62);
        assert!(!c.verified_at(1, HASH, b"pw", now));
        assert!(c.verified_at(2, HASH, b"pw", now), "not expired, not the oldest after the expired one left");
        assert!(c.verified_at(3, HASH, b"pw", now));
    }

    #[test]
    fn debug_shows_no_key() {
        let c = cache(2, 60);
        let text = format!("{c:?}");
        assert!(text.contains("max_entries: 2") && !text.contains("key"), "{text}");
    }
}
