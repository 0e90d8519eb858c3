//! Delivery status notifications: the NOTIFY matrix, RET, ORCPT, SMTPUTF8, hostile input,
//! and every built DSN read back by an independent parser (Python's `email` package).

use std::io::Write;
use std::process::Command;

use postern_core::test_support::{self, client, recipient};
use postern_core::{BodyType, DsnRet, Envelope, Notify, QueueId, Recipient};
use postern_queue::bounce::{DsnAction, DsnInput, DsnRecipient, build_dsn, wants_dsn};
use serde_json::{Value, json};

const MTA: &str = "relay.example.org";
const NOW_MS: i64 = 1_700_000_000_000; // Tue, 14 Nov 2023 22:13:20 +0000
const ORIGINAL: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: hello\r\n\
Message-ID: <m1@example.com>\r\n\r\nfirst body line\r\nBODY-MARKER\r\n";

fn envelope(sender: Option<&str>, ret: Option<DsnRet>) -> Envelope {
    Envelope {
        queue_id: QueueId::parse("0123456789ABCDEF0123").unwrap(),
        received_at_ms: NOW_MS - 3_600_000,
        ret,
        client: client("192.0.2.7:40000", "submission"),
        size: ORIGINAL.len() as u64,
        ..test_support::envelope(sender, &["bob@example.net"])
    }
}

fn report(to: &str, action: DsnAction, status: &str) -> DsnRecipient {
    DsnRecipient {
        recipient: recipient(to),
        action,
        status: status.into(),
        diagnostic: None,
        remote_mta: None,
        last_attempt_ms: None,
        will_retry_until_ms: None,
    }
}

fn failed(to: &str) -> DsnRecipient {
    DsnRecipient {
        diagnostic: Some(format!("550 5.1.1 <{to}>: no such user")),
        remote_mta: Some("mx.example.net".into()),
        last_attempt_ms: Some(NOW_MS - 1000),
        ..report(to, DsnAction::Failed, "5.1.1")
    }
}

fn dsn_queue_id() -> QueueId {
    QueueId::parse("00000000000000000042").unwrap()
}

fn build(envelope: &Envelope, recipients: &[DsnRecipient], original: &[u8]) -> Vec<u8> {
    let input =
        DsnInput { reporting_mta: MTA, envelope, recipients, original, dsn_queue_id: dsn_queue_id(), now_ms: NOW_MS };
    build_dsn(&input).expect("a DSN")
}

fn text(dsn: &[u8]) -> String {
    String::from_utf8_lossy(dsn).into_owned()
}

fn has_line(dsn: &[u8], line: &str) -> bool {
    text(dsn).split("\r\n").any(|l| l == line)
}

/// Reads the DSN with Python's `email` package and compares what it finds with `want`.
const PYTHON_CHECK: &str = r#"
import email, email.policy, email.utils, json, sys
raw = open(sys.argv[1], 'rb').read()
want = json.loads(sys.argv[2])
errors = []
def fix(s):
    s = str(s)
    try:
        return s.encode('utf-8', 'surrogateescape').decode('utf-8')
    except UnicodeError:
        return s
def check(what, got, expected):
    if got != expected:
        errors.append(f'{what}: got {got!r}, want {expected!r}')
msg = email.message_from_bytes(raw, policy=email.policy.default)
check('content type', msg.get_content_type(), 'multipart/report')
check('report-type', msg.get_param('report-type'), want['report_type'])
check('subject', str(msg['Subject']), want['subject'])
check('auto-submitted', str(msg['Auto-Submitted']), 'auto-replied')
check('from', str(msg['From']), 'Mail Delivery System <MAILER-DAEMON@' + want['mta'] + '>')
check('message-id', str(msg['Message-ID']), want['message_id'])
check('to', fix(msg['To']), want['to'])
email.utils.parsedate_to_datetime(str(msg['Date']))
for part in msg.walk():
    if part.defects:
        errors.append(f'defects in {part.get_content_type()}: {part.defects}')
parts = list(msg.iter_parts())
check('part types', [p.get_content_type() for p in parts],
      ['text/plain', 'message/' + want['report_type'], want['returned_type']])
