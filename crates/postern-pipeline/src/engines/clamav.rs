//! ClamAV over clamd's protocol: `zINSTREAM`, then the message in chunks of at most 64 KiB,
//! each after its length (4 octets, big-endian), then a chunk of length zero. clamd
//! answers one NUL-terminated line: `stream: OK`, `stream: <signature> FOUND` or
//! `<reason> ERROR`. clamd reads the message as mail: it decodes the MIME parts itself
//! (base64 attachments, archives inside them).
//!
//! In: a [`ScanInput`]; the address is `host:port` or the path of clamd's Unix socket (it
//! starts with `/`). Out: clean for `OK`; for `FOUND` a [`Block`] whose rule is
//! `CLAMAV:<signature>`: a virus, or, for a potentially unwanted program (a signature
//! named `PUA.<platform>.<category>.<name>`: password tools, network tools, remote access,
//! P2P...), a dangerous attachment when the account blocks those
//! (`checks.block_dangerous_attachments`; without an account its default) and a pass that
//! names the signature otherwise. Failed for an `ERROR` (`INSTREAM size limit exceeded`
//! when the message is over clamd's `StreamMaxLength`), a refused connection, a timeout,
//! and a reply that is garbled, truncated (no terminating NUL) or larger than a few KiB:
//! never clean. The signature is the peer's text: it reaches the log and the reply line
//! printable and bounded.

use std::time::Duration;

use postern_core::BoxFuture;
use postern_core::tenancy::ContentChecks;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::{EngineSettings, excerpt};
use crate::scanner::{Block, BlockKind, OnFailure, ScanInput, ScanResult, Scanner, Setting};

/// clamd's answer is one short line.
const MAX_REPLY: usize = 4 * 1024;
/// The largest chunk sent (clamd takes any size up to its `StreamMaxLength`).
const CHUNK: usize = 64 * 1024;
/// The longest signature name kept in a rule (real ones are well under 100 characters).
const MAX_SIGNATURE: usize = 200;

pub struct ClamavScanner {
    settings: EngineSettings,
}

impl ClamavScanner {
    pub fn new(settings: EngineSettings) -> ClamavScanner {
        ClamavScanner { settings }
    }

    async fn check(&self, input: &ScanInput<'_>) -> ScanResult {
        let engine = &self.settings;
        if let Some(skipped) = engine.skip_oversized(input.message) {
            return skipped;
        }
        let reply = match instream(&engine.address, engine.timeout, input.message).await {
            Ok(reply) => reply,
            Err(error) => return ScanResult::Failed { error },
        };
        let defaults = ContentChecks::default();
        let checks = input.account.map_or(&defaults, |a| &a.settings.checks);
        match parse(&reply) {
            Ok(verdict) => verdict.result(checks),
            Err(error) => ScanResult::Failed { error },
        }
    }
}

impl Scanner for ClamavScanner {
    fn engine(&self) -> &'static str {
        "clamav"
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        Box::pin(self.check(input))
    }

    fn on_failure(&self) -> OnFailure {
        self.settings.on_failure
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::ClamAv)
    }

    fn ping(&self) -> Option<BoxFuture<'_, Result<(), String>>> {
        let engine = &self.settings;
        Some(Box::pin(super::ping::clamd(&engine.address, engine.timeout)))
    }
}

/// What clamd found.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Clean,
    /// The signature's name, printable and bounded.
    Found(String),
}

impl Verdict {
    fn result(self, checks: &ContentChecks) -> ScanResult {
        let signature = match self {
            Verdict::Clean => return ScanResult::Clean { score: None },
            Verdict::Found(signature) => signature,
        };
        let rule = format!("CLAMAV:{signature}");
        if !is_pua(&signature) {
            return ScanResult::Blocked(Block { kind: BlockKind::Virus, rule, part: None });
        }
        if checks.block_dangerous_attachments {
            return ScanResult::Blocked(Block { kind: BlockKind::Dangerous, rule, part: None });
        }
        ScanResult::Allowed { rule: format!("{signature} (checks.block_dangerous_attachments off)") }
    }
}

/// ClamAV names potentially unwanted programs `PUA.<platform>.<category>.<name>`
/// (`PUA.Win.Tool.NetTool-1`, `PUA.Win.Packer.Upx-1`...): not malware, a tool the account
/// may or may not allow.
fn is_pua(signature: &str) -> bool {
    signature.starts_with("PUA.")
}

/// clamd's reply up to its terminating NUL: the verdict, or why it is none.
pub(crate) fn parse(reply: &[u8]) -> Result<Verdict, String> {
    if reply.is_empty() {
        return Err("empty reply from clamd (connection closed)".into());
    }
    let Some(end) = memchr::memchr(0, reply) else {
        return Err(format!("truncated reply from clamd (no terminating NUL): {:?}", excerpt(reply, 80)));
    };
    let garbled = || format!("garbled reply from clamd: {:?}", excerpt(&reply[..end], 80));
    let line = std::str::from_utf8(&reply[..end]).map_err(|_| garbled())?.trim_end_matches(['\r', '\n']);
    if let Some(reason) = line.strip_suffix(" ERROR") {
        let reason = reason.strip_prefix("stream: ").unwrap_or(reason);
        return Err(format!("clamd error: {}", excerpt(reason.as_bytes(), 200)));
    }
    let result = line.strip_prefix("stream: ").ok_or_else(garbled)?;
    if result == "OK" {
        return Ok(Verdict::Clean);
    }
    match result.strip_suffix(" FOUND") {
        Some(signature) if !signature.trim().is_empty() => Ok(Verdict::Found(printable(signature.trim()))),
        _ => Err(garbled()),
    }
}

