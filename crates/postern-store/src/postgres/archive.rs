//! [`ArchiveStore`] for [`PgStore`]: the `archive_messages` rows (with a `tsvector` of
//! their subject and text body, GIN-indexed, for full-text search) and their gzip copies in
//! `archive_bodies`, written in one transaction (migration 9).
//!
//! In: rows, folded text and gzip copies from any node's write path; checked filters with
//! the caller's scope. Out: rows, copies (within a bound), purge counts, the purge's lease.
//!
//! Defends against: full-text syntax from the caller (each word is folded to letters and
//! digits and quoted as one `tsquery` lexeme, so no operator can come through), values
//! spliced into SQL (every value is a parameter; column names come from this file), a
//! copy too large to read (its size is checked before its bytes travel), and every node
//! running the hourly purge at once (a lease row: one node takes the run).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::filter::Filter;
use super::{PgStore, execute, get as col, is_duplicate, query, query_one, query_opt, unreadable};
use crate::archive::{ArchiveFilter, ArchivePurged, ArchiveStore, ArchivedEntry, SHARED_COPY, fold, text_terms};
use crate::directory::{Page, Paged};
use crate::{Result, StoreError};

const COLUMNS: &str = "id, queue_id, received_at_ms, account_id, account, domain, identity, sender, \
    sender_domain, recipients, subject, message_id, size, sha256";

/// Newest first, ties by id.
const ORDER: &str = " ORDER BY received_at_ms DESC, id DESC";

fn decode(r: &Row) -> Result<ArchivedEntry> {
    let id: i64 = col(r, 0)?;
    let recipients: String = col(r, 9)?;
    let recipients =
        serde_json::from_str(&recipients).map_err(|e| unreadable(format!("archived message {id}: recipients: {e}")))?;
    Ok(ArchivedEntry {
        id,
        queue_id: col(r, 1)?,
        received_at_ms: col(r, 2)?,
        account_id: col(r, 3)?,
        account: col(r, 4)?,
        domain: col(r, 5)?,
        identity: col(r, 6)?,
        sender: col(r, 7)?,
        sender_domain: col(r, 8)?,
        recipients,
        subject: col(r, 10)?,
        message_id: col(r, 11)?,
        size: u64::try_from(col::<i64>(r, 12)?).unwrap_or(0),
        sha256: col(r, 13)?,
        file: SHARED_COPY.to_string(),
    })
}

/// The `tsquery` of a `text` search: each word folded and quoted, all required, `:*` for a
/// prefix. A word folded to several (`a"b`) is a phrase of them, as in SQLite's FTS5.
fn tsquery(text: &str) -> Result<String> {
    let terms = text_terms(text).map_err(|bad| StoreError::Conflict(format!("{}: {}", bad.field, bad.reason)))?;
    let mut out = Vec::new();
    for term in terms {
        let word = fold(&term.word);
        let word = word.split_whitespace().collect::<Vec<_>>().join(" ");
        if word.is_empty() {
            continue;
        }
        // Inside quotes only `'` (doubled) and `\` (escaped) are special.
        let quoted = format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"));
        out.push(if term.prefix { format!("{quoted}:*") } else { quoted });
    }
    Ok(out.join(" & "))
}

/// The WHERE clause of a search (the filter is checked by the caller; checked again here).
fn conditions(filter: &ArchiveFilter, scope: Option<&[String]>) -> Result<Filter> {
    filter.check().map_err(|bad| StoreError::Conflict(format!("{}: {}", bad.field, bad.reason)))?;
    let mut f = Filter::default();
    match scope {
        None => {}
        Some([]) => {
            f.clause("FALSE");
        }
        Some(domains) => {
            let mark = f.bind(domains.to_vec());
            f.clause(format!("(domain = ANY({mark}) OR sender_domain = ANY({mark}))"));
        }
    }
    if let Some(domain) = filter.domain_key() {
        let mark = f.bind(domain);
        f.clause(format!("(domain = {mark} OR sender_domain = {mark})"));
    }
    if let Some(account) = &filter.account {
        f.equals("account", account.clone());
    }
    if let Some(id) = filter.account_id {
        f.equals("account_id", id);
    }
    for (column, value) in [
        ("identity", &filter.identity),
        ("sender", &filter.sender),
        ("recipients", &filter.recipient),
        ("subject", &filter.subject),
    ] {
        if let Some(value) = value {
            f.contains(column, value);
        }
    }
    if let Some([with, bare]) = filter.message_id_keys() {
        let (a, b) = (f.bind(with), f.bind(bare));
        f.clause(format!("message_id IN ({a}, {b})"));
    }
    if let Some(queue_id) = filter.queue_id_key() {
        f.equals("queue_id", queue_id);
    }
    if let Some(text) = &filter.text {
        let mark = f.bind(tsquery(text)?);
        f.clause(format!("words @@ to_tsquery('simple', {mark})"));
    }
    if let Some(since) = filter.since_ms {
        let mark = f.bind(since);
        f.clause(format!("received_at_ms >= {mark}"));
    }
    if let Some(until) = filter.until_ms {
        let mark = f.bind(until);
        f.clause(format!("received_at_ms < {mark}"));
    }
    Ok(f)
}

