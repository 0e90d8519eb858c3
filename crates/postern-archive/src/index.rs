//! The archive's index: its own SQLite file (`index.db`, WAL, `synchronous=FULL` so a
//! committed row survives a power cut), one row per stored copy in `messages`, and a
//! contentless FTS5 table `messages_text` (subject, body) whose rowid is the row's id.
//!
//! In: [`NewRow`]s from the write path, ids, deletes from the purge. Out: [`Entry`] values.
//! Recipients are a JSON column; a row this binary cannot read is an error naming it.
//! Schema changes bump `PRAGMA user_version`; a newer index is refused, not guessed at.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{ArchiveError, Entry, Result};

/// The schema version this binary writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id TEXT NOT NULL UNIQUE,
    received_at_ms INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    domain TEXT NOT NULL,
    identity TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_domain TEXT,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    file TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at_ms, id);
CREATE INDEX IF NOT EXISTS messages_account ON messages (account_id, received_at_ms);
CREATE INDEX IF NOT EXISTS messages_domain ON messages (domain, received_at_ms);
CREATE INDEX IF NOT EXISTS messages_sender_domain ON messages (sender_domain, received_at_ms);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_text USING fts5 (
    subject, body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
";

/// The columns [`read`] takes apart, in order.
pub(crate) const COLUMNS: &str = "id, queue_id, received_at_ms, account_id, account, domain, identity, sender, \
    sender_domain, recipients, subject, message_id, size, sha256, file";

/// A row to insert, with the text for the full-text index.
pub(crate) struct NewRow<'a> {
    pub entry: &'a Entry,
    pub body_text: &'a str,
}

pub(crate) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // A committed row is on disk before the client hears 250, power cut included.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(ArchiveError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    if found < SCHEMA_VERSION {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(conn)
}

/// Inserts the row and its text; returns the row's id. The caller holds the transaction
/// (the committer: one for a batch, a savepoint for each row).
pub(crate) fn insert(tx: &Connection, new: &NewRow<'_>) -> Result<i64> {
    let e = new.entry;
    tx.execute(
        "INSERT INTO messages (queue_id, received_at_ms, account_id, account, domain, identity, sender,
            sender_domain, recipients, subject, message_id, size, sha256, file)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            e.queue_id,
            e.received_at_ms,
            e.account_id,
            e.account,
            e.domain,
            e.identity,
            e.sender,
            e.sender_domain,
            serde_json::to_string(&e.recipients).map_err(|e| ArchiveError::Refused(e.to_string()))?,
            e.subject,
            e.message_id,
            i64::try_from(e.size).unwrap_or(i64::MAX),
            e.sha256,
            e.file,
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO messages_text (rowid, subject, body) VALUES (?1, ?2, ?3)",
        params![id, e.subject, new.body_text],
    )?;
    Ok(id)
}

/// A row as SQLite gives it, before the recipients are decoded.
pub(crate) struct Raw(Entry, String);

pub(crate) fn read(r: &Row<'_>) -> rusqlite::Result<Raw> {
    let size: i64 = r.get(12)?;
    let entry = Entry {
        id: r.get(0)?,
        queue_id: r.get(1)?,
        received_at_ms: r.get(2)?,
        account_id: r.get(3)?,
        account: r.get(4)?,
        domain: r.get(5)?,
        identity: r.get(6)?,
        sender: r.get(7)?,
        sender_domain: r.get(8)?,
        recipients: Vec::new(),
        subject: r.get(10)?,
        message_id: r.get(11)?,
        size: u64::try_from(size).unwrap_or(0),
        sha256: r.get(13)?,
        file: r.get(14)?,
    };
    Ok(Raw(entry, r.get(9)?))
}

pub(crate) fn decode(raw: Raw) -> Result<Entry> {
    let Raw(mut entry, recipients) = raw;
    entry.recipients = serde_json::from_str(&recipients)
        .map_err(|e| ArchiveError::Corrupt { id: entry.id, reason: format!("recipients in the index: {e}") })?;
    Ok(entry)
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<Entry>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE id = ?1");
    conn.query_row(&sql, [id], read).optional()?.map(decode).transpose()
}

pub(crate) fn by_queue_id(conn: &Connection, queue_id: &str) -> Result<Option<Entry>> {
    let sql = format!("SELECT {COLUMNS} FROM messages WHERE queue_id = ?1");
    conn.query_row(&sql, [queue_id], read).optional()?.map(decode).transpose()
}

/// Deletes rows and their text in one transaction; returns how many went.
pub(crate) fn delete(conn: &mut Connection, ids: &[i64]) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut n = 0;
    for id in ids {
        n += tx.execute("DELETE FROM messages WHERE id = ?1", [id])?;
        tx.execute("DELETE FROM messages_text WHERE rowid = ?1", [id])?;
    }
    tx.commit()?;
    Ok(n)
}