/// A signature name as a rule may carry it: printable ASCII without spaces, at most
/// [`MAX_SIGNATURE`] characters.
fn printable(signature: &str) -> String {
    let mut out: String =
        signature.chars().take(MAX_SIGNATURE).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect();
    if signature.chars().nth(MAX_SIGNATURE).is_some() {
        out.push_str("...");
    }
    out
}

/// Sends `message` to clamd at `address` (`host:port`, or a Unix socket's path) with
/// `zINSTREAM` and reads its reply up to the terminating NUL, at most [`MAX_REPLY`]
/// octets, all within `timeout`.
pub(crate) async fn instream(address: &str, timeout: Duration, message: &[u8]) -> Result<Vec<u8>, String> {
    let talk = async {
        let connect_error = |e: std::io::Error| format!("cannot connect to {address}: {e}");
        if address.starts_with('/') {
            talk(UnixStream::connect(address).await.map_err(connect_error)?, address, message).await
        } else {
            talk(TcpStream::connect(address).await.map_err(connect_error)?, address, message).await
        }
    };
    match tokio::time::timeout(timeout, talk).await {
        Ok(result) => result,
        Err(_) => Err(format!("no complete reply from {address} within {} ms", timeout.as_millis())),
    }
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    address: &str,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    let sent = send(&mut stream, message).await;
    let reply = read_reply(&mut stream, address).await;
    match (sent, reply) {
        (Ok(()), reply) => reply,
        // Past its StreamMaxLength clamd stops reading, answers why and closes: its answer
        // says more than the broken pipe.
        (Err(_), Ok(reply)) if !reply.is_empty() => Ok(reply),
        (Err(e), _) => Err(format!("cannot send to {address}: {e}")),
    }
}

