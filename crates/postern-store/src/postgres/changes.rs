//! The cluster's change feed: how a change made on one node reaches the in-memory
//! directory and DKIM signer of every other node without anyone reading everything again.
//!
//! In: [`ClusterChange`]s a node publishes ([`PgStore::publish_change`]). Out: the same
//! changes, in order, to every node's [`ChangeListener`].
//!
//! - `directory_changes` holds one row per change: `seq` (the order), the change as JSON,
//!   the node that made it (`store` for the triggers), when. Publishing inserts the row
//!   and `pg_notify`s the schema's channel (`postern_changes_` and the schema name's MD5:
//!   one channel per schema, within the 63 bytes a channel name may have) in one
//!   transaction. The directory's tables have triggers (migration 10) that do the same in
//!   the transaction that writes them, so that a stored change is never without its row;
//!   a node's own [`PgStore::publish_change`] after its commit is then a second notice of
//!   the same change (applying is idempotent).
//! - Publishing takes a table lock that only publishers and pruning take (readers pass)
//!   before its `seq` is drawn, so rows commit in `seq` order: a reader that sees `seq` n
//!   sees every row before it, and "everything after the last `seq` I applied" never skips
//!   a row that committed late.
//! - A listener has a connection of its own that `LISTEN`s; a notification only wakes it:
//!   what to apply it always reads from the table ([`ChangeListener::changes_after`]), so
//!   a notification that was lost (a dropped connection, a node that was away) costs
//!   nothing but the time until its next read.
//! - Pruning ([`ChangeListener::prune`]) deletes old rows and records the highest `seq`
//!   deleted; a reader whose last `seq` is below it missed changes it can no longer read,
//!   and is told so ([`ChangeBatch::missed`]): it reads everything again.
//!
//! Defends against: a server that goes away (every error is the store's
//! [`Unavailable`](crate::BackendErrorKind::Unavailable) or `Failed`; the caller bounds each
//! call in time and reconnects), rows it cannot read ([`ClusterChange::from_text`] makes
//! them "everything"), and an unbounded read (`limit`).

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

use super::tls::Tls;
use super::{PgConfig, PgStore, connection_parts, execute, get, query_one};
use crate::{ClusterChange, Result};

/// The schema's notification channel, as SQL.
const CHANNEL: &str = "'postern_changes_' || md5(current_schema())";

/// Taken by publishers and pruning, in their transaction, before anything else.
const LOCK: &str = "LOCK TABLE directory_changes IN SHARE ROW EXCLUSIVE MODE";

/// One row of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedChange {
    pub seq: i64,
    pub change: ClusterChange,
    /// The node that published it.
    pub node: String,
    pub at_ms: i64,
}

/// What [`ChangeListener::changes_after`] read, in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    /// Rows after the asked `seq` were pruned before this reader read them: read everything
    /// again, then go on after [`ChangeBatch::latest`] (`changes` is empty then).
    pub missed: bool,
    /// The highest `seq` ever published (pruned rows included).
    pub latest: i64,
    /// The rows after the asked `seq`, in order, at most the asked number.
    pub changes: Vec<PublishedChange>,
}

impl PgStore {
    /// Records `change`, made by `node`, for every node's listener, and wakes them.
    pub fn publish_change(&self, node: &str, change: &ClusterChange) -> Result<i64> {
        let (node, text) = (node.to_owned(), change.to_text());
        self.with_client(move |mut client| async move {
            let tx = client.transaction().await?;
            tx.batch_execute(LOCK).await?;
            let row = query_one(
                &tx,
                "INSERT INTO directory_changes (change, node, at_ms) VALUES ($1, $2, $3) RETURNING seq",
                &[&text, &node, &postern_core::event::now_ms()],
            )
            .await?;
            let seq: i64 = get(&row, 0)?;
            // Delivered at the commit, to every connection listening on the channel.
            execute(&tx, &format!("SELECT pg_notify({CHANNEL}, $1)"), &[&seq.to_string()]).await?;
            tx.commit().await?;
            Ok(seq)
        })
    }

    /// The highest `seq` ever published (0: none). A node reads it before it loads its
    /// snapshot and listens from there: what is published meanwhile is applied again,
    /// which changes nothing.
    pub fn latest_change(&self) -> Result<i64> {
        self.with_client(|client| async move {
            let row = query_one(&client, LATEST, &[]).await?;
            get(&row, 0)
        })
    }
}

const LATEST: &str = "SELECT GREATEST(
        (SELECT COALESCE(MAX(seq), 0) FROM directory_changes),
        (SELECT up_to FROM directory_changes_pruned))::BIGINT";

