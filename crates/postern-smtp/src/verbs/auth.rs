//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616). Only over TLS unless the listener allows
//! plaintext; never during a transaction; once per session. The policy checks the
//! password (argon2id) and throttles failures per client; the session only converses.
//!
//! Defends against: credentials in clear (`538 5.7.11` before TLS), overlong or undecodable
//! responses (bounded reads, `501`), slow clients (the command timeout on every read),
//! guessing (each `535` waits longer; at the limit `421` and close). Passwords are never
//! logged; user names only in events, bounded and without control characters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_core::{EventKind, Reply, Stage};
use postern_policy::AuthOutcome;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::io::{Line, SmtpStream};
use crate::session::{Session, Step};

/// RFC 4954 §4: a client response line may be 12288 octets long.
const MAX_RESPONSE: usize = 12_288;

/// Why the exchange ended without credentials.
enum Abort {
    Reply(Reply),
    Close(&'static str),
}

impl Session {
    /// Whether EHLO lists AUTH on this connection now.
    pub(crate) fn auth_offered(&self) -> bool {
        self.client.tls.is_some() || self.listener.allow_plaintext_auth
    }

    pub(crate) async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        mechanism: String,
        initial: Option<String>,
    ) -> Step {
        let refusal = if !self.esmtp {
            Some(Reply::new(503, "5.5.1", "Error: send EHLO first"))
        } else if self.tx.is_some() {
            Some(Reply::new(503, "5.5.1", "Error: MAIL transaction in progress"))
        } else if !self.auth_offered() {
            Some(Reply::new(538, "5.7.11", "Encryption required for requested authentication mechanism"))
        } else {
            self.services.policy.auth_refused(&self.attribution)
        };
        if let Some(reply) = refusal {
            self.refused(Stage::Auth, &reply, "AUTH not allowed here", None).await;
            self.respond(stream, reply);
            return Step::Continue;
        }
        if self.services.policy.auth_blocked(self.client.ip) {
            return self.auth_blocked(stream, &mechanism, "").await;
        }
        let credentials = match mechanism.as_str() {
            "PLAIN" => self.plain(stream, initial).await,
            "LOGIN" => self.login(stream, initial).await,
            _ => Err(Abort::Reply(Reply::new(504, "5.5.4", "Unsupported authentication mechanism"))),
        };
        let (user, password) = match credentials {
            Ok(c) => c,
            Err(Abort::Reply(reply)) => {
                self.respond(stream, reply);
                return Step::Continue;
            }
            Err(Abort::Close(reason)) => return Step::Close(reason),
        };
        let shown = printable(&user);
        match self.services.policy.authenticate(self.client.ip, &user, password).await {
            AuthOutcome::Success { attribution, cached } => {
                let mut account = attribution.describe();
                if cached {
                    account.push_str(", from the AUTH cache");
                }
                self.attribution = attribution;
                self.emit(None, auth_event(&mechanism, &shown, "success", &account)).await;
                self.count_session().await;
                stream.send(&Reply::new(235, "2.7.0", "Authentication successful"));
                Step::Continue
            }
            AuthOutcome::Failure { delay, reason } => {
                self.note_auth_failure();
                self.emit(None, auth_event(&mechanism, &shown, "failure", &reason)).await;
                if stream.flush().await.is_err() {
                    return Step::Close("connection error");
                }
                tokio::time::sleep(delay).await;
                self.respond(stream, Reply::new(535, "5.7.8", "Error: authentication failed"));
                Step::Continue
            }
            AuthOutcome::Blocked => self.auth_blocked(stream, &mechanism, &shown).await,
        }
    }

