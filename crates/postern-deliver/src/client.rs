//! The outbound SMTP client: one connection to one server.
//!
//! Connect (plain or implicit TLS), greeting, EHLO (HELO fallback), STARTTLS when offered
//! or required, AUTH PLAIN/LOGIN only over TLS, then transactions: MAIL with SIZE, BODY,
//! SMTPUTF8, RET, ENVID as the server supports them; RCPT with NOTIFY and ORCPT when it
//! offers DSN; pipelined when it offers PIPELINING; DATA with dot-stuffing. Every read has
//! a timeout and replies are bounded (100 lines of 2048 octets). With `roots`, the server's
//! certificate and name are verified (relay hosts that require TLS or get our credentials);
//! without, TLS is opportunistic and only encrypts (Postfix's "may"/"encrypt" levels).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use postern_config::{Credentials, TlsMode};
use postern_core::{BodyType, DsnRet, Envelope, Recipient};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    /// All lines joined with a space, codes removed.
    pub text: String,
}

impl ServerReply {
    /// The enhanced status code in the text, else one derived from the code.
    pub fn status(&self) -> String {
        let first = self.text.split_whitespace().next().unwrap_or("");
        let parts: Vec<&str> = first.split('.').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            return first.to_string();
        }
        format!("{}.0.0", self.code / 100)
    }
}

impl std::fmt::Display for ServerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// A failure of the connection or the session (not a per-recipient reply).
#[derive(Debug, Clone)]
pub struct ClientError {
    pub permanent: bool,
    pub status: String,
    pub message: String,
}

impl ClientError {
    fn temp(status: &str, message: impl Into<String>) -> ClientError {
        ClientError { permanent: false, status: status.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub pipelining: bool,
    pub size: Option<u64>,
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub starttls: bool,
    pub auth_plain: bool,
    pub auth_login: bool,
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub helo: String,
    pub tls: TlsMode,
    pub require_tls: bool,
    pub auth: Option<Credentials>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Verify the server's certificate and name against these roots; `None`: encrypt only.
    pub roots: Option<Arc<rustls::RootCertStore>>,
}

pub struct Client {
    io: BufReader<Box<dyn Io>>,
    pub caps: Capabilities,
    /// `name[ip]:port`, for logs and DSNs.
    pub remote: String,
    pub tls: bool,
    options: ConnectOptions,
}

/// What the server said to one transaction.
#[derive(Debug, Clone)]
pub struct TransactionResult {
    /// One reply per recipient, in order: the RCPT reply, or the DATA reply when RCPT was
    /// accepted, or the MAIL reply when MAIL was refused.
    pub recipients: Vec<ServerReply>,
    /// The server accepted the DSN parameters.
    pub dsn: bool,
}

fn tls_connector(roots: Option<&Arc<rustls::RootCertStore>>) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::temp("4.7.5", format!("TLS setup: {e}")))?;
    let config = match roots {
        Some(roots) => builder.with_root_certificates(Arc::clone(roots)).with_no_client_auth(),
        None => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth()
        }
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl Client {
    pub async fn connect(target_name: &str, addr: SocketAddr, options: ConnectOptions) -> Result<Client, ClientError> {
        let remote = format!("{target_name}[{}]:{}", addr.ip(), addr.port());
        let tcp = match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(ClientError::temp("4.4.1", format!("connect to {remote}: {e}"))),
            Err(_) => return Err(ClientError::temp("4.4.1", format!("connect to {remote}: timed out"))),
        };
        let _ = tcp.set_nodelay(true);
        let mut tls = false;
        let io: Box<dyn Io> = if options.tls == TlsMode::Implicit {
            tls = true;
            Box::new(handshake(Box::new(tcp), target_name, &remote, &options).await?)
        } else {
            Box::new(tcp)
        };
        let mut client = Client { io: BufReader::new(io), caps: Capabilities::default(), remote, tls, options };
        let greeting = client.read_reply().await?;
        if greeting.code != 220 {
            // Skip a server that will not talk to us and defer if none will (Postfix's
            // smtp_skip_5xx_greeting): a greeting is about the server, not the message.
            return Err(ClientError { permanent: false, ..client.session_error(&greeting, "the greeting") });
        }
        client.ehlo().await?;
        if client.options.tls == TlsMode::StartTls
            && !client.tls
            && (client.caps.starttls || client.options.require_tls)
        {
            client.starttls().await?;
        }
        if client.options.require_tls && !client.tls {
            return Err(ClientError::temp("4.7.5", format!("{}: TLS is required but not offered", client.remote)));
        }
        if let Some(creds) = client.options.auth.clone() {
            client.auth(&creds).await?;
        }
        Ok(client)
    }

