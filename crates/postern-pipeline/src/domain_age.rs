//! The newly-registered-domain check (engine `domain_age`, the account's
//! `checks.block_new_domains`): a message whose sender domain was registered less than
//! `checks.new_domain_min_age_hours` ago is blocked (`NEW_DOMAIN`), held like spam.
//!
//! In: the envelope sender and the message's `From:` header. Which domains: the
//! *registrable* domain of the envelope sender, and that of the `From:` address when it is
//! another one: at most two lookups per message (`postern_policy::domain_age`: the feed,
//! the cache, RDAP). The null sender and an address literal have no domain to ask about.
//! Out: `Blocked` naming the young domain and its registration date; `Skipped` when an age
//! is unknown (not found, no RDAP server for the TLD, a failed or garbled lookup): an
//! unknown age never blocks by itself, and the trace says why; `Clean` otherwise.
//! Defends against: a `From:` header that is not one (read from the header block only,
//! within its first 64 KiB, by `mail-parser`), odd names (only host names are asked
//! about), slow registries (each lookup has its time limit; both run at once).

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use postern_core::tenancy::ContentChecks;
use postern_core::{BoxFuture, Envelope};
use postern_policy::domain_age::{Age, DomainAge, registrable};

use crate::scanner::{Block, BlockKind, ScanInput, ScanResult, Scanner, Setting};

/// The most of a message read to find its `From:` header.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A registration date this far ahead of our clock is bad data, not a young domain.
const MAX_CLOCK_SKEW_MINUTES: i64 = 60;

pub struct DomainAgeScanner {
    lookup: Arc<DomainAge>,
}

impl DomainAgeScanner {
    pub fn new(lookup: Arc<DomainAge>) -> DomainAgeScanner {
        DomainAgeScanner { lookup }
    }
}

impl Scanner for DomainAgeScanner {
    fn engine(&self) -> &'static str {
        "domain_age"
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::NewDomains)
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        Box::pin(async move {
            let defaults = ContentChecks::default();
            let checks = input.account.map_or(&defaults, |a| &a.settings.checks);
            let domains = sender_domains(input.envelope, input.message);
            let ages = match domains.as_slice() {
                [] => Vec::new(),
                [one] => vec![self.lookup.age(one).await],
                [first, second, ..] => {
                    let (a, b) = tokio::join!(self.lookup.age(first), self.lookup.age(second));
                    vec![a, b]
                }
            };
            let found: Vec<(String, Age)> = domains.into_iter().zip(ages).collect();
            decide(&found, Utc::now(), checks.new_domain_min_age_hours)
        })
    }
}

/// The registrable domains to ask about, in order: the envelope sender's, then the
/// `From:` address's when it is another one. At most two.
pub(crate) fn sender_domains(envelope: &Envelope, message: &[u8]) -> Vec<String> {
    let mut domains = Vec::with_capacity(2);
    if let Some(domain) = envelope.sender.as_ref().and_then(|s| registrable(s.domain.as_str())) {
        domains.push(domain);
    }
    if let Some(domain) = from_domain(message).as_deref().and_then(registrable)
        && !domains.contains(&domain)
    {
        domains.push(domain);
    }
    domains
}

/// The domain of the first `From:` address, read from the header block only.
fn from_domain(message: &[u8]) -> Option<String> {
    let head = &message[..message.len().min(MAX_HEADER_BYTES)];
    let head = match memchr::memmem::find(head, b"\r\n\r\n").or_else(|| memchr::memmem::find(head, b"\n\n")) {
        Some(end) => &head[..end + 2],
        None => head,
    };
    let parsed = mail_parser::MessageParser::new().parse_headers(head)?;
    let address = parsed.from()?.first()?.address()?;
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('>');
    (!domain.is_empty()).then(|| domain.to_string())
}

/// The verdict over the ages found (pure): any domain younger than `min_age_hours` blocks;
/// else any unknown age skips (with every reason); else clean.
pub(crate) fn decide(found: &[(String, Age)], now: DateTime<Utc>, min_age_hours: u32) -> ScanResult {
    let min_age = Duration::hours(i64::from(min_age_hours));
    let mut unknown = Vec::new();
    for (domain, age) in found {
        match age {
            Age::Registered { at, .. } if *at > now + Duration::minutes(MAX_CLOCK_SKEW_MINUTES) => {
                unknown.push(format!("age of {domain} unknown: registration date {} is in the future", stamp(at)));
            }
            Age::Registered { at, .. } if now.signed_duration_since(*at) < min_age => {
                return ScanResult::Blocked(Block {
                    kind: BlockKind::NewDomain,
                    rule: "NEW_DOMAIN".into(),
                    part: Some(format!("{domain} registered {}", stamp(at))),
                });
            }
            Age::Registered { .. } => {}
            Age::Unknown(why) => unknown.push(format!("age of {domain} unknown: {why}")),
        }
    }
    if unknown.is_empty() {
        ScanResult::Clean { score: None }
    } else {
        ScanResult::Skipped { reason: unknown.join("; ") }
    }
}

