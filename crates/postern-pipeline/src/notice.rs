//! Notices we write ourselves: the lock notice to a sender whose account or identity was
//! just locked (SPEC.md §3), built from the account's lock template. Sent with the null
//! sender (no bounce can loop back) from `postmaster@<hostname>`, queued like any message.

use postern_core::event::now_ms;
use postern_core::tenancy::Account;
use postern_core::{Address, BodyType, ClientInfo, Envelope, Owner, QueueId, Recipient};

/// (envelope, head, body) of the notice to `to` that `what` (e.g. "account x") is locked.
pub fn lock_notice(
    hostname: &str,
    account: &Account,
    owner: &Owner,
    to: &Address,
    what: &str,
) -> (Envelope, Vec<u8>, Vec<u8>) {
    let queue_id = QueueId::generate();
    let template: String = account.settings.lock.template.chars().filter(|c| *c != '\r').collect();
    let subject = format!("Sending from {} is locked", owner.account).replace(['\r', '\n'], " ");
    let head = format!(
        "From: Mail Delivery System <postmaster@{hostname}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {}\r\n\
         Message-ID: <{queue_id}.lock@{hostname}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        rfc5322_now()
    );
    let body = format!("\r\n{}\r\n\r\nLocked: {what}.\r\nLast message from: {to}\r\n", template.replace('\n', "\r\n"));
    let size = (head.len() + body.len()) as u64;
    let envelope = Envelope {
        queue_id,
        received_at_ms: now_ms(),
        sender: None,
        recipients: vec![Recipient { address: to.clone(), notify: None, orcpt: None }],
        body: BodyType::EightBitMime,
        smtputf8: to.is_utf8(),
        ret: None,
        envid: None,
        client: ClientInfo {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 0,
            listener: "notice".into(),
            helo: None,
            tls: None,
        },
        size,
        owner: Some(Owner { identity: "<>".into(), auth_user: None, ..owner.clone() }),
    };
    (envelope, head.into_bytes(), body.into_bytes())
}

/// Now, as an RFC 5322 `Date:` value.
fn rfc5322_now() -> String {
    chrono::Local::now().format("%a, %d %b %Y %H:%M:%S %z").to_string()
}
