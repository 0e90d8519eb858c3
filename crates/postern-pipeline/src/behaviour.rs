//! Stage 4b, compromise detection by behaviour (issue 15): for a message the content
//! checks let through, the identity's and the account's profiles are updated and judged
//! (`postern_policy::behaviour::Detector`); a finding acts as the account's
//! `behaviour.action` says (a finding of the account's profile locks the account).
//!
//! In: the submission (account, owner, recipients, client) and the trace so far (the
//! content checks' score). Out: `None`, the message goes on (no finding, or `monitor`: a
//! `would refuse (monitor)` event naming the signal); or the outcome: `quarantine` holds
//! it like spam (not counted as spam); `lock_identity` / `lock_account` lock the sender as
//! an automatic lock (template, timeout, notice) and refuse this message with `550 5.7.1`.
//! The account's `monitor_only` makes every action a `monitor`.
//!
//! [`BehaviourFeedback`] is the way back from delivery: the recipients of an account's
//! message that a delivery attempt failed for good (5xx) are added to the sender's
//! profiles; a finding is a `behaviour` event in the message's timeline and, with a lock
//! action, an automatic lock and its notice. (`quarantine` only logs here: the message left.)

use std::sync::Arc;

use postern_core::event::now_ms;
use postern_core::tenancy::{Account, BehaviourAction, LockKind, LockState};
use postern_core::{
    BoxFuture, CheckRecord, DeliveryFeedback, Disposition, Envelope, Event, EventKind, EventSink, Outcome, Owner,
    QueueId, Submission, SystemMailer,
};
use postern_policy::behaviour::{Detector, Submitted};
use postern_policy::sender::{LockedSender, locked_reply};

use crate::pipeline::{Finding, Pipeline};

impl Pipeline {
    pub(crate) async fn behaviour_check(&self, sub: &mut Submission, trace: &mut Vec<CheckRecord>) -> Option<Outcome> {
        let detector = self.behaviour.as_ref()?;
        let (account, owner) = (sub.account.as_ref()?, sub.envelope.owner.as_ref()?);
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
        let judged = detector.message(account, &message).await?;
        let reason = format!("behaviour: {}", judged.finding.reason);
        match judged.finding.action {
            BehaviourAction::Off => None,
            BehaviourAction::Monitor => {
                let reply = Finding::Behaviour { reason: judged.finding.reason }.reply();
                self.would_refuse(sub, &reply, &reason).await;
                None
            }
            BehaviourAction::Quarantine => {
                let finding = Finding::Behaviour { reason: judged.finding.reason };
                Some(self.quarantine(sub, &finding, trace).await)
            }
            BehaviourAction::LockIdentity | BehaviourAction::LockAccount => {
                let (what, logged) = if judged.locks_account() {
                    (LockedSender::Account, format!("account {}", account.name))
                } else {
                    (LockedSender::Identity(&owner.identity), format!("identity {}", owner.identity))
                };
                // The reply of an automatic lock: the account's lock template.
                let lock = LockState { locked: true, by: Some(LockKind::Automatic), ..LockState::default() };
                let (reply, _) = locked_reply(account, &lock, what);
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

/// The account of an id, as the running directory knows it now.
pub type AccountLookup = Arc<dyn Fn(i64) -> Option<Account> + Send + Sync>;

/// Delivery failures back to the behaviour profiles (see the module doc).
pub struct BehaviourFeedback {
    detector: Arc<Detector>,
    accounts: AccountLookup,
    events: Arc<dyn EventSink>,
    system_mail: Option<Arc<dyn SystemMailer>>,
}

impl BehaviourFeedback {
    pub fn new(
        detector: Arc<Detector>,
        accounts: AccountLookup,
        events: Arc<dyn EventSink>,
        system_mail: Option<Arc<dyn SystemMailer>>,
    ) -> BehaviourFeedback {
        BehaviourFeedback { detector, accounts, events, system_mail }
    }

    async fn judge(&self, id: QueueId, envelope: &Envelope, failures: u32) {
        let Some(owner) = &envelope.owner else { return };
        let Some(account) = owner.account_id.and_then(|a| (self.accounts)(a)) else { return };
        let Some(judged) = self.detector.failures(&account, &owner.identity, failures).await else { return };
        let logged = if judged.locks_account() {
            format!("account {}", account.name)
        } else {
            format!("identity {}", owner.identity)
        };
        let done = match judged.finding.action {
            BehaviourAction::LockIdentity | BehaviourAction::LockAccount if judged.locked => format!("locked {logged}"),
            BehaviourAction::LockIdentity | BehaviourAction::LockAccount => "already locked".to_string(),
            _ => "logged".to_string(),
        };
        let kind = EventKind::Behaviour {
            reason: judged.finding.reason.clone(),
            done,
            account: Some(owner.account.clone()),
            domain: owner.domain.clone(),
            identity: Some(owner.identity.clone()),
        };
        let event = Event { at_ms: now_ms(), session: 0, client_ip: envelope.client.ip, queue_id: Some(id), kind };
        self.events.emit(event).await;
        if judged.locked {
            self.notice(&account, owner, envelope, &logged).await;
        }
    }

    /// The automatic lock's notice to the sender, as the pipeline sends it.
    async fn notice(&self, account: &Account, owner: &Owner, envelope: &Envelope, what: &str) {
        let (Some(mailer), Some(sender)) = (&self.system_mail, &envelope.sender) else {
            tracing::warn!(locked = what, "no system mailer: lock notice not sent");
            return;
        };
        let mail = crate::notice::automatic_lock_notice(account, sender, what);
        let owner = Owner { identity: "<>".into(), auth_user: None, ..owner.clone() };
        match mailer.send_for(mail, Some(owner)).await {
            Ok(id) => tracing::info!(queue_id = %id, to = %sender, locked = what, "lock notice queued"),
            Err(reply) => tracing::error!(reply = %reply.summary(), to = %sender, "cannot queue the lock notice"),
        }
    }
}

impl DeliveryFeedback for BehaviourFeedback {
    fn failed(&self, id: QueueId, envelope: &Envelope, failures: u32) -> BoxFuture<'_, ()> {
        let envelope = envelope.clone();
        Box::pin(async move { self.judge(id, &envelope, failures).await })
    }
}
