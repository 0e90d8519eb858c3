//! [`DkimStore`] for [`PgStore`]: the `dkim_keys` table.
//!
//! In: [`NewDkimKey`] with the private key already sealed, domain and selector names
//! already normalized. Out: [`DkimKey`] values (no private part), and [`SealedDkimKey`]
//! for the signer. An algorithm or state this binary does not know is an error naming the
//! row, never a panic or a guess. Creation and rotation lock the domain's row, so the
//! count of keys and the one active key per algorithm hold across nodes; the one active
//! key is also a unique index.

use deadpool_postgres::GenericClient;
use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};
use postern_core::event::now_ms;
use tokio_postgres::Row;

use super::filter::{Filter, ListQuery, paged};
use super::{
    PgStore, domains, execute, get as col, is_duplicate, is_missing_reference, query, query_one, query_opt, unreadable,
};
use crate::directory::{Page, Paged, Scope};
use crate::dkim::{Activation, DkimStore, MOST_KEYS_PER_DOMAIN, NewDkimKey, SealedDkimKey};
use crate::{Result, StoreError};

const COLUMNS: &str = "domain, selector, algorithm, public_key, state, created_at_ms, activated_at_ms, retire_at_ms";

fn decode(r: &Row) -> Result<DkimKey> {
    let (domain, selector): (String, String) = (col(r, 0)?, col(r, 1)?);
    let unknown =
        |what: &str, value: &str| unreadable(format!("DKIM key {selector} of {domain}: unknown {what} {value:?}"));
    let algorithm_name: String = col(r, 2)?;
    let algorithm = DkimAlgorithm::parse(&algorithm_name).ok_or_else(|| unknown("algorithm", &algorithm_name))?;
    let state_name: String = col(r, 4)?;
    let state = match DkimKeyState::parse(&state_name) {
        Some(state @ (DkimKeyState::Pending | DkimKeyState::Active | DkimKeyState::Retiring)) => state,
        _ => return Err(unknown("state", &state_name)),
    };
    Ok(DkimKey {
        domain,
        selector,
        algorithm,
        public_key: col(r, 3)?,
        state,
        created_at_ms: col(r, 5)?,
        activated_at_ms: col(r, 6)?,
        retire_at_ms: col(r, 7)?,
    })
}

async fn get(c: &impl GenericClient, domain: &str, selector: &str) -> Result<Option<DkimKey>> {
    let sql = format!("SELECT {COLUMNS} FROM dkim_keys WHERE domain = $1 AND selector = $2");
    query_opt(c, &sql, &[&domain, &selector]).await?.as_ref().map(decode).transpose()
}

async fn create(client: &mut deadpool_postgres::Client, new: &NewDkimKey) -> Result<DkimKey> {
    let tx = client.transaction().await?;
    if !domains::lock(&tx, &new.domain, true).await? {
        return Err(StoreError::NotFound(format!("no such domain {}", new.domain)));
    }
    let count: i64 =
        col(&query_one(&tx, "SELECT COUNT(*) FROM dkim_keys WHERE domain = $1", &[&new.domain]).await?, 0)?;
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
    let inserted = execute(
        &tx,
        "INSERT INTO dkim_keys (domain, selector, algorithm, public_key, sealed_private_key, master_key_id, state,
            created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &key.domain,
            &key.selector,
            &key.algorithm.name(),
            &key.public_key,
            &new.sealed_private_key,
            &new.master_key_id,
            &key.state.name(),
            &key.created_at_ms,
        ],
    )
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => {
            return Err(StoreError::Conflict(format!("{} has a DKIM key with selector {}", new.domain, new.selector)));
        }
        Err(e) if is_missing_reference(&e) => {
            return Err(StoreError::NotFound(format!("no such domain {}", new.domain)));
        }
        Err(e) => return Err(e),
    }
    tx.commit().await?;
    Ok(key)
}

