//! Account settings as an administrator changes them. A request carries a partial JSON
//! object (any front end's: the JSON API passes the request's `settings`); it is merged
//! over a base (the kind's defaults when creating, the current settings when editing),
//! deserialized strictly into [`AccountSettings`] (unknown fields refused), then checked
//! for what serde cannot see.
//!
//! Defends against: regexes that are expensive to compile or run (size limits), header
//! names that are not header names, lock templates that would break the SMTP reply they
//! become (line breaks, non-ASCII), and out-of-range durations. Pure functions.

use postern_core::tenancy::{AccountSettings, IdentificationMethod};
use serde_json::Value;

use crate::error::field_name;
use crate::{OpError, Result};

/// The compiled size allowed for an identification regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const LONGEST_REGEX: usize = 1024;
const MOST_HEADERS: usize = 32;
const LONGEST_HEADER_NAME: usize = 64;
/// One week (SPEC.md §3).
const LONGEST_LOCK_MINUTES: u32 = 10_080;
const LONGEST_TEMPLATE: usize = 512;

/// `patch` over `base`: objects merge key by key, recursively; any other value replaces
/// what was there (`null` included).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// The settings `patch` (the request's `settings` object) makes of `base`, checked.
pub fn apply(base: &AccountSettings, patch: Value) -> Result<AccountSettings> {
    if !patch.is_object() {
        return Err(OpError::bad_field("settings", "settings is an object of the fields to change"));
    }
    let mut merged = serde_json::to_value(base).map_err(OpError::internal)?;
    merge(&mut merged, patch);
    let settings: AccountSettings = serde_path_to_error::deserialize(merged).map_err(|e| {
        let text = e.inner().to_string();
        let field = field_name(&e.path().to_string(), &text, "");
        let field = if field.is_empty() { "settings".to_string() } else { format!("settings.{field}") };
        OpError::bad_field(&field, text)
    })?;
    validate(&settings)?;
    Ok(settings)
}

/// What serde cannot check. Errors name the field under `settings.`.
pub fn validate(s: &AccountSettings) -> Result<()> {
    let id = &s.identification;
    if let Some(regex) = &id.regex {
        check_regex(regex).map_err(|e| OpError::bad_field("settings.identification.regex", e))?;
    }
    if id.headers.len() > MOST_HEADERS {
        return Err(OpError::bad_field("settings.identification.headers", format!("at most {MOST_HEADERS} headers")));
    }
    for (i, name) in id.headers.iter().enumerate() {
        if !is_header_name(name) {
            return Err(OpError::bad_field(
                &format!("settings.identification.headers[{i}]"),
                format!("a header field name is 1 to {LONGEST_HEADER_NAME} printable ASCII characters without ':'"),
            ));
        }
    }
    if id.method == IdentificationMethod::Header && id.headers.is_empty() {
        return Err(OpError::bad_field(
            "settings.identification.headers",
            "identification by header needs at least one header name",
        ));
    }
    if s.lock.timeout_minutes > LONGEST_LOCK_MINUTES {
        return Err(OpError::bad_field(
            "settings.lock.timeout_minutes",
            format!("at most {LONGEST_LOCK_MINUTES} minutes (one week)"),
        ));
    }
    if !is_reply_text(&s.lock.template) {
        return Err(OpError::bad_field(
            "settings.lock.template",
            format!("1 to {LONGEST_TEMPLATE} printable ASCII characters (it becomes an SMTP reply)"),
        ));
    }
    if !(1..=3650).contains(&s.archive.retention_days) {
        return Err(OpError::bad_field("settings.archive.retention_days", "from 1 to 3650 days"));
    }
    if !postern_core::tenancy::SPAM_THRESHOLD_RANGE.contains(&s.checks.spam_threshold) {
        let range = postern_core::tenancy::SPAM_THRESHOLD_RANGE;
        return Err(OpError::bad_field(
            "settings.checks.spam_threshold",
            format!("a score from {} to {}", range.start(), range.end()),
        ));
    }
    if !postern_core::tenancy::NEW_DOMAIN_HOURS_RANGE.contains(&s.checks.new_domain_min_age_hours) {
        let range = postern_core::tenancy::NEW_DOMAIN_HOURS_RANGE;
        return Err(OpError::bad_field(
            "settings.checks.new_domain_min_age_hours",
            format!("from {} to {} hours", range.start(), range.end()),
        ));
    }
    if let Some(selector) = &s.dkim_selector
        && !is_dns_label(selector)
    {
        return Err(OpError::bad_field(
            "settings.dkim_selector",
            "a DKIM selector is one DNS label: 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen",
        ));
    }
    Ok(())
}

