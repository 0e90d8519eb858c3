//! [`DkimStore`] for [`SqliteStore`]: the `dkim_keys` table.
//!
//! In: [`NewDkimKey`] with the private key already sealed, domain and selector names
//! already normalized. Out: [`DkimKey`] values (no private part), and [`SealedDkimKey`]
//! for the signer. An algorithm or state this binary does not know is an error naming the
//! row, never a panic or a guess. One active key per domain and algorithm is also a unique
//! index, so no sequence of calls can leave two.

use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};
use postern_core::event::now_ms;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::filter::{Filter, ListQuery, paged};
use super::{SqliteStore, domains, is_duplicate};
use crate::directory::{Page, Paged, Scope};
use crate::dkim::{Activation, DkimStore, MOST_KEYS_PER_DOMAIN, NewDkimKey, SealedDkimKey};
use crate::{Result, StoreError};

const COLUMNS: &str = "domain, selector, algorithm, public_key, state, created_at_ms, activated_at_ms, retire_at_ms";

/// A row as SQLite gives it, before names become enums.
struct KeyRow {
    domain: String,
    selector: String,
    algorithm: String,
    public_key: String,
    state: String,
    created_at_ms: i64,
    activated_at_ms: Option<i64>,
    retire_at_ms: Option<i64>,
}

fn read(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        domain: r.get(0)?,
        selector: r.get(1)?,
        algorithm: r.get(2)?,
        public_key: r.get(3)?,
        state: r.get(4)?,
        created_at_ms: r.get(5)?,
        activated_at_ms: r.get(6)?,
        retire_at_ms: r.get(7)?,
    })
}

fn decode(row: KeyRow) -> Result<DkimKey> {
    let unknown = |what: &str, value: &str| {
        let text = format!("DKIM key {} of {}: unknown {what} {value:?}", row.selector, row.domain);
        StoreError::Json(<serde_json::Error as serde::de::Error>::custom(text))
    };
    let algorithm = DkimAlgorithm::parse(&row.algorithm).ok_or_else(|| unknown("algorithm", &row.algorithm))?;
    let state = match DkimKeyState::parse(&row.state) {
        Some(state @ (DkimKeyState::Pending | DkimKeyState::Active | DkimKeyState::Retiring)) => state,
        _ => return Err(unknown("state", &row.state)),
    };
    Ok(DkimKey {
        domain: row.domain,
        selector: row.selector,
        algorithm,
        public_key: row.public_key,
        state,
        created_at_ms: row.created_at_ms,
        activated_at_ms: row.activated_at_ms,
        retire_at_ms: row.retire_at_ms,
    })
}

fn get(conn: &Connection, domain: &str, selector: &str) -> Result<Option<DkimKey>> {
    let sql = format!("SELECT {COLUMNS} FROM dkim_keys WHERE domain = ?1 AND selector = ?2");
    conn.query_row(&sql, params![domain, selector], read).optional()?.map(decode).transpose()
}

fn create(conn: &mut Connection, new: &NewDkimKey) -> Result<DkimKey> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !domains::exists(&tx, &new.domain)? {
        return Err(StoreError::NotFound(format!("no such domain {}", new.domain)));
    }
    let count: i64 = tx.query_row("SELECT COUNT(*) FROM dkim_keys WHERE domain = ?1", [&new.domain], |r| r.get(0))?;
    if count >= MOST_KEYS_PER_DOMAIN as i64 {
        let text = format!("{} has {MOST_KEYS_PER_DOMAIN} DKIM keys already: remove one first", new.domain);
        return Err(StoreError::Conflict(text));
    }
    let key = DkimKey {
        domain: new.domain.clone(),
        selector: new.selector.clone(),
        algorithm: new.algorithm,
        public_key: new.public_key.clone(),
        state: DkimKeyState::Pending,
        created_at_ms: now_ms(),
        activated_at_ms: None,
        retire_at_ms: None,
    };
    let inserted = tx.execute(
        "INSERT INTO dkim_keys (domain, selector, algorithm, public_key, sealed_private_key, master_key_id, state,
            created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.domain,
            key.selector,
            key.algorithm.name(),
            key.public_key,
            new.sealed_private_key,
            new.master_key_id,
            key.state.name(),
            key.created_at_ms
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("{} has a DKIM key with selector {}", new.domain, new.selector)));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit()?;
    Ok(key)
}

