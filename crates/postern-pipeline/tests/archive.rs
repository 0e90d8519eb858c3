//! Stage 6 with a real archive and a real spool: an account with `archive.enabled` gets its
//! copy, exactly as spooled, before the `250`; without it nothing is archived; a copy that
//! cannot be made is `451 4.3.0` and nothing is spooled; a spool failure after the copy
//! leaves an archived copy of an unacknowledged message (the harmless order).

mod common;

use std::sync::Arc;

use common::{Setup, account, submission};
use postern_archive::{Archive, Filter, Page};
use postern_core::tenancy::AccountSettings;
use postern_core::{Archiver, Disposition, MessagePipeline};

fn archived_settings() -> AccountSettings {
    let mut settings = AccountSettings::default();
    settings.archive.enabled = true;
    settings
}

fn open_archive(dir: &tempfile::TempDir) -> Archive {
    Archive::open(&dir.path().join("archive")).unwrap().0
}

fn all(archive: &Archive) -> Vec<postern_archive::Entry> {
    archive.search(&Filter::default(), None, Page::default()).unwrap().items
}

#[tokio::test]
async fn an_archived_account_gets_its_copy_as_spooled_before_the_250() {
    let s = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(&dir);
    let pipeline = s.pipeline().with_archiver(Some(Arc::new(archive.clone()) as Arc<dyn Archiver>));
    let outcome = pipeline.process(submission(Some(account(archived_settings())), "keep me")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    let rows = all(&archive);
    assert_eq!(rows.len(), 1);
    let queue_id = rows[0].queue_id.parse::<String>().unwrap();
    assert!(outcome.reply.render().contains(&queue_id), "{:?}", outcome.reply);
    let (_, spooled) = s.spool.read(postern_core::QueueId::parse(&queue_id).unwrap()).unwrap();
    assert_eq!(archive.read(&rows[0]).unwrap(), spooled, "the copy is the message as spooled");
    assert_eq!(rows[0].account_id, 7);
    let checks = s.trace().1;
    let last = checks.last().unwrap();
    assert_eq!((last.stage.as_str(), last.engine.as_str(), last.result.as_str()), ("archive", "archive", "archived"));
}

#[tokio::test]
async fn without_the_setting_nothing_is_archived() {
    let s = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(&dir);
    let pipeline = s.pipeline().with_archiver(Some(Arc::new(archive.clone()) as Arc<dyn Archiver>));
    let outcome = pipeline.process(submission(Some(account(AccountSettings::default())), "no copy")).await;
    assert_eq!(outcome.disposition, Disposition::Deliver);
    let trusted = pipeline.process(submission(None, "trusted network")).await;
    assert_eq!(trusted.disposition, Disposition::Deliver);
    assert!(all(&archive).is_empty());
    assert!(s.trace().1.iter().all(|c| c.stage != "archive"));
}

#[tokio::test]
async fn a_copy_that_cannot_be_made_is_a_451_and_nothing_is_spooled() {
    let s = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(&dir);
    // The disk broke under the archive: its temp directory is gone.
    std::fs::remove_dir_all(dir.path().join("archive/tmp")).unwrap();
    let pipeline = s.pipeline().with_archiver(Some(Arc::new(archive.clone()) as Arc<dyn Archiver>));
    let outcome = pipeline.process(submission(Some(account(archived_settings())), "must not pass")).await;
    assert_eq!(outcome.disposition, Disposition::Reject);
    assert_eq!(outcome.reply.render(), "451 4.3.0 Error: cannot archive the message, try again later\r\n");
    assert_eq!(s.spooled(), 0);
    assert!(all(&archive).is_empty());
    assert_eq!(s.refusals(), ["archive write failed"]);
    assert_eq!(s.trace().1.last().unwrap().result, "failed");
    // Without any archive wired, an archived account is refused the same way.
    let bare = s.pipeline().process(submission(Some(account(archived_settings())), "no archive")).await;
    assert_eq!(bare.reply.code, 451);
    assert_eq!(s.spooled(), 0);
}

#[tokio::test]
async fn a_spool_failure_after_the_copy_acknowledges_nothing() {
    let s = Setup::new();
    std::fs::remove_dir_all(s.spool.root().join("journal")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = open_archive(&dir);
    let pipeline = s.pipeline().with_archiver(Some(Arc::new(archive.clone()) as Arc<dyn Archiver>));
    let outcome = pipeline.process(submission(Some(account(archived_settings())), "archived, not queued")).await;
    assert_eq!(outcome.reply.code, 451);
    assert_eq!(all(&archive).len(), 1, "archive first: a copy of a message the client will send again");
}