if len(parts) == 3:
    human = parts[0].get_content()
    for needle in want.get('text_contains', []):
        if needle not in human:
            errors.append(f'text part lacks {needle!r}: {human!r}')
    status = parts[1]
    if status.get_content_type() == 'message/delivery-status':
        blocks = status.get_payload()
    else:
        # Python reads other message/* types as one message: first block, rest as body.
        inner = status.get_payload()[0]
        rest = inner.get_payload(decode=True) or b''
        blocks = [inner] + [email.message_from_bytes(b, policy=email.policy.default)
                            for b in rest.replace(b'\r\n', b'\n').split(b'\n\n') if b.strip()]
    check('reporting-mta', str(blocks[0]['Reporting-MTA']), 'dns; ' + want['mta'])
    check('queue id', str(blocks[0]['X-Postern-Queue-ID']), want['queue_id'])
    got = [{k: fix(b[k]) for k in ('Final-Recipient', 'Action', 'Status')} for b in blocks[1:]]
    check('recipients', got, want['recipients'])
    for index, name, value in want.get('fields', []):
        got = blocks[index][name]
        check(f'block {index} {name}', None if got is None else fix(got), value)
    returned = parts[2]
    if returned.get_content_type() in ('message/rfc822', 'message/global'):
        inner = returned.get_payload()[0]
        body = inner.get_payload(decode=True) or b''
        returned_text = fix(inner.get('Subject', '')) + '\n' + body.decode('utf-8', 'replace')
    else:
        returned_text = (returned.get_payload(decode=True) or b'').decode('utf-8', 'replace')
    for needle in want.get('returned_contains', []):
        if needle not in returned_text:
            errors.append(f'returned part lacks {needle!r}: {returned_text!r}')
    for needle in want.get('returned_lacks', []):
        if needle in returned_text:
            errors.append(f'returned part has {needle!r}')
if errors:
    print('\n'.join(errors))
    sys.exit(1)
print('ok')
"#;

fn python_check(dsn: &[u8], want: Value) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(dsn).unwrap();
    file.flush().unwrap();
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CHECK)
        .arg(file.path())
        .arg(want.to_string())
        .output()
        .expect("python3 is needed for the DSN parser check (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "python rejected the DSN:\n{stdout}{stderr}\n--- DSN ---\n{}",
        text(dsn)
    );
}

/// What most reports share; tests override the rest.
fn expect(subject: &str, returned_type: &str, recipients: Value) -> Value {
    json!({
        "report_type": "delivery-status",
        "subject": subject,
        "mta": MTA,
        "message_id": format!("<{}@{MTA}>", dsn_queue_id()),
        "to": "alice@example.com",
        "queue_id": "0123456789ABCDEF0123",
        "returned_type": returned_type,
        "recipients": recipients,
    })
}

fn rcpt(address: &str, action: &str, status: &str) -> Value {
    json!({"Final-Recipient": format!("rfc822; {address}"), "Action": action, "Status": status})
}

/// Every line outside the returned original stays below the 998-octet limit.
fn assert_short_lines_before_returned_part(dsn: &[u8]) {
    let whole = text(dsn);
    let before_original = whole.rsplit_once("Content-Description: ").map_or(whole.as_str(), |(head, _)| head);
    for line in before_original.split("\r\n") {
        assert!(line.len() < 998, "line of {} octets", line.len());
        assert!(!line.contains('\n') && !line.contains('\r'), "bare line end in {line:?}");
    }
}

#[test]
fn notify_matrix() {
    use DsnAction::*;
    let with = |notify: Option<Notify>| Recipient { notify, ..recipient("b@example.net") };
    let all = [Failed, Delayed, Relayed, Delivered];
    let cases: [(Option<Notify>, [bool; 4]); 7] = [
        (None, [true, true, false, false]),
        (Some(Notify { never: true, ..Notify::default() }), [false; 4]),
        (Some(Notify { never: true, success: true, failure: true, delay: true }), [false; 4]),
        (Some(Notify { success: true, ..Notify::default() }), [false, false, true, true]),
        (Some(Notify { failure: true, ..Notify::default() }), [true, false, false, false]),
        (Some(Notify { delay: true, ..Notify::default() }), [false, true, false, false]),
        (Some(Notify { success: true, failure: true, delay: true, never: false }), [true; 4]),
    ];
    for (notify, want) in cases {
        let got = all.map(|action| wants_dsn(&with(notify), action));
        assert_eq!(got, want, "{notify:?}");
    }
}

