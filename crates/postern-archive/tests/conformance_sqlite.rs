//! The archive's conformance suite (`conformance/mod.rs`) against the local backend: gzip
//! files and an SQLite index in a temporary directory, one per case.

mod conformance;

use std::path::PathBuf;
use std::sync::Mutex;

use postern_archive::{Archive, Entry};

/// Fresh archives under one temporary directory, kept until the test ends.
struct Local {
    dir: tempfile::TempDir,
    made: Mutex<u32>,
}

impl Local {
    fn path(archive: &Archive, entry: &Entry) -> PathBuf {
        archive.root().join(&entry.file)
    }
}

impl conformance::Backend for Local {
    fn open(&self) -> Archive {
        let mut made = self.made.lock().unwrap();
        *made += 1;
        Archive::open(&self.dir.path().join(format!("archive{made}"))).unwrap().0
    }

    fn lose(&self, archive: &Archive, entry: &Entry) {
        std::fs::remove_file(Self::path(archive, entry)).unwrap();
    }

    fn replace(&self, archive: &Archive, entry: &Entry, gzip: Vec<u8>) {
        std::fs::write(Self::path(archive, entry), gzip).unwrap();
    }
}

#[test]
fn the_local_archive_passes_the_conformance_suite() {
    let local = Local { dir: tempfile::tempdir().unwrap(), made: Mutex::new(0) };
    conformance::run_all(&local);
    assert_eq!(*local.made.lock().unwrap() as usize, conformance::CASES.len(), "one fresh archive per case");
}
