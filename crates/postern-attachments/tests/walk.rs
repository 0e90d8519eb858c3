//! The attachment checks over generated fixtures: each kind found with its rule and its
//! part (through archives, attached messages and renamed files), clean files passing, the
//! bounds refusing bombs and huge archives in bounded time, and each rule only under its
//! setting.

mod fixtures;

use std::time::{Duration, Instant};

use fixtures::*;
use postern_attachments::{Bounds, Checks, Rule, Verdict, analyse};

fn found(message: &[u8]) -> Option<(Rule, String)> {
    found_with(message, &Bounds::default(), Checks::ALL)
}

fn found_with(message: &[u8], bounds: &Bounds, checks: Checks) -> Option<(Rule, String)> {
    match analyse(message, bounds, checks) {
        Verdict::Found(f) => Some((f.rule, f.part)),
        Verdict::Clean => None,
        Verdict::TooLarge => panic!("too large"),
    }
}

fn one(name: &str, data: &[u8]) -> Vec<u8> {
    message(&[(name, "application/octet-stream", data)])
}

fn is(rule: Rule, part: &str) -> Option<(Rule, String)> {
    Some((rule, part.to_string()))
}

// --- Clean files pass.

#[test]
fn clean_documents_images_and_archives_pass() {
    let text = message(&[("notes.txt", "text/plain", b"#!not a script: just text\r\n")]);
    assert_eq!(found(&text), None, "a text attachment");
    for (name, data) in [
        ("report.docx", docx(false)),
        ("report.doc", doc_clean()),
        ("figures.xls", xls(0)),
        ("paper.pdf", PDF.to_vec()),
        ("photo.png", PNG.to_vec()),
        ("photo.jpg", JPEG.to_vec()),
        ("big.docx", large_docx(2 << 20)),
    ] {
        assert_eq!(found(&one(name, &data)), None, "{name}");
    }
    let docs = zip(&[("a.docx", &docx(false)), ("b.pdf", PDF), ("c.png", PNG)]);
    assert_eq!(found(&one("documents.zip", &docs)), None, "a zip of clean documents");
    let tgz = gzip(&tar(&[("a.docx", &docx(false)), ("notes.txt", b"hello")]));
    assert_eq!(found(&one("documents.tar.gz", &tgz)), None, "a tar.gz of clean documents");
    assert_eq!(found(b"Subject: plain\r\n\r\nJust text, #!/bin/sh in the body.\r\n"), None);
}

// --- Macros.

#[test]
fn ole2_documents_with_vba() {
    assert_eq!(found(&one("invoice.doc", &doc_with_vba())), is(Rule::Ole2VbaMacro, "invoice.doc"));
    assert_eq!(found(&one("renamed.pdf", &doc_with_vba())), is(Rule::Ole2VbaMacro, "renamed.pdf"));
}

#[test]
fn ooxml_with_vba_whatever_the_name() {
    for name in ["report.docm", "report.docx", "report.pdf"] {
        assert_eq!(found(&one(name, &docx(true))), is(Rule::OoxmlVbaMacro, name));
    }
}

#[test]
fn excel_4_macro_sheets() {
    assert_eq!(found(&one("book.xlsm", &xlsm_with_macrosheet())), is(Rule::XlmMacroSheet, "book.xlsm"));
    assert_eq!(found(&one("book.xls", &xls(1))), is(Rule::XlmMacroSheet, "book.xls"));
}

#[test]
fn opendocument_basic_modules() {
    let odt = zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content/>"),
        ("META-INF/manifest.xml", b"<manifest/>"),
        ("Basic/Standard/Module1.xml", b"<script:module>Sub Main\nEnd Sub</script:module>"),
    ]);
    assert_eq!(found(&one("letter.odt", &odt)), is(Rule::OdfMacro, "letter.odt"));
}

#[test]
fn macros_inside_nested_archives_name_the_path() {
    let inner = zip(&[("readme.txt", b"hi"), ("report.docm", &docx(true))]);
    let outer = zip(&[("inner.zip", &inner)]);
    assert_eq!(found(&one("invoice.zip", &outer)), is(Rule::OoxmlVbaMacro, "invoice.zip/inner.zip/report.docm"));
    let tgz = gzip(&tar(&[("docs/old.doc", &doc_with_vba())]));
    assert_eq!(found(&one("docs.tgz", &tgz)), is(Rule::Ole2VbaMacro, "docs.tgz/docs.tar/docs/old.doc"));
}

