//! The embedded backend's live state: sharded maps from key to the non-zero buckets of
//! each of its windows.
//!
//! In: operations with a validated key, [`Window`] and time; records replayed at open. Out:
//! decisions and counts, and every change described to a [`ChangeLog`] while the shard is
//! still locked (so the log holds each key's changes in the order they happened). Defends
//! against unbounded growth: a series keeps at most `BUCKETS + 1` buckets (older ones are
//! dropped on every touch; if the clock stepped back and left newer ones, the oldest are
//! merged into the next, which can only count more), keys whose buckets all expired are
//! removed on touch and by [`Memory::sweep`], and every lock is held for one key's work
//! (or one shard's sweep, or the few shards of one `acquire_all`), never across I/O.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::lock;
use super::record::{self, Record};
use crate::{BUCKETS, Decision, MultiDecision, Window};

/// Shards of the key space; a shard's lock covers every key hashed to it.
pub(crate) const SHARDS: usize = 256;
/// Live buckets per series: the current one and the `BUCKETS` before it.
const MAX_BUCKETS: usize = BUCKETS as usize + 1;

/// Receives every change, under the lock of the key's shard.
pub(crate) trait ChangeLog {
    /// Each listed bucket of (key, window) now holds this value (0: the bucket is gone).
    fn set(&self, key: &str, window_ms: u64, buckets: &[(i64, u64)]);
    /// Every window of the key is forgotten.
    fn reset(&self, key: &str);
    /// The key's blob is `value` until `expires_ms` (empty: no blob).
    fn blob(&self, key: &str, expires_ms: i64, value: &[u8]);
}

/// A stored blob and when it expires.
struct Blob {
    expires_ms: i64,
    value: Box<[u8]>,
}

type BlobShard = HashMap<Box<str>, Blob>;

type Shard = HashMap<Box<str>, Vec<Series>>;

/// One validated request of [`Memory::acquire_all`].
pub(crate) struct Request<'a> {
    pub(crate) key: &'a str,
    pub(crate) window: Window,
    pub(crate) n: u64,
    pub(crate) limit: u64,
}

/// The non-zero buckets of one (key, window), oldest first.
struct Series {
    window_ms: u64,
    buckets: Vec<(i64, u64)>,
}

impl Series {
    /// Drops the buckets no longer counted at bucket `index`; the sum of the others.
    fn live_count(&mut self, window: Window, index: i64) -> u64 {
        let oldest = window.oldest_counted(index);
        let stale = self.buckets.partition_point(|&(i, _)| i < oldest);
        self.buckets.drain(..stale);
        self.buckets.iter().fold(0u64, |sum, &(_, v)| sum.saturating_add(v))
    }

    /// Adds `n` to bucket `index`, reporting each changed bucket to `changed`.
    fn add(&mut self, index: i64, n: u64, mut changed: impl FnMut(&[(i64, u64)])) {
        let bucket = match self.buckets.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) => {
                self.buckets[pos].1 = self.buckets[pos].1.saturating_add(n);
                self.buckets[pos]
            }
            Err(pos) => {
                self.buckets.insert(pos, (index, n));
                (index, n)
            }
        };
        changed(&[bucket]);
        while self.buckets.len() > MAX_BUCKETS {
            let (oldest, value) = self.buckets.remove(0);
            self.buckets[0].1 = self.buckets[0].1.saturating_add(value);
            changed(&[(oldest, 0), self.buckets[0]]);
        }
    }

    /// Sets bucket values as a record says (0 removes the bucket).
    fn apply(&mut self, buckets: &[(i64, u64)]) {
        for &(index, value) in buckets {
            match (self.buckets.binary_search_by_key(&index, |&(i, _)| i), value) {
                (Ok(pos), 0) => {
                    self.buckets.remove(pos);
                }
                (Ok(pos), _) => self.buckets[pos].1 = value,
                (Err(_), 0) => {}
                (Err(pos), _) => self.buckets.insert(pos, (index, value)),
            }
        }
    }
}

