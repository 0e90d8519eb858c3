//! DKIM keys per domain: what the DKIM operations need ([`DkimAdmin`]).

use std::sync::Arc;

use postern_dkim::{MasterKey, TxtLookup};
use postern_store::DkimStore;

use crate::{OpError, blocking};

/// What the DKIM operations need: the keys, the master key that seals new ones, the
/// resolver that checks DNS, and the hook that reloads the signer.
#[derive(Clone)]
pub struct DkimAdmin {
    pub store: Arc<dyn DkimStore>,
    pub master_key: Arc<MasterKey>,
    pub dns: Arc<dyn TxtLookup>,
    /// Called after the set of active keys changed (rotation, removal), on a blocking
    /// thread, before the answer is sent: the signer uses the change from then on.
    pub on_change: Arc<dyn Fn() + Send + Sync>,
}

impl DkimAdmin {
    /// Runs a blocking store call off the async threads.
    pub async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn DkimStore) -> postern_store::Result<T> + Send + 'static,
    ) -> Result<T, OpError> {
        let store = Arc::clone(&self.store);
        blocking(move || f(store.as_ref())).await?.map_err(OpError::from)
    }

    /// Tells the signer, off the async threads, and waits for it.
    pub async fn changed(&self) {
        let on_change = Arc::clone(&self.on_change);
        if let Err(e) = tokio::task::spawn_blocking(move || on_change()).await {
            tracing::error!(error = %e, "DKIM key reload failed");
        }
    }
}
