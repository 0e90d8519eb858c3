//! Buffered SMTP I/O over any `AsyncRead + AsyncWrite` stream.
//!
//! In: bytes from the client. Out: command lines, and raw DATA and BDAT bytes for the
//! session to decode or take; replies go into an output buffer that is flushed before we
//! wait for input (RFC 2920: a pipelining client gets its replies in one write, and we
//! never block on a read with replies unsent). Defends against: over-long lines (discarded
//! while read, never buffered whole), bare LF line ends on commands, unbounded buffering,
//! and idle connections that each hold a large buffer (reads start small and grow).

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use postern_core::Reply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// The most one read asks for.
const READ_CHUNK: usize = 16 * 1024;
/// What a new connection's read buffer starts with: an idle connection (most of them, under
/// a flood of idle clients) holds 1 KiB, not 16 (10,000 idle connections: 190 MB of RSS
/// with 16 KiB buffers). Reads that fill the buffer double it, up to [`READ_CHUNK`].
const FIRST_READ: usize = 1024;

/// One command line, or why there is none.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line without its CRLF.
    Text(Vec<u8>),
    /// Longer than the limit; consumed through its end and discarded.
    TooLong,
    /// Ended by LF without CR; consumed and discarded.
    BareLf,
    /// The client closed the connection.
    Eof,
}

pub struct SmtpStream<S> {
    inner: S,
    /// Unread input is `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SmtpStream<S> {
    pub fn new(inner: S) -> SmtpStream<S> {
        SmtpStream { inner, buf: Vec::with_capacity(FIRST_READ), pos: 0, out: Vec::new() }
    }

