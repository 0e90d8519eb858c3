//! Versioned migrations. Each runs once, in order, in its own transaction; the version is
//! recorded in `schema_migrations`. A database newer than the binary is refused.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// (version, name, SQL). Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "events",
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        session INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        queue_id TEXT,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_queue_id ON events(queue_id) WHERE queue_id IS NOT NULL;
    CREATE INDEX events_at ON events(at_ms);",
)];

pub fn apply(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|source| StoreError::Migration { version, name, source })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, postern_core::event::now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "database migration applied");
    }
    Ok(())
}

pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
