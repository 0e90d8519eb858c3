//! The quarantine index: held rows found and listed by scope and filter, the state machine
//! (one release wins, a release is never purged, the purge takes only what expired), and
//! requests and confirmations only on held rows.

use postern_core::CheckRecord;

use super::{FIRST, conflict, keys, ok};
use crate::directory::{Page, Scope};
use crate::quarantine::{HeldState, NewHeld, QuarantineFilter, QuarantineStore};

fn new_held(queue_id: &str, domain: Option<&str>, sender: &str, held_at_ms: i64, expires_at_ms: i64) -> NewHeld {
    NewHeld {
        queue_id: queue_id.into(),
        account_id: Some(1),
        account: domain.map(|d| format!("alice@{d}")),
        identity: Some(sender.into()),
        domain: domain.map(str::to_string),
        sender_domain: sender.split('@').nth(1).map(str::to_string),
        sender: sender.into(),
        recipients: vec!["bob@remote.example".into(), "carol@other.example".into()],
        subject: "Cheap pills".into(),
        rule: "GTUBE".into(),
        checks: vec![CheckRecord {
            stage: "content".into(),
            engine: "gtube".into(),
            rule: Some("GTUBE".into()),
            result: "spam".into(),
            score: Some(1000.0),
            micros: 12,
            part: None,
        }],
        client_ip: "192.0.2.1".into(),
        reaction: "reject".into(),
        size: 1234,
        held_at_ms,
        expires_at_ms,
    }
}

fn state(store: &dyn QuarantineStore, id: i64) -> Option<HeldState> {
    ok(store.held(id), "get").map(|h| h.state)
}

pub fn hold_get_and_conflict(store: &dyn QuarantineStore) {
    let new = new_held("Q1", Some("a.example"), "alice@a.example", 1_000, 9_000);
    let held = ok(store.hold(&new), "hold");
    assert_eq!(held.message, new, "the row comes back as given");
    assert_eq!(held.state, HeldState::Held);
    assert_eq!((held.released_by.as_deref(), held.confirmed_by.as_deref()), (None, None));
    assert_eq!(ok(store.held(held.id), "get"), Some(held.clone()));
    assert_eq!(ok(store.held(held.id + 100), "missing"), None);
    assert_eq!(ok(store.held_by_queue_id("Q1"), "by queue id"), Some(held.clone()));
    assert_eq!(ok(store.held_by_queue_id("Q2"), "by a missing queue id"), None);
    conflict(store.hold(&new), "the same queue id twice");
}

pub fn list_filters_scopes_and_pages(store: &dyn QuarantineStore) {
    ok(store.hold(&new_held("Q1", Some("a.example"), "alice@a.example", 1_000, 9_000)), "hold");
    ok(store.hold(&new_held("Q2", Some("b.example"), "bob@b.example", 2_000, 9_000)), "hold");
    let mut trusted = new_held("Q3", None, "relay@c.example", 3_000, 9_000);
    trusted.rule = "OTHER".into();
    trusted.recipients = vec!["dave@x.example".into()];
    ok(store.hold(&trusted), "hold");
    let list = |scope: &Scope, filter: QuarantineFilter| {
        let page = ok(store.list_held(scope, &filter, FIRST), "list");
        keys(&page, |h| h.message.queue_id.clone())
    };
    assert_eq!(list(&Scope::All, QuarantineFilter::default()), ["Q3", "Q2", "Q1"], "newest first");
    let a = Scope::Domains(vec!["a.example".into()]);
    assert_eq!(list(&a, QuarantineFilter::default()), ["Q1"], "a tenant sees its domain only");
    assert!(list(&Scope::Domains(vec![]), QuarantineFilter::default()).is_empty());
    let by = |f: QuarantineFilter| list(&Scope::All, f);
    assert_eq!(by(QuarantineFilter { domain: Some("b.example".into()), ..Default::default() }), ["Q2"]);
    assert_eq!(by(QuarantineFilter { account: Some("alice@a.example".into()), ..Default::default() }), ["Q1"]);
    assert_eq!(by(QuarantineFilter { identity: Some("BOB@".into()), ..Default::default() }), ["Q2"]);
    assert_eq!(by(QuarantineFilter { sender: Some("relay".into()), ..Default::default() }), ["Q3"]);
    assert_eq!(by(QuarantineFilter { recipient: Some("dave@".into()), ..Default::default() }), ["Q3"]);
    assert_eq!(by(QuarantineFilter { rule: Some("GTUBE".into()), ..Default::default() }), ["Q2", "Q1"]);
    let window = QuarantineFilter { since_ms: Some(1_500), until_ms: Some(3_000), ..Default::default() };
    assert_eq!(by(window), ["Q2"]);
    assert_eq!(by(QuarantineFilter { state: Some(HeldState::Released), ..Default::default() }), Vec::<String>::new());
    let page = ok(store.list_held(&Scope::All, &QuarantineFilter::default(), Page { limit: 1, offset: 1 }), "page");
    assert_eq!((keys(&page, |h| h.message.queue_id.clone()), page.total), (vec!["Q2".to_string()], 3));
}