#[test]
fn never_to_the_null_sender_nor_without_recipients() {
    let input = |envelope, recipients| DsnInput {
        reporting_mta: MTA,
        envelope,
        recipients,
        original: ORIGINAL,
        dsn_queue_id: dsn_queue_id(),
        now_ms: NOW_MS,
    };
    let bob = [failed("bob@example.net")];
    let null = envelope(None, None);
    assert!(build_dsn(&input(&null, &bob)).is_none());
    let normal = envelope(Some("alice@example.com"), None);
    assert!(build_dsn(&input(&normal, &[])).is_none());
    assert!(build_dsn(&input(&normal, &bob)).is_some());
}

#[test]
fn failure_returns_the_full_message() {
    let mut env = envelope(Some("alice@example.com"), None);
    env.envid = Some("QQ314159".into());
    let dsn = build(&env, &[failed("bob@example.net")], ORIGINAL);
    for line in [
        "Date: Tue, 14 Nov 2023 22:13:20 +0000",
        "From: Mail Delivery System <MAILER-DAEMON@relay.example.org>",
        "To: <alice@example.com>",
        "Subject: Undelivered Mail Returned to Sender",
        "Message-ID: <00000000000000000042@relay.example.org>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Original-Envelope-Id: QQ314159",
        "Reporting-MTA: dns; relay.example.org",
        "X-Postern-Queue-ID: 0123456789ABCDEF0123",
        "Arrival-Date: Tue, 14 Nov 2023 21:13:20 +0000",
        "Final-Recipient: rfc822; bob@example.net",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.example.net",
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: no such user",
        "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:19 +0000",
        "Content-Type: message/rfc822",
    ] {
        assert!(has_line(&dsn, line), "missing {line:?} in\n{}", text(&dsn));
    }
    assert!(!text(&dsn).contains("Will-Retry-Until"));
    assert_short_lines_before_returned_part(&dsn);
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!([rcpt("bob@example.net", "failed", "5.1.1")]),
    );
    want["text_contains"] =
        json!(["<bob@example.net>: host mx.example.net said: 550 5.1.1 <bob@example.net>: no such user"]);
    want["returned_contains"] = json!(["hello", "BODY-MARKER"]);
    want["fields"] = json!([[0, "Original-Envelope-Id", "QQ314159"], [1, "Remote-MTA", "dns; mx.example.net"]]);
    python_check(&dsn, want);
}

#[test]
fn ret_hdrs_returns_headers_only() {
    let env = envelope(Some("alice@example.com"), Some(DsnRet::Hdrs));
    let dsn = build(&env, &[failed("bob@example.net")], ORIGINAL);
    assert!(has_line(&dsn, "Content-Type: text/rfc822-headers"));
    assert!(!text(&dsn).contains("BODY-MARKER"));
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "text/rfc822-headers",
        json!([rcpt("bob@example.net", "failed", "5.1.1")]),
    );
    want["returned_contains"] = json!(["Subject: hello", "Message-ID: <m1@example.com>"]);
    want["returned_lacks"] = json!(["BODY-MARKER"]);
    want["text_contains"] = json!(["only the headers of your message"]);
    python_check(&dsn, want);

    let full = build(&envelope(Some("alice@example.com"), Some(DsnRet::Full)), &[failed("bob@example.net")], ORIGINAL);
    assert!(has_line(&full, "Content-Type: message/rfc822"));
    assert!(text(&full).contains("BODY-MARKER"));
}

#[test]
fn delay_warning_returns_headers_only() {
    let env = envelope(Some("alice@example.com"), Some(DsnRet::Full));
    let delayed = DsnRecipient {
        diagnostic: Some("451 4.4.1 try again later".into()),
        remote_mta: Some("mx.example.net".into()),
        will_retry_until_ms: Some(NOW_MS + 4 * 86_400_000),
        ..report("bob@example.net", DsnAction::Delayed, "4.4.1")
    };
    let dsn = build(&env, &[delayed], ORIGINAL);
    assert!(has_line(&dsn, "Subject: Delayed Mail (still being retried)"));
    assert!(has_line(&dsn, "Will-Retry-Until: Sat, 18 Nov 2023 22:13:20 +0000"));
    assert!(!text(&dsn).contains("BODY-MARKER"));
    let mut want = expect(
        "Delayed Mail (still being retried)",
        "text/rfc822-headers",
        json!([rcpt("bob@example.net", "delayed", "4.4.1")]),
    );
    want["text_contains"] = json!(["warning only", "will retry until Sat, 18 Nov 2023"]);
    want["returned_lacks"] = json!(["BODY-MARKER"]);
    python_check(&dsn, want);
}

