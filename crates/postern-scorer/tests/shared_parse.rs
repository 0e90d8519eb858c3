//! The scorer on the pipeline's shared parse: every message scores the same, with the same
//! rules and clues and the same view (`truncated` and `unparsable` included), whether the
//! scorer parses it itself, makes the shared parse, or finds it made by another check; a
//! message over the scorer's bound is still scored on its first bytes only.

use std::sync::Arc;

use postern_core::tenancy::AccountSettings;
use postern_core::test_support::{account, envelope};
use postern_pipeline::{Parsed, ScanInput, ScanResult, Scanner};
use postern_scorer::rules::Sender;
use postern_scorer::{Analyzer, Bounds, Models, ScorerScanner, TrainingMinimum};

const SPAMMY: &str = "Dear friend, act now: this is a limited time offer, 100% free and risk free! \
Get cheap V1AGRA from our online pharmacy. Click here: https://bit.ly/3xYz. To be removed from our list, click below.";

const PROSE: &str = "Hi Bob, attached are the minutes of Tuesday's meeting. The next one is on the 14th; \
could you bring the updated schedule for the build server migration? Thanks, Alice";

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() { ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char } else { '=' });
        }
        if i % 19 == 18 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

/// Bytes that look like nothing in particular, from a fixed seed.
fn noise(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let head = "From: Sales <sales@example.com>\r\nTo: you@remote.example, b@remote.example\r\nCc: c@remote.example\r\n\
X-Mailer: Bulk Mailer 5.1\r\nMIME-Version: 1.0\r\n";
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    zip.extend(noise(3000));
    let mut doc = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    doc.extend(noise(5000));
    let attachments = format!(
        "{head}Subject: Invoice 2231\r\nContent-Type: multipart/mixed; boundary=\"B1\"\r\n\r\n\
--B1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{PROSE}\r\n\
--B1\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\nContent-Disposition: attachment; filename=\"invoice.zip\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\
--B1\r\nContent-Type: application/msword; name=\"a.doc\"\r\nContent-Disposition: attachment; filename=\"a.doc\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}--B1--\r\n",
        base64(&zip),
        base64(&doc)
    );
    let alternative = format!(
        "{head}Subject: =?utf-8?B?RlJFRSBNT05FWSE=?=\r\nContent-Type: multipart/alternative; boundary=\"B2\"\r\n\r\n\
--B2\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
--B2\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--B2--\r\n",
        base64(SPAMMY.as_bytes()),
        base64(
            format!("<p>{SPAMMY}</p><div style=\"display:none\">{PROSE}</div><a href=\"https://bit.ly/x\">www.yourbank.com</a><img src=x>")
                .as_bytes()
        )
    );
    let forwarded = format!(
        "{head}Subject: Fwd: offer\r\nContent-Type: multipart/mixed; boundary=\"B3\"\r\n\r\n--B3\r\nContent-Type: text/plain\r\n\r\n\
See below.\r\n--B3\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n\
From: x@spam.example\r\nSubject: FREE\r\nContent-Type: text/html\r\n\r\n<p>{SPAMMY}</p>\r\n--B3--\r\n"
    );
    let many_parts = {
        let mut m = format!("{head}Subject: parts\r\nContent-Type: multipart/mixed; boundary=\"B4\"\r\n\r\n");
        for i in 0..40 {
            m.push_str(&format!("--B4\r\nContent-Type: text/plain\r\n\r\npart {i} {PROSE}\r\n"));
        }
        m.push_str("--B4--\r\n");
        m
    };
    let broken = format!(
        "{head}Subject: broken\r\nContent-Type: multipart/mixed; boundary=\"B5\"\r\n\r\n--B5\r\n\
Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64 at all%%\r\n\
--B5\r\nContent-Type: text/html; charset=x-unknown\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9 =\r\n{SPAMMY}"
    );
    let long = format!(
        "{head}Subject: Notes\r\nContent-Type: text/plain\r\n\r\n{}{}\r\n",
        format!("{PROSE}\r\n").repeat(40),
        format!("{SPAMMY}\r\n").repeat(40)
    );
    vec![
        (
            "plain",
            format!("{head}Subject: Minutes\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{PROSE}\r\n")
                .into_bytes(),
        ),
        (
            "html",
            format!("{head}Subject: FREE MONEY!!\r\nContent-Type: text/html\r\n\r\n<html><p>{SPAMMY}</p></html>\r\n")
                .into_bytes(),
        ),
        ("base64 attachments", attachments.into_bytes()),
        ("base64 text and html", alternative.into_bytes()),
        ("message/rfc822", forwarded.into_bytes()),
        ("many parts", many_parts.into_bytes()),
        ("broken encodings", broken.into_bytes()),
        ("long", long.into_bytes()),
        ("empty", Vec::new()),
        ("no header", b"\r\n\r\n".to_vec()),
        ("binary junk", noise(2000)),
    ]
}

