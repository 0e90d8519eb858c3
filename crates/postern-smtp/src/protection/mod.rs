//! Connection and protocol policy (SPEC.md §4, seed 004), Postfix's semantics and replies.
//! Each check answers at the command that carries what it judges:
//!
//! | check | answered at | reply |
//! |---|---|---|
//! | daily block, connections per IP, per minute | connect | `421 4.7.0` and close |
//! | HELO name FQDN / resolves | HELO, EHLO | `504 5.5.2` / `450 4.7.1` |
//! | messages per minute, sender FQDN / domain | MAIL | `450 4.7.1`, `504 5.5.2` / `450 4.1.8`, `550 5.7.27` |
//! | client FCrDNS (looked up at connect) | RCPT | `450 4.7.25` (Postfix's `smtpd_delay_reject`) |
//! | unauthorized pipelining (seen any time) | DATA, BDAT | `503 5.5.0` |
//! | junk commands, soft error limit | every reply | a delay, errors counted |
//!
//! DNS trouble always answers `450 4.4.3`: never a permanent refusal, never a hang.
//!
//! In: a [`Protection`] per listener (settings, per-client counts, DNS checks) and the
//! session's commands. Out: replies that refuse, `refused` events (in monitor mode only the
//! event, reason `would refuse (monitor): ...`), and delays. Defends against: floods from one
//! address, clients without DNS identity, ratware that pipelines without permission or talks
//! before the greeting, command loops that never send mail, and dictionary or password
//! guessing (blocked at connect for the rest of the UTC day).
//!
//! # Layout
//! - [`admission`]: at connect: the daily block and the per-client connection limits;
//!   counting refused recipients and failed AUTHs.
//! - [`checks`]: HELO, sender and client hostname checks (the name rules are pure).
//! - [`pacing`]: unauthorized pipelining, junk commands, the soft error limit.

mod admission;
mod checks;
mod pacing;

use std::net::IpAddr;
use std::sync::Arc;

use postern_config::{ConnectionPolicy, PolicyCheck};
use postern_core::{EventKind, Reply, Stage};
use postern_policy::client::{ClientTracker, ConnectionTicket};
use postern_policy::dns_checks::{DnsChecks, DnsFailure};
use tokio_util::task::AbortOnDropHandle;

use crate::session::Session;

/// One listener's policy and what it needs: per-client counts (shared by the listener's
/// sessions) and the DNS checks (`None`: every DNS check answers as DNS trouble).
#[derive(Clone)]
pub struct Protection {
    pub policy: ConnectionPolicy,
    pub clients: Arc<ClientTracker>,
    pub dns: Option<DnsChecks>,
}

impl Protection {
    pub fn new(policy: ConnectionPolicy, dns: Option<DnsChecks>) -> Protection {
        Protection { policy, clients: Arc::new(ClientTracker::new()), dns }
    }

    /// Exempt from the per-client limits and the daily block.
    fn exempt(&self, ip: IpAddr) -> bool {
        self.policy.event_limit_exceptions.iter().any(|net| net.contains(&ip))
    }
}

impl Default for Protection {
    fn default() -> Protection {
        Protection::new(ConnectionPolicy::default(), None)
    }
}

type HostnameResult = Result<Option<String>, DnsFailure>;

/// The client's FCrDNS lookup: started at connect, awaited at the first RCPT.
enum ClientHostname {
    Pending(AbortOnDropHandle<HostnameResult>),
    Done(HostnameResult),
}

/// What one session keeps for its policy checks.
#[derive(Default)]
pub(crate) struct SessionProtection {
    /// Counts this connection while the session lives.
    ticket: Option<ConnectionTicket>,
    hostname: Option<ClientHostname>,
    /// Set at the first unauthorized pipelining: where it was seen and what was sent.
    pipelining: Option<String>,
    /// Junk commands since the connection or the last message.
    junk: u32,
}

impl Session {
    fn protection(&self) -> &Protection {
        &self.listener.protection
    }

    fn client_ip(&self) -> IpAddr {
        self.client.ip.to_canonical()
    }

    /// The one way a check refuses: `Some(reply)` with a `refused` event, or, when the
    /// check is monitored, only the event (reason `would refuse (monitor): ...`) and `None`.
    async fn enforce(&self, check: PolicyCheck, refusal: Refusal) -> Option<Reply> {
        let monitored = self.protection().policy.monitors(check);
        let reason = if monitored { format!("would refuse (monitor): {}", refusal.reason) } else { refusal.reason };
        let queue_id = self.tx.as_ref().map(|tx| tx.queue_id);
        let sender = refusal
            .sender
            .or_else(|| self.tx.as_ref().map(|tx| tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default()));
        let kind = EventKind::Refused {
            stage: refusal.stage,
            reply: refusal.reply.summary(),
            reason,
            sender,
            recipient: refusal.recipient,
            account: None,
            domain: None,
        };
        self.emit(queue_id, kind).await;
        if monitored {
            tracing::info!(session = self.id, client = %self.client.ip, check = check.key(), "monitor: would refuse");
            None
        } else {
            Some(refusal.reply)
        }
    }
}

/// What a check would answer, and why.
struct Refusal {
    stage: Stage,
    reply: Reply,
    reason: String,
    sender: Option<String>,
    recipient: Option<String>,
}

impl Refusal {
    fn new(stage: Stage, reply: Reply, reason: impl Into<String>) -> Refusal {
        Refusal { stage, reply, reason: reason.into(), sender: None, recipient: None }
    }

    fn sender(mut self, sender: String) -> Refusal {
        self.sender = Some(sender);
        self
    }

    fn recipient(mut self, recipient: String) -> Refusal {
        self.recipient = Some(recipient);
        self
    }
}
