//! Connection and protocol policy (SPEC.md §4), one scripted session per check with the
//! exact replies: connections per IP and per minute, messages per minute, FCrDNS, HELO
//! and sender checks (with a table for DNS), unauthorized pipelining, junk commands, the
//! soft error limit, the daily block, monitor mode. Delays run on paused time.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{HOST, Options, connect, start};
use postern_config::{ConnectionPolicy, Limits, PolicyCheck};
use postern_core::BoxFuture;
use postern_policy::RelayPolicy;
use postern_policy::dns_checks::{DnsChecks, DnsFailure, Lookup};
use postern_smtp::Protection;
use tokio::time::Instant;

/// DNS from a table. A name or address mapped to `None` fails (SERVFAIL); `hang` never answers.
#[derive(Default)]
struct Dns {
    ptr: HashMap<IpAddr, Option<Vec<&'static str>>>,
    a: HashMap<&'static str, Option<Vec<IpAddr>>>,
    mx: HashMap<&'static str, Option<Vec<(u16, &'static str)>>>,
    hang: bool,
}

fn answer<T: Clone, U>(entry: Option<&Option<Vec<T>>>, map: impl Fn(T) -> U) -> Result<Vec<U>, DnsFailure> {
    match entry {
        None => Ok(Vec::new()),
        Some(None) => Err(DnsFailure),
        Some(Some(v)) => Ok(v.iter().cloned().map(map).collect()),
    }
}

impl Dns {
    fn reply<T: Send + 'static>(&self, r: Result<Vec<T>, DnsFailure>) -> BoxFuture<'_, Result<Vec<T>, DnsFailure>> {
        let hang = self.hang;
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            r
        })
    }
}

impl Lookup for Dns {
    fn ptr(&self, ip: IpAddr) -> BoxFuture<'_, Result<Vec<String>, DnsFailure>> {
        self.reply(answer(self.ptr.get(&ip), str::to_string))
    }
    fn addresses(&self, name: &str, ipv6: bool) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        let r = answer(self.a.get(name), |a| a).map(|v| v.into_iter().filter(|a| a.is_ipv6() == ipv6).collect());
        self.reply(r)
    }
    fn mx(&self, name: &str) -> BoxFuture<'_, Result<Vec<(u16, String)>, DnsFailure>> {
        self.reply(answer(self.mx.get(name), |(p, h)| (p, h.to_string())))
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), 40000)
}

/// 192.0.2.0/24 may relay; clients come from there unless a test says otherwise.
fn opts(policy: ConnectionPolicy, dns: Option<Dns>, from: &str) -> Options {
    let dns = dns.map(|d| DnsChecks::new(Arc::new(d)));
    Options {
        policy: Some(RelayPolicy::new(vec!["192.0.2.0/24".parse().unwrap()])),
        protection: Some(Protection::new(policy, dns)),
        peer: peer(from),
        ..Options::default()
    }
}

fn dns() -> Dns {
    let mut d = Dns::default();
    d.ptr.insert(ip("192.0.2.20"), Some(vec!["good.example"]));
    d.ptr.insert(ip("192.0.2.22"), Some(vec!["liar.example"]));
    d.ptr.insert(ip("192.0.2.23"), None);
    d.a.insert("good.example", Some(vec![ip("192.0.2.20")]));
    d.a.insert("liar.example", Some(vec![ip("198.51.100.1")]));
    d.a.insert("host.example", Some(vec![ip("2001:db8::1")]));
    d.mx.insert("mail.example", Some(vec![(10, "mx.mail.example")]));
    d.mx.insert("null.example", Some(vec![(0, "")]));
    d.mx.insert("broken.example", None);
    d.a.insert("broken.example", None);
    d
}

fn refusals(c: &common::Client) -> Vec<(String, String)> {
    c.refusals()
}

