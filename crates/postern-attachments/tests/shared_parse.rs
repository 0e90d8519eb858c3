//! The attachment checks on the pipeline's shared parse: every message gets the same verdict
//! (rule and part) whether the checks parse it themselves, make the shared parse, or find it
//! made by another check (the scorer); a message over the size bound is skipped before
//! anything is parsed.

mod fixtures;

use std::sync::Arc;

use postern_attachments::{AttachmentScanner, Bounds, Checks, Verdict, analyse, analyse_parsed};
use postern_core::tenancy::{Account, AccountSettings};
use postern_core::test_support::envelope;
use postern_pipeline::{Parsed, ScanInput, ScanResult, Scanner};

use fixtures::*;

fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let encrypted = raw_zip(&[RawEntry { flags: 1, ..RawEntry::stored("x.doc", b"??") }]);
    let text_zip = {
        // A zip sent as text/plain: read again from the raw bytes, not the charset-decoded text.
        let zipped = zip(&[("run.vbs", b"MsgBox 1")]);
        let mut m =
            b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                .to_vec();
        m.extend_from_slice(&base64(&zipped));
        m.extend_from_slice(b"--B--\r\n");
        m
    };
    let quoted_printable =
        b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=tool\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
=7FELF=02=01=01=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00\r\n--B--\r\n"
            .to_vec();
    let script_text = message(&[("run.sh", "text/x-sh", b"#!/bin/sh\nrm -rf ~\n")]);
    let inner = message(&[("invoice.doc", "application/msword", &doc_with_vba())]);
    let encoded_forward = {
        // An attached message sent base64-encoded: the walk parses it itself.
        let mut m = b"From: a@example.com\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"OUTER\"\r\n\r\n--OUTER\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n\
--OUTER\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        m.extend_from_slice(&base64(&forwarded(&message(&[("a.exe", "application/octet-stream", &pe(&[".text"]))]))));
        m.extend_from_slice(b"--OUTER--\r\n");
        m
    };
    let mut deep = zip(&[("readme.txt", b"hello")]);
    for i in 0..6 {
        deep = zip(&[(&format!("level{i}.zip"), &deep)]);
    }
    let mut cut = zip(&[("a.docx", &docx(false))]);
    cut.truncate(cut.len() / 2);
    vec![
        ("plain", b"From: a@example.com\r\nSubject: hi\r\n\r\nJust text.\r\n".to_vec()),
        (
            "html",
            b"From: a@example.com\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<p>MZ not an exe</p>\r\n".to_vec(),
        ),
        ("doc with vba", message(&[("a.doc", "application/msword", &doc_with_vba())])),
        ("clean doc", message(&[("b.doc", "application/msword", &doc_clean())])),
        ("docm", message(&[("r.docm", "application/octet-stream", &docx(true))])),
        ("docx", message(&[("r.docx", "application/octet-stream", &docx(false))])),
        ("xlsm macro sheet", message(&[("s.xlsm", "application/octet-stream", &xlsm_with_macrosheet())])),
        ("encrypted office", message(&[("e.docx", "application/octet-stream", &encrypted_office())])),
        ("msi", message(&[("setup.msi", "application/octet-stream", &msi())])),
        ("exe", message(&[("a.exe", "application/octet-stream", &pe(&[".text"]))])),
        ("packed exe", message(&[("p.bin", "application/octet-stream", &pe(&["UPX0", "UPX1"]))])),
        ("elf", message(&[("tool", "application/octet-stream", &elf())])),
        ("macho", message(&[("tool", "application/octet-stream", &macho())])),
        ("zip of an exe", message(&[("a.zip", "application/zip", &zip(&[("a/b.exe", &pe(&[]))]))])),
        ("zip bomb", message(&[("b.zip", "application/zip", &zip_bomb(20 << 20))])),
        ("encrypted zip", message(&[("s.zip", "application/zip", &encrypted)])),
        ("too deep", message(&[("deep.zip", "application/zip", &deep)])),
        ("corrupt zip", message(&[("cut.zip", "application/zip", &cut)])),
        ("gzip tar", message(&[("t.tgz", "application/gzip", &gzip(&tar(&[("x.js", b"alert(1)")])))])),
        ("pdf and images", message(&[("a.pdf", "application/pdf", PDF), ("i.png", "image/png", PNG)])),
        ("text attachment", text_zip),
        ("quoted-printable", quoted_printable),
        ("script as text", script_text),
        ("message/rfc822", forwarded(&inner)),
        ("message/rfc822 in one", forwarded(&forwarded(&inner))),
        ("base64 message/rfc822", encoded_forward),
        ("empty", Vec::new()),
        ("no header", b"\r\n\r\n".to_vec()),
        ("cut mid-part", {
            let mut m = message(&[("a.exe", "application/octet-stream", &pe(&[".text"]))]);
            m.truncate(m.len() - 200);
            m
        }),
    ]
}

