//! A domain's DKIM keys and DNS: the records to publish ([`records`]), whether they are
//! published ([`check_dns`]), and rotation ([`rotate`]: the new key signs, the previous
//! key of its algorithm retires after a grace period).
//!
//! Defends against: switching signing to a key receivers cannot find (rotation checks DNS
//! first and refuses with what it found, unless `force`), grace periods too short for mail
//! still queued (default 7 days, longer than the 5-day queue lifetime; at most 90), and
//! slow DNS holding a request (each query has the resolver's timeout; keys are few).

use postern_core::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};
use postern_core::event::now_ms;
use postern_dkim::{CheckResult, CheckStatus, DnsRecord, check, dns_record};
use serde::{Deserialize, Serialize};

use crate::dkim::{KeyView, check_selector, dkim, visible_key};
use crate::domains::visible_domain;
use crate::{Caller, ErrorKind, OpError, Ops, Result};

/// Default grace period of a replaced key: a week (longer than the queue lifetime).
pub const DEFAULT_GRACE_SECS: u64 = 7 * 86_400;
pub const LONGEST_GRACE_SECS: u64 = 90 * 86_400;

/// The TXT records to publish for a domain: every key but the retired.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimRecords {
    pub domain: String,
    pub records: Vec<DkimRecord>,
}

/// One key's record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimRecord {
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub state: DkimKeyState,
    #[serde(flatten)]
    pub record: DnsRecord,
}

/// What DNS says about a domain's keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimCheck {
    pub domain: String,
    /// Whether every key checked is published as it should be.
    pub all_published: bool,
    pub results: Vec<DkimKeyCheck>,
}

/// What DNS says about one key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimKeyCheck {
    pub selector: String,
    pub state: DkimKeyState,
    /// Where the record lives: `<selector>._domainkey.<domain>`.
    pub name: String,
    #[serde(flatten)]
    pub result: CheckResult,
}

/// Which keys to check.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DkimCheckQuery {
    /// Only this key.
    pub selector: Option<String>,
}

/// A rotation: which key signs from now on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DkimRotate {
    /// The key that signs from now on.
    pub selector: String,
    /// How long the replaced key stays published; default 7 days, at most 90.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 7776000, default = 604800)]
    pub grace_secs: Option<u64>,
    /// Skip the DNS check.
    #[serde(default)]
    #[schema(default = false)]
    pub force: bool,
}

/// What a rotation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DkimRotation {
    pub activated: KeyView,
    /// The keys it replaced: published until their `retire_at_ms`.
    pub retiring: Vec<KeyView>,
}

/// Every key of a visible domain that should be in DNS now (all but the retired).
async fn published_keys(ops: &Ops, caller: &Caller, name: &str) -> Result<(String, Vec<DkimKey>)> {
    let domain = visible_domain(ops, caller, name).await?.name;
    let (key, scope) = (domain.clone(), caller.scope.clone());
    let list = dkim(ops)?.store(move |s| s.list_dkim_keys(&scope, Some(&key), Default::default())).await?;
    let now = now_ms();
    Ok((domain, list.items.into_iter().filter(|k| k.published(now)).collect()))
}

pub async fn records(ops: &Ops, caller: &Caller, domain: &str) -> Result<DkimRecords> {
    let (domain, keys) = published_keys(ops, caller, domain).await?;
    let now = now_ms();
    let records = keys
        .into_iter()
        .map(|k| DkimRecord {
            record: dns_record(&k.domain, &k.selector, k.algorithm, &k.public_key),
            algorithm: k.algorithm,
            state: k.effective_state(now),
            selector: k.selector,
        })
        .collect();
    Ok(DkimRecords { domain, records })
}

/// Looks every published key up in DNS (or the one named).
pub async fn check_dns(ops: &Ops, caller: &Caller, domain: &str, q: DkimCheckQuery) -> Result<DkimCheck> {
    let (domain, keys) = match &q.selector {
        Some(selector) => {
            let key = visible_key(ops, caller, domain, selector).await?;
            (key.domain.clone(), vec![key])
        }
        None => published_keys(ops, caller, domain).await?,
    };
    let dkim = dkim(ops)?;
    let now = now_ms();
    let mut results = Vec::new();
    for key in keys {
        let result = check(dkim.dns.as_ref(), &key.domain, &key.selector, key.algorithm, &key.public_key).await;
        results.push(DkimKeyCheck {
            state: key.effective_state(now),
            name: key.record_name(),
            selector: key.selector,
            result,
        });
    }
    let all_published = results.iter().all(|r| r.result.status == CheckStatus::Published);
    Ok(DkimCheck { domain, all_published, results })
}

