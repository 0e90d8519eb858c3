//! Log search cases: rows made and kept up to date as events are stored, statuses, scopes
//! as walls, filters, paging, timelines and retention. Written against [`EventStore`] and
//! [`LogSearch`] only.

use postern_core::{CheckRecord, Disposition, Event, EventKind, MessageFacts, QueueId, Stage};

use super::ok;
use crate::directory::Scope;
use crate::events::EventStore;
use crate::log::{LogCursor, LogMessage, LogQuery, LogSearch, MessageKey, MessageStatus};

/// A backend with log search: events go in through [`EventStore`], rows come out of
/// [`LogSearch`].
pub trait LogBackend: EventStore + LogSearch {}

impl<T: EventStore + LogSearch> LogBackend for T {}

pub const T0: i64 = 1_700_000_000_000;
const IP: &str = "192.0.2.10";

fn ev(at_ms: i64, session: u64, queue_id: Option<QueueId>, kind: EventKind) -> Event {
    Event { at_ms, session, client_ip: IP.parse().expect("address"), queue_id, kind }
}

fn connect(at: i64, session: u64) -> Event {
    ev(at, session, None, EventKind::Connect { client_port: 40_000, listener: "smtp".into() })
}

fn disconnect(at: i64, session: u64) -> Event {
    ev(at, session, None, EventKind::Disconnect { messages: 1, duration_ms: 5, reason: "QUIT".into() })
}

fn check(result: &str, rule: Option<&str>) -> CheckRecord {
    CheckRecord {
        stage: "content".into(),
        engine: "gtube".into(),
        rule: rule.map(Into::into),
        result: result.into(),
        part: None,
        score: None,
        micros: 3,
    }
}

fn checked(at: i64, session: u64, q: QueueId, disposition: Disposition, facts: Option<MessageFacts>) -> Event {
    let result = if disposition == Disposition::Deliver { "pass" } else { "spam" };
    let kind =
        EventKind::Checked { disposition, checks: vec![check(result, Some("GTUBE"))], message: facts.map(Box::new) };
    ev(at, session, Some(q), kind)
}

