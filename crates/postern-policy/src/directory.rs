//! The in-memory index of domains and accounts the SMTP path decides with. Built from the
//! store's snapshot at start-up; after a change through the admin API a patched copy
//! replaces it ([`DirectoryIndex::with_account`], `with_domain`, `with_rules`), so a session
//! never waits on the database and always sees one consistent version.
//!
//! Lookups: by client IP (longest prefix over every `ip` account: one hash probe per
//! distinct prefix length in use, most specific first), by AUTH user name (a `user`
//! account's address or a `domain` account's domain name, case-insensitive), by id. The
//! block and allow lists ride along ([`ListIndex`], added by [`DirectoryIndex::with_rules`]).
//! The few identities with a lock state are kept beside the index ([`Directory::identity_lock`]):
//! a lock check per message is a hash probe, not a database query. Inbound relay domains
//! ride along too ([`DirectoryIndex::with_inbound_domains`]): exact names, one hash probe.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use ipnet::IpNet;
use postern_core::tenancy::{Account, AccountKind, Domain, InboundDomain, ListRule, LockState};
use regex::Regex;

use crate::lists::ListIndex;

/// An account as the policy sees it: the account, its password hash, and its compiled
/// identification regex.
#[derive(Debug)]
pub struct AccountEntry {
    pub account: Account,
    pub password_hash: Option<String>,
    pub identity_regex: Option<Regex>,
}

/// One consistent version of the directory. Cloning it shares the accounts, the lists and
/// the parts of the account maps ([`Shards`]): a change makes a patched copy
/// ([`DirectoryIndex::with_account`]) that copies only the part it touches, instead of
/// reading the whole store again.
#[derive(Debug, Default, Clone)]
pub struct DirectoryIndex {
    domains: HashMap<String, Domain>,
    accounts: Shards<i64, Arc<AccountEntry>>,
    by_user: Shards<String, i64>,
    /// (prefix length, network -> account id), longest prefix first.
    by_network: Vec<(u8, HashMap<IpNet, i64>)>,
    lists: Arc<ListIndex>,
    /// Inbound relay domains by (normalized) name.
    inbound: Arc<HashMap<String, InboundDomain>>,
}

/// Regexes from accounts are bounded in compiled size: an administrator's typo must not
/// cost the SMTP path memory or time (the regex crate runs in linear time).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub fn compile_identity_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_SIZE_LIMIT).build()
}

impl DirectoryIndex {
    pub fn build(domains: Vec<Domain>, accounts: Vec<(Account, Option<String>)>) -> DirectoryIndex {
        let mut index = DirectoryIndex::default();
        for domain in domains {
            index.domains.insert(domain.name.clone(), domain);
        }
        let mut networks: HashMap<u8, HashMap<IpNet, i64>> = HashMap::new();
        for (account, password_hash) in accounts {
            let id = account.id;
            if let Some(net) = index.insert_account(account, password_hash) {
                networks.entry(net.prefix_len()).or_default().insert(net, id);
            }
        }
        let mut by_network: Vec<(u8, HashMap<IpNet, i64>)> = networks.into_iter().collect();
        by_network.sort_by_key(|n| std::cmp::Reverse(n.0));
        index.by_network = by_network;
        index
    }

    /// Adds the account to `accounts` and `by_user`; an `ip` account's range is returned
    /// for the caller to put in `by_network`.
    fn insert_account(&mut self, account: Account, password_hash: Option<String>) -> Option<IpNet> {
        let identity_regex = account.settings.identification.regex.as_deref().and_then(|p| {
            compile_identity_regex(p)
                .map_err(|e| tracing::warn!(account = account.id, error = %e, "identification regex ignored"))
                .ok()
        });
        let mut network = None;
        match account.kind {
            AccountKind::Ip => match account.network() {
                Some(net) => network = Some(net),
                None => tracing::warn!(account = account.id, name = %account.name, "ip account with a bad range"),
            },
            AccountKind::User | AccountKind::Domain => {
                self.by_user.insert(account.name.to_ascii_lowercase(), account.id);
            }
        }
        self.accounts.insert(account.id, Arc::new(AccountEntry { account, password_hash, identity_regex }));
        network
    }

