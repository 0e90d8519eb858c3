//! Scripted sessions for the message itself: DATA and BDAT, dot-stuffing, size and hop
//! limits, SMTP smuggling, our added headers, and spool failure.

mod common;

use common::{HOST, Options, start};
use postern_config::{Limits, ListenerKind};

#[tokio::test]
async fn message_is_spooled_with_our_received_header_first() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    let body = "From: a@example.com\r\nSubject: hi\r\n\r\n..starts with a dot\r\nline\r\n";
    let id = c.send_message("a@example.com", &["b@example.net"], body).await;
    let spooled = c.spooled();
    let (env, message) = &spooled[0];
    assert_eq!(env.queue_id.to_string(), id);
    assert_eq!(env.sender.as_ref().unwrap().to_string(), "a@example.com");
    let text = String::from_utf8(message.clone()).unwrap();
    let head = format!(
        "Received: from client.example ([127.0.0.1])\r\n\tby {HOST} (Postern) with ESMTP id {id}\r\n\tfor <b@example.net>; "
    );
    assert!(text.starts_with(&head), "{text}");
    let after_received = text.split_once("\r\n").unwrap().1.split_once("\r\n").unwrap().1.split_once("\r\n").unwrap().1;
    assert_eq!(after_received, "From: a@example.com\r\nSubject: hi\r\n\r\n.starts with a dot\r\nline\r\n");
    assert_eq!(env.size, message.len() as u64);
}

#[tokio::test]
async fn several_recipients_are_not_named_in_received() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    let id = c.send_message("", &["b@example.net", "c@example.net"], "Subject: x\r\n\r\nx\r\n").await;
    let (env, message) = &c.spooled()[0];
    assert!(env.sender.is_none());
    let text = String::from_utf8_lossy(message);
    assert!(text.contains(&format!("\tby {HOST} (Postern) with ESMTP id {id};\r\n\t")), "{text}");
    assert!(!text.contains("for <"));
}

#[tokio::test]
async fn submission_adds_message_id_and_date_only_when_missing() {
    let mut c =
        start(Options { kind: ListenerKind::Submission, add_missing_headers: true, ..Options::default() }).await;
    c.ehlo().await;
    let id = c.send_message("a@example.com", &["b@example.net"], "Subject: bare\r\n\r\nx\r\n").await;
    c.send_message(
        "a@example.com",
        &["b@example.net"],
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <own@example.com>\r\n\r\nx\r\n",
    )
    .await;
    let spooled = c.spooled();
    let first = String::from_utf8_lossy(&spooled[0].1).into_owned();
    assert!(first.contains(&format!("\r\nMessage-ID: <{id}@{HOST}>\r\n")), "{first}");
    assert!(first.contains("\r\nDate: "), "{first}");
    let second = String::from_utf8_lossy(&spooled[1].1).into_owned();
    assert_eq!(second.matches("Message-ID:").count(), 1);
    assert_eq!(second.matches("Date:").count(), 1);
}

#[tokio::test]
async fn relay_listener_adds_nothing_but_received() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.send_message("a@example.com", &["b@example.net"], "Subject: bare\r\n\r\nx\r\n").await;
    let text = String::from_utf8_lossy(&c.spooled()[0].1).into_owned();
    assert!(!text.contains("Message-ID:") && !text.contains("\r\nDate:"), "{text}");
}

#[tokio::test]
async fn too_large_declared_and_actual() {
    let limits = Limits { max_message_size: 2048, ..Limits::default() };
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.cmd("EHLO client.example", "250-*").await;
    c.cmd("MAIL FROM:<a@example.com> SIZE=2049", "552 5.3.4 Message size exceeds fixed limit\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> SIZE=1000", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "y".repeat(5000));
    c.send(big.as_bytes()).await;
    c.expect("552 5.3.4 Error: message file too big\r\n").await;
    // The session is still in step: the next message goes through.
    c.send_message("a@example.com", &["b@example.net"], "Subject: small\r\n\r\nok\r\n").await;
    assert_eq!(c.spooled().len(), 1);
    assert!(c.refusals().iter().any(|(r, why)| r.starts_with("552") && why.contains("5018 octets")));
}

#[tokio::test]
async fn too_many_hops() {
    let limits = Limits { max_hops: 3, ..Limits::default() };
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.ehlo().await;
    let hops = "Received: from a\r\nReceived: from b\r\nReceived: from c\r\n";
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(format!("{hops}Subject: loop\r\n\r\nx\r\n.\r\n").as_bytes()).await;
    c.expect("554 5.4.6 Error: too many hops\r\n").await;
    c.send_message(
        "a@example.com",
        &["b@example.net"],
        "Received: from a\r\nReceived: from b\r\nSubject: ok\r\n\r\nx\r\n",
    )
    .await;
    assert_eq!(c.spooled().len(), 1);
}