impl ArchiveStore for PgStore {
    fn archive_insert(&self, entry: &ArchivedEntry, text: &str, gzip: &[u8]) -> Result<i64> {
        let (e, words, gzip) = (entry.clone(), fold(text), gzip.to_vec());
        self.with_client(move |mut c| async move {
            let recipients = serde_json::to_string(&e.recipients)?;
            let size = i64::try_from(e.size).unwrap_or(i64::MAX);
            let tx = c.transaction().await?;
            let inserted = query_one(
                &tx,
                "INSERT INTO archive_messages (queue_id, received_at_ms, account_id, account, domain, identity,
                    sender, sender_domain, recipients, subject, message_id, size, sha256, words)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, to_tsvector('simple', $14))
                    RETURNING id",
                &[
                    &e.queue_id,
                    &e.received_at_ms,
                    &e.account_id,
                    &e.account,
                    &e.domain,
                    &e.identity,
                    &e.sender,
                    &e.sender_domain,
                    &recipients,
                    &e.subject,
                    &e.message_id,
                    &size,
                    &e.sha256,
                    &words,
                ],
            )
            .await;
            let id: i64 = match inserted {
                Ok(row) => col(&row, 0)?,
                Err(e2) if is_duplicate(&e2) => {
                    return Err(StoreError::Conflict(format!("archived message {}", e.queue_id)));
                }
                Err(e2) => return Err(e2),
            };
            execute(&tx, "INSERT INTO archive_bodies (id, gzip) VALUES ($1, $2)", &[&id, &gzip]).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn archived(&self, id: i64) -> Result<Option<ArchivedEntry>> {
        self.with_client(move |c| async move {
            let sql = format!("SELECT {COLUMNS} FROM archive_messages WHERE id = $1");
            query_opt(&c, &sql, &[&id]).await?.as_ref().map(decode).transpose()
        })
    }

    fn archived_copy(&self, id: i64, max: u64) -> Result<Option<Vec<u8>>> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.with_client(move |c| async move {
            // The size first, and the bytes only when within the bound.
            let sql = "SELECT octet_length(gzip)::BIGINT, CASE WHEN octet_length(gzip)::BIGINT <= $2::BIGINT
                THEN gzip END FROM archive_bodies WHERE id = $1";
            let Some(row) = query_opt(&c, sql, &[&id, &limit]).await? else { return Ok(None) };
            let size: i64 = col(&row, 0)?;
            match col::<Option<Vec<u8>>>(&row, 1)? {
                Some(gzip) => Ok(Some(gzip)),
                None => Err(unreadable(format!("archived message {id}: {size} octets, more than the {max} allowed"))),
            }
        })
    }

    fn archived_copy_present(&self, id: i64) -> Result<bool> {
        self.with_client(move |c| async move {
            Ok(query_opt(&c, "SELECT 1 FROM archive_bodies WHERE id = $1", &[&id]).await?.is_some())
        })
    }

    fn archive_search(
        &self,
        filter: &ArchiveFilter,
        scope: Option<&[String]>,
        page: Page,
    ) -> Result<Paged<ArchivedEntry>> {
        let (filter, scope) = (filter.clone(), scope.map(<[String]>::to_vec));
        self.with_client(move |c| async move {
            let f = conditions(&filter, scope.as_deref())?;
            let params = f.params();
            let where_ = f.sql();
            let total: i64 =
                col(&query_one(&c, &format!("SELECT COUNT(*) FROM archive_messages{where_}"), &params).await?, 0)?;
            let limit = page.effective_limit();
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let sql = format!("SELECT {COLUMNS} FROM archive_messages{where_}{ORDER} LIMIT {limit} OFFSET {offset}");
            let items = query(&c, &sql, &params).await?.iter().map(decode).collect::<Result<Vec<_>>>()?;
            Ok(Paged { items, total: u64::try_from(total).unwrap_or(0), limit, offset: page.offset })
        })
    }