fn check_regex(pattern: &str) -> Result<(), String> {
    if pattern.len() > LONGEST_REGEX {
        return Err(format!("a regex has at most {LONGEST_REGEX} characters"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(|_| ())
        .map_err(|e| format!("invalid regex: {e}"))
}

/// RFC 5322 §3.6.8: printable ASCII except ':'; bounded here.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= LONGEST_HEADER_NAME
        && name.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':')
}

/// RFC 5321 textstring: what may follow a reply code.
fn is_reply_text(text: &str) -> bool {
    !text.trim().is_empty() && text.len() <= LONGEST_TEMPLATE && text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::AccountKind;
    use serde_json::json;

    use super::*;

    fn field_of(patch: Value) -> String {
        let base = AccountSettings::for_kind(AccountKind::User);
        apply(&base, patch).unwrap_err().field.unwrap_or_default()
    }

    #[test]
    fn merges_objects_and_replaces_the_rest() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"});
        merge(&mut base, json!({"a": {"c": 3}, "d": [3], "e": null, "f": true}));
        assert_eq!(base, json!({"a": {"b": 1, "c": 3}, "d": [3], "e": null, "f": true}));
    }

    #[test]
    fn partial_settings_keep_the_rest() {
        let base = AccountSettings::for_kind(AccountKind::Ip);
        let s = apply(&base, json!({"limits": {"recipients_per_message": 5}, "dkim_selector": "s1"})).unwrap();
        assert_eq!(s.limits.recipients_per_message, 5);
        assert_eq!(s.identification.method, IdentificationMethod::Sender);
        assert_eq!(s.dkim_selector.as_deref(), Some("s1"));
        let cleared = apply(&s, json!({"dkim_selector": null})).unwrap();
        assert_eq!(cleared.dkim_selector, None);
        assert_eq!(cleared.limits.recipients_per_message, 5);
    }

    #[test]
    fn the_spam_threshold_is_a_score_in_range() {
        let base = AccountSettings::default();
        assert_eq!(base.checks.spam_threshold, 5.0);
        let s = apply(&base, json!({"checks": {"spam_threshold": 7.5}})).unwrap();
        assert_eq!(s.checks.spam_threshold, 7.5);
        assert!(s.checks.spam, "the other checks keep their values");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(json!({"limits": {"recipients_per_message": "x"}})),
            "settings.limits.recipients_per_message"
        );
        assert_eq!(field_of(json!({"limits": {"recipients_per_mesage": 1}})), "settings.limits.recipients_per_mesage");
        assert_eq!(field_of(json!({"identification": {"method": "telepathy"}})), "settings.identification.method");
        assert_eq!(field_of(json!([1])), "settings");
        assert_eq!(field_of(json!({"identification": {"regex": "("}})), "settings.identification.regex");
        assert_eq!(field_of(json!({"identification": {"regex": "\\w{1000}{1000}"}})), "settings.identification.regex");
        assert_eq!(field_of(json!({"identification": {"method": "header"}})), "settings.identification.headers");
        assert_eq!(
            field_of(json!({"identification": {"method": "header", "headers": ["X-Ok", "Bad: name"]}})),
            "settings.identification.headers[1]"
        );
        assert_eq!(field_of(json!({"lock": {"timeout_minutes": 10081}})), "settings.lock.timeout_minutes");
        assert_eq!(field_of(json!({"lock": {"template": "two\r\nlines"}})), "settings.lock.template");
        assert_eq!(field_of(json!({"archive": {"retention_days": 0}})), "settings.archive.retention_days");
        assert_eq!(field_of(json!({"archive": {"retention_days": 3651}})), "settings.archive.retention_days");
        assert_eq!(field_of(json!({"checks": {"spam_threshold": 0.4}})), "settings.checks.spam_threshold");
        assert_eq!(field_of(json!({"checks": {"spam_threshold": 50.5}})), "settings.checks.spam_threshold");
        assert_eq!(field_of(json!({"checks": {"spam_threshold": "high"}})), "settings.checks.spam_threshold");
        assert_eq!(
            field_of(json!({"checks": {"new_domain_min_age_hours": 0}})),
            "settings.checks.new_domain_min_age_hours"
        );
        assert_eq!(
            field_of(json!({"checks": {"new_domain_min_age_hours": 8761}})),
            "settings.checks.new_domain_min_age_hours"
        );
        assert_eq!(field_of(json!({"dkim_selector": "a.b"})), "settings.dkim_selector");
        assert_eq!(field_of(json!({"dkim_selector": "-a"})), "settings.dkim_selector");
    }

    #[test]
    fn the_archive_takes_a_legal_hold_and_keeps_the_rest() {
        let base = AccountSettings::default();
        let on = apply(&base, json!({"archive": {"enabled": true, "retention_days": 30}})).unwrap();
        let held = apply(&on, json!({"archive": {"legal_hold": true}})).unwrap();
        assert!(held.archive.legal_hold && held.archive.enabled);
        assert_eq!(held.archive.retention_days, 30);
        assert_eq!(field_of(json!({"archive": {"legal_hold": "yes"}})), "settings.archive.legal_hold");
    }

    #[test]
    fn header_identification_with_headers_is_fine() {
        let base = AccountSettings::for_kind(AccountKind::Ip);
        let s = apply(
            &base,
            json!({"identification": {"method": "header", "headers": ["X-Client-ID"], "regex": "id=(\\w+)"}}),
        )
        .unwrap();
        assert_eq!(s.identification.headers, ["X-Client-ID"]);
    }
}