/// Each smuggling sequence, with a complete second transaction behind it.
#[tokio::test]
async fn smuggling_sequences_are_refused_and_disconnect() {
    let sequences: [(&str, &str); 7] = [
        ("\n.\n", "<LF>"),
        ("\r.\r", "<CR>"),
        ("\n.\r\n", "<LF>"),
        ("\r\n.\n", "<LF>"),
        ("\r.\r\n", "<CR>"),
        ("\r\n.\r", "<CR>"),
        ("\n\r.\r\n", "<LF>"),
    ];
    for (seq, what) in sequences {
        let mut c = start(Options::default()).await;
        c.ehlo().await;
        c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
        c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
        c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
        let payload = format!(
            "Subject: outer\r\n\r\nouter{seq}MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n"
        );
        c.send(payload.as_bytes()).await;
        c.expect(&format!("550 5.5.2 Error: bare {what} received\r\n")).await;
        c.expect_closed().await;
        assert!(c.spooled().is_empty(), "sequence {seq:?} spooled something");
    }
}

#[tokio::test]
async fn bdat_chunks() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.send(b"BDAT 5\r\nhello").await;
    c.expect("503 5.5.1 Error: need MAIL command\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let part1 = "Subject: chunks\r\n\r\n";
    let part2 = ".no dot-stuffing in BDAT\r\n";
    c.send(format!("BDAT {}\r\n{part1}", part1.len()).as_bytes()).await;
    c.expect(&format!("250 2.0.0 Ok: {} octets received\r\n", part1.len())).await;
    c.cmd("DATA", "503 5.5.1 Error: DATA after BDAT\r\n").await;
    c.send(format!("BDAT {} LAST\r\n{part2}", part2.len()).as_bytes()).await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let text = String::from_utf8_lossy(&c.spooled()[0].1).into_owned();
    assert!(text.ends_with(&format!("{part1}{part2}")), "{text}");
}

#[tokio::test]
async fn bdat_refuses_bare_line_ends_and_oversize_but_stays_in_step() {
    let limits = Limits { max_message_size: 2048, ..Limits::default() };
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let bad = "Subject: x\r\n\r\nline\n.\nMAIL FROM:<e@x>\r\n";
    c.send(format!("BDAT {} LAST\r\n{bad}", bad.len()).as_bytes()).await;
    c.expect("550 5.6.0 Error: bare <LF> received\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    let big = "z".repeat(3000);
    c.send(format!("BDAT {} LAST\r\n{big}", big.len()).as_bytes()).await;
    c.expect("552 5.3.4 Error: message file too big\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    assert!(c.spooled().is_empty());
}

#[tokio::test]
async fn eight_bit_and_smtputf8() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8 BODY=8BITMIME", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<用户@例子.example>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send("Subject: Grüße\r\n\r\nÄÖÜ ß 你好\r\n.\r\n".as_bytes()).await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let (env, message) = &c.spooled()[0];
    assert!(env.smtputf8);
    assert_eq!(env.recipients[0].address.to_string(), "用户@例子.example");
    assert!(message.ends_with("Subject: Grüße\r\n\r\nÄÖÜ ß 你好\r\n".as_bytes()));
    assert!(String::from_utf8_lossy(message).contains(" with UTF8SMTP id "));
}

#[tokio::test]
async fn spool_failure_is_a_temporary_error_and_nothing_is_kept() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    // Where the spool creates its first journal segment is no longer a directory.
    let journal = c.spool_dir.path().join("journal");
    std::fs::remove_dir(&journal).unwrap();
    std::fs::write(&journal, b"not a directory").unwrap();
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: x\r\n\r\nx\r\n.\r\n").await;
    c.expect("451 4.3.0 Error: queue file write error\r\n").await;
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    assert!(c.spooled().is_empty());
    assert!(c.refusals().iter().any(|(r, why)| r.starts_with("451") && why == "spool write failed"));
}

#[tokio::test]
async fn every_message_leaves_its_verdict_trace_through_the_pipeline() {
    use postern_core::{Disposition, EventKind};
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    let id = c.send_message("a@example.com", &["b@example.net"], "Subject: hi\r\n\r\nclean\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: t\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n.\r\n").await;
    c.expect("550 5.7.1 Error: message content rejected as spam (GTUBE)\r\n").await;
    let traces: Vec<(Option<String>, Disposition, Vec<String>)> = c
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Checked { disposition, checks, .. } => Some((
                e.queue_id.map(|q| q.to_string()),
                *disposition,
                checks
                    .iter()
                    .map(|k| format!("{}:{}:{}", k.engine, k.rule.as_deref().unwrap_or("-"), k.result))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(traces.len(), 2, "{traces:?}");
    assert_eq!(traces[0], (Some(id), Disposition::Deliver, vec!["gtube:-:pass".to_string()]));
    assert_eq!((traces[1].1, traces[1].2.clone()), (Disposition::Quarantine, vec!["gtube:GTUBE:spam".to_string()]));
    assert_eq!(c.spooled().len(), 1);
}