fn activate(conn: &mut Connection, domain: &str, selector: &str, retire_at_ms: i64) -> Result<Option<Activation>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(key) = get(&tx, domain, selector)? else { return Ok(None) };
    if key.state == DkimKeyState::Active {
        return Ok(Some(Activation { activated: key, retiring: Vec::new() }));
    }
    let sql = format!("SELECT {COLUMNS} FROM dkim_keys WHERE domain = ?1 AND algorithm = ?2 AND state = 'active'");
    let mut stmt = tx.prepare(&sql)?;
    let previous: Vec<KeyRow> =
        stmt.query_map(params![domain, key.algorithm.name()], read)?.collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    let mut retiring = Vec::new();
    for row in previous {
        let mut old = decode(row)?;
        tx.execute(
            "UPDATE dkim_keys SET state = 'retiring', retire_at_ms = ?3 WHERE domain = ?1 AND selector = ?2",
            params![old.domain, old.selector, retire_at_ms],
        )?;
        old.state = DkimKeyState::Retiring;
        old.retire_at_ms = Some(retire_at_ms);
        retiring.push(old);
    }
    let now = now_ms();
    tx.execute(
        "UPDATE dkim_keys SET state = 'active', activated_at_ms = ?3, retire_at_ms = NULL
         WHERE domain = ?1 AND selector = ?2",
        params![domain, selector, now],
    )?;
    tx.commit()?;
    let activated = DkimKey { state: DkimKeyState::Active, activated_at_ms: Some(now), retire_at_ms: None, ..key };
    Ok(Some(Activation { activated, retiring }))
}

fn active(conn: &Connection) -> Result<Vec<SealedDkimKey>> {
    let sql = format!(
        "SELECT {COLUMNS}, sealed_private_key, master_key_id FROM dkim_keys WHERE state = 'active'
         ORDER BY domain, selector"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| Ok((read(r)?, r.get::<_, Vec<u8>>(8)?, r.get::<_, String>(9)?)))?;
    rows.map(|row| {
        let (row, sealed_private_key, master_key_id) = row?;
        Ok(SealedDkimKey { key: decode(row)?, sealed_private_key, master_key_id })
    })
    .collect()
}

impl DkimStore for SqliteStore {
    fn create_dkim_key(&self, new: &NewDkimKey) -> Result<DkimKey> {
        create(&mut self.conn(), new)
    }

    fn dkim_key(&self, domain: &str, selector: &str) -> Result<Option<DkimKey>> {
        get(&self.conn(), domain, selector)
    }

    fn list_dkim_keys(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<DkimKey>> {
        let mut f = Filter::default();
        f.scope("domain", scope);
        if let Some(domain) = domain {
            f.equals("domain", domain.to_string());
        }
        let query =
            ListQuery { columns: COLUMNS, from: "dkim_keys", count_from: None, order: "domain, selector", filter: &f };
        paged(&self.conn(), query, page, read, decode)
    }

    fn activate_dkim_key(&self, domain: &str, selector: &str, retire_at_ms: i64) -> Result<Option<Activation>> {
        activate(&mut self.conn(), domain, selector, retire_at_ms)
    }

    fn delete_dkim_key(&self, domain: &str, selector: &str) -> Result<bool> {
        let deleted = self
            .conn()
            .execute("DELETE FROM dkim_keys WHERE domain = ?1 AND selector = ?2", params![domain, selector])?;
        Ok(deleted > 0)
    }

    fn active_dkim_keys(&self) -> Result<Vec<SealedDkimKey>> {
        active(&self.conn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DirectoryStore;
    use crate::directory::NewDomain;

    #[test]
    fn unknown_names_in_a_row_are_errors_not_guesses() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("postern.db")).unwrap();
        let domain = NewDomain {
            name: "example.com".into(),
            filter_enabled: true,
            sender_security: Default::default(),
            abuse_contact: None,
        };
        store.create_domain(&domain).unwrap();
        let new = NewDkimKey {
            domain: "example.com".into(),
            selector: "s1".into(),
            algorithm: DkimAlgorithm::Ed25519,
            public_key: "KEY".into(),
            sealed_private_key: vec![1, 2, 3],
            master_key_id: "m".into(),
        };
        store.create_dkim_key(&new).unwrap();
        store.conn().execute("UPDATE dkim_keys SET algorithm = 'dsa'", []).unwrap();
        let error = store.dkim_key("example.com", "s1").unwrap_err().to_string();
        assert!(error.contains("unknown algorithm \"dsa\""), "{error}");
        store.conn().execute("UPDATE dkim_keys SET algorithm = 'rsa', state = 'retired'", []).unwrap();
        assert!(store.dkim_key("example.com", "s1").unwrap_err().to_string().contains("unknown state"));
    }
}
