//! The SMTP policy's in-memory directory: loaded from the store at start-up and reloaded
//! whole after every change made through the admin API; and the store side of locks.
//! Whoever writes lock states or reloads holds [`Directory::writing`], so a reload never
//! puts back a lock state read before a concurrent automatic lock was stored.

use std::sync::Arc;

use postern_core::BoxFuture;
use postern_core::tenancy::LockState;
use postern_policy::{Directory, DirectoryIndex, LockWriter};
use postern_store::{AccountChange, DirectoryStore};

/// Reads every domain, account, list rule and kept identity lock state into `directory`.
/// The caller holds `directory.writing()`.
fn load(store: &dyn DirectoryStore, directory: &Directory) -> postern_store::Result<()> {
    let snapshot = store.snapshot()?;
    let accounts = snapshot.accounts.into_iter().map(|r| (r.account, r.password_hash)).collect();
    let index = DirectoryIndex::build(snapshot.domains, accounts).with_rules(snapshot.rules);
    let (domains, accounts) = index.len();
    let rules = index.lists().len();
    directory.replace(index);
    directory.replace_identity_locks(snapshot.identity_locks.into_iter().map(|l| (l.account_id, l.name, l.lock)));
    let identity_locks = directory.identity_locks_len();
    tracing::info!(domains, accounts, rules, identity_locks, "directory loaded");
    Ok(())
}

/// The directory as the store has it now (start-up).
pub fn open(store: &dyn DirectoryStore) -> postern_store::Result<Directory> {
    let directory = Directory::default();
    load(store, &directory)?;
    Ok(directory)
}

/// The admin API's `on_change`: reload now, so the next SMTP command sees the change.
/// On a failure the previous version stays (and the error is logged).
pub fn reloader(store: Arc<dyn DirectoryStore>, directory: Arc<Directory>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        let reload = || {
            let _writing = directory.writing();
            if let Err(e) = load(store.as_ref(), &directory) {
                tracing::error!(error = %e, "directory reload failed; the previous version stays in use");
            }
        };
        // The API calls this from async code: tell the runtime that this thread blocks.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(reload),
            _ => reload(),
        }
    })
}

/// Lock states written to the store, then the SMTP policy's index reloaded, so the next
/// command sees the lock (the policy's `LockWriter`).
pub struct StoreLocks {
    store: Arc<dyn DirectoryStore>,
    directory: Arc<Directory>,
}

impl StoreLocks {
    pub fn new(store: Arc<dyn DirectoryStore>, directory: Arc<Directory>) -> StoreLocks {
        StoreLocks { store, directory }
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
            blocking(move || {
                let _writing = directory.writing();
                let change = AccountChange { lock: Some(lock), ..AccountChange::default() };
                store.update_account(account_id, &change)?;
                load(store.as_ref(), &directory)
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
            blocking(move || {
                let _writing = directory.writing();
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
