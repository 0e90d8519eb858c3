//! Two nodes on the machine's PostgreSQL (127.0.0.1:5432, database `test`;
//! `POSTERN_TEST_POSTGRES` may name another), in a schema of the test's own, dropped at the
//! end: what node A stores and publishes is in node B's in-memory directory within a
//! second, through B's follower, and B is current (its readiness says so).

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::tenancy::{AccountKind, AccountSettings, SenderSecurity};
use postern_policy::Readiness;
use postern_store::postgres::testing::{TestSchemas, url};
use postern_store::{ClusterChange, DirectoryChange, DirectoryStore, NewAccount, NewDomain, PgStore};
use tokio_util::sync::CancellationToken;

use super::{Follower, Publisher, STALE_AFTER, applier};

/// Polls `done` every 5 ms for at most `limit`; how long it took.
async fn within(limit: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stored_and_published_on_one_node_is_applied_by_another_within_a_second() {
    // The test's schema, dropped when it ends (passed or not).
    let schemas = TestSchemas::new("conv", "follow");
    let config = schemas.config(&schemas.next(), 2);
    let open =
        || PgStore::open(&config).unwrap_or_else(|e| panic!("PostgreSQL at {:?} (this test needs it): {e}", url()));
    let a = Arc::new(open());
    let b = Arc::new(open());

    // Node B starts as serve does: the feed's last row, then its snapshot, then follows.
    let start = b.latest_change().unwrap();
    let b_store: Arc<dyn DirectoryStore> = b.clone();
    let directory = Arc::new(crate::directory::open(b_store.as_ref()).unwrap());
    let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&reloads);
    let reload_dkim = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    let readiness = Readiness::following(STALE_AFTER);
    let shutdown = CancellationToken::new();
    let follower = Follower {
        config: config.clone(),
        apply: applier(b_store, Arc::clone(&directory), reload_dkim),
        publisher: Publisher::none(),
        readiness: readiness.clone(),
    };
    let following = tokio::spawn(follower.run(start, shutdown.clone()));

    // Node A stores, then publishes (as its admin API's on_change does).
    let publisher = Publisher::new(Arc::clone(&a), "node-a".into());
    let (store, publish) = (Arc::clone(&a), publisher.clone());
    let started = Instant::now();
    let account_id = tokio::task::spawn_blocking(move || {
        let domain = NewDomain {
            name: "example.com".into(),
            filter_enabled: true,
            sender_security: SenderSecurity::default(),
            abuse_contact: None,
        };
        store.create_domain(&domain).unwrap();
        publish.publish(ClusterChange::Directory(DirectoryChange::Domain("example.com".into())));
        let account = store
            .create_account(&NewAccount {
                domain: "example.com".into(),
                kind: AccountKind::Ip,
                name: "192.0.2.7/32".into(),
                password_hash: None,
                settings: AccountSettings::for_kind(AccountKind::Ip),
            })
            .unwrap();
        publish.publish(ClusterChange::Directory(DirectoryChange::Account(account.id)));
        account.id
    })
    .await
    .unwrap();
    let stored = started.elapsed();
    let applied = within(Duration::from_secs(1), || directory.load().account(account_id).is_some()).await;
    let applied = applied.expect("node B applied the account within 1 s");
    eprintln!("stored and published on A in {stored:?}; in B's directory {applied:?} later");
    assert!(directory.load().domain("example.com").is_some());
    assert!(reloads.load(std::sync::atomic::Ordering::Relaxed) >= 1, "a domain change reloads B's DKIM keys");

    // A DKIM change reaches B's signer's reload; B stays current all along.
    let before = reloads.load(std::sync::atomic::Ordering::Relaxed);
    let publish = publisher.clone();
    tokio::task::spawn_blocking(move || publish.publish(ClusterChange::DkimKeys)).await.unwrap();
    let reloaded = within(Duration::from_secs(1), || reloads.load(std::sync::atomic::Ordering::Relaxed) > before);
    assert!(reloaded.await.is_some(), "B reloaded its DKIM keys within 1 s");
    assert_eq!(readiness.status(), Ok(()));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), following).await.expect("the follower stops").unwrap();
}
