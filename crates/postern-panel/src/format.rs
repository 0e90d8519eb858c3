//! What the message pages (quarantine, log search, archive) add to [`crate::view`]: times to
//! the millisecond, address lists cut short, and their filters — an empty field is no
//! filter, a browser's `datetime-local` value is a UTC time, and links carry the filters
//! percent-encoded.
//!
//! In: values of the operations' results, the text of a GET query string. Out: strings for
//! the templates (askama escapes them there) and query strings that are always
//! percent-encoded, so a filter's text can never end a link or add a parameter.

use chrono::{DateTime, NaiveDateTime};

use crate::view::when;

/// A time to the millisecond, for steps that follow each other closely:
/// `2026-12-06 09:00:20.123 UTC`.
pub fn when_precise(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        None => "-".to_string(),
    }
}

/// An optional time; empty when there is none.
pub fn when_opt(ms: Option<i64>) -> String {
    ms.map(when).unwrap_or_default()
}

/// The first `shown` addresses, and how many more there are: `a@x, b@x and 3 more`.
pub fn addresses(list: &[String], total: usize, shown: usize) -> String {
    let mut text = list.iter().take(shown).cloned().collect::<Vec<_>>().join(", ");
    let more = total.saturating_sub(shown.min(list.len()));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// A filter's value: `None` when the field was left empty.
pub fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A time filter as the operations take it (RFC 3339): a browser's `datetime-local`
/// value (`2025-01-31T10:00`, taken as UTC) gets its seconds and zone; anything else is
/// passed on as typed, for the operation to accept or refuse naming the field.
pub fn rfc3339(text: &str) -> Option<String> {
    let text = given(text)?;
    for pattern in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&text, pattern) {
            return Some(t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }
    Some(text)
}

/// A time filter as Unix milliseconds (the quarantine's): `Err` says what is wrong.
pub fn unix_ms(text: &str) -> Result<Option<i64>, String> {
    let Some(text) = rfc3339(text) else { return Ok(None) };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| format!("{text:?} is not a time such as 2025-01-31T10:00"))
}

/// A query string of the pairs whose value is not empty, percent-encoded; with the `?`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        out.append_pair(name, value);
    }
    let text = out.finish();
    if text.is_empty() { text } else { format!("?{text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_lists_read_well() {
        assert_eq!(when_precise(1_767_225_600_123), "2026-01-01 00:00:00.123 UTC");
        assert_eq!(when_opt(Some(1_767_225_600_000)), "2026-01-01 00:00:00 UTC");
        assert_eq!(when_opt(None), "");
        let list = ["a@x".to_string(), "b@x".to_string(), "c@x".to_string()];
        assert_eq!(addresses(&list, 3, 2), "a@x, b@x and 1 more");
        assert_eq!(addresses(&list[..2], 25, 5), "a@x, b@x and 23 more");
        assert_eq!(addresses(&list, 3, 5), "a@x, b@x, c@x");
    }

    #[test]
    fn browser_times_become_rfc3339_in_utc() {
        assert_eq!(rfc3339("2026-01-31T10:05").as_deref(), Some("2026-01-31T10:05:00Z"));
        assert_eq!(rfc3339(" 2026-01-31T10:05:07 ").as_deref(), Some("2026-01-31T10:05:07Z"));
        assert_eq!(rfc3339("2026-01-31T10:05:07+02:00").as_deref(), Some("2026-01-31T10:05:07+02:00"));
        assert_eq!(rfc3339("  "), None);
        assert_eq!(unix_ms("2026-01-01T00:00"), Ok(Some(1_767_225_600_000)));
        assert!(unix_ms("yesterday").is_err());
    }

    #[test]
    fn links_are_encoded_and_skip_empty_filters() {
        assert_eq!(
            query(&[("sender", "a&b=c@x"), ("rule", ""), ("q", "<\"x\">")]),
            "?sender=a%26b%3Dc%40x&q=%3C%22x%22%3E"
        );
        assert_eq!(query(&[("a", " ")]), "");
    }
}