    /// A copy with account `id` replaced by `record`, or removed (`None`). Costs a copy of
    /// the account maps' parts it touches (a thousandth of them) and of the domains, not a
    /// read of the store.
    pub fn with_account(&self, id: i64, record: Option<(Account, Option<String>)>) -> DirectoryIndex {
        let mut index = self.clone();
        if let Some(old) = index.accounts.remove(&id) {
            let old = &old.account;
            match old.kind {
                AccountKind::Ip => {
                    if let Some(net) = old.network() {
                        index.remove_network(net, id);
                    }
                }
                AccountKind::User | AccountKind::Domain => {
                    let key = old.name.to_ascii_lowercase();
                    if index.by_user.get(&key) == Some(&id) {
                        index.by_user.remove(&key);
                    }
                }
            }
        }
        if let Some((account, password_hash)) = record
            && let Some(net) = index.insert_account(account, password_hash)
        {
            index.add_network(net, id);
        }
        index
    }

    fn add_network(&mut self, net: IpNet, id: i64) {
        let prefix = net.prefix_len();
        match self.by_network.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, nets)) => {
                nets.insert(net, id);
            }
            None => {
                self.by_network.push((prefix, HashMap::from([(net, id)])));
                self.by_network.sort_by_key(|n| std::cmp::Reverse(n.0));
            }
        }
    }

    fn remove_network(&mut self, net: IpNet, id: i64) {
        let prefix = net.prefix_len();
        if let Some((_, nets)) = self.by_network.iter_mut().find(|(p, _)| *p == prefix)
            && nets.get(&net) == Some(&id)
        {
            nets.remove(&net);
        }
        self.by_network.retain(|(_, nets)| !nets.is_empty());
    }

    /// A copy with domain `name` replaced by `domain`, or removed (`None`; its accounts are
    /// the caller's to remove).
    pub fn with_domain(&self, name: &str, domain: Option<Domain>) -> DirectoryIndex {
        let mut index = self.clone();
        match domain {
            Some(domain) => index.domains.insert(name.to_string(), domain),
            None => index.domains.remove(name),
        };
        index
    }

    /// The same index with these block and allow list rules (all of them).
    pub fn with_rules(mut self, rules: Vec<ListRule>) -> DirectoryIndex {
        self.lists = Arc::new(ListIndex::build(rules));
        self
    }

    pub fn lists(&self) -> &ListIndex {
        self.lists.as_ref()
    }

    /// The same index with these inbound relay domains (all of them).
    pub fn with_inbound_domains(mut self, domains: Vec<InboundDomain>) -> DirectoryIndex {
        self.inbound = Arc::new(domains.into_iter().map(|d| (d.name.clone(), d)).collect());
        self
    }

    /// The inbound relay domain a recipient domain names: exact (ASCII case-insensitive)
    /// match only; a subdomain, an address literal or a U-label spelling is not one.
    pub fn inbound_domain(&self, domain: &str) -> Option<&InboundDomain> {
        if self.inbound.is_empty() {
            return None;
        }
        self.inbound.get(domain.to_ascii_lowercase().as_str())
    }

    pub fn inbound_domains_len(&self) -> usize {
        self.inbound.len()
    }

    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.get(name)
    }

    pub fn account(&self, id: i64) -> Option<&Arc<AccountEntry>> {
        self.accounts.get(&id)
    }

    /// The `ip` account whose range holds `ip`, most specific first.
    pub fn account_for_ip(&self, ip: IpAddr) -> Option<&Arc<AccountEntry>> {
        for (prefix, nets) in &self.by_network {
            let Ok(net) = IpNet::new(ip, *prefix) else { continue };
            if let Some(id) = nets.get(&net.trunc()) {
                return self.accounts.get(id);
            }
        }
        None
    }

    /// The `user` or `domain` account that authenticates as `username`.
    pub fn account_for_user(&self, username: &str) -> Option<&Arc<AccountEntry>> {
        self.by_user.get(&username.trim().to_ascii_lowercase()).and_then(|id| self.accounts.get(id))
    }

    pub fn len(&self) -> (usize, usize) {
        (self.domains.len(), self.accounts.len())
    }
}

