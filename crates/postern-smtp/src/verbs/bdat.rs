//! BDAT (RFC 3030 CHUNKING). The chunk is always read, even when refused, so that the
//! session stays in step with the client; nothing beyond the size limit is stored. The
//! assembled message must use CRLF line ends: a message with a bare CR or LF would become
//! a smuggling vector when we relay it with DATA. A session marked for unauthorized
//! pipelining is refused (`503 5.5.0`), its chunks read and dropped.

use postern_core::{Reply, Stage};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::dotstuff::{DataEnd, find_bare_line_end};
use crate::io::SmtpStream;
use crate::session::{Session, Step};

impl Session {
    pub(crate) async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        size: u64,
        last: bool,
    ) -> Step {
        let limits = self.listener.limits.clone();
        let (refusal, fits) = match &self.tx {
            None => (Some(Reply::new(503, "5.5.1", "Error: need MAIL command")), false),
            Some(tx) if tx.recipients.is_empty() => (Some(Reply::new(503, "5.5.1", "Error: need RCPT command")), false),
            Some(tx) => {
                let have = tx.bdat.as_ref().map_or(0, |b| b.len() as u64);
                (None, have.saturating_add(size) <= limits.max_message_size)
            }
        };
        let (refusal, fits) = match refusal {
            None => match self.data_protocol_checks("BDAT").await {
                Some(reply) => (Some(reply), false),
                None => (None, fits),
            },
            refusal => (refusal, fits),
        };
        let into = match (&mut self.tx, fits) {
            (Some(tx), true) => Some(tx.bdat.get_or_insert_with(Vec::new)),
            _ => None,
        };
        match tokio::time::timeout(limits.data_timeout, stream.read_chunk(size, into)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                self.tx = None;
                return Step::Close("lost connection in BDAT");
            }
            Err(_) => {
                self.tx = None;
                let reply = Reply::new(421, "4.4.2", format!("{} Error: timeout exceeded", self.listener.hostname));
                stream.send(&reply);
                stream.close().await;
                return Step::Close("timeout in BDAT");
            }
        }
        if let Some(reply) = refusal {
            self.respond(stream, reply);
            return Step::Continue;
        }
        if !fits {
            let reply = Reply::new(552, "5.3.4", "Error: message file too big");
            self.refused(Stage::Bdat, &reply, "BDAT chunks exceed the message size limit", None).await;
            self.tx = None;
            self.respond(stream, reply);
            return Step::Continue;
        }
        if !last {
            self.respond(stream, Reply::new(250, "2.0.0", format!("Ok: {size} octets received")));
            return Step::Continue;
        }
        let body = self.tx.as_mut().and_then(|tx| tx.bdat.take()).unwrap_or_default();
        if let Some(bad) = find_bare_line_end(&body) {
            let what = if bad == DataEnd::BareLf { "<LF>" } else { "<CR>" };
            let reply = Reply::new(550, "5.6.0", format!("Error: bare {what} received"));
            self.refused(Stage::Bdat, &reply, &format!("bare {what} in BDAT message"), None).await;
            self.tx = None;
            self.respond(stream, reply);
            return Step::Continue;
        }
        let reply = self.end_of_message(body).await;
        self.respond(stream, reply);
        Step::Continue
    }
}
