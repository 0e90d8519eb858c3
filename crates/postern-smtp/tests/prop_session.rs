//! Property tests (fuzzing in CI) for whole sessions: what the parsers see once the
//! session strings them together. AUTH PLAIN and LOGIN exchanges (good, bad, undecodable,
//! aborted blobs), BDAT chunk sequences (sizes that lie, missing LAST, bare line ends),
//! DATA with hostile content, commands in between, all pipelined and cut into random
//! chunks, on the real session with a real spool.
//!
//! In: generated client byte streams. Out: failures naming the shrunk stream. The
//! properties: the session never panics and always ends once the client is gone; every
//! reply line is `ddd ` or `ddd-` ended by CRLF; every `queued as` reply has a message in
//! the spool and nothing else is there; no spooled message carries a bare CR or LF (no
//! smuggling through BDAT or DATA) or exceeds the size limit.
//! Cases: [`config`] (`PROPTEST_CASES` raises it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_config::{ConnectionPolicy, Limits, ListenerKind};
use postern_core::tenancy::{AccountKind, Domain, SenderSecurity};
use postern_core::test_support::account_of;
use postern_core::{BoxFuture, Event, EventSink};
use postern_policy::{Directory, DirectoryIndex, GuardConfig, RelayPolicy, password};
use postern_queue::Spool;
use postern_smtp::dotstuff::find_bare_line_end;
use postern_smtp::{ListenerContext, Protection, Services, handle_connection};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

const MAX_SIZE: u64 = 8192;
const USER: &str = "alice@example.com";
const PASSWORD: &str = "alice's secret";

struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn policy() -> RelayPolicy {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| password::hash(PASSWORD).unwrap()).clone();
    let domain = Domain {
        name: "example.com".into(),
        filter_enabled: true,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let alice = account_of(1, "example.com", AccountKind::User, USER);
    let index = DirectoryIndex::build(vec![domain], vec![(alice, Some(hash))]);
    RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
        .with_directory(Arc::new(Directory::new(index)))
        .with_auth_guard(GuardConfig {
            max_failures: 1000,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(60),
            failure_delay: Duration::ZERO,
        })
}

// ---------- generators ----------

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A PLAIN or LOGIN response: right, wrong, undecodable, empty, aborted, over-long.
fn auth_blob() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just(USER.to_string()),
        Just(PASSWORD.to_string()),
        Just(String::new()),
        "[ -~]{0,30}",
        "[\0-\u{1f}é]{0,8}",
        "[a-z]{321,330}",
    ];
    prop_oneof![
        3 => prop::collection::vec(part.clone(), 1..5).prop_map(|parts| b64(parts.join("\0").as_bytes())),
        1 => Just(b64(format!("\0{USER}\0{PASSWORD}").as_bytes())),
        1 => part.prop_map(|p| b64(p.as_bytes())),
        1 => "[A-Za-z0-9+/=*!. -]{0,40}",
        1 => Just("=".to_string()),
        1 => Just("*".to_string()),
        1 => "[A-Za-z0-9+/]{12300,12400}",
    ]
}

fn auth() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        auth_blob().prop_map(|b| format!("AUTH PLAIN {b}\r\n")),
        auth_blob().prop_map(|b| format!("AUTH PLAIN\r\n{b}\r\n")),
        (auth_blob(), auth_blob()).prop_map(|(u, p)| format!("AUTH LOGIN\r\n{u}\r\n{p}\r\n")),
        (auth_blob(), auth_blob()).prop_map(|(u, p)| format!("AUTH LOGIN {u}\r\n{p}\r\n")),
        ("[A-Za-z0-9_-]{0,25}", prop::option::of(auth_blob())).prop_map(|(m, b)| match b {
            Some(b) => format!("AUTH {m} {b}\r\n"),
            None => format!("AUTH {m}\r\n"),
        }),
    ]
    .prop_map(String::into_bytes)
}

