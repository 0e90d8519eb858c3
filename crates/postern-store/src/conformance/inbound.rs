//! Inbound relay domains: created, found by exact name, listed by name within a scope,
//! in the snapshot, deleted; independent of customer domains.

use postern_core::tenancy::InboundTls;

use super::{FIRST, add_domain, conflict, keys, ok, present};
use crate::directory::{DirectoryStore, NewInboundDomain, Page, Scope};

fn new_inbound(name: &str, host: &str, port: u16, tls: InboundTls) -> NewInboundDomain {
    NewInboundDomain {
        name: name.into(),
        host: host.into(),
        port,
        tls,
        require_tls: tls == InboundTls::Implicit,
        comment: None,
    }
}

pub fn create_get_list_delete(store: &dyn DirectoryStore) {
    assert!(ok(store.all_inbound_domains(), "all").is_empty(), "none at first");
    let mut first = new_inbound("inbound.example", "10.0.0.25", 2525, InboundTls::None);
    first.comment = Some("the office server".into());
    let created = ok(store.create_inbound_domain(&first), "create");
    assert_eq!(
        (created.name.as_str(), created.host.as_str(), created.port, created.tls, created.require_tls),
        ("inbound.example", "10.0.0.25", 2525, InboundTls::None, false)
    );
    assert_eq!(created.comment.as_deref(), Some("the office server"));
    assert!(created.created_at_ms > 1_600_000_000_000, "created_at_ms is now in ms");
    let implicit =
        ok(store.create_inbound_domain(&new_inbound("b.example", "mx.b.example", 465, InboundTls::Implicit)), "b");
    assert!(implicit.require_tls && implicit.tls == InboundTls::Implicit, "{implicit:?}");
    ok(store.create_inbound_domain(&new_inbound("a.example", "::1", 25, InboundTls::Starttls)), "a");
    conflict(store.create_inbound_domain(&new_inbound("inbound.example", "x", 25, InboundTls::None)), "a duplicate");

    assert_eq!(present(store.inbound_domain("inbound.example"), "get"), created);
    for other in ["sub.inbound.example", "INBOUND.example", "inbound.example.", "example"] {
        assert_eq!(ok(store.inbound_domain(other), other), None, "exact names only: {other}");
    }
    let names =
        |scope: &Scope, page: Page| keys(&ok(store.list_inbound_domains(scope, page), "list"), |d| d.name.clone());
    assert_eq!(names(&Scope::All, FIRST), ["a.example", "b.example", "inbound.example"], "by name");
    assert_eq!(names(&Scope::All, Page { limit: 1, offset: 1 }), ["b.example"]);
    assert_eq!(ok(store.list_inbound_domains(&Scope::All, Page { limit: 1, offset: 0 }), "page").total, 3);
    let tenant = Scope::Domains(vec!["inbound.example".into(), "c.example".into()]);
    assert_eq!(names(&tenant, FIRST), ["inbound.example"], "a scope sees its own names only");
    assert!(names(&Scope::Domains(Vec::new()), FIRST).is_empty());
    let snapshot = ok(store.snapshot(), "snapshot").inbound_domains;
    assert_eq!(keys_of(&snapshot), ["a.example", "b.example", "inbound.example"]);
    assert_eq!(ok(store.all_inbound_domains(), "all"), snapshot);

    // Independent of customer domains: one of the same name comes and goes without it.
    add_domain(store, "a.example");
    assert!(ok(store.delete_domain("a.example"), "delete domain"));
    assert!(ok(store.inbound_domain("a.example"), "after domain delete").is_some());

    assert!(ok(store.delete_inbound_domain("a.example"), "delete"));
    assert!(!ok(store.delete_inbound_domain("a.example"), "delete again"), "a missing entry is false");
    assert_eq!(keys_of(&ok(store.all_inbound_domains(), "all")), ["b.example", "inbound.example"]);
}

fn keys_of(list: &[postern_core::tenancy::InboundDomain]) -> Vec<String> {
    list.iter().map(|d| d.name.clone()).collect()
}