/// The facts of a message from `sender` under `account_domain`.
pub fn facts(sender: &str, account_domain: &str, recipients: &[&str]) -> MessageFacts {
    MessageFacts {
        sender: sender.into(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        size: 1234,
        message_id: Some(format!("<{}.{}@mua.example>", sender.replace('@', "."), recipients.len())),
        subject: Some(format!("Report for {sender}")),
        account: Some(format!("acct-{account_domain}")),
        domain: Some(account_domain.into()),
        sender_domain: sender.rsplit_once('@').map(|(_, d)| d.to_string()),
        identity: Some(sender.into()),
    }
}

fn queued(at: i64, session: u64, q: QueueId, f: &MessageFacts) -> Event {
    let kind = EventKind::Queued {
        size: f.size,
        sender: f.sender.clone(),
        recipients: f.recipients.clone(),
        tls: None,
        message_id: f.message_id.clone(),
        account: f.account.clone(),
        account_id: Some(1),
        domain: f.domain.clone(),
        sender_domain: f.sender_domain.clone(),
        identity: f.identity.clone(),
        subject: f.subject.clone(),
    };
    ev(at, session, Some(q), kind)
}

fn delivery(at: i64, q: QueueId, recipient: &str, result: &str, attempt: u32) -> Event {
    let reply = if result == "delivered" { "250 2.0.0 Ok" } else { "451 4.3.0 try later" };
    let kind = EventKind::Delivery {
        recipient: recipient.into(),
        result: result.into(),
        status: reply[4..9].into(),
        reply: reply.into(),
        remote: Some("mx.example.net [192.0.2.99]".into()),
        attempt,
        destination: "example.net".into(),
        duration_ms: Some(40),
        queued_at_ms: None,
    };
    ev(at, 0, Some(q), kind)
}

fn refused(at: i64, session: u64, stage: Stage, sender: &str, recipient: Option<&str>, domain: Option<&str>) -> Event {
    let kind = EventKind::Refused {
        stage,
        reply: "554 5.7.1 no".into(),
        reason: "relay access denied".into(),
        sender: Some(sender.into()),
        recipient: recipient.map(Into::into),
        account: domain.map(|d| format!("acct-{d}")),
        domain: domain.map(Into::into),
    };
    ev(at, session, None, kind)
}

/// The one row a queue id names (superadmin scope).
fn row(store: &dyn LogBackend, q: QueueId) -> LogMessage {
    let page = ok(store.search(&Scope::All, &LogQuery { queue_id: Some(q), ..LogQuery::default() }), "search");
    assert_eq!(page.items.len(), 1, "one row for {q}: {page:?}");
    page.items[0].clone()
}

fn all(store: &dyn LogBackend, scope: &Scope, query: LogQuery) -> Vec<LogMessage> {
    ok(store.search(scope, &LogQuery { limit: 500, ..query }), "search").items
}

fn domains(list: &[&str]) -> Scope {
    Scope::Domains(list.iter().map(|d| d.to_string()).collect())
}

/// connect .. checked, queued, deferred, delivered .. disconnect: one row, each status on
/// the way, and a timeline with every step in order.
pub fn a_message_is_one_row_through_its_life(store: &dyn LogBackend) {
    let q = QueueId::generate();
    let f = facts("Alice@Client.example", "customer.example", &["bob@example.net"]);
    ok(store.append(&[connect(T0, 7), checked(T0 + 10, 7, q, Disposition::Deliver, None)]), "append");
    assert_eq!(row(store, q).status, MessageStatus::Received);
    ok(store.append(&[queued(T0 + 11, 7, q, &f), disconnect(T0 + 20, 7)]), "append");
    let r = row(store, q);
    assert_eq!((r.status, r.recipient_count, r.counts.pending), (MessageStatus::Queued, 1, 1));
    assert_eq!(r.sender.as_deref(), Some("alice@client.example"), "stored lower case");
    assert_eq!(
        (r.account_domain.as_deref(), r.sender_domain.as_deref()),
        (Some("customer.example"), Some("client.example"))
    );
    assert_eq!(r.subject.as_deref(), Some("Report for Alice@Client.example"));
    ok(store.append(&[delivery(T0 + 1000, q, "bob@example.net", "deferred", 1)]), "append");
    assert_eq!(row(store, q).status, MessageStatus::Deferred);
    ok(store.append(&[delivery(T0 + 60_000, q, "bob@example.net", "delivered", 2)]), "append");
    let r = row(store, q);
    assert_eq!((r.status, r.counts.delivered, r.counts.deferred, r.attempts), (MessageStatus::Delivered, 1, 0, 2));
    assert_eq!((r.first_at_ms, r.last_at_ms), (T0 + 10, T0 + 60_000));
    assert_eq!(r.reply.as_deref(), Some("250 2.0.0 Ok"));
    let t = ok(store.timeline(&Scope::All, &MessageKey::QueueId(q)), "timeline").expect("a timeline");
    let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["connect", "checked", "queued", "disconnect", "delivery", "delivery"]);
    assert_eq!(t.steps[1].decided_by, None, "nothing refused it");
    assert!(t.steps[5].summary.contains("delivered to bob@example.net"), "{:?}", t.steps[5]);
    assert_eq!(t.steps[5].duration_ms, Some(40), "the attempt's duration");
    let by_message_id = MessageKey::MessageId("alice.client.example.1@mua.example".into());
    let same = ok(store.timeline(&Scope::All, &by_message_id), "timeline").expect("by Message-ID");
    assert_eq!(same.message.id, r.id);
}

