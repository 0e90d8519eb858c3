//! Scripted sessions over TLS: STARTTLS, implicit TLS, and the STARTTLS injection defence.

mod common;

use common::{HOST, Options, start};
use postern_config::ListenerKind;
use postern_core::EventKind;

const EHLO_TLS: &str = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

#[tokio::test]
async fn starttls_then_mail() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.cmd("STARTTLS x", "501 5.5.4 Syntax: STARTTLS\r\n").await;
    c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS\r\n").await;
    c.tls_handshake().await;
    // RFC 3207: the client starts over; MAIL before EHLO is refused.
    c.cmd("MAIL FROM:<a@example.com>", "503 5.5.1 Error: send HELO/EHLO first\r\n").await;
    c.cmd("EHLO client.example", EHLO_TLS).await;
    c.cmd("STARTTLS", "554 5.5.1 Error: TLS already active\r\n").await;
    let id = c.send_message("a@example.com", &["b@example.net"], "Subject: tls\r\n\r\nx\r\n").await;
    let (env, message) = &c.spooled()[0];
    assert_eq!(env.client.tls.as_ref().unwrap().version, "TLSv1.3");
    let text = String::from_utf8_lossy(message);
    let want = "Received: from client.example ([127.0.0.1])\r\n\t(using TLSv1.3 with cipher TLS13_";
    assert!(text.starts_with(want), "{text}");
    assert!(text.contains(&format!("\tby {HOST} (Postern) with ESMTPS id {id}\r\n")), "{text}");
    let tls_events = c.events.0.lock().unwrap().iter().filter(|e| matches!(e.kind, EventKind::Tls { .. })).count();
    assert_eq!(tls_events, 1);
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_discarded() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n").await;
    c.expect("220 2.0.0 Ready to start TLS\r\n").await;
    c.tls_handshake().await;
    // Had the injected MAIL been read, this EHLO's reply would not come first.
    c.cmd("EHLO client.example", EHLO_TLS).await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
}

#[tokio::test]
async fn starttls_unavailable_without_certificate() {
    let mut c = start(Options { tls: false, ..Options::default() }).await;
    c.cmd("EHLO client.example", "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n").await;
    c.cmd("STARTTLS", "454 4.7.0 TLS not available due to local problem\r\n").await;
}

#[tokio::test]
async fn implicit_tls() {
    let mut c = start(Options { kind: ListenerKind::Smtps, add_missing_headers: true, ..Options::default() }).await;
    c.tls_handshake().await;
    c.expect(&format!("220 {HOST} ESMTP Postern\r\n")).await;
    c.cmd("EHLO client.example", EHLO_TLS).await;
    c.send_message("a@example.com", &["b@example.net"], "Subject: smtps\r\n\r\nx\r\n").await;
    let (env, message) = &c.spooled()[0];
    assert_eq!(env.client.listener, "smtps");
    assert!(String::from_utf8_lossy(message).contains("Message-ID: <"));
}
