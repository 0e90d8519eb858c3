//! The lock notice (SPEC.md §3): the message to a sender whose account or identity was just
//! locked. Pure: it builds a [`SystemMail`]; the system mailer (`postern-queue`'s
//! `system_mail`) writes `From` (the postmaster), `To`, `Date`, `Message-ID`,
//! `Auto-Submitted`, sends it with the null sender and copies it to the external
//! postmasters.
//!
//! In: the account, the recipient, what was locked and who locked it (an automatic lock or
//! an administrator). Out: the
//! [`SystemMail`]. An automatic (spam) lock quotes the account's lock template; an
//! administrator's lock (through the API or the CLI) says that an administrator locked it,
//! never the spam text, as the SMTP reply to a locked sender does.

use postern_core::tenancy::Account;
use postern_core::{Address, SystemMail, SystemMailKind};

/// What an administrator locked, for the wording of the notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked<'a> {
    /// The account.
    Account,
    /// One identity of the account.
    Identity(&'a str),
}

/// The notice of an automatic (spam) lock to `to`, the sender of the message that caused
/// it: the account's lock template, what is locked (`what`, e.g. "account x and identity
/// y") and the sender.
pub fn automatic_lock_notice(account: &Account, to: &Address, what: &str) -> SystemMail {
    let template: String = account.settings.lock.template.chars().filter(|c| *c != '\r').collect();
    notice(account, to, &template, what, Some(to))
}

/// The notice of a lock an administrator set (API or CLI) to `to`: that an administrator
/// locked it, never the spam text of the template.
pub fn administrator_lock_notice(account: &Account, to: &Address, locked: Locked<'_>) -> SystemMail {
    let (subject, what) = match locked {
        Locked::Account => ("Your account", format!("account {}", account.name)),
        Locked::Identity(identity) => ("This sender", format!("identity {identity}")),
    };
    let text = format!("{subject} has been locked by an administrator. Contact your administrator.");
    notice(account, to, &text, &what, None)
}

fn notice(account: &Account, to: &Address, text: &str, what: &str, last_from: Option<&Address>) -> SystemMail {
    let mut body = format!("{}\r\n\r\nLocked: {what}.\r\n", text.replace('\n', "\r\n"));
    if let Some(from) = last_from {
        body.push_str(&format!("Last message from: {from}\r\n"));
    }
    SystemMail {
        kind: SystemMailKind::LockNotice,
        to: vec![to.clone()],
        subject: format!("Sending from {} is locked", account.name),
        mime_headers: vec![
            "MIME-Version: 1.0".into(),
            "Content-Type: text/plain; charset=utf-8".into(),
            "Content-Transfer-Encoding: 8bit".into(),
        ],
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::AccountSettings;

    use super::*;

    fn account() -> Account {
        let mut settings = AccountSettings::default();
        settings.lock.template = "Spam was sent.\nCall 555-0100.".into();
        Account { id: 1, ..postern_core::test_support::account(settings) }
    }

    #[test]
    fn an_automatic_lock_quotes_the_template() {
        let to = Address::parse("alice@example.com", false).unwrap();
        let mail = automatic_lock_notice(&account(), &to, "account alice@example.com");
        assert_eq!(mail.kind, SystemMailKind::LockNotice);
        assert_eq!(mail.to, vec![to]);
        assert_eq!(mail.subject, "Sending from alice@example.com is locked");
        let body = String::from_utf8(mail.body).unwrap();
        assert_eq!(
            body,
            "Spam was sent.\r\nCall 555-0100.\r\n\r\nLocked: account alice@example.com.\r\n\
             Last message from: alice@example.com\r\n"
        );
    }

    #[test]
    fn an_administrators_lock_says_so_and_never_the_spam_text() {
        let to = Address::parse("bob@example.com", false).unwrap();
        let mail = administrator_lock_notice(&account(), &to, Locked::Identity("bob@example.com"));
        let body = String::from_utf8(mail.body).unwrap();
        assert!(body.starts_with("This sender has been locked by an administrator. Contact your administrator."));
        assert!(body.contains("Locked: identity bob@example.com."));
        assert!(!body.contains("Spam"), "{body}");
        let mail = administrator_lock_notice(&account(), &to, Locked::Account);
        assert!(String::from_utf8(mail.body).unwrap().starts_with("Your account has been locked by an administrator"));
    }
}
