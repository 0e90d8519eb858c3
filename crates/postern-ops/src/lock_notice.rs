//! The notice of a lock an administrator sets (through any front end), sent
//! like the automatic lock's notice: through the system mailer (From the postmaster,
//! copies to the external postmasters, the null sender), with the administrator's wording.
//!
//! In: the account or identity that has just been locked. Out: a queued notice, or a log
//! line saying why none was sent. The lock stands either way: a notice that cannot be
//! queued is logged, never an error of the request.
//!
//! To whom: the automatic lock writes to the sender of the message that caused it; an
//! administrator's lock has no such message, so
//! - an account lock goes to the account's own address (a `user` account's name); `ip`
//!   and `domain` accounts have no address of their own, so theirs goes to
//!   `postmaster@<the account's domain>`, the mailbox RFC 5321 §4.5.1 requires of a mail
//!   domain;
//! - an identity lock goes to the identity when its name is an address (`bob@example.com`
//!   or `Bob <bob@example.com>`); an identity named otherwise (a header value such as
//!   `client-7`) has no address, and no notice is sent.
//!
//! A notice is sent only when the lock is new: locking again what an administrator had
//! already locked sends nothing.

use postern_core::tenancy::{Account, AccountKind, Identity, LockKind, LockState};
use postern_core::{Address, Owner};
use postern_pipeline::notice::{Locked, administrator_lock_notice};

use crate::Ops;

/// Whether `before` -> `after` is a new administrator's lock.
pub(crate) fn newly_locked(before: &LockState, after: &LockState) -> bool {
    after.locked && !(before.locked && before.kind() == LockKind::Administrator)
}

/// The notice that `account` is locked.
pub(crate) async fn account_locked(ops: &Ops, account: &Account) {
    let to = match account.kind {
        AccountKind::User => Address::parse(&account.name, true).ok(),
        AccountKind::Ip | AccountKind::Domain => Address::parse(&format!("postmaster@{}", account.domain), true).ok(),
    };
    let Some(to) = to else {
        tracing::warn!(account = account.name.as_str(), "account locked by an administrator: no address to notify");
        return;
    };
    send(ops, account, administrator_lock_notice(account, &to, Locked::Account), &to).await;
}

/// The notice that `identity` (of `account`) is locked.
pub(crate) async fn identity_locked(ops: &Ops, account: &Account, identity: &Identity) {
    let Some(to) = identity_address(&identity.name) else {
        tracing::info!(
            identity = identity.name.as_str(),
            "identity locked by an administrator: not an address, no notice"
        );
        return;
    };
    let mail = administrator_lock_notice(account, &to, Locked::Identity(&identity.name));
    send(ops, account, mail, &to).await;
}

async fn send(ops: &Ops, account: &Account, mail: postern_core::SystemMail, to: &Address) {
    let Some(mailer) = &ops.system_mail else {
        tracing::warn!(to = %to, "no system mailer: lock notice not sent");
        return;
    };
    let owner = Owner {
        account_id: Some(account.id),
        account: account.name.clone(),
        domain: Some(account.domain.clone()),
        identity: "<>".into(),
        auth_user: None,
    };
    match mailer.send_for(mail, Some(owner)).await {
        Ok(id) => tracing::info!(queue_id = %id, to = %to, account = account.name.as_str(),
            "lock notice queued (locked by an administrator)"),
        Err(reply) => tracing::error!(reply = %reply.summary(), to = %to, "cannot queue the lock notice"),
    }
}

/// The address an identity's name is: the name itself, or the part inside its last `<...>`.
fn identity_address(name: &str) -> Option<Address> {
    let name = name.trim();
    let inner = match (name.rfind('<'), name.ends_with('>')) {
        (Some(open), true) => &name[open + 1..name.len() - 1],
        _ => name,
    };
    Address::parse(inner.trim(), true).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_that_are_addresses() {
        let a = |s: &str| identity_address(s).map(|a| a.to_string());
        assert_eq!(a("bob@example.com").as_deref(), Some("bob@example.com"));
        assert_eq!(a(" Bob Smith <bob@example.com> ").as_deref(), Some("bob@example.com"));
        assert_eq!(a("client-7"), None);
        assert_eq!(a("customer=c42"), None);
        assert_eq!(a("<>"), None);
    }

    #[test]
    fn only_a_new_administrators_lock_is_news() {
        let admin = crate::accounts::lock_by_administrator(true);
        let automatic = LockState { locked: true, by: Some(LockKind::Automatic), ..LockState::default() };
        assert!(newly_locked(&LockState::default(), &admin));
        assert!(newly_locked(&automatic, &admin), "an automatic lock made permanent by hand");
        assert!(!newly_locked(&admin, &admin), "locked again");
        assert!(!newly_locked(&admin, &LockState::default()), "an unlock");
    }
}