#[test]
fn success_report_and_mixed_report() {
    let env = envelope(Some("alice@example.com"), None);
    let delivered = DsnRecipient {
        diagnostic: Some("250 2.0.0 Ok: queued as 4F2".into()),
        remote_mta: Some("mx.example.net".into()),
        ..report("bob@example.net", DsnAction::Delivered, "2.0.0")
    };
    let relayed = report("carol@example.net", DsnAction::Relayed, "2.0.0");
    let dsn = build(&env, &[delivered.clone(), relayed], ORIGINAL);
    let want = expect(
        "Successful Mail Delivery Report",
        "text/rfc822-headers",
        json!([rcpt("bob@example.net", "delivered", "2.0.0"), rcpt("carol@example.net", "relayed", "2.0.0")]),
    );
    python_check(&dsn, want);

    let delayed = report("dave@example.net", DsnAction::Delayed, "4.4.1");
    let dsn = build(&env, &[delayed, failed("bob@example.net")], ORIGINAL);
    let want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!([rcpt("dave@example.net", "delayed", "4.4.1"), rcpt("bob@example.net", "failed", "5.1.1")]),
    );
    python_check(&dsn, want);
}

#[test]
fn boundary_never_occurs_in_the_original() {
    let id = dsn_queue_id();
    let original = format!(
        "Subject: trap\r\n\r\n--=_postern_{id}_00000000\r\n=_postern_{id}_00000001--\r\n=_postern_{id}_0000\r\n"
    );
    let env = envelope(Some("alice@example.com"), None);
    let dsn = build(&env, &[failed("bob@example.net")], original.as_bytes());
    let whole = text(&dsn);
    let boundary = whole.split("boundary=\"").nth(1).and_then(|b| b.split('"').next()).unwrap();
    assert_eq!(boundary, format!("=_postern_{id}_00000002"));
    assert!(!original.contains(boundary));
    let want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!([rcpt("bob@example.net", "failed", "5.1.1")]),
    );
    python_check(&dsn, want);
}

#[test]
fn original_recipient_is_decoded_from_orcpt() {
    let env = envelope(Some("alice@example.com"), None);
    let with_orcpt = |to: &str, orcpt: &str| {
        let mut r = failed(to);
        r.recipient.orcpt = Some(orcpt.into());
        r
    };
    let recipients = [
        with_orcpt("b1@example.net", "rfc822;bob+2Btag@example.com"),
        with_orcpt("b2@example.net", "rfc822;bad+ZZescape@example.com"),
        with_orcpt("b3@example.net", "rfc822;x+0D+0ABcc:+20victim@example.org"),
        with_orcpt("b4@example.net", "no-type-here"),
    ];
    let dsn = build(&env, &recipients, ORIGINAL);
    assert!(has_line(&dsn, "Original-Recipient: rfc822;bob+tag@example.com"));
    assert!(has_line(&dsn, "Original-Recipient: rfc822;bad+ZZescape@example.com"));
    assert!(has_line(&dsn, "Original-Recipient: rfc822;x+0D+0ABcc:+20victim@example.org"));
    assert!(!text(&dsn).split("\r\n").any(|l| l.starts_with("Bcc:")));
    assert_eq!(text(&dsn).matches("Original-Recipient:").count(), 3);
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!(["b1", "b2", "b3", "b4"].map(|b| rcpt(&format!("{b}@example.net"), "failed", "5.1.1"))),
    );
    want["fields"] =
        json!([[1, "Original-Recipient", "rfc822;bob+tag@example.com"], [4, "Original-Recipient", Value::Null]]);
    python_check(&dsn, want);
}

