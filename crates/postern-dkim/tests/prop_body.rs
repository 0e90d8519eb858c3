//! Property tests for the body hash ([`postern_dkim::body`]).
//!
//! 1. It is the SHA-256 of [`rfc_relaxed`], a plain line-by-line reading of RFC 6376
//!    §3.4.4, on random bodies and on whitespace-only tails written out.
//! 2. On bodies that do not end in whitespace-only lines it is byte-identical to what
//!    mail-auth 0.13.3 computes when it signs the same message itself (the path the signer
//!    took before), so nothing but those tails moved. mail-auth keeps such lines (`a CRLF
//!    SP CRLF` becomes `a CRLF CRLF`, not `a CRLF`).
//! 3. [`rfc_relaxed`] is dkimpy's canonicalization (the verifier of `tests/e2e/`) on
//!    bodies with CRLF line ends, when python3 with dkimpy is there (else said and skipped).
//!
//! In: messages built from pieces that matter to relaxed canonicalization and to finding
//! the body (words, single and runs of spaces, tabs, CRLF, bare CR, bare LF, empty and
//! whitespace-only lines, control and 8-bit bytes, header fields, folding, messages with
//! no body or no final CRLF), and arbitrary bytes; long clean runs, so that the fast
//! prefix is exercised across its 32-byte blocks. Out: failures naming the shrunk message.
//! Cases: [`config`] (`PROPTEST_CASES` raises it).

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use postern_dkim::body::{body_hash, body_offset};
use proptest::prelude::*;

const HEAD: &[u8] = b"Received: from client.example\r\n\tby mx.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n";

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    // The mail-auth properties skip the bodies with whitespace-only tails.
    ProptestConfig { cases, max_global_rejects: cases.max(1024), ..ProptestConfig::default() }
}

/// The `bh=` mail-auth computes when it signs `message` under `HEAD` itself.
fn mail_auth_bh(key: Ed25519Key, message: &[u8]) -> Vec<u8> {
    DkimSigner::from_key(key)
        .domain("example.com")
        .selector("s")
        .headers(["From", "Subject"])
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign_chained([HEAD, message])
        .map(|s| s.bh)
        .unwrap_or_else(|e| panic!("mail-auth signs: {e}"))
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zA-Z0-9.,]{1,12}".prop_map(String::into_bytes),
        3 => Just(b" ".to_vec()),
        3 => Just(b"\r\n".to_vec()),
        1 => Just(b"  ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b" \t ".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n\r\n".to_vec()),
        1 => Just(b" \r\n".to_vec()),
        1 => Just(b"\x0c".to_vec()),
        1 => Just(b"\x00".to_vec()),
        1 => Just("é".as_bytes().to_vec()),
        1 => Just(b"a long clean line of text, the kind most bodies are made of.\r\n".to_vec()),
        1 => Just([&b"clean, "[..]; 12].concat()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..60).prop_map(|pieces| pieces.concat())
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"From: alice@example.com\r\n".to_vec()),
        Just(b"Subject: a\r\n folded\r\n\tsubject\r\n".to_vec()),
        Just(b"X-Bare: lf\n".to_vec()),
        Just(b"no colon\r\n".to_vec()),
        Just(b"no colon, bare lf\n".to_vec()),
        Just(b"To: b@x.example".to_vec()),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(header(), 0..4), prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b""[..])], body())
        .prop_map(|(headers, separator, body)| [headers.concat(), separator.to_vec(), body].concat())
}

