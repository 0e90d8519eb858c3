//! Stage 4b, compromise detection by behaviour (issue 15): for a message the content
//! checks let through, the identity's profile is updated and judged
//! (`postern_policy::behaviour::Detector`); a finding acts as the account's
//! `behaviour.action` says.
//!
//! In: the submission (account, owner, recipients, client) and the trace so far (the
//! content checks' score). Out: `None`, the message goes on (no finding, or `monitor`: a
//! `would refuse (monitor)` event naming the signal); or the outcome: `quarantine` holds
//! it like spam (not counted as spam); `lock_identity` / `lock_account` lock the sender as
//! an automatic lock (template, timeout, notice) and refuse this message with `550 5.7.1`.
//! The account's `monitor_only` makes every action a `monitor`.

use postern_core::tenancy::{BehaviourAction, LockKind, LockState};
use postern_core::{CheckRecord, Disposition, Outcome, Submission};
use postern_policy::behaviour::Submitted;
use postern_policy::sender::{LockedSender, locked_reply};

use crate::pipeline::{Finding, Pipeline};

impl Pipeline {
    pub(crate) async fn behaviour_check(&self, sub: &mut Submission, trace: &mut Vec<CheckRecord>) -> Option<Outcome> {
        let (detector, account, owner) = (self.behaviour.as_ref()?, sub.account.clone()?, sub.envelope.owner.clone()?);
        let mut account = account;
        if account.settings.monitor_only && account.settings.behaviour.action != BehaviourAction::Off {
            account.settings.behaviour.action = BehaviourAction::Monitor;
        }
        let recipients: Vec<String> = sub.envelope.recipients.iter().map(|r| r.address.to_string()).collect();
        let score =
            trace.iter().filter(|r| r.stage == "content").filter_map(|r| r.score).reduce(f64::max).map(|s| s as f32);
        let message = Submitted {
            identity: &owner.identity,
            recipients: &recipients,
            client: sub.envelope.client.ip,
            authenticated: owner.auth_user.is_some(),
            spam_score: score,
        };
        let judged = detector.message(&account, &message).await?;
        let finding = judged.finding;
        let reason = format!("behaviour: {}", finding.reason);
        match finding.action {
            BehaviourAction::Off => None,
            BehaviourAction::Monitor => {
                let reply = Finding::Behaviour { reason: finding.reason.clone() }.reply();
                self.would_refuse(sub, &reply, &reason).await;
                None
            }
            BehaviourAction::Quarantine => {
                let finding = Finding::Behaviour { reason: finding.reason };
                Some(self.quarantine(sub, &finding, trace).await)
            }
            BehaviourAction::LockIdentity | BehaviourAction::LockAccount => {
                let (what, logged) = if finding.action == BehaviourAction::LockAccount {
                    (LockedSender::Account, format!("account {}", account.name))
                } else {
                    (LockedSender::Identity(&owner.identity), format!("identity {}", owner.identity))
                };
                // The reply of an automatic lock: the account's lock template.
                let lock = LockState { locked: true, by: Some(LockKind::Automatic), ..LockState::default() };
                let (reply, _) = locked_reply(&account, &lock, what);
                let done = if judged.locked { "locked" } else { "already locked" };
                self.refused(sub, &reply, &format!("{reason}; {done} {logged}")).await;
                if judged.locked {
                    self.lock_notice(sub, &logged).await;
                }
                Some(Outcome { disposition: Disposition::Reject, reply })
            }
        }
    }
}
