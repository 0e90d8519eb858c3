//! The archive's conformance suite: what every backend (local files and SQLite, a shared
//! PostgreSQL) must do the same, run unchanged against each (`conformance_sqlite.rs`,
//! `conformance_postgres.rs`): store and read back, search by every field and by full
//! text (with hostile input, diacritics folded), the domain admin's scope, missing and
//! corrupt copies, exports (mbox round trip, zip manifest checksums), retention, legal
//! hold and verify.
//!
//! A [`Backend`] opens a fresh, empty archive per case and knows how to damage a copy
//! behind the archive's back (a lost file or row, tampered bytes).

#![allow(dead_code)]

use std::io::Read;
use std::sync::Arc;

use postern_archive::{Archive, ArchiveError, Entry, ExportFormat, FileState, Filter, Page, Policy};
use postern_core::test_support::{envelope, owner};
use postern_core::{ArchiveCopy, Envelope};
use sha2::{Digest, Sha256};

pub const DAY: i64 = 86_400_000;
pub const NOW: i64 = 1_750_000_000_000;

pub trait Backend {
    /// A fresh, empty archive.
    fn open(&self) -> Archive;
    /// The copy's bytes go (its row stays): a disk error, a hand.
    fn lose(&self, archive: &Archive, entry: &Entry);
    /// The copy's bytes become `gzip`.
    fn replace(&self, archive: &Archive, entry: &Entry, gzip: Vec<u8>);
}

pub type Case = fn(&dyn Backend);

pub const CASES: &[(&str, Case)] = &[
    ("a copy is stored and read back exactly", stored_and_read_back),
    ("search by every field, newest first", search_by_every_field),
    ("full text takes no syntax from the caller", full_text_takes_no_syntax),
    ("a domain admin sees its domains only", domain_admin_scope),
    ("a missing copy is reported", missing_copy_is_reported),
    ("a corrupt copy is reported and skipped", corrupt_copy_is_skipped),
    ("mbox export round trips every message", mbox_round_trip),
    ("zip export has a manifest whose checksums verify", zip_manifest),
    ("retention and legal hold", retention_and_legal_hold),
    ("a copy without an account is refused", without_an_account_is_refused),
    ("a large copy that does not compress", large_incompressible_copy),
];

/// Runs every case, each on a fresh archive, naming the one that fails.
pub fn run_all(backend: &dyn Backend) {
    for (name, case) in CASES {
        eprintln!("archive conformance: {name}");
        case(backend);
    }
}

pub struct Msg<'a> {
    pub account_id: i64,
    pub domain: &'a str,
    pub sender: &'a str,
    pub to: &'a [&'a str],
    pub subject: &'a str,
    pub body: &'a str,
    pub at: i64,
}

impl Default for Msg<'_> {
    fn default() -> Self {
        Msg {
            account_id: 1,
            domain: "a.example",
            sender: "alice@a.example",
            to: &["bob@remote.example"],
            subject: "hello",
            body: "nothing much",
            at: NOW,
        }
    }
}

pub fn copy(m: &Msg<'_>) -> ArchiveCopy {
    let mut env: Envelope = envelope(Some(m.sender), m.to);
    env.owner = Some(owner(Some(m.account_id), Some(m.domain), m.sender));
    env.received_at_ms = m.at;
    let id = format!("<{}@{}>", env.queue_id, m.domain);
    let message = format!(
        "From: {}\r\nSubject: {}\r\nMessage-ID: {id}\r\n\r\n{}\r\nFrom the desk of nobody\r\n>From quoted\r\n",
        m.sender, m.subject, m.body
    );
    ArchiveCopy {
        envelope: env,
        head: Arc::new(b"DKIM-Signature: v=1; d=a.example; b=xyz\r\nReceived: from test\r\n".to_vec()),
        message: Arc::new(message.into_bytes()),
        message_id: Some(id),
    }
}

