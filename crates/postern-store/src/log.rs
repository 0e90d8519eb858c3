//! Log search: one summary row per message, kept up to date as events are stored, and each
//! message's timeline of events ([`LogSearch`]).
//!
//! In: a caller's [`Scope`] and a [`LogQuery`] (filters, a time range, a page size and a
//! cursor), or a [`MessageKey`]. Out: [`LogPage`]s of [`LogMessage`]s, newest first,
//! and [`Timeline`]s. A row is found by the time its message arrived (its first event) and
//! shows its current status and last activity. The rows are written by the event store in the same transaction as
//! the events (`sqlite/log_ingest.rs`), so a search never reads the event log.
//!
//! What a row is: a message with a queue id (received, quarantined, rejected at the end of
//! data, discarded, queued and delivered...), or one refusal that never got one (a refused
//! connection, sender or recipient, a message refused before the pipeline): one row per
//! `refused` event. A message is found under its account's domain and its sender's domain;
//! a domain admin's scope sees a row when either is one of its domains, and nothing else.
//! Statuses and their transitions are in [`crate::log_state`].
//!
//! Defends against: unbounded answers (pages of at most [`MAX_PAGE`] rows, at most
//! [`MAX_LISTED_RECIPIENTS`] recipients listed per row, timelines of at most
//! [`MAX_STEPS`] events), a scope leaking rows (every query, the timeline included, is
//! restricted in SQL), and cursors that are not ours (parsed strictly).

use serde::Serialize;

use crate::Result;
use crate::directory::Scope;
pub use crate::log_state::MessageStatus;

/// The most rows in one page.
pub const MAX_PAGE: u32 = 500;
/// Rows in a page when the query does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// The most recipients a row lists (`recipient_count` says how many there are).
pub const MAX_LISTED_RECIPIENTS: usize = 20;
/// The most events in one timeline.
pub const MAX_STEPS: usize = 1000;

/// What to search for. Every filter given must match; text filters are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// The account's domain or the sender's domain.
    pub domain: Option<String>,
    /// Messages that arrived (first event) at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Messages that arrived at or before this time.
    pub until_ms: Option<i64>,
    /// The envelope sender (the whole address).
    pub sender: Option<String>,
    /// One of the recipients (the whole address).
    pub recipient: Option<String>,
    pub identity: Option<String>,
    /// The account's name.
    pub account: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
    pub status: Option<MessageStatus>,
    /// Where a rejected message was refused (`connect`, `mail`, `rcpt`, `data`...).
    pub stage: Option<postern_core::Stage>,
    pub queue_id: Option<postern_core::QueueId>,
    /// The Message-ID, with or without its angle brackets.
    pub message_id: Option<String>,
    /// Part of the subject.
    pub subject: Option<String>,
    /// Part of the rule that decided (a check's rule, a refusal's reason, a list rule).
    pub rule: Option<String>,
    /// Rows per page: 0 means [`DEFAULT_PAGE`]; at most [`MAX_PAGE`].
    pub limit: u32,
    /// The page after this cursor (from the previous page's `next`).
    pub before: Option<LogCursor>,
}

impl LogQuery {
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        }
    }
}

/// Where a page ended: the last row's (arrival, id). Pages are ordered by both, newest
/// first; neither changes once a row is made, so a page never repeats or skips a row
/// while later events change the rows' status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    pub first_at_ms: i64,
    pub id: i64,
}

impl LogCursor {
    /// `FIRST_AT_MS.ID`, both decimal, as [`std::fmt::Display`] writes it.
    pub fn parse(text: &str) -> Option<LogCursor> {
        let (at, id) = text.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(at) || !digits(id) {
            return None;
        }
        Some(LogCursor { first_at_ms: at.parse().ok()?, id: id.parse().ok()? })
    }
}

impl std::fmt::Display for LogCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.first_at_ms, self.id)
    }
}

/// How many recipients are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecipientCounts {
    /// Queued, not tried yet.
    pub pending: u32,
    pub deferred: u32,
    pub delivered: u32,
    pub bounced: u32,
    pub expired: u32,
}

/// One row: a message, or a refusal that never got a queue id.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogMessage {
    /// The row's id (a refusal without a queue id is shown by it).
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
    pub status: MessageStatus,
    /// Where a rejected message was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The rule that decided: the deciding check's rule, the refusal's reason, the list rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The last reply: the refusal the client heard, or the last delivery attempt's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The SMTP session (0: none known) and the client's address.
    pub session: u64,
    pub client_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The envelope sender (lower case; empty: the null sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The first [`MAX_LISTED_RECIPIENTS`] recipients (lower case).
    pub recipients: Vec<String>,
    pub recipient_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub counts: RecipientCounts,
    /// Delivery attempts, one per recipient tried.
    pub attempts: u32,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub items: Vec<LogMessage>,
    pub limit: u32,
    /// The cursor of the next page (`before`), when this one was full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// How a timeline names its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKey {
    QueueId(postern_core::QueueId),
    /// A Message-ID (angle brackets optional): the newest row that has it.
    MessageId(String),
    /// A row id, for a refusal without a queue id.
    Row(i64),
}

impl MessageKey {
    /// A queue id (20 hex digits), a row id (digits), or else a Message-ID.
    pub fn parse(text: &str) -> Option<MessageKey> {
        let text = text.trim();
        if let Some(id) = postern_core::QueueId::parse(&text.to_ascii_uppercase()) {
            return Some(MessageKey::QueueId(id));
        }
        if !text.is_empty() && text.len() < 19 && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().map(MessageKey::Row);
        }
        let bare = message_key(text)?;
        Some(MessageKey::MessageId(bare))
    }
}

