//! Matching and precedence of the block and allow lists.

use postern_core::Address;
use postern_core::tenancy::{ListAction, ListKind, ListRule};

use super::*;

fn rule(id: i64, domain: Option<&str>, kind: ListKind, value: &str, action: ListAction) -> ListRule {
    let value = kind.canonical(value).unwrap();
    ListRule { id, domain: domain.map(str::to_string), kind, value, action, comment: None, created_at_ms: 0 }
}

fn addr(text: &str) -> Address {
    Address::parse(text, false).unwrap()
}

/// The verdict for a message from `ip` and `sender` to `rcpt`, with the lists of `domains`.
fn check(index: &ListIndex, domains: &[&str], ip: &str, sender: &str, rcpt: &str) -> ListVerdict {
    let sender = (!sender.is_empty()).then(|| addr(sender));
    index.check(domains, ip.parse().unwrap(), sender.as_ref(), &addr(rcpt))
}

fn rejected(verdict: ListVerdict) -> (i64, String) {
    match verdict {
        ListVerdict::Reject { rule, reply, .. } => (rule, reply.render()),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

use ListAction::{Allow, Discard, Reject};
use ListKind::{Ip, Network, Recipient, Sender, SenderDomain};

#[test]
fn skips_follow_seed_004s_table() {
    let s = |kind| {
        let k = Skips::of(kind);
        [k.dnsbl, k.spf, k.virus, k.dkim, k.dmarc]
    };
    assert_eq!(s(Ip), [true, true, true, true, true]);
    assert_eq!(s(Network), [true, true, false, true, true]);
    assert_eq!(s(Sender), [false, true, true, false, false]);
    assert_eq!(s(Recipient), [false, true, true, false, false]);
    assert_eq!(s(SenderDomain), [false, true, true, true, true]);
    assert_eq!(Skips::of(Sender).union(Skips::of(Network)), Skips::ALL);
    assert_eq!(Skips::of(Sender).intersection(Skips::of(Network)), Skips { spf: true, ..Skips::NONE });
    assert_eq!(Skips::of(Network).names(), "dnsbl,spf,dkim,dmarc");
    assert!(Skips::NONE.is_empty() && Skips::NONE.names().is_empty());
}

#[test]
fn every_kind_matches_with_exact_replies() {
    let index = ListIndex::build(vec![
        rule(1, None, Ip, "192.0.2.7", Reject),
        rule(2, None, Network, "198.51.100.0/255.255.255.0", Reject),
        rule(3, None, Sender, "Spammer@Example.NET", Reject),
        rule(4, None, Recipient, "trap@remote.example", Reject),
        rule(5, None, SenderDomain, "spam.example", Reject),
        rule(6, None, Network, "2001:db8::/32", Reject),
    ]);
    assert_eq!(index.len(), 6);
    let ok = "203.0.113.1";
    assert_eq!(
        rejected(check(&index, &[], "192.0.2.7", "a@b.example", "x@y.example")),
        (1, "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: blocked by list rule 1\r\n".into())
    );
    assert_eq!(check(&index, &[], "192.0.2.8", "a@b.example", "x@y.example"), ListVerdict::None);
    assert_eq!(rejected(check(&index, &[], "198.51.100.200", "a@b.example", "x@y.example")).0, 2);
    assert_eq!(rejected(check(&index, &[], "2001:db8:5::1", "a@b.example", "x@y.example")).0, 6);
    assert_eq!(
        rejected(check(&index, &[], ok, "SPAMMER@example.net", "x@y.example")),
        (3, "554 5.7.1 <SPAMMER@example.net>: Sender address rejected: blocked by list rule 3\r\n".into())
    );
    assert_eq!(
        rejected(check(&index, &[], ok, "a@b.example", "Trap@Remote.Example")),
        (4, "554 5.7.1 <Trap@Remote.Example>: Recipient address rejected: blocked by list rule 4\r\n".into())
    );
    assert_eq!(rejected(check(&index, &[], ok, "anyone@SPAM.example", "x@y.example")).0, 5);
    // Sender domains match exactly: a subdomain is another domain.
    assert_eq!(check(&index, &[], ok, "a@mail.spam.example", "x@y.example"), ListVerdict::None);
    // The null sender matches no sender rule.
    assert_eq!(check(&index, &[], ok, "", "x@y.example"), ListVerdict::None);
}

#[test]
fn discard_names_its_rule() {
    let index = ListIndex::build(vec![rule(9, None, SenderDomain, "bulk.example", Discard)]);
    match check(&index, &[], "192.0.2.1", "news@bulk.example", "x@y.example") {
        ListVerdict::Discard { rule, reason } => {
            assert_eq!(rule, 9);
            assert_eq!(reason, "discarded by list rule 9 (global: discard sender_domain bulk.example)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_allow_wins_over_blocks_of_the_same_element() {
    let index = ListIndex::build(vec![
        rule(1, None, Network, "10.0.0.0/8", Allow),
        rule(2, None, Ip, "10.1.2.3", Reject),
        rule(3, None, SenderDomain, "partner.example", Reject),
        rule(4, None, Sender, "boss@partner.example", Allow),
    ]);
    assert_eq!(check(&index, &[], "10.1.2.3", "", "x@y.example"), ListVerdict::Allow(Skips::of(Network)));
    assert_eq!(
        check(&index, &[], "192.0.2.1", "boss@partner.example", "x@y.example"),
        ListVerdict::Allow(Skips::of(Sender))
    );
    assert_eq!(rejected(check(&index, &[], "192.0.2.1", "other@partner.example", "x@y.example")).0, 3);
    // Two allows for one element: their skips add up.
    let index =
        ListIndex::build(vec![rule(1, None, Network, "10.0.0.0/8", Allow), rule(2, None, Ip, "10.1.2.3", Allow)]);
    assert_eq!(check(&index, &[], "10.1.2.3", "", "x@y.example"), ListVerdict::Allow(Skips::ALL));
}

#[test]
fn a_block_of_another_element_wins_over_an_allow() {
    let index = ListIndex::build(vec![
        rule(1, None, Ip, "192.0.2.7", Allow),
        rule(2, None, Recipient, "trap@remote.example", Reject),
        rule(3, None, Recipient, "bin@remote.example", Discard),
        rule(4, None, Sender, "a@b.example", Allow),
    ]);
    assert_eq!(rejected(check(&index, &[], "192.0.2.7", "", "trap@remote.example")).0, 2);
    assert!(matches!(check(&index, &[], "192.0.2.7", "", "bin@remote.example"), ListVerdict::Discard { rule: 3, .. }));
    assert_eq!(check(&index, &[], "192.0.2.7", "a@b.example", "x@y.example"), ListVerdict::Allow(Skips::ALL));
}

#[test]
fn reject_beats_discard() {
    let index = ListIndex::build(vec![
        rule(1, None, Network, "192.0.2.0/24", Discard),
        rule(2, None, Ip, "192.0.2.7", Reject),
        rule(3, None, Sender, "a@b.example", Discard),
        rule(4, None, Recipient, "trap@remote.example", Reject),
    ]);
    // The same element: the rejecting rule, however specific the discarding one is.
    assert_eq!(rejected(check(&index, &[], "192.0.2.7", "", "x@y.example")).0, 2);
    assert!(matches!(check(&index, &[], "192.0.2.8", "", "x@y.example"), ListVerdict::Discard { rule: 1, .. }));
    // Across elements: a later rejection beats an earlier discard.
    assert_eq!(rejected(check(&index, &[], "203.0.113.1", "a@b.example", "trap@remote.example")).0, 4);
    assert_eq!(rejected(check(&index, &[], "192.0.2.8", "", "trap@remote.example")).0, 4);
}

#[test]
fn a_domain_rule_wins_over_a_global_rule() {
    let index = ListIndex::build(vec![
        rule(1, None, Ip, "192.0.2.7", Reject),
        rule(2, Some("a.example"), Network, "192.0.2.0/24", Allow),
        rule(3, None, SenderDomain, "partner.example", Allow),
        rule(4, Some("b.example"), SenderDomain, "partner.example", Reject),
    ]);
    assert_eq!(check(&index, &["a.example"], "192.0.2.7", "", "x@y.example"), ListVerdict::Allow(Skips::of(Network)));
    assert_eq!(rejected(check(&index, &["b.example"], "192.0.2.7", "", "x@y.example")).0, 1);
    assert_eq!(rejected(check(&index, &["b.example"], "203.0.113.1", "x@partner.example", "r@y.example")).0, 4);
    assert_eq!(
        check(&index, &["a.example"], "203.0.113.1", "x@partner.example", "r@y.example"),
        ListVerdict::Allow(Skips::of(SenderDomain))
    );
    // Two domain lists (account's and sender's) decide together: the allow wins.
    assert_eq!(
        check(&index, &["b.example", "a.example"], "192.0.2.7", "", "r@y.example"),
        ListVerdict::Allow(Skips::of(Network))
    );
}

#[test]
fn a_domains_rules_apply_only_to_its_mail() {
    let index = ListIndex::build(vec![
        rule(1, Some("a.example"), Recipient, "r@y.example", Reject),
        rule(2, Some("a.example"), Ip, "192.0.2.7", Reject),
    ]);
    assert_eq!(rejected(check(&index, &["a.example"], "203.0.113.1", "", "r@y.example")).0, 1);
    assert_eq!(check(&index, &["b.example"], "203.0.113.1", "", "r@y.example"), ListVerdict::None);
    assert_eq!(check(&index, &[], "192.0.2.7", "", "r@y.example"), ListVerdict::None);
    assert_eq!(rejected(check(&index, &["b.example", "a.example"], "192.0.2.7", "", "x@y.example")).0, 2);
}

#[test]
fn skips_at_mail_come_from_the_client_and_the_sender_of_the_senders_own_list() {
    let index = ListIndex::build(vec![
        rule(1, None, Ip, "192.0.2.7", Allow),
        rule(2, Some("s.example"), Sender, "a@s.example", Allow),
        rule(3, Some("other.example"), Network, "198.51.100.0/24", Allow),
        rule(4, None, Recipient, "r@y.example", Allow),
        rule(5, Some("s.example"), Network, "203.0.113.0/24", Reject),
        rule(6, None, Network, "203.0.113.0/24", Allow),
    ]);
    let mail = |ip: &str, sender: &str| index.skips_at_mail("s.example", ip.parse().unwrap(), &addr(sender));
    assert_eq!(mail("192.0.2.7", "b@s.example"), Skips::ALL);
    assert_eq!(mail("192.0.2.8", "a@s.example"), Skips::of(Sender));
    assert_eq!(mail("192.0.2.8", "b@s.example"), Skips::NONE, "recipient rules are not known at MAIL");
    assert_eq!(mail("198.51.100.1", "b@s.example"), Skips::NONE, "another tenant's list waives nothing here");
    assert_eq!(mail("203.0.113.1", "b@s.example"), Skips::NONE, "the domain's block wins over the global allow");
}

#[test]
fn a_network_rule_with_a_bad_value_is_ignored() {
    let mut bad = rule(1, None, Network, "192.0.2.0/24", Reject);
    bad.value = "garbage".into();
    let index = ListIndex::build(vec![bad, rule(2, None, Ip, "192.0.2.7", Reject)]);
    assert_eq!(index.len(), 1);
    assert_eq!(rejected(check(&index, &[], "192.0.2.7", "", "x@y.example")).0, 2);
}
