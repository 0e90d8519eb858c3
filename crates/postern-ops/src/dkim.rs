//! DKIM keys per domain (SPEC.md §6): what the DKIM operations need ([`DkimAdmin`]), and
//! list, generate or import, show and remove keys. DNS records, checks and rotation are
//! in [`crate::dkim_dns`].
//!
//! A domain admin manages its own domains' keys; another tenant's domain is "no such
//! domain", as everywhere. Defends against: private keys leaving the server (never in a
//! result, sealed before they reach the store), keys DKIM cannot use (refused with the
//! reason, field `private_key_pem` or `bits`), selectors DNS cannot carry, removing the
//! key that signs by mistake (a conflict unless `force`), and key generation blocking the
//! async threads (it runs on a blocking thread: RSA takes a while).

use std::sync::Arc;

use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState, valid_selector};
use postern_core::event::now_ms;
use postern_core::tenancy::normalize_domain;
use postern_dkim::{DnsRecord, KeyIdentity, KeyPair, MasterKey, TxtLookup, dns_record};
use postern_store::{DkimStore, NewDkimKey, Paged};
use serde::{Deserialize, Serialize};

use crate::domains::visible_domain;
use crate::page::page;
use crate::{Caller, OpError, Ops, Result, blocking};

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

/// A key as an administrator sees it: its state now (`retired` once a retiring key's
/// grace period is over) and the DNS record that publishes it. Never the private key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DkimKey)]
pub struct KeyView {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub state: DkimKeyState,
    /// The `p=` value; the private key is never returned.
    pub public_key: String,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_at_ms: Option<i64>,
    pub dns: DnsRecord,
}

impl KeyView {
    pub fn of(key: DkimKey, now_ms: i64) -> KeyView {
        let dns = dns_record(&key.domain, &key.selector, key.algorithm, &key.public_key);
        KeyView {
            state: key.effective_state(now_ms),
            domain: key.domain,
            selector: key.selector,
            algorithm: key.algorithm,
            public_key: key.public_key,
            created_at_ms: key.created_at_ms,
            activated_at_ms: key.activated_at_ms,
            retire_at_ms: key.retire_at_ms,
            dns,
        }
    }
}

/// Which keys to list, over every domain the caller may see.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DkimKeyQuery {
    /// The keys of this domain.
    pub domain: Option<String>,
    /// Page size; 0 or absent: 100.
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// Which page of one domain's keys to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DomainKeyQuery {
    /// Page size; 0 or absent: 100.
    #[serde(default)]
    #[param(maximum = 1000)]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
}

/// A key to generate (RSA-2048 by default, or Ed25519) or to import.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyCreate {
    /// One DNS label: letters, digits and inner hyphens; stored lower-case.
    #[schema(pattern = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    pub selector: String,
    /// Absent: RSA, or the imported key's.
    #[serde(default)]
    pub algorithm: Option<DkimAlgorithm>,
    /// RSA only: 2048 (default) to 4096.
    #[serde(default)]
    #[schema(minimum = 2048, maximum = 4096)]
    pub bits: Option<usize>,
    /// Import this key (PKCS#1 or PKCS#8 PEM, RSA or Ed25519) instead of generating one.
    #[serde(default)]
    #[schema(write_only)]
    pub private_key_pem: Option<String>,
}

/// How to remove a key.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DkimDeleteQuery {
    /// Also the active key.
    #[serde(default)]
    pub force: bool,
}

/// What a removal did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimKeyDeleted {
    pub domain: String,
    pub selector: String,
    /// `deleted`.
    pub result: &'static str,
}

/// The DKIM part of the context, or "DKIM is not available on this server".
pub(crate) fn dkim(ops: &Ops) -> Result<&DkimAdmin> {
    ops.dkim.as_ref().ok_or_else(|| OpError::unavailable("DKIM is not available on this server"))
}

fn views(list: Paged<DkimKey>) -> Paged<KeyView> {
    let now = now_ms();
    Paged {
        items: list.items.into_iter().map(|k| KeyView::of(k, now)).collect(),
        total: list.total,
        limit: list.limit,
        offset: list.offset,
    }
}

