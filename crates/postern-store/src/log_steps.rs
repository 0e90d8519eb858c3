//! A timeline step from a stored event, and its one line for people: pure formatting,
//! shared by every backend.
//!
//! In: an [`EventKind`] (and, for deliveries, the attempt's duration when the event says).
//! Out: text such as `delivered to bob@example.net by mx.example.net [192.0.2.7]: 250 2.0.0
//! Ok (attempt 2, 1.2 s)`. Every value is the event's own text, already bounded when stored.
//! An event this version cannot read is given as stored ([`StepEvent::Stored`]).

use postern_core::EventKind;

use crate::log::{StepEvent, TimelineStep};
use crate::log_state::{deciding_check, describe_check};

pub(crate) fn summary(kind: &EventKind, duration_ms: Option<u64>) -> String {
    match kind {
        EventKind::Connect { client_port, listener } => format!("connected to {listener} from port {client_port}"),
        EventKind::Tls { version, cipher } => format!("TLS {version} with {cipher}"),
        EventKind::Auth { mechanism, user, result, detail } => {
            format!("AUTH {mechanism} as {user}: {result} ({detail})")
        }
        EventKind::Refused { stage, reply, reason, recipient, .. } => {
            let stage = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string));
            let rcpt = recipient.as_deref().map(|r| format!(" for {r}")).unwrap_or_default();
            format!("refused at {}{rcpt}: {reply} ({reason})", stage.unwrap_or_default())
        }
        EventKind::Checked { disposition, checks, .. } => {
            let decided = deciding_check(*disposition, checks).map(describe_check);
            let by = decided.map(|d| format!(", decided by {d}")).unwrap_or_default();
            format!("checked: {} ({} checks{by})", disposition.name(), checks.len())
        }
        EventKind::Dkim { result, domain, selectors, reason } => match (domain, reason) {
            (Some(domain), _) => format!("DKIM {result} for {domain} (selectors {})", selectors.join(", ")),
            (None, Some(reason)) => format!("DKIM {result}: {reason}"),
            (None, None) => format!("DKIM {result}"),
        },
        EventKind::Queued { size, sender, recipients, .. } => {
            format!("queued: {size} bytes from <{sender}> to {} recipient(s)", recipients.len())
        }
        EventKind::Discarded { rule, recipients, .. } => {
            format!("discarded by list rule {rule} ({} recipient(s))", recipients.len())
        }
        EventKind::Delivery { recipient, result, reply, remote, attempt, destination, .. } => {
            let server = remote.as_deref().unwrap_or(destination);
            let took = duration_ms.map(|ms| format!(", {}.{} s", ms / 1000, (ms % 1000) / 100)).unwrap_or_default();
            format!("{result} to {recipient} by {server}: {reply} (attempt {attempt}{took})")
        }
        EventKind::Dsn { dsn_queue_id, action, to, recipients } => {
            format!("DSN ({action}) for {} recipient(s) queued to <{to}> as {dsn_queue_id}", recipients.len())
        }
        EventKind::Quarantine { action, id, by, detail, .. } => {
            let by = by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let detail = detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            format!("quarantine {action} (held message {id}){by}{detail}")
        }
        EventKind::Behaviour { reason, done, .. } => format!("behaviour: {reason}; {done}"),
        EventKind::Disconnect { messages, duration_ms, reason } => {
            format!("disconnected after {messages} message(s) and {duration_ms} ms ({reason})")
        }
    }
}

/// One stored event as a step.
pub(crate) fn step(event_id: i64, data: &str) -> TimelineStep {
    let value: serde_json::Value = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
    let field = |name: &str| value.get(name);
    let kind_name = field("event").and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
    let parsed = serde_json::from_value::<postern_core::Event>(value.clone()).ok();
    let duration_ms = match parsed.as_ref().map(|e| &e.kind) {
        Some(postern_core::EventKind::Delivery { duration_ms, .. }) => *duration_ms,
        _ => None,
    };
    let (summary, decided_by) = match &parsed {
        Some(e) => {
            let decided = match &e.kind {
                postern_core::EventKind::Checked { disposition, checks, .. } => {
                    deciding_check(*disposition, checks).map(describe_check)
                }
                _ => None,
            };
            (summary(&e.kind, duration_ms), decided)
        }
        None => (format!("{kind_name} (not readable by this version)"), None),
    };
    TimelineStep {
        event_id,
        at_ms: field("at_ms").and_then(|v| v.as_i64()).unwrap_or(0),
        session: field("session").and_then(|v| v.as_u64()).unwrap_or(0),
        client_ip: field("client_ip").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        queue_id: field("queue_id").and_then(|v| v.as_str()).map(str::to_string),
        kind: kind_name,
        summary,
        decided_by,
        duration_ms,
        event: match parsed {
            Some(e) => StepEvent::Known(Box::new(e.kind)),
            None => StepEvent::Stored(value),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_name_the_server_the_reply_and_the_time() {
        let kind = EventKind::Delivery {
            recipient: "bob@example.net".into(),
            result: "delivered".into(),
            status: "2.0.0".into(),
            reply: "250 2.0.0 Ok".into(),
            remote: Some("mx.example.net [192.0.2.7]".into()),
            attempt: 2,
            destination: "example.net".into(),
            duration_ms: Some(1234),
            queued_at_ms: None,
        };
        assert_eq!(
            summary(&kind, Some(1234)),
            "delivered to bob@example.net by mx.example.net [192.0.2.7]: 250 2.0.0 Ok (attempt 2, 1.2 s)"
        );
    }
}