#[test]
fn smtputf8_message_gets_global_types() {
    let mut env = envelope(Some("jörg@bücher.example"), None);
    env.smtputf8 = true;
    env.body = BodyType::EightBitMime;
    let original = "From: jörg@bücher.example\r\nSubject: Grüße\r\n\r\nHallo BODY-MARKER\r\n".as_bytes();
    let mut bounced = failed("用户@example.net");
    bounced.recipient.orcpt = Some("utf-8;\\x{7528}\\x{6237}@example.net".into());
    let dsn = build(&env, &[bounced, failed("bob@example.net")], original);
    assert!(text(&dsn).contains("report-type=global-delivery-status"));
    assert!(has_line(&dsn, "Content-Type: message/global-delivery-status"));
    assert!(has_line(&dsn, "Content-Type: message/global"));
    assert!(has_line(&dsn, "To: <jörg@bücher.example>"));
    assert!(has_line(&dsn, "Final-Recipient: utf-8; 用户@example.net"));
    assert!(has_line(&dsn, "Original-Recipient: utf-8;用户@example.net"));
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "message/global",
        json!([
            {"Final-Recipient": "utf-8; 用户@example.net", "Action": "failed", "Status": "5.1.1"},
            rcpt("bob@example.net", "failed", "5.1.1"),
        ]),
    );
    want["report_type"] = json!("global-delivery-status");
    want["to"] = json!("jörg@bücher.example");
    want["text_contains"] = json!(["<用户@example.net>: host mx.example.net said"]);
    want["returned_contains"] = json!(["Hallo BODY-MARKER"]);
    python_check(&dsn, want);

    let hdrs = build(&env, &[report("bob@example.net", DsnAction::Delayed, "4.4.1")], original);
    assert!(has_line(&hdrs, "Content-Type: message/global-headers"));
    assert!(!text(&hdrs).contains("BODY-MARKER"));
}

#[test]
fn header_injection_is_neutralised() {
    let mut env = envelope(Some("alice@example.com"), None);
    env.envid = Some("id\r\nX-Evil: 1".into());
    let hostile = DsnRecipient {
        diagnostic: Some("550 no\r\nBcc: victim@example.org\r\n\r\n--fake-boundary".into()),
        remote_mta: Some("mx.example.net\r\nX-Evil: 2".into()),
        ..report("bob@example.net", DsnAction::Failed, "5.1.1\r\nX-Evil: 3")
    };
    let dsn = build(&env, &[hostile], ORIGINAL);
    for line in text(&dsn).split("\r\n") {
        assert!(!line.starts_with("X-Evil") && !line.starts_with("Bcc:"), "injected {line:?}");
        assert!(!line.starts_with("--fake-boundary"));
    }
    assert!(has_line(&dsn, "Status: 5.0.0"), "an invalid status falls back to the action's default");
    assert_short_lines_before_returned_part(&dsn);
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!([rcpt("bob@example.net", "failed", "5.0.0")]),
    );
    want["fields"] = json!([
        [0, "Original-Envelope-Id", "id X-Evil: 1"],
        [1, "Diagnostic-Code", "smtp; 550 no Bcc: victim@example.org --fake-boundary"],
        [1, "Remote-MTA", "dns; mx.example.netX-Evil:2"],
    ]);
    python_check(&dsn, want);
}

#[test]
fn long_and_non_ascii_diagnostics_stay_within_line_limits() {
    let env = envelope(Some("alice@example.com"), None);
    let words: Vec<String> = (0..400).map(|i| format!("wörd{i}")).collect();
    let long = format!("550 5.7.1 {}", words.join(" "));
    let unbroken = format!("554 {}", "x".repeat(3000));
    let r1 = DsnRecipient { diagnostic: Some(long.clone()), ..failed("bob@example.net") };
    let r2 = DsnRecipient { diagnostic: Some(unbroken), ..failed("carol@example.net") };
    let dsn = build(&env, &[r1, r2], ORIGINAL);
    assert!(has_line(&dsn, "Content-Transfer-Encoding: quoted-printable"));
    assert_short_lines_before_returned_part(&dsn);
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "message/rfc822",
        json!([rcpt("bob@example.net", "failed", "5.1.1"), rcpt("carol@example.net", "failed", "5.1.1")]),
    );
    want["text_contains"] = json!([long, "554 xxxxxxxxxx"]);
    python_check(&dsn, want);
    let whole = text(&dsn);
    assert!(!whole.contains(&"x".repeat(1000)), "diagnostics are capped in the report");
}