fn stamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use postern_core::test_support::{self, client};
    use postern_policy::domain_age::Source;

    use super::*;

    fn envelope(sender: Option<&str>) -> Envelope {
        Envelope { client: client("127.0.0.1:0", "submission"), ..test_support::envelope(sender, &[]) }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_envelope_sender_and_a_different_from_domain() {
        let msg = b"From: \"Shop\" <news@Mail.Young.test>\r\nSubject: x\r\n\r\nFrom: body@else.test\r\n";
        assert_eq!(sender_domains(&envelope(Some("a@bounce.old.co.uk")), msg), ["old.co.uk", "young.test"]);
        assert_eq!(
            sender_domains(&envelope(Some("a@x.young.test")), msg),
            ["young.test"],
            "the same registrable domain once"
        );
        assert_eq!(sender_domains(&envelope(None), msg), ["young.test"], "the null sender has no domain");
        assert_eq!(sender_domains(&envelope(None), b"Subject: none\r\n\r\nFrom: a@b.test\r\n"), Vec::<String>::new());
        assert_eq!(
            sender_domains(&envelope(Some("a@[192.0.2.1]")), b"From: a@[192.0.2.1]\r\n\r\n"),
            Vec::<String>::new()
        );
        assert_eq!(sender_domains(&envelope(Some("a@co.uk")), b"From: garbage\r\n\r\n"), Vec::<String>::new());
        // A group, a second address, bare LF line ends.
        assert_eq!(sender_domains(&envelope(None), b"From: a@one.test, b@two.test\n\n"), ["one.test"]);
        // Only the header block counts, within 64 KiB.
        let mut late = vec![b'X'; 70 * 1024];
        late.extend_from_slice(b"\r\nFrom: a@late.test\r\n\r\n");
        assert_eq!(sender_domains(&envelope(None), &late), Vec::<String>::new());
        assert_eq!(
            sender_domains(&envelope(None), b"From: =?utf-8?q?Bob?= <bob@b\xc3\xbccher.test>\r\n\r\n"),
            ["xn--bcher-kva.test"]
        );
    }

    #[test]
    fn young_blocks_old_passes_unknown_skips() {
        let now = at("2026-07-01T12:00:00Z");
        let rdap = |t: &str| Age::Registered { at: at(t), source: Source::Rdap };
        let young = ("young.test".to_string(), rdap("2026-07-01T11:00:00Z"));
        let old = ("old.test".to_string(), rdap("2025-07-01T12:00:00Z"));
        let unknown = ("missing.test".to_string(), Age::Unknown("RDAP: not found".into()));
        let blocked = ScanResult::Blocked(Block {
            kind: BlockKind::NewDomain,
            rule: "NEW_DOMAIN".into(),
            part: Some("young.test registered 2026-07-01T11:00:00Z".into()),
        });
        assert_eq!(decide(std::slice::from_ref(&young), now, 24), blocked);
        assert_eq!(decide(&[old.clone(), young.clone()], now, 24), blocked);
        assert_eq!(decide(&[unknown.clone(), young.clone()], now, 24), blocked, "a young one blocks whatever else");
        assert_eq!(
            decide(std::slice::from_ref(&young), now, 1),
            ScanResult::Clean { score: None },
            "an hour old is old enough"
        );
        assert_eq!(decide(std::slice::from_ref(&old), now, 8760), ScanResult::Clean { score: None }, "exactly a year");
        assert_eq!(decide(&[], now, 24), ScanResult::Clean { score: None });
        assert_eq!(
            decide(&[old, unknown], now, 24),
            ScanResult::Skipped { reason: "age of missing.test unknown: RDAP: not found".into() }
        );
        let future = ("future.test".to_string(), rdap("2026-07-03T00:00:00Z"));
        assert_eq!(
            decide(&[future], now, 24),
            ScanResult::Skipped {
                reason: "age of future.test unknown: registration date 2026-07-03T00:00:00Z is in the future".into()
            }
        );
        let skew = ("skew.test".to_string(), rdap("2026-07-01T12:30:00Z"));
        assert!(matches!(decide(&[skew], now, 1), ScanResult::Blocked(_)), "a little clock skew is young");
    }
}
