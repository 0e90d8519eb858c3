//! Who sends (SPEC.md §1–§3): customer domains, the outgoing accounts that belong to them,
//! the identities found behind each account, API tokens with their role, and the rules of
//! the block and allow lists (SPEC.md §4: [`ListRule`], global or per domain).
//!
//! These are plain serde data shared by the store, the admin API, the CLI and the SMTP
//! policy. Every per-account setting of SPEC.md §1–§3 lives in [`AccountSettings`], stored
//! and editable now even where a later stage enforces it. Settings documents deny unknown
//! fields and default every missing one, so old rows read back and typos are refused.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A customer domain. The outgoing filter is off until a superadmin turns it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Lower-case ASCII (A-labels for IDNs), no trailing dot.
    pub name: String,
    pub filter_enabled: bool,
    pub sender_security: SenderSecurity,
    /// Where ARF reports for quarantined messages go (issue on quarantine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse_contact: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Seed 003: who may send as this domain, checked for every session whatever its
/// attribution. Off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderSecurity {
    /// When not empty, only these addresses (lower-case) may be envelope senders.
    pub allowed_senders: Vec<String>,
    pub ip_check: IpCheck,
    /// Used by [`IpCheck::Allowlist`]. Addresses or CIDR ranges (`192.0.2.7` is `/32`).
    #[serde(deserialize_with = "networks")]
    pub allowed_ips: Vec<IpNet>,
}

/// A list of networks where a bare address means the host itself. Each element is its own
/// value so that an error names its index (`allowed_ips[2]`).
fn networks<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    struct Network(IpNet);
    impl<'de> Deserialize<'de> for Network {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Network, D::Error> {
            let text = String::deserialize(deserializer)?;
            parse_network(&text)
                .map(Network)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an IP address or CIDR")))
        }
    }
    Ok(Vec::<Network>::deserialize(deserializer)?.into_iter().map(|n| n.0).collect())
}

/// What the connecting IP must satisfy to send as the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpCheck {
    #[default]
    None,
    /// The client IP is in `allowed_ips`.
    Allowlist,
    /// The client IP passes the sender domain's SPF record (RFC 7208 result `pass`).
    Spf,
}

/// The three kinds of outgoing account (SPEC.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// An address or CIDR range; no password; longest prefix wins.
    Ip,
    /// An address of the domain plus a password (SMTP AUTH).
    User,
    /// The domain name as user name plus a password; at most one per domain.
    Domain,
}

impl AccountKind {
    pub fn name(self) -> &'static str {
        match self {
            AccountKind::Ip => "ip",
            AccountKind::User => "user",
            AccountKind::Domain => "domain",
        }
    }
}

/// An outgoing account. `name` says what it is: the CIDR (`ip`), the address (`user`) or
/// the domain name (`domain`). The password hash never leaves the store in this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub domain: String,
    pub kind: AccountKind,
    pub name: String,
    /// Whether a password is set (`user` and `domain` accounts need one to authenticate).
    pub has_password: bool,
    pub settings: AccountSettings,
    pub lock: LockState,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Account {
    /// The network of an `ip` account.
    pub fn network(&self) -> Option<IpNet> {
        if self.kind == AccountKind::Ip { parse_network(&self.name) } else { None }
    }
}

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

/// Every per-account setting of SPEC.md §1–§3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    pub dkim_selector: Option<String>,
    pub checks: ContentChecks,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identification {
    pub method: IdentificationMethod,
    /// `header`: the first of these present is used (e.g. `X-Client-ID`, `X-AuthUser`).
    pub headers: Vec<String>,
    /// `header`: extract the identity from the value; group 1 if the regex has one, else
    /// the whole match. No match: the envelope sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `header`: remove the listed headers before the message is queued.
    pub strip: bool,
}

impl Default for Identification {
    fn default() -> Identification {
        Identification { method: IdentificationMethod::Sender, headers: Vec::new(), regex: None, strip: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// What the client hears when its message is quarantined as spam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineReaction {
    /// `550 5.7.1`: the sender learns it.
    #[default]
    Reject,
    /// `250`: the sender sees success.
    Accept,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Archive {
    pub enabled: bool,
    pub retention_days: u32,
}

impl Default for Archive {
    fn default() -> Archive {
        Archive { enabled: false, retention_days: 90 }
    }
}

/// Automatic locking (SPEC.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    pub timeout_minutes: u32,
    /// After this many automatic unlocks the next lock stays until unlocked by hand.
    pub max_automatic_unlocks: u32,
    /// The text of the `550 5.7.1` reply and of the notice sent to the sender.
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentChecks {
    pub spam: bool,
    pub block_macros: bool,
    pub block_dangerous_attachments: bool,
    pub clamav: bool,
    pub block_new_domains: bool,
}

impl Default for ContentChecks {
    fn default() -> ContentChecks {
        ContentChecks {
            spam: true,
            block_macros: false,
            block_dangerous_attachments: false,
            clamav: false,
            block_new_domains: false,
        }
    }
}

/// One sender behind an account, registered on first sight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: i64,
    pub account_id: i64,
    /// The account's domain (tenant scope).
    pub domain: String,
    pub name: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub messages: u64,
    pub lock: LockState,
}

/// One message seen from an identity: what the event writer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySighting {
    pub account_id: i64,
    pub name: String,
    pub at_ms: i64,
}

/// An admin API role (SPEC.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and manages everything.
    Superadmin,
    /// Sees and manages its own domains only; other tenants' objects do not exist for it.
    DomainAdmin,
}