    /// Input received but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more input after flushing pending replies. Returns 0 at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.flush().await?;
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let room = self.buf.capacity().clamp(FIRST_READ, READ_CHUNK);
        self.buf.reserve(room);
        let n = self.inner.read_buf(&mut self.buf).await?;
        if n >= room && self.buf.capacity() < READ_CHUNK {
            // A full read: more is coming (DATA, pipelining); read more at a time.
            self.buf.reserve(self.buf.capacity().min(READ_CHUNK));
        }
        Ok(n)
    }

    /// [`fill`](Self::fill) bounded twice: `per_read` for this read, and `deadline` for
    /// the whole phase it belongs to (DATA, a BDAT transfer). `Ok(None)`: out of time.
    pub async fn fill_within(&mut self, per_read: Duration, deadline: Instant) -> io::Result<Option<usize>> {
        let until = (Instant::now() + per_read).min(deadline);
        match tokio::time::timeout_at(until, self.fill()).await {
            Ok(read) => read.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Whether input is waiting: already buffered, or readable from the stream at once.
    /// Never waits (one poll); what it reads stays buffered for the next read. Read errors
    /// are left for that read to find.
    pub async fn input_pending(&mut self) -> bool {
        if !self.buffered().is_empty() {
            return true;
        }
        let mut chunk = [0u8; 1024];
        let inner = &mut self.inner;
        let n = std::future::poll_fn(|cx| {
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut *inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => Poll::Ready(read.filled().len()),
                Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(0),
            }
        })
        .await;
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads one CRLF-terminated line of at most `max` octets (CRLF excluded).
    pub async fn read_line(&mut self, max: usize) -> io::Result<Line> {
        let mut skipping = false;
        loop {
            if let Some(i) = memchr::memchr(b'\n', self.buffered()) {
                let line = &self.buffered()[..i];
                let result = if skipping || i > max + 1 {
                    Line::TooLong
                } else if line.last() == Some(&b'\r') {
                    Line::Text(line[..i - 1].to_vec())
                } else {
                    Line::BareLf
                };
                self.consume(i + 1);
                return Ok(result);
            }
            if self.buffered().len() > max + 1 {
                skipping = true;
                let n = self.buffered().len();
                self.consume(n);
            }
            if self.fill().await? == 0 {
                return Ok(Line::Eof);
            }
        }
    }

    /// Queues a reply; it is written at the next [`flush`](Self::flush) or read.
    pub fn send(&mut self, reply: &Reply) {
        self.out.extend_from_slice(reply.render().as_bytes());
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.inner.write_all(&self.out).await?;
            self.out.clear();
        }
        self.inner.flush().await
    }

    /// Drops unread input (pipelined after STARTTLS: must never be read as if encrypted).
    pub fn discard_buffered(&mut self) -> usize {
        let n = self.buffered().len();
        self.consume(n);
        n
    }

    /// Flushes, then closes our side and reads what the client still sends for a moment,
    /// so that our last reply is not lost to a TCP reset.
    pub async fn linger_close(&mut self) {
        let _ = self.flush().await;
        let _ = self.inner.shutdown().await;
        let mut sink = [0u8; 4096];
        let drain = async {
            let mut total = 0usize;
            while total < 1 << 20 {
                match self.inner.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
    }

    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.inner.shutdown().await;
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_bounded_and_strict() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut s = SmtpStream::new(server);
        client.write_all(b"EHLO a\r\nNOOP\nxxxxxxxxxxxxxxxxxxxx\r\nQUIT\r\n").await.unwrap();
        drop(client);
        assert_eq!(s.read_line(10).await.unwrap(), Line::Text(b"EHLO a".to_vec()));
        assert_eq!(s.read_line(10).await.unwrap(), Line::BareLf);
        assert_eq!(s.read_line(10).await.unwrap(), Line::TooLong);
        assert_eq!(s.read_line(10).await.unwrap(), Line::Text(b"QUIT".to_vec()));
        assert_eq!(s.read_line(10).await.unwrap(), Line::Eof);
    }

    #[tokio::test]
    async fn pending_input_is_seen_without_waiting_and_kept() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut s = SmtpStream::new(server);
        assert!(!s.input_pending().await);
        client.write_all(b"EHLO a\r\nMAIL").await.unwrap();
        assert!(s.input_pending().await);
        assert_eq!(s.read_line(100).await.unwrap(), Line::Text(b"EHLO a".to_vec()));
        assert!(s.input_pending().await);
        client.write_all(b" FROM:<>\r\n").await.unwrap();
        assert_eq!(s.read_line(100).await.unwrap(), Line::Text(b"MAIL FROM:<>".to_vec()));
        assert!(!s.input_pending().await);
    }

    #[tokio::test]
    async fn the_read_buffer_starts_small_and_grows_with_full_reads() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut s = SmtpStream::new(server);
        client.write_all(b"EHLO a\r\n").await.unwrap();
        assert_eq!(s.read_line(100).await.unwrap(), Line::Text(b"EHLO a".to_vec()));
        assert!(s.buf.capacity() <= FIRST_READ, "an idle session holds {}", s.buf.capacity());
        client.write_all(&[b'x'; 60_000]).await.unwrap();
        let mut got = 0;
        while got < 60_000 {
            got += s.fill().await.unwrap();
            let n = s.buffered().len();
            s.consume(n);
        }
        assert!(s.buf.capacity() >= READ_CHUNK, "bulk input reads {} at a time", s.buf.capacity());
    }

    #[tokio::test]
    async fn huge_line_is_never_buffered_whole() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut s = SmtpStream::new(server);
        let writer = tokio::spawn(async move {
            let chunk = vec![b'a'; 65536];
            for _ in 0..64 {
                client.write_all(&chunk).await.unwrap();
            }
            client.write_all(b"\r\nNOOP\r\n").await.unwrap();
        });
        assert_eq!(s.read_line(2048).await.unwrap(), Line::TooLong);
        assert!(s.buf.capacity() < 1 << 20, "buffer grew to {}", s.buf.capacity());
        assert_eq!(s.read_line(2048).await.unwrap(), Line::Text(b"NOOP".to_vec()));
        writer.await.unwrap();
    }
}
