//! The local archive's own behaviour, beyond the conformance suite (`conformance/mod.rs`,
//! run by `conformance_sqlite.rs` and `conformance_postgres.rs`): copies are gzip files
//! placed under the archive directory, and what a crash leaves in `tmp/` is settled at open.

mod conformance;

use conformance::{Msg, copy};
use postern_archive::{Archive, ArchiveError, FileState};

fn open() -> (tempfile::TempDir, Archive) {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = Archive::open(&dir.path().join("archive")).unwrap();
    (dir, archive)
}

#[test]
fn a_copy_is_a_gzip_file_placed_under_the_archive() {
    let (_dir, archive) = open();
    let entry = archive.store(&copy(&Msg::default())).unwrap();
    assert!(entry.file.starts_with("messages/") && entry.file.ends_with(".eml.gz"), "{}", entry.file);
    let on_disk = std::fs::read(archive.root().join(&entry.file)).unwrap();
    assert_eq!(&on_disk[..2], &[0x1f, 0x8b], "gzip");
    assert!(std::fs::read_dir(archive.root().join("tmp")).unwrap().next().is_none(), "nothing left in tmp/");
    assert!(!archive.is_shared());
}

#[test]
fn crash_leftovers_are_placed_or_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let (archive, _) = Archive::open(&root).unwrap();
    let kept = archive.store(&copy(&Msg::default())).unwrap();
    // A crash after the commit, before the rename: the file is still in tmp/.
    std::fs::rename(root.join(&kept.file), root.join("tmp").join(&kept.queue_id)).unwrap();
    // A crash before the commit: a file nobody acknowledged.
    std::fs::write(root.join("tmp").join("00000000000000000001"), b"partial").unwrap();
    drop(archive);
    let (archive, recovery) = Archive::open(&root).unwrap();
    assert_eq!((recovery.placed, recovery.removed), (1, 1));
    assert!(archive.read(&kept).is_ok());
    // A row whose file went missing is reported, never a panic.
    std::fs::remove_file(root.join(&kept.file)).unwrap();
    assert_eq!(archive.file_state(&kept), FileState::Missing);
    assert!(matches!(archive.read(&kept), Err(ArchiveError::Missing { .. })));
    let report = archive.verify().unwrap();
    assert_eq!((report.checked, report.missing, report.examples.clone()), (1, 1, vec![kept.id]));
}

#[test]
fn copies_stored_at_once_each_get_their_own_row_and_file() {
    let (_dir, archive) = open();
    let threads: Vec<_> = (0..12)
        .map(|t| {
            let archive = archive.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let subject = format!("thread {t} copy {i}");
                        let c = copy(&Msg { subject: &subject, ..Msg::default() });
                        let entry = archive.store(&c).unwrap();
                        let mut delivered = c.head.to_vec();
                        delivered.extend_from_slice(&c.message);
                        assert_eq!(archive.read(&entry).unwrap(), delivered, "read back at once");
                        assert_eq!(entry.subject, subject);
                        entry.id
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300);
    assert!(std::fs::read_dir(archive.root().join("tmp")).unwrap().next().is_none(), "nothing left in tmp/");
    let report = archive.verify().unwrap();
    assert_eq!((report.checked, report.missing, report.unreadable), (300, 0, 0));
}
