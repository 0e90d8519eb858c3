//! The handle between the end of DATA and the spool, as a trait so that the SMTP session
//! never sees a concrete check, signer or spool: [`MessagePipeline`].
//!
//! In: a [`Submission`] (the envelope with its owner, our headers, the message, the
//! sending account's settings). Out: an [`Outcome`] (the [`Disposition`] and the reply the
//! client hears). The pipeline behind it (`postern-pipeline`) runs the checks, decides,
//! signs, spools and records the message's verdict trace ([`CheckRecord`]s, one `checked`
//! event).

use serde::{Deserialize, Serialize};

use crate::tenancy::Account;
use crate::{BoxFuture, Envelope, Reply};

/// One message at the end of DATA, as the session hands it over.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The session number, for events.
    pub session: u64,
    /// The listener's host name (our `Received:` name; notices come from it).
    pub hostname: String,
    /// The sending account (its monitor mode, quarantine reaction, DKIM selector);
    /// `None`: a trusted network (no account checks, no signing).
    pub account: Option<Account>,
    /// With `owner` set; `size` is filled in by the pipeline (after signing).
    pub envelope: Envelope,
    /// Our headers (Received, and Date/Message-ID when added), stored before `message`.
    pub head: String,
    /// The message as received (identity header stripped).
    pub message: Vec<u8>,
    /// The message's `Message-ID` (found or added), for the `queued` event.
    pub message_id: Option<String>,
}

/// What became of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Spooled for delivery (durable when the reply is `250`).
    Deliver,
    /// Spam held in the quarantine, never delivered unless an administrator releases it;
    /// the client hears the account's quarantine reaction.
    Quarantine,
    /// Refused with the reply.
    Reject,
    /// Answered as accepted, never spooled.
    Discard,
}

impl Disposition {
    pub fn name(&self) -> &'static str {
        match self {
            Disposition::Deliver => "deliver",
            Disposition::Quarantine => "quarantine",
            Disposition::Reject => "reject",
            Disposition::Discard => "discard",
        }
    }
}

/// The pipeline's answer: what became of the message and what the client hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub disposition: Disposition,
    pub reply: Reply,
}

/// One check's verdict in the message's trace (the `checked` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckRecord {
    /// The stage: `account`, `content`, `disposition`, `dkim`.
    pub stage: String,
    /// What ran it: `limits`, `locks`, `gtube`, `dkim`, later `scorer`, `rspamd`...
    pub engine: String,
    /// The rule that decided, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `pass`, `refuse`, `would_refuse` (monitor mode), `spam`, `blocked`, `off`, `signed`,
    /// `unsigned`, `failed`, `skipped`...
    pub result: String,
    /// The part of the message the rule found, for attachment checks: the file name, with
    /// the path inside archives (`invoice.zip/report.docm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Time the check took, in microseconds.
    pub micros: u64,
}

/// Where a message goes at the end of DATA. Never fails: every failure is an outcome
/// with its reply (a spool failure is `Reject` with the spool's 4xx).
pub trait MessagePipeline: Send + Sync + 'static {
    fn process(&self, submission: Submission) -> BoxFuture<'_, Outcome>;
}