async fn activate(
    client: &mut deadpool_postgres::Client,
    domain: &str,
    selector: &str,
    retire_at_ms: i64,
) -> Result<Option<Activation>> {
    let tx = client.transaction().await?;
    // One rotation of a domain at a time, on every node.
    if !domains::lock(&tx, domain, true).await? {
        return Ok(None);
    }
    let Some(key) = get(&tx, domain, selector).await? else { return Ok(None) };
    if key.state == DkimKeyState::Active {
        return Ok(Some(Activation { activated: key, retiring: Vec::new() }));
    }
    let sql = format!(
        "UPDATE dkim_keys SET state = 'retiring', retire_at_ms = $3
         WHERE domain = $1 AND algorithm = $2 AND state = 'active' RETURNING {COLUMNS}"
    );
    let mut retiring = query(&tx, &sql, &[&domain, &key.algorithm.name(), &retire_at_ms])
        .await?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>>>()?;
    retiring.sort_by(|a, b| a.selector.cmp(&b.selector));
    let now = now_ms();
    execute(
        &tx,
        "UPDATE dkim_keys SET state = 'active', activated_at_ms = $3, retire_at_ms = NULL
         WHERE domain = $1 AND selector = $2",
        &[&domain, &selector, &now],
    )
    .await?;
    tx.commit().await?;
    let activated = DkimKey { state: DkimKeyState::Active, activated_at_ms: Some(now), retire_at_ms: None, ..key };
    Ok(Some(Activation { activated, retiring }))
}

async fn active(c: &impl GenericClient) -> Result<Vec<SealedDkimKey>> {
    let sql = format!(
        "SELECT {COLUMNS}, sealed_private_key, master_key_id FROM dkim_keys WHERE state = 'active'
         ORDER BY domain, selector"
    );
    query(c, &sql, &[])
        .await?
        .iter()
        .map(|r| Ok(SealedDkimKey { key: decode(r)?, sealed_private_key: col(r, 8)?, master_key_id: col(r, 9)? }))
        .collect()
}

impl DkimStore for PgStore {
    fn create_dkim_key(&self, new: &NewDkimKey) -> Result<DkimKey> {
        let new = new.clone();
        self.with_client(move |mut c| async move { create(&mut c, &new).await })
    }

    fn dkim_key(&self, domain: &str, selector: &str) -> Result<Option<DkimKey>> {
        let (domain, selector) = (domain.to_owned(), selector.to_owned());
        self.with_client(move |c| async move { get(&c, &domain, &selector).await })
    }

    fn list_dkim_keys(&self, scope: &Scope, domain: Option<&str>, page: Page) -> Result<Paged<DkimKey>> {
        let mut f = Filter::default();
        f.scope("domain", scope);
        if let Some(domain) = domain {
            f.equals("domain", domain.to_owned());
        }
        self.with_client(move |c| async move {
            let query = ListQuery {
                columns: COLUMNS,
                from: "dkim_keys",
                count_from: None,
                order: "domain, selector",
                filter: &f,
            };
            paged(&c, query, page, decode).await
        })
    }

    fn activate_dkim_key(&self, domain: &str, selector: &str, retire_at_ms: i64) -> Result<Option<Activation>> {
        let (domain, selector) = (domain.to_owned(), selector.to_owned());
        self.with_client(move |mut c| async move { activate(&mut c, &domain, &selector, retire_at_ms).await })
    }

    fn delete_dkim_key(&self, domain: &str, selector: &str) -> Result<bool> {
        let (domain, selector) = (domain.to_owned(), selector.to_owned());
        self.with_client(move |c| async move {
            let sql = "DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2";
            Ok(execute(&c, sql, &[&domain, &selector]).await? > 0)
        })
    }

    fn active_dkim_keys(&self) -> Result<Vec<SealedDkimKey>> {
        self.with_client(move |c| async move { active(&c).await })
    }
}
