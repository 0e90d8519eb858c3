//! The quarantine (SPEC.md §5): held messages listed and searched, shown (headers, a
//! sanitised text preview, the verdict trace, the ARF fields), their ARF report, release,
//! delete, confirm as spam, and a domain admin's release requests.
//!
//! In: a row id, filters. Out: rows ([`HeldMessage`]), a detail ([`HeldMessageDetail`]),
//! the report's bytes ([`ArfReport`]), and the actions through [`Quarantine`] (which
//! spools, trains and logs).
//!
//! A domain admin sees only its domains' held messages: any other (and a message with no
//! domain, from a trusted network) is "no such held message", the same answer as a
//! missing one; release is for a superadmin only ([`ErrorKind::Forbidden`] on a domain
//! admin's own message): a domain admin asks for it with [`request_release`], which
//! superadmins see in list and show.
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use std::sync::Arc;

use postern_pipeline::{Quarantine, QuarantineError, arf, quarantine};
use postern_store::{HeldMessage, HeldState, Paged, QuarantineFilter};
use serde::{Deserialize, Serialize};

use crate::page::page;
use crate::{Caller, OpError, Ops, Result, blocking};

/// The most characters of the text preview.
pub const PREVIEW_CHARS: usize = 4000;

/// The largest ARF report answered (a report carries the whole message).
const MAX_ARF: usize = 10 * 1024 * 1024;

/// The longest note of a release request, in characters.
const LONGEST_NOTE: usize = 500;

/// Which held messages to list, newest first; every given filter must match.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    /// The account's domain.
    pub domain: Option<String>,
    /// The account's name (exact).
    pub account: Option<String>,
    /// Part of the identity.
    pub identity: Option<String>,
    /// Part of the envelope sender.
    pub sender: Option<String>,
    /// Part of a recipient.
    pub recipient: Option<String>,
    /// The rule that found spam (exact).
    pub rule: Option<String>,
    /// Held at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Held before (Unix ms).
    pub until_ms: Option<i64>,
    /// held, releasing, released or purging.
    #[param(inline, value_type = Option<HeldState>)]
    pub state: Option<String>,
    /// Page size; 0 or absent: 100.
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A domain admin's request that a superadmin release a message.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// One line for the superadmin.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// A held message with what its bytes show: header fields, a sanitised text preview (at
/// most 4000 characters, control characters removed) and the ARF feedback fields. Once
/// released or being purged the bytes are gone: no headers, `null` preview and ARF.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldMessageDetail {
    #[serde(flatten)]
    pub row: HeldMessage,
    /// Header fields, each `[name, value]`.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub preview: Option<String>,
    /// The feedback-report fields.
    pub arf: Option<String>,
}

/// A message's RFC 5965 abuse report, as sent to the domain's abuse contact.
#[derive(Debug)]
pub struct ArfReport {
    /// The held message's row id.
    pub id: i64,
    /// The report, a whole `message/rfc822`.
    pub bytes: Vec<u8>,
}

/// What an action on a held message did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuarantineResult {
    pub id: i64,
    /// `released`, `deleted`, `confirmed as spam` or `release requested`.
    pub result: &'static str,
    /// Release: the queue id it was spooled under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// Release: who released it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl QuarantineResult {
    fn of(id: i64, result: &'static str) -> QuarantineResult {
        QuarantineResult { id, result, queue_id: None, by: None }
    }
}

fn no_message() -> OpError {
    OpError::not_found("no such held message")
}

fn service(ops: &Ops) -> Result<Arc<Quarantine>> {
    ops.quarantine.clone().ok_or_else(|| OpError::unavailable("the quarantine is not available"))
}

fn failed(e: QuarantineError) -> OpError {
    match e {
        QuarantineError::NotFound => no_message(),
        QuarantineError::Conflict(text) => OpError::conflict(text),
        QuarantineError::Spool(reply) => {
            OpError::unavailable(format!("the spool refused the message, which stays held: {}", reply.summary()))
        }
        QuarantineError::Failed(detail) => OpError::internal(detail),
    }
}

/// The row, if the caller may see it ("no such held message" otherwise).
async fn visible(quarantine: &Quarantine, caller: &Caller, id: i64) -> Result<HeldMessage> {
    let row = quarantine.row(id).await.map_err(failed)?;
    let allowed = match (&row.message.domain, caller.domains()) {
        (_, None) => true,
        (Some(domain), Some(domains)) => domains.iter().any(|d| d == domain),
        (None, Some(_)) => false,
    };
    if allowed { Ok(row) } else { Err(no_message()) }
}

pub async fn list(ops: &Ops, caller: &Caller, q: QuarantineQuery) -> Result<Paged<HeldMessage>> {
    let quarantine = service(ops)?;
    let page = page(q.limit, q.offset)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(text) => Some(HeldState::parse(text).ok_or_else(|| {
            OpError::bad_field("state", format!("{text:?} is not one of held, releasing, released, purging"))
        })?),
    };
    let filter = QuarantineFilter {
        domain: q.domain.map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()),
        account: q.account,
        identity: q.identity,
        sender: q.sender,
        recipient: q.recipient,
        rule: q.rule,
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        state,
    };
    let store = Arc::clone(quarantine.store());
    let scope = caller.scope.clone();
    blocking(move || store.list_held(&scope, &filter, page)).await?.map_err(OpError::from)
}

