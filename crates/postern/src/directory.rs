//! The SMTP policy's in-memory directory: loaded from the store at start-up and reloaded
//! whole after every change made through the admin API; and the store side of locks.

use std::sync::Arc;

use postern_core::BoxFuture;
use postern_core::tenancy::LockState;
use postern_policy::{Directory, DirectoryIndex, LockWriter};
use postern_store::{AccountChange, DirectoryStore};

/// Reads every domain, account and list rule and indexes them.
pub fn load(store: &dyn DirectoryStore) -> postern_store::Result<DirectoryIndex> {
    let snapshot = store.snapshot()?;
    let accounts = snapshot.accounts.into_iter().map(|r| (r.account, r.password_hash)).collect();
    let index = DirectoryIndex::build(snapshot.domains, accounts).with_rules(snapshot.rules);
    let (domains, accounts) = index.len();
    let rules = index.lists().len();
    tracing::info!(domains, accounts, rules, "directory loaded");
    Ok(index)
}

/// The admin API's `on_change`: reload now, so the next SMTP command sees the change.
/// On a failure the previous index stays (and the error is logged).
pub fn reloader(store: Arc<dyn DirectoryStore>, directory: Arc<Directory>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        let reload = || match load(store.as_ref()) {
            Ok(index) => directory.replace(index),
            Err(e) => tracing::error!(error = %e, "directory reload failed; the previous version stays in use"),
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
                let change = AccountChange { lock: Some(lock), ..AccountChange::default() };
                store.update_account(account_id, &change)?;
                directory.replace(load(store.as_ref())?);
                Ok(())
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
            blocking(move || {
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
                Ok(())
            })
            .await
        })
    }

    fn identity_lock(&self, account_id: i64, identity: String) -> BoxFuture<'_, Result<Option<LockState>, String>> {
        Box::pin(async move {
            let store = Arc::clone(&self.store);
            blocking(move || Ok(store.identity_by_name(account_id, &identity)?.map(|i| i.lock))).await
        })
    }
}
