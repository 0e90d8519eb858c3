//! Builders for the values tests write again and again: an account, a client, an envelope,
//! its owner and a submission, filled with plain defaults so a test names only what it is
//! about (`Envelope { size: 10, ..envelope(Some("a@example.com"), &["b@example.net"]) }`).
//!
//! Compiled only for tests: under `cfg(test)` here, and for other crates through the
//! `test-support` feature, which they turn on in `[dev-dependencies]` only (features of
//! dev-dependencies reach test builds, never the binary). The builders panic on a malformed
//! address or client: their arguments are the test's own constants.

use std::net::SocketAddr;

use crate::tenancy::{Account, AccountKind, AccountSettings, LockState};
use crate::{
    Address, BodyType, BoxFuture, ClientInfo, Envelope, Event, EventSink, Owner, QueueId, Recipient, Submission,
};

/// `alice@example.com`, user account 7 of `example.com`, with `settings`.
/// An event sink that keeps every event in memory, in order.
#[derive(Default)]
pub struct Collected(pub std::sync::Mutex<Vec<Event>>);

impl EventSink for Collected {
    fn emit(&self, event: Event) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event);
        Box::pin(async {})
    }
}

pub fn account(settings: AccountSettings) -> Account {
    Account { settings, has_password: true, ..account_of(7, "example.com", AccountKind::User, "alice@example.com") }
}

/// Account `id` of `domain`: its kind's default settings, a password unless it is an `ip`
/// account, unlocked, created at time 0.
pub fn account_of(id: i64, domain: &str, kind: AccountKind, name: &str) -> Account {
    Account {
        id,
        domain: domain.into(),
        kind,
        name: name.into(),
        has_password: kind != AccountKind::Ip,
        settings: AccountSettings::for_kind(kind),
        lock: LockState::default(),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

/// A client at `address` (`ip:port`) on the listener named `listener`, before HELO, without TLS.
pub fn client(address: &str, listener: &str) -> ClientInfo {
    let address: SocketAddr = address.parse().expect("client address ip:port");
    ClientInfo { ip: address.ip(), port: address.port(), listener: listener.into(), helo: None, tls: None }
}

/// A recipient without DSN parameters.
pub fn recipient(address: &str) -> Recipient {
    Recipient { address: Address::parse(address, true).expect("recipient address"), notify: None, orcpt: None }
}

/// A fresh queue id, from `sender` (`None`: `<>`) to `recipients`, received at time 0 from
/// `127.0.0.1:1` on `submission`, 7bit, no DSN parameters, size 0, no owner.
pub fn envelope(sender: Option<&str>, recipients: &[&str]) -> Envelope {
    Envelope {
        queue_id: QueueId::generate(),
        received_at_ms: 0,
        sender: sender.map(|s| Address::parse(s, true).expect("sender address")),
        recipients: recipients.iter().map(|r| recipient(r)).collect(),
        body: BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: None,
        client: client("127.0.0.1:1", "submission"),
        size: 0,
        owner: None,
    }
}

/// The owner `identity` of account `account_id` of `domain`, the account named as the
/// identity, without AUTH.
pub fn owner(account_id: Option<i64>, domain: Option<&str>, identity: &str) -> Owner {
    Owner {
        account_id,
        account: identity.into(),
        domain: domain.map(str::to_string),
        identity: identity.into(),
        auth_user: None,
    }
}

/// What session 1 of `mx.test` hands the pipeline: `envelope` and `message` from `account`
/// (`None`: a trusted network), after our `Received: from test` head, no Message-ID noted.
pub fn submission(account: Option<Account>, envelope: Envelope, message: impl Into<Vec<u8>>) -> Submission {
    Submission {
        session: 1,
        hostname: "mx.test".into(),
        account,
        envelope,
        head: "Received: from test\r\n".into(),
        message: message.into(),
        message_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_what_the_test_does_not_name() {
        let env = envelope(Some("alice@example.com"), &["bob@remote.example", "carol@remote.example"]);
        assert_eq!(env.sender_display(), "alice@example.com");
        assert_eq!(env.recipients.len(), 2);
        assert_eq!((env.client.ip.to_string(), env.client.port), ("127.0.0.1".into(), 1));
        assert!(envelope(None, &[]).sender.is_none());
        let ip = account_of(1, "example.com", AccountKind::Ip, "192.0.2.0/24");
        assert!(!ip.has_password);
        let alice = account(AccountSettings::default());
        assert_eq!((alice.id, alice.name.as_str(), alice.has_password), (7, "alice@example.com", true));
        let c = client("192.0.2.1:40000", "smtp");
        assert_eq!((c.port, c.listener.as_str()), (40000, "smtp"));
    }
}
