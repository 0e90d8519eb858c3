//! Structured events: one record per thing that happened to a session or a message.
//!
//! They go to stdout through `tracing` and into the store, where log search reads them.
//! Every refusal names its stage and its reason, so an administrator can tell why.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::QueueId;

/// Where in the conversation something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Connect,
    Helo,
    Tls,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Queue,
    Command,
    Auth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Connect {
        client_port: u16,
        listener: String,
    },
    Tls {
        version: String,
        cipher: String,
    },
    Refused {
        stage: Stage,
        reply: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<String>,
        /// The session's account (as `queued` names it) and its domain, when the session
        /// was attributed to one, so that a refusal is found under the account's domain;
        /// absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
    },
    Queued {
        size: u64,
        sender: String,
        recipients: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// The attribution (see [`crate::envelope::Owner`]); absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        /// The decoded `Subject:`, one printable line of at most [`MAX_SUBJECT`] characters;
        /// absent when the message has none, and in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// An AUTH exchange: `result` is `success`, `failure` or `blocked`; `detail` names the
    /// account on success and the reason otherwise. Never the password.
    Auth {
        mechanism: String,
        user: String,
        result: String,
        detail: String,
    },
    Disconnect {
        messages: u32,
        duration_ms: u64,
        reason: String,
    },
    /// One recipient's result from one delivery attempt.
    Delivery {
        recipient: String,
        /// `delivered`, `deferred`, `bounced` or `expired`.
        result: String,
        status: String,
        reply: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<String>,
        attempt: u32,
        destination: String,
        /// How long the attempt took (connection, transaction); absent for an expiry
        /// (nothing was tried) and in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        /// When the message was received and spooled (Unix ms), for the end-to-end latency;
        /// absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queued_at_ms: Option<i64>,
    },
    /// A delivery status notification we queued (bounce, delay warning, relayed notice).
    Dsn {
        dsn_queue_id: String,
        action: String,
        to: String,
        recipients: Vec<String>,
    },
    /// DKIM at the end of data, before the spool (SPEC.md §6): `result` is `signed` (the
    /// signing domain and its selectors), `unsigned` (`reason` says why, e.g. the From
    /// domain has no active key) or `failed` (signing broke; the message was queued unsigned).
    Dkim {
        result: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        selectors: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A message's verdict trace (the pipeline between the end of DATA and the spool):
    /// every check that ran, in order, and what became of the message.
    Checked {
        disposition: crate::Disposition,
        checks: Vec<crate::CheckRecord>,
        /// The envelope and attribution of a message that was *not* queued (rejected,
        /// quarantined, discarded), which no `queued` event describes; absent for a queued
        /// message and in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Box<MessageFacts>>,
    },
    /// A message a block list rule discards: the client was told `250`, nothing was spooled.
    Discarded {
        /// The id of the list rule.
        rule: i64,
        sender: String,
        recipients: Vec<String>,
        /// The attribution, as in `queued`, so a discarded message is found under the
        /// account's domain and the sender's domain too; absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    /// A behaviour finding made after the message left (SPEC.md §3 *beyond*, issue 15): its
    /// delivery failures (5xx) fed back to the sender's profile pushed a signal over its
    /// threshold. `done` is what was done: `logged` (monitor, quarantine: a sent message
    /// cannot be held), `locked identity <name>`, `locked account <name>`, `already locked`.
    /// The queue id is the failed message's, so that the finding is in its timeline.
    Behaviour {
        reason: String,
        done: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    /// Something done to a held message (SPEC.md §5, quarantine): `held` (by the pipeline),
    /// `released` (spooled for delivery, `by` the token), `deleted`, `purged` (expired),
    /// `confirmed` (a spam sample), `release_requested`, `abuse_report` (sent to the
    /// domain's abuse contact).
    Quarantine {
        action: String,
        /// The quarantine row.
        id: i64,
        /// The API token's name, when an administrator did it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// What a `queued` event says of a message, for a message the pipeline did not queue
/// (carried by its `checked` event).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageFacts {
    pub sender: String,
    pub recipients: Vec<String>,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// The most characters of a subject in events.
pub const MAX_SUBJECT: usize = 300;

/// A header value as events carry it: control and bidirectional-override characters
/// removed, runs of white space (folding included) as one space, at most `max` characters.
/// `None` when nothing printable is left.
pub fn printable_line(text: &str, max: usize) -> Option<String> {
    let (mut out, mut count, mut space) = (String::new(), 0, false);
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        if count >= max || (space && count + 2 > max) {
            break;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    (!out.is_empty()).then_some(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// Per-process session number; with `client_ip` it identifies a connection in the log.
    pub session: u64,
    pub client_ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<QueueId>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl EventKind {
    /// The short name stored in the `kind` column and used in log lines.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Connect { .. } => "connect",
            EventKind::Tls { .. } => "tls",
            EventKind::Refused { .. } => "refused",
            EventKind::Queued { .. } => "queued",
            EventKind::Auth { .. } => "auth",
            EventKind::Disconnect { .. } => "disconnect",
            EventKind::Delivery { .. } => "delivery",
            EventKind::Dsn { .. } => "dsn",
            EventKind::Discarded { .. } => "discarded",
            EventKind::Dkim { .. } => "dkim",
            EventKind::Checked { .. } => "checked",
            EventKind::Quarantine { .. } => "quarantine",
            EventKind::Behaviour { .. } => "behaviour",
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_line_folds_white_space_and_drops_controls() {
        assert_eq!(printable_line("  Hello,\r\n\t world \u{7}\u{202e}!  ", 100).as_deref(), Some("Hello, world !"));
        assert_eq!(printable_line("\r\n \u{0}", 100), None);
        assert_eq!(printable_line("abcdef", 3).as_deref(), Some("abc"));
        assert_eq!(printable_line("ab cd", 3).as_deref(), Some("ab"), "never a trailing space");
        assert_eq!(printable_line(&"é".repeat(500), MAX_SUBJECT).map(|s| s.chars().count()), Some(MAX_SUBJECT));
    }

    #[test]
    fn older_events_without_the_new_fields_still_read() {
        let queued = r#"{"at_ms":1,"session":2,"client_ip":"192.0.2.1","event":"queued","size":3,"sender":"a@b","recipients":["c@d"]}"#;
        let e: Event = serde_json::from_str(queued).unwrap();
        assert!(matches!(e.kind, EventKind::Queued { subject: None, .. }));
        let checked =
            r#"{"at_ms":1,"session":2,"client_ip":"192.0.2.1","event":"checked","disposition":"reject","checks":[]}"#;
        let e: Event = serde_json::from_str(checked).unwrap();
        assert!(matches!(e.kind, EventKind::Checked { message: None, .. }));
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("message"), "absent facts are not written: {text}");
    }
}
