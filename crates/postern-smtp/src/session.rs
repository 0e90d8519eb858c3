//! One SMTP session: its state, the command loop, and the way replies, errors and events
//! leave it. The verbs live in `verbs/`, one file each.
//!
//! In: command lines from an [`SmtpStream`]. Out: replies, events, and messages handed to
//! the spool. The session never touches a backend directly: it asks the policy for
//! verdicts and gives messages to an [`Enqueue`](postern_core::Enqueue) handle. Defends
//! against: idle and slow clients (timeouts on every read), error floods (hard error limit,
//! then `421`), and commands after shutdown began (idle sessions are told `421`); the
//! listener's connection and protocol policy (`protection/`) is asked at connect and
//! around each command.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use postern_core::event::now_ms;
use postern_core::{
    Address, BodyType, ClientInfo, DsnRet, Event, EventKind, QueueId, Recipient, Reply, Stage, TlsInfo,
};
use postern_policy::{Attribution, LimitVerdict};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::command::Command;
use crate::context::{ListenerContext, Services};
use crate::io::{Line, SmtpStream};

/// A mail transaction, from MAIL FROM to the end of data (or RSET).
pub(crate) struct Transaction {
    pub queue_id: QueueId,
    pub sender: Option<Address>,
    pub body: BodyType,
    pub smtputf8: bool,
    pub ret: Option<DsnRet>,
    pub envid: Option<String>,
    pub recipients: Vec<Recipient>,
    /// The message so far when BDAT is used.
    pub bdat: Option<crate::verbs::BdatTransfer>,
    /// What the block and allow lists said about its recipients (`verbs/lists.rs`).
    pub lists: crate::verbs::ListMarks,
}

/// What the command loop does next.
pub(crate) enum Step {
    Continue,
    Close(&'static str),
    StartTls,
}

/// Why [`Session::run`] returned.
pub enum Outcome {
    Closed(&'static str),
    /// `220` was sent for STARTTLS: the caller runs the handshake, then calls `run` again.
    StartTls,
}

pub struct Session {
    pub(crate) listener: Arc<ListenerContext>,
    pub(crate) services: Arc<Services>,
    pub(crate) id: u64,
    pub(crate) client: ClientInfo,
    pub(crate) attribution: Attribution,
    pub(crate) esmtp: bool,
    pub(crate) tx: Option<Transaction>,
    pub(crate) errors: u32,
    pub(crate) messages: u32,
    /// Set when the session's attribution exceeded an account's session limit (or the
    /// counters could not check it): every MAIL gets this reply; the reason is logged.
    pub(crate) limit_refusal: Option<(Reply, String)>,
    /// Connection and protocol policy state (`protection/`).
    pub(crate) protection: crate::protection::SessionProtection,
    started: Instant,
}

impl Session {
    pub fn new(listener: Arc<ListenerContext>, services: Arc<Services>, id: u64, peer: SocketAddr) -> Session {
        let attribution = services.policy.attribute(peer.ip());
        let client = ClientInfo {
            ip: peer.ip(),
            port: peer.port(),
            listener: listener.kind.name().to_string(),
            helo: None,
            tls: None,
        };
        Session {
            listener,
            services,
            id,
            client,
            attribution,
            esmtp: false,
            tx: None,
            errors: 0,
            messages: 0,
            limit_refusal: None,
            protection: Default::default(),
            started: Instant::now(),
        }
    }

    pub async fn connected(&mut self) {
        let kind = EventKind::Connect { client_port: self.client.port, listener: self.client.listener.clone() };
        self.emit(None, kind).await;
        self.count_session().await;
    }

    /// Counts this session against its account's session limits (at connect for `ip`
    /// accounts, after AUTH for the others).
    pub(crate) async fn count_session(&mut self) {
        match self.services.policy.session_attributed(&self.attribution).await {
            LimitVerdict::Allowed => self.limit_refusal = None,
            LimitVerdict::Refuse { reply, reason } => {
                tracing::info!(session = self.id, client = %self.client.ip, reason = reason.as_str(), "session over its account's limit");
                self.limit_refusal = Some((reply, reason));
            }
            LimitVerdict::WouldRefuse { reply, reason } => {
                self.would_refuse(Stage::Connect, &reply, &reason, None).await
            }
        }
    }

