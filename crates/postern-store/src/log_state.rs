//! What a message's summary row says, as pure functions over what happened to it: its
//! phase (how far it got), its status (what the log search shows), the per-recipient
//! delivery states, and the check that decided.
//!
//! In: the row's phase and counts, and the event being stored. Out: the next phase and
//! the status. The store calls these inside the event batch's transaction.
//!
//! # Statuses
//! - `rejected`: refused, with the stage (`connect`, `helo`, `mail`, `rcpt`, `data`,
//!   `queue`...); one row per refusal without a queue id, or the message the pipeline
//!   refused at the end of data. `discarded`: a block list rule discarded it, or an
//!   administrator deleted it from the quarantine. `quarantined`: held (released: it goes
//!   on as `queued`; expired in the quarantine: `expired`).
//! - `received`: accepted at the end of data, not spooled yet (for an instant).
//! - Once spooled, the recipients decide: any recipient still `deferred` → `deferred`;
//!   else any not tried yet → `queued`; else any `expired` → `expired`; else any `bounced`
//!   → `bounced`; else `delivered`. So a partly delivered message is `bounced` (or
//!   `expired`) when a recipient failed for good, and its counts say how many got it.

use postern_core::{CheckRecord, Disposition};
use serde::{Deserialize, Serialize};

use crate::log::RecipientCounts;

/// A row's status, as searched and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Received,
    Quarantined,
    Rejected,
    Discarded,
    Queued,
    Deferred,
    Delivered,
    Bounced,
    Expired,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 9] = [
        MessageStatus::Received,
        MessageStatus::Quarantined,
        MessageStatus::Rejected,
        MessageStatus::Discarded,
        MessageStatus::Queued,
        MessageStatus::Deferred,
        MessageStatus::Delivered,
        MessageStatus::Bounced,
        MessageStatus::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Quarantined => "quarantined",
            MessageStatus::Rejected => "rejected",
            MessageStatus::Discarded => "discarded",
            MessageStatus::Queued => "queued",
            MessageStatus::Deferred => "deferred",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.name() == text)
    }
}

/// How far a message got; stored in the row, the status is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A row just made (by a delivery or DSN event that came first, or about to be set).
    New,
    Received,
    Queued,
    Rejected,
    Discarded,
    Quarantined,
    /// Deleted from the quarantine by an administrator.
    Deleted,
    /// Expired in the quarantine.
    Purged,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::Received => "received",
            Phase::Queued => "queued",
            Phase::Rejected => "rejected",
            Phase::Discarded => "discarded",
            Phase::Quarantined => "quarantined",
            Phase::Deleted => "deleted",
            Phase::Purged => "purged",
        }
    }

    /// An unknown name (a newer version's) reads as `Queued`: its deliveries still count.
    pub(crate) fn parse(text: &str) -> Phase {
        [
            Phase::New,
            Phase::Received,
            Phase::Queued,
            Phase::Rejected,
            Phase::Discarded,
            Phase::Quarantined,
            Phase::Deleted,
            Phase::Purged,
        ]
        .into_iter()
        .find(|p| p.name() == text)
        .unwrap_or(Phase::Queued)
    }
}

/// What an event says happened to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Happened {
    /// The pipeline's verdict (`checked`).
    Checked(Disposition),
    /// Spooled (`queued`).
    Queued,
    /// A block list rule discarded it (`discarded`).
    Discarded,
    /// A delivery attempt for a recipient, or a DSN about it: it is in the queue.
    Delivery,
    Released,
    Deleted,
    Purged,
}

/// The phase after `happened`. Events of one message can arrive out of order (the
/// scheduler may report a delivery before the session's `queued` event is stored), so a
/// phase never moves back: `queued` never becomes `received` again.
pub(crate) fn next_phase(current: Phase, happened: Happened) -> Phase {
    use Phase as P;
    match (current, happened) {
        (P::New, Happened::Checked(Disposition::Deliver)) => P::Received,
        (P::New | P::Received, Happened::Checked(Disposition::Reject)) => P::Rejected,
        (P::New | P::Received, Happened::Checked(Disposition::Quarantine)) => P::Quarantined,
        (P::New | P::Received, Happened::Checked(Disposition::Discard) | Happened::Discarded) => P::Discarded,
        (P::New | P::Received, Happened::Queued | Happened::Delivery) => P::Queued,
        (P::New | P::Quarantined, Happened::Released) => P::Queued,
        // A release spools the held message: its deliveries may be stored before the
        // `released` event.
        (P::Quarantined, Happened::Delivery) => P::Queued,
        (P::Quarantined, Happened::Deleted) => P::Deleted,
        (P::Quarantined, Happened::Purged) => P::Purged,
        (current, _) => current,
    }
}

/// The status a row shows.
pub(crate) fn status(phase: Phase, counts: &RecipientCounts) -> MessageStatus {
    match phase {
        Phase::New | Phase::Received => MessageStatus::Received,
        Phase::Rejected => MessageStatus::Rejected,
        Phase::Discarded | Phase::Deleted => MessageStatus::Discarded,
        Phase::Quarantined => MessageStatus::Quarantined,
        Phase::Purged => MessageStatus::Expired,
        Phase::Queued if counts.deferred > 0 => MessageStatus::Deferred,
        Phase::Queued if counts.pending > 0 => MessageStatus::Queued,
        Phase::Queued if counts.expired > 0 => MessageStatus::Expired,
        Phase::Queued if counts.bounced > 0 => MessageStatus::Bounced,
        Phase::Queued if counts.delivered > 0 => MessageStatus::Delivered,
        Phase::Queued => MessageStatus::Queued,
    }
}

