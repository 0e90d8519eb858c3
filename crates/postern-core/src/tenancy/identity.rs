//! The senders behind an account: [`Identity`], registered on first sight, and
//! [`IdentitySighting`], one message seen from one.

use serde::{Deserialize, Serialize};

use super::lock::LockState;

/// One sender behind an account, registered on first sight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: i64,
    pub account_id: i64,
    /// The account's domain (tenant scope).
    pub domain: String,
    pub name: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub messages: u64,
    pub lock: LockState,
}

/// One message seen from an identity: what the event writer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySighting {
    pub account_id: i64,
    pub name: String,
    pub at_ms: i64,
}