#[test]
fn attached_messages_are_walked() {
    let inner = one("invoice.doc", &doc_with_vba());
    assert_eq!(found(&forwarded(&inner)), is(Rule::Ole2VbaMacro, "fwd.eml/invoice.doc"));
}

// --- Dangerous attachments.

#[test]
fn executables_by_content_whatever_the_name() {
    assert_eq!(found(&one("setup.exe", &pe(&[".text"]))), is(Rule::PeExecutable, "setup.exe"));
    assert_eq!(found(&one("invoice.pdf", &pe(&[".text"]))), is(Rule::PeExecutable, "invoice.pdf"));
    assert_eq!(found(&one("tool", &elf())), is(Rule::ElfExecutable, "tool"));
    assert_eq!(found(&one("app", &macho())), is(Rule::MachoExecutable, "app"));
    assert_eq!(found(&one("small.exe", &pe(&["UPX0", "UPX1"]))), is(Rule::PackedExecutable, "small.exe"));
}

#[test]
fn scripts_shortcuts_installers_images_and_jars() {
    assert_eq!(found(&one("run.js", b"WScript.Echo(1)")), is(Rule::ScriptFile, "run.js"));
    assert_eq!(found(&one("RUN.VBS.", b"MsgBox 1")), is(Rule::ScriptFile, "RUN.VBS."));
    assert_eq!(found(&one("install", b"#!/bin/sh\ncurl x | sh\n")), is(Rule::ScriptFile, "install"));
    let lnk =
        [&b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"[..], &[0u8; 60]].concat();
    assert_eq!(found(&one("photo.jpg", &lnk)), is(Rule::ShortcutFile, "photo.jpg"));
    assert_eq!(found(&one("update.bin", &msi())), is(Rule::WindowsInstaller, "update.bin"));
    let mut iso = vec![0u8; 0x9000];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    assert_eq!(found(&one("scan.pdf", &iso)), is(Rule::DiskImage, "scan.pdf"));
    let jar =
        zip(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n"), ("a/Main.class", b"\xca\xfe\xba\xbe\0\0\0\x34")]);
    assert_eq!(found(&one("tool.zip", &jar)), is(Rule::JavaArchive, "tool.zip"));
}

#[test]
fn dangerous_files_inside_archives() {
    let inner = zip(&[("a.txt", b"x"), ("bin/payload.scr", &pe(&[".text"]))]);
    let outer = zip(&[("readme.txt", b"read me"), ("inner.zip", &inner)]);
    assert_eq!(found(&one("files.zip", &outer)), is(Rule::PeExecutable, "files.zip/inner.zip/bin/payload.scr"));
    let stored = zip_with(&[("go.bat", b"@echo off")], zip::CompressionMethod::Stored);
    assert_eq!(found(&one("x.zip", &stored)), is(Rule::ScriptFile, "x.zip/go.bat"));
    let packed = gzip(&pe(&["UPX0", "UPX1"]));
    assert_eq!(found(&one("tool.exe.gz", &packed)), is(Rule::PackedExecutable, "tool.exe.gz/tool.exe"));
}

#[test]
fn files_embedded_in_office_documents() {
    let mut native = 0u32.to_le_bytes().to_vec();
    native.extend_from_slice(&2u16.to_le_bytes());
    native.extend_from_slice(b"payload.exe\0C:\\payload.exe\0");
    native.extend_from_slice(&0x0003_0000u32.to_le_bytes());
    native.extend_from_slice(&15u32.to_le_bytes());
    native.extend_from_slice(b"C:\\payload.exe\0");
    let exe = pe(&[".text"]);
    native.extend_from_slice(&(exe.len() as u32).to_le_bytes());
    native.extend_from_slice(&exe);
    let object = ole(&[("/\u{1}Ole10Native", &native)], None);
    let doc = zip(&[
        ("[Content_Types].xml", br#"<Types/>"#),
        ("word/document.xml", b"<w:document/>"),
        ("word/embeddings/oleObject1.bin", &object),
    ]);
    assert_eq!(
        found(&one("letter.docx", &doc)),
        is(Rule::PeExecutable, "letter.docx/word/embeddings/oleObject1.bin/payload.exe")
    );
}

#[test]
fn unsupported_archives_are_refused_under_the_dangerous_setting_only() {
    let seven = b"7z\xbc\xaf\x27\x1c\0\x04 rest of an archive".to_vec();
    let rar = b"Rar!\x1a\x07\x01\0 rest".to_vec();
    assert_eq!(found(&one("a.7z", &seven)), is(Rule::ArchiveUnsupported, "a.7z"));
    assert_eq!(found(&one("a.rar", &rar)), is(Rule::ArchiveUnsupported, "a.rar"));
    let macros_only = Checks { macros: true, dangerous: false, encrypted: true };
    assert_eq!(found_with(&one("a.rar", &rar), &Bounds::default(), macros_only), None);
    let bzip2 = zip_with(&[("a.txt", b"x")], zip::CompressionMethod::Stored);
    let mut bzip2 = bzip2;
    // The entry's method (local and central headers) set to 12, bzip2.
    for at in memchr::memmem::find_iter(&bzip2.clone(), b"PK\x03\x04")
        .chain(memchr::memmem::find_iter(&bzip2.clone(), b"PK\x01\x02"))
    {
        let field = if &bzip2[at + 2..at + 4] == b"\x03\x04" { at + 8 } else { at + 10 };
        bzip2[field..field + 2].copy_from_slice(&12u16.to_le_bytes());
    }
    assert_eq!(found(&one("b.zip", &bzip2)), is(Rule::ArchiveUnsupported, "b.zip/a.txt"));
}

// --- Encrypted archives.

#[test]
fn encrypted_zips_zipcrypto_and_aes() {
    let zipcrypto = raw_zip(&[RawEntry { flags: 1, ..RawEntry::stored("secret.docx", b"\x12\x34 encrypted bytes") }]);
    assert_eq!(found(&one("s.zip", &zipcrypto)), is(Rule::EncryptedArchive, "s.zip/secret.docx"));
    // WinZip AES: method 99 and its extra field (vendor AE-2, AES-256, deflate).
    let extra =
        [&0x9901u16.to_le_bytes()[..], &7u16.to_le_bytes(), &2u16.to_le_bytes(), b"AE", &[3], &8u16.to_le_bytes()]
            .concat();
    let aes = raw_zip(&[RawEntry { flags: 1, method: 99, extra, ..RawEntry::stored("secret.doc", &[9u8; 64]) }]);
    assert_eq!(found(&one("a.zip", &aes)), is(Rule::EncryptedArchive, "a.zip/secret.doc"));
    let allowed = Checks { macros: true, dangerous: true, encrypted: false };
    assert_eq!(found_with(&one("s.zip", &zipcrypto), &Bounds::default(), allowed), None);
    assert_eq!(found(&one("locked.docx", &encrypted_office())), is(Rule::EncryptedDocument, "locked.docx"));
}

// --- Bounds.

#[test]
fn a_zip_bomb_is_refused_without_unpacking_it() {
    let bomb = zip_bomb(200 << 20);
    let started = Instant::now();
    assert_eq!(found(&one("bomb.zip", &bomb)), is(Rule::ArchiveBomb, "bomb.zip/zeros.txt"));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // Its header lying about the size: counted while unpacking, refused past the ratio.
    let data = deflated_zeros(200 << 20);
    let lying = raw_zip(&[RawEntry { method: 8, declared_size: 1000, ..RawEntry::stored("small.txt", &data) }]);
    let started = Instant::now();
    assert_eq!(found(&one("small.zip", &lying)), is(Rule::ArchiveBomb, "small.zip/small.txt"));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // A gzip bomb likewise.
    let gz = gzip(&vec![0u8; 50 << 20]);
    assert_eq!(found(&one("zeros.gz", &gz)), is(Rule::ArchiveBomb, "zeros.gz/zeros"));
}

#[test]
fn overlapping_entries_are_a_bomb() {
    let mut bytes = raw_zip(&[RawEntry::stored("a.txt", b"same data"), RawEntry::stored("b.txt", b"more data")]);
    // The second central entry points at the first local header.
    let second = memchr::memmem::find_iter(&bytes, b"PK\x01\x02").nth(1).unwrap();
    bytes[second + 42..second + 46].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(found(&one("o.zip", &bytes)), is(Rule::ArchiveBomb, "o.zip"));
}

#[test]
fn the_total_unpacked_is_bounded() {
    let bounds = Bounds { max_unpacked_bytes: 1 << 20, ..Bounds::default() };
    let noise: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let two = zip(&[("a.bin", &noise), ("b.bin", &noise)]);
    assert_eq!(found_with(&one("two.zip", &two), &bounds, Checks::ALL), is(Rule::ArchiveTooLarge, "two.zip/b.bin"));
}

#[test]
fn ten_thousand_entries_are_refused_in_bounded_time() {
    let names: Vec<String> = (0..10_000).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<RawEntry<'_>> = names.iter().map(|n| RawEntry::stored(n, b"x")).collect();
    let many = raw_zip(&entries);
    let started = Instant::now();
    assert_eq!(found(&one("many.zip", &many)), is(Rule::ArchiveTooManyEntries, "many.zip"));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    // Spread over archives, the count is the message's.
    let half: Vec<RawEntry<'_>> = names[..600].iter().map(|n| RawEntry::stored(n, b"x")).collect();
    let half = raw_zip(&half);
    let two = message(&[("a.zip", "application/zip", &half), ("b.zip", "application/zip", &half)]);
    assert_eq!(found(&two), is(Rule::ArchiveTooManyEntries, "b.zip"));
    let tar_names: Vec<(&str, &[u8])> = names[..1500].iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    assert_eq!(found(&one("many.tar", &tar(&tar_names))), is(Rule::ArchiveTooManyEntries, "many.tar"));
}

#[test]
fn nesting_deeper_than_the_bound_is_refused() {
    let mut nested = zip(&[("readme.txt", b"hello")]);
    for i in 0..6 {
        nested = zip(&[(&format!("level{i}.zip"), &nested)]);
    }
    let Some((rule, part)) = found(&one("deep.zip", &nested)) else { panic!("passed") };
    assert_eq!(rule, Rule::ArchiveTooDeep);
    assert_eq!(part, "deep.zip/level5.zip/level4.zip/level3.zip/level2.zip/level1.zip");
    let shallow = Bounds { max_depth: 8, ..Bounds::default() };
    assert_eq!(found_with(&one("deep.zip", &nested), &shallow, Checks::ALL), None);
}

#[test]
fn thousands_of_nested_messages_are_too_deep_not_a_crash() {
    let depth = 20_000;
    let mut m = Vec::new();
    for i in 0..depth {
        m.extend_from_slice(
            format!(
                "Subject: {i}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
                 Content-Type: message/rfc822\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"Subject: end\r\n\r\nbody\r\n");
    for i in (0..depth).rev() {
        m.extend_from_slice(format!("\r\n--b{i}--\r\n").as_bytes());
    }
    let Some((rule, part)) = found(&m) else { panic!("passed") };
    assert_eq!(rule, Rule::ArchiveTooDeep);
    assert_eq!(part, ["attached message"; 6].join("/"));
}

#[test]
fn corrupt_archives_are_refused() {
    let mut cut = zip(&[("a.docx", &docx(false))]);
    cut.truncate(cut.len() / 2);
    assert_eq!(found(&one("cut.zip", &cut)), is(Rule::ArchiveCorrupt, "cut.zip"));
    let mut ole = doc_clean();
    ole.truncate(600);
    assert_eq!(found(&one("cut.doc", &ole)), is(Rule::ArchiveCorrupt, "cut.doc"));
}

#[test]
fn data_that_breaks_off_is_looked_at_as_far_as_it_goes() {
    // A gzip padded with zeros after its member (as tape blocking leaves it): clean.
    let mut padded = gzip(&tar(&[("a.txt", b"hello")]));
    padded.extend_from_slice(&[0u8; 1024]);
    assert_eq!(found(&one("padded.tar.gz", &padded)), None);
    // An executable whose deflate stream breaks off after its headers: still an executable.
    let mut cut = deflate(&[pe(&[".text"]), vec![7u8; 100_000]].concat());
    cut.truncate(cut.len() / 2);
    let zip = raw_zip(&[RawEntry { method: 8, declared_size: 100_700, ..RawEntry::stored("a.bin", &cut) }]);
    assert_eq!(found(&one("cut.zip", &zip)), is(Rule::PeExecutable, "cut.zip/a.bin"));
    // Deflate data that never starts: corrupt.
    let garbage = raw_zip(&[RawEntry { method: 8, ..RawEntry::stored("a.bin", &[0xff; 64]) }]);
    assert_eq!(found(&one("bad.zip", &garbage)), is(Rule::ArchiveCorrupt, "bad.zip/a.bin"));
}

#[test]
fn an_encrypted_package_is_encrypted_not_corrupt() {
    let zip = raw_zip(&[
        RawEntry { flags: 1, ..RawEntry::stored("[Content_Types].xml", b"\x01\x02 encrypted") },
        RawEntry { flags: 1, ..RawEntry::stored("word/document.xml", b"\x03\x04 encrypted") },
    ]);
    assert_eq!(found(&one("locked.docx", &zip)), is(Rule::EncryptedArchive, "locked.docx/[Content_Types].xml"));
    let allowed = Checks { macros: true, dangerous: true, encrypted: false };
    assert_eq!(found_with(&one("locked.docx", &zip), &Bounds::default(), allowed), None);
}

#[test]
fn a_message_over_the_size_bound_is_not_analysed() {
    let bounds = Bounds { max_message_bytes: 1000, ..Bounds::default() };
    assert_eq!(analyse(&one("a.exe", &pe(&[])), &bounds, Checks::ALL), Verdict::TooLarge);
}

// --- Settings.

#[test]
fn each_rule_applies_only_under_its_setting() {
    let macros = one("invoice.doc", &doc_with_vba());
    let exe = one("setup.exe", &pe(&[".text"]));
    let dangerous_only = Checks { macros: false, dangerous: true, encrypted: true };
    let macros_only = Checks { macros: true, dangerous: false, encrypted: true };
    assert_eq!(found_with(&macros, &Bounds::default(), dangerous_only), None);
    assert_eq!(found_with(&exe, &Bounds::default(), macros_only), None);
    // The first finding a setting turns on decides; the others are walked past.
    let both =
        message(&[("a.exe", "application/octet-stream", &pe(&[])), ("b.doc", "application/msword", &doc_with_vba())]);
    assert_eq!(found_with(&both, &Bounds::default(), macros_only), is(Rule::Ole2VbaMacro, "b.doc"));
    assert_eq!(found_with(&both, &Bounds::default(), Checks::ALL), is(Rule::PeExecutable, "a.exe"));
    // The bounds apply whatever the settings.
    let bomb = one("bomb.zip", &zip_bomb(50 << 20));
    assert_eq!(found_with(&bomb, &Bounds::default(), macros_only).map(|f| f.0), Some(Rule::ArchiveBomb));
}

// --- Encodings and odd parts.

#[test]
fn text_and_quoted_printable_attachments_are_decoded_from_their_raw_bytes() {
    let zipped = zip(&[("run.vbs", b"MsgBox 1")]);
    let mut m = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    m.extend_from_slice(&base64(&zipped));
    m.extend_from_slice(b"--B--\r\n");
    assert_eq!(found(&m), is(Rule::ScriptFile, "notes.txt/run.vbs"));
    let qp = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=tool\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
=7FELF=02=01=01=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00=00\r\n--B--\r\n";
    assert_eq!(found(qp), is(Rule::ElfExecutable, "tool"));
}

#[test]
fn hostile_names_are_printable_and_bounded() {
    let name = format!("{}\u{7}.exe", "a".repeat(400));
    let Some((rule, part)) = found(&one(&name, b"MZ")) else { panic!("passed") };
    assert_eq!(rule, Rule::ExecutableFile);
    assert!(part.chars().count() <= 100 && part.ends_with("a?.exe"), "{part}");
}
