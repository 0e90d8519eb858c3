//! `ip` accounts: one address belongs to one account only, so a range that overlaps any
//! other account's range (in any domain) is refused, whichever of the two came first.

use postern_core::tenancy::AccountKind;

use super::{FIRST, add_account, add_domain, conflict, new_account, ok};
use crate::directory::{AccountFilter, DirectoryStore, Scope};

/// Creating `range` in `domain` is refused and changes nothing; returns the message.
fn refused(store: &dyn DirectoryStore, domain: &str, range: &str) -> String {
    let before = ok(store.account_by_name(AccountKind::Ip, range), "lookup");
    let message = conflict(store.create_account(&new_account(domain, AccountKind::Ip, range)), range);
    let after = ok(store.account_by_name(AccountKind::Ip, range), "lookup");
    assert_eq!(after, before, "a refused range {range} changes nothing");
    message
}

pub fn nested_ranges_conflict_in_both_orders(store: &dyn DirectoryStore) {
    add_domain(store, "one.example");
    add_domain(store, "two.example");
    let wide = add_account(store, "one.example", AccountKind::Ip, "10.0.0.0/8");
    let message = refused(store, "two.example", "10.1.0.0/16");
    assert!(message.contains("10.0.0.0/8"), "the conflict names the other range: {message}");
    assert!(message.contains(&wide.id.to_string()), "the conflict names the other account: {message}");
    refused(store, "one.example", "10.0.0.0/8");

    let narrow = add_account(store, "two.example", AccountKind::Ip, "172.16.5.0/24");
    let message = refused(store, "one.example", "172.16.0.0/12");
    assert!(message.contains("172.16.5.0/24"), "the conflict names the narrower range: {message}");
    assert!(message.contains(&narrow.id.to_string()), "the conflict names the other account: {message}");

    let all = ok(store.list_accounts(&Scope::All, &AccountFilter::default(), FIRST), "list");
    assert_eq!(all.total, 2, "only the two accepted ranges exist");
    ok(store.delete_account(wide.id), "delete the /8");
    add_account(store, "two.example", AccountKind::Ip, "10.1.0.0/16");
}

pub fn single_addresses_and_ranges_conflict(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    add_account(store, "example.com", AccountKind::Ip, "192.0.2.0/24");
    refused(store, "example.com", "192.0.2.77/32");
    refused(store, "example.com", "192.0.2.0/32");
    refused(store, "example.com", "192.0.2.255/32");
    add_account(store, "example.com", AccountKind::Ip, "198.51.100.7/32");
    refused(store, "example.com", "198.51.100.0/24");
    refused(store, "example.com", "198.51.100.7/32");
    refused(store, "example.com", "0.0.0.0/0");
    add_account(store, "example.com", AccountKind::Ip, "198.51.100.8/32");
    add_account(store, "example.com", AccountKind::Ip, "192.0.3.0/32");
}

pub fn ipv6_ranges(store: &dyn DirectoryStore) {
    add_domain(store, "example.com");
    add_account(store, "example.com", AccountKind::Ip, "2001:db8::/32");
    let message = refused(store, "example.com", "2001:db8:1::/48");
    assert!(message.contains("2001:db8::/32"), "the conflict names the other range: {message}");
    refused(store, "example.com", "2001:db8::1/128");
    refused(store, "example.com", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128");
    add_account(store, "example.com", AccountKind::Ip, "2001:db9:1::/48");
    refused(store, "example.com", "2001:db9::/32");
    refused(store, "example.com", "2000::/3");
    add_account(store, "example.com", AccountKind::Ip, "2001:db9:2::/48");
    add_account(store, "example.com", AccountKind::Ip, "2001:dba::/32");
}

pub fn siblings_and_families_do_not_overlap(store: &dyn DirectoryStore) {
    add_domain(store, "one.example");
    add_domain(store, "two.example");
    add_account(store, "one.example", AccountKind::Ip, "192.0.2.0/25");
    add_account(store, "two.example", AccountKind::Ip, "192.0.2.128/25");
    add_account(store, "two.example", AccountKind::Ip, "192.0.3.0/24");
    refused(store, "one.example", "192.0.2.0/24");
    // IPv4 and IPv6 never overlap, even the widest ranges.
    add_account(store, "one.example", AccountKind::Ip, "10.0.0.0/8");
    add_account(store, "two.example", AccountKind::Ip, "::/0");
    refused(store, "one.example", "0.0.0.0/0");
    refused(store, "one.example", "2001:db8::/32");
    let all = ok(store.list_accounts(&Scope::All, &AccountFilter::default(), FIRST), "list");
    assert_eq!(all.total, 5, "the accepted ranges exist: {all:?}");
}
