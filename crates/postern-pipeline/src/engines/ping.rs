//! Each engine's cheapest question, for the health check: Rspamd's `GET /ping` (`pong`),
//! spamd's `PING SPAMC/1.5` (`SPAMD/1.x 0 PONG`), clamd's `zPING` (`PONG`).
//!
//! In: the engine's address and a time bound. Out: `Ok(())` when the engine answered as
//! it should, or a short reason (no address in it: the health answer is public). Defends
//! against: a peer that never answers (the bound covers connect, send and the reply) and
//! one that answers without end (at most [`MAX_REPLY`] octets are read).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// A pong is a few dozen octets; an HTTP reply's headers a few hundred.
const MAX_REPLY: usize = 4096;

/// Rspamd's controller-free ping on the normal worker.
pub(crate) async fn rspamd(address: &str, timeout: Duration) -> Result<(), String> {
    let request = format!("GET /ping HTTP/1.0\r\nHost: {address}\r\n\r\n");
    let reply = ask(address, timeout, request.as_bytes(), b"pong").await?;
    let ok = reply.starts_with(b"HTTP/1.") && reply.get(9..12) == Some(b"200");
    if ok { Ok(()) } else { Err("unexpected reply to /ping".into()) }
}

/// spamd's `PING`.
pub(crate) async fn spamd(address: &str, timeout: Duration) -> Result<(), String> {
    let reply = ask(address, timeout, b"PING SPAMC/1.5\r\n\r\n", b"PONG").await?;
    let ok = reply.starts_with(b"SPAMD/1.") && memchr::memmem::find(&reply, b" 0 PONG").is_some();
    if ok { Ok(()) } else { Err("unexpected reply to PING".into()) }
}

/// clamd's `zPING` (NUL-terminated both ways), over TCP or its Unix socket.
pub(crate) async fn clamd(address: &str, timeout: Duration) -> Result<(), String> {
    let reply = ask(address, timeout, b"zPING\0", b"\0").await?;
    if reply.starts_with(b"PONG") { Ok(()) } else { Err("unexpected reply to PING".into()) }
}

/// Sends `request` and reads until the reply holds `until`, the peer closes, or
/// [`MAX_REPLY`] octets came, all within `timeout`.
async fn ask(address: &str, timeout: Duration, request: &[u8], until: &[u8]) -> Result<Vec<u8>, String> {
    let talk = async {
        let connect = |e: std::io::Error| format!("cannot connect: {}", e.kind());
        if address.starts_with('/') {
            exchange(UnixStream::connect(address).await.map_err(connect)?, request, until).await
        } else {
            exchange(TcpStream::connect(address).await.map_err(connect)?, request, until).await
        }
    };
    match tokio::time::timeout(timeout, talk).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    until: &[u8],
) -> Result<Vec<u8>, String> {
    stream.write_all(request).await.map_err(|e| format!("cannot send: {}", e.kind()))?;
    stream.flush().await.map_err(|e| format!("cannot send: {}", e.kind()))?;
    let mut reply = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("cannot read the reply: {}", e.kind()))?;
        if n == 0 {
            return if reply.is_empty() { Err("closed without a reply".into()) } else { Ok(reply) };
        }
        reply.extend_from_slice(&buf[..n.min(MAX_REPLY - reply.len())]);
        if memchr::memmem::find(&reply, until).is_some() || reply.len() >= MAX_REPLY {
            return Ok(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// A one-connection server that reads the request, then answers `reply`.
    async fn answering(reply: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply).await;
        });
        address
    }

    #[tokio::test]
    async fn each_engine_s_pong_is_understood() {
        let a = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npong\r\n").await;
        assert_eq!(rspamd(&a, Duration::from_secs(2)).await, Ok(()));
        let a = answering(b"SPAMD/1.5 0 PONG\r\n").await;
        assert_eq!(spamd(&a, Duration::from_secs(2)).await, Ok(()));
        let a = answering(b"PONG\0").await;
        assert_eq!(clamd(&a, Duration::from_secs(2)).await, Ok(()));
    }

    #[tokio::test]
    async fn anything_else_is_a_failure_without_the_address() {
        let a = answering(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\npong").await;
        assert_eq!(rspamd(&a, Duration::from_secs(2)).await, Err("unexpected reply to /ping".into()));
        let a = answering(b"SPAMD/1.0 76 Bad header line\r\n").await;
        assert!(spamd(&a, Duration::from_secs(2)).await.is_err());
        let a = answering(b"").await;
        assert_eq!(clamd(&a, Duration::from_secs(2)).await, Err("closed without a reply".into()));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap().to_string();
        drop(closed);
        let err = clamd(&address, Duration::from_secs(2)).await.unwrap_err();
        assert!(err.starts_with("cannot connect") && !err.contains("127.0.0.1"), "{err}");
    }

    #[tokio::test]
    async fn silence_is_bounded_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let err = spamd(&address, Duration::from_millis(200)).await.unwrap_err();
        assert_eq!(err, "no answer within 200 ms");
    }
}