#[tokio::test]
async fn concurrent_connections_per_ip_beyond_the_limit_get_421() {
    let policy = ConnectionPolicy { max_connections_per_ip: 2, ..ConnectionPolicy::default() };
    let shared = opts(policy, None, "192.0.2.10").protection.unwrap();
    let with =
        |from: &str| Options { protection: Some(shared.clone()), ..opts(ConnectionPolicy::default(), None, from) };
    let mut first = start(with("192.0.2.10")).await;
    let _second = start(with("192.0.2.10")).await;
    let mut third = connect(with("192.0.2.10")).await;
    third.expect(&format!("421 4.7.0 {HOST} Error: too many connections from 192.0.2.10\r\n")).await;
    third.expect_closed().await;
    assert_eq!(refusals(&third)[0].0, format!("421 4.7.0 {HOST} Error: too many connections from 192.0.2.10"));
    assert!(refusals(&third)[0].1.contains("3 concurrent connections from 192.0.2.10, limit 2"));
    // Another address is not affected; a closed connection frees its place.
    let _other = start(with("192.0.2.11")).await;
    first.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
    first.task.await.unwrap();
    let _again = start(with("192.0.2.10")).await;
}

#[tokio::test]
async fn event_limit_exceptions_are_not_counted() {
    let policy = ConnectionPolicy {
        max_connections_per_ip: 1,
        event_limit_exceptions: vec!["192.0.2.0/28".parse().unwrap()],
        ..ConnectionPolicy::default()
    };
    let shared = opts(policy, None, "192.0.2.1").protection.unwrap();
    let with =
        |from: &str| Options { protection: Some(shared.clone()), ..opts(ConnectionPolicy::default(), None, from) };
    let _a = start(with("192.0.2.1")).await;
    let _b = start(with("192.0.2.1")).await;
    let _c = start(with("192.0.2.100")).await;
    let mut d = connect(with("192.0.2.100")).await;
    d.expect(&format!("421 4.7.0 {HOST} Error: too many connections from 192.0.2.100\r\n")).await;
}

#[tokio::test(start_paused = true)]
async fn connections_per_minute_beyond_the_limit_are_refused_for_the_rest_of_the_window() {
    let policy =
        ConnectionPolicy { max_connections_per_ip: 0, connections_per_minute_per_ip: 2, ..ConnectionPolicy::default() };
    let shared = opts(policy, None, "192.0.2.12").protection.unwrap();
    let with = || Options { protection: Some(shared.clone()), ..opts(ConnectionPolicy::default(), None, "192.0.2.12") };
    for _ in 0..2 {
        let mut c = start(with()).await;
        c.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
    }
    let refused = format!("421 4.7.0 {HOST} Error: too many connections from 192.0.2.12\r\n");
    connect(with()).await.expect(&refused).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    connect(with()).await.expect(&refused).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    start(with()).await.cmd("QUIT", "221 2.0.0 Bye\r\n").await;
}

#[tokio::test(start_paused = true)]
async fn messages_per_minute_beyond_the_limit_get_450_at_mail() {
    let policy = ConnectionPolicy { messages_per_minute_per_ip: 2, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, None, "192.0.2.13")).await;
    c.ehlo().await;
    for _ in 0..2 {
        c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
        c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    }
    c.cmd("MAIL FROM:<a@example.com>", "450 4.7.1 Error: too many messages from 192.0.2.13\r\n").await;
    c.cmd("MAIL FROM:<>", "450 4.7.1 Error: too many messages from 192.0.2.13\r\n").await;
    tokio::time::advance(Duration::from_secs(60)).await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    let (reply, reason) = &refusals(&c)[0];
    assert_eq!(reply, "450 4.7.1 Error: too many messages from 192.0.2.13");
    assert!(reason.contains("3 messages this minute"), "{reason}");
}

#[tokio::test]
async fn clients_without_forward_confirmed_reverse_dns_get_450_at_rcpt() {
    let policy = ConnectionPolicy { require_fcrdns: true, ..ConnectionPolicy::default() };
    let transaction = |from: &'static str, want: String| {
        let policy = policy.clone();
        async move {
            let mut c = start(opts(policy, Some(dns()), from)).await;
            c.ehlo().await;
            c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
            c.cmd("RCPT TO:<b@example.net>", &want).await;
            // Decided once per connection.
            c.cmd("RCPT TO:<c@example.net>", &want).await;
            c
        }
    };
    transaction("192.0.2.20", "250 2.1.5 Ok\r\n".into()).await;
    let cannot = |ip: &str| format!("450 4.7.25 Client host rejected: cannot find your hostname, [{ip}]\r\n");
    let c = transaction("192.0.2.21", cannot("192.0.2.21")).await; // no PTR
    assert_eq!(refusals(&c).len(), 2);
    assert!(refusals(&c)[0].1.contains("no forward-confirmed reverse DNS name"));
    transaction("192.0.2.22", cannot("192.0.2.22")).await; // PTR name does not point back
    let trouble = "450 4.4.3 Client host rejected: DNS lookup failed for [192.0.2.23]; try again later\r\n";
    transaction("192.0.2.23", trouble.into()).await; // SERVFAIL: temporary
}

