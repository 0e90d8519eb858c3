//! Stage 1, account and identity checks: the identity's lock and its daily recipients,
//! once the identity is known. (The account's size and hop limits are limits of the
//! conversation, checked by the SMTP session with the listener's, as `SIZE=` at MAIL.)
//!
//! In: the submission (its account, owner, recipients). Out: a record in the trace,
//! refusal or would-refuse events, and `Some(reply)` when the message is refused. Monitor
//! mode: a limit that would refuse only logs (`postern_policy::limits` says so).

use std::time::Instant;

use postern_core::{CheckRecord, Reply, Submission};
use postern_policy::LimitVerdict;

use crate::pipeline::{Pipeline, record};

impl Pipeline {
    /// Stage 1. `Some(reply)`: the message is refused.
    pub(crate) async fn account_checks(&self, sub: &Submission, trace: &mut Vec<CheckRecord>) -> Option<Reply> {
        let account = sub.account.as_ref()?;
        let started = Instant::now();
        let identity = sub.envelope.owner.as_ref().map(|o| o.identity.as_str()).unwrap_or_default();
        let recipients = sub.envelope.recipients.len() as u64;
        let verdict = postern_policy::identity_checks(
            self.locks.as_deref(),
            self.limits.as_deref(),
            account,
            identity,
            recipients,
        )
        .await;
        match verdict {
            LimitVerdict::Allowed => trace.push(record("account", "identity", None, "pass", started)),
            LimitVerdict::Refuse { reply, reason } => {
                self.refused(sub, &reply, &reason).await;
                trace.push(record("account", "identity", Some("identity"), "refuse", started));
                return Some(reply);
            }
            LimitVerdict::WouldRefuse { reply, reason } => {
                self.would_refuse(sub, &reply, &reason).await;
                trace.push(record("account", "identity", Some("identity"), "would_refuse", started));
            }
        }
        None
    }
}
