//! The quarantine's index (SPEC.md §5): one row per held message, beside its bytes on disk
//! (`postern-queue`'s `quarantine` module). [`QuarantineStore`] is the narrow trait every
//! backend implements; [`crate::conformance`] tests it (`conformance/quarantine.rs`).
//!
//! In: a [`NewHeld`] when the pipeline holds a message; claims and marks from the admin
//! API and the purge task. Out: [`HeldMessage`] rows, listed by tenant scope and filter.
//!
//! A row's state only moves forward through atomic claims, so that two callers can never
//! both act on one message:
//!
//! ```text
//! held ──claim_release──> releasing ──finish_release──> released
//!   ^                         │
//!   └─────abort_release───────┘
//! held | released ──claim_delete / claim_expired──> purging ──forget──> (row gone)
//! ```
//!
//! A `releasing` row is never purged or deleted; a `purging` row is never released. A
//! `releasing` row left by a crash is settled at start-up by the quarantine's recovery
//! (`postern-pipeline`): `finish_release` when the spool has the message, else
//! `abort_release`.

use postern_core::CheckRecord;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::directory::{Page, Paged, Scope};

/// Where a held message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// On disk, waiting for a decision or its expiry.
    Held,
    /// Claimed by one release, being spooled.
    Releasing,
    /// Spooled for delivery; the bytes on disk are gone, the row stays until its expiry.
    Released,
    /// Claimed by a delete or the purge; the bytes are being removed.
    Purging,
}

impl HeldState {
    pub fn name(&self) -> &'static str {
        match self {
            HeldState::Held => "held",
            HeldState::Releasing => "releasing",
            HeldState::Released => "released",
            HeldState::Purging => "purging",
        }
    }

    pub fn parse(text: &str) -> Option<HeldState> {
        [HeldState::Held, HeldState::Releasing, HeldState::Released, HeldState::Purging]
            .into_iter()
            .find(|s| s.name() == text)
    }
}

/// A message being held, as the pipeline describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewHeld {
    /// The message's queue id (its file name on disk, and its id once released).
    pub queue_id: String,
    pub account_id: Option<i64>,
    pub account: Option<String>,
    pub identity: Option<String>,
    /// The account's domain: the tenant that sees it.
    pub domain: Option<String>,
    pub sender_domain: Option<String>,
    /// The envelope sender (`<>` for the null sender).
    pub sender: String,
    pub recipients: Vec<String>,
    /// One line, at most a few hundred characters.
    pub subject: String,
    /// The rule that found spam.
    pub rule: String,
    /// The verdict trace.
    pub checks: Vec<CheckRecord>,
    pub client_ip: String,
    /// What the client heard: `reject` or `accept`.
    #[schema(schema_with = reaction_schema)]
    pub reaction: String,
    pub size: u64,
    pub held_at_ms: i64,
    /// When the purge may remove it.
    pub expires_at_ms: i64,
}

/// The OpenAPI schema of [`NewHeld::reaction`].
fn reaction_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["reject", "accept"]))
        .description(Some("What the client heard: `reject` or `accept`."))
        .build()
}

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeldMessage {
    pub id: i64,
    #[serde(flatten)]
    pub message: NewHeld,
    pub state: HeldState,
    /// A domain admin's request that a superadmin release it.
    pub release_requested_by: Option<String>,
    pub release_requested_at_ms: Option<i64>,
    pub release_note: Option<String>,
    /// The token that released it, and when.
    pub released_by: Option<String>,
    pub released_at_ms: Option<i64>,
    /// The token that confirmed it as spam, and when.
    pub confirmed_by: Option<String>,
    pub confirmed_at_ms: Option<i64>,
}

/// What a list narrows to; every field optional. Text fields match case-insensitive
/// substrings except `domain`, `account` and `rule` (exact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuarantineFilter {
    pub domain: Option<String>,
    pub account: Option<String>,
    pub identity: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub rule: Option<String>,
    /// Held at or after, in ms.
    pub since_ms: Option<i64>,
    /// Held before, in ms.
    pub until_ms: Option<i64>,
    pub state: Option<HeldState>,
}

/// The quarantine index. Blocking, like every store trait; async callers use `spawn_blocking`.
pub trait QuarantineStore: Send + Sync + 'static {
    /// A new row, `held`. Conflict: a row with this queue id exists.
    fn hold(&self, new: &NewHeld) -> Result<HeldMessage>;
    fn held(&self, id: i64) -> Result<Option<HeldMessage>>;
    /// The row of a queue id (start-up recovery: is this file on disk anyone's?).
    fn held_by_queue_id(&self, queue_id: &str) -> Result<Option<HeldMessage>>;
    /// Newest first. A message with no domain (trusted networks) is seen only with
    /// [`Scope::All`].
    fn list_held(&self, scope: &Scope, filter: &QuarantineFilter, page: Page) -> Result<Paged<HeldMessage>>;
    /// `held` -> `releasing`, marking who releases it. `None`: no such row, or not `held`
    /// (another release or a purge got it first).
    fn claim_release(&self, id: i64, by: &str) -> Result<Option<HeldMessage>>;
    /// `releasing` -> `released`. `false`: not `releasing`.
    fn finish_release(&self, id: i64) -> Result<bool>;
    /// `releasing` -> `held` (the spool refused it). `false`: not `releasing`.
    fn abort_release(&self, id: i64) -> Result<bool>;
    /// Records a request to release a `held` row. `false`: no such row or not `held`.
    fn request_release(&self, id: i64, by: &str, note: Option<&str>) -> Result<bool>;
    /// Records a spam confirmation of a `held` row. `false`: no such row or not `held`.
    fn confirm(&self, id: i64, by: &str) -> Result<bool>;
    /// `held` or `released` -> `purging`. `None`: no such row, or being released.
    fn claim_delete(&self, id: i64) -> Result<Option<HeldMessage>>;
    /// Every `held` or `released` row expired at `now_ms`, now `purging`, with the rows
    /// left `purging` before (a purge that stopped half way), at most `limit`.
    fn claim_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<HeldMessage>>;
    /// Removes a `purging` row. `false`: not `purging`.
    fn forget(&self, id: i64) -> Result<bool>;
}

/// Held messages' bytes where every node of a cluster reaches them (PostgreSQL), so that a
/// message held on one node is previewed and released through any other, and no body
/// lives only on a node that can vanish. A single node keeps them as files instead
/// (`postern_queue::QuarantineDir`). Keys are queue ids; the bytes are the held-file
/// encoding (`postern_queue::encode_held`), opaque here. Blocking.
pub trait HeldBodyStore: Send + Sync + 'static {
    /// Stores a body, durably on return. Conflict: one exists under this key.
    fn put_held_body(&self, key: &str, bytes: &[u8], at_ms: i64) -> Result<()>;
    /// The body under `key` (never one marked corrupt). `Ok(None)`: none. A body larger
    /// than `max` octets is an error, not read.
    fn held_body(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>>;
    /// Removes a body; none there is not an error.
    fn remove_held_body(&self, key: &str) -> Result<()>;
    /// Keys of bodies (not marked corrupt) stored before `before_ms`, at most `limit`.
    fn held_body_keys(&self, before_ms: i64, limit: u32) -> Result<Vec<String>>;
    /// Marks a body corrupt: kept for an administrator, never read by a release again.
    fn set_held_body_corrupt(&self, key: &str) -> Result<()>;
}
