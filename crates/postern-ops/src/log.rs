//! Log search: messages (and refusals) by domain, time and filters, and one message's
//! timeline (docs/LOG_SEARCH.md).
//!
//! In: the caller and a [`LogSearchQuery`] (query-string text, checked here), or a key
//! (queue id, Message-ID, or a row id for a refusal without a queue id). Out: a
//! [`LogPage`] (newest first, with the cursor of the next page) or a [`Timeline`].
//!
//! A domain admin sees the rows whose account domain or sender domain is one of its
//! domains, whatever it filters on; any other message is "no such message", exactly like
//! one that does not exist. Defends against: malformed filters (each refused naming its
//! field), unbounded text (filters of at most [`MAX_FILTER`] characters) and pages (at
//! most [`postern_store::log::MAX_PAGE`] rows).

use postern_core::tenancy::normalize_domain;
use postern_core::{QueueId, Stage};
use postern_store::log::{MAX_PAGE, message_key};
use postern_store::{LogCursor, LogPage, LogQuery, MessageKey, MessageStatus, Timeline};
use serde::Deserialize;

use crate::{Caller, OpError, Ops, Result, blocking};

/// The longest text filter.
pub const MAX_FILTER: usize = 998;
/// The default time range: the last hour.
pub const DEFAULT_RANGE_MS: i64 = 3_600_000;

/// What to search for; every filter given must match.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogSearchQuery {
    /// The account's domain or the sender's domain (a message is found under both).
    pub domain: Option<String>,
    /// Messages that arrived at or after this time (RFC 3339). Default: an hour ago, or no
    /// bound when `queue_id` or `message_id` is given.
    pub since: Option<String>,
    /// Messages that arrived at or before this time (RFC 3339). Default: now.
    pub until: Option<String>,
    /// The envelope sender (the whole address, any case).
    pub sender: Option<String>,
    /// One of the recipients (the whole address, any case).
    pub recipient: Option<String>,
    pub identity: Option<String>,
    /// The account's name.
    pub account: Option<String>,
    pub client_ip: Option<String>,
    /// received, quarantined, rejected, discarded, queued, deferred, delivered, bounced or expired.
    pub status: Option<String>,
    /// Where a rejected message was refused: connect, helo, tls, auth, mail, rcpt, data, bdat, queue, command.
    pub stage: Option<String>,
    pub queue_id: Option<String>,
    /// With or without its angle brackets.
    pub message_id: Option<String>,
    /// Part of the subject.
    pub subject: Option<String>,
    /// Part of the rule that decided (GTUBE, a refusal's reason, `list rule 12`).
    pub rule: Option<String>,
    /// Rows per page (0: 50; at most 500).
    #[serde(default)]
    pub limit: u32,
    /// The previous page's `next`.
    pub before: Option<String>,
}

fn service(ops: &Ops) -> Result<std::sync::Arc<dyn postern_store::LogSearch>> {
    ops.log.clone().ok_or_else(|| OpError::unavailable("log search is not available"))
}

fn no_message() -> OpError {
    OpError::not_found("no such message")
}

/// One page of the rows the caller may see, newest first.
pub async fn search(ops: &Ops, caller: &Caller, q: LogSearchQuery) -> Result<LogPage> {
    let store = service(ops)?;
    let query = checked(q, postern_core::event::now_ms())?;
    let scope = caller.scope.clone();
    blocking(move || store.search(&scope, &query)).await?.map_err(OpError::from)
}

/// A message's row and its events, by queue id, Message-ID or row id.
pub async fn show(ops: &Ops, caller: &Caller, key: &str) -> Result<Timeline> {
    let store = service(ops)?;
    let key = MessageKey::parse(key).ok_or_else(no_message)?;
    let scope = caller.scope.clone();
    blocking(move || store.timeline(&scope, &key)).await?.map_err(OpError::from)?.ok_or_else(no_message)
}

/// The query as the store takes it, every field checked; `now_ms` sets the default range.
pub fn checked(q: LogSearchQuery, now_ms: i64) -> Result<LogQuery> {
    if q.limit > MAX_PAGE {
        return Err(OpError::bad_field("limit", format!("at most {MAX_PAGE} rows per page")));
    }
    let by_id = q.queue_id.is_some() || q.message_id.is_some();
    let since = q.since.as_deref().map(|t| time("since", t)).transpose()?;
    let until = q.until.as_deref().map(|t| time("until", t)).transpose()?;
    let since = since.or((!by_id).then(|| until.unwrap_or(now_ms) - DEFAULT_RANGE_MS));
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(OpError::bad_field("until", "is before since"));
    }
    let domain = q.domain.as_deref().map(|d| normalize_domain(d).map_err(|e| OpError::bad_field("domain", e)));
    let status = q.status.as_deref().map(|s| {
        MessageStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.name()).collect();
            OpError::bad_field("status", format!("{s:?} is not one of {}", all.join(", ")))
        })
    });
    let stage = q.stage.as_deref().map(|s| {
        serde_json::from_value::<Stage>(serde_json::Value::String(s.to_string()))
            .map_err(|_| OpError::bad_field("stage", format!("{s:?} is not a stage such as rcpt or data")))
    });
    let queue_id = q.queue_id.as_deref().map(|id| {
        QueueId::parse(&id.trim().to_ascii_uppercase())
            .ok_or_else(|| OpError::bad_field("queue_id", format!("{id:?} is not a queue id (20 hex digits)")))
    });
    let client_ip = q.client_ip.as_deref().map(|ip| {
        ip.trim().parse().map_err(|_| OpError::bad_field("client_ip", format!("{ip:?} is not an IP address")))
    });
    let before = q
        .before
        .as_deref()
        .map(|c| LogCursor::parse(c).ok_or_else(|| OpError::bad_field("before", "not a cursor from a page's next")));
    if let Some(m) = &q.message_id
        && message_key(m).is_none()
    {
        return Err(OpError::bad_field("message_id", "empty or longer than 998 characters"));
    }
    Ok(LogQuery {
        domain: domain.transpose()?,
        since_ms: since,
        until_ms: until,
        sender: text("sender", q.sender)?,
        recipient: text("recipient", q.recipient)?,
        identity: text("identity", q.identity)?,
        account: text("account", q.account)?,
        client_ip: client_ip.transpose()?,
        status: status.transpose()?,
        stage: stage.transpose()?,
        queue_id: queue_id.transpose()?,
        message_id: q.message_id,
        subject: text("subject", q.subject)?,
        rule: text("rule", q.rule)?,
        limit: q.limit,
        before: before.transpose()?,
    })
}

