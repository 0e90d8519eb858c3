//! Window and bucket arithmetic shared by every backend, with no I/O.
//!
//! In: a window length as a [`Duration`] and a time in ms since the epoch. Out: the bucket
//! length, the bucket index of a time, and the oldest bucket index still counted. Defends
//! against windows too short to split into [`BUCKETS`] buckets, windows so long that the
//! arithmetic could overflow, empty or oversized keys, and too many requests at once.

use std::time::Duration;

use crate::{Acquire, BUCKETS, CounterError, Result};

/// The longest window accepted: ten years (keeps every index computation far from overflow).
pub const MAX_WINDOW_MS: u64 = 10 * 366 * 24 * 3600 * 1000;

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// The most requests one [`crate::Counters::acquire_all`] takes.
pub const MAX_REQUESTS: usize = 64;

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

/// Checks every request of [`crate::Counters::acquire_all`] (their number, keys and
/// windows) before anything is counted; the validated window of each, in order.
pub fn check_requests(requests: &[Acquire]) -> Result<Vec<Window>> {
    if requests.len() > MAX_REQUESTS {
        return Err(CounterError::TooManyRequests);
    }
    requests
        .iter()
        .map(|request| {
            check_key(&request.key)?;
            Window::new(request.window)
        })
        .collect()
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
    fn requests_are_checked_before_anything_is_counted() {
        let request =
            |key: &str, ms: u64| Acquire { key: key.into(), window: Duration::from_millis(ms), n: 1, limit: 0 };
        let windows = check_requests(&[request("a", 60_000), request("b", 61_007)]).unwrap();
        assert_eq!(windows, [Window::from_ms(60_000).unwrap(), Window::from_ms(61_007).unwrap()]);
        assert!(check_requests(&[]).unwrap().is_empty());
        assert!(matches!(check_requests(&[request("a", 60_000), request("", 60_000)]), Err(CounterError::BadKey)));
        assert!(matches!(check_requests(&[request("a", 59)]), Err(CounterError::BadWindow)));
        let many: Vec<Acquire> = (0..=MAX_REQUESTS).map(|i| request(&format!("k{i}"), 60_000)).collect();
        assert!(matches!(check_requests(&many), Err(CounterError::TooManyRequests)));
        assert_eq!(check_requests(&many[..MAX_REQUESTS]).unwrap().len(), MAX_REQUESTS);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(matches!(check_key(""), Err(CounterError::BadKey)));
        assert!(matches!(check_key(&"k".repeat(MAX_KEY_LEN + 1)), Err(CounterError::BadKey)));
    }
}
