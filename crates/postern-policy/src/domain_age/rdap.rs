//! RDAP domain replies (RFC 9083): the registration date of a domain object.
//!
//! In: the body of `GET {base}domain/{name}` (at most [`MAX_REPLY`] bytes, read by
//! `http.rs`). Out: the date of the `events` entry whose `eventAction` is `registration`
//! (RFC 3339), `Ok(None)` when the domain object has none, or an error for what is not a
//! domain object at all. Defends against: garbage and truncated JSON, wrong types, odd
//! dates (each an error or "no date", never a panic and never a made-up age).

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Largest RDAP reply read (a domain object is a few KiB).
pub const MAX_REPLY: u64 = 256 * 1024;

/// The query URL for `domain` (lower-case LDH, checked by `name.rs`) under `base` (ending
/// with `/`, checked by `bootstrap.rs`).
pub fn domain_url(base: &str, domain: &str) -> String {
    format!("{base}domain/{domain}")
}

/// The registration date in an RDAP domain reply. When there are several registration
/// events, the latest counts (the current registration).
pub fn registration_date(body: &[u8]) -> Result<Option<DateTime<Utc>>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else { return Err("not an RDAP object".into()) };
    if let Some(class) = object.get("objectClassName")
        && !class.as_str().is_some_and(|c| c.eq_ignore_ascii_case("domain"))
    {
        return Err(format!("not a domain object (objectClassName {})", short(class)));
    }
    let events = match object.get("events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(events)) => events,
        Some(other) => return Err(format!("events is not an array: {}", short(other))),
    };
    let mut latest: Option<DateTime<Utc>> = None;
    for event in events {
        let action = event.get("eventAction").and_then(Value::as_str);
        if !action.is_some_and(|a| a.eq_ignore_ascii_case("registration")) {
            continue;
        }
        let Some(text) = event.get("eventDate").and_then(Value::as_str) else {
            return Err("registration event without an eventDate".into());
        };
        let date = DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| format!("registration date {:?} is not RFC 3339", short_str(text)))?
            .with_timezone(&Utc);
        latest = Some(latest.map_or(date, |l| l.max(date)));
    }
    Ok(latest)
}

/// A JSON value for an error message, at most 40 characters.
fn short(value: &Value) -> String {
    short_str(&value.to_string()).to_string()
}

fn short_str(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(body: &str) -> Result<Option<String>, String> {
        registration_date(body.as_bytes()).map(|d| d.map(|d| d.to_rfc3339()))
    }

    #[test]
    fn the_registration_event_gives_the_date() {
        let body = r#"{"objectClassName": "domain", "ldhName": "EXAMPLE.COM", "handle": "2336799_DOMAIN_COM-VRSN",
            "status": ["client delete prohibited"],
            "events": [
                {"eventAction": "expiration", "eventDate": "2027-08-13T04:00:00Z"},
                {"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
                {"eventAction": "last update of RDAP database", "eventDate": "2026-07-01T10:00:00Z"}
            ],
            "notices": [{"title": "Terms of Use", "description": ["..."]}]}"#;
        assert_eq!(date(body), Ok(Some("1995-08-14T04:00:00+00:00".into())));
        // Fractions and offsets, as some registries write them; no objectClassName.
        assert_eq!(
            date(r#"{"events": [{"eventAction": "Registration", "eventDate": "2026-07-01T11:30:00.123+02:00"}]}"#),
            Ok(Some("2026-07-01T09:30:00.123+00:00".into()))
        );
        // Registered twice: the latest counts.
        let twice = r#"{"events": [{"eventAction": "registration", "eventDate": "2026-07-01T00:00:00Z"},
                                   {"eventAction": "registration", "eventDate": "2001-01-01T00:00:00Z"}]}"#;
        assert_eq!(date(twice), Ok(Some("2026-07-01T00:00:00+00:00".into())));
    }

    #[test]
    fn a_domain_object_without_a_registration_event_has_no_date() {
        assert_eq!(date(r#"{"objectClassName": "domain"}"#), Ok(None));
        assert_eq!(date(r#"{"objectClassName": "domain", "events": null}"#), Ok(None));
        assert_eq!(
            date(r#"{"events": [{"eventAction": "expiration", "eventDate": "2027-01-01T00:00:00Z"}]}"#),
            Ok(None)
        );
        assert_eq!(date(r#"{"events": [{"eventDate": "2027-01-01T00:00:00Z"}, 7, "x", null]}"#), Ok(None));
    }

    #[test]
    fn garbage_is_an_error_never_a_date() {
        let cases = [
            "",
            "<html>Service Unavailable</html>",
            r#"{"events": [{"eventAction": "registration", "eventDate": "2026-07-01T0"#,
            "[]",
            "null",
            r#""registration""#,
            r#"{"objectClassName": "entity", "events": []}"#,
            r#"{"objectClassName": 5}"#,
            r#"{"events": {"eventAction": "registration"}}"#,
            r#"{"events": [{"eventAction": "registration"}]}"#,
            r#"{"events": [{"eventAction": "registration", "eventDate": 1720000000}]}"#,
            r#"{"events": [{"eventAction": "registration", "eventDate": "yesterday"}]}"#,
            r#"{"events": [{"eventAction": "registration", "eventDate": "2026-07-01"}]}"#,
        ];
        for body in cases {
            assert!(date(body).is_err(), "{body:?} -> {:?}", date(body));
        }
        let deep = "[".repeat(100_000);
        assert!(registration_date(deep.as_bytes()).is_err(), "nesting is bounded by the parser");
        assert!(registration_date(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn the_query_url() {
        assert_eq!(
            domain_url("https://rdap.verisign.com/com/v1/", "example.com"),
            "https://rdap.verisign.com/com/v1/domain/example.com"
        );
    }
}
