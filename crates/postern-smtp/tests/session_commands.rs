//! Scripted sessions, byte for byte: greeting, EHLO, every command, order and syntax
//! errors, recipients, relay refusal, error limits, timeouts, shutdown.

mod common;

use common::{HOST, Options, start};
use postern_config::Limits;

const EHLO_PLAIN: &str = "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

#[tokio::test]
async fn greeting_ehlo_helo() {
    let mut c = start(Options::default()).await;
    c.cmd("EHLO client.example", EHLO_PLAIN).await;
    c.cmd("HELO client.example", &format!("250 {HOST}\r\n")).await;
    c.cmd("ehlo client.example", EHLO_PLAIN).await;
    c.cmd("EHLO", "501 5.5.4 Syntax: EHLO hostname\r\n").await;
    c.cmd("HELO", "501 5.5.4 Syntax: HELO hostname\r\n").await;
}

#[tokio::test]
async fn simple_verbs() {
    let mut c = start(Options::default()).await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    c.cmd("NOOP anything", "250 2.0.0 Ok\r\n").await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("RSET x", "501 5.5.4 Syntax: RSET\r\n").await;
    c.cmd("VRFY postmaster", "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n").await;
    c.cmd("VRFY", "501 5.5.4 Syntax: VRFY address\r\n").await;
    c.cmd("HELP", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n").await;
    c.cmd("EXPN staff", "502 5.5.1 Error: command not implemented\r\n").await;
    c.cmd("ETRN example.com", "502 5.5.1 Error: command not implemented\r\n").await;
    c.cmd("AUTH PLAIN AGEAYg==", "503 5.5.1 Error: send EHLO first\r\n").await;
    c.cmd("XYZZY", "500 5.5.2 Error: command not recognized\r\n").await;
    c.cmd("QUIT now", "501 5.5.4 Syntax: QUIT\r\n").await;
    c.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn commands_out_of_order() {
    let mut c = start(Options::default()).await;
    c.cmd("MAIL FROM:<a@example.com>", "503 5.5.1 Error: send HELO/EHLO first\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1 Error: need MAIL command\r\n").await;
    c.cmd("DATA", "503 5.5.1 Error: need MAIL command\r\n").await;
    c.ehlo().await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1 Error: need MAIL command\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "503 5.5.1 Error: nested MAIL command\r\n").await;
    c.cmd("DATA", "503 5.5.1 Error: need RCPT command\r\n").await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1 Error: need MAIL command\r\n").await;
    // EHLO resets the transaction too.
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.ehlo().await;
    c.cmd("RCPT TO:<b@example.net>", "503 5.5.1 Error: need MAIL command\r\n").await;
}

#[tokio::test]
async fn bad_syntax() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.cmd("MAIL TO:<a@example.com>", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n").await;
    c.cmd("MAIL FROM:a@example.com", "501 5.1.7 Bad sender address syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com", "501 5.1.7 Bad sender address syntax\r\n").await;
    c.cmd("MAIL FROM:<a@@example.com>", "501 5.1.7 Bad sender address syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> SIZE=big", "501 5.5.4 Bad SIZE syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> BODY=BINARYMIME", "501 5.5.4 Bad BODY keyword syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> RET=ALL", "501 5.5.4 Bad RET keyword syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> ENVID=a=b", "501 5.5.4 Bad ENVID parameter syntax\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> FOO=BAR", "555 5.5.4 Unsupported option: FOO\r\n").await;
    c.cmd("MAIL FROM:<jörg@example.com>", "553 5.6.7 Error: SMTPUTF8 is required for a non-ASCII address\r\n").await;
    c.cmd("MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ314159 AUTH=<> BODY=8BITMIME SIZE=100", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:b@example.net", "501 5.1.3 Bad recipient address syntax\r\n").await;
    c.cmd("RCPT TO:<@relay.example:b@example.net>", "501 5.1.3 Bad recipient address syntax\r\n").await;
    c.cmd("RCPT TO:<b@example.net@other.example>", "501 5.1.3 Bad recipient address syntax\r\n").await;
    c.cmd("RCPT TO:<b@[127.1]>", "501 5.1.3 Bad recipient address syntax\r\n").await;
    c.cmd("RCPT TO:<b@example.net> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY parameter syntax\r\n").await;
    c.cmd("RCPT TO:<b@example.net> ORCPT=rfc822", "501 5.5.4 Bad ORCPT parameter syntax\r\n").await;
    c.cmd("RCPT TO:<b@example.net> XFORWARD=1", "555 5.5.4 Unsupported option: XFORWARD\r\n").await;
    c.cmd("RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.net", "250 2.1.5 Ok\r\n").await;
    c.cmd("BDAT x", "501 5.5.4 Syntax: BDAT size [LAST]\r\n").await;
    c.cmd("DATA now", "501 5.5.4 Syntax: DATA\r\n").await;
    c.send(b"NOOP \xff\xfe\r\n").await;
    c.expect("500 5.5.2 Error: bad UTF-8 syntax\r\n").await;
}

#[tokio::test]
async fn esmtp_parameters_need_ehlo() {
    let mut c = start(Options::default()).await;
    c.cmd("HELO client.example", &format!("250 {HOST}\r\n")).await;
    c.cmd("MAIL FROM:<a@example.com> SIZE=10", "555 5.5.4 Unsupported option: SIZE\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
}

#[tokio::test]
async fn long_lines_and_bare_lf_in_commands() {
    let mut c = start(Options::default()).await;
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    c.send(long.as_bytes()).await;
    c.expect("500 5.5.2 Error: line too long\r\n").await;
    c.send(b"NOOP\n").await;
    c.expect("500 5.5.2 Error: bare <LF> received\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
}

#[tokio::test]
async fn recipient_limit_keeps_the_first_n() {
    let limits = Limits { max_recipients: 2, ..Limits::default() };
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<one@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("RCPT TO:<two@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("RCPT TO:<three@example.net>", "452 4.5.3 Error: too many recipients\r\n").await;
    c.cmd("RCPT TO:<four@example.net>", "452 4.5.3 Error: too many recipients\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let spooled = c.spooled();
    let rcpts: Vec<String> = spooled[0].0.recipients.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(rcpts, ["one@example.net", "two@example.net"]);
}

#[tokio::test]
async fn duplicate_recipients_are_stored_once() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.send_message("a@example.com", &["b@example.net", "b@EXAMPLE.net", "c@example.net"], "Subject: x\r\n\r\nx\r\n")
        .await;
    assert_eq!(c.spooled()[0].0.recipients.len(), 2);
}

#[tokio::test]
async fn untrusted_client_may_not_relay() {
    let peer = "192.0.2.7:5000".parse().unwrap();
    let mut c = start(Options { peer, ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<victim@example.net>", "554 5.7.1 <victim@example.net>: Relay access denied\r\n").await;
    c.cmd(
        "RCPT TO:<\"victim@example.net\"@example.org>",
        "554 5.7.1 <\"victim@example.net\"@example.org>: Relay access denied\r\n",
    )
    .await;
    c.cmd(
        "RCPT TO:<victim%example.net@example.org>",
        "554 5.7.1 <victim%example.net@example.org>: Relay access denied\r\n",
    )
    .await;
    c.cmd("DATA", "503 5.5.1 Error: need RCPT command\r\n").await;
    let refusals = c.refusals();
    assert_eq!(refusals.len(), 3);
    assert_eq!(refusals[0].0, "554 5.7.1 <victim@example.net>: Relay access denied");
    assert!(refusals[0].1.contains("not in a trusted network"));
}

#[tokio::test]
async fn a_refusal_carries_no_queue_id() {
    let peer = "192.0.2.7:5000".parse().unwrap();
    let mut c = start(Options { peer, ..Options::default() }).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<victim@example.net>", "554 5.7.1 <victim@example.net>: Relay access denied\r\n").await;
    c.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
    let _ = c.task.await;
    let events = c.events.0.lock().unwrap().clone();
    let refused: Vec<_> = events.iter().filter(|e| e.kind.name() == "refused").collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0].queue_id, None, "the message was never queued: {:?}", refused[0]);
}

#[tokio::test]
async fn hard_error_limit_disconnects() {
    let limits = Limits { hard_error_limit: 3, ..Limits::default() };
    let mut c = start(Options { limits, ..Options::default() }).await;
    c.cmd("FOO", "500 5.5.2 Error: command not recognized\r\n").await;
    c.cmd("BAR", "500 5.5.2 Error: command not recognized\r\n").await;
    c.send(b"BAZ\r\n").await;
    c.expect("500 5.5.2 Error: command not recognized\r\n").await;
    c.expect(&format!("421 4.7.0 {HOST} Error: too many errors\r\n")).await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn idle_client_times_out() {
    let mut c = start(Options::default()).await;
    c.ehlo().await;
    c.expect(&format!("421 4.4.2 {HOST} Error: timeout exceeded\r\n")).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn shutdown_tells_idle_clients_and_lets_transactions_finish() {
    let mut idle = start(Options::default()).await;
    idle.ehlo().await;
    idle.shutdown.cancel();
    idle.expect(&format!("421 4.3.2 {HOST} Service shutting down\r\n")).await;
    idle.expect_closed().await;

    let mut busy = start(Options::default()).await;
    busy.ehlo().await;
    busy.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    busy.shutdown.cancel();
    busy.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    busy.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    busy.send(b"Subject: in flight\r\n\r\nbody\r\n.\r\n").await;
    busy.expect("250 2.0.0 Ok: queued as *").await;
    busy.expect(&format!("421 4.3.2 {HOST} Service shutting down\r\n")).await;
    assert_eq!(busy.spooled().len(), 1);
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let mut c = start(Options::default()).await;
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n").await;
    c.expect(EHLO_PLAIN).await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.expect("250 2.1.5 Ok\r\n").await;
    c.expect("250 2.1.5 Ok\r\n").await;
    c.expect("354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    c.expect("221 2.0.0 Bye\r\n").await;
}