/// Makes a key the signing key of its algorithm, once DNS has it (unless `force`).
pub async fn rotate(ops: &Ops, caller: &Caller, domain: &str, input: DkimRotate) -> Result<DkimRotation> {
    let domain = visible_domain(ops, caller, domain).await?.name;
    let selector = check_selector(&input.selector)?;
    let grace = input.grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > LONGEST_GRACE_SECS {
        return Err(OpError::bad_field("grace_secs", format!("at most {LONGEST_GRACE_SECS} seconds (90 days)")));
    }
    let key = visible_key(ops, caller, &domain, &selector)
        .await
        .map_err(|e| if e.kind == ErrorKind::NotFound { e.with_field("selector") } else { e })?;
    let dkim = dkim(ops)?;
    let now = now_ms();
    if key.state == DkimKeyState::Active {
        return Err(OpError::conflict(format!("{selector} is already the active {} key", key.algorithm.name())));
    }
    if !input.force {
        let result = check(dkim.dns.as_ref(), &key.domain, &key.selector, key.algorithm, &key.public_key).await;
        if result.status != CheckStatus::Published {
            let text = format!(
                "{} is not published in DNS ({}): {}; publish it first (show-dns), or rotate with force",
                key.record_name(),
                result.status.name(),
                result.detail
            );
            return Err(OpError::conflict(text).with_field("selector"));
        }
    }
    let retire_at = now.saturating_add(i64::try_from(grace.saturating_mul(1000)).unwrap_or(i64::MAX));
    let (d, s) = (domain.clone(), selector.clone());
    let activation = dkim
        .store(move |store| store.activate_dkim_key(&d, &s, retire_at))
        .await?
        .ok_or_else(|| OpError::not_found("no such DKIM key").with_field("selector"))?;
    dkim.changed().await;
    let retiring: Vec<String> = activation.retiring.iter().map(|k| k.selector.clone()).collect();
    tracing::info!(
        domain = domain.as_str(),
        selector = selector.as_str(),
        retiring = retiring.join(",").as_str(),
        grace_secs = grace,
        by = caller.name.as_str(),
        "DKIM key rotated"
    );
    let now = now_ms();
    Ok(DkimRotation {
        activated: KeyView::of(activation.activated, now),
        retiring: activation.retiring.into_iter().map(|k| KeyView::of(k, now)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use postern_core::tenancy::Role;

    use super::*;
    use crate::dkim::{DkimKeyCreate, create};
    use crate::test_ops::{TestOps, caller};

    #[tokio::test]
    async fn rotation_needs_the_record_in_dns_unless_forced() {
        let t = TestOps::new();
        t.domains(&["a.example"]);
        let a = caller(Role::DomainAdmin, &["a.example"]);
        let input = DkimKeyCreate {
            selector: "s1".into(),
            algorithm: Some(DkimAlgorithm::Ed25519),
            bits: None,
            private_key_pem: None,
        };
        create(&t.ops, &a, "a.example", input).await.unwrap();
        let rotate_to = |force: bool| DkimRotate { selector: "S1".into(), grace_secs: None, force };
        let refused = rotate(&t.ops, &a, "a.example", rotate_to(false)).await.unwrap_err();
        assert_eq!((refused.kind, refused.field.as_deref()), (ErrorKind::Conflict, Some("selector")), "{refused}");
        assert!(refused.message.contains("s1._domainkey.a.example is not published in DNS (missing)"), "{refused}");
        let rotated = rotate(&t.ops, &a, "a.example", rotate_to(true)).await.unwrap();
        assert_eq!((rotated.activated.state, rotated.retiring.len()), (DkimKeyState::Active, 0));
        let check = check_dns(&t.ops, &a, "a.example", DkimCheckQuery::default()).await.unwrap();
        assert!(!check.all_published);
        let long = DkimRotate { grace_secs: Some(LONGEST_GRACE_SECS + 1), ..rotate_to(true) };
        let e = rotate(&t.ops, &a, "a.example", long).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("grace_secs"));
        let missing = DkimRotate { selector: "nope".into(), ..rotate_to(true) };
        let e = rotate(&t.ops, &a, "a.example", missing).await.unwrap_err();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::NotFound, Some("selector")));
    }
}