/// A connection of its own that `LISTEN`s to the schema's channel, and reads the feed.
pub struct ChangeListener {
    client: tokio_postgres::Client,
    /// A permit for each notification (and for the connection's end): waiting returns at
    /// once when one came meanwhile.
    woken: Arc<Notify>,
    /// Drives the connection and turns notifications into permits.
    driver: tokio::task::JoinHandle<()>,
}

/// Drives the listener's connection, turning notifications into permits.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, wake: Arc<Notify>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "the change listener's connection ended");
                break;
            }
            None => break,
        }
    }
    // The next wait returns at once; the next read fails and the caller reconnects.
    wake.notify_one();
}

impl ChangeListener {
    /// Connects (within the store's connect timeout) and listens. Runs its connection on
    /// the caller's runtime.
    pub async fn connect(config: &PgConfig) -> Result<ChangeListener> {
        let (pg, tls) = connection_parts(config)?;
        let woken = Arc::new(Notify::new());
        let wake = Arc::clone(&woken);
        let (client, driver) = match tls {
            Tls::Off => {
                let (client, connection) = pg.connect(NoTls).await?;
                (client, tokio::spawn(drive(connection, wake)))
            }
            Tls::Verified(tls) => {
                let (client, connection) = pg.connect(tls).await?;
                (client, tokio::spawn(drive(connection, wake)))
            }
        };
        let listener = ChangeListener { client, woken, driver };
        let row = listener.client.query_one(&format!("SELECT {CHANNEL}"), &[]).await?;
        let channel: String = get(&row, 0)?;
        // `postern_changes_` and hex digits: a plain identifier.
        listener.client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(listener)
    }

    /// Waits for a notification (one that came since the last wait counts), or for the
    /// connection's end. Callers bound it with a timeout: the feed is read on a timer too.
    pub async fn notified(&self) {
        self.woken.notified().await;
    }

    /// Whether the connection is gone (reconnect).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The rows after `seq`, at most `limit`, and whether some were pruned unread, in one
    /// statement (one snapshot: a prune cannot slip between the two).
    pub async fn changes_after(&self, seq: i64, limit: i64) -> Result<ChangeBatch> {
        let sql = format!(
            "SELECT p.up_to, ({LATEST}), c.seq, c.change, c.node, c.at_ms
             FROM directory_changes_pruned p
             LEFT JOIN LATERAL (
                 SELECT seq, change, node, at_ms FROM directory_changes
                 WHERE seq > $1 ORDER BY seq LIMIT $2
             ) c ON TRUE
             ORDER BY c.seq"
        );
        let rows = self.client.query(&sql, &[&seq, &limit.max(1)]).await?;
        let mut batch = ChangeBatch { missed: false, latest: seq, changes: Vec::with_capacity(rows.len()) };
        for row in &rows {
            let pruned_up_to: i64 = get(row, 0)?;
            batch.latest = get(row, 1)?;
            if pruned_up_to > seq {
                batch.missed = true;
                batch.changes.clear();
                return Ok(batch);
            }
            let Some(seq) = get::<Option<i64>>(row, 2)? else { continue };
            let text: String = get(row, 3)?;
            batch.changes.push(PublishedChange {
                seq,
                change: ClusterChange::from_text(&text),
                node: get(row, 4)?,
                at_ms: get(row, 5)?,
            });
        }
        Ok(batch)
    }

    /// Deletes the rows older than `before_ms`, and those more than `keep` behind the
    /// newest; remembers the highest `seq` deleted. Returns how many went.
    pub async fn prune(&mut self, before_ms: i64, keep: i64) -> Result<i64> {
        let tx = self.client.transaction().await?;
        tx.batch_execute(LOCK).await?;
        let row = tx
            .query_one(
                "WITH gone AS (
                     DELETE FROM directory_changes
                     WHERE at_ms < $1 OR seq <= (SELECT MAX(seq) FROM directory_changes) - $2
                     RETURNING seq
                 ), noted AS (
                     UPDATE directory_changes_pruned
                     SET up_to = GREATEST(up_to, (SELECT COALESCE(MAX(seq), 0) FROM gone))
                     RETURNING up_to
                 )
                 SELECT (SELECT COUNT(*) FROM gone)::BIGINT, (SELECT COUNT(*) FROM noted)::BIGINT",
                &[&before_ms, &keep.max(1)],
            )
            .await?;
        let gone: i64 = get(&row, 0)?;
        tx.commit().await?;
        Ok(gone)
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
