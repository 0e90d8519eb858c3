//! The account's own size and hop limits at the end of a message (tighter than the
//! listener's, when set). Like the listener's limits and `SIZE=` at MAIL, these are limits
//! of the conversation, checked before the 998-octet line limit and before the message
//! reaches the message pipeline (which then runs the identity and content checks).
//! Monitor mode: a limit that would refuse only logs.

use postern_core::{Reply, Stage};
use postern_policy::Attribution;

use crate::session::Session;

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
}
