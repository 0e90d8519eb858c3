//! The directory: domains, outgoing accounts, identities and API tokens (SPEC.md §1), and
//! the rules of the block and allow lists (SPEC.md §4).
//!
//! [`DirectoryStore`] is the narrow trait every backend implements (SQLite now, PostgreSQL
//! later); [`crate::conformance`] holds the one test suite written against it. The SMTP path
//! never calls it per command: the policy works on an in-memory snapshot
//! ([`DirectoryStore::snapshot`]) reloaded after every change. Identities are recorded in
//! batches by the event writer.
//!
//! Tenant scope: every list takes a [`Scope`]; a domain admin's scope is its domains, and
//! objects outside it are not found (the API answers 404, never 403). Global list rules
//! belong to no domain: only [`Scope::All`] sees them.

use postern_core::tenancy::{
    Account, AccountKind, AccountSettings, ApiToken, Domain, Identity, IdentitySighting, InboundDomain, InboundTls,
    IpDelegation, ListAction, ListKind, ListRule, LockState, Role, SenderSecurity, parse_network,
};

use crate::{Result, StoreError};

/// Which domains a caller may see. `All` is the superadmin's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Domains(Vec<String>),
}

impl Scope {
    pub fn allows(&self, domain: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Domains(list) => list.iter().any(|d| d == domain),
        }
    }
}

/// Offset pagination. `limit` 0 means 100; at most 1000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

impl Page {
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => 100,
            n => n.min(1000),
        }
    }
}

/// One page of a list and the number of matching rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    /// Substring of the name.
    pub name: Option<String>,
    pub filter_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub domain: Option<String>,
    pub kind: Option<AccountKind>,
    /// Substring of the name.
    pub name: Option<String>,
    pub locked: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    pub account_id: Option<i64>,
    pub domain: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    pub locked: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct NewDomain {
    /// Already normalized ([`postern_core::tenancy::normalize_domain`]).
    pub name: String,
    pub filter_enabled: bool,
    pub sender_security: SenderSecurity,
    pub abuse_contact: Option<String>,
}

/// The editable part of a domain; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DomainChange {
    pub filter_enabled: Option<bool>,
    pub sender_security: Option<SenderSecurity>,
    /// `Some(None)` clears it.
    pub abuse_contact: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub domain: String,
    pub kind: AccountKind,
    /// Canonical: the CIDR (`ip`), the lower-case address (`user`), the domain (`domain`).
    pub name: String,
    /// An argon2id PHC string; never the password.
    pub password_hash: Option<String>,
    pub settings: AccountSettings,
}

/// The editable part of an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub settings: Option<AccountSettings>,
    /// `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    pub lock: Option<LockState>,
}

/// An account with what the SMTP policy needs to authenticate it.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account: Account,
    pub password_hash: Option<String>,
}

/// Everything the SMTP policy indexes in memory.
#[derive(Debug, Clone, Default)]
pub struct DirectorySnapshot {
    pub domains: Vec<Domain>,
    pub accounts: Vec<AccountRecord>,
    /// Every block and allow list rule, global and per domain, by id.
    pub rules: Vec<ListRule>,
    /// The identities whose lock state must be kept ([`LockState::is_kept`]): locked, or
    /// unlocked automatically before (the count decides whether the next lock times out).
    pub identity_locks: Vec<IdentityLock>,
    /// Every inbound relay domain, by name.
    pub inbound_domains: Vec<InboundDomain>,
}

/// What an administrator changed, so that the SMTP policy's in-memory directory applies
/// just that instead of reading everything again (the admin API says what; `serve` applies).
/// Serialised (JSON) in a cluster's change feed ([`crate::changes`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryChange {
    /// An account created, updated or deleted.
    Account(i64),
    /// A domain created, updated or deleted (a deletion takes its accounts along).
    Domain(String),
    /// A list rule created or deleted.
    Rules,
    /// An identity's lock state changed, or the identity was deleted.
    Identity { account_id: i64, name: String },
    /// An inbound relay domain added or removed.
    InboundDomains,
    /// Anything: read everything again.
    Everything,
}

/// One identity's lock state, as the SMTP policy keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLock {
    pub account_id: i64,
    pub name: String,
    pub lock: LockState,
}

#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    /// The rules of this domain.
    pub domain: Option<String>,
    /// `true`: only global rules; `false`: only domains' rules.
    pub global: Option<bool>,
    pub kind: Option<ListKind>,
    pub action: Option<ListAction>,
    /// Substring of the value.
    pub value: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRule {
    /// `None`: a global rule. Otherwise a normalized domain that must exist.
    pub domain: Option<String>,
    pub kind: ListKind,
    /// Made canonical by the store ([`ListKind::canonical`]).
    pub value: String,
    pub action: ListAction,
    pub comment: Option<String>,
}