/// The current index, replaced whole on change; and the identities' lock states, changed
/// one at a time (an automatic lock must not wait for a whole reload).
#[derive(Debug, Default)]
pub struct Directory {
    current: RwLock<Arc<DirectoryIndex>>,
    /// account id -> identity name -> lock state, only for states worth keeping
    /// ([`LockState::is_kept`]); an identity that is not here was never locked.
    identity_locks: RwLock<HashMap<i64, HashMap<Box<str>, LockState>>>,
    /// Held by whoever writes lock states or reloads, so a reload cannot put back a state
    /// read before a concurrent lock was written.
    writers: Mutex<()>,
}

impl Directory {
    pub fn new(index: DirectoryIndex) -> Directory {
        Directory { current: RwLock::new(Arc::new(index)), ..Directory::default() }
    }

    pub fn load(&self) -> Arc<DirectoryIndex> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn replace(&self, index: DirectoryIndex) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
    }

    /// Serializes writers of the directory (see `writers`); blocking.
    pub fn writing(&self) -> MutexGuard<'_, ()> {
        self.writers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every identity lock state, replacing what was kept (a reload).
    pub fn replace_identity_locks(&self, locks: impl IntoIterator<Item = (i64, String, LockState)>) {
        let mut map: HashMap<i64, HashMap<Box<str>, LockState>> = HashMap::new();
        for (account_id, name, lock) in locks.into_iter().filter(|(_, _, lock)| lock.is_kept()) {
            map.entry(account_id).or_default().insert(name.into_boxed_str(), lock);
        }
        *self.identity_locks.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// One identity's new lock state (after the store has it).
    pub fn set_identity_lock(&self, account_id: i64, name: &str, lock: LockState) {
        let mut map = self.identity_locks.write().unwrap_or_else(|p| p.into_inner());
        if lock.is_kept() {
            map.entry(account_id).or_default().insert(name.into(), lock);
        } else if let Some(names) = map.get_mut(&account_id) {
            names.remove(name);
            if names.is_empty() {
                map.remove(&account_id);
            }
        }
    }

    /// Forgets the lock states of a deleted account's identities.
    pub fn forget_identity_locks(&self, account_id: i64) {
        self.identity_locks.write().unwrap_or_else(|p| p.into_inner()).remove(&account_id);
    }

    /// The identity's lock state; `None`: never locked (or unlocked by an administrator).
    pub fn identity_lock(&self, account_id: i64, name: &str) -> Option<LockState> {
        let map = self.identity_locks.read().unwrap_or_else(|p| p.into_inner());
        map.get(&account_id).and_then(|names| names.get(name)).cloned()
    }

    /// How many identity lock states are kept.
    pub fn identity_locks_len(&self) -> usize {
        self.identity_locks.read().unwrap_or_else(|p| p.into_inner()).values().map(HashMap::len).sum()
    }
}

/// How many parts [`Shards`] has.
const SHARDS: usize = 1024;

/// A map in [`SHARDS`] parts, each behind an `Arc`: a copy shares every part, and a change
/// to the copy copies only the part of its key. At a million accounts a part holds about a
/// thousand, so an account changed through the API costs a copy of a thousand entries,
/// not of a million (which took 0.2 to 0.7 s, and up to 2.5 s on a busy machine).
#[derive(Debug, Clone)]
struct Shards<K, V> {
    parts: Vec<Arc<HashMap<K, V>>>,
    len: usize,
}