/// Whether `n` more fit under `limit` (0: unlimited) on top of `count`.
fn fits(count: u64, n: u64, limit: u64) -> bool {
    limit == 0 || count.checked_add(n).is_some_and(|total| total <= limit)
}

fn series_of(all: &mut Vec<Series>, window_ms: u64) -> &mut Series {
    match all.iter().position(|s| s.window_ms == window_ms) {
        Some(pos) => &mut all[pos],
        None => {
            all.push(Series { window_ms, buckets: Vec::with_capacity(1) });
            let last = all.len() - 1;
            &mut all[last]
        }
    }
}

/// Removes the key if none of its series has a bucket left.
fn forget_if_empty(shard: &mut Shard, key: &str) {
    if let Some(all) = shard.get_mut(key) {
        all.retain(|s| !s.buckets.is_empty());
        if all.is_empty() {
            shard.remove(key);
        }
    }
}

pub(crate) struct Memory {
    shards: Box<[Mutex<Shard>]>,
    /// Blobs, sharded like the counters (their own key space).
    blobs: Box<[Mutex<BlobShard>]>,
    hasher: RandomState,
    sweep_cursor: AtomicUsize,
}

impl Memory {
    pub(crate) fn new() -> Memory {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect();
        let blobs = (0..SHARDS).map(|_| Mutex::new(BlobShard::new())).collect();
        Memory { shards, blobs, hasher: RandomState::new(), sweep_cursor: AtomicUsize::new(0) }
    }

    fn shard_index(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        lock(&self.shards[self.shard_index(key)])
    }

    /// The count of (key, window) at bucket `index`, dropping what expired.
    fn live_count(shard: &mut Shard, key: &str, window: Window, index: i64) -> u64 {
        let Some(all) = shard.get_mut(key) else { return 0 };
        let count = all.iter_mut().find(|s| s.window_ms == window.ms()).map_or(0, |s| s.live_count(window, index));
        forget_if_empty(shard, key);
        count
    }

    /// [`crate::Counters::acquire`] (and `add`, with `limit` 0), atomic per key.
    pub(crate) fn acquire(
        &self,
        key: &str,
        window: Window,
        now_ms: i64,
        n: u64,
        limit: u64,
        log: &impl ChangeLog,
    ) -> Decision {
        let index = window.bucket_index(now_ms);
        let mut shard = self.shard(key);
        let count = Memory::live_count(&mut shard, key, window, index);
        if !fits(count, n, limit) {
            return Decision::Denied { count };
        }
        Memory::add_locked(&mut shard, key, window, index, n, log);
        Decision::Allowed { count: count.saturating_add(n) }
    }

    /// [`crate::Counters::acquire_all`], atomic across keys: every shard involved is locked,
    /// in ascending order so that two calls never deadlock, while the requests are checked,
    /// then all are added, or none.
    pub(crate) fn acquire_all(&self, requests: &[Request<'_>], now_ms: i64, log: &impl ChangeLog) -> MultiDecision {
        let shard_of: Vec<usize> = requests.iter().map(|r| self.shard_index(r.key)).collect();
        let mut involved = shard_of.clone();
        involved.sort_unstable();
        involved.dedup();
        let mut guards: Vec<MutexGuard<'_, Shard>> = involved.iter().map(|&i| lock(&self.shards[i])).collect();
        // The guard of each request's shard.
        let guard_of: Vec<usize> = shard_of.iter().map(|s| involved.partition_point(|i| i < s)).collect();
        let mut counts = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let index = r.window.bucket_index(now_ms);
            // What this call already took from the same series (a key named twice).
            let earlier: u64 = requests[..i]
                .iter()
                .filter(|e| e.key == r.key && e.window == r.window)
                .fold(0, |sum, e| sum.saturating_add(e.n));
            let count = Memory::live_count(&mut guards[guard_of[i]], r.key, r.window, index).saturating_add(earlier);
            if !fits(count, r.n, r.limit) {
                return MultiDecision::Denied { index: i, count };
            }
            counts.push(count.saturating_add(r.n));
        }
        for (i, r) in requests.iter().enumerate() {
            Memory::add_locked(&mut guards[guard_of[i]], r.key, r.window, r.window.bucket_index(now_ms), r.n, log);
        }
        MultiDecision::Allowed { counts }
    }

