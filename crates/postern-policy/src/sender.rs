//! Sender rules at MAIL FROM (SPEC.md §1–§2): the account may send (not locked, its
//! domain's outgoing filter enabled), the sender belongs to the account, and the sender's
//! domain's own security rules (seed 003: address allowlist; IP allowlist or SPF) hold.
//!
//! Replies follow Postfix's wording where it has one (`553 5.7.1 <a@b>: Sender address
//! rejected: not owned by user x`), so operators recognise them.

use std::net::IpAddr;

use postern_core::tenancy::{Account, AccountKind, Domain, IpCheck, LockKind, LockState};
use postern_core::{Address, Reply, Verdict};

use crate::spf::SpfResult;

/// `<a@b>`, or `<>` for the null sender.
fn shown(sender: Option<&Address>) -> String {
    sender.map(|a| format!("<{a}>")).unwrap_or_else(|| "<>".to_string())
}

fn refuse(code: u16, status: &'static str, sender: Option<&Address>, text: &str, reason: String) -> Verdict {
    Verdict::refuse(Reply::new(code, status, format!("{}: Sender address rejected: {text}", shown(sender))), reason)
}

/// The account itself may send: not locked (`locked`: the lock in force now, an expired
/// automatic lock already lifted), its domain known and enabled.
pub fn account_may_send(account: &Account, locked: bool, domain: Option<&Domain>, sender: Option<&Address>) -> Verdict {
    if locked {
        let (reply, _) = locked_reply(account, &account.lock, LockedSender::Account);
        let reason =
            format!("account {} is locked ({})", account.name, account.lock.reason.as_deref().unwrap_or("no reason"));
        return Verdict::refuse(reply, reason);
    }
    match domain {
        Some(d) if d.filter_enabled => Verdict::Accept,
        Some(_) => refuse(
            550,
            "5.7.1",
            sender,
            &format!("outgoing filter is not enabled for domain {}", account.domain),
            format!("domain {} of account {} is disabled", account.domain, account.name),
        ),
        None => refuse(
            550,
            "5.7.1",
            sender,
            &format!("domain {} is unknown", account.domain),
            format!("account {} belongs to a domain that does not exist", account.name),
        ),
    }
}

/// What is locked: the whole account, or one identity behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockedSender<'a> {
    Account,
    Identity(&'a str),
}

/// The refusal of a locked sender: `550 5.7.1`, and the reason for the log. An automatic
/// (spam) lock answers with the account's lock template; an administrator's lock says
/// that an administrator locked it, never the spam text.
pub fn locked_reply(account: &Account, lock: &LockState, what: LockedSender<'_>) -> (Reply, String) {
    let (subject, logged) = match what {
        LockedSender::Account => ("Your account", format!("account {}", account.name)),
        LockedSender::Identity(identity) => ("This sender", format!("identity {identity}")),
    };
    match lock.kind() {
        LockKind::Administrator => (
            Reply::new(
                550,
                "5.7.1",
                format!("{subject} has been locked by an administrator. Contact your administrator."),
            ),
            format!("{logged} is locked by an administrator"),
        ),
        LockKind::Automatic => {
            let text = account.settings.lock.template.replace(['\r', '\n'], " ");
            let text: String = text.chars().take(400).collect();
            (Reply::new(550, "5.7.1", text), format!("{logged} is locked automatically (spam)"))
        }
    }
}

/// "Check that the sender address belongs to the login": `user` accounts their own
/// address, `domain` accounts any address of their domain, `ip` accounts any address of
/// their domain unless foreign sender domains are allowed. The null sender (bounces) is
/// always allowed.
pub fn owned_by(account: &Account, sender: Option<&Address>) -> Verdict {
    let Some(address) = sender else { return Verdict::Accept };
    let domain = address.domain.as_str().to_ascii_lowercase();
    let owned = match account.kind {
        AccountKind::User => {
            let full = format!("{}@{}", address.local_part, domain);
            full.eq_ignore_ascii_case(&account.name)
        }
        AccountKind::Domain => domain == account.domain,
        AccountKind::Ip => domain == account.domain || account.settings.allow_foreign_sender_domains,
    };
    if owned {
        Verdict::Accept
    } else {
        refuse(
            553,
            "5.7.1",
            sender,
            &format!("not owned by user {}", account.name),
            format!("sender not owned by {} account {}", account.kind.name(), account.name),
        )
    }
}

/// A trusted network's sender, when the operator asked to check it: its domain must be in
/// the directory with the outgoing filter enabled.
pub fn trusted_sender(domain: Option<&Domain>, sender: Option<&Address>, network: &str) -> Verdict {
    if sender.is_none() || domain.is_some_and(|d| d.filter_enabled) {
        return Verdict::Accept;
    }
    refuse(
        553,
        "5.7.1",
        sender,
        &format!("not owned by user {network}"),
        format!("sender domain of trusted network {network} is not an enabled domain"),
    )
}

/// What sender security needs to know about the client, resolved lazily: SPF is asked
/// only when the domain's rule needs it.
pub enum IpVerdict {
    Allowed,
    NotAllowed(String),
    /// DNS trouble: try again later.
    Temporary(String),
}

/// The address part of seed 003's sender security, and which IP rule applies.
pub fn sender_allowlist(domain: &Domain, sender: &Address) -> Verdict {
    let rules = &domain.sender_security;
    if rules.allowed_senders.is_empty() {
        return Verdict::Accept;
    }
    let address = format!("{}@{}", sender.local_part, sender.domain.as_str());
    if rules.allowed_senders.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
        return Verdict::Accept;
    }
    refuse(
        550,
        "5.7.1",
        Some(sender),
        &format!("not an allowed sender of domain {}", domain.name),
        format!("sender security of {}: not on the sender allowlist", domain.name),
    )
}

