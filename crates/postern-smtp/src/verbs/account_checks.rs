//! What the account's settings say about a whole message, at its end: the account's size
//! and hop limits, then — once the identity is known — the identity's lock and daily
//! recipients, and spam (GTUBE today). A spam message is never delivered: the client hears
//! what the account's quarantine reaction says, the spam event may lock the account or the
//! identity, and a lock sends the sender a notice built from the account's lock template.

use postern_core::tenancy::QuarantineReaction;
use postern_core::{Owner, QueueId, Reply, Stage};
use postern_policy::{Attribution, LimitVerdict, content};

use crate::notice;
use crate::session::{Session, Transaction};

impl Session {
    /// The account's own size and hop limits (tighter than the listener's, when set).
    pub(crate) async fn account_limits_at_end(&mut self, size: u64, hops: usize) -> Option<Reply> {
        let Attribution::Account { entry, .. } = &self.attribution else { return None };
        let limits = entry.account.settings.limits.clone();
        let monitor = entry.account.settings.monitor_only;
        let verdict = if limits.max_hops > 0 && hops >= limits.max_hops as usize {
            Some((
                Reply::new(554, "5.4.6", "Error: too many hops"),
                format!("{hops} Received headers, account limit {}", limits.max_hops),
            ))
        } else if limits.max_message_size > 0 && size > limits.max_message_size {
            let reason = format!("{size} octets, account limit {}", limits.max_message_size);
            Some((Reply::new(552, "5.3.4", "Message size exceeds fixed limit"), reason))
        } else {
            None
        };
        let (reply, reason) = verdict?;
        if monitor {
            self.would_refuse(Stage::Data, &reply, &reason, None).await;
            return None;
        }
        self.refused(Stage::Data, &reply, &reason, None).await;
        Some(reply)
    }

    /// Identity checks and spam, once the owner is known. `Some`: the message is not
    /// queued and this is the reply.
    pub(crate) async fn identity_and_spam(&mut self, tx: &Transaction, owner: &Owner, body: &[u8]) -> Option<Reply> {
        let policy = &self.services.policy;
        let recipients = tx.recipients.len() as u64;
        match policy.identity_checks(&self.attribution, &owner.identity, recipients).await {
            LimitVerdict::Allowed => {}
            LimitVerdict::Refuse { reply, reason } => {
                self.refused_tx(tx, Stage::Data, &reply, &reason).await;
                return Some(reply);
            }
            LimitVerdict::WouldRefuse { reply, reason } => self.would_refuse(Stage::Data, &reply, &reason, None).await,
        }
        if !content::is_gtube(body) {
            return None;
        }
        let outcome = policy.spam(&self.attribution, &owner.identity).await;
        let reaction = match &self.attribution {
            Attribution::Account { entry, .. } => entry.account.settings.quarantine_reaction,
            _ => QuarantineReaction::Reject,
        };
        let (reply, action) = match reaction {
            QuarantineReaction::Reject => {
                (Reply::new(550, "5.7.1", "Error: message content rejected as spam"), "rejected")
            }
            QuarantineReaction::Accept => {
                (Reply::new(250, "2.0.0", format!("Ok: queued as {}", tx.queue_id)), "held, not delivered")
            }
        };
        let mut reason = format!(
            "spam (rule GTUBE): {action}; {} spam message(s) of the account and {} of identity {} in the window",
            outcome.account_count, outcome.identity_count, owner.identity
        );
        let mut locked = Vec::new();
        if outcome.account_locked {
            locked.push(format!("account {}", owner.account));
        }
        if outcome.identity_locked {
            locked.push(format!("identity {}", owner.identity));
        }
        if !locked.is_empty() {
            reason.push_str(&format!("; locked {}", locked.join(" and ")));
        }
        self.refused_tx(tx, Stage::Data, &reply, &reason).await;
        if let (Attribution::Account { entry, .. }, false) = (&self.attribution, locked.is_empty()) {
            let account = entry.account.clone();
            if let Some(sender) = &tx.sender {
                let what = locked.join(" and ");
                let (envelope, head, text) =
                    notice::lock_notice(&self.listener.hostname, &account, owner, sender, &what);
                let id: QueueId = envelope.queue_id;
                match self.services.spool.enqueue(envelope, head, text).await {
                    Ok(()) => tracing::info!(queue_id = %id, to = %sender, "lock notice queued"),
                    Err(reply) => tracing::error!(reply = %reply.summary(), "cannot queue the lock notice"),
                }
            }
        }
        Some(reply)
    }

    /// A refusal event that belongs to a transaction already taken out of the session.
    async fn refused_tx(&self, tx: &Transaction, stage: Stage, reply: &Reply, reason: &str) {
        let kind = postern_core::EventKind::Refused {
            stage,
            reply: reply.summary(),
            reason: reason.to_string(),
            sender: Some(tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default()),
            recipient: None,
        };
        self.emit(Some(tx.queue_id), kind).await;
    }
}
