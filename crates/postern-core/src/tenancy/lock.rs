//! [`LockState`]: whether an account or an identity may send now, and what its automatic
//! lock history is. The settings that trigger an automatic lock are in `settings.rs`.

use serde::{Deserialize, Serialize};

/// Whether an account (or identity) may send now. Set by hand through the API, or by the
/// automatic lock (issue on limits and locks).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockState {
    pub locked: bool,
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
}
