//! The archive's conformance suite (`conformance/mod.rs`) against the shared backend:
//! PostgreSQL at 127.0.0.1:5432, database `test` (`POSTERN_TEST_POSTGRES` may name
//! another), each case in a fresh schema of its own (`a_<pid>_<nanos>_<n>`), every schema
//! dropped at the end, also when a case fails (a drop guard). PostgreSQL unreachable: the
//! tests fail and say so; CI runs the server.
//!
//! Beside the suite: two nodes (two stores on one schema) see each other's copies, and
//! only one of them takes the hourly purge; a copy whose bytes cannot be stored leaves no
//! row either, and the client hears `451 4.3.0`.

mod conformance;

use std::sync::Arc;
use std::time::Instant;

use conformance::{Msg, copy};
use postern_archive::{Archive, Entry, ExportFormat, Filter};
use postern_store::postgres::testing::{TestSchemas, admin};

/// The schemas one test made (`a_…`; each archive's root directory is named after its
/// schema), dropped with it, and the archives' scratch directories.
struct Schemas {
    schemas: TestSchemas,
    dir: tempfile::TempDir,
}

impl Schemas {
    fn new(test: &str) -> Schemas {
        Schemas { schemas: TestSchemas::new("a", test), dir: tempfile::tempdir().unwrap() }
    }

    fn next(&self) -> String {
        self.schemas.next()
    }

    /// A node's archive on `schema` (its scratch directory named after it).
    fn node(&self, schema: &str, node: &str) -> Archive {
        let root = self.dir.path().join(node).join(schema);
        Archive::open_shared(&root, Arc::new(self.schemas.open(schema))).unwrap()
    }

    fn schema_of(archive: &Archive) -> String {
        archive.root().file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl conformance::Backend for Schemas {
    fn open(&self) -> Archive {
        let schema = self.next();
        self.node(&schema, "a")
    }

    fn lose(&self, archive: &Archive, entry: &Entry) {
        admin(&format!("DELETE FROM {}.archive_bodies WHERE id = {}", Self::schema_of(archive), entry.id));
    }

    fn replace(&self, archive: &Archive, entry: &Entry, gzip: Vec<u8>) {
        let hex: String = gzip.iter().map(|b| format!("{b:02x}")).collect();
        let schema = Self::schema_of(archive);
        admin(&format!("UPDATE {schema}.archive_bodies SET gzip = decode('{hex}', 'hex') WHERE id = {}", entry.id));
    }
}

#[test]
fn postgres_passes_the_archive_conformance_suite() {
    let schemas = Schemas::new("conf");
    conformance::run_all(&schemas);
    assert_eq!(schemas.schemas.count(), conformance::CASES.len(), "one fresh schema per case");
}

#[test]
fn two_nodes_share_one_archive_and_one_purge() {
    let schemas = Schemas::new("nodes");
    let schema = schemas.next();
    let (a, b) = (schemas.node(&schema, "a"), schemas.node(&schema, "b"));
    assert!(a.is_shared() && b.is_shared());
    let at_b = b.store(&copy(&Msg { subject: "sent through b", body: "lighthouse", ..Msg::default() })).unwrap();
    let at_a =
        a.store(&copy(&Msg { account_id: 2, domain: "z.example", sender: "z@z.example", ..Msg::default() })).unwrap();
    // Node A finds, reads and exports what node B archived, and the other way round.
    assert_eq!(a.get(at_b.id).unwrap(), Some(at_b.clone()));
    assert_eq!(b.read(&at_a).unwrap(), a.read(&at_a).unwrap());
    let found = a.search(&Filter { text: Some("lighthouse".into()), ..Filter::default() }, None, Default::default());
    assert_eq!(found.unwrap().items.iter().map(|e| e.id).collect::<Vec<_>>(), [at_b.id]);
    let mut out = Vec::new();
    let scope = vec!["a.example".to_string()];
    let summary = a.export(ExportFormat::Mbox, &Filter::default(), Some(&scope), &mut out).unwrap();
    assert_eq!(summary.exported, 1);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("sent through b") && !text.contains("z@z.example"), "{text}");
    // One node takes each purge run; the lease ends and another may take the next.
    let now = 1_000_000;
    assert!(a.claim_purge(now, 60_000).unwrap());
    assert!(!b.claim_purge(now + 1, 60_000).unwrap());
    assert!(!a.claim_purge(now + 59_999, 60_000).unwrap());
    assert!(b.claim_purge(now + 60_000, 60_000).unwrap());
}

#[test]
fn a_copy_whose_bytes_cannot_be_stored_leaves_no_row_and_is_a_451() {
    let schemas = Schemas::new("fail");
    let archive = conformance::Backend::open(&schemas);
    let schema = Schemas::schema_of(&archive);
    // The row's insert succeeds, the copy's fails: the transaction takes both back.
    admin(&format!("ALTER TABLE {schema}.archive_bodies ADD CONSTRAINT refuse CHECK (octet_length(gzip) < 0)"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let archiver: &dyn postern_core::Archiver = &archive;
    let reply = runtime.block_on(archiver.archive(copy(&Msg::default()))).unwrap_err();
    assert_eq!((reply.code, reply.status), (451, Some("4.3.0")), "{reply:?}");
    assert_eq!(archive.count(&Filter::default(), None).unwrap(), 0, "no row without its copy");
    admin(&format!("ALTER TABLE {schema}.archive_bodies DROP CONSTRAINT refuse"));
    let id = runtime.block_on(archiver.archive(copy(&Msg::default()))).unwrap();
    assert!(archive.get(id).unwrap().is_some());
}

/// Not a check: the cost of one archived copy on each backend (run with `--ignored
/// --nocapture`). The local backend fsyncs a file, the temp directory, SQLite's WAL and
/// the day directory; the shared one makes one PostgreSQL transaction.
#[test]
#[ignore]
fn archive_write_cost_per_message() {
    const N: usize = 300;
    let schemas = Schemas::new("cost");
    let local_dir = tempfile::tempdir().unwrap();
    let local = Archive::open(&local_dir.path().join("archive")).unwrap().0;
    let shared = conformance::Backend::open(&schemas);
    let body = "a line of an ordinary message, nothing special in it\r\n".repeat(60);
    for (name, archive) in [("local (files + SQLite)", &local), ("shared (PostgreSQL)", &shared)] {
        let copies: Vec<_> = (0..N).map(|_| copy(&Msg { body: &body, ..Msg::default() })).collect();
        let started = Instant::now();
        for c in &copies {
            archive.store(c).unwrap();
        }
        let each = started.elapsed() / N as u32;
        let started = Instant::now();
        let mut out = Vec::new();
        archive.export(ExportFormat::Mbox, &Filter::default(), None, &mut out).unwrap();
        let export = started.elapsed() / N as u32;
        eprintln!(
            "{name}: {each:?} per archived copy ({} octets), export {export:?} per message",
            copies[0].message.len()
        );
    }
}
