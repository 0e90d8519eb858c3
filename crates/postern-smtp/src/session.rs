//! One SMTP session: its state, the command loop, and the way replies, errors and events
//! leave it. The verbs live in `verbs/`, one file each.
//!
//! In: command lines from an [`SmtpStream`]. Out: replies, events, and messages handed to
//! the spool. The session never touches a backend directly: it asks the policy for
//! verdicts and gives messages to an [`Enqueue`](postern_core::Enqueue) handle. Defends
//! against: idle and slow clients (timeouts on every read), error floods (hard error limit,
//! then `421`), and commands after shutdown began (idle sessions are told `421`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use postern_core::event::now_ms;
use postern_core::{
    Address, BodyType, ClientInfo, DsnRet, Event, EventKind, QueueId, Recipient, Reply, Stage, TlsInfo,
};
use postern_policy::Attribution;
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
    pub bdat: Option<Vec<u8>>,
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
            started: Instant::now(),
        }
    }

    pub async fn connected(&self) {
        let kind = EventKind::Connect { client_port: self.client.port, listener: self.client.listener.clone() };
        self.emit(None, kind).await;
    }

    pub fn greet<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: &mut SmtpStream<S>) {
        stream.send(&Reply::plain(220, self.listener.banner.clone()));
    }

    /// TLS is up (STARTTLS or implicit): everything learned before is forgotten (RFC 3207 §4.2).
    pub async fn tls_started(&mut self, info: TlsInfo) {
        self.client.helo = None;
        self.esmtp = false;
        self.tx = None;
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
            match self.dispatch(Command::parse(&line), stream).await {
                Step::Continue => {}
                Step::Close(reason) => return Outcome::Closed(reason),
                Step::StartTls => return Outcome::StartTls,
            }
            if self.errors >= limits.hard_error_limit {
                let reply = Reply::new(421, "4.7.0", format!("{} Error: too many errors", self.listener.hostname));
                self.refused(Stage::Command, &reply, "hard error limit reached", None).await;
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
            Command::Ehlo(name) => self.ehlo(name, true),
            Command::Helo(name) => self.ehlo(name, false),
            Command::Mail { path, params } => self.mail(&path, &params).await,
            Command::Rcpt { path, params } => self.rcpt(&path, &params).await,
            Command::Data => return self.data(stream).await,
            Command::Bdat { size, last } => return self.bdat(stream, size, last).await,
            Command::StartTls => return self.starttls(stream).await,
            Command::Quit => {
                stream.send(&Reply::new(221, "2.0.0", "Bye"));
                stream.close().await;
                return Step::Close("quit");
            }
            Command::Rset => self.rset(),
            Command::Noop => Reply::new(250, "2.0.0", "Ok"),
            Command::Vrfy => Reply::new(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
            Command::Help => {
                Reply::new(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS")
            }
            Command::Auth => Reply::new(503, "5.5.1", "Error: authentication not enabled"),
            Command::NotImplemented => Reply::new(502, "5.5.1", "Error: command not implemented"),
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

    pub(crate) async fn emit(&self, queue_id: Option<QueueId>, kind: EventKind) {
        let event = Event { at_ms: now_ms(), session: self.id, client_ip: self.client.ip, queue_id, kind };
        self.services.events.emit(event).await;
    }

    /// Records a refusal with the transaction's sender and the recipient it concerns.
    pub(crate) async fn refused(&self, stage: Stage, reply: &Reply, reason: &str, recipient: Option<String>) {
        let sender = self.tx.as_ref().map(|tx| tx.sender.as_ref().map(|a| a.to_string()).unwrap_or_default());
        let kind = EventKind::Refused { stage, reply: reply.summary(), reason: reason.to_string(), sender, recipient };
        self.emit(self.tx.as_ref().map(|tx| tx.queue_id), kind).await;
    }
}
