//! The HTTP side of RDAP: one bounded `GET` (blocking: run it on a blocking thread).
//!
//! In: a query URL and a time limit. Out: [`Fetched`]: the reply body of a `200`, "not
//! found" for a `404`, or a failure in words. Defends against: slow servers (one time limit
//! for the whole lookup, redirects included), big replies (at most
//! [`MAX_REPLY`](super::rdap::MAX_REPLY) bytes, 64 KiB of headers), redirect loops (at most
//! [`MAX_REDIRECTS`]), a redirect from `https` to plain `http` (refused, except to a
//! loopback address), schemes other than `http` and `https`, and proxies from the
//! environment (none is used). TLS: rustls with the ring provider and the system's roots,
//! as delivery uses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::rdap::MAX_REPLY;

/// RDAP servers redirect (RFC 7480 §5.2); more than this many hops is a failure.
pub const MAX_REDIRECTS: usize = 3;

/// What one lookup brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Body(Vec<u8>),
    NotFound,
    Failed(String),
}

/// One HTTP agent for every lookup (it keeps connections for reuse).
pub struct RdapClient {
    agent: ureq::Agent,
}

impl Default for RdapClient {
    fn default() -> RdapClient {
        RdapClient::new()
    }
}

impl RdapClient {
    /// Loads the system's root certificates once. Without any, `https` lookups fail
    /// (and a failure never blocks a message).
    pub fn new() -> RdapClient {
        let roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("postern/", env!("CARGO_PKG_VERSION"), " (domain age)"))
            .accept("application/rdap+json, application/json;q=0.9")
            .max_response_header_size(64 * 1024)
            .max_idle_connections(16)
            .build()
            .new_agent();
        RdapClient { agent }
    }

    /// `GET url`, following at most [`MAX_REDIRECTS`] redirects, all within `timeout`.
    /// Blocking.
    pub fn fetch(&self, url: &str, timeout: Duration) -> Fetched {
        let deadline = Instant::now() + timeout;
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Fetched::Failed(format!("no answer within {} ms", timeout.as_millis()));
            }
            let reply = self.agent.get(&url).config().timeout_global(Some(remaining)).build().call();
            let mut reply = match reply {
                Ok(reply) => reply,
                Err(ureq::Error::Timeout(_)) => {
                    return Fetched::Failed(format!("no answer within {} ms", timeout.as_millis()));
                }
                Err(e) => return Fetched::Failed(format!("{}: {e}", host_of(&url))),
            };
            match reply.status().as_u16() {
                200 => {
                    return match reply.body_mut().with_config().limit(MAX_REPLY).read_to_vec() {
                        Ok(body) => Fetched::Body(body),
                        Err(ureq::Error::BodyExceedsLimit(_)) => {
                            Fetched::Failed(format!("reply larger than {} KiB", MAX_REPLY / 1024))
                        }
                        Err(ureq::Error::Timeout(_)) => {
                            Fetched::Failed(format!("no answer within {} ms", timeout.as_millis()))
                        }
                        Err(e) => Fetched::Failed(format!("reading the reply: {e}")),
                    };
                }
                404 => return Fetched::NotFound,
                301 | 302 | 303 | 307 | 308 => {
                    let location = reply.headers().get("location").and_then(|v| v.to_str().ok());
                    let Some(location) = location else {
                        return Fetched::Failed("a redirect without a Location".into());
                    };
                    match redirect(&url, location) {
                        Ok(next) => url = next,
                        Err(why) => return Fetched::Failed(why),
                    }
                }
                status => return Fetched::Failed(format!("HTTP {status} from {}", host_of(&url))),
            }
        }
        Fetched::Failed(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

/// Where a redirect from `from` to `location` goes: an absolute `http(s)` URL or an
/// absolute path on the same server. `https` never goes down to `http`, except to a
/// loopback address.
pub fn redirect(from: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    if location.len() > 2048 || location.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an unusable redirect".into());
    }
    let next = if location.starts_with('/') && !location.starts_with("//") {
        let (scheme, rest) = from.split_once("://").ok_or("an unusable redirect")?;
        let authority = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{authority}{location}")
    } else {
        location.to_string()
    };
    let scheme = next.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => Ok(next),
        Some("http") if !from.to_ascii_lowercase().starts_with("https:") || is_loopback(&next) => Ok(next),
        Some("http") => Err(format!("a redirect from https down to http ({})", host_of(&next))),
        _ => Err("a redirect to something other than http or https".into()),
    }
}

/// The host of an `http(s)` URL, for messages and the loopback check.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(url: &str) -> bool {
    let host = host_of(url);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_resolved_and_never_go_down_to_http() {
        let from = "https://rdap.example/v1/domain/a.test";
        assert_eq!(
            redirect(from, "https://other.example/rdap/domain/a.test").unwrap(),
            "https://other.example/rdap/domain/a.test"
        );
        assert_eq!(redirect(from, "/v2/domain/a.test").unwrap(), "https://rdap.example/v2/domain/a.test");
        assert_eq!(redirect("http://127.0.0.1:8080/x", "/y").unwrap(), "http://127.0.0.1:8080/y");
        assert!(redirect(from, "http://rdap.example/v1/domain/a.test").unwrap_err().contains("down to http"));
        assert!(redirect(from, "HTTP://rdap.example/").is_err());
        assert_eq!(redirect(from, "http://127.0.0.1:9/x").unwrap(), "http://127.0.0.1:9/x", "loopback");
        assert_eq!(redirect(from, "http://[::1]:9/x").unwrap(), "http://[::1]:9/x");
        assert_eq!(redirect("http://a.example/", "http://b.example/").unwrap(), "http://b.example/");
        for bad in ["ftp://a.example/", "file:///etc/passwd", "//evil.example/x", "relative/path", "https://a b/", ""] {
            assert!(redirect(from, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of("https://user@rdap.example:8443/x?q"), "rdap.example");
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        assert_eq!(host_of("http://localhost"), "localhost");
        assert!(is_loopback("http://127.8.9.10/") && !is_loopback("http://127.example/"));
    }
}