pub fn ids(archive: &Archive, filter: Filter, scope: Option<&[String]>) -> Vec<i64> {
    archive.search(&filter, scope, Page::default()).unwrap().items.iter().map(|e| e.id).collect()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

fn stored_and_read_back(b: &dyn Backend) {
    let archive = b.open();
    let c = copy(&Msg::default());
    let entry = archive.store(&c).unwrap();
    let mut delivered = c.head.to_vec();
    delivered.extend_from_slice(&c.message);
    assert_eq!(archive.read(&entry).unwrap(), delivered);
    assert_eq!(entry.sha256, format!("{:x}", Sha256::digest(&delivered)));
    assert_eq!(entry.size, delivered.len() as u64);
    assert_eq!((entry.subject.as_str(), entry.domain.as_str()), ("hello", "a.example"));
    assert_eq!(entry.sender_domain.as_deref(), Some("a.example"));
    assert_eq!(entry.recipients, ["bob@remote.example"]);
    assert_eq!(archive.get(entry.id).unwrap(), Some(entry.clone()));
    assert_eq!(archive.get(entry.id + 1000).unwrap(), None);
    assert_eq!(archive.file_state(&entry), FileState::Present);
    // A queue id is archived once.
    assert!(archive.store(&c).is_err());
    assert_eq!(archive.count(&Filter::default(), None).unwrap(), 1);
}

fn search_by_every_field(b: &dyn Backend) {
    let archive = b.open();
    let a = archive.store(&copy(&Msg { subject: "Invoice March", at: NOW - 3000, ..Msg::default() })).unwrap();
    let b = archive
        .store(&copy(&Msg {
            account_id: 2,
            domain: "b.example",
            sender: "carol@c.example",
            to: &["dave@remote.example", "Eve@Other.example"],
            subject: "Lunch",
            body: "the lighthouse keeper's café",
            at: NOW - 2000,
        }))
        .unwrap();
    let c = archive.store(&copy(&Msg { subject: "invoice april", at: NOW - 1000, ..Msg::default() })).unwrap();
    let f = |filter: Filter| ids(&archive, filter, None);
    assert_eq!(f(Filter::default()), [c.id, b.id, a.id]);
    assert_eq!(f(Filter { domain: Some("c.example".into()), ..Filter::default() }), [b.id], "by sender domain");
    assert_eq!(f(Filter { domain: Some("B.example".into()), ..Filter::default() }), [b.id], "by account domain");
    assert_eq!(f(Filter { account_id: Some(1), ..Filter::default() }), [c.id, a.id]);
    assert_eq!(f(Filter { account: Some("carol@c.example".into()), ..Filter::default() }), [b.id]);
    assert_eq!(f(Filter { identity: Some("CAROL".into()), ..Filter::default() }), [b.id]);
    assert_eq!(f(Filter { sender: Some("alice@".into()), ..Filter::default() }), [c.id, a.id]);
    assert_eq!(f(Filter { recipient: Some("eve@other".into()), ..Filter::default() }), [b.id]);
    assert_eq!(f(Filter { subject: Some("INVOICE".into()), ..Filter::default() }), [c.id, a.id]);
    assert_eq!(f(Filter { message_id: b.message_id.clone(), ..Filter::default() }), [b.id]);
    let bare = b.message_id.as_deref().unwrap().trim_matches(['<', '>']).to_string();
    assert_eq!(f(Filter { message_id: Some(bare), ..Filter::default() }), [b.id]);
    assert_eq!(f(Filter { queue_id: Some(a.queue_id.to_lowercase()), ..Filter::default() }), [a.id]);
    assert_eq!(f(Filter { since_ms: Some(NOW - 2000), until_ms: Some(NOW - 1000), ..Filter::default() }), [b.id]);
    let page = archive.search(&Filter::default(), None, Page { limit: 1, offset: 1 }).unwrap();
    assert_eq!((page.total, page.items.len(), page.items[0].id), (3, 1, b.id));
    assert_eq!(archive.count(&Filter { account_id: Some(1), ..Filter::default() }, None).unwrap(), 2);
    let backwards = Filter { since_ms: Some(10), until_ms: Some(5), ..Filter::default() };
    assert!(matches!(archive.count(&backwards, None), Err(ArchiveError::BadQuery { field: "since", .. })));
}

fn full_text_takes_no_syntax(b: &dyn Backend) {
    let archive = b.open();
    let a = archive
        .store(&copy(&Msg {
            subject: "Quarterly report",
            body: "see the lighthouse, ask keeper@light.example",
            ..Msg::default()
        }))
        .unwrap();
    let b = archive.store(&copy(&Msg { subject: "Résumé", body: "Café au lait OR NOT", ..Msg::default() })).unwrap();
    let t = |text: &str| ids(&archive, Filter { text: Some(text.into()), ..Filter::default() }, None);
    assert_eq!(t("lighthouse"), [a.id]);
    assert_eq!(t("QUARTERLY lighthouse"), [a.id], "all words, any case, subject and body");
    assert_eq!(t("quart*"), [a.id], "a prefix");
    assert_eq!(t("resume cafe"), [b.id], "diacritics folded");
    assert_eq!(t("RÉSUMÉ"), [b.id], "diacritics folded in the search too");
    assert!(t("lighthouse lait").is_empty());
    assert_eq!(t("keeper"), [a.id], "the words of an address are words");
    assert_eq!(t("keeper@light.example"), [a.id], "an address is the phrase of its words");
    assert!(t("alice").is_empty(), "the From header is not text");
    // Query syntax is plain words here: none of these is an error or matches everything.
    for hostile in [
        "OR",
        "NOT lighthouse",
        "body:lighthouse",
        "\"lighthouse",
        "NEAR(a b)",
        "*",
        "lighthouse)",
        "!lighthouse | lait",
        "light' & 'house",
        "a:* <-> b",
        "\\",
    ] {
        let found = archive.search(&Filter { text: Some(hostile.into()), ..Filter::default() }, None, Page::default());
        match found {
            Ok(page) => assert!(page.items.len() <= 1, "{hostile}: {:?}", page.items),
            Err(e) => assert!(matches!(e, ArchiveError::BadQuery { field: "text", .. }), "{hostile}: {e}"),
        }
    }
    assert_eq!(t("OR"), [b.id], "OR is a word of the body, not an operator");
    assert_eq!(t("body:lighthouse").len(), 0, "a column filter is two words");
    for nothing in ["( )", "*", "", "\" ' &"] {
        assert!(
            matches!(
                archive.search(&Filter { text: Some(nothing.into()), ..Filter::default() }, None, Page::default()),
                Err(ArchiveError::BadQuery { field: "text", .. })
            ),
            "{nothing:?}"
        );
    }
    let too_many = Filter { text: Some("w ".repeat(17)), ..Filter::default() };
    assert!(matches!(archive.count(&too_many, None), Err(ArchiveError::BadQuery { field: "text", .. })));
}

fn domain_admin_scope(b: &dyn Backend) {
    let archive = b.open();
    let own =
        archive.store(&copy(&Msg { domain: "a.example", sender: "x@elsewhere.example", ..Msg::default() })).unwrap();
    let sent_as = archive
        .store(&copy(&Msg { account_id: 2, domain: "ip.example", sender: "y@a.example", ..Msg::default() }))
        .unwrap();
    let other = archive
        .store(&copy(&Msg { account_id: 3, domain: "z.example", sender: "z@z.example", ..Msg::default() }))
        .unwrap();
    let scope = vec!["a.example".to_string()];
    let s = |filter: Filter| ids(&archive, filter, Some(&scope));
    assert_eq!(s(Filter::default()), [sent_as.id, own.id]);
    for probe in [
        Filter { domain: Some("z.example".into()), ..Filter::default() },
        Filter { account_id: Some(3), ..Filter::default() },
        Filter { sender: Some("z@".into()), ..Filter::default() },
        Filter { message_id: other.message_id.clone(), ..Filter::default() },
        Filter { queue_id: Some(other.queue_id.clone()), ..Filter::default() },
        Filter { text: Some("nothing".into()), ..Filter::default() },
    ] {
        assert!(!s(probe.clone()).contains(&other.id), "{probe:?}");
        assert!(archive.count(&probe, Some(&scope)).unwrap() <= 2, "{probe:?}");
    }
    assert!(ids(&archive, Filter::default(), Some(&[])).is_empty(), "no domains: nothing");
    assert_eq!(archive.count(&Filter::default(), Some(&[])).unwrap(), 0);
    let mut out = Vec::new();
    let summary = archive.export(ExportFormat::Mbox, &Filter::default(), Some(&scope), &mut out).unwrap();
    assert_eq!(summary.exported, 2);
    assert!(!String::from_utf8_lossy(&out).contains("z@z.example"));
    let z = vec!["z.example".to_string()];
    assert_eq!(ids(&archive, Filter::default(), Some(&z)), [other.id]);
}

fn missing_copy_is_reported(b: &dyn Backend) {
    let archive = b.open();
    let kept = archive.store(&copy(&Msg { at: NOW - 1, ..Msg::default() })).unwrap();
    let lost = archive.store(&copy(&Msg::default())).unwrap();
    b.lose(&archive, &lost);
    assert_eq!(archive.file_state(&lost), FileState::Missing);
    assert_eq!(archive.file_state(&kept), FileState::Present);
    assert!(matches!(archive.read(&lost), Err(ArchiveError::Missing { .. })));
    let report = archive.verify().unwrap();
    assert_eq!((report.checked, report.missing, report.examples.clone()), (2, 1, vec![lost.id]));
}

fn corrupt_copy_is_skipped(b: &dyn Backend) {
    let archive = b.open();
    let good = archive.store(&copy(&Msg { at: NOW - 1, ..Msg::default() })).unwrap();
    let bad = archive.store(&copy(&Msg::default())).unwrap();
    let longer = archive.store(&copy(&Msg { at: NOW - 2, ..Msg::default() })).unwrap();
    b.replace(&archive, &bad, gzip(b"tampered"));
    b.replace(&archive, &longer, gzip(&vec![b'x'; longer.size as usize + 10]));
    assert!(matches!(archive.read(&bad), Err(ArchiveError::Corrupt { .. })));
    assert!(matches!(archive.read(&longer), Err(ArchiveError::Corrupt { .. })));
    let mut out = Vec::new();
    let summary = archive.export_mbox(&Filter::default(), None, &mut out).unwrap();
    assert_eq!((summary.exported, summary.skipped), (1, 2));
    assert_eq!(summary.skipped_examples[0].0, bad.id);
    assert!(String::from_utf8_lossy(&out).contains(good.message_id.as_deref().unwrap()));
}

/// mboxrd, read back the way mail readers do: split on `From ` lines, unquote one `>`.
pub fn parse_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let mut messages: Vec<Vec<String>> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") {
            messages.push(Vec::new());
            continue;
        }
        let current = messages.last_mut().expect("starts with a From line");
        let unquoted = line.trim_start_matches('>');
        let line = if line.starts_with('>') && unquoted.starts_with("From ") { &line[1..] } else { line };
        current.push(line.to_string());
    }
    messages
        .into_iter()
        .map(|mut lines| {
            assert_eq!(lines.pop().as_deref(), Some("\n"), "a blank line ends each message");
            lines.concat().replace('\n', "\r\n").into_bytes()
        })
        .collect()
}