impl<K, V> Default for Shards<K, V> {
    fn default() -> Self {
        Shards { parts: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(), len: 0 }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Shards<K, V> {
    fn part(key: &K) -> usize {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        (BuildHasherDefault::<DefaultHasher>::default().hash_one(key) % SHARDS as u64) as usize
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.parts[Self::part(key)].get(key)
    }

    fn insert(&mut self, key: K, value: V) {
        let part = Arc::make_mut(&mut self.parts[Self::part(&key)]);
        if part.insert(key, value).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let at = Self::part(key);
        // Looked up first: a key that is not there copies nothing.
        if !self.parts[at].contains_key(key) {
            return None;
        }
        let removed = Arc::make_mut(&mut self.parts[at]).remove(key);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) use postern_core::test_support::account_of as account;

    #[test]
    fn longest_prefix_wins() {
        let index = DirectoryIndex::build(
            vec![],
            vec![
                (account(1, "a.example", AccountKind::Ip, "10.0.0.0/8"), None),
                (account(2, "b.example", AccountKind::Ip, "10.1.0.0/16"), None),
                (account(3, "c.example", AccountKind::Ip, "10.1.2.3/32"), None),
                (account(4, "d.example", AccountKind::Ip, "2001:db8::/32"), None),
                (account(5, "d.example", AccountKind::User, "Joe@D.example"), Some("h".into())),
            ],
        );
        let id = |ip: &str| index.account_for_ip(ip.parse().unwrap()).map(|e| e.account.id);
        assert_eq!(id("10.9.9.9"), Some(1));
        assert_eq!(id("10.1.9.9"), Some(2));
        assert_eq!(id("10.1.2.3"), Some(3));
        assert_eq!(id("2001:db8:1::5"), Some(4));
        assert_eq!(id("192.0.2.1"), None);
        assert_eq!(index.account_for_user(" joe@d.EXAMPLE").map(|e| e.account.id), Some(5));
        assert!(index.account_for_user("other@d.example").is_none());
    }

    /// A change through the API copies the parts of the account maps it touches, and
    /// shares the rest with the version the sessions still use.
    #[test]
    fn a_changed_account_copies_only_its_parts_of_the_maps() {
        let accounts: Vec<_> = (1..=20_000)
            .map(|i| (account(i, "d.example", AccountKind::User, &format!("u{i}@d.example")), None))
            .collect();
        let before = DirectoryIndex::build(vec![], accounts);
        let renamed = account(7, "d.example", AccountKind::User, "renamed@d.example");
        let after = before.with_account(7, Some((renamed, None)));
        fn copied<K, V>(a: &Shards<K, V>, b: &Shards<K, V>) -> usize {
            a.parts.iter().zip(&b.parts).filter(|(x, y)| !Arc::ptr_eq(x, y)).count()
        }
        assert_eq!(copied(&before.accounts, &after.accounts), 1);
        assert!(copied(&before.by_user, &after.by_user) <= 2, "the old name's part and the new one's");
        assert_eq!((before.len(), after.len()), ((0, 20_000), (0, 20_000)));
        assert_eq!(after.account_for_user("renamed@d.example").map(|e| e.account.id), Some(7));
        assert!(after.account_for_user("u7@d.example").is_none());
        assert_eq!(before.account_for_user("u7@d.example").map(|e| e.account.id), Some(7), "the old version is intact");
        let removed = after.with_account(8, None);
        assert_eq!(removed.len(), (0, 19_999));
        assert!(removed.account(8).is_none() && removed.account_for_user("u8@d.example").is_none());
        assert_eq!(removed.with_account(8, None).len(), (0, 19_999), "removing what is not there changes nothing");
    }

    #[test]
    fn identity_locks_are_kept_only_while_they_say_something() {
        let directory = Directory::default();
        let locked = LockState { locked: true, ..LockState::default() };
        let once = LockState { automatic_unlocks: 1, ..LockState::default() };
        directory.replace_identity_locks([
            (1, "a@x.example".to_string(), locked.clone()),
            (1, "b@x.example".to_string(), LockState::default()),
            (2, "a@x.example".to_string(), once.clone()),
        ]);
        assert_eq!(directory.identity_locks_len(), 2, "a default state is not kept");
        assert_eq!(directory.identity_lock(1, "a@x.example"), Some(locked.clone()));
        assert_eq!(directory.identity_lock(1, "A@x.example"), None, "names match exactly, like the store");
        assert_eq!(directory.identity_lock(2, "a@x.example"), Some(once));
        assert_eq!(directory.identity_lock(3, "a@x.example"), None);
        directory.set_identity_lock(1, "a@x.example", LockState::default());
        assert_eq!(directory.identity_lock(1, "a@x.example"), None, "an administrator's unlock forgets it");
        directory.set_identity_lock(3, "c@x.example", locked.clone());
        assert_eq!(directory.identity_lock(3, "c@x.example"), Some(locked));
        assert_eq!(directory.identity_locks_len(), 2);
    }

    #[test]
    fn a_patched_copy_equals_a_rebuild() {
        let accounts = vec![
            (account(1, "a.example", AccountKind::Ip, "10.0.0.0/8"), None),
            (account(2, "b.example", AccountKind::Ip, "10.1.0.0/16"), None),
            (account(3, "b.example", AccountKind::User, "joe@b.example"), Some("h".to_string())),
        ];
        let index = DirectoryIndex::build(vec![], accounts);
        let id = |index: &DirectoryIndex, ip: &str| index.account_for_ip(ip.parse().unwrap()).map(|e| e.account.id);
        let user = |index: &DirectoryIndex, name: &str| index.account_for_user(name).map(|e| e.account.id);

        // A new, more specific range; the old index is untouched.
        let added = index.with_account(4, Some((account(4, "c.example", AccountKind::Ip, "10.1.2.0/24"), None)));
        assert_eq!((id(&added, "10.1.2.3"), id(&index, "10.1.2.3")), (Some(4), Some(2)));
        // A range moved: the old one no longer answers.
        let moved = added.with_account(2, Some((account(2, "b.example", AccountKind::Ip, "192.0.2.0/24"), None)));
        assert_eq!(
            (id(&moved, "10.1.9.9"), id(&moved, "192.0.2.7"), id(&moved, "10.1.2.3")),
            (Some(1), Some(2), Some(4))
        );
        // Removed: the next most specific range answers.
        let removed = moved.with_account(4, None);
        assert_eq!(id(&removed, "10.1.2.3"), Some(1));
        // A user account's settings and password change; a user renamed; a user removed.
        let mut changed = account(3, "b.example", AccountKind::User, "joe@b.example");
        changed.settings.monitor_only = true;
        let changed = removed.with_account(3, Some((changed, Some("h2".to_string()))));
        let entry = changed.account_for_user("Joe@B.example").unwrap();
        assert!(entry.account.settings.monitor_only && entry.password_hash.as_deref() == Some("h2"));
        let renamed = changed.with_account(3, Some((account(3, "b.example", AccountKind::User, "jo@b.example"), None)));
        assert_eq!((user(&renamed, "joe@b.example"), user(&renamed, "jo@b.example")), (None, Some(3)));
        let gone = renamed.with_account(3, None);
        assert_eq!((user(&gone, "jo@b.example"), gone.account(3).is_some()), (None, false));
        assert_eq!(gone.with_account(99, None).len(), gone.len(), "removing a missing account changes nothing");

        // Every step equals an index built from scratch with the same accounts.
        let rebuilt = DirectoryIndex::build(
            vec![],
            vec![
                (account(1, "a.example", AccountKind::Ip, "10.0.0.0/8"), None),
                (account(2, "b.example", AccountKind::Ip, "192.0.2.0/24"), None),
            ],
        );
        for ip in ["10.0.0.1", "10.1.2.3", "192.0.2.9", "198.51.100.1"] {
            assert_eq!(id(&gone, ip), id(&rebuilt, ip), "{ip}");
        }
        let mut prefixes: Vec<u8> = gone.by_network.iter().map(|(p, _)| *p).collect();
        prefixes.sort();
        assert_eq!(prefixes, [8, 24], "no empty prefix length left behind");
    }

    #[test]
    fn domains_are_patched_too() {
        let domain = |name: &str| Domain {
            name: name.into(),
            filter_enabled: true,
            sender_security: Default::default(),
            abuse_contact: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let index = DirectoryIndex::build(vec![domain("a.example")], vec![]);
        let more = index.with_domain("b.example", Some(domain("b.example")));
        assert!(more.domain("b.example").is_some() && index.domain("b.example").is_none());
        assert!(more.with_domain("a.example", None).domain("a.example").is_none());
    }
}