    /// Adds `n` to bucket `index` of (key, window), in a shard the caller holds.
    fn add_locked(shard: &mut Shard, key: &str, window: Window, index: i64, n: u64, log: &impl ChangeLog) {
        if n == 0 {
            return;
        }
        if !shard.contains_key(key) {
            shard.insert(key.into(), Vec::with_capacity(1));
        }
        if let Some(all) = shard.get_mut(key) {
            series_of(all, window.ms()).add(index, n, |changed| log.set(key, window.ms(), changed));
        }
    }

    pub(crate) fn count(&self, key: &str, window: Window, now_ms: i64) -> u64 {
        Memory::live_count(&mut self.shard(key), key, window, window.bucket_index(now_ms))
    }

    pub(crate) fn reset(&self, key: &str, log: &impl ChangeLog) {
        let mut shard = self.shard(key);
        if shard.remove(key).is_some() {
            log.reset(key);
        }
    }

    /// The blob of `key`, unless it expired.
    pub(crate) fn get_blob(&self, key: &str, now_ms: i64) -> Option<Vec<u8>> {
        let shard = lock(&self.blobs[self.shard_index(key)]);
        shard.get(key).filter(|b| b.expires_ms > now_ms).map(|b| b.value.to_vec())
    }

    /// Sets (or, with an empty value, removes) the blob of `key`, logged under the lock.
    pub(crate) fn put_blob(&self, key: &str, value: &[u8], expires_ms: i64, log: &impl ChangeLog) {
        let mut shard = lock(&self.blobs[self.shard_index(key)]);
        Memory::set_blob(&mut shard, key, value, expires_ms);
        log.blob(key, expires_ms, value);
    }

    /// Sets the blob of `key` like [`Memory::put_blob`] if the live blob there begins with
    /// `guard` (an empty guard: if there is none); whether it did.
    pub(crate) fn put_blob_if(
        &self,
        key: &str,
        guard: &[u8],
        value: &[u8],
        expires_ms: i64,
        now_ms: i64,
        log: &impl ChangeLog,
    ) -> bool {
        let mut shard = lock(&self.blobs[self.shard_index(key)]);
        let live = shard.get(key).filter(|b| b.expires_ms > now_ms);
        let matches = match live {
            None => guard.is_empty(),
            Some(blob) => !guard.is_empty() && blob.value.starts_with(guard),
        };
        if matches {
            Memory::set_blob(&mut shard, key, value, expires_ms);
            log.blob(key, expires_ms, value);
        }
        matches
    }

    fn set_blob(shard: &mut BlobShard, key: &str, value: &[u8], expires_ms: i64) {
        if value.is_empty() {
            shard.remove(key);
        } else {
            shard.insert(key.into(), Blob { expires_ms, value: value.into() });
        }
    }

    /// Replays one persisted record (at open; nothing is logged).
    pub(crate) fn apply(&self, record: &Record<'_>) {
        match record {
            Record::Set { key, window_ms, buckets } => {
                if Window::from_ms(*window_ms).is_err() {
                    return;
                }
                let mut shard = self.shard(key);
                if !shard.contains_key(*key) {
                    shard.insert((*key).into(), Vec::with_capacity(1));
                }
                if let Some(all) = shard.get_mut(*key) {
                    series_of(all, *window_ms).apply(buckets);
                }
                forget_if_empty(&mut shard, key);
            }
            Record::Reset { key } => {
                self.shard(key).remove(*key);
            }
            Record::Blob { key, expires_ms, value } => {
                let mut shard = lock(&self.blobs[self.shard_index(key)]);
                Memory::set_blob(&mut shard, key, value, *expires_ms);
            }
        }
    }

