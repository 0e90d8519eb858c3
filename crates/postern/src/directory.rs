//! The SMTP policy's in-memory directory: loaded from the store at start-up; after a change
//! made through the admin API, only what changed is read again and applied to a patched
//! copy of the index ([`apply`]; a cluster node also applies its peers' changes so,
//! `convergence.rs`); and the store side of locks. Whoever writes lock states
//! or changes the directory holds [`Directory::writing`], so a change never puts back a
//! lock state read before a concurrent automatic lock was stored.

use std::sync::Arc;
use std::time::Instant;

use postern_core::BoxFuture;
use postern_core::tenancy::LockState;
use postern_policy::{Directory, DirectoryIndex, LockWriter};
use postern_store::{AccountChange, ClusterChange, DirectoryChange, DirectoryStore};

use crate::convergence::Publisher;

/// Reads every domain, account, list rule, inbound relay domain and kept identity lock
/// state into `directory`.
/// The caller holds `directory.writing()`.
fn load(store: &dyn DirectoryStore, directory: &Directory) -> postern_store::Result<()> {
    let snapshot = store.snapshot()?;
    let accounts = snapshot.accounts.into_iter().map(|r| (r.account, r.password_hash)).collect();
    let index = DirectoryIndex::build(snapshot.domains, accounts)
        .with_rules(snapshot.rules)
        .with_inbound_domains(snapshot.inbound_domains);
    let (domains, accounts) = index.len();
    let rules = index.lists().len();
    let inbound_domains = index.inbound_domains_len();
    directory.replace(index);
    directory.replace_identity_locks(snapshot.identity_locks.into_iter().map(|l| (l.account_id, l.name, l.lock)));
    let identity_locks = directory.identity_locks_len();
    tracing::info!(domains, accounts, rules, inbound_domains, identity_locks, "directory loaded");
    Ok(())
}

/// The directory as the store has it now (start-up).
pub fn open(store: &dyn DirectoryStore) -> postern_store::Result<Directory> {
    let directory = Directory::default();
    load(store, &directory)?;
    Ok(directory)
}

/// Applies one change: reads just that from the store. The caller holds
/// `directory.writing()`.
fn apply_locked(
    store: &dyn DirectoryStore,
    directory: &Directory,
    change: &DirectoryChange,
) -> postern_store::Result<()> {
    match change {
        DirectoryChange::Account(id) => {
            let record = store.account_record(*id)?;
            if record.is_none() {
                directory.forget_identity_locks(*id);
            }
            directory.replace(directory.load().with_account(*id, record.map(|r| (r.account, r.password_hash))));
        }
        DirectoryChange::Domain(name) => match store.domain(name)? {
            Some(domain) => directory.replace(directory.load().with_domain(name, Some(domain))),
            // Deleted with its accounts, identities and rules.
            None => load(store, directory)?,
        },
        DirectoryChange::Rules => {
            let index = directory.load().as_ref().clone().with_rules(store.all_rules()?);
            directory.replace(index);
        }
        DirectoryChange::InboundDomains => {
            let index = directory.load().as_ref().clone().with_inbound_domains(store.all_inbound_domains()?);
            directory.replace(index);
        }
        DirectoryChange::Identity { account_id, name } => {
            let lock = store.identity_by_name(*account_id, name)?.map(|i| i.lock).unwrap_or_default();
            directory.set_identity_lock(*account_id, name, lock);
        }
        DirectoryChange::Everything => load(store, directory)?,
    }
    Ok(())
}

/// Applies `change` now, so the next SMTP command sees it. When reading the change fails,
/// everything is read again; when that fails too, the previous version stays and the
/// caller hears of it (a cluster node's follower reads the change again later).
pub fn apply(store: &dyn DirectoryStore, directory: &Directory, change: &DirectoryChange) -> postern_store::Result<()> {
    let _writing = directory.writing();
    let started = Instant::now();
    match apply_locked(store, directory, change) {
        Ok(()) => {
            tracing::debug!(?change, ms = started.elapsed().as_millis() as u64, "directory change applied");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, ?change, "directory change failed; reading everything again");
            load(store, directory)
        }
    }
}

/// Lock states written to the store, then the SMTP policy's index reloaded, so the next
/// command sees the lock (the policy's `LockWriter`), then published to the cluster's
/// other nodes (nothing on one node).
pub struct StoreLocks {
    store: Arc<dyn DirectoryStore>,
    directory: Arc<Directory>,
    publisher: Publisher,
}

impl StoreLocks {
    pub fn new(store: Arc<dyn DirectoryStore>, directory: Arc<Directory>, publisher: Publisher) -> StoreLocks {
        StoreLocks { store, directory, publisher }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> postern_store::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("store task failed: {e}")),
    }
}

impl LockWriter for StoreLocks {
    fn set_account_lock(&self, account_id: i64, lock: LockState) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let store = Arc::clone(&self.store);
            let directory = Arc::clone(&self.directory);
            let publisher = self.publisher.clone();
            blocking(move || {
                let change = DirectoryChange::Account(account_id);
                let applied = {
                    let _writing = directory.writing();
                    store
                        .update_account(account_id, &AccountChange { lock: Some(lock), ..AccountChange::default() })?;
                    apply_locked(store.as_ref(), &directory, &change)
                };
                // Stored: the other nodes must hear of it, whatever this node's reload did.
                publisher.publish(ClusterChange::Directory(change));
                applied
            })
            .await
        })
    }

    fn set_identity_lock(
        &self,
        account_id: i64,
        identity: String,
        lock: LockState,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let store = Arc::clone(&self.store);
            let directory = Arc::clone(&self.directory);
            let publisher = self.publisher.clone();
            blocking(move || {
                let writing = directory.writing();
                let found = match store.identity_by_name(account_id, &identity)? {
                    Some(found) => found,
                    None => match store.create_identity(account_id, &identity) {
                        Ok(created) => created,
                        // Registered meanwhile by the event writer.
                        Err(postern_store::StoreError::Conflict(_)) => {
                            match store.identity_by_name(account_id, &identity)? {
                                Some(found) => found,
                                None => return Err(postern_store::StoreError::NotFound(identity)),
                            }
                        }
                        Err(e) => return Err(e),
                    },
                };
                store.update_identity_lock(found.id, &lock)?;
                directory.set_identity_lock(account_id, &identity, lock);
                drop(writing);
                publisher.publish(ClusterChange::Directory(DirectoryChange::Identity { account_id, name: identity }));
                Ok(())
            })
            .await
        })
    }

    /// From memory: the directory keeps every identity lock state worth keeping.
    fn identity_lock(&self, account_id: i64, identity: &str) -> Option<LockState> {
        self.directory.identity_lock(account_id, identity)
    }
}
