//! The real engines, each over its own protocol: the spam engines Rspamd (`rspamd.rs`,
//! HTTP `POST /checkv2`) and SpamAssassin's spamd (`spamd.rs`, `REPORT SPAMC/1.5`), and
//! the virus scanner ClamAV (`clamav.rs`, clamd's `zINSTREAM`, over TCP or a Unix socket).
//!
//! In: the message and its envelope ([`ScanInput`](crate::ScanInput)). Out: a
//! [`ScanResult`](crate::ScanResult). Every exchange is one connection bounded in time
//! (connect, send and reply together within the engine's `timeout`) and in size (a reply
//! larger than the cap is a failure, read no further). A reply that is garbled, truncated
//! or oversized is [`ScanResult::Failed`](crate::ScanResult::Failed), never clean.
//!
//! # Layout
//! - this file: [`EngineSettings`] and the bounded exchange both spam engines use;
//! - `http.rs`: the HTTP/1.1 reply Rspamd sends, parsed;
//! - `rspamd.rs`: [`RspamdScanner`]; `spamd.rs`: [`SpamdScanner`];
//! - `clamav.rs`: [`ClamavScanner`], with its own exchange (chunks out, a NUL-ended line back);
//! - `ping.rs`: each engine's ping, for the health check.

mod clamav;
mod http;
mod ping;
mod rspamd;
mod spamd;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use clamav::ClamavScanner;
pub use rspamd::{RspamdScanner, RspamdSettings};
pub use spamd::{SpamdScanner, SpamdSettings};

use crate::scanner::{OnFailure, ScanResult};

/// What every engine is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// `host:port` (ClamAV also takes the path of a Unix socket, starting with `/`).
    pub address: String,
    /// Connect, send and the whole reply, together.
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// Larger messages are not sent to the engine (trace result `skipped`).
    pub max_message_size: u64,
}

impl EngineSettings {
    /// `Skipped` for a message over `max_message_size` (it is not sent to the engine).
    pub(crate) fn skip_oversized(&self, message: &[u8]) -> Option<ScanResult> {
        (message.len() as u64 > self.max_message_size).then(|| ScanResult::Skipped {
            reason: format!("message larger than max_message_size ({} octets)", self.max_message_size),
        })
    }
}

/// A header value as the engines get it: control characters (CR, LF) would end the header
/// early, so each becomes a space.
pub(crate) fn header_value(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Sends `request` then `message` to `address` and reads the reply until the peer closes
/// or the reply is complete (its header block and the `Content-Length` body), at most
/// `max_reply` octets, all within `timeout`.
pub(crate) async fn exchange(
    address: &str,
    timeout: Duration,
    request: &[u8],
    message: &[u8],
    max_reply: usize,
) -> Result<Vec<u8>, String> {
    let talk = async {
        let mut stream = TcpStream::connect(address).await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream.write_all(request).await.map_err(|e| format!("cannot send to {address}: {e}"))?;
        stream.write_all(message).await.map_err(|e| format!("cannot send to {address}: {e}"))?;
        stream.flush().await.map_err(|e| format!("cannot send to {address}: {e}"))?;
        let mut reply = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|e| format!("cannot read the reply of {address}: {e}"))?;
            if n == 0 {
                return Ok(reply);
            }
            if reply.len() + n > max_reply {
                return Err(format!("the reply of {address} is larger than {max_reply} octets"));
            }
            reply.extend_from_slice(&chunk[..n]);
            if complete(&reply) {
                return Ok(reply);
            }
        }
    };
    match tokio::time::timeout(timeout, talk).await {
        Ok(result) => result,
        Err(_) => Err(format!("no complete reply from {address} within {} ms", timeout.as_millis())),
    }
}

/// Whether `reply` holds a header block and as many octets after it as its
/// `Content-Length` says (both protocols frame their replies so). Without that header the
/// reply ends when the peer closes.
fn complete(reply: &[u8]) -> bool {
    let Some((head, body_start)) = split_head(reply) else { return false };
    match content_length(head) {
        Some(Ok(len)) => reply.len() - body_start >= len,
        _ => false,
    }
}

/// The header block (without its blank line) and where the body starts.
pub(crate) fn split_head(reply: &[u8]) -> Option<(&[u8], usize)> {
    memchr::memmem::find(reply, b"\r\n\r\n").map(|at| (&reply[..at], at + 4))
}

/// The `Content-Length` header of a header block: `None` when absent, an error when it is
/// not a number (or appears twice with different values).
pub(crate) fn content_length(head: &[u8]) -> Option<Result<usize, String>> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if !line[..colon].eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let value = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
        let Ok(len) = value.parse::<usize>() else {
            return Some(Err(format!("bad Content-Length {value:?}")));
        };
        if found.is_some_and(|f| f != len) {
            return Some(Err("two different Content-Length headers".into()));
        }
        found = Some(len);
    }
    found.map(Ok)
}

/// At most `max` characters of `bytes`, printable, for an error message.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"));
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
        assert!(complete(b"SPAMD/1.1 0 EX_OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!complete(b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\n\r\n"), "no length: until close");
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"));
        assert_eq!(
            content_length(b"X\r\nContent-Length: 1\r\nContent-Length: 2"),
            Some(Err("two different Content-Length headers".into()))
        );
    }

    #[test]
    fn header_values_stay_one_line() {
        assert_eq!(header_value("a\r\nUser: evil"), "a  User: evil");
    }

    #[tokio::test]
    async fn oversized_reply_and_silence_fail() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            // First connection: an endless reply; second: reads and never answers.
            let (mut a, _) = listener.accept().await.unwrap();
            let _ = a.write_all(&vec![b'x'; 64 * 1024]).await;
            let (b, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(b);
        });
        let err = exchange(&address, Duration::from_secs(2), b"hi", b"", 1024).await.unwrap_err();
        assert!(err.contains("larger than 1024"), "{err}");
        let err = exchange(&address, Duration::from_millis(200), b"hi", b"", 1024).await.unwrap_err();
        assert!(err.contains("no complete reply"), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = exchange(&address, Duration::from_secs(2), b"hi", b"", 1024).await.unwrap_err();
        assert!(err.starts_with("cannot connect"), "{err}");
    }
}