/// An ip account of customer.example sending for client.example and other.example: found
/// under the account's domain and each sender's domain; a tenant of neither finds nothing
/// by any filter and gets no timeline.
pub fn scopes_are_walls_and_both_domains_find_a_message(store: &dyn LogBackend) {
    let (q1, q2, q3) = (QueueId::generate(), QueueId::generate(), QueueId::generate());
    let f1 = facts("a@client.example", "customer.example", &["x@example.net"]);
    let f2 = facts("b@other.example", "customer.example", &["y@example.net"]);
    let f3 = facts("c@stranger.example", "stranger.example", &["z@example.net"]);
    let mut events = Vec::new();
    for (i, (q, f)) in [(q1, &f1), (q2, &f2), (q3, &f3)].into_iter().enumerate() {
        let at = T0 + 100 * i as i64;
        events.extend([checked(at, 1, q, Disposition::Deliver, None), queued(at + 1, 1, q, f)]);
    }
    events.push(refused(T0 + 500, 2, Stage::Rcpt, "d@client.example", Some("w@example.net"), Some("customer.example")));
    ok(store.append(&events), "append");
    let ids = |scope: &Scope, query: LogQuery| {
        let mut found: Vec<Option<String>> = all(store, scope, query).into_iter().map(|m| m.queue_id).collect();
        found.sort();
        found
    };
    let by_domain = |d: &str| LogQuery { domain: Some(d.into()), ..LogQuery::default() };
    let s = |q: QueueId| Some(q.to_string());
    assert_eq!(ids(&Scope::All, by_domain("customer.example")).len(), 3, "two messages and the refusal");
    assert_eq!(ids(&Scope::All, by_domain("CLIENT.example")), {
        let mut v = vec![None, s(q1)];
        v.sort();
        v
    });
    assert_eq!(ids(&Scope::All, by_domain("other.example")), vec![s(q2)]);
    assert_eq!(ids(&domains(&["client.example"]), LogQuery::default()).len(), 2, "the sender domain's tenant");
    assert_eq!(ids(&domains(&["customer.example"]), by_domain("other.example")), vec![s(q2)]);
    let wall = domains(&["stranger.example"]);
    let attempts = [
        LogQuery::default(),
        by_domain("customer.example"),
        by_domain("client.example"),
        LogQuery { queue_id: Some(q1), ..LogQuery::default() },
        LogQuery { message_id: f1.message_id.clone(), ..LogQuery::default() },
        LogQuery { sender: Some("a@client.example".into()), ..LogQuery::default() },
        LogQuery { recipient: Some("x@example.net".into()), ..LogQuery::default() },
        LogQuery { status: Some(MessageStatus::Rejected), ..LogQuery::default() },
        LogQuery { account: Some("acct-customer.example".into()), ..LogQuery::default() },
    ];
    for query in attempts {
        let found = ids(&wall, query.clone());
        assert!(found.iter().all(|q| q == &s(q3)), "{query:?} leaked {found:?}");
    }
    assert!(ok(store.timeline(&wall, &MessageKey::QueueId(q1)), "timeline").is_none());
    assert!(ok(store.timeline(&domains(&[]), &MessageKey::QueueId(q3)), "timeline").is_none(), "empty scope");
    let key = MessageKey::MessageId(f1.message_id.clone().unwrap_or_default());
    assert!(ok(store.timeline(&wall, &key), "timeline").is_none());
    assert!(ok(store.timeline(&domains(&["client.example"]), &MessageKey::QueueId(q1)), "timeline").is_some());
}

