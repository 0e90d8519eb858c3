//! The answers of RDAP lookups, kept in memory: each with its own lifetime (long for a
//! registration date, which does not change; short for "not found" and shorter for a
//! failure), and at most `capacity` entries: the oldest written goes first.
//!
//! In: `(domain, answer, lifetime)` and the current [`Instant`], passed in by the caller
//! (so tests move time by hand). Out: the answer while it lives. Pure data structure, no
//! I/O, no clock of its own.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Cache<V> {
    entries: HashMap<String, Entry<V>>,
    /// Write order: sequence number -> key, for evicting the oldest.
    order: BTreeMap<u64, String>,
    next: u64,
    capacity: usize,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires: Instant,
    seq: u64,
}

impl<V: Clone> Cache<V> {
    pub fn new(capacity: usize) -> Cache<V> {
        Cache { entries: HashMap::new(), order: BTreeMap::new(), next: 0, capacity: capacity.max(1) }
    }

    /// The answer for `key` if it is still alive at `now`; a dead one is removed.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<V> {
        let entry = self.entries.get(key)?;
        if now < entry.expires {
            return Some(entry.value.clone());
        }
        let seq = entry.seq;
        self.entries.remove(key);
        self.order.remove(&seq);
        None
    }

    /// Keeps `value` for `key` until `now + ttl` (replacing an earlier answer), evicting
    /// the oldest entries beyond the capacity.
    pub fn insert(&mut self, key: &str, value: V, ttl: Duration, now: Instant) {
        // A lifetime beyond what `Instant` can hold is bounded by configuration; never panic.
        let expires = now.checked_add(ttl).unwrap_or(now);
        let seq = self.next;
        self.next += 1;
        if let Some(old) = self.entries.insert(key.to_string(), Entry { value, expires, seq }) {
            self.order.remove(&old.seq);
        }
        self.order.insert(seq, key.to_string());
        self.evict();
    }

    /// A new bound (a reload); the oldest entries beyond it go.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.evict();
    }

    fn evict(&mut self) {
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_answer_lives_for_its_own_lifetime() {
        let t0 = Instant::now();
        let mut cache = Cache::new(10);
        cache.insert("registered.test", "date", 7 * 24 * HOUR, t0);
        cache.insert("missing.test", "not found", HOUR, t0);
        cache.insert("broken.test", "error", HOUR / 12, t0);
        let at = |d: Duration| t0 + d;
        assert_eq!(cache.get("broken.test", at(HOUR / 12 - Duration::from_secs(1))), Some("error"));
        assert_eq!(cache.get("broken.test", at(HOUR / 12)), None, "dead at its expiry");
        assert_eq!(cache.get("missing.test", at(HOUR - Duration::from_secs(1))), Some("not found"));
        assert_eq!(cache.get("missing.test", at(HOUR + Duration::from_secs(1))), None);
        assert_eq!(cache.get("registered.test", at(6 * 24 * HOUR)), Some("date"));
        assert_eq!(cache.len(), 1, "dead entries are removed when found");
        assert_eq!(cache.get("registered.test", at(7 * 24 * HOUR)), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_written_is_evicted_beyond_the_capacity() {
        let t0 = Instant::now();
        let mut cache = Cache::new(3);
        for name in ["a", "b", "c"] {
            cache.insert(name, name.to_string(), HOUR, t0);
        }
        // Writing "a" again makes it the newest.
        cache.insert("a", "a2".to_string(), HOUR, t0);
        cache.insert("d", "d".to_string(), HOUR, t0);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("b", t0), None, "b was the oldest");
        assert_eq!(cache.get("a", t0).as_deref(), Some("a2"));
        assert_eq!(cache.get("c", t0).as_deref(), Some("c"));
        assert_eq!(cache.get("d", t0).as_deref(), Some("d"));
        for i in 0..1000 {
            cache.insert(&format!("n{i}"), String::new(), HOUR, t0);
        }
        assert_eq!((cache.len(), cache.order.len()), (3, 3), "the write order stays bounded too");
        cache.set_capacity(1);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("n999", t0).as_deref(), Some(""), "the newest stays");
    }
}
