//! The server's status (superadmin): how the running server is doing — its version, the
//! queue's size, and the event log's counts (stored, stored after a retry, dropped, waiting
//! for a retry), so that events a full disk refused are never lost silently.
//!
//! A domain admin is refused ([`ErrorKind::Forbidden`]): these figures are the whole
//! server's, not one tenant's.
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use postern_store::EventCounts;
use serde::Serialize;

use crate::{Caller, Ops, Result};

/// How the server is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `null` when this server does not count its events.
    pub events: Option<EventCounts>,
    pub queue: QueueSize,
    /// Postern's version.
    pub version: &'static str,
}

/// The queue's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueSize {
    /// Messages in the queue, in any state.
    pub messages: usize,
}

pub fn show(ops: &Ops, caller: &Caller) -> Result<Status> {
    caller.require_superadmin("see the server's status")?;
    let events = ops.events.as_ref().map(|stats| stats.counts());
    Ok(Status { events, queue: QueueSize { messages: ops.queue.queued() }, version: env!("CARGO_PKG_VERSION") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{TestOps, admin_of, superadmin};

    #[test]
    fn the_whole_servers_figures_are_the_superadmins() {
        let t = TestOps::new();
        assert_eq!(show(&t.ops, &admin_of("a.example")).unwrap_err().kind, ErrorKind::Forbidden);
        let status = show(&t.ops, &superadmin()).unwrap();
        assert_eq!((status.queue.messages, status.events), (0, None));
        assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    }
}