pub fn one_release_wins_and_is_never_purged(store: &dyn QuarantineStore) {
    let id = ok(store.hold(&new_held("Q1", Some("a.example"), "alice@a.example", 1_000, 2_000)), "hold").id;
    let claimed = ok(store.claim_release(id, "root"), "claim").expect("the first release claims it");
    assert_eq!(claimed.state, HeldState::Held, "the row as it was");
    assert_eq!(ok(store.claim_release(id, "other"), "second claim"), None, "a second release loses");
    assert_eq!(ok(store.claim_delete(id), "delete while releasing"), None, "a release is never deleted");
    assert!(ok(store.claim_expired(10_000, 100), "purge").is_empty(), "a release is never purged");
    assert!(!ok(store.request_release(id, "tenant", None), "request"), "only held rows take requests");
    assert!(ok(store.abort_release(id), "abort"));
    assert_eq!(state(store, id), Some(HeldState::Held));
    assert!(ok(store.claim_release(id, "root"), "claim again").is_some());
    assert!(ok(store.finish_release(id), "finish"));
    assert!(!ok(store.finish_release(id), "finish twice"));
    let row = ok(store.held(id), "get").expect("released rows stay");
    assert_eq!((row.state, row.released_by.as_deref()), (HeldState::Released, Some("root")));
    assert!(row.released_at_ms.is_some());
    assert_eq!(ok(store.claim_release(id, "root"), "release a released row"), None);
}

pub fn requests_and_confirmations(store: &dyn QuarantineStore) {
    let id = ok(store.hold(&new_held("Q1", Some("a.example"), "alice@a.example", 1_000, 2_000)), "hold").id;
    assert!(ok(store.request_release(id, "tenant", Some("a customer's invoice")), "request"));
    assert!(ok(store.confirm(id, "root"), "confirm"));
    assert!(!ok(store.confirm(id + 1, "root"), "confirm a missing row"));
    let row = ok(store.held(id), "get").expect("row");
    assert_eq!(row.release_requested_by.as_deref(), Some("tenant"));
    assert_eq!(row.release_note.as_deref(), Some("a customer's invoice"));
    assert_eq!(row.confirmed_by.as_deref(), Some("root"));
    assert_eq!(row.state, HeldState::Held, "neither changes the state");
}

pub fn purge_takes_only_what_expired(store: &dyn QuarantineStore) {
    let old = ok(store.hold(&new_held("OLD", Some("a.example"), "a@a.example", 1_000, 5_000)), "hold").id;
    let young = ok(store.hold(&new_held("YOUNG", Some("a.example"), "a@a.example", 1_000, 50_000)), "hold").id;
    let claimed = ok(store.claim_expired(10_000, 100), "purge");
    assert_eq!(keys_of(&claimed), ["OLD"]);
    assert_eq!(state(store, old), Some(HeldState::Purging));
    assert_eq!(ok(store.claim_release(old, "root"), "release while purging"), None, "a purge is never released");
    let again = ok(store.claim_expired(10_000, 100), "a purge that stopped half way");
    assert_eq!(keys_of(&again), ["OLD"], "a row left purging is taken again");
    assert!(ok(store.forget(old), "forget"));
    assert!(!ok(store.forget(young), "forget a held row"), "only purging rows are forgotten");
    assert_eq!(state(store, old), None);
    assert_eq!(state(store, young), Some(HeldState::Held));
    let deleted = ok(store.claim_delete(young), "delete").expect("a held row is deleted");
    assert_eq!(deleted.message.queue_id, "YOUNG");
    assert!(ok(store.forget(young), "forget"));
    assert_eq!(ok(store.claim_delete(young), "delete again"), None);
}

fn keys_of(rows: &[crate::quarantine::HeldMessage]) -> Vec<&str> {
    rows.iter().map(|h| h.message.queue_id.as_str()).collect()
}