    fn session_error(&self, reply: &ServerReply, stage: &str) -> ClientError {
        ClientError {
            permanent: reply.code >= 500,
            status: reply.status(),
            message: format!("host {} said: {reply} (in reply to {stage})", self.remote),
        }
    }

    async fn ehlo(&mut self) -> Result<(), ClientError> {
        self.write(format!("EHLO {}\r\n", self.options.helo).as_bytes()).await?;
        let (reply, lines) = self.read_reply_lines().await?;
        if reply.code == 250 {
            self.caps = parse_caps(&lines);
            return Ok(());
        }
        self.write(format!("HELO {}\r\n", self.options.helo).as_bytes()).await?;
        let reply = self.read_reply().await?;
        if reply.code != 250 {
            return Err(self.session_error(&reply, "HELO"));
        }
        self.caps = Capabilities::default();
        Ok(())
    }

    async fn starttls(&mut self) -> Result<(), ClientError> {
        self.write(b"STARTTLS\r\n").await?;
        let reply = self.read_reply().await?;
        if reply.code != 220 {
            return Err(ClientError { permanent: false, ..self.session_error(&reply, "STARTTLS") });
        }
        if !self.io.buffer().is_empty() {
            return Err(ClientError::temp("4.7.0", format!("{}: data after STARTTLS reply", self.remote)));
        }
        let name = self.remote.split('[').next().unwrap_or("").to_string();
        let placeholder: Box<dyn Io> = Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let plain = std::mem::replace(&mut self.io, BufReader::new(placeholder));
        let tls = handshake(plain.into_inner(), &name, &self.remote, &self.options).await?;
        self.io = BufReader::new(Box::new(tls));
        self.tls = true;
        self.ehlo().await
    }

    async fn auth(&mut self, creds: &Credentials) -> Result<(), ClientError> {
        if !self.tls {
            return Err(ClientError::temp(
                "4.7.0",
                format!("{}: refusing to send credentials without TLS", self.remote),
            ));
        }
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let reply = if self.caps.auth_plain || !self.caps.auth_login {
            let token = b64(format!("\0{}\0{}", creds.username, creds.password).as_bytes());
            self.write(format!("AUTH PLAIN {token}\r\n").as_bytes()).await?;
            self.read_reply().await?
        } else {
            self.write(b"AUTH LOGIN\r\n").await?;
            let mut reply = self.read_reply().await?;
            for part in [&creds.username, &creds.password] {
                if reply.code != 334 {
                    break;
                }
                self.write(format!("{}\r\n", b64(part.as_bytes())).as_bytes()).await?;
                reply = self.read_reply().await?;
            }
            reply
        };
        if reply.code != 235 {
            // A refused login is our configuration's problem, not the recipient's: defer
            // (as Postfix's smtp_sasl_auth_soft_bounce) and keep the sender's mail.
            let error = self.session_error(&reply, "AUTH");
            let status = match error.status.strip_prefix("5.") {
                Some(rest) => format!("4.{rest}"),
                None => error.status,
            };
            return Err(ClientError { permanent: false, status, ..error });
        }
        Ok(())
    }

    /// RSET before reuse; false means the connection is no good.
    pub async fn reset(&mut self) -> bool {
        if self.write(b"RSET\r\n").await.is_err() {
            return false;
        }
        matches!(self.read_reply().await, Ok(r) if r.code == 250)
    }

