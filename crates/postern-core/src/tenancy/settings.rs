//! Every per-account setting of SPEC.md §1–§3: [`AccountSettings`] and its parts
//! (identification, quarantine reaction, archive, automatic locking, limits, content checks).
//! Each document denies unknown fields and defaults every missing one.

use serde::{Deserialize, Serialize};

use super::account::AccountKind;

/// Every per-account setting of SPEC.md §1–§3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct AccountSettings {
    pub identification: Identification,
    /// `ip` accounts: a client from the range may AUTH as a `user`/`domain` account and is
    /// then attributed to it; without this flag AUTH there gets `503 5.5.1`.
    pub allow_reauthentication: bool,
    /// `ip` accounts: the envelope sender may be of any domain, not only the account's.
    pub allow_foreign_sender_domains: bool,
    pub quarantine_reaction: QuarantineReaction,
    pub archive: Archive,
    pub lock: LockSettings,
    pub limits: AccountLimits,
    /// The DKIM selector to sign with, when it names an active key of the signing domain;
    /// `None` (or a key that is not active): the domain's active keys (docs/DKIM.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    pub dkim_selector: Option<String>,
    pub checks: ContentChecks,
    /// *beyond*: compromise detection by behaviour (issue 15).
    pub behaviour: BehaviourDetection,
    /// *beyond*: log what limits and checks would refuse, refuse nothing.
    pub monitor_only: bool,
}

impl Default for AccountSettings {
    fn default() -> AccountSettings {
        AccountSettings {
            identification: Identification::default(),
            allow_reauthentication: false,
            allow_foreign_sender_domains: false,
            quarantine_reaction: QuarantineReaction::Reject,
            archive: Archive::default(),
            lock: LockSettings::default(),
            limits: AccountLimits::default(),
            dkim_selector: None,
            checks: ContentChecks::default(),
            behaviour: BehaviourDetection::default(),
            monitor_only: false,
        }
    }
}

impl AccountSettings {
    /// The defaults for a new account of `kind`: smarthosts (`ip`) are identified by the
    /// envelope sender, authenticated accounts by their user name.
    pub fn for_kind(kind: AccountKind) -> AccountSettings {
        let method = if kind == AccountKind::Ip { IdentificationMethod::Sender } else { IdentificationMethod::Auth };
        AccountSettings {
            identification: Identification { method, ..Identification::default() },
            ..AccountSettings::default()
        }
    }
}

/// How the identity behind an account is found (SPEC.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct Identification {
    pub method: IdentificationMethod,
    /// `header`: the first of these present is used (e.g. `X-Client-ID`, `X-AuthUser`);
    /// at most 32 names of at most 64 characters.
    #[schema(max_items = 32)]
    pub headers: Vec<String>,
    /// `header`: extract the identity from the value; group 1 if the regex has one, else
    /// the whole match. No match: the envelope sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub regex: Option<String>,
    /// `header`: remove the listed headers before the message is queued.
    pub strip: bool,
}

impl Default for Identification {
    fn default() -> Identification {
        Identification { method: IdentificationMethod::Sender, headers: Vec::new(), regex: None, strip: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentificationMethod {
    /// The AUTH user name (falls back to the envelope sender when there was no AUTH).
    Auth,
    /// The envelope sender (MAIL FROM).
    #[default]
    Sender,
    /// A header's value; falls back to the envelope sender.
    Header,
}

/// What a behaviour finding does (a sender far above its own usual: issue 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourAction {
    /// Nothing is computed.
    Off,
    /// Log the finding, act on nothing: the recommended start, while profiles learn.
    #[default]
    Monitor,
    /// Hold the message in the quarantine.
    Quarantine,
    /// Lock the identity (an automatic lock: template, notice, timeout).
    LockIdentity,
    /// Lock the account (an automatic lock).
    LockAccount,
}

/// Compromise detection by behaviour (SPEC.md §3 *beyond*, docs/CONFIG.md): per identity,
/// a signal above both `multiple` times the identity's usual and the signal's floor is a
/// finding; `action` says what it does. The floors and the rest are fixed (tuned on the
/// abuse simulation, docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct BehaviourDetection {
    pub action: BehaviourAction,
    /// Taken as at least 2.
    #[schema(minimum = 2, maximum = 1000)]
    pub multiple: u32,
    /// A sender is new (judged only against the floors times 4) until its profile is this
    /// old and has seen `warmup_messages` messages.
    pub warmup_hours: u32,
    pub warmup_messages: u32,
}

impl Default for BehaviourDetection {
    fn default() -> BehaviourDetection {
        BehaviourDetection { action: BehaviourAction::Monitor, multiple: 4, warmup_hours: 72, warmup_messages: 20 }
    }
}

/// What the client hears when its message is quarantined as spam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineReaction {
    /// `550 5.7.1`: the sender learns it.
    #[default]
    Reject,
    /// `250`: the sender sees success.
    Accept,
}

/// The archive of the account's outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct Archive {
    /// Keep a copy of every message as delivered (after signing) before `250`.
    pub enabled: bool,
    /// Copies are purged this many days after Postern received them (not the `Date:`).
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: u32,
    /// A legal hold: nothing of the account's archive is purged while it is on.
    pub legal_hold: bool,
}

