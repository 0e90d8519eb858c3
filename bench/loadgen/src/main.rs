//! The real-path benchmark's SMTP client (`bench/realpath.sh`, issue 17): what smtp-source
//! cannot do — EHLO, STARTTLS, AUTH PLAIN as one of many users, several messages per
//! connection or one, N concurrent sessions — with the latency of each message's `250`
//! after the end of DATA.
//!
//! In: `run`: a server address, a users file (`address<TAB>password` a line), the load
//! (sessions, messages, messages per connection, size), optionally an open-loop rate
//! (`--rate`: message i is due at t0 + i/rate, whatever the server's answers; the lag of
//! each message's start behind its due time is reported, so that a server too slow for the
//! schedule shows as lag instead of hiding it — coordinated omission) and smtp-sink's `-c`
//! counter file, to time delivery end to end. `users`: a count and a domain.
//! `dovecot-passwd`: a users file on stdin.
//!
//! Out: `run` prints one line of shell-quoted `key=value` pairs (see [`report`]); `users`
//! prints a users file (deterministic passwords); `dovecot-passwd` prints Dovecot
//! passwd-file lines with argon2id hashes made with Postern's own parameters (19 MiB, 2
//! passes, 1 lane), so both servers pay the same for each AUTH.
//!
//! The messages are a fixed corpus: realistic headers (From of the user's own domain, so
//! that DKIM signs; To, Subject, Date, Message-ID, MIME, a User-Agent) and, for sizes up to
//! 10 KiB, a plain text body; above, a multipart/mixed message of a short text and a base64
//! CSV attachment filling the size. Server certificates are not verified (the benchmark's
//! servers use a self-signed one); TLS session resumption is off, so every connection pays
//! a full handshake, on both servers alike.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "SMTP load for the real-path benchmark (bench/realpath.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a users file: `user0001@DOMAIN<TAB>password` ...
    Users {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        domain: String,
    },
    /// Read a users file on stdin, print Dovecot passwd-file lines (`user:{ARGON2ID}...`).
    DovecotPasswd,
    /// Send the load and print one line of results.
    Run(RunArgs),
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// The server's SMTP address.
    #[arg(long)]
    server: SocketAddr,
    /// `address<TAB>password` a line; connections take the users in turn.
    #[arg(long)]
    users_file: PathBuf,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 20)]
    sessions: usize,
    /// Messages in all.
    #[arg(long)]
    messages: usize,
    /// Messages per connection (1: a new connection, TLS handshake and AUTH per message).
    #[arg(long, default_value_t = 1)]
    per_connection: usize,
    /// Message size in bytes (whole message, headers included, approximately).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// The envelope and header recipient.
    #[arg(long, default_value = "rcpt@example.net")]
    to: String,
    #[arg(long, default_value = "client.bench.example")]
    helo: String,
    /// Plain SMTP (no STARTTLS).
    #[arg(long)]
    no_tls: bool,
    /// No AUTH (the server must relay for the client's address).
    #[arg(long)]
    no_auth: bool,
    /// smtp-sink's `-c` output file: wait until the sink has every accepted message.
    #[arg(long)]
    sink_count: Option<PathBuf>,
    /// Seconds before the whole run is abandoned.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds without progress at the sink before the run counts as incomplete.
    #[arg(long, default_value_t = 15)]
    stall: u64,
    /// Write the first message sent here (to look at the corpus).
    #[arg(long)]
    sample: Option<PathBuf>,
    /// Open loop: messages per second, evenly spread (message i is due at t0 + i/RATE);
    /// the sessions keep their connections between messages and wait for the next one due.
    /// Without it: closed loop (each session sends its next message as soon as it can).
    #[arg(long)]
    rate: Option<f64>,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Users { count, domain } => {
            let mut out = std::io::stdout().lock();
            for i in 1..=count {
                writeln!(out, "user{i:04}@{domain}\tbench-secret-{i:04}-{}", i.wrapping_mul(2_654_435_761) % 100_000)?;
            }
            Ok(())
        }
        Command::DovecotPasswd => dovecot_passwd(),
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let line = runtime.block_on(run(args))?;
            println!("{line}");
            Ok(())
        }
    }
}

// ------------------------------------------------------------------------- users

struct User {
    address: String,
    password: String,
}

