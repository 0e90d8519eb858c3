//! The session's policy (SPEC.md §1–§2): who a client is (attribution by AUTH, `ip`
//! account, trusted network), whether it may AUTH, whether its sender is its own, and
//! whether it may relay. An attributed or trusted client may relay to any domain; anyone
//! else gets `554 5.7.1 <rcpt>: Relay access denied` at RCPT, except for a recipient whose
//! domain (the part after the last `@`, exactly) is an inbound relay domain: that mail is
//! accepted from anyone and delivered only to the domain's internal server. Never an open
//! relay: an unattributed client is refused for every other recipient, whatever its syntax.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use postern_core::tenancy::{Account, IpCheck};
use postern_core::{Address, Live, Owner, Recipient, Reply, Verdict};

use crate::auth_cache::{AuthCache, AuthCacheStats};
use crate::directory::{AccountEntry, Directory, DirectoryIndex};
use crate::guard::{AuthGuard, GuardConfig, Penalty};
use crate::limits::{LimitVerdict, Limits};
use crate::lists::ListVerdict;
use crate::locks::{Locks, SpamOutcome};
use crate::readiness::Readiness;
use crate::spf::SpfResolver;
use crate::{identity, password, sender};

/// On whose behalf a session sends: by AUTH, else by client IP (`ip` accounts), else a
/// trusted network, else nobody.
#[derive(Debug, Clone)]
pub enum Attribution {
    /// An outgoing account: by client IP (`auth_user` is `None`) or by AUTH.
    Account { entry: Arc<AccountEntry>, auth_user: Option<String> },
    /// The client address is in a trusted network ("skip authentication for the local network").
    TrustedNetwork(IpNet),
    /// Nobody: may not relay.
    Unattributed,
}

impl PartialEq for Attribution {
    fn eq(&self, other: &Attribution) -> bool {
        match (self, other) {
            (Attribution::Account { entry: a, auth_user: x }, Attribution::Account { entry: b, auth_user: y }) => {
                a.account.id == b.account.id && x == y
            }
            (Attribution::TrustedNetwork(a), Attribution::TrustedNetwork(b)) => a == b,
            (Attribution::Unattributed, Attribution::Unattributed) => true,
            _ => false,
        }
    }
}

impl Attribution {
    /// For logs: `user alice@example.com`, `ip 192.0.2.0/24`, `trusted-network ...`.
    pub fn describe(&self) -> String {
        match self {
            Attribution::Account { entry, .. } => format!("{} {}", entry.account.kind.name(), entry.account.name),
            Attribution::TrustedNetwork(net) => format!("trusted-network {net}"),
            Attribution::Unattributed => "unattributed".to_string(),
        }
    }
}

/// The answer to an AUTH exchange.
#[derive(Debug)]
pub enum AuthOutcome {
    /// `235`: the session is now attributed to this account; `cached`: the AUTH cache
    /// vouched for the password (no argon2id verification this time).
    Success { attribution: Attribution, cached: bool },
    /// `535 5.7.8` after waiting this long.
    Failure { delay: Duration, reason: String },
    /// Too many failures: `421 4.7.0` and close.
    Blocked,
}

pub struct RelayPolicy {
    /// Replaced by a configuration reload ([`RelayPolicy::set_trusted`]).
    trusted_networks: Live<Vec<IpNet>>,
    directory: Arc<Directory>,
    guard: Arc<AuthGuard>,
    spf: Option<Arc<SpfResolver>>,
    check_trusted_senders: AtomicBool,
    limits: Option<Arc<Limits>>,
    locks: Option<Arc<Locks>>,
    readiness: Readiness,
    /// Recent successful verifications (without: every AUTH verifies argon2id).
    auth_cache: Option<Arc<AuthCache>>,
}

impl Default for RelayPolicy {
    fn default() -> RelayPolicy {
        RelayPolicy::new(Vec::new())
    }
}