pub async fn show(ops: &Ops, caller: &Caller, id: i64) -> Result<HeldMessageDetail> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    let hostname = quarantine.hostname().to_string();
    match quarantine.content(row.id).await {
        Ok(content) => {
            let file = content.file;
            blocking(move || {
                let (headers, preview) = quarantine::preview(&file.message, PREVIEW_CHARS);
                let arf = arf::feedback_fields(&hostname, &row, &file, 1);
                HeldMessageDetail { row, headers, preview: Some(preview), arf: Some(arf) }
            })
            .await
        }
        // Released or being purged: the bytes are gone, the row tells the story.
        Err(QuarantineError::Conflict(_)) => {
            Ok(HeldMessageDetail { row, headers: Vec::new(), preview: None, arf: None })
        }
        Err(e) => Err(failed(e)),
    }
}

/// The whole ARF report (RFC 5965) as it is (or would be) sent to the abuse contact.
pub async fn report(ops: &Ops, caller: &Caller, id: i64) -> Result<ArfReport> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    let content = quarantine.content(row.id).await.map_err(failed)?;
    let hostname = quarantine.hostname().to_string();
    let to = match row.message.domain.clone() {
        Some(domain) => {
            let directory = Arc::clone(&ops.directory);
            blocking(move || directory.domain(&domain)).await?.ok().flatten().and_then(|d| d.abuse_contact)
        }
        None => None,
    };
    let bytes = blocking(move || {
        let report = arf::build(&hostname, &content.row, &content.file, 1, &[]);
        report.to_message(&format!("postmaster@{hostname}"), to.as_deref().unwrap_or("undisclosed-recipients:;"))
    })
    .await?;
    if bytes.len() > MAX_ARF {
        return Err(OpError::conflict(format!("the report is larger than {MAX_ARF} bytes; see the message instead")));
    }
    Ok(ArfReport { id: row.id, bytes })
}

/// Superadmin only: spooled for delivery without another scan, exactly once.
pub async fn release(ops: &Ops, caller: &Caller, id: i64) -> Result<QuarantineResult> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    caller.require_superadmin("release a quarantined message")?;
    let queue_id = quarantine.release(row.id, &caller.name).await.map_err(failed)?;
    Ok(QuarantineResult {
        queue_id: Some(queue_id.to_string()),
        by: Some(caller.name.clone()),
        ..QuarantineResult::of(row.id, "released")
    })
}

/// Deletes a held message (not one being released).
pub async fn delete(ops: &Ops, caller: &Caller, id: i64) -> Result<QuarantineResult> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    quarantine.delete(row.id, &caller.name).await.map_err(failed)?;
    Ok(QuarantineResult::of(row.id, "deleted"))
}

/// A spam sample for the trainer; the message stays held until its expiry or a delete.
pub async fn confirm(ops: &Ops, caller: &Caller, id: i64) -> Result<QuarantineResult> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    quarantine.confirm(row.id, &caller.name).await.map_err(failed)?;
    Ok(QuarantineResult::of(row.id, "confirmed as spam"))
}

/// A request that a superadmin release it, with an optional note (one line of at most
/// 500 characters).
pub async fn request_release(ops: &Ops, caller: &Caller, id: i64, input: ReleaseRequest) -> Result<QuarantineResult> {
    let quarantine = service(ops)?;
    let row = visible(&quarantine, caller, id).await?;
    let note = input.note;
    if let Some(note) = &note
        && (note.chars().count() > LONGEST_NOTE || note.chars().any(char::is_control))
    {
        return Err(OpError::bad_field("note", "one line of at most 500 characters"));
    }
    quarantine.request_release(row.id, &caller.name, note).await.map_err(failed)?;
    Ok(QuarantineResult::of(row.id, "release requested"))
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    #[tokio::test]
    async fn a_domain_admin_is_forbidden_to_release_only_what_it_may_see() {
        let t = TestOps::new();
        let mine = t.hold_message("a.example", "sender@a.example").await;
        let theirs = t.hold_message("b.example", "sender@b.example").await;
        let a = caller(Role::DomainAdmin, &["a.example"]);
        let own = release(&t.ops, &a, mine).await.unwrap_err();
        assert_eq!(
            (own.kind, own.message.as_str()),
            (ErrorKind::Forbidden, "only a superadmin may release a quarantined message")
        );
        for id in [theirs, 987_654] {
            let e = release(&t.ops, &a, id).await.unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such held message"), "{id}");
            assert_eq!(show(&t.ops, &a, id).await.unwrap_err(), e, "{id}");
            assert_eq!(report(&t.ops, &a, id).await.unwrap_err(), e, "{id}");
            assert_eq!(confirm(&t.ops, &a, id).await.unwrap_err(), e, "{id}");
            assert_eq!(request_release(&t.ops, &a, id, ReleaseRequest::default()).await.unwrap_err(), e, "{id}");
        }
        let listed = list(&t.ops, &a, QuarantineQuery::default()).await.unwrap();
        assert_eq!(listed.items.iter().map(|m| m.id).collect::<Vec<_>>(), [mine]);

        let asked = ReleaseRequest { note: Some("a customer's invoice".into()) };
        assert_eq!(request_release(&t.ops, &a, mine, asked).await.unwrap().result, "release requested");
        let root = caller(Role::Superadmin, &[]);
        let detail = show(&t.ops, &root, mine).await.unwrap();
        assert_eq!(detail.row.release_requested_by.as_deref(), Some("tenant"));
        assert!(detail.preview.is_some_and(|p| p.contains("Buy now")));
        let released = release(&t.ops, &root, mine).await.unwrap();
        assert_eq!((released.result, released.by.as_deref()), ("released", Some("root")));
        let gone = show(&t.ops, &root, mine).await.unwrap();
        assert_eq!((gone.row.state, gone.preview, gone.headers.len()), (HeldState::Released, None, 0));
        assert_eq!(show(&t.ops, &root, theirs).await.unwrap().row.state, HeldState::Held, "untouched");
    }
}