fn read_users(path: &Path) -> Result<Vec<User>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_users(&text)
}

fn parse_users(text: &str) -> Result<Vec<User>> {
    let users: Vec<User> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (a, p) = l.split_once('\t').ok_or_else(|| anyhow!("not address<TAB>password: {l:?}"))?;
            Ok(User { address: a.trim().to_string(), password: p.trim().to_string() })
        })
        .collect::<Result<_>>()?;
    if users.is_empty() {
        bail!("the users file is empty");
    }
    Ok(users)
}

fn dovecot_passwd() -> Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
    // Postern's parameters (crates/postern-policy/src/password.rs).
    let params = argon2::Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = std::io::stdout().lock();
    for (i, user) in parse_users(&text)?.iter().enumerate() {
        let salt_bytes: [u8; 16] = std::array::from_fn(|k| (i * 31 + k * 7 + 13) as u8);
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow!("salt: {e}"))?;
        let hash =
            hasher.hash_password(user.password.as_bytes(), &salt).map_err(|e| anyhow!("argon2: {e}"))?.to_string();
        writeln!(out, "{}:{{ARGON2ID}}{hash}", user.address)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------- the corpus

const WORDS: &[&str] = &[
    "the",
    "report",
    "for",
    "this",
    "quarter",
    "shows",
    "that",
    "our",
    "customers",
    "in",
    "the",
    "northern",
    "region",
    "ordered",
    "more",
    "than",
    "last",
    "year",
    "please",
    "find",
    "attached",
    "figures",
    "and",
    "let",
    "me",
    "know",
    "if",
    "you",
    "have",
    "questions",
    "about",
    "delivery",
    "schedule",
    "meeting",
    "on",
    "Thursday",
    "we",
    "will",
    "review",
    "budget",
    "with",
    "team",
    "invoice",
    "project",
    "update",
    "next",
    "steps",
    "thanks",
    "regards",
    "warehouse",
    "shipment",
    "contract",
    "renewal",
    "agenda",
    "minutes",
    "draft",
    "proposal",
];

/// Deterministic text of about `len` bytes in lines under 76 characters (none starts with a
/// dot, so no dot-stuffing is needed).
fn text(len: usize, seed: usize) -> String {
    let mut out = String::with_capacity(len + 80);
    let mut line = String::new();
    let mut n = seed;
    let mut sentence_start = true;
    while out.len() + line.len() < len {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(n >> 33) % WORDS.len()];
        let mut w = if sentence_start {
            let mut c = word.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        } else {
            word.to_string()
        };
        sentence_start = (n >> 20).is_multiple_of(9);
        if sentence_start {
            w.push('.');
        }
        if line.len() + w.len() + 1 > 72 {
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&w);
    }
    out.push_str(&line);
    out.push_str("\r\n");
    out
}

/// The body (and the MIME headers that go with it) for messages of `size`.
struct Corpus {
    mime_headers: String,
    body: Vec<u8>,
}

const HEADER_ESTIMATE: usize = 560;

fn corpus(size: usize) -> Corpus {
    if size <= 10 * 1024 {
        let body = text(size.saturating_sub(HEADER_ESTIMATE).max(100), 7);
        return Corpus {
            mime_headers: "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\
                           Content-Transfer-Encoding: 7bit\r\n"
                .into(),
            body: body.into_bytes(),
        };
    }
    let boundary = "------------bench0b6f3c2a9e1d4";
    let intro = text(1200, 11);
    // A CSV export, base64 as mail clients send attachments.
    let attachment_len = (size.saturating_sub(HEADER_ESTIMATE + intro.len() + 400)) * 3 / 4;
    let mut csv = String::from("date,region,customer,order,amount,currency\r\n");
    let mut i = 0usize;
    while csv.len() < attachment_len {
        i += 1;
        csv.push_str(&format!(
            "2026-{:02}-{:02},{},C{:05},{:07},{}.{:02},EUR\r\n",
            i % 12 + 1,
            i % 28 + 1,
            ["north", "south", "east", "west"][i % 4],
            (i * 7919) % 100_000,
            i * 13,
            (i * 37) % 1000 % 97,
            i % 100
        ));
    }
    csv.truncate(attachment_len);
    let encoded = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
    let mut body = String::with_capacity(size);
    body.push_str("This is a multi-part message in MIME format.\r\n");
    body.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n"));
    body.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
    body.push_str(&intro);
    body.push_str(&format!("\r\n--{boundary}\r\nContent-Type: text/csv; charset=utf-8; name=\"figures.csv\"\r\n"));
    body.push_str("Content-Disposition: attachment; filename=\"figures.csv\"\r\n");
    body.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    for chunk in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        body.push_str("\r\n");
    }
    body.push_str(&format!("\r\n--{boundary}--\r\n"));
    Corpus {
        mime_headers: format!("MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n"),
        body: body.into_bytes(),
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// An RFC 5322 date for now (UTC), without a date library.
fn rfc5322_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {d:02} {} {year} {h:02}:{m:02}:{s:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize]
    )
}

