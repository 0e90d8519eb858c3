//! [`LockState`]: whether an account or an identity may send now, who locked it
//! ([`LockKind`]: an administrator or the automatic spam lock), and what its automatic
//! lock history is. The settings that trigger an automatic lock are in `settings.rs`.

use serde::{Deserialize, Serialize};

/// Who set a lock. The SMTP reply says which: an administrator's lock is not the
/// automatic spam lock and must not read like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// Set by hand through the API or the CLI; lifted only by hand.
    Administrator,
    /// Set by the automatic lock after too much spam (SPEC.md §3).
    Automatic,
}

/// The reason an administrator's lock carries (also how locks stored before
/// [`LockState::by`] existed are recognised).
pub const ADMINISTRATOR_LOCK_REASON: &str = "locked by administrator";

/// Whether an account (or identity) may send now. Set by hand through the API, or by the
/// automatic lock (issue on limits and locks).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LockState {
    pub locked: bool,
    /// Who set the lock; `None` when unlocked, and on locks stored before this field
    /// existed (see [`LockState::kind`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<LockKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// An automatic lock ends by itself at this time; `None`: until unlocked by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// Automatic unlocks since the last manual unlock.
    pub automatic_unlocks: u32,
}

impl LockState {
    /// Whether this state says more than "never locked": locked now, or unlocked
    /// automatically before (which decides whether the next automatic lock times out).
    pub fn is_kept(&self) -> bool {
        self.locked || self.automatic_unlocks > 0
    }

    /// Who set the lock. A lock stored without [`LockState::by`] is an administrator's
    /// when its reason is [`ADMINISTRATOR_LOCK_REASON`], else automatic.
    pub fn kind(&self) -> LockKind {
        match self.by {
            Some(kind) => kind,
            None if self.reason.as_deref() == Some(ADMINISTRATOR_LOCK_REASON) => LockKind::Administrator,
            None => LockKind::Automatic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_lock_including_old_rows() {
        let old_admin: LockState =
            serde_json::from_str(r#"{"locked":true,"reason":"locked by administrator","since_ms":1}"#).unwrap();
        assert_eq!(old_admin.kind(), LockKind::Administrator);
        let old_spam: LockState = serde_json::from_str(r#"{"locked":true,"reason":"locked automatically"}"#).unwrap();
        assert_eq!(old_spam.kind(), LockKind::Automatic);
        let new = LockState { locked: true, by: Some(LockKind::Administrator), ..LockState::default() };
        assert!(serde_json::to_string(&new).unwrap().contains(r#""by":"administrator""#));
    }
}