fn mbox_round_trip(b: &dyn Backend) {
    let archive = b.open();
    let mut stored: Vec<(Entry, Vec<u8>)> = Vec::new();
    // More than two export pages (200), some at the same millisecond (keyset ties).
    for i in 0..450 {
        let body = format!("message number {i}\r\nFrom here on\r\n>>From twice quoted");
        let c = copy(&Msg { subject: "batch", body: &body, at: NOW + i / 3, ..Msg::default() });
        let entry = archive.store(&c).unwrap();
        let bytes = archive.read(&entry).unwrap();
        stored.push((entry, bytes));
    }
    let mut out = Vec::new();
    let summary = archive.export(ExportFormat::Mbox, &Filter::default(), None, &mut out).unwrap();
    assert_eq!((summary.exported, summary.skipped), (450, 0));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("From alice@a.example "), "{}", &text[..80]);
    assert!(text.contains("\n>From here on\n") && text.contains("\n>>>From twice quoted\n"));
    let back = parse_mbox(&out);
    assert_eq!(back.len(), 450);
    // Newest first: the reverse of the order stored.
    for (got, (entry, bytes)) in back.iter().zip(stored.iter().rev()) {
        assert_eq!(got, bytes, "message {}", entry.id);
        let parsed = mail_parser::MessageParser::new().parse(got).unwrap();
        assert_eq!(parsed.subject(), Some("batch"));
        assert_eq!(parsed.message_id().map(|m| format!("<{m}>")), entry.message_id);
    }
    let mut out = Vec::new();
    let filter = Filter { text: Some("number".into()), since_ms: Some(NOW + 100), ..Filter::default() };
    let summary = archive.export(ExportFormat::Mbox, &filter, None, &mut out).unwrap();
    assert_eq!(summary.exported, 450 - 300);
}