/// RFC 6376 §3.4.4, relaxed body canonicalization, line by line:
/// a. in each line, delete the WSP (SP, HTAB) at its end and reduce every run of WSP to
///    one SP; the CRLF stays;
/// b. ignore all empty lines at the end of the body; a non-empty body that does not end
///    with CRLF gets one (so an empty body, or one of whitespace and line ends only, is
///    empty).
///
/// Line ends. CRLF ends a line; so does a bare LF (dkimpy's parser turns `\r?\n` into
/// CRLF, mail-auth reads it the same way). A bare CR is not a line end: mail-auth drops it,
/// and the WSP just before it; dkimpy keeps it as an ordinary byte. We follow mail-auth
/// there: our SMTP path refuses bare CR and bare LF (DATA and BDAT), so only CRLF bodies
/// are ever signed, and on those this is dkimpy's result (property 3). A last line without
/// CRLF (BDAT) loses its trailing WSP like any line (dkimpy keeps one SP there, but a
/// message relayed with DATA gains a CRLF, and then dkimpy deletes it too).
fn rfc_relaxed(body: &[u8]) -> Vec<u8> {
    let is_wsp = |b: &u8| matches!(b, b' ' | b'\t');
    let trim_end = |line: &mut Vec<u8>| {
        while line.last().is_some_and(is_wsp) {
            line.pop();
        }
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut line = Vec::new();
    for &byte in body {
        match byte {
            b'\n' => lines.push(std::mem::take(&mut line)),
            // Before LF: trimmed again in (a) anyway. Bare: mail-auth's reading (above).
            b'\r' => trim_end(&mut line),
            _ => line.push(byte),
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    // a. Reduce whitespace.
    let lines: Vec<Vec<u8>> = lines
        .into_iter()
        .map(|mut line| {
            trim_end(&mut line);
            let mut reduced: Vec<u8> = Vec::with_capacity(line.len());
            for byte in line {
                if is_wsp(&byte) {
                    if reduced.last() != Some(&b' ') {
                        reduced.push(b' ');
                    }
                } else {
                    reduced.push(byte);
                }
            }
            reduced
        })
        .collect();
    // b. Ignore empty lines at the end; every line kept ends with CRLF.
    let kept = lines.iter().rposition(|line| !line.is_empty()).map_or(0, |last| last + 1);
    lines[..kept].iter().flat_map(|line| [&line[..], b"\r\n"].concat()).collect()
}

/// The message holding `body` under a plain header section.
fn with_head(body: &[u8]) -> Vec<u8> {
    [&b"From: alice@example.com\r\nSubject: s\r\n\r\n"[..], body].concat()
}

/// Our body hash of `body` under [`with_head`].
fn ours(body: &[u8]) -> Vec<u8> {
    body_hash(&with_head(body)).as_ref().to_vec()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().to_vec()
}

/// True when `body` ends in whitespace-only lines (whitespace after the last LF of its
/// blank tail), or is whitespace and line ends only with some whitespace: where mail-auth
/// and the RFC part.
fn blank_tail_with_whitespace(body: &[u8]) -> bool {
    let start = body.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).map_or(0, |last| last + 1);
    let tail = &body[start..];
    let after = if start == 0 { tail } else { tail.iter().position(|&b| b == b'\n').map_or(&[][..], |lf| &tail[lf..]) };
    after.iter().any(|b| matches!(b, b' ' | b'\t'))
}

/// Bodies with CRLF line ends only, perhaps without a final one (what our SMTP path lets
/// through).
fn crlf_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9.,]{1,12}".prop_map(String::into_bytes),
            3 => Just(b" ".to_vec()),
            3 => Just(b"\r\n".to_vec()),
            1 => Just(b"  ".to_vec()),
            1 => Just(b"\t".to_vec()),
            1 => Just(b" \t ".to_vec()),
            1 => Just(b"\r\n \t\r\n".to_vec()),
            1 => Just(b" \r\n".to_vec()),
            1 => Just(b"\x0c".to_vec()),
            1 => Just("é".as_bytes().to_vec()),
        ],
        0..40,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn the_body_hash_is_the_rfcs(body in body()) {
        prop_assert_eq!(ours(&body), sha256(&rfc_relaxed(&body)));
    }

    #[test]
    fn the_rfcs_on_crlf_bodies_with_blank_tails(body in crlf_body(), tail in crlf_body()) {
        // Whatever `tail` holds, its whitespace and line ends alone make a blank tail.
        let blank: Vec<u8> = tail.into_iter().filter(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).collect();
        let body = [body, blank].concat();
        prop_assert_eq!(ours(&body), sha256(&rfc_relaxed(&body)));
    }

    #[test]
    fn arbitrary_bytes_are_the_rfcs_too(body in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(ours(&body), sha256(&rfc_relaxed(&body)));
    }

    #[test]
    fn without_blank_tails_the_body_hash_is_mail_auths(message in message()) {
        let body = &message[body_offset(&message)..];
        prop_assume!(!blank_tail_with_whitespace(body));
        prop_assert_eq!(body_hash(&message).as_ref().to_vec(), mail_auth_bh(seeded(), &message));
    }

    #[test]
    fn without_blank_tails_arbitrary_bytes_are_mail_auths(message in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assume!(!blank_tail_with_whitespace(&message[body_offset(&message)..]));
        prop_assert_eq!(body_hash(&message).as_ref().to_vec(), mail_auth_bh(seeded(), &message));
    }
}

