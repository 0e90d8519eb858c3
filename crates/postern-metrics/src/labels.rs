//! Label values with bounded cardinality: every label value the metrics carry comes from
//! here.
//!
//! In: text from events (a refusal's reason, a check's rule, an engine's name, an AUTH
//! mechanism). Out: a short label value. Defends against: a label family that grows without
//! end (each distinct value is a time series in Prometheus, and text from clients or
//! engines can take any value): [`Bounded`] admits at most a fixed number of distinct
//! values per label and folds the rest into [`OTHER`]; every value is cut to
//! [`MAX_VALUE_CHARS`] printable characters.

use std::collections::HashSet;
use std::sync::Mutex;

/// The value every label falls back to once its bound is reached.
pub const OTHER: &str = "other";
/// The longest label value kept.
pub const MAX_VALUE_CHARS: usize = 64;

/// The distinct values one label has taken, at most `max`.
#[derive(Debug)]
pub struct Bounded {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl Bounded {
    pub fn new(max: usize) -> Bounded {
        Bounded { max, seen: Mutex::new(HashSet::new()) }
    }

    /// `value` made short and printable, or [`OTHER`] when it is new and the bound is
    /// reached. A value once admitted stays admitted.
    pub fn admit(&self, value: &str) -> String {
        let value = short(value);
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(&value) {
            return value;
        }
        if seen.len() >= self.max {
            return OTHER.to_string();
        }
        seen.insert(value.clone());
        value
    }
}

/// At most [`MAX_VALUE_CHARS`] characters, control characters as `?`; empty as `none`.
pub fn short(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return "none".to_string();
    }
    value.chars().take(MAX_VALUE_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The rule a refusal's reason names, as a short label value. A content check's finding
/// names its rule (`spam (rule GTUBE): rejected; ...` is `GTUBE`; of `A,B,C` the first);
/// the session's and the policy's own refusals are known by their words and get a fixed
/// name (`relay_denied`, `max_recipients`, `list`...). Anything else is `other`: the
/// reason's free text (addresses, names, numbers) never becomes a label.
pub fn refusal_rule(reason: &str) -> String {
    if let Some(at) = reason.find("(rule ") {
        let rest = &reason[at + "(rule ".len()..];
        let end = rest.find([')', ',', ' ', ';']).unwrap_or(rest.len());
        let rule = &rest[..end];
        if !rule.is_empty() {
            return short(rule);
        }
    }
    let lower = reason.to_ascii_lowercase();
    KNOWN.iter().find(|(words, _)| lower.contains(words)).map_or(OTHER, |(_, name)| name).to_string()
}

/// Words of the refusals Postern itself writes, and the rule name each one gets. The first
/// match wins: more specific words come first.
const KNOWN: &[(&str, &str)] = &[
    ("content check", "engine_unavailable"),
    ("directory store unavailable", "store_unavailable"),
    ("counters unavailable", "counters_unavailable"),
    ("cannot hold the message", "quarantine_unavailable"),
    ("no quarantine to hold it", "quarantine_unavailable"),
    ("spool write failed", "spool"),
    ("rejected by list", "list"),
    ("relay access denied", "relay_denied"),
    ("recipient limit per message", "max_recipients"),
    ("recipients per day", "daily_recipients"),
    ("sessions per", "session_limit"),
    ("messages per session", "messages_per_session"),
    ("exceeds the size limit", "message_size"),
    ("size exceeds", "message_size"),
    ("octets, account limit", "message_size"),
    ("smuggling", "smtp_smuggling"),
    ("received headers", "max_hops"),
    ("timeout while receiving", "data_timeout"),
    ("memory", "memory_budget"),
    ("too many failed auth", "auth_blocked"),
    ("auth not allowed", "auth_not_allowed"),
    ("hard error limit", "error_limit"),
    ("is locked", "locked"),
    ("is disabled", "domain_disabled"),
    ("does not exist", "domain_unknown"),
    ("not owned by", "sender_not_owned"),
    ("trusted network", "sender_not_owned"),
    ("sender security", "sender_security"),
    ("blocked for the rest of the day", "daily_block"),
    ("messages this minute", "message_rate"),
    ("helo name", "helo"),
    ("sender domain", "sender_domain"),
    ("reverse dns", "fcrdns"),
    ("hostname of", "fcrdns"),
    ("pipelining", "pipelining"),
    ("junk", "junk_commands"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_admits_at_most_its_bound_and_keeps_what_it_admitted() {
        let rules = Bounded::new(3);
        assert_eq!(rules.admit("A"), "A");
        assert_eq!(rules.admit("B"), "B");
        assert_eq!(rules.admit("C"), "C");
        assert_eq!(rules.admit("D"), OTHER);
        assert_eq!(rules.admit("E"), OTHER);
        assert_eq!(rules.admit("A"), "A", "an admitted value stays");
        let values: HashSet<String> = (0..10_000).map(|i| rules.admit(&format!("rule{i}"))).collect();
        assert_eq!(values.len(), 1, "{values:?}");
    }

    #[test]
    fn values_are_short_and_printable() {
        let long = "x".repeat(500);
        assert_eq!(short(&long).chars().count(), MAX_VALUE_CHARS);
        assert_eq!(short("a\r\nb"), "a??b");
        assert_eq!(short("  "), "none");
    }

    #[test]
    fn the_rule_of_a_content_finding_is_its_first_name() {
        assert_eq!(refusal_rule("spam (rule GTUBE): rejected; 1 spam message(s) of the account"), "GTUBE");
        assert_eq!(
            refusal_rule("attachment with macros (rule OLE2_VBA_MACRO in a.zip/b.doc): rejected"),
            "OLE2_VBA_MACRO"
        );
        assert_eq!(refusal_rule("spam (rule BAYES_99,URIBL_X,Y): rejected"), "BAYES_99");
        assert_eq!(
            refusal_rule("virus found (rule CLAMAV:Win.Test.EICAR_HDB-1): rejected"),
            "CLAMAV:Win.Test.EICAR_HDB-1"
        );
    }

    #[test]
    fn postern_s_own_refusals_get_fixed_names_and_free_text_never_becomes_a_label() {
        let cases = [
            ("relay access denied: client is not in a trusted network and has no account", "relay_denied"),
            ("recipient limit per message reached", "max_recipients"),
            ("recipient rejected by list rule 7 (global: reject recipient evil@example.com)", "list"),
            ("sessions per account: 5 of 3", "session_limit"),
            ("recipients per day of identity bob@example.com: 99 + 1 of 100", "daily_recipients"),
            ("message of 99999 octets exceeds the size limit", "message_size"),
            ("bare LF in DATA (SMTP smuggling protection)", "smtp_smuggling"),
            ("51 Received headers, limit 50", "max_hops"),
            ("account alice is locked (spam)", "locked"),
            ("content check rspamd failed (on_failure = tempfail): cannot connect", "engine_unavailable"),
            ("directory store unavailable: not caught up with the shared store for 4 s", "store_unavailable"),
            ("counters unavailable (recipients per day): counter backend: timeout", "counters_unavailable"),
            ("spool write failed", "spool"),
            ("something nobody wrote down for alice@example.com", OTHER),
        ];
        for (reason, rule) in cases {
            assert_eq!(refusal_rule(reason), rule, "{reason}");
        }
    }
}