fn message(corpus: &Corpus, from: &str, to: &str, index: usize, date: &str) -> Vec<u8> {
    let local = from.split('@').next().unwrap_or(from);
    let domain = from.rsplit('@').next().unwrap_or("bench.example");
    let mut m = Vec::with_capacity(corpus.body.len() + 700);
    let _ = write!(
        m,
        "From: \"{local} (Bench)\" <{from}>\r\nTo: Dana Whitfield <{to}>\r\n\
         Subject: Quarterly figures and delivery schedule, update {index}\r\nDate: {date}\r\n\
         Message-ID: <{:08x}-{:04x}-4{:03x}-9{:03x}-{:012x}@{domain}>\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0\r\n\
         Content-Language: en-US\r\n{}\r\n",
        index.wrapping_mul(0x9e37_79b9) & 0xffff_ffff,
        index & 0xffff,
        index.wrapping_mul(7) & 0xfff,
        index.wrapping_mul(13) & 0xfff,
        index.wrapping_mul(0x2545_f491_4f6c_dd1d) & 0xffff_ffff_ffff,
        corpus.mime_headers
    );
    m.extend_from_slice(&corpus.body);
    m.extend_from_slice(b".\r\n");
    m
}

// ------------------------------------------------------------------------- SMTP

struct Conn<S> {
    io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// One whole reply: its code and last line.
    async fn reply(&mut self) -> Result<(u16, String)> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                if line.len() < 3 {
                    bail!("malformed reply line {line:?}");
                }
                if line.len() == 3 || line.as_bytes()[3] == b' ' {
                    let code = line[..3].parse().with_context(|| format!("reply code in {line:?}"))?;
                    return Ok((code, line));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn command(&mut self, line: &str, want: u16) -> Result<String> {
        self.io.write_all(line.as_bytes()).await?;
        self.io.write_all(b"\r\n").await?;
        self.io.flush().await?;
        self.expect(want, line).await
    }

    async fn expect(&mut self, want: u16, after: &str) -> Result<String> {
        let (code, text) = self.reply().await?;
        if code != want {
            bail!("{after:?}: {text}");
        }
        Ok(text)
    }
}

struct Shared {
    args: RunArgs,
    users: Vec<User>,
    corpus: Corpus,
    tls: tokio_rustls::TlsConnector,
    next_message: AtomicUsize,
    next_connection: AtomicUsize,
    ok: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
    sample_written: Mutex<bool>,
    date: String,
    /// The open loop's origin: message i is due at `t0 + i / rate`.
    t0: Instant,
}

#[derive(Default)]
struct Samples {
    /// µs from the end of DATA to the `250`, per accepted message.
    data_250: Vec<u32>,
    /// µs from connect to the end of AUTH (or EHLO), per connection.
    setup: Vec<u32>,
    /// Open loop only, per message: µs from its due time to its MAIL command (the lag
    /// behind the schedule; tokio's timer wakes on the next millisecond, so up to ~1 ms of
    /// it is the timer's), and from its due time to the `250` after DATA.
    lag: Vec<u32>,
    due_250: Vec<u32>,
    connections: usize,
}

async fn session(shared: Arc<Shared>) -> Samples {
    let mut samples = Samples::default();
    loop {
        if shared.next_message.load(Ordering::Relaxed) >= shared.args.messages {
            return samples;
        }
        if shared.failed.load(Ordering::Relaxed) > shared.args.messages / 10 + 10 {
            return samples; // too many failures: the run is failed anyway
        }
        if let Err(e) = connection(&shared, &mut samples).await {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = shared.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

async fn connection(shared: &Shared, samples: &mut Samples) -> Result<()> {
    let args = &shared.args;
    let user = &shared.users[shared.next_connection.fetch_add(1, Ordering::Relaxed) % shared.users.len()];
    let started = Instant::now();
    let tcp = TcpStream::connect(args.server).await.context("connect")?;
    tcp.set_nodelay(true)?;
    samples.connections += 1;
    let mut plain = Conn { io: tcp, buf: Vec::new() };
    plain.expect(220, "greeting").await?;
    plain.command(&format!("EHLO {}", args.helo), 250).await?;
    if args.no_tls {
        return messages(shared, plain, user, started, samples).await;
    }
    plain.command("STARTTLS", 220).await?;
    if !plain.buf.is_empty() {
        bail!("data after the STARTTLS reply");
    }
    let name = rustls::pki_types::ServerName::IpAddress(args.server.ip().into());
    let tls = shared.tls.connect(name, plain.io).await.context("TLS handshake")?;
    let mut conn = Conn { io: tls, buf: Vec::new() };
    conn.command(&format!("EHLO {}", args.helo), 250).await?;
    messages(shared, conn, user, started, samples).await
}

async fn messages<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    mut conn: Conn<S>,
    user: &User,
    started: Instant,
    samples: &mut Samples,
) -> Result<()> {
    let args = &shared.args;
    if !args.no_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", user.address, user.password).as_bytes());
        conn.command(&format!("AUTH PLAIN {token}"), 235).await?;
    }
    samples.setup.push(micros(started.elapsed()));
    for _ in 0..args.per_connection {
        let index = shared.next_message.fetch_add(1, Ordering::Relaxed);
        if index >= args.messages {
            break;
        }
        let due = args.rate.map(|rate| shared.t0 + Duration::from_secs_f64(index as f64 / rate));
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
            samples.lag.push(micros(due.elapsed()));
        }
        let data = message(&shared.corpus, &user.address, &args.to, index, &shared.date);
        if let Some(path) = &args.sample {
            let mut written = shared.sample_written.lock().unwrap_or_else(|p| p.into_inner());
            if !*written {
                std::fs::write(path, &data)?;
                *written = true;
            }
        }
        conn.command(&format!("MAIL FROM:<{}>", user.address), 250).await?;
        conn.command(&format!("RCPT TO:<{}>", args.to), 250).await?;
        conn.command("DATA", 354).await?;
        conn.io.write_all(&data).await?;
        conn.io.flush().await?;
        let end_of_data = Instant::now();
        conn.expect(250, "end of DATA").await?;
        samples.data_250.push(micros(end_of_data.elapsed()));
        if let Some(due) = due {
            samples.due_250.push(micros(due.elapsed()));
        }
        shared.ok.fetch_add(1, Ordering::Relaxed);
    }
    conn.command("QUIT", 221).await?;
    Ok(())
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

// ------------------------------------------------------------------------- TLS

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

fn tls_connector() -> Result<tokio_rustls::TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

// ------------------------------------------------------------------------- the run

/// The last `mesg=N` smtp-sink -c wrote (0 before any).
fn sink_count(path: &Path) -> Result<usize> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let tail = &data[data.len().saturating_sub(4096)..];
    let text = String::from_utf8_lossy(tail);
    Ok(text
        .rsplit("mesg=")
        .next()
        .filter(|_| text.contains("mesg="))
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

async fn run(args: RunArgs) -> Result<String> {
    if args.sessions == 0 || args.messages == 0 || args.per_connection == 0 {
        bail!("sessions, messages and per-connection must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of messages per second");
    }
    let users = read_users(&args.users_file)?;
    let baseline = args.sink_count.as_deref().map(sink_count).transpose()?;
    let shared = Arc::new(Shared {
        corpus: corpus(args.size),
        users,
        tls: tls_connector()?,
        next_message: AtomicUsize::new(0),
        next_connection: AtomicUsize::new(0),
        ok: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        first_error: Mutex::new(None),
        sample_written: Mutex::new(false),
        date: rfc5322_now(),
        args: args.clone(),
        // The sessions connect first: the first message is due a little later.
        t0: Instant::now() + Duration::from_millis(if args.rate.is_some() { 200 } else { 0 }),
    });
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.sessions).map(|_| tokio::spawn(session(shared.clone()))).collect();
    let mut all = Samples::default();
    let mut status = "delivered";
    for task in tasks {
        match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(Ok(s)) => {
                all.data_250.extend(s.data_250);
                all.setup.extend(s.setup);
                all.lag.extend(s.lag);
                all.due_250.extend(s.due_250);
                all.connections += s.connections;
            }
            Ok(Err(e)) => bail!("a session task failed: {e}"),
            Err(_) => {
                status = "timeout";
                break;
            }
        }
    }
    let accept = t0.elapsed();
    let ok = shared.ok.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    if status != "timeout" && (failed > 0 || ok < args.messages) {
        status = "errors";
    }
    let mut done = accept;
    if let (Some(path), Some(base), "delivered") = (&args.sink_count, baseline, status) {
        let target = base + ok;
        let mut last = sink_count(path)?;
        let mut progress_at = Instant::now();
        loop {
            let now = sink_count(path)?;
            if now >= target {
                done = t0.elapsed();
                break;
            }
            if now != last {
                last = now;
                progress_at = Instant::now();
            }
            if progress_at.elapsed() > Duration::from_secs(args.stall) {
                status = "incomplete";
                break;
            }
            if Instant::now() > deadline {
                status = "timeout";
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    if args.sink_count.is_none() && status == "delivered" {
        status = "accepted";
    }
    all.data_250.sort_unstable();
    all.setup.sort_unstable();
    all.lag.sort_unstable();
    all.due_250.sort_unstable();
    // Open loop: the offered rate, and how far the sends fell behind the schedule.
    let open_loop = match args.rate {
        Some(rate) => format!(
            " offered_rate={rate:.1} lag_p50_ms={:.2} lag_p99_ms={:.2} lag_max_ms={:.2} \
             due_p50_ms={:.2} due_p99_ms={:.2} due_max_ms={:.2}",
            percentile(&all.lag, 50.0),
            percentile(&all.lag, 99.0),
            percentile(&all.lag, 100.0),
            percentile(&all.due_250, 50.0),
            percentile(&all.due_250, 99.0),
            percentile(&all.due_250, 100.0),
        ),
        None => String::new(),
    };
    let mean = if all.data_250.is_empty() {
        0.0
    } else {
        all.data_250.iter().map(|&v| f64::from(v)).sum::<f64>() / all.data_250.len() as f64 / 1000.0
    };
    let first_error = shared.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
    Ok(format!(
        "status={status} messages={} ok={ok} failed={failed} connections={} accept_s={:.3} done_s={:.3} \
         rate={:.1} accept_rate={:.1} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} mean_ms={mean:.2} \
         setup_p50_ms={:.2} setup_p99_ms={:.2}{open_loop} first_error={}",
        args.messages,
        all.connections,
        accept.as_secs_f64(),
        done.as_secs_f64(),
        ok as f64 / done.as_secs_f64(),
        ok as f64 / accept.as_secs_f64(),
        percentile(&all.data_250, 50.0),
        percentile(&all.data_250, 90.0),
        percentile(&all.data_250, 99.0),
        percentile(&all.data_250, 100.0),
        percentile(&all.setup, 50.0),
        percentile(&all.setup, 99.0),
        quote(&first_error),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_sizes_are_near_the_target_and_need_no_dot_stuffing() {
        for size in [1024, 102_400] {
            let c = corpus(size);
            let m = message(&c, "user0001@bench.example", "rcpt@example.net", 1, &rfc5322_now());
            let len = m.len() as f64;
            assert!((len / size as f64 - 1.0).abs() < 0.1, "{size}: {len}");
            assert!(m.ends_with(b"\r\n.\r\n"));
            let body = &m[..m.len() - 3];
            assert!(!body.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."), "a line starts with a dot");
            assert!(!body.split(|&b| b == b'\n').any(|l| l.len() > 998));
        }
    }

    #[test]
    fn percentiles_and_sink_counter() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
        std::fs::write(&dir, "sess=1 quit=0 mesg=5\rsess=2 quit=1 mesg=17\r").unwrap();
        assert_eq!(sink_count(&dir).unwrap(), 17);
        std::fs::remove_file(&dir).unwrap();
        assert!(rfc5322_now().ends_with("+0000"));
    }
}