    async fn auth_blocked<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        mechanism: &str,
        user: &str,
    ) -> Step {
        self.emit(None, auth_event(mechanism, user, "blocked", "too many authentication failures from this client"))
            .await;
        let text = format!("{} Error: too many failed authentications; try again later", self.listener.hostname);
        stream.send(&Reply::new(421, "4.7.0", text));
        stream.close().await;
        Step::Close("too many authentication failures")
    }

    /// PLAIN: `[authzid] NUL authcid NUL passwd`; an authzid other than the authcid is
    /// refused (no proxy authorization).
    async fn plain<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        initial: Option<String>,
    ) -> Result<(String, Vec<u8>), Abort> {
        let response = match initial {
            Some(text) => decode(&text)?,
            None => self.challenge(stream, "").await?,
        };
        let mut parts = response.split(|&b| b == 0);
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Abort::Reply(Reply::new(501, "5.5.2", "Error: malformed PLAIN response")));
        };
        let user = user_name(user)?;
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return Err(Abort::Reply(Reply::new(535, "5.7.8", "Error: authorization identity not allowed")));
        }
        Ok((user, password.to_vec()))
    }

    /// LOGIN: the user name (maybe as the initial response), then the password.
    async fn login<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        initial: Option<String>,
    ) -> Result<(String, Vec<u8>), Abort> {
        let user = match initial {
            Some(text) => decode(&text)?,
            None => self.challenge(stream, "VXNlcm5hbWU6").await?,
        };
        let user = user_name(&user)?;
        let password = self.challenge(stream, "UGFzc3dvcmQ6").await?;
        Ok((user, password))
    }

    /// Sends `334 <challenge>` and reads the client's base64 answer.
    async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut SmtpStream<S>,
        challenge: &'static str,
    ) -> Result<Vec<u8>, Abort> {
        stream.send(&Reply::plain(334, challenge));
        if stream.flush().await.is_err() {
            return Err(Abort::Close("connection error"));
        }
        let timeout = self.listener.limits.command_timeout;
        let line = match tokio::time::timeout(timeout, stream.read_line(MAX_RESPONSE)).await {
            Err(_) => {
                let text = format!("{} Error: timeout exceeded", self.listener.hostname);
                stream.send(&Reply::new(421, "4.4.2", text));
                stream.close().await;
                return Err(Abort::Close("timeout"));
            }
            Ok(Err(_)) => return Err(Abort::Close("connection error")),
            Ok(Ok(Line::Eof)) => return Err(Abort::Close("client closed connection")),
            Ok(Ok(Line::TooLong)) => {
                return Err(Abort::Reply(Reply::new(500, "5.5.6", "Authentication exchange line is too long")));
            }
            Ok(Ok(Line::BareLf)) => return Err(Abort::Reply(Reply::new(500, "5.5.2", "Error: bare <LF> received"))),
            Ok(Ok(Line::Text(text))) => text,
        };
        if line == b"*" {
            return Err(Abort::Reply(Reply::new(501, "5.7.0", "Authentication aborted")));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| Abort::Reply(Reply::new(501, "5.5.2", "Error: cannot decode response")))?;
        decode(text)
    }
}

/// Base64 of a response; `=` is the empty response (RFC 4954 §4).
fn decode(text: &str) -> Result<Vec<u8>, Abort> {
    let text = text.trim();
    if text == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(text).map_err(|_| Abort::Reply(Reply::new(501, "5.5.2", "Error: cannot decode response")))
}

/// A user name: UTF-8, 1..=320 octets, no control characters.
fn user_name(bytes: &[u8]) -> Result<String, Abort> {
    let bad = || Abort::Reply(Reply::new(535, "5.7.8", "Error: authentication failed"));
    let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
    if text.is_empty() || text.len() > 320 || text.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(text.to_string())
}

/// A user name as it may appear in logs.
fn printable(user: &str) -> String {
    user.chars().filter(|c| !c.is_control()).take(320).collect()
}

fn auth_event(mechanism: &str, user: &str, result: &str, detail: &str) -> EventKind {
    EventKind::Auth {
        mechanism: mechanism.to_string(),
        user: user.to_string(),
        result: result.to_string(),
        detail: detail.to_string(),
    }
}
