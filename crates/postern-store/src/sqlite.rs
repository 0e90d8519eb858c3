//! The embedded backend: one SQLite file (WAL mode) in the data directory.

use std::path::Path;
use std::sync::Mutex;

use postern_core::{Event, QueueId};
use rusqlite::{Connection, params};

use crate::events::{EventQuery, EventStore, StoredEvent};
use crate::{Result, migrations};

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::apply(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    pub fn schema_version(&self) -> Result<i64> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
    }

    pub fn latest_schema_version() -> i64 {
        migrations::latest()
    }
}

impl EventStore for SqliteStore {
    fn append(&self, events: &[Event]) -> Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (at_ms, session, client_ip, queue_id, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in events {
                let data = serde_json::to_string(e)?;
                insert.execute(params![
                    e.at_ms,
                    e.session as i64,
                    e.client_ip.to_string(),
                    e.queue_id.map(|q| q.to_string()),
                    e.kind.name(),
                    data
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let limit = if q.limit == 0 { 100 } else { q.limit.min(10_000) } as i64;
        let mut stmt = conn.prepare_cached(
            "SELECT id, data FROM (
                SELECT id, data FROM events
                WHERE (?1 IS NULL OR queue_id = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR at_ms >= ?3)
                ORDER BY id DESC LIMIT ?4
            ) ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![q.queue_id.map(|id: QueueId| id.to_string()), q.kind, q.since_ms, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
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
    use super::*;
    use postern_core::{EventKind, Stage};

    fn event(queue: Option<QueueId>, kind: EventKind) -> Event {
        Event { at_ms: 5, session: 1, client_ip: "127.0.0.1".parse().unwrap(), queue_id: queue, kind }
    }

    #[test]
    fn migrates_once_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SqliteStore::latest_schema_version());
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
                    },
                ),
            ])
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let all = store.query(&EventQuery::default()).unwrap();
        assert_eq!(all.len(), 2);
        let mine = store.query(&EventQuery { queue_id: Some(q), ..EventQuery::default() }).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].event.kind.name(), "refused");
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", []).unwrap();
        drop(conn);
        assert!(matches!(SqliteStore::open(&path), Err(crate::StoreError::SchemaTooNew { found: 999, .. })));
    }
}
