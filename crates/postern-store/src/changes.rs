//! What one node of a cluster tells the others: a [`ClusterChange`] (a directory change, or
//! "the DKIM keys changed"), as it travels through the shared store's change feed (the
//! PostgreSQL backend's `directory_changes` table, `postgres::changes`).
//!
//! In: a change a node made. Out: its JSON text, and back. A text this binary cannot read
//! (written by a newer node, or damaged) becomes [`ClusterChange::unreadable`]: read
//! everything again, which is always right, only slower.

use crate::directory::DirectoryChange;

/// A change every node's in-memory state must follow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterChange {
    /// The directory changed (the SMTP policy's index).
    Directory(DirectoryChange),
    /// The set of active DKIM keys changed (the signer's key ring).
    DkimKeys,
}

impl ClusterChange {
    /// What a change that cannot be read stands for: everything.
    pub fn unreadable() -> ClusterChange {
        ClusterChange::Directory(DirectoryChange::Everything)
    }

    /// The text stored in the feed.
    pub fn to_text(&self) -> String {
        // A plain enum of strings and integers: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "\"unreadable\"".to_string())
    }

    /// The change a stored text stands for ([`ClusterChange::unreadable`] if it is not one).
    pub fn from_text(text: &str) -> ClusterChange {
        match serde_json::from_str(text) {
            Ok(change) => change,
            Err(e) => {
                let shown: String = text.chars().take(80).collect();
                tracing::warn!(error = %e, change = shown.as_str(), "unreadable cluster change; reading everything again");
                ClusterChange::unreadable()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_their_text_and_unknown_ones_mean_everything() {
        let changes = [
            ClusterChange::Directory(DirectoryChange::Account(7)),
            ClusterChange::Directory(DirectoryChange::Domain("example.com".into())),
            ClusterChange::Directory(DirectoryChange::Rules),
            ClusterChange::Directory(DirectoryChange::Identity { account_id: 3, name: "a@example.com".into() }),
            ClusterChange::Directory(DirectoryChange::InboundDomains),
            ClusterChange::Directory(DirectoryChange::Everything),
            ClusterChange::DkimKeys,
        ];
        for change in changes {
            assert_eq!(ClusterChange::from_text(&change.to_text()), change);
        }
        assert_eq!(ClusterChange::Directory(DirectoryChange::Account(7)).to_text(), r#"{"directory":{"account":7}}"#);
        assert_eq!(ClusterChange::DkimKeys.to_text(), r#""dkim_keys""#);
        assert_eq!(ClusterChange::from_text(r#"{"directory":{"mailbox":1}}"#), ClusterChange::unreadable());
        assert_eq!(ClusterChange::from_text("not json"), ClusterChange::unreadable());
    }
}
