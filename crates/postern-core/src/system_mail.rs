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

    /// [`SystemMailer::send`] on behalf of a tenant: `owner` (the account whose message
    /// bounced, or that was locked) goes into the spooled envelope, so queue tools show the
    /// message to that tenant. Copies to external postmasters belong to no tenant. The
    /// default (for mailers that keep no envelope) sends without it.
    fn send_for(&self, mail: SystemMail, owner: Option<crate::Owner>) -> BoxFuture<'_, Result<QueueId, Reply>> {
        let _ = owner;
        self.send(mail)
    }
}

impl SystemMailKind {
    /// Every kind, in the order the configuration lists them.
    pub const ALL: [SystemMailKind; 3] = [SystemMailKind::LockNotice, SystemMailKind::Dsn, SystemMailKind::AbuseReport];

    /// The kind named `name` (as [`SystemMailKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<SystemMailKind> {
        SystemMailKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Who writes system mail and who gets copies (`[postmaster]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postmaster {
    /// The `From:` address of every system message.
    pub address: Address,
    /// The display name beside it (`Mail Delivery System`).
    pub name: String,
    /// External postmaster addresses: each system message of a kind in `copies` is sent
    /// to them too, as one separate copy.
    pub external: Vec<Address>,
    /// The kinds the external postmasters get copies of.
    pub copies: Vec<SystemMailKind>,
}

/// The display name of the postmaster address unless configured.
pub const POSTMASTER_NAME: &str = "Mail Delivery System";

impl Postmaster {
    /// `postmaster@<hostname>`, no external postmasters (copies of every kind once some
    /// are configured). A host name that is not a domain falls back to `localhost`.
    pub fn for_host(hostname: &str) -> Postmaster {
        let address = Address::parse(&format!("postmaster@{hostname}"), true)
            .unwrap_or_else(|_| Address { local_part: "postmaster".into(), domain: crate::Domain::localhost() });
        Postmaster { address, name: POSTMASTER_NAME.into(), external: Vec::new(), copies: SystemMailKind::ALL.to_vec() }
    }

    /// The external postmasters a message of `kind` to `to` is copied to: none when the
    /// kind is not copied; never an address the message goes to anyway.
    pub fn copies_for(&self, kind: SystemMailKind, to: &[Address]) -> Vec<Address> {
        if !self.copies.contains(&kind) {
            return Vec::new();
        }
        let mut out: Vec<Address> = Vec::new();
        for a in &self.external {
            let same = |b: &Address| b.local_part == a.local_part && b.domain.eq_ignore_case(a.domain.as_str());
            if !to.iter().any(same) && !out.iter().any(same) {
                out.push(a.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Address {
        Address::parse(s, true).unwrap()
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in SystemMailKind::ALL {
            assert_eq!(SystemMailKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(SystemMailKind::from_name("bounce"), None);
    }

    #[test]
    fn copies_skip_recipients_duplicates_and_kinds_not_copied() {
        let mut p = Postmaster::for_host("gw.example");
        assert_eq!(p.address.to_string(), "postmaster@gw.example");
        assert!(p.copies_for(SystemMailKind::Dsn, &[a("x@y.example")]).is_empty(), "no external postmaster");
        p.external = vec![a("pm@ops.example"), a("pm@OPS.example"), a("x@y.example"), a("PM@ops.example")];
        let copies = p.copies_for(SystemMailKind::Dsn, &[a("x@Y.example")]);
        // Domains compare without case; local parts are case-sensitive (RFC 5321 §2.4).
        assert_eq!(copies, vec![a("pm@ops.example"), a("PM@ops.example")]);
        p.copies = vec![SystemMailKind::LockNotice];
        assert!(p.copies_for(SystemMailKind::Dsn, &[a("x@y.example")]).is_empty());
        assert_eq!(p.copies_for(SystemMailKind::LockNotice, &[]).len(), 3);
        assert_eq!(Postmaster::for_host("not a host").address.to_string(), "postmaster@localhost");
    }
}