/// Message content with hostile pieces: dot lines, bare CR and LF, NUL, 8-bit, long lines.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => "[ -~]{0,40}\r\n".prop_map(String::into_bytes),
        2 => Just(b"Received: from x\r\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"..\r\n".to_vec()),
        1 => Just(b"\n.\n".to_vec()),
        1 => Just(b"\r.\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..30),
        1 => "[a-z]{990,1010}\r\n".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn transaction() -> impl Strategy<Value = Vec<u8>> {
    let from = prop_oneof![Just(USER.to_string()), Just(String::new()), "[a-z]{1,8}@[a-z]{1,8}\\.example"];
    let rcpts = prop::collection::vec("[a-z%!.]{1,8}@[a-z]{1,8}\\.(example|test)", 0..3);
    (from, rcpts).prop_map(|(from, rcpts)| {
        let mut out = format!("MAIL FROM:<{from}>\r\n");
        for r in rcpts {
            out.push_str(&format!("RCPT TO:<{r}>\r\n"));
        }
        out.into_bytes()
    })
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    (content(), prop_oneof![4 => Just(&b".\r\n"[..]), 1 => Just(&b""[..]), 1 => Just(&b".\n"[..])]).prop_map(
        |(body, end)| {
            let mut out = b"DATA\r\n".to_vec();
            out.extend_from_slice(&body);
            if !body.ends_with(b"\r\n") && !end.is_empty() {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(end);
            out
        },
    )
}

/// BDAT chunks whose announced size is usually, but not always, the truth.
fn bdat() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (content(), prop_oneof![6 => Just(0i64), 1 => -5i64..5, 1 => Just(100_000i64)], any::<bool>());
    prop::collection::vec(chunk, 1..4).prop_map(|chunks| {
        let count = chunks.len();
        let mut out = Vec::new();
        for (i, (body, lie, last)) in chunks.into_iter().enumerate() {
            let size = (body.len() as i64 + lie).max(0);
            let last = if last || i + 1 == count { " LAST" } else { "" };
            out.extend_from_slice(format!("BDAT {size}{last}\r\n").as_bytes());
            out.extend_from_slice(&body);
        }
        out
    })
}

fn step() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => auth(),
        3 => transaction(),
        2 => data(),
        2 => bdat(),
        1 => prop::sample::select(vec!["RSET\r\n", "NOOP\r\n", "EHLO again.example\r\n", "HELP\r\n", "VRFY x\r\n", "XYZZY\r\n", "STARTTLS\r\n"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
}

fn script() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => Just("EHLO client.example\r\n"), 1 => Just("HELO client.example\r\n"), 1 => Just("")],
        prop::collection::vec(step(), 1..8),
        any::<bool>(),
    )
        .prop_map(|(hello, steps, quit)| {
            let mut out = hello.as_bytes().to_vec();
            out.extend(steps.concat());
            if quit {
                out.extend_from_slice(b"QUIT\r\n");
            }
            out
        })
}

// ---------- running a session ----------

/// Runs one session over `chunks`; returns the client's view and the spooled messages.
fn run(chunks: Vec<Vec<u8>>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let out = runtime.block_on(async {
        let protection = ConnectionPolicy { error_sleep: Duration::ZERO, ..ConnectionPolicy::default() };
        let context = Arc::new(ListenerContext {
            kind: ListenerKind::Submission,
            hostname: "mx.test.example".into(),
            banner: "mx.test.example ESMTP Postern".into(),
            limits: Limits { max_message_size: MAX_SIZE, ..Limits::default() },
            add_missing_headers: true,
            allow_plaintext_auth: true,
            max_connections: 1,
            tls: None,
            protection: Protection::new(protection, None),
        });
        let policy = policy();
        let pipeline = postern_pipeline::Pipeline::new(Arc::new(spool.clone()), Arc::new(Discard))
            .with_counters(policy.limits().cloned(), policy.locks().cloned());
        let services = Arc::new(Services {
            policy,
            pipeline: Arc::new(pipeline),
            events: Arc::new(Discard),
            memory: postern_smtp::MemoryBudget::new(Limits::default().max_data_in_flight),
            shutdown: CancellationToken::new(),
            open_sessions: Default::default(),
        });
        let (client, server) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let task = tokio::spawn(handle_connection(server, peer, context, services, 1));
        let (mut read, mut write) = tokio::io::split(client);
        let writer = async move {
            for chunk in chunks {
                if write.write_all(&chunk).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let _ = write.shutdown().await;
        };
        let mut out = Vec::new();
        let session = async {
            let _ = tokio::join!(writer, read.read_to_end(&mut out));
            task.await
        };
        let ended = tokio::time::timeout(Duration::from_secs(60), session).await.expect("the session never ended");
        ended.expect("the session panicked");
        out
    });
    let recovery = spool.recover().unwrap();
    assert!(recovery.corrupt.is_empty());
    let messages = recovery.messages.into_iter().map(|id| spool.read(id).unwrap().1).collect();
    (out, messages)
}

fn chunked(input: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut last = 0;
    let mut chunks = Vec::new();
    for p in points.into_iter().chain([input.len()]) {
        chunks.push(input[last..p].to_vec());
        last = p;
    }
    chunks
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn sessions_survive_hostile_clients(
        input in script(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let (out, messages) = run(chunked(&input, &cuts));
        let text = String::from_utf8_lossy(&out);
        for line in text.split_inclusive('\n') {
            let b = line.as_bytes();
            let ok = b.len() >= 6 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b' ' | b'-') && line.ends_with("\r\n");
            prop_assert!(ok, "malformed reply line {line:?} in {text:?}");
        }
        let queued = text.lines().filter(|l| l.contains(" queued as ")).count();
        prop_assert_eq!(messages.len(), queued, "{}", text);
        for message in &messages {
            prop_assert_eq!(find_bare_line_end(message), None, "bare line end spooled: {:?}", String::from_utf8_lossy(message));
            prop_assert!(message.len() as u64 <= MAX_SIZE + 2048, "{} octets spooled", message.len());
        }
    }
}
