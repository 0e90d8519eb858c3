//! Hostile MIME gets a score, never a panic, and costs what the bounds allow: deep
//! nesting, 10,000 parts, broken base64, wrong and unknown charsets, a 50 MB message.
//! (No timing assertions: the bounds are checked through what the view says it walked.)

use postern_scorer::bayes::Counts;
use postern_scorer::rules::Sender;
use postern_scorer::{Analyzer, Bounds, MessageView, Models, TrainingMinimum};

fn score(message: &[u8]) -> postern_scorer::Score {
    let models = Models::shipped(TrainingMinimum::default()).expect("shipped model");
    Analyzer::default().score(message, &Sender::default(), &models.counts())
}

#[test]
fn nesting_a_thousand_levels_deep() {
    let mut m = String::from("From: a@example.com\r\nSubject: deep\r\n");
    for i in 0..1000 {
        m.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
    }
    m.push_str("Content-Type: text/plain\r\n\r\ninnermost text\r\n");
    for i in (0..1000).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    let view = MessageView::parse(m.as_bytes());
    assert!(view.parts <= Bounds::default().parts);
    score(m.as_bytes());
    // Nested message/rfc822 attachments as well.
    let mut m = String::new();
    for _ in 0..1000 {
        m.push_str("Content-Type: message/rfc822\r\n\r\n");
    }
    m.push_str("Subject: x\r\n\r\nbody\r\n");
    score(m.as_bytes());
}

#[test]
fn ten_thousand_parts_are_walked_only_up_to_the_bound() {
    let mut m = String::from("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n");
    for i in 0..10_000 {
        m.push_str(&format!("--x\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"));
    }
    m.push_str("--x--\r\n");
    let view = MessageView::parse(m.as_bytes());
    assert_eq!(view.parts, Bounds::default().parts);
    assert!(view.truncated);
    score(m.as_bytes());
}

#[test]
fn broken_base64_and_charsets() {
    let m = b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64@@@ SGVsbG8=== ====\r\n";
    let view = MessageView::parse(m);
    assert_eq!(view.base64_text_parts, 1);
    score(m);
    let m = b"From: a@example.com\r\nSubject: =?x-unknown-charset?B?SGVsbG8=?=\r\n\
        Content-Type: text/plain; charset=\"no-such-charset\"\r\n\r\nplain \xff\xfe bytes\r\n";
    score(m);
    // Declared UTF-8, sent as Latin-1; declared ISO-2022-JP with garbage escapes.
    let m = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>caf\xe9 \xe0 la cr\xe8me</p>\r\n";
    score(m);
    let m = b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B\x1b(J\x1b$\xff\r\n";
    score(m);
    // Charsets are decoded: windows-1251 Cyrillic reaches the text.
    let m = b"Content-Type: text/plain; charset=windows-1251\r\n\r\n\xcf\xf0\xe8\xe2\xe5\xf2\r\n";
    assert!(MessageView::parse(m).text.contains("Привет"));
    // Quoted-printable too.
    let m = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nfr=\r\nee mon=65y\r\n";
    assert!(MessageView::parse(m).text.contains("free money"));
}

#[test]
fn garbage_and_empty_input() {
    for m in [&b""[..], b"\r\n\r\n", b"\x00\x01\x02", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--"] {
        score(m);
    }
    let noise: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    score(&noise);
}

#[test]
fn a_fifty_megabyte_message_costs_only_its_first_megabyte() {
    let mut m = b"From: a@example.com\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    let line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n";
    while m.len() < 50 << 20 {
        m.extend_from_slice(line);
    }
    let view = MessageView::parse(&m);
    assert!(view.truncated);
    assert!(view.text.len() <= Bounds::default().text_bytes);
    let s = score(&m);
    assert!(s.total.is_finite());
}

#[test]
fn hostile_html() {
    let mut html = String::from("Content-Type: text/html\r\n\r\n");
    for _ in 0..50_000 {
        html.push_str("<div style=\"display:none\"><a href=\"http://x.example/\">");
    }
    html.push_str("<script>never closed");
    let view = MessageView::parse(html.as_bytes());
    assert!(view.links.len() <= 256);
    score(html.as_bytes());
    let _ = Counts::default();
}