/// The keys of every domain the caller may see (or of one).
pub async fn list_all(ops: &Ops, caller: &Caller, q: DkimKeyQuery) -> Result<Paged<KeyView>> {
    let page = page(q.limit, q.offset)?;
    let domain = q.domain.map(|d| normalize_domain(&d).unwrap_or(d));
    let scope = caller.scope.clone();
    let list = dkim(ops)?.store(move |s| s.list_dkim_keys(&scope, domain.as_deref(), page)).await?;
    Ok(views(list))
}

/// One domain's keys.
pub async fn list(ops: &Ops, caller: &Caller, domain: &str, q: DomainKeyQuery) -> Result<Paged<KeyView>> {
    let page = page(q.limit, q.offset)?;
    let domain = visible_domain(ops, caller, domain).await?.name;
    let scope = caller.scope.clone();
    let list = dkim(ops)?.store(move |s| s.list_dkim_keys(&scope, Some(&domain), page)).await?;
    Ok(views(list))
}

/// A new key, `pending` until rotated in.
pub async fn create(ops: &Ops, caller: &Caller, domain: &str, input: DkimKeyCreate) -> Result<KeyView> {
    let domain = visible_domain(ops, caller, domain).await?.name;
    let dkim = dkim(ops)?;
    let selector = check_selector(&input.selector)?;
    let pair = make_key(input).await?;
    let identity = KeyIdentity { domain: &domain, selector: &selector, algorithm: pair.algorithm() };
    let sealed = dkim.master_key.seal(pair.pkcs8(), identity).map_err(OpError::internal)?;
    let new = NewDkimKey {
        domain,
        selector,
        algorithm: pair.algorithm(),
        public_key: pair.public_key().to_string(),
        sealed_private_key: sealed,
        master_key_id: dkim.master_key.id().to_string(),
    };
    let key = dkim.store(move |s| s.create_dkim_key(&new)).await?;
    tracing::info!(
        domain = key.domain.as_str(),
        selector = key.selector.as_str(),
        algorithm = key.algorithm.name(),
        by = caller.name.as_str(),
        "DKIM key created (pending)"
    );
    Ok(KeyView::of(key, now_ms()))
}

/// Generates (on a blocking thread) or imports the key the input asks for.
async fn make_key(input: DkimKeyCreate) -> Result<KeyPair> {
    match input.private_key_pem {
        Some(pem) => {
            if input.bits.is_some() {
                return Err(OpError::bad_field("bits", "an imported key has its own size"));
            }
            let pair = KeyPair::from_pem(&pem).map_err(|e| OpError::bad_field("private_key_pem", e.to_string()))?;
            match input.algorithm {
                Some(algorithm) if algorithm != pair.algorithm() => Err(OpError::bad_field(
                    "algorithm",
                    format!("the key is {}, not {}", pair.algorithm().name(), algorithm.name()),
                )),
                _ => Ok(pair),
            }
        }
        None => {
            let algorithm = input.algorithm.unwrap_or(DkimAlgorithm::Rsa);
            if let Some(bits) = input.bits
                && (algorithm != DkimAlgorithm::Rsa || !postern_dkim::key::RSA_BITS.contains(&bits))
            {
                return Err(OpError::bad_field("bits", "RSA keys have 2048 to 4096 bits; Ed25519 keys no size"));
            }
            blocking(move || KeyPair::generate(algorithm, input.bits)).await?.map_err(OpError::internal)
        }
    }
}

pub async fn show(ops: &Ops, caller: &Caller, domain: &str, selector: &str) -> Result<KeyView> {
    let key = visible_key(ops, caller, domain, selector).await?;
    Ok(KeyView::of(key, now_ms()))
}

