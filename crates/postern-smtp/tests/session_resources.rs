//! Scripted sessions for what a message may cost: the memory budget of messages in flight
//! (`452 4.3.1` beyond it, the session kept in step), the deadline of the whole DATA phase
//! and BDAT transfer (`421 4.4.2`), the 998-octet line limit (`550 5.6.0`), and the count
//! of open sessions (the metrics' gauge), which a session that ends or is cut leaves.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Options, start};
use postern_config::Limits;
use postern_smtp::MemoryBudget;

const MIB: usize = 1 << 20;

fn limits() -> Limits {
    Limits { max_message_size: 2 * MIB as u64, ..Limits::default() }
}

async fn client(memory: &Arc<MemoryBudget>) -> Client {
    let mut c = start(Options { limits: limits(), memory: Some(Arc::clone(memory)), ..Options::default() }).await;
    c.ehlo().await;
    c
}

async fn open_data(c: &mut Client) {
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
}

/// `n` octets of message in lines of 100.
fn message(n: usize) -> Vec<u8> {
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    while m.len() < n {
        m.extend_from_slice(&[b'x'; 98]);
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// Waits until the budget holds at least `n` octets (the server has read what was sent).
async fn wait_in_use(memory: &MemoryBudget, n: u64) {
    let start = Instant::now();
    while memory.in_use() < n {
        assert!(start.elapsed() < Duration::from_secs(10), "budget in use {} < {n}", memory.in_use());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn data_beyond_the_memory_budget_is_read_to_the_end_and_refused_with_452() {
    let memory = MemoryBudget::new((3 * MIB / 2) as u64);
    let mut a = client(&memory).await;
    open_data(&mut a).await;
    a.send(&message(900_000)).await;
    wait_in_use(&memory, 900_000).await;

    let mut b = client(&memory).await;
    open_data(&mut b).await;
    b.send(&message(800_000)).await;
    b.send(b".\r\n").await;
    b.expect("452 4.3.1 Error: insufficient system storage, try again later\r\n").await;
    assert!(b.refusals()[0].1.starts_with("memory budget for messages in flight spent"), "{:?}", b.refusals());
    // In step: the next transaction works, and a small message fits beside A's.
    b.send_message("a@example.com", &["b@example.net"], "Subject: small\r\n\r\nx\r\n").await;

    a.send(b".\r\n").await;
    a.expect("250 2.0.0 Ok: queued as *").await;
    assert_eq!(a.spooled().len(), 1);
    assert_eq!(b.spooled().len(), 1);
    assert_eq!(memory.in_use(), 0, "every grant given back");
}

#[tokio::test]
async fn bdat_beyond_the_memory_budget_is_read_and_refused_with_452() {
    let memory = MemoryBudget::new((3 * MIB / 2) as u64);
    let mut a = client(&memory).await;
    a.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    a.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let first = message(900_000);
    a.send(format!("BDAT {}\r\n", first.len()).as_bytes()).await;
    a.send(&first).await;
    a.expect(&format!("250 2.0.0 Ok: {} octets received\r\n", first.len())).await;

    let mut b = client(&memory).await;
    b.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    b.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let big = message(800_000);
    b.send(format!("BDAT {} LAST\r\n", big.len()).as_bytes()).await;
    b.send(&big).await;
    b.expect("452 4.3.1 Error: insufficient system storage, try again later\r\n").await;
    b.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    b.send_message("a@example.com", &["b@example.net"], "Subject: small\r\n\r\nx\r\n").await;

    a.send(b"BDAT 5 LAST\r\nend\r\n").await;
    a.expect("250 2.0.0 Ok: queued as *").await;
    assert_eq!(a.spooled().len(), 1);
    assert_eq!(memory.in_use(), 0);
}

#[tokio::test]
async fn a_dripping_client_is_cut_off_at_the_data_deadline() {
    let limits =
        Limits { data_timeout: Duration::from_secs(5), max_data_time: Duration::from_secs(1), ..Limits::default() };
    let mut c = start(Options { limits: limits.clone(), ..Options::default() }).await;
    c.ehlo().await;
    open_data(&mut c).await;
    let t0 = Instant::now();
    let drip = async {
        for _ in 0..50 {
            c.send_lossy(b"x").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), drip).await;
    c.expect("421 4.4.2 mx.test.example Error: timeout exceeded\r\n").await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    c.expect_closed().await;
    assert!(c.refusals()[0].1.starts_with("timeout while receiving DATA"), "{:?}", c.refusals());

    // BDAT: the deadline runs from the first chunk to LAST, over many chunks.
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let t0 = Instant::now();
    let mut reply = String::new();
    for _ in 0..30 {
        c.send_lossy(b"BDAT 2\r\nx").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send_lossy(b"y").await;
        reply = c.reply().await;
        if !reply.starts_with("250 ") {
            break;
        }
    }
    assert_eq!(reply, "421 4.4.2 mx.test.example Error: timeout exceeded\r\n");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn lines_over_998_octets_are_refused_at_the_end_of_data() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    let ok = format!("Subject: long\r\n\r\n{}\r\n", "x".repeat(998));
    c.send_message("a@example.com", &["b@example.net"], &ok).await;
    open_data(&mut c).await;
    c.send(format!("Subject: long\r\n\r\n{}\r\n.\r\n", "x".repeat(999)).as_bytes()).await;
    c.expect("550 5.6.0 Error: message has a line of 999 octets; lines may have at most 998 (RFC 5321)\r\n").await;
    // A stuffed line counts as it is sent on: with its stuffing dot.
    open_data(&mut c).await;
    c.send(format!("Subject: long\r\n\r\n..{}\r\n.\r\n", "x".repeat(998)).as_bytes()).await;
    c.expect("550 5.6.0 Error: message has a line of 1000 octets*").await;

    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let long = format!("Subject: long\r\n\r\n{}\r\n", "y".repeat(1500));
    c.send(format!("BDAT {} LAST\r\n{long}", long.len()).as_bytes()).await;
    c.expect("550 5.6.0 Error: message has a line of 1500 octets*").await;
    assert_eq!(c.spooled().len(), 1, "only the message with 998-octet lines");
    assert_eq!(c.refusals().len(), 3);
}

#[tokio::test]
async fn a_session_is_counted_open_until_it_ends_or_is_cut() {
    let mut c = start(Options::default()).await;
    assert_eq!(c.open_sessions.count(), 1);
    c.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
    c.expect_closed().await;
    (&mut c.task).await.unwrap();
    assert_eq!(c.open_sessions.count(), 0, "ended");

    let c = start(Options::default()).await;
    let open = Arc::clone(&c.open_sessions);
    assert_eq!(open.count(), 1);
    c.task.abort();
    let _ = c.task.await;
    assert_eq!(open.count(), 0, "its task dropped without a disconnect");
}

/// What an idle connection costs: tokio keeps a connection's whole state machine (the
/// future of `handle_connection`) in its task from accept to close, so its size is paid by
/// every connection, idle or not: 10,000 idle connections hold 10,000 of them. The DATA
/// and BDAT pipeline, AUTH, STARTTLS and the TLS handshake are boxed while they run, so
/// their state is not part of it: 1,504 octets in a debug build, against 11,456 before
/// they were.
#[tokio::test]
async fn an_idle_connection_holds_a_small_state() {
    let parts = common::parts(Options::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (tcp, peer) = listener.accept().await.unwrap();
    let connection = postern_smtp::handle_connection(tcp, peer, parts.context, parts.services, 1);
    let size = std::mem::size_of_val(&connection);
    assert!(size <= 2048, "a connection's state is {size} octets");
}