#[test]
fn whitespace_only_tails_written_out() {
    for (body, canonical) in [
        (&b"a\r\n  \r\n"[..], &b"a\r\n"[..]),
        (b"a\r\n \r\n\r\n", b"a\r\n"),
        (b"a\r\n \t\r\n", b"a\r\n"),
        (b"a\r\n\t\r\n \r\n\r\n \t \r\n", b"a\r\n"),
        (b"a \r\n \r\nb\t\r\n\r\n \r\n", b"a\r\n\r\nb\r\n"),
        (b"  a  \r\n\t\r\n", b" a\r\n"),
        (b" ", b""),
        (b" \r\n", b""),
        (b"\t\r\n \r\n\r\n", b""),
        (b"\r\n\r\n", b""),
        (b"", b""),
        (b"a\r\n  ", b"a\r\n"),
        (b"a  ", b"a\r\n"),
    ] {
        let name = String::from_utf8_lossy(body);
        assert_eq!(rfc_relaxed(body), canonical, "the reference on {name:?}");
        assert_eq!(ours(body), sha256(canonical), "{name:?}");
    }
    // mail-auth's own result on the first: the difference this file is about.
    let mut kept = Vec::new();
    mail_auth::common::headers::Writable::write(Canonicalization::Relaxed.canonical_body(b"a\r\n  \r\n", 0), &mut kept);
    assert_eq!(kept, b"a\r\n\r\n");
}

/// Property 3: dkimpy's `Relaxed.canonicalize_body` and [`rfc_relaxed`] agree on CRLF
/// bodies, all sent to one python3 process (hex, one a line).
#[test]
fn the_reference_is_dkimpys_on_crlf_bodies() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const SCRIPT: &str = concat!(
        "import sys\n",
        "from dkim.canonicalization import Relaxed\n",
        "for line in sys.stdin:\n",
        "    print(Relaxed.canonicalize_body(bytes.fromhex(line.strip())).hex())\n",
    );
    let spawned = Command::new("python3").args(["-c", SCRIPT]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    let Ok(mut python) = spawned else {
        eprintln!("skipped: no python3");
        return;
    };
    let mut runner = TestRunner::deterministic();
    let strategy = (crlf_body(), crlf_body()).prop_map(|(body, tail)| {
        let blank: Vec<u8> = tail.into_iter().filter(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).collect();
        // CRLF line ends only, and a final one (the SMTP path's bodies, relayed with DATA).
        let mut body = [body, blank].concat();
        if !body.is_empty() && !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body
    });
    let bodies: Vec<Vec<u8>> = (0..3000).map(|_| strategy.new_tree(&mut runner).expect("tree").current()).collect();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut input = String::new();
    for body in &bodies {
        input.push_str(&hex(body));
        input.push('\n');
    }
    let mut stdin = python.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = python.wait_with_output().expect("python3 runs");
    writer.join().expect("writer").expect("written");
    if !output.status.success() {
        eprintln!("skipped: python3 with dkimpy failed: {}", String::from_utf8_lossy(&output.stderr));
        return;
    }
    let answers: Vec<String> = String::from_utf8(output.stdout).expect("hex").lines().map(str::to_owned).collect();
    assert_eq!(answers.len(), bodies.len());
    for (body, answer) in bodies.iter().zip(&answers) {
        assert_eq!(&hex(&rfc_relaxed(body)), answer, "{:?}", String::from_utf8_lossy(body));
    }
}

/// A new key: only `bh=` is compared, the key does not matter.
fn seeded() -> Ed25519Key {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("key");
    Ed25519Key::from_pkcs8_der(pkcs8.as_ref()).expect("key")
}
