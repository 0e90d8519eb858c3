//! A scripted SMTP client for in-process session tests: the real session over an
//! in-memory pipe, the real spool in a temporary directory, events collected in memory.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use postern_config::{Limits, ListenerKind};
use postern_core::{Envelope, EventKind};
use postern_policy::RelayPolicy;
use postern_queue::Spool;
use postern_smtp::{ListenerContext, Protection, Services, handle_connection};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

pub const HOST: &str = "mx.test.example";

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub use postern_core::test_support::Collected;

pub struct Options {
    pub kind: ListenerKind,
    pub limits: Limits,
    pub peer: SocketAddr,
    pub add_missing_headers: bool,
    pub tls: bool,
    pub allow_plaintext_auth: bool,
    /// Default: trusted network 127.0.0.0/8 and an empty directory.
    pub policy: Option<RelayPolicy>,
    /// The listener's connection and protocol policy; share one (clone it) between
    /// connections to share its per-client counts. Default: the built-in defaults, no DNS.
    pub protection: Option<Protection>,
    /// Bytes the client sends before the session starts (before our greeting).
    pub pregreet: Option<Vec<u8>>,
    /// The DKIM signer; default: none (nothing is signed).
    pub dkim: Option<Arc<postern_dkim::Signer>>,
    /// The memory budget of messages in flight; share one between connections to share
    /// it. Default: a fresh one of `limits.max_data_in_flight`.
    pub memory: Option<Arc<postern_smtp::MemoryBudget>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kind: ListenerKind::Smtp,
            limits: Limits::default(),
            peer: "127.0.0.1:40000".parse().unwrap(),
            add_missing_headers: false,
            tls: true,
            allow_plaintext_auth: false,
            policy: None,
            protection: None,
            pregreet: None,
            dkim: None,
            memory: None,
        }
    }
}

pub struct Client {
    io: Option<BufReader<Box<dyn Io>>>,
    pub events: Arc<Collected>,
    pub spool: Spool,
    pub spool_dir: tempfile::TempDir,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    /// The server's count of open sessions.
    pub open_sessions: Arc<postern_smtp::OpenSessions>,
}

pub async fn start(opts: Options) -> Client {
    let greeting = opts.kind != ListenerKind::Smtps;
    let mut c = connect(opts).await;
    if greeting {
        c.expect(&format!("220 {HOST} ESMTP Postern\r\n")).await;
    }
    c
}

/// What a session runs on, built as [`connect`] builds it, without a connection.
pub struct Parts {
    pub context: Arc<ListenerContext>,
    pub services: Arc<Services>,
    pub events: Arc<Collected>,
    pub spool: Spool,
    pub spool_dir: tempfile::TempDir,
    pub shutdown: CancellationToken,
    pub peer: SocketAddr,
    pub pregreet: Option<Vec<u8>>,
}

pub fn parts(opts: Options) -> Parts {
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(spool_dir.path()).unwrap();
    let events = Arc::new(Collected::default());
    let shutdown = CancellationToken::new();
    let policy = opts.policy.unwrap_or_else(|| RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]));
    let pipeline = postern_pipeline::Pipeline::new(Arc::new(spool.clone()), events.clone())
        .with_dkim(opts.dkim)
        .with_counters(policy.limits().cloned(), policy.locks().cloned());
    let services = Arc::new(Services {
        policy,
        pipeline: Arc::new(pipeline),
        events: events.clone(),
        memory: opts.memory.unwrap_or_else(|| postern_smtp::MemoryBudget::new(opts.limits.max_data_in_flight)),
        shutdown: shutdown.clone(),
        open_sessions: Default::default(),
    });
    let context = Arc::new(ListenerContext {
        kind: opts.kind,
        hostname: HOST.to_string(),
        banner: format!("{HOST} ESMTP Postern"),
        max_connections: opts.limits.max_connections,
        limits: opts.limits,
        add_missing_headers: opts.add_missing_headers,
        allow_plaintext_auth: opts.allow_plaintext_auth,
        tls: opts.tls.then(crate::common::tls::acceptor),
        protection: opts.protection.unwrap_or_default(),
    });
    Parts { context, services, events, spool, spool_dir, shutdown, peer: opts.peer, pregreet: opts.pregreet }
}

/// Like [`start`], without reading the greeting (the connection may be refused instead).
pub async fn connect(opts: Options) -> Client {
    let Parts { context, services, events, spool, spool_dir, shutdown, peer, pregreet } = parts(opts);
    let open_sessions = Arc::clone(&services.open_sessions);
    let (mut client, server) = tokio::io::duplex(1 << 20);
    if let Some(bytes) = &pregreet {
        client.write_all(bytes).await.unwrap();
    }
    let task = tokio::spawn(async move { handle_connection(server, peer, context, services, 1).await });
    let io: Box<dyn Io> = Box::new(client);
    Client { io: Some(BufReader::new(io)), events, spool, spool_dir, shutdown, task, open_sessions }
}