/// An IP range to delegate to a domain.
#[derive(Debug, Clone)]
pub struct NewDelegation {
    /// A normalized domain that must exist.
    pub domain: String,
    /// Made canonical by the store ([`parse_network`](postern_core::tenancy::parse_network)).
    pub range: String,
    pub comment: Option<String>,
}

/// A new inbound relay domain (already checked by the caller: a normalized name, a host
/// from [`check_inbound_host`](postern_core::tenancy::check_inbound_host)).
#[derive(Debug, Clone)]
pub struct NewInboundDomain {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: InboundTls,
    pub require_tls: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub domains: Vec<String>,
    /// SHA-256 of the secret, lower-case hex. The secret itself is never stored.
    pub secret_hash: String,
}

/// Domains, accounts, identities and tokens. All methods are blocking; async callers use
/// `spawn_blocking`. Errors a caller can act on are [`StoreError::Conflict`] (duplicate,
/// overlapping range, second `domain` account) and [`StoreError::NotFound`] (the domain of
/// a new account does not exist).
///
/// [`StoreError::Conflict`]: crate::StoreError::Conflict
/// [`StoreError::NotFound`]: crate::StoreError::NotFound
pub trait DirectoryStore: Send + Sync + 'static {
    // Domains.
    fn create_domain(&self, new: &NewDomain) -> Result<Domain>;
    fn domain(&self, name: &str) -> Result<Option<Domain>>;
    fn list_domains(&self, scope: &Scope, filter: &DomainFilter, page: Page) -> Result<Paged<Domain>>;
    /// `None` when there is no such domain.
    fn update_domain(&self, name: &str, change: &DomainChange) -> Result<Option<Domain>>;
    /// Removes the domain with its accounts and their identities. `false`: no such domain.
    fn delete_domain(&self, name: &str) -> Result<bool>;

    // Accounts.
    /// Refuses (Conflict) an `ip` range overlapping another account's range, a duplicate
    /// `user` address, and a second `domain` account for the domain; NotFound when the
    /// domain does not exist. Two ranges overlap iff one contains the other's network
    /// address (IPv4 and IPv6 never do). An `ip` name that
    /// [`parse_network`](postern_core::tenancy::parse_network) refuses is a Conflict too.
    /// Creation never reuses the id of a deleted account.
    fn create_account(&self, new: &NewAccount) -> Result<Account>;
    fn account(&self, id: i64) -> Result<Option<Account>>;
    /// Exact lookup by kind and canonical name.
    fn account_by_name(&self, kind: AccountKind, name: &str) -> Result<Option<Account>>;
    fn list_accounts(&self, scope: &Scope, filter: &AccountFilter, page: Page) -> Result<Paged<Account>>;
    fn update_account(&self, id: i64, change: &AccountChange) -> Result<Option<Account>>;
    /// Removes the account and its identities. `false`: no such account.
    fn delete_account(&self, id: i64) -> Result<bool>;

    // Identities.
    /// Registers each identity on first sight and counts the message; batched, in one
    /// transaction. First seen is the earliest sighting, last seen the latest, whatever
    /// their order. Sightings for an account that no longer exists are skipped (no error).
    fn record_identities(&self, sightings: &[IdentitySighting]) -> Result<()>;
    /// Registers an identity ahead of its first message (Conflict if it exists).
    fn create_identity(&self, account_id: i64, name: &str) -> Result<Identity>;
    fn identity(&self, id: i64) -> Result<Option<Identity>>;
    /// Exact lookup of an account's identity by name (the SMTP path's lock check).
    fn identity_by_name(&self, account_id: i64, name: &str) -> Result<Option<Identity>>;
    fn list_identities(&self, scope: &Scope, filter: &IdentityFilter, page: Page) -> Result<Paged<Identity>>;
    fn update_identity_lock(&self, id: i64, lock: &LockState) -> Result<Option<Identity>>;
    /// The locked accounts in `scope`, the first `limit` (0: 100) by id, and how many
    /// there are; without reading every account's lock.
    fn locked_accounts(&self, scope: &Scope, limit: u32) -> Result<Paged<Account>>;
    /// The locked identities in `scope` (by their account's domain), as
    /// [`DirectoryStore::locked_accounts`].
    fn locked_identities(&self, scope: &Scope, limit: u32) -> Result<Paged<Identity>>;
    fn delete_identity(&self, id: i64) -> Result<bool>;

    // API tokens.
    fn create_token(&self, new: &NewToken) -> Result<ApiToken>;
    fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>>;
    fn list_tokens(&self) -> Result<Vec<ApiToken>>;
    fn delete_token(&self, id: i64) -> Result<bool>;

    /// Every domain, account and list rule, for the SMTP policy's in-memory index.
    fn snapshot(&self) -> Result<DirectorySnapshot>;
    /// One account with its password hash, for the SMTP policy's index after a change
    /// (never for an API answer).
    fn account_record(&self, id: i64) -> Result<Option<AccountRecord>>;
    /// Every list rule, global and per domain, by id (the policy's lists after a change).
    fn all_rules(&self) -> Result<Vec<ListRule>>;

    // Block and allow list rules.
    /// Stores the value in its canonical form. Conflict: a rule of the same kind and
    /// canonical value exists in the same list (global, or the same domain), whatever its
    /// action, or the value is not valid for the kind; NotFound: the domain does not exist.
    /// Ids are never reused.
    fn create_rule(&self, new: &NewRule) -> Result<ListRule>;
    fn rule(&self, id: i64) -> Result<Option<ListRule>>;
    /// By id. A [`Scope::Domains`] sees its domains' rules, never global ones.
    fn list_rules(&self, scope: &Scope, filter: &RuleFilter, page: Page) -> Result<Paged<ListRule>>;
    /// `false`: no such rule. A domain's rules go with the domain.
    fn delete_rule(&self, id: i64) -> Result<bool>;

    // IP ranges delegated to domains (SPEC.md §1).
    /// Stores the range in canonical form. Conflict: it overlaps any existing delegation
    /// (of any domain), or is not a range; NotFound: the domain does not exist. Ids are
    /// never reused.
    fn create_delegation(&self, new: &NewDelegation) -> Result<IpDelegation>;
    fn delegation(&self, id: i64) -> Result<Option<IpDelegation>>;
    /// By id; a [`Scope::Domains`] sees its domains' delegations only.
    fn list_delegations(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<IpDelegation>>;
    /// `false`: no such delegation. The ip accounts inside it stay. A domain's
    /// delegations go with the domain.
    fn delete_delegation(&self, id: i64) -> Result<bool>;
    // Inbound relay domains (independent of customer domains: deleting a domain keeps them).
    /// Conflict: the name exists already.
    fn create_inbound_domain(&self, new: &NewInboundDomain) -> Result<InboundDomain>;
    fn inbound_domain(&self, name: &str) -> Result<Option<InboundDomain>>;
    /// By name. A [`Scope::Domains`] sees only the entries named like one of its domains.
    fn list_inbound_domains(&self, scope: &Scope, page: Page) -> Result<Paged<InboundDomain>>;
    /// Every entry by name (the policy's index after a change).
    fn all_inbound_domains(&self) -> Result<Vec<InboundDomain>>;
    /// `false`: no such entry.
    fn delete_inbound_domain(&self, name: &str) -> Result<bool>;
}