    /// Monitor mode: records what a limit or check would have refused.
    /// Monitor mode: records the reply a limit would have sent, and sends nothing.
    pub(crate) async fn would_refuse(&self, stage: Stage, reply: &Reply, reason: &str, recipient: Option<String>) {
        let sender = self.tx.as_ref().map(|tx| tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default());
        let kind = EventKind::Refused {
            stage,
            reply: reply.summary(),
            reason: format!("would refuse (monitor): {reason}"),
            sender,
            recipient,
            account: None,
            domain: None,
        };
        self.emit(self.tx.as_ref().map(|tx| tx.queue_id), kind).await;
    }

    pub fn greet<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: &mut SmtpStream<S>) {
        stream.send(&Reply::plain(220, self.listener.banner.clone()));
    }

    /// The start of the conversation: the connection checks (`421` and close), a look for
    /// input sent before the greeting, then the greeting. `Some(reason)`: closed.
    pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
    ) -> Option<&'static str> {
        if let Some(reply) = self.admit().await {
            stream.send(&reply);
            stream.close().await;
            return Some("refused at connect");
        }
        self.watch_pregreet(stream).await;
        self.greet(stream);
        None
    }

    /// TLS is up (STARTTLS or implicit): everything learned before is forgotten (RFC 3207 §4.2).
    pub async fn tls_started(&mut self, info: TlsInfo) {
        self.client.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.attribution = self.services.policy.attribute(self.client.ip);
        self.emit(None, EventKind::Tls { version: info.version.clone(), cipher: info.cipher.clone() }).await;
        self.client.tls = Some(info);
    }

    pub async fn disconnected(&self, reason: &str) {
        let kind = EventKind::Disconnect {
            messages: self.messages,
            duration_ms: self.started.elapsed().as_millis() as u64,
            reason: reason.to_string(),
        };
        self.emit(None, kind).await;
    }

    /// The command loop. Returns when the connection is done or STARTTLS was accepted.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>) -> Outcome {
        let limits = self.listener.limits.clone();
        loop {
            let idle = self.tx.is_none();
            let shutdown = self.services.shutdown.clone();
            let read = tokio::select! {
                biased;
                _ = shutdown.cancelled(), if idle => {
                    return self.close(stream, Reply::new(421, "4.3.2", format!("{} Service shutting down", self.listener.hostname)), "shutdown").await;
                }
                r = tokio::time::timeout(limits.command_timeout, stream.read_line(limits.max_line_length)) => r,
            };
            let line = match read {
                Err(_) => {
                    return self
                        .close(
                            stream,
                            Reply::new(421, "4.4.2", format!("{} Error: timeout exceeded", self.listener.hostname)),
                            "timeout",
                        )
                        .await;
                }
                Ok(Err(_)) => return Outcome::Closed("connection error"),
                Ok(Ok(Line::Eof)) => return Outcome::Closed("client closed connection"),
                Ok(Ok(Line::TooLong)) => {
                    self.respond(stream, Reply::new(500, "5.5.2", "Error: line too long"));
                    continue;
                }
                Ok(Ok(Line::BareLf)) => {
                    self.respond(stream, Reply::new(500, "5.5.2", "Error: bare <LF> received"));
                    continue;
                }
                Ok(Ok(Line::Text(text))) => text,
            };
            let command = Command::parse(&line);
            // Boxed: an idle session waits in the read above, and what a command needs
            // (the DATA pipeline's state above all, the pipelining check's 1 KiB read) is
            // allocated only while it runs. Pacing holds a timer only, like the read.
            Box::pin(self.watch_pipelining(&command, stream)).await;
            self.pace(&command).await;
            let messages = self.messages;
            let step = Box::pin(self.dispatch(command, stream)).await;
            self.paced(messages);
            match step {
                Step::Continue => {}
                Step::Close(reason) => return Outcome::Closed(reason),
                Step::StartTls => return Outcome::StartTls,
            }
            if self.errors >= limits.hard_error_limit {
                let reply = Reply::new(421, "4.7.0", format!("{} Error: too many errors", self.listener.hostname));
                Box::pin(self.refused(Stage::Command, &reply, "hard error limit reached", None)).await;
                return self.close(stream, reply, "too many errors").await;
            }
        }
    }

    async fn dispatch<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        command: Command,
        stream: &mut SmtpStream<S>,
    ) -> Step {
        let reply = match command {
            Command::Ehlo(name) => self.ehlo(name, true).await,
            Command::Helo(name) => self.ehlo(name, false).await,
            Command::Mail { path, params } => self.mail(&path, &params).await,
            Command::Rcpt { path, params } => {
                let reply = self.rcpt(&path, &params).await;
                self.note_rcpt_reply(&reply);
                reply
            }
            Command::Data => return self.data(stream).await,
            Command::Bdat { size, last } => return self.bdat(stream, size, last).await,
            Command::StartTls => return self.starttls(stream).await,
            Command::Auth { mechanism, initial } => return self.auth(stream, mechanism, initial).await,
            Command::Quit => {
                stream.send(&Reply::new(221, "2.0.0", "Bye"));
                stream.close().await;
                return Step::Close("quit");
            }
            Command::Rset => self.rset(),
            Command::Noop => Reply::new(250, "2.0.0", "Ok"),
            Command::Vrfy => Reply::new(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
            Command::Help => Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            ),
            Command::NotImplemented | Command::Etrn => Reply::new(502, "5.5.1", "Error: command not implemented"),
            Command::Unknown => Reply::new(500, "5.5.2", "Error: command not recognized"),
            Command::Invalid(reply) => reply,
        };
        self.respond(stream, reply);
        Step::Continue
    }

    /// Queues a reply, counting errors. `452 4.5.3` (too many recipients) is flow control,
    /// not a client error, as in Postfix.
    pub(crate) fn respond<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut SmtpStream<S>, reply: Reply) {
        if reply.code >= 400 && reply.status != Some("4.5.3") {
            self.errors += 1;
        }
        stream.send(&reply);
    }

    pub(crate) async fn close<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        reply: Reply,
        reason: &'static str,
    ) -> Outcome {
        stream.send(&reply);
        stream.close().await;
        Outcome::Closed(reason)
    }

    /// Records an event. A refusal never carries a queue id: the id a transaction gets at
    /// MAIL names a message only once it is queued (the `queued`, `discarded` and later
    /// events), and searching a queue id must not find what was never queued. It carries
    /// the session's account instead, so that log search finds it under that account's
    /// domain.
    pub(crate) async fn emit(&self, queue_id: Option<QueueId>, kind: EventKind) {
        let (queue_id, kind) = match kind {
            EventKind::Refused { stage, reply, reason, sender, recipient, account: None, domain: None } => {
                let (account, domain) = match &self.attribution {
                    Attribution::Account { entry, .. } => {
                        (Some(entry.account.name.clone()), Some(entry.account.domain.clone()))
                    }
                    _ => (None, None),
                };
                (None, EventKind::Refused { stage, reply, reason, sender, recipient, account, domain })
            }
            EventKind::Refused { .. } => (None, kind),
            other => (queue_id, other),
        };
        let event = Event { at_ms: now_ms(), session: self.id, client_ip: self.client.ip, queue_id, kind };
        self.services.events.emit(event).await;
    }

    /// Records a refusal with the transaction's sender and the recipient it concerns.
    pub(crate) async fn refused(&self, stage: Stage, reply: &Reply, reason: &str, recipient: Option<String>) {
        let sender = self.tx.as_ref().map(|tx| tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default());
        let (reply, reason) = (reply.summary(), reason.to_string());
        let kind = EventKind::Refused { stage, reply, reason, sender, recipient, account: None, domain: None };
        self.emit(self.tx.as_ref().map(|tx| tx.queue_id), kind).await;
    }
}