/// Removes a key; the active one only with `force` (the signer is reloaded then).
pub async fn delete(
    ops: &Ops,
    caller: &Caller,
    domain: &str,
    selector: &str,
    q: DkimDeleteQuery,
) -> Result<DkimKeyDeleted> {
    let key = visible_key(ops, caller, domain, selector).await?;
    let dkim = dkim(ops)?;
    let active = key.state == DkimKeyState::Active;
    if active && !q.force {
        return Err(OpError::conflict(format!(
            "{} is the active {} key of {}: rotate to another key first, or remove it with force",
            key.selector,
            key.algorithm.name(),
            key.domain
        )));
    }
    let (domain, selector) = (key.domain.clone(), key.selector.clone());
    if !dkim.store(move |s| s.delete_dkim_key(&domain, &selector)).await? {
        return Err(OpError::not_found("no such DKIM key"));
    }
    if active {
        dkim.changed().await;
    }
    tracing::info!(
        domain = key.domain.as_str(),
        selector = key.selector.as_str(),
        by = caller.name.as_str(),
        "DKIM key removed"
    );
    Ok(DkimKeyDeleted { domain: key.domain, selector: key.selector, result: "deleted" })
}

/// The key, if its domain is visible to the caller and it exists; "no such domain"
/// first, exactly as for any other domain's object, then "no such DKIM key".
pub(crate) async fn visible_key(ops: &Ops, caller: &Caller, domain: &str, selector: &str) -> Result<DkimKey> {
    let domain = visible_domain(ops, caller, domain).await?.name;
    let dkim = dkim(ops)?;
    let not_found = || OpError::not_found("no such DKIM key");
    if !valid_selector(selector) {
        return Err(not_found());
    }
    let selector = selector.to_ascii_lowercase();
    dkim.store(move |s| s.dkim_key(&domain, &selector)).await?.ok_or_else(not_found)
}

/// A selector from input: one DNS label, stored lower-case.
pub(crate) fn check_selector(text: &str) -> Result<String> {
    if valid_selector(text) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(OpError::bad_field(
            "selector",
            "a selector is one DNS label: letters, digits and inner hyphens, at most 63",
        ))
    }
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::ErrorKind;
    use crate::test_ops::{TestOps, caller};

    fn ed25519(selector: &str) -> DkimKeyCreate {
        DkimKeyCreate {
            selector: selector.into(),
            algorithm: Some(DkimAlgorithm::Ed25519),
            bits: None,
            private_key_pem: None,
        }
    }

    #[tokio::test]
    async fn another_tenants_keys_are_behind_no_such_domain() {
        let t = TestOps::new();
        t.domains(&["a.example", "b.example"]);
        let root = caller(Role::Superadmin, &[]);
        create(&t.ops, &root, "b.example", ed25519("s1")).await.unwrap();
        let a = caller(Role::DomainAdmin, &["a.example"]);
        for domain in ["b.example", "ghost.example"] {
            let e = show(&t.ops, &a, domain, "s1").await.unwrap_err();
            assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such domain"), "{domain}");
            let forced = DkimDeleteQuery { force: true };
            assert_eq!(delete(&t.ops, &a, domain, "s1", forced).await.unwrap_err(), e, "{domain}");
            assert_eq!(create(&t.ops, &a, domain, ed25519("s2")).await.unwrap_err(), e, "{domain}");
        }
        let all = list_all(&t.ops, &a, DkimKeyQuery { domain: Some("b.example".into()), ..Default::default() });
        assert_eq!(all.await.unwrap().total, 0);
        assert_eq!(show(&t.ops, &root, "b.example", "S1").await.unwrap().state, DkimKeyState::Pending);
    }

    #[tokio::test]
    async fn bad_keys_name_the_field() {
        let t = TestOps::new();
        t.domains(&["a.example"]);
        let root = caller(Role::Superadmin, &[]);
        let field = |input: DkimKeyCreate| {
            let ops = t.ops.clone();
            let root = root.clone();
            async move { create(&ops, &root, "a.example", input).await.unwrap_err().field }
        };
        assert_eq!(field(ed25519("-bad")).await.as_deref(), Some("selector"));
        assert_eq!(field(DkimKeyCreate { bits: Some(2048), ..ed25519("s1") }).await.as_deref(), Some("bits"));
        let garbage = DkimKeyCreate { private_key_pem: Some("not a key".into()), ..ed25519("s1") };
        assert_eq!(field(garbage).await.as_deref(), Some("private_key_pem"));
    }
}
