//! DATA: read the message through the dot decoder. A bare CR or LF ends the session with
//! `550 5.5.2` and a disconnect, so no smuggled second message is ever read as commands.
//! Too large: the rest is read and discarded, then `552 5.3.4`. Beyond the memory budget
//! of messages in flight (`budget.rs`): the rest is read and discarded, then `452 4.3.1`.
//! Every read waits at most `data_timeout`, and the whole phase after `354` at most
//! `max_data_time` (a client that drips bytes is cut off with `421 4.4.2`). A session marked for
//! unauthorized pipelining is refused here (`503 5.5.0`, `protection/pacing.rs`).

use postern_core::{Reply, Stage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::budget::MessageBuffer;
use crate::dotstuff::{DataEnd, DotDecoder};
use crate::io::SmtpStream;
use crate::session::{Session, Step};

/// How receiving the message ended.
enum Received {
    /// The end of data was seen; `None` when the memory budget ran out on the way.
    Message(Option<MessageBuffer>, DotDecoder),
    /// The session must close; the client was answered.
    Closed(Step),
}

impl Session {
    pub(crate) async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>) -> Step {
        let refusal = match &self.tx {
            None => Some(Reply::new(503, "5.5.1", "Error: need MAIL command")),
            Some(tx) if tx.recipients.is_empty() => Some(Reply::new(503, "5.5.1", "Error: need RCPT command")),
            Some(tx) if tx.bdat.is_some() => Some(Reply::new(503, "5.5.1", "Error: DATA after BDAT")),
            Some(_) => None,
        };
        let refusal = match refusal {
            None => self.data_protocol_checks("DATA").await,
            refusal => refusal,
        };
        if let Some(reply) = refusal {
            self.respond(stream, reply);
            return Step::Continue;
        }
        stream.send(&Reply::plain(354, "End data with <CR><LF>.<CR><LF>"));

        let (body, decoder) = match self.receive_data(stream).await {
            Received::Message(body, decoder) => (body, decoder),
            Received::Closed(step) => return step,
        };
        if decoder.over_limit() {
            let reply = Reply::new(552, "5.3.4", "Error: message file too big");
            let reason = format!("message of {} octets exceeds the size limit", decoder.size());
            return self.refuse_message(stream, Stage::Data, reply, &reason).await;
        }
        let Some(body) = body else {
            return self.refuse_message(stream, Stage::Data, self.out_of_memory_budget(), &budget_reason(self)).await;
        };
        let (body, grant) = body.into_parts();
        let reply = self.end_of_message(body).await;
        drop(grant);
        self.respond(stream, reply);
        Step::Continue
    }

    /// Reads to the end of data, keeping what the size limit and the memory budget allow.
    async fn receive_data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>) -> Received {
        let limits = self.listener.limits.clone();
        let deadline = Instant::now() + limits.max_data_time;
        let cap = usize::try_from(limits.max_message_size).unwrap_or(usize::MAX);
        let mut decoder = DotDecoder::new(limits.max_message_size);
        let mut body = Some(MessageBuffer::new(&self.services.memory));
        // Where decoded bytes go once the budget is spent: found the end of, then dropped.
        let mut discard = Vec::new();
        loop {
            let room = stream.buffered().len().min(cap.saturating_sub(body.as_ref().map_or(0, MessageBuffer::len)));
            if let Some(b) = &mut body
                && !b.reserve(room, cap)
            {
                // Given back at once, so that other sessions can finish their messages.
                body = None;
            }
            discard.clear();
            let out = match &mut body {
                Some(b) => b.vec_mut(),
                None => &mut discard,
            };
            let (used, end) = decoder.decode(stream.buffered(), out);
            stream.consume(used);
            match end {
                Some(DataEnd::Complete) => return Received::Message(body, decoder),
                Some(bad) => return Received::Closed(self.bare_line_end(stream, bad).await),
                None => {}
            }
            match stream.fill_within(limits.data_timeout, deadline).await {
                Ok(Some(0)) | Err(_) => {
                    self.tx = None;
                    return Received::Closed(Step::Close("lost connection in DATA"));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Received::Closed(self.data_timed_out(stream, Stage::Data).await),
            }
        }
    }

    async fn bare_line_end<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        bad: DataEnd,
    ) -> Step {
        let what = if bad == DataEnd::BareLf { "<LF>" } else { "<CR>" };
        let reply = Reply::new(550, "5.5.2", format!("Error: bare {what} received"));
        let reason = format!("bare {what} in DATA (SMTP smuggling protection)");
        self.refused(Stage::Data, &reply, &reason, None).await;
        self.tx = None;
        stream.send(&reply);
        stream.linger_close().await;
        Step::Close("bare line ending in DATA")
    }

    /// Out of time inside DATA or a BDAT transfer: `421 4.4.2` and close, as Postfix does.
    pub(crate) async fn data_timed_out<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        stage: Stage,
    ) -> Step {
        let reply = Reply::new(421, "4.4.2", format!("{} Error: timeout exceeded", self.listener.hostname));
        let what = if stage == Stage::Data { "DATA" } else { "BDAT" };
        let reason = format!(
            "timeout while receiving {what} (limits.data_timeout {} s per read, limits.max_data_time {} s in all)",
            self.listener.limits.data_timeout.as_secs(),
            self.listener.limits.max_data_time.as_secs()
        );
        self.refused(stage, &reply, &reason, None).await;
        self.tx = None;
        stream.send(&reply);
        stream.close().await;
        Step::Close(if stage == Stage::Data { "timeout in DATA" } else { "timeout in BDAT" })
    }

    /// The reply when the memory budget of messages in flight is spent.
    pub(crate) fn out_of_memory_budget(&self) -> Reply {
        Reply::new(452, "4.3.1", "Error: insufficient system storage, try again later")
    }

    /// Ends the transaction with a refusal of the whole message, recorded as an event.
    pub(crate) async fn refuse_message<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        stage: Stage,
        reply: Reply,
        reason: &str,
    ) -> Step {
        self.refused(stage, &reply, reason, None).await;
        self.tx = None;
        self.respond(stream, reply);
        Step::Continue
    }
}

/// Why a message was refused for the memory budget (in the `refused` event).
pub(crate) fn budget_reason(session: &Session) -> String {
    let budget = &session.services.memory;
    format!(
        "memory budget for messages in flight spent (limits.max_data_in_flight {} octets, {} in use)",
        budget.limit(),
        budget.in_use()
    )
}
