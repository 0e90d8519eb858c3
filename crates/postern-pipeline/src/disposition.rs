//! Stages 3 and 4 for spam and blocks: from the verdict to what becomes of the message.
//!
//! In: the submission, the rule that found spam and the verdict trace so far. Out: the
//! message held in the quarantine (`quarantine.rs`: bytes fsynced, row in the store)
//! *before* the client hears anything, then the `Quarantine` outcome with the reply the
//! account's quarantine reaction says (`reject`: `550 5.7.1` naming the rule; `accept`:
//! `250`, the sender sees success), a refusal event naming the rule, the spam (and malware,
//! not a policy block such as macros) counted toward automatic locks, and a lock notice to the sender when the spam locked the
//! account or the identity. The held bytes are signed first (stage 5 runs here for them),
//! so that a release delivers exactly what would have been delivered.
//!
//! When the message cannot be held, the client hears `451 4.3.0` and nothing is counted:
//! it will come again. A pipeline without a quarantine (tests, tools) cannot hold: the
//! `reject` reaction still refuses with `550` (nothing acknowledged, nothing lost), the
//! `accept` reaction answers `451 4.3.0` rather than acknowledge a message it would lose.

use postern_core::tenancy::QuarantineReaction;
use postern_core::{CheckRecord, Disposition, Outcome, Owner, Reply, Submission};

use crate::notice;
use crate::pipeline::{Finding, Pipeline};

impl Pipeline {
    /// A spam verdict or a block, outside monitor mode.
    pub(crate) async fn quarantine(
        &self,
        sub: &mut Submission,
        finding: &Finding,
        trace: &mut Vec<CheckRecord>,
    ) -> Outcome {
        let rule = &finding.rule();
        let what = finding.reason();
        let queue_id = sub.envelope.queue_id;
        let reaction =
            sub.account.as_ref().map(|a| a.settings.quarantine_reaction).unwrap_or(QuarantineReaction::Reject);
        let (reply, action, reaction_name) = match reaction {
            QuarantineReaction::Reject => (finding.reply(), "rejected", "reject"),
            QuarantineReaction::Accept => {
                (Reply::new(250, "2.0.0", format!("Ok: queued as {queue_id}")), "held, not delivered", "accept")
            }
        };
        // Held before anything is answered.
        let held = match self.quarantine.clone() {
            Some(quarantine) => {
                let (head, message) = (std::mem::take(&mut sub.head), std::mem::take(&mut sub.message));
                let (head, message) = self.dkim_sign(sub, head, message, trace).await;
                let held = quarantine.hold(sub, head.as_bytes(), &message, rule, trace, reaction_name).await;
                (sub.head, sub.message) = (head, message);
                match held {
                    Ok(row) => Some(row.id),
                    Err(reply) => {
                        self.refused(sub, &reply, &format!("{what}: cannot hold the message")).await;
                        return Outcome { disposition: Disposition::Reject, reply };
                    }
                }
            }
            None if reaction == QuarantineReaction::Accept => {
                let reply = Reply::new(451, "4.3.0", "Error: cannot hold the message, try again later");
                self.refused(sub, &reply, &format!("{what}: no quarantine to hold it")).await;
                return Outcome { disposition: Disposition::Reject, reply };
            }
            None => None,
        };
        let identity = sub.envelope.owner.as_ref().map(|o| o.identity.clone()).unwrap_or_default();
        let mut reason = format!("{what}: {action}");
        let outcome = match (&sub.account, &self.locks, finding.counts_as_spam()) {
            (Some(account), Some(locks), true) => locks.spam(account, Some(&identity)).await,
            _ => postern_policy::SpamOutcome::default(),
        };
        if finding.counts_as_spam() {
            reason.push_str(&format!(
                "; {} spam message(s) of the account and {} of identity {identity} in the window",
                outcome.account_count, outcome.identity_count
            ));
        }
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
        match held {
            Some(id) => reason.push_str(&format!("; held as quarantine id {id}")),
            None => reason.push_str("; not held (no quarantine)"),
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
    pub(crate) async fn lock_notice(&self, sub: &Submission, what: &str) {
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
