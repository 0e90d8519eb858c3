//! The cluster's change feed against the machine's PostgreSQL (127.0.0.1:5432, database
//! `test`; `POSTERN_TEST_POSTGRES` may name another), each test in a schema of its own,
//! dropped at the end: a notification wakes another node's listener at once, a listener
//! that was away reads what it missed from its last row, pruning past a reader tells it
//! so, and rows published by racing nodes are never skipped by a reader.

use std::time::{Duration, Instant};

use postern_store::postgres::ChangeListener;
use postern_store::postgres::testing::{TestSchemas, url};
use postern_store::{ClusterChange, DirectoryChange, PgConfig, PgStore};

/// The test's schema (`feed_…`), dropped when it ends (passed or not).
struct Schema {
    schemas: TestSchemas,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Schema {
        let schemas = TestSchemas::new("feed", test);
        let name = schemas.next();
        Schema { schemas, name }
    }

    fn config(&self) -> PgConfig {
        self.schemas.config(&self.name, 2)
    }

    /// A node's store (the first one creates the schema and its tables).
    fn node(&self) -> PgStore {
        PgStore::open(&self.config()).unwrap_or_else(|e| panic!("PostgreSQL at {:?} (these tests need it): {e}", url()))
    }
}

fn account(id: i64) -> ClusterChange {
    ClusterChange::Directory(DirectoryChange::Account(id))
}