    pub async fn quit(mut self) {
        let _ = self.write(b"QUIT\r\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.read_reply()).await;
    }

    /// One transaction for `recipients` (indices into the envelope).
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        recipients: &[&Recipient],
        message: &[u8],
    ) -> Result<TransactionResult, ClientError> {
        match self.transaction(envelope, recipients, message, false).await? {
            Some(result) => Ok(result),
            None => Err(ClientError::temp("4.4.2", format!("{}: connection not usable", self.remote))),
        }
    }

    /// One transaction on a connection kept from an earlier one: RSET first, to learn that
    /// the server still answers. With PIPELINING the RSET goes in the same write as MAIL,
    /// RCPT and DATA (RFC 2920 §3.1 lets it stand anywhere in a group), which saves a round
    /// trip per message. `Ok(None)`: the RSET got no `250` (the server closed the
    /// connection, said 421, or is gone): nothing was sent after DATA, so no transaction
    /// happened; drop this connection and use a new one.
    pub async fn send_reused(
        &mut self,
        envelope: &Envelope,
        recipients: &[&Recipient],
        message: &[u8],
    ) -> Result<Option<TransactionResult>, ClientError> {
        self.transaction(envelope, recipients, message, true).await
    }

    /// [`Client::send`], after an RSET when `reset` (then `Ok(None)`: the RSET failed).
    async fn transaction(
        &mut self,
        envelope: &Envelope,
        recipients: &[&Recipient],
        message: &[u8],
        reset: bool,
    ) -> Result<Option<TransactionResult>, ClientError> {
        // RFC 6531 §3.2: SMTPUTF8 is needed only if an address or a header is non-ASCII;
        // otherwise the message may go to a server without the extension as it is.
        let needs_utf8 = envelope.smtputf8
            && (envelope.sender.as_ref().is_some_and(|a| a.is_utf8())
                || recipients.iter().any(|r| r.address.is_utf8())
                || !header_section(message).is_ascii());
        if needs_utf8 && !self.caps.smtputf8 {
            let reply = ServerReply { code: 553, text: "5.6.7 the server does not support SMTPUTF8".into() };
            return Ok(Some(TransactionResult { recipients: vec![reply; recipients.len()], dsn: false }));
        }
        if reset && !self.caps.pipelining && !self.reset().await {
            return Ok(None);
        }
        let mut mail = format!("MAIL FROM:<{}>", envelope.sender_display());
        if self.caps.size.is_some() {
            mail.push_str(&format!(" SIZE={}", message.len()));
        }
        if envelope.body == BodyType::EightBitMime && self.caps.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if envelope.smtputf8 && self.caps.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if self.caps.dsn {
            match envelope.ret {
                Some(DsnRet::Full) => mail.push_str(" RET=FULL"),
                Some(DsnRet::Hdrs) => mail.push_str(" RET=HDRS"),
                None => {}
            }
            if let Some(envid) = &envelope.envid {
                mail.push_str(&format!(" ENVID={envid}"));
            }
        }
        mail.push_str("\r\n");
        let rcpt_lines: Vec<String> = recipients.iter().map(|r| self.rcpt_line(r)).collect();

        let (mail_reply, rcpt_replies, data_reply) = if self.caps.pipelining {
            let mut batch = if reset { b"RSET\r\n".to_vec() } else { Vec::new() };
            batch.extend_from_slice(mail.as_bytes());
            for line in &rcpt_lines {
                batch.extend_from_slice(line.as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            if reset {
                // Whatever the server makes of the rest, it gets no message data from
                // this connection any more when its RSET reply is not 250.
                let answered = match self.write(&batch).await {
                    Ok(()) => self.read_reply().await,
                    Err(e) => Err(e),
                };
                if !matches!(answered, Ok(r) if r.code == 250) {
                    return Ok(None);
                }
            } else {
                self.write(&batch).await?;
            }
            let mail_reply = self.read_reply().await?;
            let mut rcpt_replies = Vec::new();
            for _ in &rcpt_lines {
                rcpt_replies.push(self.read_reply().await?);
            }
            let data_reply = self.read_reply().await?;
            (mail_reply, rcpt_replies, Some(data_reply))
        } else {
            self.write(mail.as_bytes()).await?;
            let mail_reply = self.read_reply().await?;
            let mut rcpt_replies = Vec::new();
            if mail_reply.code == 250 {
                for line in &rcpt_lines {
                    self.write(line.as_bytes()).await?;
                    rcpt_replies.push(self.read_reply().await?);
                }
            }
            (mail_reply, rcpt_replies, None)
        };
        if mail_reply.code != 250 {
            let _ = self.reset().await;
            let reply = ServerReply {
                code: mail_reply.code,
                text: format!("{} (in reply to MAIL FROM command)", mail_reply.text),
            };
            return Ok(Some(TransactionResult { recipients: vec![reply; recipients.len()], dsn: false }));
        }
        let accepted = rcpt_replies.iter().filter(|r| r.code / 100 == 2).count();
        let data_reply = match data_reply {
            Some(r) => r,
            None if accepted > 0 => {
                self.write(b"DATA\r\n").await?;
                self.read_reply().await?
            }
            None => ServerReply { code: 554, text: "no valid recipients".into() },
        };
        let final_reply = if data_reply.code == 354 {
            self.write_message(message).await?;
            let reply = tokio::time::timeout(self.options.data_timeout, self.read_reply_inner())
                .await
                .map_err(|_| ClientError::temp("4.4.2", format!("{}: timeout after end of data", self.remote)))??;
            if accepted == 0 { ServerReply { code: 554, text: "no valid recipients".into() } } else { reply }
        } else {
            if accepted > 0 {
                let _ = self.reset().await;
            }
            data_reply
        };
        let results = rcpt_replies
            .into_iter()
            .map(|r| {
                if r.code / 100 == 2 {
                    ServerReply {
                        code: final_reply.code,
                        text: format!("{} (in reply to end of DATA command)", final_reply.text),
                    }
                } else {
                    ServerReply { code: r.code, text: format!("{} (in reply to RCPT TO command)", r.text) }
                }
            })
            .collect();
        Ok(Some(TransactionResult { recipients: results, dsn: self.caps.dsn }))
    }

    fn rcpt_line(&self, r: &Recipient) -> String {
        let mut line = format!("RCPT TO:<{}>", r.address);
        if self.caps.dsn {
            if let Some(n) = &r.notify {
                let mut words = Vec::new();
                if n.never {
                    words.push("NEVER");
                }
                if n.success {
                    words.push("SUCCESS");
                }
                if n.failure {
                    words.push("FAILURE");
                }
                if n.delay {
                    words.push("DELAY");
                }
                line.push_str(&format!(" NOTIFY={}", words.join(",")));
            }
            if let Some(o) = &r.orcpt {
                line.push_str(&format!(" ORCPT={o}"));
            }
        }
        line.push_str("\r\n");
        line
    }

    /// The message with dot-stuffing, ending in CRLF.CRLF.
    async fn write_message(&mut self, message: &[u8]) -> Result<(), ClientError> {
        let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
        let mut line_start = true;
        let mut rest = message;
        while !rest.is_empty() {
            if line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    out.extend_from_slice(&rest[..=i]);
                    rest = &rest[i + 1..];
                    line_start = true;
                }
                None => {
                    out.extend_from_slice(rest);
                    rest = &[];
                    line_start = false;
                }
            }
        }
        if !line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        let io = self.io.get_mut();
        match tokio::time::timeout(self.options.data_timeout, async {
            io.write_all(&out).await?;
            io.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                Err(ClientError::temp("4.4.2", format!("{}: lost connection while sending message: {e}", self.remote)))
            }
            Err(_) => Err(ClientError::temp("4.4.2", format!("{}: timeout while sending message", self.remote))),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let timeout = self.options.command_timeout;
        let io = self.io.get_mut();
        match tokio::time::timeout(timeout, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ClientError::temp("4.4.2", format!("{}: lost connection: {e}", self.remote))),
            Err(_) => Err(ClientError::temp("4.4.2", format!("{}: timeout while writing", self.remote))),
        }
    }