/// A refusal without a queue id is a row (`rejected` with its stage); a monitored one is
/// none; the pipeline's refusal is adopted by its message's `checked` event.
pub fn refusals_are_rows_and_the_pipelines_is_adopted(store: &dyn LogBackend) {
    let q = QueueId::generate();
    let mut monitored = refused(T0, 3, Stage::Rcpt, "a@client.example", Some("v@example.net"), None);
    if let EventKind::Refused { reason, .. } = &mut monitored.kind {
        *reason = "would refuse (monitor): relay access denied".into();
    }
    let at_rcpt = refused(T0 + 1, 3, Stage::Rcpt, "a@client.example", Some("w@example.net"), Some("customer.example"));
    let at_data = refused(T0 + 5, 3, Stage::Data, "a@client.example", None, Some("customer.example"));
    let f = facts("a@client.example", "customer.example", &["x@example.net"]);
    let verdict = checked(T0 + 6, 3, q, Disposition::Reject, Some(f.clone()));
    ok(store.append(&[connect(T0 - 1, 3), monitored, at_rcpt, at_data, verdict, disconnect(T0 + 9, 3)]), "append");
    let rejected = all(store, &Scope::All, LogQuery { status: Some(MessageStatus::Rejected), ..LogQuery::default() });
    assert_eq!(rejected.len(), 2, "the rcpt refusal and the message: {rejected:?}");
    let rcpt = all(store, &Scope::All, LogQuery { stage: Some(Stage::Rcpt), ..LogQuery::default() });
    assert_eq!(rcpt.len(), 1);
    assert_eq!(
        (rcpt[0].queue_id.as_deref(), rcpt[0].recipients.as_slice()),
        (None, &["w@example.net".to_string()][..])
    );
    assert_eq!(rcpt[0].rule.as_deref(), Some("relay access denied"));
    let by_rcpt = all(store, &Scope::All, LogQuery { recipient: Some("W@example.net".into()), ..LogQuery::default() });
    assert_eq!(by_rcpt.len(), 1);
    let message = row(store, q);
    assert_eq!(
        (message.status, message.stage.as_deref(), message.rule.as_deref()),
        (MessageStatus::Rejected, Some("data"), Some("GTUBE"))
    );
    assert_eq!((message.first_at_ms, message.reply.as_deref()), (T0 + 5, Some("554 5.7.1 no")));
    assert_eq!(message.subject, f.subject);
    let t = ok(store.timeline(&Scope::All, &MessageKey::QueueId(q)), "timeline").expect("timeline");
    let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["connect", "refused", "checked", "disconnect"], "its own refusal, not the rcpt one");
    assert_eq!(t.steps[2].decided_by.as_deref(), Some("content/gtube: spam (GTUBE)"));
    let t = ok(store.timeline(&Scope::All, &MessageKey::Row(rcpt[0].id)), "timeline").expect("timeline");
    assert_eq!(t.steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["connect", "refused", "disconnect"]);
}