    /// Drops expired buckets and keys in the next `shards` shards (a full round takes
    /// `SHARDS / shards` calls); returns how many keys were removed.
    pub(crate) fn sweep(&self, now_ms: i64, shards: usize) -> usize {
        let mut removed = 0;
        for _ in 0..shards.min(SHARDS) {
            let i = self.sweep_cursor.fetch_add(1, Ordering::Relaxed) % SHARDS;
            let mut shard = lock(&self.shards[i]);
            let before = shard.len();
            shard.retain(|_, all| {
                all.retain_mut(|series| match Window::from_ms(series.window_ms) {
                    Ok(window) => series.live_count(window, window.bucket_index(now_ms)) > 0,
                    Err(_) => false,
                });
                !all.is_empty()
            });
            removed += before - shard.len();
            let mut blobs = lock(&self.blobs[i]);
            let before = blobs.len();
            blobs.retain(|_, blob| blob.expires_ms > now_ms);
            removed += before - blobs.len();
            drop(blobs);
            if shard.capacity() > 1024 && shard.len() < shard.capacity() / 4 {
                // Give back what a burst of keys took, once they expired.
                let keep = shard.len() * 2;
                shard.shrink_to(keep);
            }
        }
        removed
    }

    pub(crate) fn key_count(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum::<usize>()
            + self.blobs.iter().map(|shard| lock(shard).len()).sum::<usize>()
    }

