//! A decision handed from policy to the session: go on, or answer this reply.

use crate::Reply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refuse with this reply (4xx temporary, 5xx permanent); `reason` goes to the log.
    Refuse {
        reply: Reply,
        reason: String,
    },
}

impl Verdict {
    pub fn refuse(reply: Reply, reason: impl Into<String>) -> Verdict {
        Verdict::Refuse { reply, reason: reason.into() }
    }
}
