//! Who may read `/metrics`: [`check`], the decision for one request under the `[metrics]`
//! section ([`MetricsConfig`]: its `allow` networks and its `token`).
//!
//! In: the peer's address (when known) and the request's `Authorization` header. Out:
//! [`Access`]. A request passes when its peer is in `allow` or when it carries the right
//! bearer token. Defends against: guessing the token by timing (both sides are hashed and
//! the digests compared in constant time), an IPv4 peer seen as an IPv4-mapped IPv6 address
//! (compared as IPv4), and a missing peer address (only the token can let it in).

use std::net::IpAddr;

use postern_config::MetricsConfig;
use sha2::{Digest, Sha256};

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Granted,
    /// A token was given and it is not the right one (HTTP 401).
    BadToken,
    /// The peer is not allowed and gave no token (HTTP 403).
    NotAllowed,
}

/// The decision for one request under `config`. `peer`: the connection's remote address;
/// `authorization`: the header's value.
pub fn check(config: &MetricsConfig, peer: Option<IpAddr>, authorization: Option<&str>) -> Access {
    if peer.is_some_and(|ip| allows(config, ip)) {
        return Access::Granted;
    }
    let Some(given) = authorization.map(bearer) else { return Access::NotAllowed };
    match (&config.token, given) {
        (Some(token), Some(given)) if same(token, given) => Access::Granted,
        _ => Access::BadToken,
    }
}

fn allows(config: &MetricsConfig, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    config.allow.iter().any(|net| net.contains(&ip))
}

/// The token of `Bearer <token>` (the scheme in any case); `None` for any other scheme.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Equal, in a time that does not depend on where the two differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn loopback_needs_no_token_by_default() {
        let access = MetricsConfig::default();
        assert_eq!(check(&access, ip("127.0.0.1"), None), Access::Granted);
        assert_eq!(check(&access, ip("::1"), None), Access::Granted);
        assert_eq!(check(&access, ip("::ffff:127.0.0.1"), None), Access::Granted, "IPv4-mapped");
        assert_eq!(check(&access, ip("192.0.2.1"), None), Access::NotAllowed);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Bearer anything")), Access::BadToken, "no token set");
    }

    #[test]
    fn the_token_lets_anyone_in_and_only_the_right_one() {
        let access = MetricsConfig { token: Some("s3cret-metrics-token".into()), allow: vec![] };
        assert_eq!(check(&access, ip("127.0.0.1"), None), Access::NotAllowed);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Bearer s3cret-metrics-token")), Access::Granted);
        assert_eq!(check(&access, None, Some("bearer  s3cret-metrics-token ")), Access::Granted);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Bearer s3cret-metrics-tokeN")), Access::BadToken);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Bearer s3cret")), Access::BadToken);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Basic czNjcmV0")), Access::BadToken);
        assert_eq!(check(&access, ip("192.0.2.1"), Some("Bearer")), Access::BadToken);
        assert_eq!(check(&access, None, None), Access::NotAllowed);
    }

    #[test]
    fn allowed_networks_are_matched_by_prefix() {
        let access = MetricsConfig { token: None, allow: vec!["10.1.0.0/16".parse().unwrap()] };
        assert_eq!(check(&access, ip("10.1.200.3"), None), Access::Granted);
        assert_eq!(check(&access, ip("10.2.0.1"), None), Access::NotAllowed);
        assert_eq!(check(&access, ip("127.0.0.1"), None), Access::NotAllowed, "loopback is not implied");
    }
}