impl RelayPolicy {
    /// Trusted networks only: an empty directory, default AUTH throttling, no SPF.
    pub fn new(trusted_networks: Vec<IpNet>) -> RelayPolicy {
        RelayPolicy {
            trusted_networks: Live::new(trusted_networks),
            directory: Arc::new(Directory::default()),
            guard: Arc::new(AuthGuard::new(GuardConfig {
                max_failures: 5,
                failure_window: Duration::from_secs(600),
                block_time: Duration::from_secs(1800),
                failure_delay: Duration::from_secs(1),
            })),
            spf: None,
            check_trusted_senders: AtomicBool::new(false),
            limits: None,
            locks: None,
            readiness: Readiness::always(),
            auth_cache: None,
        }
    }

    /// A configuration reload: new trusted networks and sender rule for them, seen by the
    /// next connection and the next transaction of open sessions.
    pub fn set_trusted(&self, trusted_networks: Vec<IpNet>, check_senders: bool) {
        self.trusted_networks.store(trusted_networks);
        self.check_trusted_senders.store(check_senders, Ordering::Relaxed);
    }

    /// The trusted networks now.
    pub fn trusted_networks(&self) -> Arc<Vec<IpNet>> {
        self.trusted_networks.load()
    }

    /// Per-account limits over these counters (without: no rate limits).
    pub fn with_limits(mut self, limits: Arc<Limits>) -> RelayPolicy {
        self.limits = Some(limits);
        self
    }

    /// Spam events and automatic locks (without: locks set by hand still hold, none expire).
    pub fn with_locks(mut self, locks: Arc<Locks>) -> RelayPolicy {
        self.locks = Some(locks);
        self
    }

    /// Whether the directory may decide (without: always; a cluster node follows the
    /// shared store's feed and is refused `451 4.3.0` at MAIL and RCPT while behind).
    pub fn with_readiness(mut self, readiness: Readiness) -> RelayPolicy {
        self.readiness = readiness;
        self
    }

    /// `451 4.3.0` while the directory may be stale (a cluster node that has not kept up
    /// with the shared store). The session asks it first at MAIL and at RCPT, before
    /// anything the directory decides (a list's reject, an account's limits), so that no
    /// answer rests on what may be out of date.
    pub fn stale_directory(&self) -> Option<Verdict> {
        self.readiness.refusal()
    }

    pub fn limits(&self) -> Option<&Arc<Limits>> {
        self.limits.as_ref()
    }

    pub fn locks(&self) -> Option<&Arc<Locks>> {
        self.locks.as_ref()
    }

    /// A session has just been attributed (connect or AUTH): count it against the
    /// account's session limits.
    pub async fn session_attributed(&self, attribution: &Attribution) -> LimitVerdict {
        match (attribution, &self.limits) {
            (Attribution::Account { entry, .. }, Some(limits)) => limits.session(&entry.account).await,
            _ => LimitVerdict::Allowed,
        }
    }

    /// One more recipient for the account today.
    pub async fn recipient_limit(&self, attribution: &Attribution) -> LimitVerdict {
        match (attribution, &self.limits) {
            (Attribution::Account { entry, .. }, Some(limits)) => limits.recipient(&entry.account).await,
            _ => LimitVerdict::Allowed,
        }
    }

    /// At the end of a message, once the identity is known: the identity is not locked
    /// (`550 5.7.1` with the lock template) and its daily recipients stay in the limit.
    pub async fn identity_checks(&self, attribution: &Attribution, identity: &str, recipients: u64) -> LimitVerdict {
        let Attribution::Account { entry, .. } = attribution else { return LimitVerdict::Allowed };
        identity_checks(self.locks.as_deref(), self.limits.as_deref(), &entry.account, identity, recipients).await
    }

    pub async fn spam(&self, attribution: &Attribution, identity: &str) -> SpamOutcome {
        match (attribution, &self.locks) {
            (Attribution::Account { entry, .. }, Some(locks)) => locks.spam(&entry.account, Some(identity)).await,
            _ => SpamOutcome::default(),
        }
    }

    pub fn with_directory(mut self, directory: Arc<Directory>) -> RelayPolicy {
        self.directory = directory;
        self
    }