/// An API token as listed: the secret is shown once, at creation, and stored as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// `domain_admin`: the domains it may see.
    pub domains: Vec<String>,
    pub created_at_ms: i64,
}

/// Lower-cases and checks a domain name: ASCII letters, digits, hyphens; at least two
/// labels; labels 1–63 octets; at most 253 octets. Returns the normal form.
pub fn normalize_domain(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err("a domain name has 1 to 253 characters".into());
    }
    if !name.contains('.') {
        return Err(format!("{name:?} is not a fully qualified domain name"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{name:?} is not a valid domain name"));
        }
    }
    if name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{name:?} is an address, not a domain name"));
    }
    Ok(name)
}

/// An `ip` account's name: an address or a CIDR range, in canonical form (host bits
/// cleared, IPv4-mapped IPv6 as IPv4).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?,
            None => net,
        },
        _ => net,
    };
    Some(net.trunc())
}

// ---- Block and allow lists (SPEC.md §4, seed 004) ----

/// What a list rule matches (seed 004's criteria).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// One client address.
    Ip,
    /// A client network: CIDR, or an IPv4 address with a dotted mask on input.
    Network,
    /// The envelope sender (MAIL FROM).
    Sender,
    /// One envelope recipient (RCPT TO).
    Recipient,
    /// The domain of the envelope sender (exactly: subdomains are other domains).
    SenderDomain,
}

impl ListKind {
    pub const ALL: [ListKind; 5] =
        [ListKind::Ip, ListKind::Network, ListKind::Sender, ListKind::Recipient, ListKind::SenderDomain];

    pub fn name(self) -> &'static str {
        match self {
            ListKind::Ip => "ip",
            ListKind::Network => "network",
            ListKind::Sender => "sender",
            ListKind::Recipient => "recipient",
            ListKind::SenderDomain => "sender_domain",
        }
    }

    /// The canonical form of a rule's value, or why `text` cannot be one: `ip` an address
    /// (`192.0.2.7`; IPv4-mapped IPv6 as IPv4; `/32` and `/128` accepted), `network` a CIDR
    /// without host bits ([`parse_network`], or [`parse_masked_network`] for
    /// `192.0.2.0/255.255.255.0`), `sender` and `recipient` a lower-case address
    /// ([`list_address_key`]), `sender_domain` a domain name ([`normalize_domain`]).
    pub fn canonical(self, text: &str) -> Result<String, String> {
        let text = text.trim();
        match self {
            ListKind::Ip => match parse_network(text) {
                Some(net) if net.prefix_len() == net.max_prefix_len() => Ok(net.addr().to_string()),
                Some(net) => Err(format!("{net} is a network: use kind network")),
                None => Err(format!("{text:?} is not an IP address")),
            },
            ListKind::Network => parse_masked_network(text)
                .or_else(|| parse_network(text))
                .map(|net| net.to_string())
                .ok_or_else(|| format!("{text:?} is not a network (CIDR, or an IPv4 address with a dotted mask)")),
            ListKind::Sender | ListKind::Recipient => {
                let text = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap_or(text);
                crate::Address::parse(text, true)
                    .map(|a| list_address_key(&a))
                    .map_err(|e| format!("{text:?} is not an address: {e}"))
            }
            ListKind::SenderDomain => normalize_domain(text),
        }
    }
}

/// What happens to a message a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListAction {
    /// Block: `554 5.7.1`, the client learns it.
    Reject,
    /// Block: `250` to the client, the message is dropped (and logged).
    Discard,
    /// Allow: some checks are skipped (seed 004's table). Never permission to relay.
    Allow,
}

impl ListAction {
    pub fn name(self) -> &'static str {
        match self {
            ListAction::Reject => "reject",
            ListAction::Discard => "discard",
            ListAction::Allow => "allow",
        }
    }
}