fn account(checks: Checks) -> Account {
    let mut settings = AccountSettings::default();
    settings.checks.block_macros = checks.macros;
    settings.checks.block_dangerous_attachments = checks.dangerous;
    settings.checks.block_encrypted_archives = checks.encrypted;
    postern_core::test_support::account(settings)
}

async fn scan(scanner: &AttachmentScanner, account: &Account, message: &[u8], parsed: Arc<Parsed>) -> ScanResult {
    let envelope = envelope(Some("alice@example.com"), &["bob@remote.example"]);
    let input = ScanInput { envelope: &envelope, account: Some(account), message, parsed };
    scanner.scan(&input).await
}

const SETTINGS: [Checks; 3] = [
    Checks::ALL,
    Checks { macros: true, dangerous: false, encrypted: false },
    Checks { macros: false, dangerous: true, encrypted: true },
];

#[test]
fn the_shared_parse_gives_every_message_the_verdict_of_its_own_parse() {
    let bounds = Bounds::default();
    let mut found = 0;
    for (name, message) in messages() {
        let shared = Parsed::new().get(&message);
        for checks in SETTINGS {
            let alone = analyse(&message, &bounds, checks);
            assert_eq!(analyse_parsed(shared.as_deref(), &bounds, checks), alone, "{name} {checks:?}");
            found += usize::from(matches!(alone, Verdict::Found(_)));
        }
    }
    assert!(found >= 20, "the set has findings to compare: {found}");
}

#[tokio::test]
async fn the_scanner_says_the_same_whoever_parsed() {
    let scanner = AttachmentScanner::new(Bounds::default());
    for (name, message) in messages() {
        for checks in SETTINGS {
            let account = account(checks);
            let fresh = Arc::new(Parsed::new());
            let alone = scan(&scanner, &account, &message, Arc::clone(&fresh)).await;
            assert!(fresh.is_parsed(), "{name}: the checks make the shared parse");
            let expected = match analyse(&message, &Bounds::default(), checks) {
                Verdict::Clean => ScanResult::Clean { score: None },
                Verdict::Found(finding) => {
                    let ScanResult::Blocked(block) = &alone else { panic!("{name}: {alone:?}") };
                    assert_eq!(
                        (block.rule.as_str(), block.part.as_deref()),
                        (finding.rule.name(), Some(&*finding.part))
                    );
                    alone.clone()
                }
                Verdict::TooLarge => panic!("{name}: within the bound"),
            };
            assert_eq!(alone, expected, "{name} {checks:?}");
            let made = Arc::new(Parsed::new());
            made.get(&message);
            assert_eq!(scan(&scanner, &account, &message, made).await, alone, "{name} {checks:?}");
        }
    }
}

#[tokio::test]
async fn a_message_over_the_bound_is_skipped_before_any_parse() {
    let scanner = AttachmentScanner::new(Bounds { max_message_bytes: 100, ..Bounds::default() });
    let exe = message(&[("a.exe", "application/octet-stream", &pe(&[]))]);
    let parsed = Arc::new(Parsed::new());
    let result = scan(&scanner, &account(Checks::ALL), &exe, Arc::clone(&parsed)).await;
    assert!(matches!(result, ScanResult::Skipped { .. }), "{result:?}");
    assert!(!parsed.is_parsed(), "skipped without parsing");
    let small = Bounds { max_message_bytes: 100, ..Bounds::default() };
    assert_eq!(analyse(&exe, &small, Checks::ALL), Verdict::TooLarge);
    assert_eq!(analyse_parsed(Parsed::new().get(&exe).as_deref(), &small, Checks::ALL), Verdict::TooLarge);
}
