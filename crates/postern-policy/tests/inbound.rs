//! Inbound relay domains in the policy: the unattributed may send to an inbound domain
//! (exactly that domain, whatever the local part says) and to nothing else; such mail has
//! no account and belongs to the inbound domain; the domain's own list applies to it.

use std::net::IpAddr;
use std::sync::Arc;

use postern_core::{Address, Recipient, Verdict};
use postern_policy::{Attribution, Directory, DirectoryIndex, ListVerdict, RelayPolicy};

/// Trusted: 10.1.2.0/24 only.
fn policy() -> RelayPolicy {
    RelayPolicy::new(vec!["10.1.2.0/24".parse().unwrap()])
}

fn inbound(name: &str) -> postern_core::tenancy::InboundDomain {
    postern_core::tenancy::InboundDomain {
        name: name.into(),
        host: "10.0.0.25".into(),
        port: 25,
        tls: Default::default(),
        require_tls: false,
        comment: None,
        created_at_ms: 0,
    }
}

#[test]
fn the_unattributed_reach_inbound_domains_and_nothing_else() {
    let index = DirectoryIndex::default().with_inbound_domains(vec![inbound("inbound.example")]);
    let p = policy().with_directory(Arc::new(Directory::new(index)));
    let outsider = p.attribute("192.0.2.1".parse().unwrap());
    assert_eq!(outsider, Attribution::Unattributed);
    let verdict = |rcpt: &str, utf8: bool| {
        let rcpt = Address::parse(rcpt, utf8).unwrap();
        p.rcpt(&outsider, &rcpt) == Verdict::Accept
    };
    // Accepted: the domain after the last `@` is the inbound domain, whatever the
    // local part says (delivery routes on that domain only).
    for ok in [
        "bob@inbound.example",
        "BOB@INBOUND.EXAMPLE",
        "user%evil.example@inbound.example",
        "evil.example!user@inbound.example",
        "\"user@evil.example\"@inbound.example",
    ] {
        assert!(verdict(ok, false), "{ok}");
    }
    for refused in [
        "bob@evil.example",
        "user@inbound.example.evil.example",
        "user@sub.inbound.example",
        "user@inbound.example.com",
        "user@xn--inbound-example.example",
        "user@[127.0.0.1]",
        "user@example",
    ] {
        assert!(!verdict(refused, false), "{refused}");
    }
    assert!(!verdict("user@inb\u{43e}und.example", true), "a Cyrillic lookalike is another domain");
    // An address the parser refuses never reaches the policy.
    for syntax in ["@inbound.example:user@evil.example", "user@evil.example@inbound.example", "user@inbound.example."] {
        assert!(Address::parse(syntax, false).is_err(), "{syntax}");
    }

    // The owner of such a message: no account, the inbound domain to be found under.
    let rcpt = |a: &str| Recipient { address: Address::parse(a, false).unwrap(), notify: None, orcpt: None };
    let recipients = [rcpt("a@other.example"), rcpt("b@Inbound.Example")];
    let (owner, stripped) = p.owner(&outsider, None, &recipients, b"Subject: x\r\n\r\n");
    assert_eq!(
        (owner.account_id, owner.domain.as_deref(), owner.account.as_str()),
        (None, Some("inbound.example"), "inbound-relay")
    );
    assert!(stripped.is_none());
    // The entry removed between RCPT and the end of data: still nobody's inbound mail.
    let (owner, _) = p.owner(&outsider, None, &[rcpt("a@Gone.Example")], b"");
    assert_eq!((owner.account.as_str(), owner.domain.as_deref()), ("inbound-relay", Some("gone.example")));
    assert!(owner.is_inbound_relay());
    let trusted = p.attribute("10.1.2.3".parse().unwrap());
    let (owner, _) = p.owner(&trusted, None, &[rcpt("b@inbound.example")], b"");
    assert_eq!(owner.domain, None, "a trusted network's mail stays without a domain");
}

#[test]
fn inbound_mail_meets_the_lists_with_its_domain_list() {
    use postern_core::tenancy::{ListAction, ListKind, ListRule};
    let rule = |id, domain: Option<&str>, kind: ListKind, value: &str, action| ListRule {
        id,
        domain: domain.map(Into::into),
        kind,
        value: value.into(),
        action,
        comment: None,
        created_at_ms: 0,
    };
    let index = DirectoryIndex::default()
        .with_rules(vec![
            rule(1, None, ListKind::Sender, "spammer@bad.example", ListAction::Reject),
            rule(2, Some("inbound.example"), ListKind::Ip, "192.0.2.9", ListAction::Reject),
            rule(3, None, ListKind::Recipient, "bin@inbound.example", ListAction::Discard),
            rule(4, None, ListKind::Recipient, "bin@remote.example", ListAction::Discard),
        ])
        .with_inbound_domains(vec![inbound("inbound.example")]);
    let p = policy().with_directory(Arc::new(Directory::new(index)));
    let check = |ip: &str, sender: &str, rcpt: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        let sender = Address::parse(sender, false).unwrap();
        p.lists(&p.attribute(ip), ip, Some(&sender), &Address::parse(rcpt, false).unwrap())
    };
    let rejected = |v: ListVerdict, id: i64| matches!(v, ListVerdict::Reject { rule, .. } if rule == id);
    assert!(rejected(check("192.0.2.1", "spammer@bad.example", "x@inbound.example"), 1));
    assert!(rejected(check("192.0.2.9", "a@b.example", "x@inbound.example"), 2), "the inbound domain's own list");
    assert_eq!(check("192.0.2.9", "a@b.example", "x@remote.example"), ListVerdict::None, "not for other mail");
    assert!(matches!(check("192.0.2.1", "a@b.example", "bin@inbound.example"), ListVerdict::Discard { rule: 3, .. }));
    assert_eq!(check("192.0.2.1", "a@b.example", "bin@remote.example"), ListVerdict::None, "no 250 to others");
}