impl Default for Archive {
    fn default() -> Archive {
        Archive { enabled: false, retention_days: 90, legal_hold: false }
    }
}

/// Automatic locking (SPEC.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct LockSettings {
    /// Lock the account when it sends more than `spam_threshold` spam messages within
    /// `spam_window_secs`.
    pub automatic: bool,
    /// The same for each identity of the account.
    pub lock_identities: bool,
    pub spam_threshold: u32,
    pub spam_window_secs: u64,
    /// An automatic lock ends by itself after this many minutes (at most one week);
    /// 0: it stays until unlocked by hand.
    #[schema(minimum = 0, maximum = 10080)]
    pub timeout_minutes: u32,
    /// After this many automatic unlocks the next lock stays until unlocked by hand.
    pub max_automatic_unlocks: u32,
    /// The text of the `550 5.7.1` reply and of the notice sent to the sender: 1 to 512
    /// printable ASCII characters.
    #[schema(min_length = 1, max_length = 512)]
    pub template: String,
}

impl Default for LockSettings {
    fn default() -> LockSettings {
        LockSettings {
            automatic: false,
            lock_identities: false,
            spam_threshold: 5,
            spam_window_secs: 600,
            timeout_minutes: 60,
            max_automatic_unlocks: 3,
            template: "Your account has been locked because it sent spam. Contact your administrator.".into(),
        }
    }
}

/// Per-account limits (SPEC.md §3). 0 means "off" (or "the listener's limit").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct AccountLimits {
    pub connections_per_minute: u64,
    pub connections_per_hour: u64,
    pub connections_per_day: u64,
    pub connections_per_week: u64,
    pub connections_per_month: u64,
    pub messages_per_session: u32,
    pub recipients_per_day: u64,
    pub recipients_per_message: u32,
    pub max_message_size: u64,
    pub max_hops: u32,
}

/// Content checks (SPEC.md §5), switched per account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(default)]
pub struct ContentChecks {
    pub spam: bool,
    /// Attachments with macros (OLE2 VBA, OOXML `vbaProject.bin`, XLM sheets), also inside
    /// archives and whatever the file name says.
    pub block_macros: bool,
    /// Executables, packed executables and scripts, by content and by name, also inside
    /// archives.
    pub block_dangerous_attachments: bool,
    /// With the attachment checks on: an encrypted archive they cannot look into is
    /// blocked (`true`, the way around macro blocking closed) or let through (`false`).
    pub block_encrypted_archives: bool,
    pub clamav: bool,
    pub block_new_domains: bool,
    /// With `block_new_domains`: a sender domain registered less than this many hours ago
    /// is blocked. Validated to [`NEW_DOMAIN_HOURS_RANGE`].
    #[schema(minimum = 1, maximum = 8760)]
    pub new_domain_min_age_hours: u32,
    /// The built-in scorer's threshold: a message scoring this or more is spam
    /// (docs/SCORING.md). Validated to [`SPAM_THRESHOLD_RANGE`], so never NaN.
    #[schema(minimum = 0.5, maximum = 50.0)]
    pub spam_threshold: f64,
}

/// The values `checks.new_domain_min_age_hours` may take (one hour to a year).
pub const NEW_DOMAIN_HOURS_RANGE: std::ops::RangeInclusive<u32> = 1..=8760;

/// The values `checks.spam_threshold` may take.
pub const SPAM_THRESHOLD_RANGE: std::ops::RangeInclusive<f64> = 0.5..=50.0;

// Equality is total: the threshold is validated into a finite range.
impl Eq for ContentChecks {}

impl Default for ContentChecks {
    fn default() -> ContentChecks {
        ContentChecks {
            spam: true,
            block_macros: false,
            block_dangerous_attachments: false,
            block_encrypted_archives: true,
            clamav: false,
            block_new_domains: false,
            new_domain_min_age_hours: 24,
            spam_threshold: 5.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::SenderSecurity;

    #[test]
    fn settings_documents_are_strict_and_defaulted() {
        let s: AccountSettings = serde_json::from_str(r#"{"limits":{"recipients_per_message":5}}"#).unwrap();
        assert_eq!(s.limits.recipients_per_message, 5);
        assert_eq!(s.lock.spam_threshold, 5);
        assert!(serde_json::from_str::<AccountSettings>(r#"{"limits":{"recipients_per_mesage":5}}"#).is_err());
        let s: SenderSecurity = serde_json::from_str(r#"{"allowed_ips":["192.0.2.7","10.0.0.0/8"]}"#).unwrap();
        assert_eq!(s.allowed_ips[0].to_string(), "192.0.2.7/32");
        assert!(serde_json::from_str::<SenderSecurity>(r#"{"allowed_ips":["nope"]}"#).is_err());
        let ip = AccountSettings::for_kind(AccountKind::Ip);
        assert_eq!(ip.identification.method, IdentificationMethod::Sender);
        let user = AccountSettings::for_kind(AccountKind::User);
        assert_eq!(user.identification.method, IdentificationMethod::Auth);
    }
}