/// Quarantined, released and delivered; quarantined and deleted; discarded; a partial
/// delivery; an expired one; a DSN with a row under the bounced message's domains.
pub fn quarantine_discards_partial_deliveries_and_dsns(store: &dyn LogBackend) {
    let (held, gone, dropped, partial) =
        (QueueId::generate(), QueueId::generate(), QueueId::generate(), QueueId::generate());
    let f = facts("a@client.example", "customer.example", &["x@example.net"]);
    let quarantine = |at: i64, q: QueueId, action: &str| {
        let kind = EventKind::Quarantine { action: action.into(), id: 1, by: None, domain: None, detail: None };
        ev(at, 0, Some(q), kind)
    };
    let refusal = |at: i64| refused(at, 4, Stage::Data, "a@client.example", None, Some("customer.example"));
    ok(
        store.append(&[
            quarantine(T0, held, "held"),
            refusal(T0 + 1),
            checked(T0 + 2, 4, held, Disposition::Quarantine, Some(f.clone())),
            refusal(T0 + 3),
            checked(T0 + 4, 4, gone, Disposition::Quarantine, Some(f.clone())),
        ]),
        "append",
    );
    assert_eq!(row(store, held).status, MessageStatus::Quarantined);
    ok(store.append(&[quarantine(T0 + 10, held, "released"), quarantine(T0 + 11, gone, "deleted")]), "append");
    assert_eq!((row(store, held).status, row(store, gone).status), (MessageStatus::Queued, MessageStatus::Discarded));
    ok(store.append(&[delivery(T0 + 20, held, "x@example.net", "delivered", 1)]), "append");
    assert_eq!(row(store, held).status, MessageStatus::Delivered);
    let kind = EventKind::Discarded {
        rule: 42,
        sender: f.sender.clone(),
        recipients: f.recipients.clone(),
        account: f.account.clone(),
        domain: f.domain.clone(),
        sender_domain: f.sender_domain.clone(),
        identity: f.identity.clone(),
    };
    let two = facts("a@client.example", "customer.example", &["x@example.net", "y@example.org"]);
    let dsn = QueueId::generate();
    ok(
        store.append(&[
            ev(T0 + 30, 5, Some(dropped), kind),
            checked(T0 + 40, 6, partial, Disposition::Deliver, None),
            queued(T0 + 41, 6, partial, &two),
            delivery(T0 + 50, partial, "x@example.net", "delivered", 1),
            delivery(T0 + 50, partial, "y@example.org", "deferred", 1),
        ]),
        "append",
    );
    let d = row(store, dropped);
    assert_eq!((d.status, d.rule.as_deref()), (MessageStatus::Discarded, Some("list rule 42")));
    assert_eq!(row(store, partial).status, MessageStatus::Deferred);
    let dsn_event = EventKind::Dsn {
        dsn_queue_id: dsn.to_string(),
        action: "failed".into(),
        to: "a@client.example".into(),
        recipients: vec!["y@example.org".into()],
    };
    ok(
        store.append(&[
            delivery(T0 + 90, partial, "y@example.org", "deferred", 2),
            delivery(T0 + 90, partial, "y@example.org", "expired", 2),
            ev(T0 + 91, 0, Some(partial), dsn_event),
            delivery(T0 + 92, dsn, "a@client.example", "delivered", 1),
        ]),
        "append",
    );
    let p = row(store, partial);
    assert_eq!((p.status, p.counts.delivered, p.counts.expired), (MessageStatus::Expired, 1, 1), "{p:?}");
    let n = row(store, dsn);
    assert_eq!(
        (n.status, n.sender.as_deref(), n.account_domain.as_deref()),
        (MessageStatus::Delivered, Some(""), Some("customer.example"))
    );
    let found = all(
        store,
        &domains(&["client.example"]),
        LogQuery { status: Some(MessageStatus::Delivered), ..LogQuery::default() },
    );
    assert!(found.iter().any(|m| m.id == n.id), "the DSN is shown to the sender domain's tenant too");
    // Out of order: the scheduler's delivery stored before the session's events.
    let early = QueueId::generate();
    ok(store.append(&[delivery(T0 + 100, early, "x@example.net", "delivered", 1)]), "append");
    ok(
        store.append(&[checked(T0 + 99, 8, early, Disposition::Deliver, None), queued(T0 + 99, 8, early, &f)]),
        "append",
    );
    let e = row(store, early);
    assert_eq!((e.status, e.session, e.first_at_ms), (MessageStatus::Delivered, 8, T0 + 99));
}

/// Newest activity first, pages by cursor without repeats, time range and text filters.
pub fn filters_time_ranges_and_pages(store: &dyn LogBackend) {
    let mut events = Vec::new();
    let mut queue_ids = Vec::new();
    for i in 0..7_i64 {
        let q = QueueId::generate();
        queue_ids.push(q);
        let mut f = facts(&format!("u{i}@client.example"), "customer.example", &["x@example.net"]);
        f.subject = Some(if i % 2 == 0 { format!("Invoice {i}") } else { format!("Newsletter {i}") });
        let at = T0 + i * 3_600_000;
        events.extend([checked(at, 10 + i as u64, q, Disposition::Deliver, None), queued(at, 10 + i as u64, q, &f)]);
    }
    ok(store.append(&events), "append");
    let query = LogQuery { domain: Some("customer.example".into()), limit: 3, ..LogQuery::default() };
    let mut seen = Vec::new();
    let mut page = ok(store.search(&Scope::All, &query), "search");
    loop {
        seen.extend(page.items.iter().map(|m| m.queue_id.clone()));
        let Some(next) = page.next.clone() else { break };
        let before = LogCursor::parse(&next).expect("a cursor");
        page = ok(store.search(&Scope::All, &LogQuery { before: Some(before), ..query.clone() }), "next page");
    }
    let expected: Vec<Option<String>> = queue_ids.iter().rev().map(|q| Some(q.to_string())).collect();
    assert_eq!(seen, expected, "newest first, each once");
    let hour = |h: i64| T0 + h * 3_600_000;
    let range = LogQuery { since_ms: Some(hour(2)), until_ms: Some(hour(4)), ..LogQuery::default() };
    assert_eq!(all(store, &Scope::All, range).len(), 3);
    let subject = LogQuery { subject: Some("INVOICE".into()), ..LogQuery::default() };
    assert_eq!(all(store, &Scope::All, subject).len(), 4);
    let ip = LogQuery {
        client_ip: Some(IP.parse().expect("ip")),
        identity: Some("U3@client.example".into()),
        ..LogQuery::default()
    };
    assert_eq!(all(store, &Scope::All, ip).len(), 1);
    let rule = LogQuery { rule: Some("gtube".into()), ..LogQuery::default() };
    assert!(all(store, &Scope::All, rule).is_empty(), "nothing decided a delivered message");
}