fn models() -> Arc<Models> {
    Arc::new(Models::shipped(TrainingMinimum::default()).expect("shipped model"))
}

/// Bounds under which `long` and `base64 attachments` are over the message bound, and
/// others over the part and text bounds.
fn small() -> Bounds {
    Bounds { message_bytes: 3000, parts: 8, text_bytes: 2000 }
}

async fn scan(scanner: &ScorerScanner, message: &[u8], parsed: Arc<Parsed>) -> ScanResult {
    let envelope = envelope(Some("sales@example.com"), &["you@remote.example"]);
    let account = account(AccountSettings::default());
    let input = ScanInput { envelope: &envelope, account: Some(&account), message, parsed };
    scanner.scan(&input).await
}

#[test]
fn the_shared_parse_scores_and_views_every_message_as_its_own_parse_did() {
    let counts = models().counts();
    let sender = Sender { account_domain: Some("example.com".into()), any_domain: false };
    for bounds in [Bounds::default(), small()] {
        let analyzer = Analyzer::new(bounds);
        for (name, message) in messages() {
            if message.len() > bounds.message_bytes {
                continue;
            }
            let shared = Parsed::new().get(&message);
            assert_eq!(
                format!("{:?}", analyzer.view(&message)),
                format!("{:?}", analyzer.view_parsed(shared.as_deref())),
                "{name}: the views differ"
            );
            assert_eq!(
                analyzer.score(&message, &sender, &counts),
                analyzer.score_parsed(shared.as_deref(), &sender, &counts),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn the_scanner_says_the_same_whoever_parsed_and_keeps_its_bound() {
    let models = models();
    let counts = models.counts();
    let sender = Sender { account_domain: Some("example.com".into()), any_domain: false };
    let mut over = 0;
    for bounds in [Bounds::default(), small()] {
        let analyzer = Arc::new(Analyzer::new(bounds));
        let scanner = ScorerScanner::new(Arc::clone(&analyzer), Arc::clone(&models));
        for (name, message) in messages() {
            // What the scanner said before the shared parse: its own parse of the first
            // `message_bytes`.
            let prefix = &message[..message.len().min(bounds.message_bytes)];
            let expected = analyzer.score(prefix, &sender, &counts);
            let expected = (expected.total * 100.0).round() / 100.0;
            let fresh = Arc::new(Parsed::new());
            let alone = scan(&scanner, &message, Arc::clone(&fresh)).await;
            assert_eq!(score_of(&alone), expected, "{name}");
            let within = message.len() <= bounds.message_bytes;
            assert_eq!(fresh.is_parsed(), within, "{name}: the scorer makes the shared parse within its bound only");
            // Made before by another check (the attachment checks, when the scorer comes
            // second): the same answer; over the bound that parse of the whole is not used.
            let made = Arc::new(Parsed::new());
            made.get(&message);
            assert_eq!(scan(&scanner, &message, made).await, alone, "{name}");
            over += usize::from(!within);
        }
    }
    assert!(over >= 2, "some messages are over the small bound");
}

#[tokio::test]
async fn over_the_bound_the_tail_is_not_scored_even_when_parsed() {
    let analyzer = Arc::new(Analyzer::new(Bounds { message_bytes: 400, ..Bounds::default() }));
    let scanner = ScorerScanner::new(Arc::clone(&analyzer), models());
    let message = format!(
        "From: Alice <alice@example.com>\r\nTo: bob@remote.example\r\nSubject: Minutes\r\n\r\n{PROSE}\r\n{}",
        format!("<p>{SPAMMY}</p>\r\n").repeat(20)
    );
    let made = Arc::new(Parsed::new());
    let whole = made.get(message.as_bytes());
    let counts = models().counts();
    let sender = Sender { account_domain: Some("example.com".into()), any_domain: false };
    let of_whole = analyzer.score_parsed(whole.as_deref(), &sender, &counts);
    let of_prefix = analyzer.score(message.as_bytes(), &sender, &counts);
    assert_ne!(of_whole, of_prefix, "the tail changes the score");
    let result = scan(&scanner, message.as_bytes(), made).await;
    assert_eq!(score_of(&result), (of_prefix.total * 100.0).round() / 100.0, "{result:?}");
}

fn score_of(result: &ScanResult) -> f64 {
    match result {
        ScanResult::Clean { score: Some(score) } | ScanResult::Spam { score: Some(score), .. } => *score,
        other => panic!("not scored: {other:?}"),
    }
}
