//! Queue tools: list (with filters), show, retry (one or all), hold, release, delete, and
//! a message's content (headers and body as spooled, at most [`MAX_CONTENT`] bytes).
//!
//! A domain admin sees only the messages that belong to its domains (the account's or the
//! sender's domain, [`Envelope::belongs_to_any`]); any other message is "no such message"
//! and absent from lists, and "retry all" retries only its own.
//!
//! [`Envelope::belongs_to_any`]: postern_core::Envelope::belongs_to_any

use postern_core::QueueId;
use postern_queue::{QUEUE_STATES, QueueEntry, QueueFilter, QueueManager};
use serde::{Deserialize, Serialize};

use crate::{Caller, OpError, Ops, Result, blocking};

/// The most of a message's bytes [`content`] returns; a longer message is cut there and
/// the result says so.
pub const MAX_CONTENT: usize = 10 * 1024 * 1024;

/// Which queued messages to list; every given filter must match.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Envelope sender.
    pub sender: Option<String>,
    /// One of the recipients.
    pub recipient: Option<String>,
    /// The sender's or a recipient's domain.
    pub domain: Option<String>,
    /// Queue state.
    #[param(schema_with = postern_queue::queue_state_schema)]
    pub state: Option<String>,
    /// At most this many; 0 or absent: 1000.
    #[serde(default)]
    pub limit: usize,
}

/// What an action on one message did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueResult {
    pub queue_id: String,
    /// `retry scheduled`, `held`, `released` or `deleted`.
    pub result: &'static str,
}

/// How many messages "retry all" made due.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueRetried {
    pub retried: usize,
}

/// A message's bytes as spooled (cut at [`MAX_CONTENT`]) and its whole size.
#[derive(Debug)]
pub struct MessageContent {
    pub bytes: Vec<u8>,
    /// The whole message's size, in bytes.
    pub size: usize,
    /// Whether `bytes` is cut short.
    pub truncated: bool,
}

/// An action on one queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    Retry,
    Hold,
    Release,
    Delete,
}

fn no_message() -> OpError {
    OpError::not_found("no such message")
}

/// The queue id, if such a message is queued and the caller may see it.
async fn visible_message(queue: &QueueManager, caller: &Caller, text: &str) -> Result<QueueId> {
    let id = QueueId::parse(text).ok_or_else(no_message)?;
    let Some(domains) = caller.domains().map(<[String]>::to_vec) else { return Ok(id) };
    let queue = queue.clone();
    let envelope = blocking(move || queue.envelope(id)).await?;
    match envelope {
        Some(e) if e.belongs_to_any(&domains) => Ok(id),
        _ => Err(no_message()),
    }
}

pub async fn list(ops: &Ops, caller: &Caller, q: QueueQuery) -> Result<Vec<QueueEntry>> {
    if let Some(s) = &q.state
        && !QUEUE_STATES.contains(&s.as_str())
    {
        return Err(OpError::bad_field("state", format!("{s:?} is not one of {}", QUEUE_STATES.join(", "))));
    }
    let filter = QueueFilter {
        sender: q.sender,
        recipient: q.recipient,
        domain: q.domain,
        state: q.state,
        limit: q.limit,
        scope: caller.domains().map(<[String]>::to_vec),
    };
    let queue = ops.queue.clone();
    blocking(move || queue.list(&filter)).await
}

pub async fn show(ops: &Ops, caller: &Caller, id: &str) -> Result<QueueEntry> {
    let id = visible_message(&ops.queue, caller, id).await?;
    let queue = ops.queue.clone();
    blocking(move || queue.show(id)).await?.ok_or_else(no_message)
}

/// The message as spooled (our `Received:` and DKIM headers included).
pub async fn content(ops: &Ops, caller: &Caller, id: &str) -> Result<MessageContent> {
    let id = visible_message(&ops.queue, caller, id).await?;
    let queue = ops.queue.clone();
    let (_, mut bytes) = blocking(move || queue.content(id)).await?.ok_or_else(no_message)?;
    let size = bytes.len();
    let truncated = size > MAX_CONTENT;
    bytes.truncate(MAX_CONTENT);
    Ok(MessageContent { bytes, size, truncated })
}

/// Retries, holds, releases or deletes (without a DSN) one message.
pub async fn act(ops: &Ops, caller: &Caller, id: &str, action: QueueAction) -> Result<QueueResult> {
    let id = visible_message(&ops.queue, caller, id).await?;
    let queue = ops.queue.clone();
    let (done, result) = match action {
        QueueAction::Retry => (blocking(move || queue.retry(id)).await?, "retry scheduled"),
        QueueAction::Hold => (blocking(move || queue.hold(id)).await?, "held"),
        QueueAction::Release => (blocking(move || queue.release(id)).await?, "released"),
        QueueAction::Delete => (blocking(move || queue.delete(id)).await?, "deleted"),
    };
    if done {
        Ok(QueueResult { queue_id: id.to_string(), result })
    } else {
        Err(OpError::not_found("no such message, or not in a state that allows this"))
    }
}

/// Every message not on hold is due now; a domain admin's only.
pub async fn retry_all(ops: &Ops, caller: &Caller) -> Result<QueueRetried> {
    let queue = ops.queue.clone();
    let retried = match caller.domains().map(<[String]>::to_vec) {
        None => blocking(move || queue.retry_all()).await?,
        Some(domains) => {
            blocking(move || {
                let filter = QueueFilter { scope: Some(domains), limit: usize::MAX, ..QueueFilter::default() };
                queue.list(&filter).iter().filter(|e| e.state != "held").filter(|e| queue.retry(e.queue_id)).count()
            })
            .await?
        }
    };
    Ok(QueueRetried { retried })
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    #[tokio::test]
    async fn another_tenants_message_is_no_such_message() {
        let t = TestOps::new();
        let mine = t.queue_message("a.example", "sender@a.example").await.to_string();
        let theirs = t.queue_message("b.example", "sender@b.example").await.to_string();
        let ghost = QueueId::generate().to_string();
        let a = caller(Role::DomainAdmin, &["a.example"]);
        for id in [theirs.as_str(), ghost.as_str(), "not-an-id"] {
            let e = show(&t.ops, &a, id).await.unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such message"), "{id}");
            assert_eq!(content(&t.ops, &a, id).await.unwrap_err(), e, "{id}");
            assert_eq!(act(&t.ops, &a, id, QueueAction::Delete).await.unwrap_err(), e, "{id}");
        }
        let listed = list(&t.ops, &a, QueueQuery::default()).await.unwrap();
        assert_eq!(listed.iter().map(|e| e.queue_id.to_string()).collect::<Vec<_>>(), [mine.as_str()]);
        assert_eq!(retry_all(&t.ops, &a).await.unwrap().retried, 1, "only its own");
        let held = act(&t.ops, &a, &mine, QueueAction::Hold).await.unwrap();
        assert_eq!(held.result, "held");
        let root = caller(Role::Superadmin, &[]);
        assert_eq!(show(&t.ops, &root, &theirs).await.unwrap().state, "incoming", "untouched");
        let bad = list(&t.ops, &root, QueueQuery { state: Some("lost".into()), ..Default::default() }).await;
        assert_eq!(bad.unwrap_err().field.as_deref(), Some("state"));
    }
}