/// An RFC 3339 time as Unix milliseconds.
fn time(field: &str, text: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).map(|t| t.timestamp_millis()).map_err(|_| {
        OpError::bad_field(field, format!("{text:?} is not an RFC 3339 time such as 2025-01-31T00:00:00Z"))
    })
}

/// A text filter: not empty, at most [`MAX_FILTER`] characters, no control characters.
fn text(field: &str, value: Option<String>) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_FILTER || trimmed.chars().any(char::is_control) {
        return Err(OpError::bad_field(field, format!("must be 1 to {MAX_FILTER} printable characters")));
    }
    Ok(Some(trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const NOW: i64 = 1_767_225_600_000;

    fn field(q: LogSearchQuery) -> Option<String> {
        match checked(q, NOW) {
            Err(e) if e.kind == ErrorKind::BadInput => e.field,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn the_range_defaults_to_the_last_hour_unless_an_id_is_given() {
        let q = checked(LogSearchQuery::default(), NOW).unwrap();
        assert_eq!((q.since_ms, q.until_ms), (Some(NOW - DEFAULT_RANGE_MS), None));
        let until = LogSearchQuery { until: Some("2026-01-01T00:00:00Z".into()), ..LogSearchQuery::default() };
        assert_eq!(checked(until, NOW).unwrap().since_ms, Some(NOW - DEFAULT_RANGE_MS));
        let by_id = LogSearchQuery { queue_id: Some(QueueId::generate().to_string()), ..LogSearchQuery::default() };
        assert_eq!(checked(by_id, NOW).unwrap().since_ms, None);
        let q = LogSearchQuery {
            domain: Some("Example.COM".into()),
            since: Some("2025-12-31T23:00:00+00:00".into()),
            status: Some("rejected".into()),
            stage: Some("rcpt".into()),
            client_ip: Some("2001:db8::1".into()),
            message_id: Some("<a@b>".into()),
            before: Some("5.7".into()),
            ..LogSearchQuery::default()
        };
        let q = checked(q, NOW).unwrap();
        assert_eq!((q.domain.as_deref(), q.since_ms), (Some("example.com"), Some(NOW - DEFAULT_RANGE_MS)));
        assert_eq!((q.status, q.stage), (Some(MessageStatus::Rejected), Some(Stage::Rcpt)));
        assert_eq!(q.before, Some(LogCursor { first_at_ms: 5, id: 7 }));
    }

    #[test]
    fn each_bad_filter_is_named() {
        let q = || LogSearchQuery::default();
        assert_eq!(field(LogSearchQuery { limit: 501, ..q() }).as_deref(), Some("limit"));
        assert_eq!(field(LogSearchQuery { since: Some("yesterday".into()), ..q() }).as_deref(), Some("since"));
        let backwards = LogSearchQuery {
            since: Some("2026-01-02T00:00:00Z".into()),
            until: Some("2026-01-01T00:00:00Z".into()),
            ..q()
        };
        assert_eq!(field(backwards).as_deref(), Some("until"));
        assert_eq!(field(LogSearchQuery { domain: Some("not a domain".into()), ..q() }).as_deref(), Some("domain"));
        assert_eq!(field(LogSearchQuery { status: Some("lost".into()), ..q() }).as_deref(), Some("status"));
        assert_eq!(field(LogSearchQuery { stage: Some("dinner".into()), ..q() }).as_deref(), Some("stage"));
        assert_eq!(field(LogSearchQuery { queue_id: Some("../../x".into()), ..q() }).as_deref(), Some("queue_id"));
        assert_eq!(field(LogSearchQuery { client_ip: Some("host".into()), ..q() }).as_deref(), Some("client_ip"));
        assert_eq!(field(LogSearchQuery { before: Some("1;DROP".into()), ..q() }).as_deref(), Some("before"));
        assert_eq!(field(LogSearchQuery { message_id: Some("<>".into()), ..q() }).as_deref(), Some("message_id"));
        assert_eq!(field(LogSearchQuery { sender: Some(" ".into()), ..q() }).as_deref(), Some("sender"));
        assert_eq!(field(LogSearchQuery { subject: Some("x".repeat(999)), ..q() }).as_deref(), Some("subject"));
        assert_eq!(field(LogSearchQuery { rule: Some("a\nb".into()), ..q() }).as_deref(), Some("rule"));
    }
}
