//! AFL target: a whole SMTP session over the client's bytes (commands, AUTH PLAIN/LOGIN
//! exchanges, DATA, BDAT chunks, pipelining), on the real session with AUTH offered in
//! plaintext and one account. The waits a policy adds (error sleep, junk-command pacing,
//! AUTH failure delay) are off, so that each input runs fast.
//! Crashes on a panic, a reply line that is not `ddd ` / `ddd-`, or a message accepted
//! with a bare CR or LF in it (the smuggling defence).
use std::sync::Arc;
use std::time::Duration;

use postern_config::{ConnectionPolicy, Limits, ListenerKind};
use postern_core::tenancy::{Account, AccountKind, AccountSettings, Domain, LockState, SenderSecurity};
use postern_core::{BoxFuture, Enqueue, Envelope, Event, EventSink, Reply};
use postern_policy::{Directory, DirectoryIndex, GuardConfig, RelayPolicy, password};
use postern_smtp::dotstuff::find_bare_line_end;
use postern_smtp::{ListenerContext, Protection, Services, handle_connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Accepts every message after checking it carries no bare CR or LF.
struct CheckedSpool;

impl Enqueue for CheckedSpool {
    fn enqueue(&self, _envelope: Envelope, head: Vec<u8>, body: Vec<u8>) -> BoxFuture<'_, Result<(), Reply>> {
        assert_eq!(find_bare_line_end(&head), None, "bare line end in our headers");
        assert_eq!(find_bare_line_end(&body), None, "bare line end accepted");
        Box::pin(async { Ok(()) })
    }
}

fn policy() -> RelayPolicy {
    let domain = Domain {
        name: "example.com".into(),
        filter_enabled: true,
        sender_security: SenderSecurity::default(),
        abuse_contact: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let alice = Account {
        id: 1,
        domain: "example.com".into(),
        kind: AccountKind::User,
        name: "alice@example.com".into(),
        has_password: true,
        settings: AccountSettings::for_kind(AccountKind::User),
        lock: LockState::default(),
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let hash = password::hash("secret").expect("hash");
    let index = DirectoryIndex::build(vec![domain], vec![(alice, Some(hash))]);
    RelayPolicy::new(vec!["10.0.0.0/8".parse().expect("net")])
        .with_directory(Arc::new(Directory::new(index)))
        .with_auth_guard(GuardConfig {
            max_failures: 1000,
            failure_window: Duration::from_secs(60),
            block_time: Duration::from_secs(60),
            failure_delay: Duration::ZERO,
        })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let limits = Limits { max_message_size: 4096, max_recipients: 20, ..Limits::default() };
    let context = Arc::new(ListenerContext {
        kind: ListenerKind::Submission,
        hostname: "mx.fuzz.example".into(),
        banner: "mx.fuzz.example ESMTP Postern".into(),
        limits,
        add_missing_headers: true,
        allow_plaintext_auth: true,
        max_connections: 1,
        tls: None,
        protection: Protection::new(
            ConnectionPolicy { error_sleep: Duration::ZERO, junk_command_limit: 0, ..ConnectionPolicy::default() },
            None,
        ),
    });
    let policy = policy();
    let pipeline = postern_pipeline::Pipeline::new(Arc::new(CheckedSpool), Arc::new(Discard))
        .with_counters(policy.limits().cloned(), policy.locks().cloned());
    let services = Arc::new(Services {
        policy,
        pipeline: Arc::new(pipeline),
        events: Arc::new(Discard),
        memory: postern_smtp::MemoryBudget::new(1 << 20),
        shutdown: CancellationToken::new(),
    });
    // The session's parts are not unwind-safe (trait objects); a panic ends the process
    // anyway, which is what AFL records as a crash.
    let state = std::panic::AssertUnwindSafe((runtime, context, services));
    afl::fuzz(true, move |data: &[u8]| {
        let (runtime, context, services) = &*state;
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let peer = "192.0.2.7:40000".parse().expect("peer");
            let task = tokio::spawn(handle_connection(server, peer, context.clone(), services.clone(), 1));
            let (mut read, mut write) = tokio::io::split(&mut client);
            let writer = async {
                let _ = write.write_all(data).await;
                let _ = write.shutdown().await;
            };
            let mut out = Vec::new();
            let reader = read.read_to_end(&mut out);
            let _ = tokio::join!(writer, reader);
            task.await.expect("session panicked");
            for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let ok = line.len() >= 5
                    && line[..3].iter().all(u8::is_ascii_digit)
                    && matches!(line[3], b' ' | b'-')
                    && line.ends_with(b"\r");
                assert!(ok, "malformed reply line {:?}", String::from_utf8_lossy(line));
            }
        });
    });
}