#[tokio::test]
async fn helo_names_must_be_fully_qualified() {
    let policy = ConnectionPolicy { helo_must_be_fqdn: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, None, "192.0.2.30")).await;
    c.cmd("EHLO localhost", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname\r\n").await;
    c.cmd("MAIL FROM:<a@example.com>", "503 5.5.1 Error: send HELO/EHLO first\r\n").await;
    c.cmd("HELO 192.0.2.30", "504 5.5.2 <192.0.2.30>: Helo command rejected: need fully-qualified hostname\r\n").await;
    c.cmd("HELO [192.0.2.30]", &format!("250 {HOST}\r\n")).await;
    c.cmd("EHLO [IPv6:2001:db8::1]", "250-*").await;
    c.cmd("EHLO client.example.", "250-*").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    assert_eq!(refusals(&c)[0].0, "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname");
}

#[tokio::test]
async fn helo_names_must_resolve() {
    let policy = ConnectionPolicy { helo_must_resolve: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, Some(dns()), "192.0.2.31")).await;
    c.cmd("EHLO nowhere.example", "450 4.7.1 <nowhere.example>: Helo command rejected: Host not found\r\n").await;
    c.cmd(
        "EHLO broken.example",
        "450 4.4.3 <broken.example>: Helo command rejected: DNS lookup failed; try again later\r\n",
    )
    .await;
    c.cmd("EHLO host.example", "250-*").await; // AAAA only
    c.cmd("EHLO mail.example", "250-*").await; // MX only
    c.cmd("EHLO [192.0.2.31]", "250-*").await; // never looked up
}

#[tokio::test]
async fn senders_must_be_fully_qualified() {
    let policy = ConnectionPolicy { sender_must_be_fqdn: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, None, "192.0.2.32")).await;
    c.ehlo().await;
    c.cmd(
        "MAIL FROM:<a@localhost>",
        "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address\r\n",
    )
    .await;
    c.cmd("MAIL FROM:<>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("MAIL FROM:<a@[192.0.2.1]>", "250 2.1.0 Ok\r\n").await;
    let refused = &refusals(&c)[0];
    assert_eq!(refused.0, "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address");
}

#[tokio::test]
async fn sender_domains_must_resolve() {
    let policy = ConnectionPolicy { sender_domain_must_resolve: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, Some(dns()), "192.0.2.33")).await;
    c.ehlo().await;
    c.cmd(
        "MAIL FROM:<a@nowhere.example>",
        "450 4.1.8 <a@nowhere.example>: Sender address rejected: Domain not found\r\n",
    )
    .await;
    c.cmd(
        "MAIL FROM:<a@null.example>",
        "550 5.7.27 <a@null.example>: Sender address rejected: Domain null.example does not accept mail (nullMX)\r\n",
    )
    .await;
    c.cmd(
        "MAIL FROM:<a@broken.example>",
        "450 4.4.3 <a@broken.example>: Sender address rejected: DNS lookup failed; try again later\r\n",
    )
    .await;
    for ok in ["a@mail.example", "a@host.example", ""] {
        c.cmd(&format!("MAIL FROM:<{ok}>"), "250 2.1.0 Ok\r\n").await;
        c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    }
}

#[tokio::test(start_paused = true)]
async fn silent_dns_is_a_temporary_failure_never_a_hang() {
    let policy =
        ConnectionPolicy { helo_must_resolve: true, sender_domain_must_resolve: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, Some(Dns { hang: true, ..Dns::default() }), "192.0.2.34")).await;
    let started = Instant::now();
    c.cmd(
        "EHLO client.example",
        "450 4.4.3 <client.example>: Helo command rejected: DNS lookup failed; try again later\r\n",
    )
    .await;
    assert_eq!(started.elapsed(), postern_policy::dns_checks::DEFAULT_DEADLINE);
}

#[tokio::test]
async fn input_before_the_greeting_is_unauthorized_pipelining() {
    let policy = ConnectionPolicy { reject_unauth_pipelining: true, ..ConnectionPolicy::default() };
    let mut c =
        start(Options { pregreet: Some(b"EHLO client.example\r\n".to_vec()), ..opts(policy, None, "192.0.2.35") })
            .await;
    c.expect("250-*").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining\r\n").await;
    let refused = &refusals(&c)[0];
    assert!(refused.1.starts_with("improper command pipelining after CONNECT: EHLO client.example"), "{}", refused.1);
}

