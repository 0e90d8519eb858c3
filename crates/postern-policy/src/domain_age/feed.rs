//! A local feed of newly registered domains (`[domain_age] feed`): one
//! `domain<TAB or spaces>date` per line, the date in RFC 3339 (`2026-07-01T09:30:00Z`) or
//! `YYYY-MM-DD` (midnight UTC); `#` starts a comment; blank lines are skipped. The feed is
//! consulted before RDAP; it is read at start and on every `SIGHUP`.
//!
//! In: the file's bytes. Out: a [`Feed`] (domain -> registration time) and how many lines
//! were not understood (a bad line is skipped, never fatal: a feed is third-party data).
//! Defends against: an oversized file or too many entries (an error: the previous feed
//! stays on reload), invalid UTF-8 and odd names (skipped lines).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::name::ascii_host;

/// Largest feed file read.
pub const MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;
/// Most domains taken from one feed.
pub const MAX_ENTRIES: usize = 5_000_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    dates: HashMap<String, DateTime<Utc>>,
}

/// A parsed feed and the lines that were skipped.
#[derive(Debug)]
pub struct Parsed {
    pub feed: Feed,
    pub skipped: usize,
    /// The first skipped line's number (1-based), for the log.
    pub first_skipped: Option<usize>,
}

impl Feed {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Parsed, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(format!("{} is larger than {} MiB", path.display(), MAX_FILE_SIZE >> 20));
        }
        Feed::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a feed. When a domain is listed twice, the later date counts (a domain that
    /// was dropped and registered again is as young as its last registration).
    pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
        let mut dates: HashMap<String, DateTime<Utc>> = HashMap::new();
        let (mut skipped, mut first_skipped) = (0, None);
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let Ok(line) = std::str::from_utf8(line) else {
                skipped += 1;
                first_skipped.get_or_insert(i + 1);
                continue;
            };
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let Some((domain, date)) = entry(line) else {
                skipped += 1;
                first_skipped.get_or_insert(i + 1);
                continue;
            };
            if dates.len() >= MAX_ENTRIES && !dates.contains_key(&domain) {
                return Err(format!("more than {MAX_ENTRIES} domains"));
            }
            let slot = dates.entry(domain).or_insert(date);
            *slot = (*slot).max(date);
        }
        Ok(Parsed { feed: Feed { dates }, skipped, first_skipped })
    }

    /// When `domain` (lower-case ASCII) was registered, if the feed lists it.
    pub fn get(&self, domain: &str) -> Option<DateTime<Utc>> {
        self.dates.get(domain).copied()
    }

    pub fn len(&self) -> usize {
        self.dates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }
}

/// `domain date`: exactly two fields.
fn entry(line: &str) -> Option<(String, DateTime<Utc>)> {
    let mut fields = line.split_whitespace();
    let (domain, date, rest) = (fields.next()?, fields.next()?, fields.next());
    if rest.is_some() {
        return None;
    }
    Some((ascii_host(domain)?, parse_date(date)?))
}

/// RFC 3339, or a calendar date (midnight UTC).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn lines_comments_and_both_date_forms() {
        let text = "# newly registered domains\n\
                    young.test\t2026-07-01T09:30:00Z\n\
                    Other.Test.   2026-06-30   # trailing comment\n\
                    \n   \r\n\
                    offset.test 2026-07-01T11:30:00+02:00\r\n\
                    xn--bcher-kva.test 2026-07-02\n\
                    bücher.example 2026-07-03\n";
        let parsed = Feed::parse(text.as_bytes()).unwrap();
        assert_eq!((parsed.skipped, parsed.first_skipped), (0, None));
        let feed = parsed.feed;
        assert_eq!(feed.len(), 5);
        assert_eq!(feed.get("young.test"), Some(at("2026-07-01T09:30:00Z")));
        assert_eq!(feed.get("other.test"), Some(at("2026-06-30T00:00:00Z")));
        assert_eq!(feed.get("offset.test"), Some(at("2026-07-01T09:30:00Z")));
        assert_eq!(feed.get("xn--bcher-kva.test"), Some(at("2026-07-02T00:00:00Z")));
        assert_eq!(feed.get("xn--bcher-kva.example"), Some(at("2026-07-03T00:00:00Z")));
        assert_eq!(feed.get("absent.test"), None);
    }

    #[test]
    fn bad_lines_are_skipped_and_counted() {
        let mut text = b"ok.test 2026-07-01\nno-date.test\nbad.test 2026-13-01\n\
                         bad.test yesterday\nthree.test 2026-07-01 fields\na_b.test 2026-07-01\n"
            .to_vec();
        text.extend_from_slice(b"\xff\xfe.test 2026-07-01\n");
        let parsed = Feed::parse(&text).unwrap();
        assert_eq!(parsed.feed.len(), 1);
        assert_eq!((parsed.skipped, parsed.first_skipped), (6, Some(2)));
    }

    #[test]
    fn a_domain_listed_twice_keeps_its_latest_registration() {
        let parsed = Feed::parse(b"again.test 2026-07-05\nagain.test 2020-01-01\n").unwrap();
        assert_eq!(parsed.feed.get("again.test"), Some(at("2026-07-05T00:00:00Z")));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = Feed::read(Path::new("/nonexistent/postern-feed")).unwrap_err();
        assert!(err.starts_with("cannot read /nonexistent/postern-feed"), "{err}");
    }
}