#[test]
fn oversized_message_returns_headers_and_says_so() {
    let env = envelope(Some("alice@example.com"), None);
    let mut original = ORIGINAL.to_vec();
    let line = [b"y".repeat(990), b"\r\n".to_vec()].concat();
    while original.len() <= 10 * 1024 * 1024 {
        original.extend_from_slice(&line);
    }
    let dsn = build(&env, &[failed("bob@example.net")], &original);
    assert!(dsn.len() < 64 * 1024, "{} octets", dsn.len());
    assert!(has_line(&dsn, "Content-Type: text/rfc822-headers"));
    let mut want = expect(
        "Undelivered Mail Returned to Sender",
        "text/rfc822-headers",
        json!([rcpt("bob@example.net", "failed", "5.1.1")]),
    );
    want["text_contains"] = json!(["larger than 10 MiB"]);
    want["returned_contains"] = json!(["Subject: hello"]);
    python_check(&dsn, want);
}

#[test]
fn malformed_originals_and_odd_values_never_panic() {
    let huge_line = vec![b'z'; 2 * 1024 * 1024];
    let huge_headers = [b"X-Long: ".to_vec(), vec![b'h'; 11 * 1024 * 1024]].concat();
    let originals: [&[u8]; 8] = [
        b"",
        b"\r\n",
        b"\r\n\r\nbody only",
        b"Subject: no separator and no line end",
        b"Subject: bare\nline ends\n\nbody\n",
        b"\xff\xfe\x00 binary \r\n\r\n\x80",
        &huge_line,
        &huge_headers,
    ];
    let mut odd = failed("bob@example.net");
    odd.status = "9.9.9.9".into();
    odd.last_attempt_ms = Some(i64::MIN);
    odd.will_retry_until_ms = Some(i64::MAX);
    odd.recipient.orcpt = Some(";+".into());
    for ret in [None, Some(DsnRet::Full), Some(DsnRet::Hdrs)] {
        let env = envelope(Some("alice@example.com"), ret);
        for original in originals {
            let actions: &[DsnAction] = match original.len() > 1024 * 1024 {
                true => &[DsnAction::Failed, DsnAction::Delayed],
                false => &[DsnAction::Failed, DsnAction::Delayed, DsnAction::Relayed, DsnAction::Delivered],
            };
            for &action in actions {
                let r = DsnRecipient { action, ..odd.clone() };
                let input = DsnInput {
                    reporting_mta: "relay\r\n.example",
                    envelope: &env,
                    recipients: std::slice::from_ref(&r),
                    original,
                    dsn_queue_id: dsn_queue_id(),
                    now_ms: i64::MAX,
                };
                let dsn = build_dsn(&input).expect("a DSN");
                assert_short_lines_before_returned_part(&dsn);
                assert!(dsn.len() <= 10 * 1024 * 1024 + 64 * 1024);
            }
        }
    }
    let env = envelope(Some("alice@example.com"), None);
    for original in [&b""[..], b"Subject: no separator", b"\r\n\r\nbody only"] {
        let dsn = build(&env, &[failed("bob@example.net")], original);
        let want = expect(
            "Undelivered Mail Returned to Sender",
            "message/rfc822",
            json!([rcpt("bob@example.net", "failed", "5.1.1")]),
        );
        python_check(&dsn, want);
    }
}

#[test]
fn dates_are_rfc5322_and_clamped() {
    let env = envelope(Some("alice@example.com"), None);
    let recipients = [failed("bob@example.net")];
    let at = |now_ms| {
        let input = DsnInput {
            reporting_mta: MTA,
            envelope: &env,
            recipients: &recipients,
            original: ORIGINAL,
            dsn_queue_id: dsn_queue_id(),
            now_ms,
        };
        let dsn = build_dsn(&input).unwrap();
        text(&dsn).split("\r\n").next().unwrap().to_string()
    };
    assert_eq!(at(1_709_208_000_000), "Date: Thu, 29 Feb 2024 12:00:00 +0000");
    assert_eq!(at(0), "Date: Thu, 1 Jan 1970 00:00:00 +0000");
    assert_eq!(at(-1), "Date: Thu, 1 Jan 1970 00:00:00 +0000");
    assert_eq!(at(i64::MAX), "Date: Fri, 31 Dec 9999 23:59:59 +0000");
}
