//! Block and allow lists in the conversation (SPEC.md §4, seed 004). The policy decides
//! per recipient (`RelayPolicy::lists`, precedence in `postern_policy::lists`), at RCPT,
//! when client, sender and recipient are all known (Postfix's `smtpd_delay_reject`).
//!
//! Here the decision meets the client: a rejected recipient is answered `554 5.7.1` and
//! logged with its rule; a discard marks the transaction, whose recipients are accepted and
//! whose message is answered `250 2.0.0 Ok: queued as <id>` at the end of data but never
//! spooled (one `discarded` event says so); the checks allow rules skip are kept for the
//! message. Sender security's SPF ran at MAIL already (with the client and sender allow
//! rules known then): a recipient's allow rule cannot skip it.

use postern_core::{Address, EventKind, Reply, Stage};
use postern_policy::{ListVerdict, Skips};

use crate::session::Session;

/// What the lists said about a transaction's accepted recipients.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListMarks {
    /// The rule that discards the message (the whole message, as Postfix's DISCARD).
    pub discard: Option<i64>,
    /// The checks skipped for the message: only those every accepted recipient's verdict
    /// skips (`None` before the first recipient).
    skips: Option<Skips>,
}

impl ListMarks {
    /// Records the verdict of a recipient that was accepted.
    pub fn accepted(&mut self, verdict: &ListVerdict) {
        let skips = match verdict {
            ListVerdict::Allow(skips) => *skips,
            ListVerdict::Discard { rule, .. } => {
                self.discard = self.discard.or(Some(*rule));
                Skips::NONE
            }
            ListVerdict::None | ListVerdict::Reject { .. } => Skips::NONE,
        };
        self.skips = Some(self.skips.map_or(skips, |s| s.intersection(skips)));
    }

    /// The checks later stages (virus, DKIM, DMARC) may skip for this message.
    #[allow(dead_code)]
    pub fn skips(&self) -> Skips {
        self.skips.unwrap_or(Skips::NONE)
    }
}

impl Session {
    /// The lists' verdict for `rcpt`; `Err` is the reply for a rejected recipient, already
    /// recorded as a refusal naming the rule.
    pub(crate) async fn check_lists(&self, rcpt: &Address) -> Result<ListVerdict, Reply> {
        let sender = self.tx.as_ref().and_then(|tx| tx.sender.as_ref());
        match self.services.policy.lists(&self.attribution, self.client.ip, sender, rcpt) {
            ListVerdict::Reject { reply, reason, .. } => {
                self.refused(Stage::Rcpt, &reply, &reason, Some(rcpt.to_string())).await;
                Err(reply)
            }
            verdict => Ok(verdict),
        }
    }

    /// The end of data of a discarded message: `250` as if queued, nothing spooled. The
    /// event names the owner like a `queued` event does.
    pub(crate) async fn discard(&mut self, body: &[u8]) -> Reply {
        let Some(tx) = self.tx.take() else {
            return Reply::new(503, "5.5.1", "Error: need MAIL command");
        };
        let (owner, _) = self.services.policy.owner(&self.attribution, tx.sender.as_ref(), &tx.recipients, body);
        let kind = EventKind::Discarded {
            rule: tx.lists.discard.unwrap_or_default(),
            sender: tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            recipients: tx.recipients.iter().map(|r| r.address.to_string()).collect(),
            account: Some(owner.account),
            domain: owner.domain,
            sender_domain: tx.sender.as_ref().map(|a| a.domain.as_str().to_ascii_lowercase()),
            identity: Some(owner.identity),
        };
        self.emit(Some(tx.queue_id), kind).await;
        self.messages += 1;
        self.errors = 0;
        Reply::new(250, "2.0.0", format!("Ok: queued as {}", tx.queue_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_skips_what_every_recipient_skips() {
        let mut marks = ListMarks::default();
        assert_eq!(marks.skips(), Skips::NONE);
        marks.accepted(&ListVerdict::Allow(Skips::ALL));
        assert_eq!(marks.skips(), Skips::ALL);
        marks.accepted(&ListVerdict::Allow(Skips { spf: true, virus: true, ..Skips::NONE }));
        assert_eq!(marks.skips(), Skips { spf: true, virus: true, ..Skips::NONE });
        marks.accepted(&ListVerdict::None);
        assert_eq!(marks.skips(), Skips::NONE);
        assert_eq!(marks.discard, None);
        marks.accepted(&ListVerdict::Discard { rule: 7, reason: String::new() });
        marks.accepted(&ListVerdict::Discard { rule: 8, reason: String::new() });
        assert_eq!(marks.discard, Some(7), "the first discarding rule is named");
    }
}
