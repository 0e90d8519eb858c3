//! Stages 3 and 4 for spam: from the verdict to what becomes of the message.
//!
//! In: the submission and the rule that found spam. Out: the `Quarantine` outcome with the
//! reply the account's quarantine reaction says (`reject`: `550 5.7.1`; `accept`: `250`,
//! the sender sees success), a refusal event naming the rule, the spam counted toward
//! automatic locks, and a lock notice to the sender when the spam locked the account or
//! the identity. Today the message is not held anywhere: it is never delivered (the
//! holding store is a later part of issue 11, which only has to keep the bytes here).

use postern_core::tenancy::QuarantineReaction;
use postern_core::{Disposition, Outcome, Owner, Reply, Submission};

use crate::notice;
use crate::pipeline::Pipeline;

impl Pipeline {
    /// A spam verdict outside monitor mode.
    pub(crate) async fn quarantine(&self, sub: &Submission, rule: &str) -> Outcome {
        let queue_id = sub.envelope.queue_id;
        let reaction =
            sub.account.as_ref().map(|a| a.settings.quarantine_reaction).unwrap_or(QuarantineReaction::Reject);
        let (reply, action) = match reaction {
            QuarantineReaction::Reject => {
                (Reply::new(550, "5.7.1", "Error: message content rejected as spam"), "rejected")
            }
            QuarantineReaction::Accept => {
                (Reply::new(250, "2.0.0", format!("Ok: queued as {queue_id}")), "held, not delivered")
            }
        };
        let identity = sub.envelope.owner.as_ref().map(|o| o.identity.clone()).unwrap_or_default();
        let outcome = match (&sub.account, &self.locks) {
            (Some(account), Some(locks)) => locks.spam(account, Some(&identity)).await,
            _ => postern_policy::SpamOutcome::default(),
        };
        let mut reason = format!(
            "spam (rule {rule}): {action}; {} spam message(s) of the account and {} of identity {identity} in the window",
            outcome.account_count, outcome.identity_count
        );
        let mut locked = Vec::new();
        if let (true, Some(owner)) = (outcome.account_locked, &sub.envelope.owner) {
            locked.push(format!("account {}", owner.account));
        }
        if outcome.identity_locked {
            locked.push(format!("identity {identity}"));
        }
        if !locked.is_empty() {
            reason.push_str(&format!("; locked {}", locked.join(" and ")));
        }
        self.refused(sub, &reply, &reason).await;
        if !locked.is_empty() {
            self.lock_notice(sub, &locked.join(" and ")).await;
        }
        Outcome { disposition: Disposition::Quarantine, reply }
    }

    /// The notice to the sender that `what` is locked, through the system mailer (From the
    /// postmaster, copies to the external postmasters, the null sender), shown to the
    /// account's tenant. Without a mailer (tests) nothing is sent, and the log says so.
    async fn lock_notice(&self, sub: &Submission, what: &str) {
        let (Some(account), Some(owner), Some(sender)) = (&sub.account, &sub.envelope.owner, &sub.envelope.sender)
        else {
            return;
        };
        let Some(mailer) = &self.system_mail else {
            tracing::warn!(to = %sender, locked = what, "no system mailer: lock notice not sent");
            return;
        };
        let mail = notice::automatic_lock_notice(account, sender, what);
        let owner = Owner { identity: "<>".into(), auth_user: None, ..owner.clone() };
        match mailer.send_for(mail, Some(owner)).await {
            Ok(id) => tracing::info!(queue_id = %id, to = %sender, locked = what, "lock notice queued"),
            Err(reply) => tracing::error!(reply = %reply.summary(), to = %sender, "cannot queue the lock notice"),
        }
    }
}