/// Publishes from a blocking thread (the store's calls block).
async fn publish(store: &std::sync::Arc<PgStore>, change: ClusterChange) -> i64 {
    let store = std::sync::Arc::clone(store);
    tokio::task::spawn_blocking(move || store.publish_change("node-a", &change)).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_change_wakes_another_nodes_listener_at_once() {
    let schema = Schema::new("wake");
    let a = std::sync::Arc::new(schema.node());
    let b = ChangeListener::connect(&schema.config()).await.unwrap();
    assert_eq!(b.changes_after(0, 10).await.unwrap().changes, [], "an empty feed");

    let mut latencies = Vec::new();
    let mut last = 0;
    for id in 1..=20 {
        let started = Instant::now();
        let seq = publish(&a, account(id)).await;
        tokio::time::timeout(Duration::from_secs(1), b.notified()).await.expect("woken within 1 s");
        let batch = b.changes_after(last, 10).await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(batch.changes.len(), 1);
        let row = &batch.changes[0];
        assert_eq!((row.seq, &row.change, row.node.as_str()), (seq, &account(id), "node-a"));
        last = seq;
    }
    latencies.sort();
    eprintln!("publish -> woken -> read: median {:?}, max {:?}", latencies[10], latencies[19]);
    assert!(latencies[19] < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_was_away_reads_what_it_missed_from_its_last_row() {
    let schema = Schema::new("away");
    let a = std::sync::Arc::new(schema.node());
    let b = ChangeListener::connect(&schema.config()).await.unwrap();
    let first = publish(&a, account(1)).await;
    let batch = b.changes_after(0, 10).await.unwrap();
    assert_eq!(batch.changes.iter().map(|r| r.seq).collect::<Vec<_>>(), [first]);
    drop(b);

    // Published while it was away: nobody heard the notifications.
    let mut missed = Vec::new();
    for change in [account(2), ClusterChange::DkimKeys, ClusterChange::Directory(DirectoryChange::Rules)] {
        missed.push((publish(&a, change.clone()).await, change));
    }
    let b = ChangeListener::connect(&schema.config()).await.unwrap();
    let batch = b.changes_after(first, 10).await.unwrap();
    assert!(!batch.missed);
    assert_eq!(batch.changes.into_iter().map(|r| (r.seq, r.change)).collect::<Vec<_>>(), missed);
    assert_eq!(a.latest_change().unwrap(), missed[2].0);
    // And in batches of a given size, in order.
    let two = b.changes_after(first, 2).await.unwrap();
    assert_eq!(two.changes.iter().map(|r| r.seq).collect::<Vec<_>>(), [missed[0].0, missed[1].0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_past_a_reader_tells_it_to_read_everything() {
    let schema = Schema::new("prune");
    let a = std::sync::Arc::new(schema.node());
    let mut b = ChangeListener::connect(&schema.config()).await.unwrap();
    for id in 1..=5 {
        publish(&a, account(id)).await;
    }
    let latest = a.latest_change().unwrap();
    // Keep the newest two only.
    assert_eq!(b.prune(0, 2).await.unwrap(), 3);
    let batch = b.changes_after(1, 10).await.unwrap();
    assert!(batch.missed, "rows after 1 were pruned unread");
    assert_eq!((batch.latest, batch.changes.len()), (latest, 0));
    let batch = b.changes_after(latest - 2, 10).await.unwrap();
    assert!(!batch.missed, "nothing this reader needs was pruned");
    assert_eq!(batch.changes.len(), 2);
    // Everything older than now: the feed is empty, and its last row is still known.
    assert_eq!(b.prune(i64::MAX, 100).await.unwrap(), 2);
    assert_eq!(a.latest_change().unwrap(), latest, "a node starting now starts after the pruned rows");
    assert_eq!(b.changes_after(latest, 10).await.unwrap().changes, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_racing_nodes_are_never_skipped_by_a_reader() {
    let schema = Schema::new("race");
    let nodes: Vec<std::sync::Arc<PgStore>> = (0..3).map(|_| std::sync::Arc::new(schema.node())).collect();
    let reader = ChangeListener::connect(&schema.config()).await.unwrap();
    let writers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, store)| {
            let store = std::sync::Arc::clone(store);
            std::thread::spawn(move || {
                for i in 0..40 {
                    store.publish_change(&format!("node-{n}"), &account(n as i64 * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    // Reads while they write, always after the last row it saw, as a follower does.
    let (mut last, mut seen) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 120 && Instant::now() < deadline {
        for row in reader.changes_after(last, 7).await.unwrap().changes {
            last = row.seq;
            seen.push(row.change);
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    seen.sort_by_key(|c| match c {
        ClusterChange::Directory(DirectoryChange::Account(id)) => *id,
        _ => -1,
    });
    let all: Vec<ClusterChange> = (0..3).flat_map(|n| (0..40).map(move |i| account(n * 1000 + i))).collect();
    assert_eq!(seen, all, "every row read once");
}

/// Every directory write records its change in the feed in its own transaction (the
/// triggers of migration 10), so that no stored change can miss the other nodes: not even
/// when the node that made it stops between its commit and its own publish. Identity
/// sightings add nothing; accounts and identities deleted with their domain add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_directory_write_is_in_the_feed_from_its_own_transaction() {
    use postern_core::tenancy::{AccountKind, AccountSettings, IdentitySighting, LockState, SenderSecurity};
    use postern_store::{DirectoryStore, NewAccount, NewDomain};

    let schema = Schema::new("triggers");
    let store = std::sync::Arc::new(schema.node());
    let listener = ChangeListener::connect(&schema.config()).await.unwrap();
    let writes = {
        let store = std::sync::Arc::clone(&store);
        tokio::task::spawn_blocking(move || {
            let domain = NewDomain {
                name: "example.com".into(),
                filter_enabled: true,
                sender_security: SenderSecurity::default(),
                abuse_contact: None,
            };
            store.create_domain(&domain).unwrap();
            let account = store
                .create_account(&NewAccount {
                    domain: "example.com".into(),
                    kind: AccountKind::User,
                    name: "a@example.com".into(),
                    password_hash: None,
                    settings: AccountSettings::for_kind(AccountKind::User),
                })
                .unwrap();
            let sighting = IdentitySighting { account_id: account.id, name: "news@example.com".into(), at_ms: 1 };
            store.record_identities(std::slice::from_ref(&sighting)).unwrap();
            store.record_identities(&[sighting]).unwrap();
            let identity = store.identity_by_name(account.id, "news@example.com").unwrap().unwrap();
            let locked = LockState { locked: true, ..LockState::default() };
            store.update_identity_lock(identity.id, &locked).unwrap();
            store.update_identity_lock(identity.id, &locked).unwrap();
            assert!(store.delete_domain("example.com").unwrap());
            account.id
        })
        .await
        .unwrap()
    };
    let batch = listener.changes_after(0, 100).await.unwrap();
    let changes: Vec<ClusterChange> = batch.changes.into_iter().map(|row| row.change).collect();
    let domain = ClusterChange::Directory(DirectoryChange::Domain("example.com".into()));
    let identity =
        ClusterChange::Directory(DirectoryChange::Identity { account_id: writes, name: "news@example.com".into() });
    let rules = ClusterChange::Directory(DirectoryChange::Rules);
    assert_eq!(
        changes,
        [domain.clone(), account(writes), identity, domain, rules, ClusterChange::DkimKeys],
        "created domain, created account, one lock change (the same lock again and the sightings add nothing), \
         deleted domain (its account and identity add nothing; its rules and keys, by statement, are noted)"
    );
}