fn zip_manifest(b: &dyn Backend) {
    let archive = b.open();
    for i in 0..30 {
        archive.store(&copy(&Msg { at: NOW + i, ..Msg::default() })).unwrap();
    }
    let missing = archive.store(&copy(&Msg { at: NOW - 1, ..Msg::default() })).unwrap();
    b.lose(&archive, &missing);
    let mut out = Vec::new();
    let summary = archive.export(ExportFormat::Zip, &Filter::default(), None, &mut out).unwrap();
    assert_eq!((summary.exported, summary.skipped), (30, 1));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(out)).unwrap();
    assert_eq!(zip.len(), 31, "30 messages and the manifest");
    let mut manifest = String::new();
    zip.by_name("manifest.json").unwrap().read_to_string(&mut manifest).unwrap();
    let manifest: Vec<serde_json::Value> = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest.len(), 31);
    for item in &manifest {
        let Some(file) = item["file"].as_str() else {
            assert_eq!(item["id"], missing.id);
            assert!(item["error"].as_str().unwrap().contains("missing"), "{item}");
            continue;
        };
        let mut bytes = Vec::new();
        zip.by_name(file).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(item["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&bytes)));
        assert_eq!(item["size"].as_u64().unwrap(), bytes.len() as u64);
        assert_eq!(item["domain"], "a.example");
    }
    assert!(std::fs::read_dir(archive.root().join("tmp")).unwrap().next().is_none(), "the manifest left no file");
}

fn retention_and_legal_hold(b: &dyn Backend) {
    let archive = b.open();
    let at = |account_id: i64, days_ago: i64| {
        let domain = if account_id == 1 { "a.example" } else { "b.example" };
        archive.store(&copy(&Msg { account_id, domain, at: NOW - days_ago * DAY, ..Msg::default() })).unwrap()
    };
    let old1 = (0..5).map(|_| at(1, 40)).collect::<Vec<_>>();
    let fresh1 = at(1, 10);
    let old2 = at(2, 400);
    let gone = at(3, 100);
    b.lose(&archive, &old1[0]);
    let policy = |hold: bool| {
        move |id: i64| match id {
            1 => Some(Policy { retention_days: 30, legal_hold: false }),
            2 => Some(Policy { retention_days: 30, legal_hold: hold }),
            _ => None,
        }
    };
    let report = archive.purge(NOW, &policy(true), 2).unwrap();
    let counts: Vec<_> = report.accounts.iter().map(|a| (a.account_id, a.removed, a.missing, a.held)).collect();
    assert_eq!(counts, [(1, 4, 1, 0), (2, 0, 0, 1), (3, 1, 0, 0)], "account 3 is gone: the default 90 days");
    assert_eq!(report.accounts[0].account, old1[0].account);
    assert!(old1.iter().all(|e| archive.get(e.id).unwrap().is_none()));
    assert!(old1.iter().all(|e| archive.file_state(e) == FileState::Missing), "the copies went too");
    assert!(archive.get(fresh1.id).unwrap().is_some(), "10 days old, 30 days kept");
    assert!(archive.get(old2.id).unwrap().is_some(), "legal hold");
    assert!(archive.get(gone.id).unwrap().is_none());
    // The hold lifted: the next purge takes it.
    let report = archive.purge(NOW, &policy(false), 2).unwrap();
    assert_eq!(report.removed(), 1);
    assert!(archive.get(old2.id).unwrap().is_none());
    assert_eq!(archive.purge(NOW, &policy(false), 2).unwrap().accounts, []);
    let fts: Vec<i64> = ids(&archive, Filter { text: Some("nothing".into()), ..Filter::default() }, None);
    assert_eq!(fts, [fresh1.id], "the full-text rows went with them");
    let report = archive.verify().unwrap();
    assert_eq!((report.checked, report.missing), (1, 0));
}

fn without_an_account_is_refused(b: &dyn Backend) {
    let archive = b.open();
    let mut c = copy(&Msg::default());
    c.envelope.owner = Some(owner(None, None, "trusted-network 127.0.0.0/8"));
    assert!(matches!(archive.store(&c), Err(ArchiveError::Refused(_))));
    c.envelope.owner = None;
    assert!(matches!(archive.store(&c), Err(ArchiveError::Refused(_))));
    assert_eq!(archive.count(&Filter::default(), None).unwrap(), 0);
}

fn large_incompressible_copy(b: &dyn Backend) {
    let archive = b.open();
    let mut c = copy(&Msg::default());
    // 3 MiB of bytes gzip cannot shrink (xorshift), after the headers.
    let mut message = b"Subject: large\r\n\r\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    message.extend((0..3 * 1024 * 1024).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    c.message = Arc::new(message);
    let entry = archive.store(&c).unwrap();
    assert_eq!(entry.size as usize, c.head.len() + c.message.len());
    let back = archive.read(&entry).unwrap();
    assert_eq!(&back[c.head.len()..], c.message.as_slice());
    let mut out = Vec::new();
    assert_eq!(archive.export_mbox(&Filter::default(), None, &mut out).unwrap().exported, 1);
}
