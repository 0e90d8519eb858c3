//! Shared types that describe a message's journey through Postern. Nothing here does I/O.
//!
//! # Layout
//! - [`archive`]: [`Archiver`], where the pipeline puts a copy of an archived account's
//!   message before it is spooled.
//! - [`address`]: RFC 5321 mailbox and path syntax (the strict parser every verb uses).
//! - [`envelope`]: what the SMTP session learned about a message: sender, recipients,
//!   DSN parameters, the client and its TLS state.
//! - [`queue_id`]: the identifier a message keeps from MAIL FROM to its last delivery.
//! - [`reply`]: SMTP replies with enhanced status codes (RFC 3463), rendered byte-exactly.
//! - [`event`]: structured per-message events (connect, refusal, queued, ...) for logs and
//!   the searchable store.
//! - [`sink`]: the traits a session writes through: the spool and the event log.
//! - [`verdict`]: what a policy decision says to the session.
//! - [`pipeline`]: the handle from the end of DATA to the spool ([`MessagePipeline`]), the
//!   message's disposition and its verdict trace.
//! - [`tenancy`]: domains, outgoing accounts and their settings, identities, API tokens.
//! - [`dkim`]: DKIM keys by domain and selector, their algorithm and rotation state.
//! - [`live`]: [`Live`], a value a configuration reload replaces while tasks read it.
//! - [`system_mail`]: [`SystemMailer`], the one way mail we write ourselves is sent.
//! - [`training`]: [`Trainer`], where administrators' ham and spam samples go.
//! - `test_support` (feature `test-support`, tests only): builders of accounts, envelopes and
//!   submissions for other crates' tests.

pub mod address;
pub mod archive;
pub mod dkim;
pub mod envelope;
pub mod event;
pub mod live;
pub mod pipeline;
pub mod queue_id;
pub mod reply;
pub mod sink;
pub mod system_mail;
pub mod tenancy;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod training;
pub mod verdict;

pub use address::{Address, AddressError, Domain};
pub use archive::{ArchiveCopy, Archiver};
pub use envelope::{BodyType, ClientInfo, DsnRet, Envelope, INBOUND_RELAY_ACCOUNT, Notify, Owner, Recipient, TlsInfo};
pub use event::{Event, EventKind, MessageFacts, Stage};
pub use live::Live;
pub use pipeline::{CheckRecord, Disposition, MessagePipeline, Outcome, Submission};
pub use queue_id::QueueId;
pub use reply::Reply;
pub use sink::{BoxFuture, DeliveryFeedback, Enqueue, EventSink};
pub use system_mail::{SystemMail, SystemMailKind, SystemMailer};
pub use training::{Label, Trainer};
pub use verdict::Verdict;