/// The command, the chunks with their lengths, the empty chunk that ends the stream.
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, message: &[u8]) -> std::io::Result<()> {
    stream.write_all(b"zINSTREAM\0").await?;
    let mut frame = Vec::with_capacity(CHUNK + 4);
    for chunk in message.chunks(CHUNK) {
        frame.clear();
        // A chunk is at most CHUNK (64 KiB) octets: its length fits the 4 octets.
        frame.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        frame.extend_from_slice(chunk);
        stream.write_all(&frame).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await
}

/// The reply up to and with its NUL (the rest is not read), or all of it when the peer
/// closes first.
async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S, address: &str) -> Result<Vec<u8>, String> {
    let mut reply = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("cannot read the reply of {address}: {e}"))?;
        if n == 0 {
            return Ok(reply);
        }
        if let Some(at) = memchr::memchr(0, &buf[..n]) {
            if reply.len() + at + 1 > MAX_REPLY {
                return Err(format!("the reply of {address} is larger than {MAX_REPLY} octets"));
            }
            reply.extend_from_slice(&buf[..=at]);
            return Ok(reply);
        }
        if reply.len() + n > MAX_REPLY {
            return Err(format!("the reply of {address} is larger than {MAX_REPLY} octets"));
        }
        reply.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(checks: &ContentChecks) -> ContentChecks {
        ContentChecks { block_dangerous_attachments: true, ..checks.clone() }
    }

    #[test]
    fn ok_is_clean() {
        assert_eq!(parse(b"stream: OK\0"), Ok(Verdict::Clean));
        assert_eq!(parse(b"stream: OK\n\0"), Ok(Verdict::Clean));
        assert_eq!(
            parse(b"stream: OK\0").unwrap().result(&ContentChecks::default()),
            ScanResult::Clean { score: None }
        );
    }

    #[test]
    fn found_is_a_virus_naming_the_signature() {
        let verdict = parse(b"stream: Win.Test.EICAR_HDB-1 FOUND\0").unwrap();
        assert_eq!(verdict, Verdict::Found("Win.Test.EICAR_HDB-1".into()));
        assert_eq!(
            verdict.result(&ContentChecks::default()),
            ScanResult::Blocked(Block {
                kind: BlockKind::Virus,
                rule: "CLAMAV:Win.Test.EICAR_HDB-1".into(),
                part: None
            })
        );
        // A virus is blocked whatever the dangerous-attachment setting says.
        let found = parse(b"stream: Postern.Test.Signature.UNOFFICIAL FOUND\0").unwrap();
        let ScanResult::Blocked(block) = found.result(&blocks(&ContentChecks::default())) else { panic!() };
        assert_eq!((block.kind, block.rule.as_str()), (BlockKind::Virus, "CLAMAV:Postern.Test.Signature.UNOFFICIAL"));
    }

    #[test]
    fn a_pua_follows_the_dangerous_attachment_setting() {
        let off = ContentChecks::default();
        assert!(!off.block_dangerous_attachments);
        let pua = || parse(b"stream: PUA.Win.Tool.NetTool-1 FOUND\0").unwrap();
        assert_eq!(
            pua().result(&off),
            ScanResult::Allowed { rule: "PUA.Win.Tool.NetTool-1 (checks.block_dangerous_attachments off)".into() }
        );
        assert_eq!(
            pua().result(&blocks(&off)),
            ScanResult::Blocked(Block {
                kind: BlockKind::Dangerous,
                rule: "CLAMAV:PUA.Win.Tool.NetTool-1".into(),
                part: None
            })
        );
        // Only the prefix makes a PUA: a virus whose name mentions one is a virus.
        let ScanResult::Blocked(b) = parse(b"stream: Win.Trojan.PUA-1 FOUND\0").unwrap().result(&off) else { panic!() };
        assert_eq!(b.kind, BlockKind::Virus);
    }

    #[test]
    fn errors_fail() {
        assert_eq!(
            parse(b"INSTREAM size limit exceeded. ERROR\0").unwrap_err(),
            "clamd error: INSTREAM size limit exceeded."
        );
        assert_eq!(parse(b"stream: Can't allocate memory ERROR\0").unwrap_err(), "clamd error: Can't allocate memory");
        assert_eq!(parse(b"UNKNOWN COMMAND\0").unwrap_err(), "garbled reply from clamd: \"UNKNOWN COMMAND\"");
    }

    #[test]
    fn garbage_is_never_clean() {
        for reply in [
            &b""[..],
            b"\0",
            b"stream: OK",
            b"stream: OK\n",
            b"stream: Eicar FOUND",
            b"OK\0",
            b"stream: ok\0",
            b"stream: FOUND\0",
            b"stream:  FOUND\0",
            b"stream: OKAY\0",
            b"stream: Eicar found\0",
            b"HTTP/1.1 200 OK\r\n\r\n\0",
            b"stream: \xff\xfe FOUND\0",
            b"\x00stream: OK\0",
        ] {
            assert!(parse(reply).is_err(), "{:?}", String::from_utf8_lossy(reply));
        }
    }

    #[test]
    fn signatures_are_printable_and_bounded() {
        let Verdict::Found(name) = parse("stream: Bad\tName\u{7f}é FOUND\0".as_bytes()).unwrap() else { panic!() };
        assert_eq!(name, "Bad?Name??");
        let long = format!("stream: {} FOUND\0", "A".repeat(1000));
        let Verdict::Found(name) = parse(long.as_bytes()).unwrap() else { panic!() };
        assert_eq!(name.len(), MAX_SIGNATURE + 3);
        assert!(name.ends_with("..."));
    }

    /// A clamd that checks the framing of what it is sent and answers `reply`.
    async fn fake_clamd(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut command = [0u8; 10];
            stream.read_exact(&mut command).await.unwrap();
            assert_eq!(&command, b"zINSTREAM\0");
            let mut received = Vec::new();
            loop {
                let len = stream.read_u32().await.unwrap() as usize;
                assert!(len <= CHUNK, "a chunk of {len} octets");
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                stream.read_exact(&mut chunk).await.unwrap();
                received.extend_from_slice(&chunk);
            }
            stream.write_all(reply).await.unwrap();
            received
        });
        (address, task)
    }

    #[tokio::test]
    async fn the_message_goes_in_chunks_and_the_reply_ends_at_its_nul() {
        let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (address, task) = fake_clamd(b"stream: OK\0trailing").await;
        let reply = instream(&address, Duration::from_secs(5), &message).await.unwrap();
        assert_eq!(reply, b"stream: OK\0");
        assert_eq!(task.await.unwrap(), message);
    }

    #[tokio::test]
    async fn an_oversized_reply_fails() {
        static LONG: [u8; 8192] = [b'x'; 8192];
        let (address, _task) = fake_clamd(&LONG).await;
        let err = instream(&address, Duration::from_secs(5), b"hello").await.unwrap_err();
        assert!(err.contains("larger than 4096"), "{err}");
    }

    #[tokio::test]
    async fn a_unix_socket_works() {
        let dir = std::env::temp_dir().join(format!("postern-clamav-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("clamd.sock");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let mut seen = Vec::new();
            while !seen.ends_with(&[0, 0, 0, 0]) {
                let n = stream.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            stream.write_all(b"stream: Eicar-Signature FOUND\0").await.unwrap();
        });
        let reply = instream(path.to_str().unwrap(), Duration::from_secs(5), b"hi").await.unwrap();
        assert_eq!(parse(&reply), Ok(Verdict::Found("Eicar-Signature".into())));
        let _ = std::fs::remove_dir_all(&dir);
        let err = instream(path.to_str().unwrap(), Duration::from_secs(5), b"hi").await.unwrap_err();
        assert!(err.starts_with("cannot connect to /"), "{err}");
    }
}
