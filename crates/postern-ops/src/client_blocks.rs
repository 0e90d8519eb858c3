//! Client blocks: the clients blocked now (AUTH failures, the listeners' daily blocks)
//! with reason and expiry, and lifting them. Superadmin only: a client address belongs to
//! no tenant, so a domain admin is refused both ([`ErrorKind::Forbidden`]).
//!
//! A block holds for its whole time, even for the right password; only lifting ends it
//! early. Defends against: a client that is not an address ("not a client address", like
//! any unknown object) and answers without bound (at most 1000 blocks listed).
//!
//! [`ErrorKind::Forbidden`]: crate::ErrorKind::Forbidden

use std::net::IpAddr;

use postern_core::event::now_ms;
use postern_policy::ClientBlock;
use serde::Serialize;

use crate::{Caller, OpError, Ops, Result};

/// At most this many blocks in one answer (the tables hold up to 100,000 clients each).
const MOST: usize = 1000;

/// The blocks in force now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientBlocks {
    /// At most 1000 of them.
    pub items: Vec<ClientBlock>,
    /// How many there are.
    pub total: usize,
}

/// What lifting a client's blocks did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiftedBlocks {
    pub client: String,
    pub lifted: Vec<ClientBlock>,
}

fn unavailable() -> OpError {
    OpError::unavailable("client blocks are not available on this server")
}

pub fn list(ops: &Ops, caller: &Caller) -> Result<ClientBlocks> {
    caller.require_superadmin("see client blocks")?;
    let blocks = ops.client_blocks.as_ref().ok_or_else(unavailable)?;
    let all = blocks.list(now_ms());
    let total = all.len();
    Ok(ClientBlocks { items: all.into_iter().take(MOST).collect(), total })
}

/// Lifts every block of the client `text` names.
pub fn lift(ops: &Ops, caller: &Caller, text: &str) -> Result<LiftedBlocks> {
    caller.require_superadmin("lift client blocks")?;
    let ip: IpAddr = text.trim().parse().map_err(|_| OpError::not_found("not a client address"))?;
    let blocks = ops.client_blocks.as_ref().ok_or_else(unavailable)?;
    let lifted = blocks.lift(ip, now_ms());
    if lifted.is_empty() {
        return Err(OpError::not_found("this client is not blocked"));
    }
    tracing::info!(client = %ip, blocks = lifted.len(), by = %caller.name, "client blocks lifted");
    Ok(LiftedBlocks { client: ip.to_string(), lifted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::{TestOps, admin_of, superadmin};

    #[test]
    fn superadmin_only_and_unavailable_without_the_tables() {
        let t = TestOps::new();
        assert_eq!(list(&t.ops, &admin_of("a.example")).unwrap_err().kind, ErrorKind::Forbidden);
        assert_eq!(lift(&t.ops, &admin_of("a.example"), "nope").unwrap_err().kind, ErrorKind::Forbidden);
        assert_eq!(list(&t.ops, &superadmin()).unwrap_err().kind, ErrorKind::Unavailable);
        let e = lift(&t.ops, &superadmin(), "not-an-address").unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "not a client address"));
    }
}