/// A recipient's state after a delivery event's `result`; `None` for a result this
/// version does not know (the recipient keeps its state).
pub(crate) fn recipient_state(result: &str) -> Option<&'static str> {
    match result {
        "delivered" => Some("delivered"),
        "deferred" => Some("deferred"),
        "bounced" => Some("bounced"),
        "expired" => Some("expired"),
        _ => None,
    }
}

/// The check that decided a verdict: the first that refused, found spam or blocked; for a
/// refusal without one, the first that failed (an engine with `on_failure = tempfail`).
pub(crate) fn deciding_check(disposition: Disposition, checks: &[CheckRecord]) -> Option<&CheckRecord> {
    let decided = checks.iter().find(|c| matches!(c.result.as_str(), "refuse" | "spam" | "blocked"));
    match decided {
        Some(check) => Some(check),
        None if disposition == Disposition::Reject => checks.iter().find(|c| c.result == "failed"),
        None => None,
    }
}

/// The rule a check decided by: its rule, or its engine's name.
pub(crate) fn rule_of(check: &CheckRecord) -> String {
    check.rule.clone().unwrap_or_else(|| check.engine.clone())
}

/// `content/gtube: spam (GTUBE)`, for timelines.
pub(crate) fn describe_check(check: &CheckRecord) -> String {
    let rule = check.rule.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    let part = check.part.as_deref().map(|p| format!(" in {p}")).unwrap_or_default();
    format!("{}/{}: {}{rule}{part}", check.stage, check.engine, check.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pending: u32, deferred: u32, delivered: u32, bounced: u32, expired: u32) -> RecipientCounts {
        RecipientCounts { pending, deferred, delivered, bounced, expired }
    }

    #[test]
    fn a_queued_message_shows_its_recipients_state() {
        let status = |c| status(Phase::Queued, &c);
        assert_eq!(status(counts(2, 0, 0, 0, 0)), MessageStatus::Queued);
        assert_eq!(status(counts(1, 1, 1, 0, 0)), MessageStatus::Deferred, "any deferred: deferred");
        assert_eq!(status(counts(1, 0, 1, 0, 0)), MessageStatus::Queued, "one not tried yet");
        assert_eq!(status(counts(0, 0, 3, 0, 0)), MessageStatus::Delivered);
        assert_eq!(status(counts(0, 0, 2, 1, 0)), MessageStatus::Bounced, "partial: bounced");
        assert_eq!(status(counts(0, 0, 2, 1, 1)), MessageStatus::Expired);
        assert_eq!(status(counts(0, 0, 0, 0, 0)), MessageStatus::Queued, "no recipients known yet");
    }

    #[test]
    fn phases_never_move_back() {
        let after = |events: &[Happened]| events.iter().fold(Phase::New, |p, h| next_phase(p, *h));
        let deliver = Happened::Checked(Disposition::Deliver);
        assert_eq!(after(&[deliver]), Phase::Received);
        assert_eq!(after(&[deliver, Happened::Queued]), Phase::Queued);
        assert_eq!(after(&[Happened::Delivery, deliver, Happened::Queued]), Phase::Queued, "delivery first");
        let held = Happened::Checked(Disposition::Quarantine);
        assert_eq!(after(&[held]), Phase::Quarantined);
        assert_eq!(after(&[held, Happened::Released]), Phase::Queued);
        assert_eq!(after(&[held, Happened::Delivery, Happened::Released]), Phase::Queued);
        assert_eq!(after(&[held, Happened::Deleted]), Phase::Deleted);
        assert_eq!(after(&[held, Happened::Purged, Happened::Released]), Phase::Purged);
        assert_eq!(after(&[Happened::Checked(Disposition::Reject), Happened::Queued]), Phase::Rejected);
        assert_eq!(after(&[Happened::Discarded]), Phase::Discarded);
        assert_eq!(after(&[deliver, Happened::Queued, Happened::Deleted]), Phase::Queued, "only held can go");
    }

    #[test]
    fn phases_and_statuses_read_back() {
        for phase in [Phase::New, Phase::Received, Phase::Rejected, Phase::Purged, Phase::Deleted] {
            assert_eq!(Phase::parse(phase.name()), phase);
        }
        assert_eq!(Phase::parse("from-the-future"), Phase::Queued);
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert_eq!(status(Phase::Purged, &RecipientCounts::default()), MessageStatus::Expired);
        assert_eq!(status(Phase::Deleted, &RecipientCounts::default()), MessageStatus::Discarded);
    }

    fn check(result: &str, rule: Option<&str>) -> CheckRecord {
        CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: rule.map(Into::into),
            result: result.into(),
            part: None,
            score: None,
            micros: 1,
        }
    }

    #[test]
    fn the_deciding_check_is_the_first_that_refused() {
        let checks = [check("pass", None), check("failed", Some("timeout")), check("spam", Some("GTUBE"))];
        let decided = deciding_check(Disposition::Quarantine, &checks).unwrap();
        assert_eq!((rule_of(decided), describe_check(decided)), ("GTUBE".into(), "content/gtube: spam (GTUBE)".into()));
        let failed = [check("pass", None), check("failed", None)];
        assert_eq!(rule_of(deciding_check(Disposition::Reject, &failed).unwrap()), "gtube");
        assert!(deciding_check(Disposition::Deliver, &failed).is_none());
    }
}