    pub fn with_auth_guard(mut self, config: GuardConfig) -> RelayPolicy {
        self.guard = Arc::new(AuthGuard::new(config));
        self
    }

    /// Remember successful AUTH verifications ([`crate::auth_cache`]); `None`: do not.
    pub fn with_auth_cache(mut self, cache: Option<AuthCache>) -> RelayPolicy {
        self.auth_cache = cache.map(Arc::new);
        self
    }

    /// How often the AUTH cache answered, when there is one.
    pub fn auth_cache_stats(&self) -> Option<AuthCacheStats> {
        self.auth_cache.as_ref().map(|c| c.stats())
    }

    /// The AUTH failure blocks, for the administrators' view ([`crate::blocks`]).
    pub fn auth_guard(&self) -> Arc<AuthGuard> {
        Arc::clone(&self.guard)
    }

    /// The resolver for sender security's SPF rule; without one, SPF rules answer `451`.
    pub fn with_spf(mut self, resolver: SpfResolver) -> RelayPolicy {
        self.spf = Some(Arc::new(resolver));
        self
    }

    /// Trusted networks' senders must belong to an enabled domain of the directory.
    pub fn check_trusted_senders(mut self, on: bool) -> RelayPolicy {
        self.check_trusted_senders = AtomicBool::new(on);
        self
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// The attribution of a new connection from `ip`: an `ip` account (longest prefix),
    /// else the most specific trusted network, else nobody.
    pub fn attribute(&self, ip: IpAddr) -> Attribution {
        let ip = canonical(ip);
        if let Some(entry) = self.directory.load().account_for_ip(ip) {
            return Attribution::Account { entry: Arc::clone(entry), auth_user: None };
        }
        self.trusted_networks
            .load()
            .iter()
            .filter(|net| net.contains(&ip))
            .max_by_key(|net| net.prefix_len())
            .map(|net| Attribution::TrustedNetwork(*net))
            .unwrap_or(Attribution::Unattributed)
    }

    /// The same attribution against the current directory, at the start of each
    /// transaction: an account changed through the API since the connection counts now;
    /// a deleted one is gone (an IP client falls back to what its address gives).
    pub fn refresh(&self, attribution: &Attribution, ip: IpAddr) -> Attribution {
        match attribution {
            Attribution::Account { entry, auth_user: Some(user) } => {
                match self.directory.load().account(entry.account.id) {
                    Some(current) => Attribution::Account { entry: Arc::clone(current), auth_user: Some(user.clone()) },
                    None => Attribution::Unattributed,
                }
            }
            _ => self.attribute(ip),
        }
    }

    /// May this session start AUTH? `None`: yes. An `ip`-attributed session may only
    /// when its account allows re-authentication.
    pub fn auth_refused(&self, attribution: &Attribution) -> Option<Reply> {
        match attribution {
            Attribution::Account { auth_user: Some(_), .. } => {
                Some(Reply::new(503, "5.5.1", "Error: already authenticated"))
            }
            Attribution::Account { entry, auth_user: None } if !entry.account.settings.allow_reauthentication => {
                Some(Reply::new(503, "5.5.1", "Error: authentication not allowed for this client"))
            }
            _ => None,
        }
    }

    /// Whether `ip` is blocked from AUTH after too many failures.
    pub fn auth_blocked(&self, ip: IpAddr) -> bool {
        self.guard.is_blocked(canonical(ip))
    }

    /// Checks a user name and password (argon2id, off the async threads, unless the AUTH
    /// cache remembers this password for this account and its current hash). Unknown users
    /// cost the same time as wrong passwords; a wrong password is never remembered.
    pub async fn authenticate(&self, ip: IpAddr, username: &str, password: Vec<u8>) -> AuthOutcome {
        let ip = canonical(ip);
        if self.guard.is_blocked(ip) {
            return AuthOutcome::Blocked;
        }
        let entry = self.directory.load().account_for_user(username).cloned();
        let hash = entry.as_ref().and_then(|e| e.password_hash.clone());
        let cached = match (&self.auth_cache, &entry, &hash) {
            (Some(cache), Some(entry), Some(hash)) => cache.verified(entry.account.id, hash, &password),
            _ => false,
        };
        let verified = cached || {
            let remember = self.auth_cache.clone().zip(entry.as_ref().map(|e| e.account.id));
            tokio::task::spawn_blocking(move || match hash {
                Some(hash) => {
                    let verified = password::verify(&hash, &password);
                    if let (true, Some((cache, account_id))) = (verified, remember) {
                        cache.remember(account_id, &hash, &password);
                    }
                    verified
                }
                None => {
                    password::verify_nothing(&password);
                    false
                }
            })
            .await
            .unwrap_or(false)
        };
        match (entry, verified) {
            (Some(entry), true) => {
                self.guard.succeeded(ip);
                let user = username.trim().to_ascii_lowercase();
                let attribution = Attribution::Account { entry, auth_user: Some(user) };
                AuthOutcome::Success { attribution, cached }
            }
            (entry, _) => {
                let reason = match entry {
                    None => "unknown user".to_string(),
                    Some(e) if e.password_hash.is_none() => format!("account {} has no password", e.account.name),
                    Some(e) => format!("wrong password for account {}", e.account.name),
                };
                match self.guard.failed(ip) {
                    Penalty::Delay(delay) => AuthOutcome::Failure { delay, reason },
                    Penalty::Blocked => AuthOutcome::Blocked,
                }
            }
        }
    }

    /// MAIL FROM: the account may send, the sender belongs to it, and the sender domain's
    /// own security rules hold. Unattributed sessions pass here and are refused at RCPT.
    pub async fn mail_from(
        &self,
        attribution: &Attribution,
        ip: IpAddr,
        helo: &str,
        from: Option<&Address>,
    ) -> Verdict {
        let ip = canonical(ip);
        let index = self.directory.load();
        let verdict = match attribution {
            Attribution::Unattributed => return Verdict::Accept,
            Attribution::Account { entry, .. } => {
                let account = &entry.account;
                let locked = match &self.locks {
                    Some(locks) => locks.account_locked(account).await,
                    None => account.lock.locked,
                };
                match sender::account_may_send(account, locked, index.domain(&account.domain), from) {
                    Verdict::Accept => sender::owned_by(account, from),
                    refused => refused,
                }
            }
            Attribution::TrustedNetwork(net) if self.check_trusted_senders.load(Ordering::Relaxed) => {
                let domain = from.and_then(|a| index.domain(&a.domain.as_str().to_ascii_lowercase()));
                sender::trusted_sender(domain, from, &net.to_string())
            }
            Attribution::TrustedNetwork(_) => Verdict::Accept,
        };
        if verdict != Verdict::Accept {
            return verdict;
        }
        self.sender_security(&index, ip, helo, from).await
    }

    /// Seed 003: the sender domain's allowlist of addresses, then its IP rule.
    async fn sender_security(&self, index: &DirectoryIndex, ip: IpAddr, helo: &str, from: Option<&Address>) -> Verdict {
        let Some(address) = from else { return Verdict::Accept };
        let Some(domain) = index.domain(&address.domain.as_str().to_ascii_lowercase()) else {
            return Verdict::Accept;
        };
        let allowlist = sender::sender_allowlist(domain, address);
        if allowlist != Verdict::Accept {
            return allowlist;
        }
        let skips = index.lists().skips_at_mail(&domain.name, ip, address);
        if skips.spf && domain.sender_security.ip_check == IpCheck::Spf {
            tracing::debug!(client = %ip, sender = %address, "SPF of sender security skipped by an allow list rule");
            return Verdict::Accept;
        }
        let mail_from = address.to_string();
        let spf = self.spf.clone();
        let ip_verdict = sender::client_ip_allowed(domain, ip, || async move {
            match spf {
                Some(resolver) => Some(crate::spf::check(&resolver, ip, helo, &mail_from).await),
                None => None,
            }
        })
        .await;
        sender::ip_verdict(ip_verdict, address, &domain.name)
    }

    /// The block and allow lists for one recipient, before [`RelayPolicy::rcpt`]: the
    /// global list, the account's domain's and the sender's domain's (precedence in
    /// [`crate::lists`]). An unattributed client can only be rejected by them: a discard
    /// would answer `250` to a client that may not relay, and an allow never permits
    /// relaying, so both are `None` for it and the relay verdict refuses.
    pub fn lists(
        &self,
        attribution: &Attribution,
        ip: IpAddr,
        sender: Option<&Address>,
        rcpt: &Address,
    ) -> ListVerdict {
        let index = self.directory.load();
        let sender_domain = sender.map(|a| a.domain.as_str().to_ascii_lowercase());
        let account_domain = match attribution {
            Attribution::Account { entry, .. } => Some(entry.account.domain.as_str()),
            _ => None,
        };
        // Mail from anyone to an inbound relay domain: that domain's own list applies too,
        // and a discard or an allow may (the recipient is accepted anyway).
        let inbound = match attribution {
            Attribution::Unattributed => index.inbound_domain(rcpt.domain.as_str()).map(|d| d.name.as_str()),
            _ => None,
        };
        let domains: Vec<&str> = account_domain.into_iter().chain(sender_domain.as_deref()).chain(inbound).collect();
        match index.lists().check(&domains, canonical(ip), sender, rcpt) {
            ListVerdict::Discard { .. } | ListVerdict::Allow(_)
                if *attribution == Attribution::Unattributed && inbound.is_none() =>
            {
                ListVerdict::None
            }
            verdict => verdict,
        }
    }

    /// May this session relay to `rcpt`? The unattributed only to an inbound relay domain.
    pub fn rcpt(&self, attribution: &Attribution, rcpt: &Address) -> Verdict {
        match attribution {
            Attribution::Account { .. } | Attribution::TrustedNetwork(_) => Verdict::Accept,
            Attribution::Unattributed if self.directory.load().inbound_domain(rcpt.domain.as_str()).is_some() => {
                Verdict::Accept
            }
            Attribution::Unattributed => Verdict::refuse(
                Reply::new(554, "5.7.1", format!("<{rcpt}>: Relay access denied")),
                "relay access denied: client is not in a trusted network and has no account",
            ),
        }
    }

    /// The owner of a message (account and identity) and, when the account strips its
    /// identification headers, the message without them. Mail from the unattributed (only
    /// ever to inbound relay domains) belongs to no account: its `domain` is the first
    /// recipient's inbound domain, so that domain's admins find it.
    pub fn owner(
        &self,
        attribution: &Attribution,
        from: Option<&Address>,
        recipients: &[Recipient],
        message: &[u8],
    ) -> (Owner, Option<Vec<u8>>) {
        match attribution {
            Attribution::Account { entry, auth_user } => {
                let account = &entry.account;
                let owner = Owner {
                    account_id: Some(account.id),
                    account: account.name.clone(),
                    domain: Some(account.domain.clone()),
                    identity: identity::identify(entry, auth_user.as_deref(), from, message),
                    auth_user: auth_user.clone(),
                };
                (owner, identity::strip(entry, message))
            }
            other => {
                // The unattributed only ever have inbound relay recipients accepted: their
                // mail is inbound relay mail even if the entry was removed meanwhile.
                let (account, domain) = match other {
                    Attribution::Unattributed => {
                        let index = self.directory.load();
                        let inbound = recipients
                            .iter()
                            .find_map(|r| index.inbound_domain(r.address.domain.as_str()))
                            .map(|d| d.name.clone());
                        let first = recipients.first().map(|r| r.address.domain.as_str().to_ascii_lowercase());
                        (postern_core::INBOUND_RELAY_ACCOUNT.to_string(), inbound.or(first))
                    }
                    _ => (other.describe(), None),
                };
                let owner = Owner {
                    account_id: None,
                    account,
                    domain,
                    identity: from.map(|a| a.to_string().to_lowercase()).unwrap_or_else(|| "<>".into()),
                    auth_user: None,
                };
                (owner, None)
            }
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is treated as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Identity checks once the identity is known: its lock, then its daily recipients.
pub async fn identity_checks(
    locks: Option<&Locks>,
    limits: Option<&Limits>,
    account: &Account,
    identity: &str,
    recipients: u64,
) -> LimitVerdict {
    if let Some(locks) = locks
        && let Some(lock) = locks.identity_lock_in_force(account, identity).await
    {
        let (reply, reason) = sender::locked_reply(account, &lock, sender::LockedSender::Identity(identity));
        return LimitVerdict::Refuse { reply, reason };
    }
    match limits {
        Some(limits) => limits.identity_recipients(account, identity, recipients).await,
        None => LimitVerdict::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RelayPolicy {
        RelayPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
            "10.1.2.0/24".parse().unwrap(),
        ])
    }

    #[test]
    fn lists_never_let_the_unattributed_relay() {
        use postern_core::tenancy::{ListAction, ListKind, ListRule};
        let rule = |id, kind: ListKind, value: &str, action| ListRule {
            id,
            domain: None,
            kind,
            value: value.into(),
            action,
            comment: None,
            created_at_ms: 0,
        };
        let index = DirectoryIndex::default().with_rules(vec![
            rule(1, ListKind::Network, "192.0.2.0/24", ListAction::Allow),
            rule(2, ListKind::Recipient, "bin@remote.example", ListAction::Discard),
            rule(3, ListKind::Recipient, "trap@remote.example", ListAction::Reject),
        ]);
        let p = policy().with_directory(Arc::new(Directory::new(index)));
        let (outsider, trusted) = ("192.0.2.1".parse().unwrap(), "10.1.2.3".parse().unwrap());
        let lists = |ip, rcpt: &str| {
            let rcpt = Address::parse(rcpt, false).unwrap();
            (p.lists(&p.attribute(ip), ip, None, &rcpt), p.rcpt(&p.attribute(ip), &rcpt))
        };
        let (verdict, relay) = lists(outsider, "x@remote.example");
        assert_eq!(verdict, ListVerdict::None, "an allow is not for the unattributed");
        assert!(matches!(relay, Verdict::Refuse { .. }), "and it is still refused relaying");
        assert_eq!(lists(outsider, "bin@remote.example").0, ListVerdict::None, "no 250 by discard either");
        assert!(matches!(lists(outsider, "trap@remote.example").0, ListVerdict::Reject { rule: 3, .. }));
        assert!(matches!(lists(trusted, "bin@remote.example").0, ListVerdict::Discard { rule: 2, .. }));
    }

    #[test]
    fn trusted_and_untrusted() {
        let p = policy();
        let rcpt = Address::parse("a@example.com", false).unwrap();
        assert_eq!(p.rcpt(&p.attribute("127.0.0.1".parse().unwrap()), &rcpt), Verdict::Accept);
        assert_eq!(p.rcpt(&p.attribute("::ffff:127.0.0.1".parse().unwrap()), &rcpt), Verdict::Accept);
        assert_eq!(
            p.attribute("10.1.2.3".parse().unwrap()),
            Attribution::TrustedNetwork("10.1.2.0/24".parse().unwrap())
        );
        let untrusted = p.attribute("192.0.2.1".parse().unwrap());
        assert_eq!(untrusted, Attribution::Unattributed);
        match p.rcpt(&untrusted, &rcpt) {
            Verdict::Refuse { reply, .. } => {
                assert_eq!(reply.render(), "554 5.7.1 <a@example.com>: Relay access denied\r\n")
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_reload_replaces_the_trusted_networks() {
        let p = policy();
        let outsider: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(p.attribute(outsider), Attribution::Unattributed);
        p.set_trusted(vec!["192.0.2.0/24".parse().unwrap()], false);
        assert_eq!(p.attribute(outsider), Attribution::TrustedNetwork("192.0.2.0/24".parse().unwrap()));
        assert_eq!(p.refresh(&Attribution::Unattributed, outsider), p.attribute(outsider));
        assert_eq!(p.attribute("127.0.0.1".parse().unwrap()), Attribution::Unattributed, "the old list is gone");
    }
}
