//! DKIM wiring: the master key of the data directory, the signer's key ring loaded from
//! the store (sealed keys opened here, nowhere else), and its reload after API changes.
//!
//! In: the data directory and the store. Out: a [`Signer`] for the SMTP sessions and the
//! admin API's [`DkimAdmin`]. A key that does not open (sealed under another master key,
//! damaged) is left out with an error in the log: that domain's mail goes unsigned (its
//! `dkim` events say "no active DKIM key") instead of the server refusing to start.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use postern_admin::DkimAdmin;
use postern_dkim::{HickoryTxt, KeyIdentity, KeyPair, KeyRing, MasterKey, Signer, SigningKey};
use postern_store::{DkimStore, SealedDkimKey};

/// `<data_dir>/dkim.key`, created (mode 0600) on first start.
pub fn master_key(data_dir: &Path) -> Result<Arc<MasterKey>> {
    let path = data_dir.join("dkim.key");
    let (key, created) = MasterKey::load_or_create(&path).context("DKIM master key")?;
    if created {
        tracing::info!(path = %path.display(), id = key.id(), "DKIM master key created: back it up with the database");
    }
    Ok(Arc::new(key))
}

/// The active keys of every domain, opened and loaded.
pub fn load(store: &dyn DkimStore, master: &MasterKey) -> postern_store::Result<KeyRing> {
    let sealed = store.active_dkim_keys()?;
    let total = sealed.len();
    let ring = KeyRing::new(sealed.into_iter().filter_map(|s| open(&s, master)));
    tracing::info!(keys = ring.len(), unusable = total - ring.len(), "DKIM keys loaded");
    Ok(ring)
}

fn open(sealed: &SealedDkimKey, master: &MasterKey) -> Option<SigningKey> {
    let key = &sealed.key;
    let identity = KeyIdentity { domain: &key.domain, selector: &key.selector, algorithm: key.algorithm };
    let opened = if sealed.master_key_id != master.id() {
        Err(format!("sealed under master key {}, this server has {}", sealed.master_key_id, master.id()))
    } else {
        master
            .open(&sealed.sealed_private_key, identity)
            .and_then(|pkcs8| KeyPair::from_pkcs8(key.algorithm, &pkcs8))
            .and_then(|pair| SigningKey::new(&key.domain, &key.selector, &pair))
            .map_err(|e| e.to_string())
    };
    match opened {
        Ok(signing) => Some(signing),
        Err(error) => {
            tracing::error!(
                domain = key.domain.as_str(),
                selector = key.selector.as_str(),
                error = error.as_str(),
                "DKIM key unusable; not signing with it"
            );
            None
        }
    }
}

/// After a rotation or removal (here or, in a cluster, on another node): reload the key
/// ring. On a failure the previous ring stays (logged), and the caller hears of it.
pub fn reloader(
    store: Arc<dyn DkimStore>,
    master: Arc<MasterKey>,
    signer: Arc<Signer>,
) -> Arc<dyn Fn() -> postern_store::Result<()> + Send + Sync> {
    Arc::new(move || match load(store.as_ref(), &master) {
        Ok(ring) => {
            signer.replace(ring);
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "DKIM key reload failed; the previous keys stay in use");
            Err(e)
        }
    })
}

/// The admin API's DKIM part: the store, the master key, the resolver of
/// `delivery.dns_servers` for checks, and the signer's reload.
pub fn admin(
    store: Arc<dyn DkimStore>,
    master: Arc<MasterKey>,
    on_change: Arc<dyn Fn() + Send + Sync>,
    dns_servers: &[std::net::SocketAddr],
) -> Result<DkimAdmin> {
    let dns = postern_policy::dns::uncached_resolver(dns_servers, Duration::from_secs(5))
        .context("DNS resolver for DKIM checks")?;
    let dns = HickoryTxt::new(dns);
    Ok(DkimAdmin { store, master_key: master, dns: Arc::new(dns), on_change })
}
