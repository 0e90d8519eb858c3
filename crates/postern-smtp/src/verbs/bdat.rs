//! BDAT (RFC 3030 CHUNKING). The chunk is always read, even when refused, so that the
//! session stays in step with the client; nothing beyond the size limit is stored, and
//! nothing beyond the memory budget of messages in flight (`budget.rs`: the rest of the
//! chunk is read and discarded, then `452 4.3.1`). The assembled message must use CRLF
//! line ends: a message with a bare CR or LF would become a smuggling vector when we relay
//! it with DATA. Every read waits at most `data_timeout`, the whole transfer (first chunk
//! to LAST) at most `max_data_time` (`421 4.4.2`). A session marked for unauthorized pipelining is refused
//! (`503 5.5.0`), its chunks read and dropped.

use postern_core::{Reply, Stage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::budget::MessageBuffer;
use crate::dotstuff::{DataEnd, find_bare_line_end};
use crate::io::SmtpStream;
use crate::session::{Session, Step};

/// A message arriving in BDAT chunks.
pub(crate) struct BdatTransfer {
    /// `None` once the memory budget ran out (the transfer is then refused).
    buffer: Option<MessageBuffer>,
    /// The end of `limits.max_data_time`, counted from the first chunk.
    deadline: Instant,
}

/// How reading one chunk ended.
enum Chunk {
    Read,
    Lost,
    TimedOut,
}

impl Session {
    pub(crate) async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        size: u64,
        last: bool,
    ) -> Step {
        let limits = self.listener.limits.clone();
        let (refusal, fits) = self.bdat_admission(size).await;
        let memory = std::sync::Arc::clone(&self.services.memory);
        let transfer = match (&mut self.tx, &refusal) {
            (Some(tx), None) => Some(tx.bdat.get_or_insert_with(|| BdatTransfer {
                buffer: Some(MessageBuffer::new(&memory)),
                deadline: Instant::now() + limits.max_data_time,
            })),
            _ => None,
        };
        let deadline = transfer.as_ref().map_or(Instant::now() + limits.max_data_time, |t| t.deadline);
        let mut nothing = None;
        let keep = match transfer {
            Some(t) if fits => &mut t.buffer,
            _ => &mut nothing,
        };
        let cap = usize::try_from(limits.max_message_size).unwrap_or(usize::MAX);
        match read_chunk(stream, size, keep, cap, limits.data_timeout, deadline).await {
            Chunk::Read => {}
            Chunk::Lost => {
                self.tx = None;
                return Step::Close("lost connection in BDAT");
            }
            Chunk::TimedOut => return self.data_timed_out(stream, Stage::Bdat).await,
        }
        if let Some(reply) = refusal {
            self.respond(stream, reply);
            return Step::Continue;
        }
        if !fits {
            let reply = Reply::new(552, "5.3.4", "Error: message file too big");
            return self.refuse_message(stream, Stage::Bdat, reply, "BDAT chunks exceed the message size limit").await;
        }
        let buffer = self.tx.as_mut().and_then(|tx| tx.bdat.as_mut()).and_then(|t| t.buffer.take());
        let Some(buffer) = buffer else {
            let reason = super::data::budget_reason(self);
            return self.refuse_message(stream, Stage::Bdat, self.out_of_memory_budget(), &reason).await;
        };
        if !last {
            if let Some(t) = self.tx.as_mut().and_then(|tx| tx.bdat.as_mut()) {
                t.buffer = Some(buffer);
            }
            self.respond(stream, Reply::new(250, "2.0.0", format!("Ok: {size} octets received")));
            return Step::Continue;
        }
        let (body, grant) = buffer.into_parts();
        self.last_chunk(stream, body).await;
        drop(grant);
        Step::Continue
    }

    /// Whether this chunk may be taken (`None`) and whether it fits the size limit.
    async fn bdat_admission(&mut self, size: u64) -> (Option<Reply>, bool) {
        let (refusal, fits) = match &self.tx {
            None => (Some(Reply::new(503, "5.5.1", "Error: need MAIL command")), false),
            Some(tx) if tx.recipients.is_empty() => (Some(Reply::new(503, "5.5.1", "Error: need RCPT command")), false),
            Some(tx) => {
                let have = tx.bdat.as_ref().and_then(|t| t.buffer.as_ref()).map_or(0, |b| b.len() as u64);
                (None, have.saturating_add(size) <= self.listener.limits.max_message_size)
            }
        };
        match refusal {
            None => match self.data_protocol_checks("BDAT").await {
                Some(reply) => (Some(reply), false),
                None => (None, fits),
            },
            refusal => (refusal, fits),
        }
    }

    /// BDAT LAST: the line-end check, then the end of message.
    async fn last_chunk<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>, body: Vec<u8>) {
        if let Some(bad) = find_bare_line_end(&body) {
            let what = if bad == DataEnd::BareLf { "<LF>" } else { "<CR>" };
            let reply = Reply::new(550, "5.6.0", format!("Error: bare {what} received"));
            self.refuse_message(stream, Stage::Bdat, reply, &format!("bare {what} in BDAT message")).await;
            return;
        }
        let reply = self.end_of_message(body).await;
        self.respond(stream, reply);
    }
}

/// Reads exactly `size` octets, keeping them in `keep` while the memory budget allows; when
/// it cannot, `keep` becomes `None` at once (its budget given back) and the rest is read
/// and dropped.
async fn read_chunk<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut SmtpStream<S>,
    size: u64,
    keep: &mut Option<MessageBuffer>,
    cap: usize,
    per_read: std::time::Duration,
    deadline: Instant,
) -> Chunk {
    let mut left = size;
    while left > 0 {
        if stream.buffered().is_empty() {
            match stream.fill_within(per_read, deadline).await {
                Ok(Some(0)) | Err(_) => return Chunk::Lost,
                Ok(Some(_)) => {}
                Ok(None) => return Chunk::TimedOut,
            }
        }
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(stream.buffered().len());
        if let Some(buffer) = keep {
            if buffer.reserve(take, cap) {
                buffer.extend(&stream.buffered()[..take]);
            } else {
                *keep = None;
            }
        }
        stream.consume(take);
        left -= take as u64;
    }
    Chunk::Read
}