/// Retention: events and rows older than the cut-off go, in batches; newer ones stay.
pub fn purge_takes_only_what_is_older(store: &dyn LogBackend) {
    let old = QueueId::generate();
    let new = QueueId::generate();
    let f = facts("a@client.example", "customer.example", &["x@example.net"]);
    ok(
        store.append(&[
            connect(T0, 1),
            checked(T0, 1, old, Disposition::Deliver, None),
            queued(T0, 1, old, &f),
            queued(T0 + 10_000, 2, new, &f),
        ]),
        "append",
    );
    let first = ok(store.purge_batch(T0 + 5_000, 2), "purge");
    assert_eq!((first.events, first.messages), (2, 1));
    let second = ok(store.purge_batch(T0 + 5_000, 2), "purge");
    assert_eq!((second.events, second.messages), (1, 0));
    assert_eq!(ok(store.purge_batch(T0 + 5_000, 2), "purge"), crate::log::Purged::default());
    let left = all(store, &Scope::All, LogQuery::default());
    assert_eq!(left.iter().map(|m| m.queue_id.clone()).collect::<Vec<_>>(), vec![Some(new.to_string())]);
    assert!(ok(store.timeline(&Scope::All, &MessageKey::QueueId(old)), "timeline").is_none());
}

/// The dashboard's hours: each event counted in its hour, under its message's domains, the
/// same whether the events came in one batch or many; a domain admin's hours count only
/// its domains' messages (once each, even under both of its domains); top senders by
/// account and identity, scoped the same way.
pub fn hours_and_top_senders_count_what_happened(store: &dyn LogBackend) {
    let hour = crate::log::HourCounts::HOUR_MS;
    let base = (T0 / hour + 1) * hour; // an hour's start
    let (a, b, c) = (QueueId::generate(), QueueId::generate(), QueueId::generate());
    let fa = facts("alice@shop.example", "shop.example", &["x@dest.example", "y@dest.example"]);
    let fb = facts("bob@other.example", "other.example", &["z@dest.example"]);
    // Both of one admin's domains: the account's and the sender's.
    let fc = facts("carol@shop-mail.example", "shop.example", &["w@dest.example"]);
    // First batch: a's life in hour 0, b quarantined in hour 0, a refusal at RCPT.
    ok(
        store.append(&[
            checked(base + 10, 1, a, Disposition::Deliver, Some(fa.clone())),
            queued(base + 11, 1, a, &fa),
            checked(base + 20, 2, b, Disposition::Quarantine, Some(fb.clone())),
            refused(base + 30, 3, Stage::Rcpt, "mallory@shop.example", Some("v@dest.example"), Some("shop.example")),
        ]),
        "append",
    );
    // Later batches: a delivered to one recipient in hour 0, deferred to the other; then
    // delivered in hour 1; c's life in hour 1.
    ok(store.append(&[delivery(base + 100, a, "x@dest.example", "delivered", 1)]), "append");
    ok(store.append(&[delivery(base + 101, a, "y@dest.example", "deferred", 1)]), "append");
    ok(
        store.append(&[
            delivery(base + hour + 5, a, "y@dest.example", "delivered", 2),
            checked(base + hour + 6, 4, c, Disposition::Deliver, Some(fc.clone())),
            queued(base + hour + 7, 4, c, &fc),
        ]),
        "append",
    );
    let all = ok(store.hourly(&Scope::All, base, base + 2 * hour), "hourly");
    assert_eq!(all.len(), 2, "{all:?}");
    let h0 = all[0];
    assert_eq!(h0.hour_ms, base);
    assert_eq!((h0.received, h0.refused, h0.quarantined, h0.checked, h0.spam), (1, 1, 1, 2, 1), "{h0:?}");
    assert_eq!((h0.delivered, h0.deferred, h0.bounced), (1, 1, 0), "{h0:?}");
    let h1 = all[1];
    assert_eq!((h1.hour_ms, h1.received, h1.checked, h1.delivered, h1.spam), (base + hour, 1, 1, 1, 0), "{h1:?}");
    // A range not on hour boundaries takes the hours it touches; an empty one nothing.
    assert_eq!(ok(store.hourly(&Scope::All, base + 5, base + hour + 1), "hourly").len(), 2);
    assert!(ok(store.hourly(&Scope::All, base - 5 * hour, base), "hourly").is_empty());

    // shop.example's admin: a (account and sender domain), the refusal, c (once); not b.
    let shop = ok(store.hourly(&domains(&["SHOP.example.", "shop-mail.example"]), base, base + 2 * hour), "hourly");
    assert_eq!(shop.len(), 2, "{shop:?}");
    assert_eq!((shop[0].received, shop[0].refused, shop[0].quarantined, shop[0].delivered), (1, 1, 0, 1), "{shop:?}");
    assert_eq!((shop[1].received, shop[1].checked, shop[1].delivered), (1, 1, 1), "{shop:?}");
    // other.example's admin: b only.
    let other = ok(store.hourly(&domains(&["other.example"]), base, base + 2 * hour), "hourly");
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!((other[0].quarantined, other[0].spam, other[0].received, other[0].refused), (1, 1, 0, 0));
    // A domain's checked messages include its delivered ones (counted by their `queued`
    // event, which names the domains).
    assert_eq!((shop[0].checked, other[0].checked), (1, 1), "{shop:?} {other:?}");
    assert!(ok(store.hourly(&domains(&["nobody.example"]), base, base + 2 * hour), "hourly").is_empty());
    assert!(ok(store.hourly(&Scope::Domains(Vec::new()), base, base + 2 * hour), "hourly").is_empty());

    use crate::log::SenderKind;
    let top = ok(store.top_senders(&Scope::All, base, SenderKind::Account, 10), "top");
    let names: Vec<(&str, u64)> = top.iter().map(|s| (s.name.as_str(), s.messages)).collect();
    assert_eq!(names, [("acct-shop.example", 3), ("acct-other.example", 1)], "{top:?}");
    let top = ok(store.top_senders(&Scope::All, base, SenderKind::Account, 1), "top");
    assert_eq!(top.len(), 1);
    let ids = ok(store.top_senders(&domains(&["other.example"]), base, SenderKind::Identity, 10), "top");
    let names: Vec<(&str, u64)> = ids.iter().map(|s| (s.name.as_str(), s.messages)).collect();
    assert_eq!(names, [("bob@other.example", 1)], "{ids:?}");
    let later = ok(store.top_senders(&domains(&["shop.example"]), base + hour, SenderKind::Identity, 10), "top");
    let names: Vec<(&str, u64)> = later.iter().map(|s| (s.name.as_str(), s.messages)).collect();
    assert_eq!(names, [("carol@shop-mail.example", 1)], "{later:?}");
    assert!(ok(store.top_senders(&domains(&["nobody.example"]), base, SenderKind::Account, 10), "top").is_empty());
}
