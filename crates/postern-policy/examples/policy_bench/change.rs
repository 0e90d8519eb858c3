//! What one account changed through the admin API costs, once the directory is loaded.
//!
//! - [`on_this_node`] (either store): the node that made the change writes it
//!   (`update_account`), reads the row back (`account_record`) and swaps in a patched copy
//!   of the index, as the server's `directory::apply` does.
//! - [`through_the_feed`] (PostgreSQL): the cluster path of `convergence.rs`, with its
//!   parts: node A writes the change, and the store's trigger its entry in the change feed
//!   (in the same transaction, with `pg_notify`); node B (a task with a `ChangeListener` of its own, woken by the
//!   notification, or every second without one) reads the feed after its last row, reads
//!   the account and swaps in the patched index. Timed from A's write until B's swap.
//!   Both nodes live in this process and share the PostgreSQL server; B's index is the
//!   one the per-message benchmark used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_policy::Directory;
use postern_store::postgres::ChangeListener;
use postern_store::{AccountChange, ClusterChange, DirectoryChange, DirectoryStore, PgConfig, PgStore};

/// Median and maximum in milliseconds.
pub fn ms(times: &mut [Duration]) -> String {
    times.sort();
    let median = times[times.len() / 2].as_secs_f64() * 1e3;
    let max = times[times.len() - 1].as_secs_f64() * 1e3;
    format!("median {median:.2} ms, max {max:.2} ms")
}

/// The change made each time: the account's daily recipients, a new value every time.
fn settings_change(store: &dyn DirectoryStore, id: i64, k: usize) -> (AccountChange, u64) {
    let record = store.account_record(id).expect("read account").expect("account exists");
    let mut settings = record.account.settings;
    let value = 2_000_000 + k as u64;
    settings.limits.recipients_per_day = value;
    (AccountChange { settings: Some(settings), ..AccountChange::default() }, value)
}

fn recipients_per_day(directory: &Directory, id: i64) -> Option<u64> {
    directory.load().account(id).map(|e| e.account.settings.limits.recipients_per_day)
}

/// Reads one account and swaps in a patched index (the server's `apply` for an account).
fn apply(store: &dyn DirectoryStore, directory: &Directory, id: i64) {
    let _writing = directory.writing();
    let record = store.account_record(id).expect("read account");
    directory.replace(directory.load().with_account(id, record.map(|r| (r.account, r.password_hash))));
}

/// `rounds` changes to random accounts, each applied on the node that made it.
pub fn on_this_node(store: &dyn DirectoryStore, directory: &Directory, accounts: usize, rounds: usize) -> String {
    let (mut writes, mut applies, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..rounds {
        let id = (k * 7919 % accounts) as i64 + 1;
        let (change, value) = settings_change(store, id, k);
        let t = Instant::now();
        store.update_account(id, &change).expect("update account");
        writes.push(t.elapsed());
        let applied = Instant::now();
        apply(store, directory, id);
        applies.push(applied.elapsed());
        totals.push(t.elapsed());
        assert_eq!(recipients_per_day(directory, id), Some(value));
    }
    format!(
        "store write {} | read back + patched index {} | in force {}",
        ms(&mut writes),
        ms(&mut applies),
        ms(&mut totals)
    )
}

/// `rounds` changes made by node A and followed by node B through the change feed.
pub async fn through_the_feed(
    store: Arc<PgStore>,
    config: &PgConfig,
    directory: Arc<Directory>,
    accounts: usize,
    rounds: usize,
) -> String {
    let listener = ChangeListener::connect(config).await.expect("listen");
    let mut last = {
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || store.latest_change()).await.expect("task").expect("latest change")
    };
    let (applied_tx, mut applied_rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Duration)>();
    // Node B: the follower's loop, reduced to account changes.
    let follower = {
        let (store, directory) = (Arc::clone(&store), Arc::clone(&directory));
        tokio::spawn(async move {
            loop {
                let batch = listener.changes_after(last, 256).await.expect("read the feed");
                for row in batch.changes {
                    last = row.seq;
                    let ClusterChange::Directory(DirectoryChange::Account(id)) = row.change else { continue };
                    let (store, directory) = (Arc::clone(&store), Arc::clone(&directory));
                    let t = Instant::now();
                    tokio::task::spawn_blocking(move || apply(store.as_ref(), &directory, id)).await.expect("apply");
                    if applied_tx.send((id, t.elapsed())).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = listener.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    };
    let (mut writes, mut applies, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..rounds {
        let id = (k * 104_729 % accounts) as i64 + 1;
        let a = Arc::clone(&store);
        let (t, write, value) = tokio::task::spawn_blocking(move || {
            let (change, value) = settings_change(a.as_ref(), id, k);
            let t = Instant::now();
            // The store's trigger writes the feed's entry in the same transaction (a node
            // publishes it again after the commit; B would apply it twice, so not here).
            a.update_account(id, &change).expect("update account");
            let write = t.elapsed();
            (t, write, value)
        })
        .await
        .expect("node A");
        let (seen, apply_time) = tokio::time::timeout(Duration::from_secs(10), applied_rx.recv())
            .await
            .expect("node B applied the change within 10 s")
            .expect("node B runs");
        totals.push(t.elapsed());
        assert_eq!(seen, id);
        assert_eq!(recipients_per_day(&directory, id), Some(value));
        writes.push(write);
        applies.push(apply_time);
        // Changes one after another, not a burst.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    follower.abort();
    format!(
        "A: store write with its feed entry {} | B: read back + patched index {} | A's write to in force at B {}",
        ms(&mut writes),
        ms(&mut applies),
        ms(&mut totals)
    )
}