impl Client {
    fn io(&mut self) -> &mut BufReader<Box<dyn Io>> {
        self.io.as_mut().expect("connection in use")
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io().get_mut().write_all(bytes).await.unwrap();
    }

    /// Sends bytes the server may no longer read (it may have closed already).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.io().get_mut().write_all(bytes).await;
    }

    /// Reads one complete (possibly multi-line) reply.
    pub async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = self.io().read_line(&mut line).await.unwrap();
            assert!(n > 0, "connection closed; reply so far: {out:?}");
            out.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return out;
            }
        }
    }

    /// Asserts the next reply, byte for byte; a trailing `*` matches any rest.
    pub async fn expect(&mut self, want: &str) {
        let got = self.reply().await;
        match want.strip_suffix('*') {
            Some(prefix) => assert!(got.starts_with(prefix), "want {want:?}, got {got:?}"),
            None => assert_eq!(got, want),
        }
    }

    /// Sends a command line and asserts its reply.
    pub async fn cmd(&mut self, line: &str, want: &str) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(want).await;
    }

    pub async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), self.io().read_to_end(&mut rest)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "expected the server to close; got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// STARTTLS, the handshake, and EHLO again.
    pub async fn starttls(&mut self) {
        self.cmd("STARTTLS", "220 2.0.0 Ready to start TLS\r\n").await;
        self.tls_handshake().await;
        self.ehlo().await;
    }

    pub async fn ehlo(&mut self) {
        self.cmd("EHLO client.example", "250-*").await;
    }

    /// A whole transaction with DATA; returns the queue id.
    pub async fn send_message(&mut self, from: &str, to: &[&str], data: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250 2.1.0 Ok\r\n").await;
        for rcpt in to {
            self.cmd(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5 Ok\r\n").await;
        }
        self.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
        self.send(data.as_bytes()).await;
        self.send(b".\r\n").await;
        let reply = self.reply().await;
        let id = reply.strip_prefix("250 2.0.0 Ok: queued as ").unwrap_or_else(|| panic!("not queued: {reply:?}"));
        id.trim_end().to_string()
    }

    /// Every message in the spool, oldest first.
    pub fn spooled(&self) -> Vec<(Envelope, Vec<u8>)> {
        let recovery = self.spool.recover().unwrap();
        assert!(recovery.corrupt.is_empty());
        recovery.messages.into_iter().map(|id| self.spool.read(id).unwrap()).collect()
    }

    pub fn refusals(&self) -> Vec<(String, String)> {
        self.events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Refused { reply, reason, .. } => Some((reply.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// Upgrades this client to TLS after a `220` to STARTTLS (or at once for smtps).
    pub async fn tls_handshake(&mut self) {
        let io = self.io.take().unwrap();
        assert!(io.buffer().is_empty(), "plaintext after 220 Ready to start TLS");
        let tls = crate::common::tls::connect(io.into_inner()).await;
        let io: Box<dyn Io> = Box::new(tls);
        self.io = Some(BufReader::new(io));
    }
}

pub mod tls {
    //! A server certificate made on the fly, and a client that trusts exactly it.

    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::Io;

    fn cert() -> &'static (CertificateDer<'static>, Vec<u8>) {
        static CERT: OnceLock<(CertificateDer<'static>, Vec<u8>)> = OnceLock::new();
        CERT.get_or_init(|| {
            let c = rcgen::generate_simple_self_signed(vec![super::HOST.to_string()]).unwrap();
            (c.cert.der().clone(), c.key_pair.serialize_der())
        })
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    pub fn acceptor() -> TlsAcceptor {
        let (cert, key) = cert();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// Accepts exactly our test certificate.
    #[derive(Debug)]
    struct Pinned;

    impl ServerCertVerifier for Pinned {
        fn verify_server_cert(
            &self,
            end: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            if end.as_ref() == cert().0.as_ref() {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General("unexpected certificate".into()))
            }
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &provider().signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &provider().signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            provider().signature_verification_algorithms.supported_schemes()
        }
    }

    pub async fn connect(io: Box<dyn Io>) -> tokio_rustls::client::TlsStream<Box<dyn Io>> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned))
            .with_no_client_auth();
        let name = ServerName::try_from(super::HOST.to_string()).unwrap();
        TlsConnector::from(Arc::new(config)).connect(name, io).await.unwrap()
    }
}
