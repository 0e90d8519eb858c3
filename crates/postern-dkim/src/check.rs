//! Is a key published? Asks DNS for the TXT records at `<selector>._domainkey.<domain>`
//! and compares what it finds with the key: `published`, `missing`, `mismatched` (a record
//! is there, with another key or algorithm), or `error` (DNS did not answer).
//!
//! In: a [`TxtLookup`] (the configurable resolver, [`HickoryTxt`], or a fake in tests) and
//! a key's domain, selector, algorithm and `p=`. Out: a [`CheckResult`] with a sentence
//! that says what to do.
//!
//! Defends against: slow or silent DNS (every query has a timeout; a failure is `error`,
//! never `missing`), names DNS cannot carry (not sent), huge answers (at most
//! [`MOST_RECORDS`] records are read and echoed, each cut to [`LONGEST_ECHO`] characters),
//! and `/etc/hosts` (never consulted).

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use postern_core::BoxFuture;
use postern_core::dkim::DkimAlgorithm;
use serde::Serialize;

use crate::record::parse_record;

/// Records read from one answer.
pub const MOST_RECORDS: usize = 16;
/// Characters of a found record echoed back.
pub const LONGEST_ECHO: usize = 600;

/// DNS failed for a reason other than "no such records" (timeout, SERVFAIL, refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailed(pub String);

/// The TXT records at a name, each one's character-strings joined; empty for NXDOMAIN or
/// NODATA.
pub trait TxtLookup: Send + Sync {
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupFailed>>;
}

/// What DNS has for a key: its record (published), nothing (missing), another key
/// (mismatched), or no answer (error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Published,
    Missing,
    Mismatched,
    Error,
}

impl CheckStatus {
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Published => "published",
            CheckStatus::Missing => "missing",
            CheckStatus::Mismatched => "mismatched",
            CheckStatus::Error => "error",
        }
    }
}

/// What the check of one key's record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub status: CheckStatus,
    /// What was found and, unless published, what to do.
    pub detail: String,
    /// The TXT records found at the name (bounded).
    pub found: Vec<String>,
}

/// Looks the key's record up and judges it.
pub async fn check(
    lookup: &dyn TxtLookup,
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
    public_key: &str,
) -> CheckResult {
    let name = format!("{selector}._domainkey.{domain}");
    match lookup.txt(&name).await {
        Ok(records) => judge(&name, &records, algorithm, public_key),
        Err(LookupFailed(why)) => CheckResult {
            status: CheckStatus::Error,
            detail: format!("DNS did not answer for {name}: {why}; try again later"),
            found: Vec::new(),
        },
    }
}

/// The verdict on the records found at `name`. Pure.
pub fn judge(name: &str, records: &[String], algorithm: DkimAlgorithm, public_key: &str) -> CheckResult {
    let found: Vec<String> =
        records.iter().take(MOST_RECORDS).map(|r| r.chars().take(LONGEST_ECHO).collect()).collect();
    let keys: Vec<_> = records.iter().take(MOST_RECORDS).filter_map(|r| parse_record(r)).collect();
    let (status, detail) = if keys.iter().any(|k| k.public_key == public_key && k.algorithm == algorithm.name()) {
        (CheckStatus::Published, format!("{name} publishes this key"))
    } else if let Some(same) = keys.iter().find(|k| k.public_key == public_key) {
        let why = format!("{name} has this key with k={}, expected k={}", same.algorithm, algorithm.name());
        (CheckStatus::Mismatched, format!("{why}: publish the record from show-dns"))
    } else if let Some(revoked) = keys.iter().find(|k| k.public_key.is_empty()) {
        let why = format!("{name} publishes an empty p= (a revoked key, k={})", revoked.algorithm);
        (CheckStatus::Mismatched, format!("{why}: publish the record from show-dns"))
    } else if !keys.is_empty() {
        (CheckStatus::Mismatched, format!("{name} publishes another key: replace it with the record from show-dns"))
    } else if !records.is_empty() {
        (
            CheckStatus::Missing,
            format!("{name} has TXT records, but none is a DKIM key: publish the record from show-dns"),
        )
    } else {
        (CheckStatus::Missing, format!("{name} has no TXT record: publish the record from show-dns"))
    };
    CheckResult { status, detail, found }
}

/// The stub resolver the check asks: the configured servers (`delivery.dns_servers`), or
/// the system's when none are configured, built by the caller with the shared setup
/// (`postern_policy::dns::uncached_resolver`: UDP, TCP for truncated answers, since
/// RSA-4096 records can exceed 512 octets; no cache, so a check after a fix sees it).
pub struct HickoryTxt {
    dns: TokioResolver,
}

impl HickoryTxt {
    pub fn new(dns: TokioResolver) -> HickoryTxt {
        HickoryTxt { dns }
    }
}

impl TxtLookup for HickoryTxt {
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupFailed>> {
        Box::pin(async move {
            let fqdn = format!("{}.", name.trim_end_matches('.'));
            let name = Name::from_ascii(&fqdn).map_err(|_| LookupFailed(format!("{name} is not a DNS name")))?;
            match self.dns.lookup(name, RecordType::TXT).await {
                Ok(lookup) => Ok(lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => {
                            let joined: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
                            Some(String::from_utf8_lossy(&joined).into_owned())
                        }
                        _ => None,
                    })
                    .take(MOST_RECORDS)
                    .collect()),
                Err(e) if e.is_no_records_found() => Ok(Vec::new()),
                Err(e) => Err(LookupFailed(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "s1._domainkey.example.com";

    fn status(records: &[&str], algorithm: DkimAlgorithm, key: &str) -> CheckStatus {
        let records: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        judge(NAME, &records, algorithm, key).status
    }

    #[test]
    fn verdicts() {
        use CheckStatus::*;
        use DkimAlgorithm::*;
        assert_eq!(status(&["v=DKIM1; k=rsa; p=KEY"], Rsa, "KEY"), Published);
        assert_eq!(status(&["v=spf1 -all", "p=K EY"], Rsa, "KEY"), Published, "k= defaults to rsa; FWS in p=");
        assert_eq!(status(&["v=DKIM1; k=ed25519; p=KEY"], Ed25519, "KEY"), Published);
        assert_eq!(status(&["v=DKIM1; k=rsa; p=KEY"], Ed25519, "KEY"), Mismatched, "wrong k=");
        assert_eq!(status(&["v=DKIM1; k=rsa; p=OTHER"], Rsa, "KEY"), Mismatched);
        assert_eq!(status(&["v=DKIM1; p="], Rsa, "KEY"), Mismatched, "revoked");
        assert_eq!(status(&[], Rsa, "KEY"), Missing);
        assert_eq!(status(&["v=spf1 -all"], Rsa, "KEY"), Missing);
        let result = judge(NAME, &["x".repeat(5000)], DkimAlgorithm::Rsa, "KEY");
        assert_eq!(result.found[0].len(), LONGEST_ECHO);
        assert!(result.detail.contains("show-dns"), "{}", result.detail);
    }

    struct Failing;

    impl TxtLookup for Failing {
        fn txt<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupFailed>> {
            Box::pin(async { Err(LookupFailed("timed out".into())) })
        }
    }

    #[tokio::test]
    async fn dns_failures_are_errors_not_missing_keys() {
        let result = check(&Failing, "example.com", "s1", DkimAlgorithm::Rsa, "KEY").await;
        assert_eq!(result.status, CheckStatus::Error);
        assert!(result.detail.contains("timed out"), "{}", result.detail);
    }
}
