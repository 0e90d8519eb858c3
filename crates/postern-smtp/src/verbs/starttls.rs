//! STARTTLS (RFC 3207). Defends against command injection (CVE-2011-0411 class): input
//! pipelined after STARTTLS arrived in plaintext and is discarded, never read as if it had
//! come through TLS.

use postern_core::Reply;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::io::SmtpStream;
use crate::session::{Session, Step};

impl Session {
    pub(crate) async fn starttls<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>) -> Step {
        let refusal = if self.client.tls.is_some() {
            Some(Reply::new(554, "5.5.1", "Error: TLS already active"))
        } else if self.listener.tls.is_none() {
            Some(Reply::new(454, "4.7.0", "TLS not available due to local problem"))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.respond(stream, reply);
            return Step::Continue;
        }
        stream.send(&Reply::new(220, "2.0.0", "Ready to start TLS"));
        if stream.flush().await.is_err() {
            return Step::Close("connection error");
        }
        let dropped = stream.discard_buffered();
        if dropped > 0 {
            tracing::warn!(session = self.id, client = %self.client.ip, octets = dropped, "discarded plaintext pipelined after STARTTLS");
        }
        Step::StartTls
    }
}