    fn archive_count(&self, filter: &ArchiveFilter, scope: Option<&[String]>) -> Result<u64> {
        let (filter, scope) = (filter.clone(), scope.map(<[String]>::to_vec));
        self.with_client(move |c| async move {
            let f = conditions(&filter, scope.as_deref())?;
            let sql = format!("SELECT COUNT(*) FROM archive_messages{}", f.sql());
            let n: i64 = col(&query_one(&c, &sql, &f.params()).await?, 0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn archive_page(
        &self,
        filter: &ArchiveFilter,
        scope: Option<&[String]>,
        after: Option<(i64, i64)>,
        size: u32,
    ) -> Result<Vec<ArchivedEntry>> {
        let (filter, scope) = (filter.clone(), scope.map(<[String]>::to_vec));
        self.with_client(move |c| async move {
            let mut f = conditions(&filter, scope.as_deref())?;
            if let Some((ms, id)) = after {
                let (m, i) = (f.bind(ms), f.bind(id));
                f.clause(format!("(received_at_ms, id) < ({m}, {i})"));
            }
            let sql = format!("SELECT {COLUMNS} FROM archive_messages{}{ORDER} LIMIT {size}", f.sql());
            query(&c, &sql, &f.params()).await?.iter().map(decode).collect()
        })
    }

    fn archive_copies_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, bool)>> {
        self.with_client(move |c| async move {
            let sql = "SELECT m.id, b.id IS NOT NULL FROM archive_messages m LEFT JOIN archive_bodies b ON b.id = m.id
                WHERE m.id > $1 ORDER BY m.id LIMIT $2";
            let rows = query(&c, sql, &[&after, &i64::from(limit)]).await?;
            rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
        })
    }

    fn archive_next_account(&self, after: i64) -> Result<Option<i64>> {
        self.with_client(move |c| async move {
            let sql = "SELECT MIN(account_id) FROM archive_messages WHERE account_id > $1";
            col(&query_one(&c, sql, &[&after]).await?, 0)
        })
    }

    fn archive_count_before(&self, account_id: i64, before_ms: i64) -> Result<(u64, Option<String>)> {
        self.with_client(move |c| async move {
            let sql =
                "SELECT COUNT(*), MAX(account) FROM archive_messages WHERE account_id = $1 AND received_at_ms < $2";
            let row = query_one(&c, sql, &[&account_id, &before_ms]).await?;
            Ok((u64::try_from(col::<i64>(&row, 0)?).unwrap_or(0), col(&row, 1)?))
        })
    }

    fn archive_purge_batch(&self, account_id: i64, before_ms: i64, batch: u32) -> Result<ArchivePurged> {
        self.with_client(move |mut c| async move {
            let tx = c.transaction().await?;
            // Rows another node is purging right now are skipped, never waited for.
            let rows = query(
                &tx,
                "SELECT m.id, m.account, b.id IS NOT NULL FROM archive_messages m
                    LEFT JOIN archive_bodies b ON b.id = m.id
                    WHERE m.account_id = $1 AND m.received_at_ms < $2
                    ORDER BY m.received_at_ms, m.id LIMIT $3 FOR UPDATE OF m SKIP LOCKED",
                &[&account_id, &before_ms, &i64::from(batch)],
            )
            .await?;
            let mut purged = ArchivePurged::default();
            let mut ids = Vec::with_capacity(rows.len());
            for row in &rows {
                ids.push(col::<i64>(row, 0)?);
                purged.account = Some(col(row, 1)?);
                if col(row, 2)? {
                    purged.removed += 1;
                } else {
                    purged.missing += 1;
                }
            }
            // The copies go with their rows (ON DELETE CASCADE).
            execute(&tx, "DELETE FROM archive_messages WHERE id = ANY($1)", &[&ids]).await?;
            tx.commit().await?;
            Ok(purged)
        })
    }

    fn claim_archive_purge(&self, now_ms: i64, lease_ms: i64) -> Result<bool> {
        self.with_client(move |c| async move {
            let until = now_ms.saturating_add(lease_ms);
            let sql = "INSERT INTO archive_purge_lease (id, until_ms) VALUES (1, $2)
                ON CONFLICT (id) DO UPDATE SET until_ms = EXCLUDED.until_ms
                WHERE archive_purge_lease.until_ms <= $1 RETURNING id";
            Ok(query_opt(&c, sql, &[&now_ms, &until]).await?.is_some())
        })
    }
}