/// A Message-ID as rows index it: trimmed, without its angle brackets, lower case (two
/// Message-IDs differing only in case are taken as one); `None` when empty or longer
/// than 998 characters.
pub fn message_key(text: &str) -> Option<String> {
    let text = text.trim();
    let bare = text.strip_prefix('<').unwrap_or(text);
    let bare = bare.strip_suffix('>').unwrap_or(bare).trim();
    (!bare.is_empty() && bare.chars().count() <= 998).then(|| bare.to_lowercase())
}

/// A message's row and its events in order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    pub message: LogMessage,
    pub steps: Vec<TimelineStep>,
    /// True when there were more than [`MAX_STEPS`] events (the first ones are given).
    pub truncated: bool,
}

/// One event of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineStep {
    pub event_id: i64,
    pub at_ms: i64,
    pub session: u64,
    pub client_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The event's kind: `connect`, `tls`, `auth`, `checked`, `delivery`...
    pub kind: String,
    /// One line for people.
    pub summary: String,
    /// For `checked`: the check that decided and its rule (`content/gtube: spam (GTUBE)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// For `delivery`: how long the attempt took, when the event says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The event's fields (`event` names the kind), as the event log stores them.
    #[schema(value_type = Object)]
    pub event: StepEvent,
}

/// An event of a timeline: typed, or as stored when this binary cannot read it (a kind a
/// newer version wrote).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StepEvent {
    Known(Box<postern_core::EventKind>),
    Stored(serde_json::Value),
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub messages: u64,
}

/// What happened in one hour, counted as the events are stored (the dashboard's charts).
/// Messages: `received` (queued for delivery), `refused` (refused transactions and
/// messages), `quarantined`, `discarded`, `checked` (went through the content checks) and
/// `spam` (of those, judged spam or blocked by a check). Recipients: `delivered`,
/// `deferred` (attempts), `bounced` (bounced or expired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HourCounts {
    /// The hour's start (Unix ms).
    pub hour_ms: i64,
    pub received: u64,
    pub refused: u64,
    pub quarantined: u64,
    pub discarded: u64,
    pub checked: u64,
    pub spam: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
}

impl HourCounts {
    pub const HOUR_MS: i64 = 3_600_000;

    /// Adds `other`'s counts (not its hour).
    pub fn add(&mut self, other: &HourCounts) {
        self.received += other.received;
        self.refused += other.refused;
        self.quarantined += other.quarantined;
        self.discarded += other.discarded;
        self.checked += other.checked;
        self.spam += other.spam;
        self.delivered += other.delivered;
        self.deferred += other.deferred;
        self.bounced += other.bounced;
    }
}

/// Who sent: an account or an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    Account,
    Identity,
}

/// One of the top senders: a name and how many messages arrived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SenderCount {
    pub name: String,
    pub messages: u64,
}

/// The most messages a top-senders count reads: beyond it, the count is of the newest.
pub const MAX_TOP_SENDERS_ROWS: u32 = 200_000;

/// Log search over the summary rows and the event log, one trait for every backend.
pub trait LogSearch: Send + Sync + 'static {
    /// Every hour in `[from_ms, to_ms)` that had activity in `scope`, oldest first. A
    /// domain admin's hours count what was under its domains (account's or sender's).
    fn hourly(&self, scope: &Scope, from_ms: i64, to_ms: i64) -> Result<Vec<HourCounts>>;

    /// The `limit` accounts or identities with the most messages arrived since `since_ms`
    /// in `scope`, most first (counted over at most [`MAX_TOP_SENDERS_ROWS`] messages).
    fn top_senders(&self, scope: &Scope, since_ms: i64, by: SenderKind, limit: u32) -> Result<Vec<SenderCount>>;

    /// One page of rows in `scope` matching `query`, newest arrival first.
    fn search(&self, scope: &Scope, query: &LogQuery) -> Result<LogPage>;

    /// The row `key` names and its events, or `None` when there is none in `scope`.
    fn timeline(&self, scope: &Scope, key: &MessageKey) -> Result<Option<Timeline>>;

    /// Removes up to `batch` events older than `before_ms` and up to `batch` rows of
    /// messages that arrived before it, in one short transaction. Callers repeat while a
    /// count equals `batch`.
    fn purge_batch(&self, before_ms: i64, batch: u32) -> Result<Purged>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = LogCursor { first_at_ms: 1_700_000_000_123, id: 42 };
        assert_eq!(LogCursor::parse(&c.to_string()), Some(c));
        for bad in ["", "1", "1.", ".1", "-1.2", "1.2.3", "1.x", "99999999999999999999.1", "1 .2"] {
            assert_eq!(LogCursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_tell_queue_ids_rows_and_message_ids_apart() {
        let q = postern_core::QueueId::generate();
        assert_eq!(MessageKey::parse(&q.to_string()), Some(MessageKey::QueueId(q)));
        assert_eq!(MessageKey::parse(&q.to_string().to_lowercase()), Some(MessageKey::QueueId(q)));
        assert_eq!(MessageKey::parse("123"), Some(MessageKey::Row(123)));
        assert_eq!(MessageKey::parse("<a.B@c>"), Some(MessageKey::MessageId("a.b@c".into())));
        assert_eq!(MessageKey::parse(" a@c "), Some(MessageKey::MessageId("a@c".into())));
        assert_eq!(MessageKey::parse("<>"), None);
        assert_eq!(MessageKey::parse(&"x".repeat(1000)), None);
    }

    #[test]
    fn page_sizes_are_bounded() {
        let q = |limit| LogQuery { limit, ..LogQuery::default() };
        assert_eq!((q(0).effective_limit(), q(7).effective_limit(), q(10_000).effective_limit()), (50, 7, MAX_PAGE));
    }
}