    async fn read_reply(&mut self) -> Result<ServerReply, ClientError> {
        match tokio::time::timeout(self.options.command_timeout, self.read_reply_inner()).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::temp("4.4.2", format!("{}: timeout waiting for a reply", self.remote))),
        }
    }

    async fn read_reply_inner(&mut self) -> Result<ServerReply, ClientError> {
        self.read_reply_lines_inner().await.map(|(r, _)| r)
    }

    async fn read_reply_lines(&mut self) -> Result<(ServerReply, Vec<String>), ClientError> {
        match tokio::time::timeout(self.options.command_timeout, self.read_reply_lines_inner()).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::temp("4.4.2", format!("{}: timeout waiting for a reply", self.remote))),
        }
    }

    async fn read_reply_lines_inner(&mut self) -> Result<(ServerReply, Vec<String>), ClientError> {
        let mut lines = Vec::new();
        let mut code = 0u16;
        loop {
            let mut line = Vec::new();
            let n = (&mut self.io)
                .take(2048)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| ClientError::temp("4.4.2", format!("{}: lost connection: {e}", self.remote)))?;
            if n == 0 {
                return Err(ClientError::temp("4.4.2", format!("{}: lost connection", self.remote)));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            let parsed = text.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
            let Some(this) = parsed else {
                return Err(ClientError::temp("4.5.0", format!("{}: bad reply {text:?}", self.remote)));
            };
            if code != 0 && this != code {
                return Err(ClientError::temp("4.5.0", format!("{}: inconsistent reply codes", self.remote)));
            }
            code = this;
            let last = text.as_bytes().get(3) != Some(&b'-');
            lines.push(text.get(4..).unwrap_or("").to_string());
            if last {
                break;
            }
            if lines.len() >= 100 {
                return Err(ClientError::temp("4.5.0", format!("{}: reply too long", self.remote)));
            }
        }
        Ok((ServerReply { code, text: lines.join(" ") }, lines))
    }
}

