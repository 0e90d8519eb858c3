//! Window and bucket arithmetic shared by every backend, with no I/O.
//!
//! In: a window length as a [`Duration`] and a time in ms since the epoch. Out: the bucket
//! length, the bucket index of a time, and the oldest bucket index still counted. Defends
//! against windows too short to split into [`BUCKETS`] buckets, windows so long that the
//! arithmetic could overflow, and empty or oversized keys.

use std::time::Duration;

use crate::{BUCKETS, CounterError, Result};

/// The longest window accepted: ten years (keeps every index computation far from overflow).
pub const MAX_WINDOW_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// A validated window: its length and the length of one of its [`BUCKETS`] buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    ms: u64,
    bucket_ms: u64,
}

impl Window {
    /// `BadWindow` unless `BUCKETS ms <= window <= MAX_WINDOW_MS`.
    pub fn new(window: Duration) -> Result<Window> {
        let ms = u64::try_from(window.as_millis()).map_err(|_| CounterError::BadWindow)?;
        Window::from_ms(ms)
    }

    /// As [`Window::new`], from a length in ms (what the persisted records carry).
    pub fn from_ms(ms: u64) -> Result<Window> {
        if !(BUCKETS..=MAX_WINDOW_MS).contains(&ms) {
            return Err(CounterError::BadWindow);
        }
        Ok(Window { ms, bucket_ms: ms.div_ceil(BUCKETS) })
    }

    /// The window's length in ms.
    pub fn ms(self) -> u64 {
        self.ms
    }

    /// One bucket's length in ms: `ceil(window / BUCKETS)`, the precision of the counter.
    pub fn bucket_ms(self) -> u64 {
        self.bucket_ms
    }

    /// The bucket index of `now_ms` (floor division, also before 1970).
    pub fn bucket_index(self, now_ms: i64) -> i64 {
        // bucket_ms <= MAX_WINDOW_MS / BUCKETS + 1, far below i64::MAX.
        now_ms.div_euclid(self.bucket_ms as i64)
    }

    /// The oldest bucket index counted at bucket `index`: `index - BUCKETS`.
    pub fn oldest_counted(self, index: i64) -> i64 {
        index.saturating_sub(BUCKETS as i64)
    }
}

/// `BadKey` unless the key has 1 to [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(CounterError::BadKey);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_length_rounds_up_so_buckets_cover_the_window() {
        let hour = Window::new(Duration::from_secs(3600)).unwrap();
        assert_eq!(hour.bucket_ms(), 60_000);
        let odd = Window::from_ms(61_007).unwrap();
        assert_eq!(odd.bucket_ms(), 1_017);
        assert!(odd.bucket_ms() * BUCKETS >= odd.ms());
        assert_eq!(Window::from_ms(60).unwrap().bucket_ms(), 1);
    }

    #[test]
    fn bad_windows_are_refused() {
        assert!(matches!(Window::from_ms(59), Err(CounterError::BadWindow)));
        assert!(matches!(Window::new(Duration::from_micros(59_999)), Err(CounterError::BadWindow)));
        assert!(matches!(Window::from_ms(MAX_WINDOW_MS + 1), Err(CounterError::BadWindow)));
        assert!(matches!(Window::new(Duration::MAX), Err(CounterError::BadWindow)));
    }

    #[test]
    fn bucket_index_is_a_floor_division() {
        let w = Window::from_ms(60_000).unwrap();
        assert_eq!(w.bucket_index(0), 0);
        assert_eq!(w.bucket_index(999), 0);
        assert_eq!(w.bucket_index(1_000), 1);
        assert_eq!(w.bucket_index(-1), -1);
        assert_eq!(w.oldest_counted(100), 40);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(matches!(check_key(""), Err(CounterError::BadKey)));
        assert!(matches!(check_key(&"k".repeat(MAX_KEY_LEN + 1)), Err(CounterError::BadKey)));
    }
}