/// The IP part of sender security. `spf` is called only for [`IpCheck::Spf`].
pub async fn client_ip_allowed<F, Fut>(domain: &Domain, ip: IpAddr, spf: F) -> IpVerdict
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<SpfResult>>,
{
    match domain.sender_security.ip_check {
        IpCheck::None => IpVerdict::Allowed,
        IpCheck::Allowlist => {
            if domain.sender_security.allowed_ips.iter().any(|net| net.contains(&ip)) {
                IpVerdict::Allowed
            } else {
                IpVerdict::NotAllowed(format!("client IP {ip} is not on the IP allowlist of domain {}", domain.name))
            }
        }
        IpCheck::Spf => match spf().await {
            Some(SpfResult::Pass) => IpVerdict::Allowed,
            Some(SpfResult::TempError) => {
                IpVerdict::Temporary(format!("SPF check of domain {} failed temporarily (temperror)", domain.name))
            }
            Some(result) => IpVerdict::NotAllowed(format!(
                "client IP {ip} is not permitted by the SPF record of domain {} ({result})",
                domain.name
            )),
            None => IpVerdict::Temporary(format!("SPF of domain {} cannot be checked: no resolver", domain.name)),
        },
    }
}

/// The reply for an [`IpVerdict`].
pub fn ip_verdict(verdict: IpVerdict, sender: &Address, domain: &str) -> Verdict {
    match verdict {
        IpVerdict::Allowed => Verdict::Accept,
        IpVerdict::NotAllowed(text) => {
            refuse(550, "5.7.1", Some(sender), &text, format!("sender security of {domain}: {text}"))
        }
        IpVerdict::Temporary(text) => {
            refuse(451, "4.4.3", Some(sender), &text, format!("sender security of {domain}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::tenancy::{LockState, SenderSecurity};

    fn account(kind: AccountKind, name: &str) -> Account {
        Account { has_password: true, ..postern_core::test_support::account_of(1, "example.com", kind, name) }
    }

    fn addr(text: &str) -> Address {
        Address::parse(text, false).unwrap()
    }

    fn reply(v: Verdict) -> String {
        match v {
            Verdict::Refuse { reply, .. } => reply.render(),
            Verdict::Accept => "accept".into(),
        }
    }

    #[test]
    fn ownership_per_kind() {
        let user = account(AccountKind::User, "alice@example.com");
        assert_eq!(owned_by(&user, Some(&addr("Alice@Example.COM"))), Verdict::Accept);
        assert_eq!(
            reply(owned_by(&user, Some(&addr("bob@example.com")))),
            "553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com\r\n"
        );
        assert_eq!(owned_by(&user, None), Verdict::Accept);
        let domain = account(AccountKind::Domain, "example.com");
        assert_eq!(owned_by(&domain, Some(&addr("anyone@example.com"))), Verdict::Accept);
        assert_ne!(owned_by(&domain, Some(&addr("anyone@sub.example.com"))), Verdict::Accept);
        let mut ip = account(AccountKind::Ip, "192.0.2.0/24");
        assert_ne!(owned_by(&ip, Some(&addr("x@other.example"))), Verdict::Accept);
        ip.settings.allow_foreign_sender_domains = true;
        assert_eq!(owned_by(&ip, Some(&addr("x@other.example"))), Verdict::Accept);
    }

    #[test]
    fn disabled_domain_and_lock() {
        let a = account(AccountKind::User, "alice@example.com");
        let mut d = Domain {
            name: "example.com".into(),
            filter_enabled: false,
            sender_security: SenderSecurity::default(),
            abuse_contact: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let s = addr("alice@example.com");
        assert_eq!(
            reply(account_may_send(&a, false, Some(&d), Some(&s))),
            "550 5.7.1 <alice@example.com>: Sender address rejected: outgoing filter is not enabled for domain example.com\r\n"
        );
        d.filter_enabled = true;
        assert_eq!(account_may_send(&a, false, Some(&d), Some(&s)), Verdict::Accept);
        assert!(
            reply(account_may_send(&a, true, Some(&d), Some(&s))).starts_with("550 5.7.1 Your account has been locked")
        );
    }

    #[test]
    fn an_administrators_lock_says_so() {
        use postern_core::tenancy::{ADMINISTRATOR_LOCK_REASON, LockKind};
        let mut a = account(AccountKind::User, "alice@example.com");
        a.lock = LockState { locked: true, by: Some(LockKind::Administrator), ..LockState::default() };
        let (r, reason) = locked_reply(&a, &a.lock, LockedSender::Account);
        let text = r.render();
        assert_eq!(text, "550 5.7.1 Your account has been locked by an administrator. Contact your administrator.\r\n");
        assert!(!text.contains("spam"), "{text}");
        assert!(reason.contains("by an administrator"), "{reason}");
        // A lock stored before `by` existed is recognised by its reason.
        let old = LockState { locked: true, reason: Some(ADMINISTRATOR_LOCK_REASON.into()), ..LockState::default() };
        let (r, _) = locked_reply(&a, &old, LockedSender::Identity("x@example.com"));
        assert!(r.render().starts_with("550 5.7.1 This sender has been locked by an administrator"));
        let spam = LockState { locked: true, by: Some(LockKind::Automatic), ..LockState::default() };
        let (r, reason) = locked_reply(&a, &spam, LockedSender::Account);
        assert!(r.render().contains("because it sent spam"));
        assert!(reason.contains("automatically"), "{reason}");
    }
}