use tokio::io::AsyncReadExt as _;

/// The header section of a message (up to the first empty line).
fn header_section(message: &[u8]) -> &[u8] {
    memchr::memmem::find(message, b"\r\n\r\n").map_or(message, |end| &message[..end])
}

fn parse_caps(lines: &[String]) -> Capabilities {
    let mut caps = Capabilities::default();
    for line in lines.iter().skip(1) {
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else { continue };
        match keyword.to_ascii_uppercase().as_str() {
            "PIPELINING" => caps.pipelining = true,
            "SIZE" => caps.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
            "8BITMIME" => caps.eight_bit = true,
            "SMTPUTF8" => caps.smtputf8 = true,
            "DSN" => caps.dsn = true,
            "STARTTLS" => caps.starttls = true,
            "AUTH" => {
                for mech in words {
                    match mech.to_ascii_uppercase().as_str() {
                        "PLAIN" => caps.auth_plain = true,
                        "LOGIN" => caps.auth_login = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    caps
}

async fn handshake(
    io: Box<dyn Io>,
    name: &str,
    remote: &str,
    options: &ConnectOptions,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn Io>>, ClientError> {
    let timeout = options.command_timeout;
    let server_name = rustls::pki_types::ServerName::try_from(name.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or(rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    match tokio::time::timeout(timeout, tls_connector(options.roots.as_ref())?.connect(server_name, io)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(ClientError::temp("4.7.5", format!("{remote}: TLS handshake failed: {e}"))),
        Err(_) => Err(ClientError::temp("4.7.5", format!("{remote}: TLS handshake timed out"))),
    }
}

/// Opportunistic TLS: encrypt, do not authenticate the server (Postfix's "encrypt" level).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