#[tokio::test]
async fn pipelining_after_helo_is_unauthorized() {
    let policy = ConnectionPolicy { reject_unauth_pipelining: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy, None, "192.0.2.36")).await;
    c.cmd("HELO client.example", &format!("250 {HOST}\r\n")).await;
    // Without EHLO, no command may be sent before the reply to the one before.
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.expect("250 2.1.5 Ok\r\n").await;
    c.expect("503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining\r\n").await;
    // Once seen, for the whole session; BDAT too (its chunk is read and dropped).
    c.cmd("RSET", "250 2.0.0 Ok\r\n").await;
    c.cmd("EHLO client.example", "250-*").await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.send(b"BDAT 4 LAST\r\nHi\r\n").await;
    c.expect("503 5.5.0 <BDAT>: Data command rejected: Improper use of SMTP command pipelining\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    assert!(c.spooled().is_empty());
    let reason = &refusals(&c)[0].1;
    assert!(reason.starts_with("improper command pipelining after MAIL: RCPT TO:<b@example.net>"), "{reason}");
}

#[tokio::test]
async fn ehlo_clients_may_pipeline_but_not_after_a_group_end() {
    let policy = ConnectionPolicy { reject_unauth_pipelining: true, ..ConnectionPolicy::default() };
    let mut c = start(opts(policy.clone(), None, "192.0.2.37")).await;
    c.ehlo().await;
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.expect("250 2.1.5 Ok\r\n").await;
    c.expect("354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: x\r\n\r\nx\r\n.\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 3 LAST\r\nx\r\n").await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.expect("250 2.1.5 Ok\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;

    // EHLO ends a group (RFC 2920): a command sent with it is sent ahead of time.
    let mut c = start(opts(policy, None, "192.0.2.37")).await;
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n").await;
    c.expect("250-*").await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining\r\n").await;
}

#[tokio::test(start_paused = true)]
async fn junk_commands_beyond_the_limit_are_errors_and_each_tenth_costs_a_second() {
    let policy = ConnectionPolicy { junk_command_limit: 25, soft_error_limit: 0, ..ConnectionPolicy::default() };
    let limits = Limits { hard_error_limit: 3, ..Limits::default() };
    let mut c = start(Options { limits, ..opts(policy, None, "192.0.2.38") }).await;
    let started = Instant::now();
    for i in 1..=9 {
        c.cmd(["NOOP", "RSET", "VRFY postmaster"][i % 3], "2*").await;
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    c.cmd("ETRN example.com", "502 5.5.1 Error: command not implemented\r\n").await; // junk 11, error 1
    c.ehlo().await;
    c.send_message("a@example.com", &["b@example.net"], "Subject: x\r\n\r\nx\r\n").await;
    // A message forgives: the count starts over.
    let restart = Instant::now();
    for _ in 0..25 {
        c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    }
    assert_eq!(restart.elapsed(), Duration::from_secs(2));
    // Beyond the limit each junk command is an error: the third reaches the hard limit.
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    c.expect(&format!("421 4.7.0 {HOST} Error: too many errors\r\n")).await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn after_the_soft_error_limit_every_reply_waits() {
    let policy =
        ConnectionPolicy { soft_error_limit: 2, error_sleep: Duration::from_secs(1), ..ConnectionPolicy::default() };
    let limits = Limits { hard_error_limit: 5, ..Limits::default() };
    let mut c = start(Options { limits, ..opts(policy, None, "192.0.2.39") }).await;
    let started = Instant::now();
    c.cmd("XYZZY", "500 5.5.2 Error: command not recognized\r\n").await;
    c.cmd("XYZZY", "500 5.5.2 Error: command not recognized\r\n").await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    c.cmd("EHLO client.example", "250-*").await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    c.cmd("XYZZY", "500 5.5.2 Error: command not recognized\r\n").await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    // A delivered message forgives the errors.
    c.send_message("a@example.com", &["b@example.net"], "Subject: x\r\n\r\nx\r\n").await;
    let after = Instant::now();
    c.cmd("NOOP", "250 2.0.0 Ok\r\n").await;
    assert_eq!(after.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn too_many_refused_recipients_block_the_client_for_the_day() {
    let policy = ConnectionPolicy { refused_recipients_limit: 2, ..ConnectionPolicy::default() };
    let shared = Protection::new(policy, None);
    // 203.0.113.0/24 is not a trusted network: every recipient is refused.
    let with = |from: &str| Options { protection: Some(shared.clone()), peer: peer(from), ..Options::default() };
    let mut c = start(with("203.0.113.5")).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok\r\n").await;
    for rcpt in ["x@example.net", "y@example.net"] {
        c.cmd(&format!("RCPT TO:<{rcpt}>"), &format!("554 5.7.1 <{rcpt}>: Relay access denied\r\n")).await;
    }
    start(with("203.0.113.5")).await; // two refused: not yet
    c.cmd("RCPT TO:<z@example.net>", "554 5.7.1 <z@example.net>: Relay access denied\r\n").await;
    let mut blocked = connect(with("203.0.113.5")).await;
    blocked.expect(&format!("421 4.7.0 {HOST} Error: too many errors from 203.0.113.5; try again tomorrow\r\n")).await;
    blocked.expect_closed().await;
    assert!(refusals(&blocked)[0].1.contains("3 recipients refused today, limit 2"));
    start(with("203.0.113.6")).await;
}

#[tokio::test(start_paused = true)]
async fn too_many_failed_authentications_block_the_client_for_the_day() {
    let policy = ConnectionPolicy { auth_failures_limit: 1, ..ConnectionPolicy::default() };
    let shared = Protection::new(policy, None);
    let with = || Options {
        protection: Some(shared.clone()),
        peer: peer("203.0.113.7"),
        allow_plaintext_auth: true,
        ..Options::default()
    };
    let mut c = start(with()).await;
    c.ehlo().await;
    let bad = STANDARD.encode("\0nobody@example.com\0wrong");
    c.cmd(&format!("AUTH PLAIN {bad}"), "535 5.7.8 Error: authentication failed\r\n").await;
    start(with()).await;
    c.cmd(&format!("AUTH PLAIN {bad}"), "535 5.7.8 Error: authentication failed\r\n").await;
    let mut blocked = connect(with()).await;
    blocked.expect(&format!("421 4.7.0 {HOST} Error: too many errors from 203.0.113.7; try again tomorrow\r\n")).await;
}

#[tokio::test]
async fn monitor_mode_logs_what_it_would_refuse_and_refuses_nothing() {
    let policy = ConnectionPolicy {
        max_connections_per_ip: 1,
        require_fcrdns: true,
        helo_must_be_fqdn: true,
        sender_must_be_fqdn: true,
        reject_unauth_pipelining: true,
        monitor: vec![
            PolicyCheck::MaxConnectionsPerIp,
            PolicyCheck::RequireFcrdns,
            PolicyCheck::HeloMustBeFqdn,
            PolicyCheck::SenderMustBeFqdn,
            PolicyCheck::RejectUnauthPipelining,
        ],
        ..ConnectionPolicy::default()
    };
    let shared = opts(policy, Some(dns()), "192.0.2.21").protection.unwrap();
    let with = || Options { protection: Some(shared.clone()), ..opts(ConnectionPolicy::default(), None, "192.0.2.21") };
    let _first = start(with()).await;
    let mut c = start(with()).await;
    c.send(b"HELO localhost\r\nMAIL FROM:<a@localhost>\r\n").await;
    c.expect(&format!("250 {HOST}\r\n")).await;
    c.expect("250 2.1.0 Ok\r\n").await;
    c.cmd("RCPT TO:<b@example.net>", "250 2.1.5 Ok\r\n").await;
    c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    c.send(b"Subject: x\r\n\r\nx\r\n.\r\n").await;
    c.expect("250 2.0.0 Ok: queued as *").await;
    let seen = refusals(&c);
    let want = [
        format!("421 4.7.0 {HOST} Error: too many connections from 192.0.2.21"),
        "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname".to_string(),
        "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address".to_string(),
        "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.21]".to_string(),
        "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining".to_string(),
    ];
    assert_eq!(seen.iter().map(|(reply, _)| reply.clone()).collect::<Vec<_>>(), want);
    for (_, reason) in &seen {
        assert!(reason.starts_with("would refuse (monitor): "), "{reason}");
    }
    assert_eq!(c.spooled().len(), 1);
}