    /// Appends set records for every live bucket of shard `i` to `out`.
    pub(crate) fn export_shard(&self, i: usize, now_ms: i64, out: &mut Vec<u8>) {
        let shard = lock(&self.shards[i % SHARDS]);
        for (key, all) in shard.iter() {
            for series in all {
                let Ok(window) = Window::from_ms(series.window_ms) else { continue };
                let oldest = window.oldest_counted(window.bucket_index(now_ms));
                let live = &series.buckets[series.buckets.partition_point(|&(i, _)| i < oldest)..];
                if !live.is_empty() {
                    record::encode_set(out, key, series.window_ms, live);
                }
            }
        }
        drop(shard);
        let blobs = lock(&self.blobs[i % SHARDS]);
        for (key, blob) in blobs.iter().filter(|(_, b)| b.expires_ms > now_ms) {
            record::encode_blob(out, key, blob.expires_ms, &blob.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);

    impl ChangeLog for Recorder {
        fn set(&self, key: &str, window_ms: u64, buckets: &[(i64, u64)]) {
            self.0.borrow_mut().push(format!("set {key} {window_ms} {buckets:?}"));
        }
        fn reset(&self, key: &str) {
            self.0.borrow_mut().push(format!("reset {key}"));
        }
        fn blob(&self, key: &str, expires_ms: i64, value: &[u8]) {
            self.0.borrow_mut().push(format!("blob {key} {expires_ms} {value:?}"));
        }
    }

    const MINUTE: u64 = 60_000;

    /// Forgets every change (for threads: [`Recorder`] is not `Sync`).
    struct NoLog;

    impl ChangeLog for NoLog {
        fn set(&self, _key: &str, _window_ms: u64, _buckets: &[(i64, u64)]) {}
        fn reset(&self, _key: &str) {}
        fn blob(&self, _key: &str, _expires_ms: i64, _value: &[u8]) {}
    }

    #[test]
    fn changes_are_logged_with_absolute_values() {
        let memory = Memory::new();
        let log = Recorder::default();
        let w = Window::from_ms(MINUTE).unwrap();
        memory.acquire("k", w, 5_500, 2, 0, &log);
        memory.acquire("k", w, 5_900, 1, 0, &log);
        assert_eq!(memory.acquire("k", w, 5_900, 1, 3, &log), Decision::Denied { count: 3 });
        memory.reset("k", &log);
        memory.reset("k", &log);
        assert_eq!(*log.0.borrow(), ["set k 60000 [(5, 2)]", "set k 60000 [(5, 3)]", "reset k"]);
    }

    fn request(key: &str, window: Window, n: u64, limit: u64) -> Request<'_> {
        Request { key, window, n, limit }
    }

    #[test]
    fn acquire_all_logs_every_add_or_nothing() {
        let memory = Memory::new();
        let log = Recorder::default();
        let minute = Window::from_ms(MINUTE).unwrap();
        let hour = Window::from_ms(60 * MINUTE).unwrap();
        let fits = [request("a", minute, 2, 3), request("b", hour, 1, 0), request("a", minute, 1, 3)];
        assert_eq!(memory.acquire_all(&fits, 5_500, &log), MultiDecision::Allowed { counts: vec![2, 1, 3] });
        let refused = [request("b", hour, 1, 0), request("a", minute, 1, 3)];
        assert_eq!(memory.acquire_all(&refused, 5_500, &log), MultiDecision::Denied { index: 1, count: 3 });
        assert_eq!(*log.0.borrow(), ["set a 60000 [(5, 2)]", "set b 3600000 [(0, 1)]", "set a 60000 [(5, 3)]"]);
        assert_eq!(memory.count("b", hour, 5_500), 1);
    }

    #[test]
    fn acquire_all_in_opposite_orders_never_deadlocks() {
        let memory = Memory::new();
        let hour = Window::from_ms(60 * MINUTE).unwrap();
        let keys: Vec<String> = (0..8).map(|i| format!("key-{i}")).collect();
        let shards: std::collections::HashSet<usize> = keys.iter().map(|k| memory.shard_index(k)).collect();
        assert!(shards.len() > 1, "the keys span several shards");
        std::thread::scope(|scope| {
            for reversed in [false, true, false, true] {
                let (memory, keys) = (&memory, &keys);
                scope.spawn(move || {
                    let mut requests: Vec<Request<'_>> = keys.iter().map(|k| request(k, hour, 1, 0)).collect();
                    if reversed {
                        requests.reverse();
                    }
                    for _ in 0..2_000 {
                        memory.acquire_all(&requests, 0, &NoLog);
                    }
                });
            }
        });
        for key in &keys {
            assert_eq!(memory.count(key, hour, 0), 8_000);
        }
    }

    #[test]
    fn a_series_never_holds_more_than_max_buckets() {
        let memory = Memory::new();
        let log = Recorder::default();
        let w = Window::from_ms(MINUTE).unwrap();
        // The clock steps back by one bucket after each event: every bucket stays "live".
        for step in 0..200i64 {
            memory.acquire("k", w, (1_000 - step) * 1_000, 1, 0, &log);
        }
        let mut shard = memory.shard("k");
        let series = &shard.get_mut("k").unwrap()[0];
        assert!(series.buckets.len() <= MAX_BUCKETS);
        let total: u64 = series.buckets.iter().map(|b| b.1).sum();
        assert_eq!(total, 200, "merging keeps every event counted");
    }

    #[test]
    fn sweep_drops_expired_keys_only() {
        let memory = Memory::new();
        let log = Recorder::default();
        let minute = Window::from_ms(MINUTE).unwrap();
        let hour = Window::from_ms(60 * MINUTE).unwrap();
        memory.acquire("short", minute, 0, 1, 0, &log);
        memory.acquire("long", hour, 0, 1, 0, &log);
        memory.acquire("both", minute, 0, 1, 0, &log);
        memory.acquire("both", hour, 0, 1, 0, &log);
        assert_eq!(memory.sweep(61_000, SHARDS), 1);
        assert_eq!(memory.key_count(), 2);
        assert_eq!(memory.count("both", minute, 61_000), 0);
        assert_eq!(memory.count("both", hour, 61_000), 1);
        assert_eq!(memory.sweep(3_700_000, SHARDS), 2);
        assert_eq!(memory.key_count(), 0);
    }

    #[test]
    fn export_then_apply_rebuilds_the_live_state() {
        let memory = Memory::new();
        let log = Recorder::default();
        let w = Window::from_ms(MINUTE).unwrap();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            memory.acquire(key, w, 0, i as u64 + 1, 0, &log);
            memory.acquire(key, w, 30_000, 1, 0, &log);
        }
        let mut bytes = Vec::new();
        for i in 0..SHARDS {
            memory.export_shard(i, 30_000, &mut bytes);
        }
        let copy = Memory::new();
        let mut reader = record::RecordReader::new(&bytes[..]);
        while let Some(record) = reader.next_record() {
            copy.apply(&record.unwrap());
        }
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(copy.count(key, w, 30_000), i as u64 + 2);
        }
    }
}
