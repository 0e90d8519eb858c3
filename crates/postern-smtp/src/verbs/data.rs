//! DATA: read the message through the dot decoder. A bare CR or LF ends the session with
//! `550 5.5.2` and a disconnect, so no smuggled second message is ever read as commands.
//! Too large: the rest is read and discarded, then `552 5.3.4`. A session marked for
//! unauthorized pipelining is refused here (`503 5.5.0`, `protection/pacing.rs`).

use postern_core::{Reply, Stage};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::dotstuff::{DataEnd, DotDecoder};
use crate::io::SmtpStream;
use crate::session::{Session, Step};

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

        let limits = self.listener.limits.clone();
        let mut decoder = DotDecoder::new(limits.max_message_size);
        let mut body = Vec::with_capacity(64 * 1024);
        loop {
            let (used, end) = decoder.decode(stream.buffered(), &mut body);
            stream.consume(used);
            match end {
                Some(DataEnd::Complete) => break,
                Some(bad) => {
                    let what = if bad == DataEnd::BareLf { "<LF>" } else { "<CR>" };
                    let reply = Reply::new(550, "5.5.2", format!("Error: bare {what} received"));
                    self.refused(
                        Stage::Data,
                        &reply,
                        &format!("bare {what} in DATA (SMTP smuggling protection)"),
                        None,
                    )
                    .await;
                    self.tx = None;
                    stream.send(&reply);
                    stream.linger_close().await;
                    return Step::Close("bare line ending in DATA");
                }
                None => {}
            }
            match tokio::time::timeout(limits.data_timeout, stream.fill()).await {
                Err(_) => {
                    let reply = Reply::new(421, "4.4.2", format!("{} Error: timeout exceeded", self.listener.hostname));
                    self.refused(Stage::Data, &reply, "timeout while receiving data", None).await;
                    self.tx = None;
                    stream.send(&reply);
                    stream.close().await;
                    return Step::Close("timeout in DATA");
                }
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.tx = None;
                    return Step::Close("lost connection in DATA");
                }
                Ok(Ok(_)) => {}
            }
        }
        if decoder.over_limit() {
            let reply = Reply::new(552, "5.3.4", "Error: message file too big");
            self.refused(
                Stage::Data,
                &reply,
                &format!("message of {} octets exceeds the size limit", decoder.size()),
                None,
            )
            .await;
            self.tx = None;
            self.respond(stream, reply);
            return Step::Continue;
        }
        let reply = self.end_of_message(body).await;
        self.respond(stream, reply);
        Step::Continue
    }
}