/// One rule of a block or allow list: global (`domain` is `None`, superadmin only) or a
/// customer domain's (applies to that domain's mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRule {
    pub id: i64,
    pub domain: Option<String>,
    pub kind: ListKind,
    /// Canonical for the kind ([`ListKind::canonical`]).
    pub value: String,
    pub action: ListAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

impl ListRule {
    /// For logs: `rule 12 (example.com: reject sender_domain spam.example)`.
    pub fn describe(&self) -> String {
        let scope = self.domain.as_deref().unwrap_or("global");
        format!("rule {} ({scope}: {} {} {})", self.id, self.action.name(), self.kind.name(), self.value)
    }
}

/// How a sender or recipient is compared with list rules: the whole address, lower-case.
pub fn list_address_key(address: &crate::Address) -> String {
    address.to_string().to_lowercase()
}

/// An IPv4 network written with a dotted mask (`192.0.2.0/255.255.255.0`), as seed 004's
/// form takes it. The mask must be contiguous; host bits are cleared.
pub fn parse_masked_network(text: &str) -> Option<IpNet> {
    let (addr, mask) = text.trim().split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.trim().parse().ok()?;
    let mask = u32::from(mask.trim().parse::<std::net::Ipv4Addr>().ok()?);
    let prefix = mask.leading_ones();
    if mask.checked_shl(prefix).unwrap_or(0) != 0 {
        return None;
    }
    let prefix = u8::try_from(prefix).ok()?;
    IpNet::new(IpAddr::V4(addr), prefix).ok().map(|net| net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
        assert!(normalize_domain("localhost").is_err());
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("-a.b").is_err());
        assert!(normalize_domain("a_b.c").is_err());
        assert!(normalize_domain("192.0.2.1").is_err());
        assert!(normalize_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn networks() {
        assert_eq!(parse_network("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_network("192.0.2.7/24").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_network("::ffff:192.0.2.0/120").unwrap().to_string(), "192.0.2.0/24");
        assert_eq!(parse_network("2001:db8::1/64").unwrap().to_string(), "2001:db8::/64");
        assert!(parse_network("192.0.2.1/33").is_none());
        assert!(parse_network("nope").is_none());
    }

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

    #[test]
    fn list_values_are_canonical() {
        let ok = |kind: ListKind, text: &str| kind.canonical(text).unwrap();
        assert_eq!(ok(ListKind::Ip, " 192.0.2.7 "), "192.0.2.7");
        assert_eq!(ok(ListKind::Ip, "::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(ok(ListKind::Ip, "2001:DB8::1/128"), "2001:db8::1");
        assert!(ListKind::Ip.canonical("192.0.2.0/24").unwrap_err().contains("use kind network"));
        assert_eq!(ok(ListKind::Network, "192.0.2.77/24"), "192.0.2.0/24");
        assert_eq!(ok(ListKind::Network, "192.0.2.77/255.255.255.0"), "192.0.2.0/24");
        assert_eq!(ok(ListKind::Network, "10.1.2.3/255.0.0.0"), "10.0.0.0/8");
        assert_eq!(ok(ListKind::Network, "192.0.2.7/255.255.255.255"), "192.0.2.7/32");
        assert_eq!(ok(ListKind::Network, "0.0.0.0/0.0.0.0"), "0.0.0.0/0");
        assert_eq!(ok(ListKind::Network, "192.0.2.7"), "192.0.2.7/32");
        assert_eq!(ok(ListKind::Network, "2001:db8::1/32"), "2001:db8::/32");
        for bad in
            ["192.163.1.1/255.100.10.1", "192.0.2.0/255.255.0.255", "192.0.2.0/33", "nope", "2001:db8::/255.0.0.0"]
        {
            assert!(ListKind::Network.canonical(bad).is_err(), "{bad}");
        }
        assert_eq!(ok(ListKind::Sender, "Boss@Example.NET"), "boss@example.net");
        assert_eq!(ok(ListKind::Recipient, "<Dest@Remote.example>"), "dest@remote.example");
        assert!(ListKind::Sender.canonical("a@b@c").is_err());
        assert!(ListKind::Recipient.canonical("").is_err());
        assert_eq!(ok(ListKind::SenderDomain, "Spam.Example."), "spam.example");
        assert!(ListKind::SenderDomain.canonical("a@spam.example").is_err());
    }

    #[test]
    fn list_rules_serialize_with_snake_case_names() {
        let rule = ListRule {
            id: 3,
            domain: None,
            kind: ListKind::SenderDomain,
            value: "spam.example".into(),
            action: ListAction::Discard,
            comment: None,
            created_at_ms: 1,
        };
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(json["kind"], "sender_domain");
        assert_eq!(json["action"], "discard");
        assert!(json["domain"].is_null() && json.get("comment").is_none());
        assert_eq!(rule.describe(), "rule 3 (global: discard sender_domain spam.example)");
        for kind in ListKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }
}
