//! SPF (RFC 7208) for sender security (SPEC §2, seed 003): may the connecting IP send mail
//! for the sender's domain? This module owns the whole evaluation, on hickory's stub
//! resolver, and the one rule that matters here, "must pass": only [`SpfResult::Pass`]
//! passes ([`SpfResult::passes`]).
//!
//! In: an [`SpfResolver`], the client IP, the HELO name and the MAIL FROM address.
//! Out: an [`SpfResult`] ([`check`]), or an [`SpfOutcome`] that also carries the domain
//! checked and its explanation ([`evaluate`]). No error escapes: DNS trouble is
//! `temperror`, a broken record `permerror`, as RFC 7208 §2.6 defines them. Proven
//! against the RFC 7208 test suite (`tests/spf/`, run by `tests/spf_suite.rs` in this crate).
//!
//! Defends against records that make a check expensive or endless (RFC 7208 §4.6.4): at
//! most 10 DNS-querying terms (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`; this also
//! ends include and redirect loops), at most 2 void lookups, at most 10 MX hosts per `mx`,
//! the first 10 PTR names only; beyond those limits the result is `permerror`. Every
//! query has a timeout and the whole evaluation a deadline ([`SpfResolver::with_deadline`],
//! 20 s by default), after which the result is `temperror`. Against records that would
//! pass by accident: the grammar is strict, and any syntax error anywhere in a record makes
//! it a `permerror`, even after a matching term. Malformed identities (empty or over-long
//! labels, address literals, single-label names) are `none` before any lookup; IPv4-mapped
//! IPv6 clients are checked as the IPv4 address they carry and never match `ip6`. The
//! explanation is text chosen by the sender domain's owner: log it, never put it unquoted
//! in a reply.
//!
//! # Layout
//! - [`identity`](mod@identity): which domain and sender are checked (pure).
//! - [`record`]: selecting and parsing the SPF record (pure).
//! - [`macros`]: macro strings: parsing, expansion (pure).
//! - `eval`: `check_host()`: mechanisms, includes, redirects, limits, explanation.
//! - [`resolver`]: [`SpfResolver`]: name servers, timeouts, deadline, DNS names.

mod eval;
pub mod identity;
pub mod macros;
pub mod record;
pub mod resolver;

use std::fmt;
use std::net::IpAddr;

pub use identity::{Identity, identity};
pub use resolver::{DEFAULT_DEADLINE, SpfResolver};

/// An SPF result (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfResult {
    /// Sender security's rule: the IP must *pass* the domain's SPF record. Anything else,
    /// `softfail`, `neutral`, `none` and both errors included, does not pass. (Whether a
    /// `temperror` is answered with a 4xx, try later, rather than `550 5.7.1` is the
    /// caller's choice.)
    pub fn passes(self) -> bool {
        self == SpfResult::Pass
    }

    /// The RFC 7208 name (`pass`, `softfail`, `temperror`, ...), as in `Received-SPF`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A result with what it was about, for logs and `Received-SPF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    pub result: SpfResult,
    /// The domain whose record was evaluated (empty when the identity was malformed).
    pub domain: String,
    /// The domain's `exp=` text, for a `fail` whose record has one. Untrusted.
    pub explanation: Option<String>,
}

/// Does `ip` pass the SPF record of the sender's domain? See [`evaluate`].
pub async fn check(resolver: &SpfResolver, ip: IpAddr, helo: &str, mail_from: &str) -> SpfResult {
    evaluate(resolver, ip, helo, mail_from).await.result
}

/// Evaluates the MAIL FROM identity (the HELO identity for the null sender `""`) for a
/// client at `ip` that said `HELO helo`. Never takes longer than the resolver's deadline.
pub async fn evaluate(resolver: &SpfResolver, ip: IpAddr, helo: &str, mail_from: &str) -> SpfOutcome {
    let Some(identity) = identity(helo, mail_from) else {
        return SpfOutcome { result: SpfResult::None, domain: String::new(), explanation: None };
    };
    let evaluation = eval::Evaluation::new(resolver, &identity, ip.to_canonical(), helo);
    let (result, explanation) =
        tokio::time::timeout(resolver.deadline, evaluation.run()).await.unwrap_or((SpfResult::TempError, None));
    SpfOutcome { result, domain: identity.domain, explanation }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn only_pass_passes() {
        use SpfResult::*;
        assert!(Pass.passes());
        for result in [Fail, SoftFail, Neutral, None, TempError, PermError] {
            assert!(!result.passes(), "{result}");
        }
    }

    #[test]
    fn results_have_their_rfc_names() {
        let names: Vec<_> = [
            SpfResult::Pass,
            SpfResult::Fail,
            SpfResult::SoftFail,
            SpfResult::Neutral,
            SpfResult::None,
            SpfResult::TempError,
            SpfResult::PermError,
        ]
        .iter()
        .map(|r| r.to_string())
        .collect();
        assert_eq!(names, ["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]);
    }

    /// A resolver whose name server never answers: any lookup ends in a temperror.
    fn silent_resolver(deadline: Duration) -> (UdpSocket, SpfResolver) {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let resolver = SpfResolver::new(&[silent.local_addr().unwrap()], Duration::from_secs(5)).unwrap();
        (silent, resolver.with_deadline(deadline))
    }

    #[tokio::test]
    async fn malformed_identity_is_none_without_dns() {
        let (_server, resolver) = silent_resolver(Duration::from_secs(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(check(&resolver, ip, "[192.0.2.1]", "").await, SpfResult::None);
        assert_eq!(check(&resolver, ip, "mx.example.net", "a@b..example").await, SpfResult::None);
        assert_eq!(check(&resolver, ip, "localhost", "").await, SpfResult::None);
    }

    #[tokio::test]
    async fn silent_dns_is_a_temperror_within_the_deadline() {
        let deadline = Duration::from_millis(300);
        let (_server, resolver) = silent_resolver(deadline);
        let started = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let outcome = evaluate(&resolver, ip, "mx.example.net", "a@example.com").await;
        assert_eq!(outcome.result, SpfResult::TempError);
        assert_eq!(outcome.domain, "example.com");
        assert!(started.elapsed() < deadline * 3, "took {:?}", started.elapsed());
    }
}
