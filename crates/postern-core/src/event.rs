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
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
