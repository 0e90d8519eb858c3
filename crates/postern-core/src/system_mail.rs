//! Mail that Postern writes itself (lock notices, delivery status notifications, ARF abuse
//! reports): the handle every writer goes through ([`SystemMailer`]), so that each one comes
//! from the configured postmaster address and copies reach the configured external
//! postmaster addresses (SPEC.md §7).
//!
//! In: a [`SystemMail`] (its kind, recipients, subject, the MIME headers of its body and the
//! body). Out: the queue id it was spooled under (durable), or the spool's reply. The
//! implementation (in `postern-queue`) adds `From`, `To`, `Date`, `Message-ID` and
//! `Auto-Submitted`, sends with the null sender and queues like any message.

use crate::{Address, BoxFuture, QueueId, Reply};

/// What a system message is, for the log and for which copies go to external postmasters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemMailKind {
    /// An account or identity was locked (to the sender).
    LockNotice,
    /// A delivery status notification (to the envelope sender).
    Dsn,
    /// An RFC 5965 abuse report (to the domain's abuse contact).
    AbuseReport,
}

impl SystemMailKind {
    pub fn name(&self) -> &'static str {
        match self {
            SystemMailKind::LockNotice => "lock_notice",
            SystemMailKind::Dsn => "dsn",
            SystemMailKind::AbuseReport => "abuse_report",
        }
    }
}

/// One message to write.
#[derive(Debug, Clone)]
pub struct SystemMail {
    pub kind: SystemMailKind,
    pub to: Vec<Address>,
    /// One line; CR and LF are replaced by the mailer.
    pub subject: String,
    /// The body's MIME headers (`MIME-Version`, `Content-Type`, `Content-Transfer-Encoding`),
    /// each `Name: value` without CRLF.
    pub mime_headers: Vec<String>,
    /// The body, CRLF line ends.
    pub body: Vec<u8>,
}

pub trait SystemMailer: Send + Sync + 'static {
    fn send(&self, mail: SystemMail) -> BoxFuture<'_, Result<QueueId, Reply>>;
}
