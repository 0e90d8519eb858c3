//! [`EventStore`] for [`SqliteStore`]: the `events` table.
//!
//! In: batches of [`Event`]s from the event writer. Out: [`StoredEvent`]s. A `queued` or
//! `discarded` event is stored with the account's domain and the sender's domain in their
//! own indexed columns (lower-cased), so that each message is found under both. In the
//! same transaction, each event updates its message's log search row (`log_ingest`).

use postern_core::Event;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::SqliteStore;
use super::filter::Filter;
use crate::Result;
use crate::events::{EventQuery, EventStore, StoredEvent, search_domains};

impl EventStore for SqliteStore {
    fn append(&self, events: &[Event]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut tally = crate::log_fold::Tally::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (at_ms, session, client_ip, queue_id, kind, data, domain, sender_domain)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for e in events {
                let data = serde_json::to_string(e)?;
                let (domain, sender_domain) = search_domains(&e.kind);
                insert.execute(rusqlite::params![
                    e.at_ms,
                    e.session as i64,
                    e.client_ip.to_string(),
                    e.queue_id.map(|q| q.to_string()),
                    e.kind.name(),
                    data,
                    domain,
                    sender_domain
                ])?;
                crate::log_fold::record(&mut super::log_ingest::Rows(&tx), &mut tally, tx.last_insert_rowid(), e)?;
            }
        }
        super::log_ingest::write_hours(&tx, tally)?;
        tx.commit()?;
        Ok(())
    }

    fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>> {
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) };
        let mut f = Filter::default();
        if let Some(id) = q.queue_id {
            f.equals("queue_id", id.to_string());
        }
        if let Some(kind) = &q.kind {
            f.equals("kind", kind.clone());
        }
        if let Some(since) = q.since_ms {
            f.clause("at_ms >= ?", [Value::Integer(since)]);
        }
        if let Some(domain) = &q.domain {
            let domain = Value::Text(domain.to_ascii_lowercase());
            f.clause("(domain = ? OR sender_domain = ?)", [domain.clone(), domain]);
        }
        let sql = format!(
            "SELECT id, data FROM (SELECT id, data FROM events{} ORDER BY id DESC LIMIT {limit}) ORDER BY id",
            f.sql()
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows =
            stmt.query_map(params_from_iter(f.params()), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            out.push(StoredEvent { id, event: serde_json::from_str(&data)? });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use postern_core::{EventKind, QueueId, Stage};

    use super::*;

    fn event(queue: Option<QueueId>, kind: EventKind) -> Event {
        Event { at_ms: 5, session: 1, client_ip: "127.0.0.1".parse().unwrap(), queue_id: queue, kind }
    }

    fn queued(domain: Option<&str>, sender_domain: Option<&str>) -> EventKind {
        EventKind::Queued {
            size: 10,
            sender: "a@b".into(),
            recipients: vec!["c@d".into()],
            tls: None,
            message_id: None,
            account: None,
            account_id: None,
            domain: domain.map(Into::into),
            sender_domain: sender_domain.map(Into::into),
            identity: None,
            subject: None,
        }
    }

    fn open(path: &Path) -> SqliteStore {
        SqliteStore::open(path).unwrap()
    }

    #[test]
    fn round_trips_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        let store = open(&path);
        let q = QueueId::generate();
        store
            .append(&[
                event(None, EventKind::Connect { client_port: 9, listener: "smtp".into() }),
                event(
                    Some(q),
                    EventKind::Refused {
                        stage: Stage::Rcpt,
                        reply: "554 5.7.1 x".into(),
                        reason: "r".into(),
                        sender: None,
                        recipient: Some("a@b".into()),
                        account: None,
                        domain: None,
                    },
                ),
            ])
            .unwrap();
        drop(store);
        let store = open(&path);
        let all = store.query(&EventQuery::default()).unwrap();
        assert_eq!(all.len(), 2);
        let mine = store.query(&EventQuery { queue_id: Some(q), ..EventQuery::default() }).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].event.kind.name(), "refused");
    }

    #[test]
    fn a_message_is_found_under_both_domains() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("postern.db"));
        let both = QueueId::generate();
        let same = QueueId::generate();
        store
            .append(&[
                event(Some(both), queued(Some("customer.example"), Some("Client.EXAMPLE"))),
                event(Some(same), queued(Some("customer.example"), Some("customer.example"))),
                event(None, queued(None, None)),
                event(None, EventKind::Connect { client_port: 9, listener: "smtp".into() }),
            ])
            .unwrap();
        let search = |domain: &str| {
            let found = store.query(&EventQuery { domain: Some(domain.into()), ..EventQuery::default() }).unwrap();
            found.iter().map(|e| e.event.queue_id).collect::<Vec<_>>()
        };
        assert_eq!(search("customer.example"), vec![Some(both), Some(same)]);
        assert_eq!(search("client.example"), vec![Some(both)]);
        assert_eq!(search("CLIENT.example"), vec![Some(both)]);
        assert!(search("other.example").is_empty());
        let queued_for_client = EventQuery {
            domain: Some("client.example".into()),
            kind: Some("queued".into()),
            since_ms: Some(5),
            queue_id: Some(both),
            limit: 1,
        };
        assert_eq!(store.query(&queued_for_client).unwrap().len(), 1);
    }

    #[test]
    fn limit_keeps_the_newest_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("postern.db"));
        let events: Vec<Event> =
            (0..5).map(|port| event(None, EventKind::Connect { client_port: port, listener: "smtp".into() })).collect();
        store.append(&events).unwrap();
        let last = store.query(&EventQuery { limit: 2, ..EventQuery::default() }).unwrap();
        let ports: Vec<_> = last
            .iter()
            .map(|e| match &e.event.kind {
                EventKind::Connect { client_port, .. } => *client_port,
                _ => 0,
            })
            .collect();
        assert_eq!(ports, vec![3, 4]);
    }
}