/// The canonical form of `range`, or why it cannot be a new `ip` account beside the
/// `existing` (id, name) ones ([`StoreError::RangeOverlap`] names the other account).
/// Two ranges overlap iff one contains the other's network address; IPv4 and IPv6
/// ranges never do.
pub(crate) fn free_range(range: &str, existing: &[(i64, String)]) -> Result<String> {
    let net = parse_network(range)
        .ok_or_else(|| StoreError::Conflict(format!("{range:?} is not an IP address or CIDR range")))?;
    for (id, name) in existing {
        let Some(other) = parse_network(name) else { continue };
        if net.contains(&other.network()) || other.contains(&net.network()) {
            return Err(StoreError::RangeOverlap { range: net.to_string(), other: other.to_string(), account: *id });
        }
    }
    Ok(net.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(names: &[&str]) -> Vec<(i64, String)> {
        names.iter().enumerate().map(|(i, n)| (i as i64 + 1, n.to_string())).collect()
    }

    #[test]
    fn ranges_overlap_when_one_contains_the_other() {
        let taken = existing(&["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(
            free_range("10.1.0.0/16", &taken).unwrap_err().to_string(),
            "10.1.0.0/16 overlaps 10.0.0.0/8 of account 1"
        );
        assert!(free_range("10.255.255.255", &taken).is_err());
        assert!(free_range("0.0.0.0/0", &taken).is_err());
        assert!(free_range("2001:db8:1::/48", &taken).is_err());
        assert_eq!(free_range("11.0.0.0/8", &taken).unwrap(), "11.0.0.0/8");
        assert_eq!(free_range("2001:db9::/32", &taken).unwrap(), "2001:db9::/32");
    }

    #[test]
    fn ipv4_and_ipv6_never_overlap() {
        assert!(free_range("::/0", &existing(&["0.0.0.0/0"])).is_ok());
        assert!(free_range("0.0.0.0/0", &existing(&["::/0"])).is_ok());
    }

    #[test]
    fn names_become_canonical_and_garbage_is_refused() {
        assert_eq!(free_range("192.0.2.7", &[]).unwrap(), "192.0.2.7/32");
        assert_eq!(free_range("192.0.2.7/24", &[]).unwrap(), "192.0.2.0/24");
        assert!(free_range("not an address", &[]).unwrap_err().to_string().contains("not an IP address"));
    }
}
