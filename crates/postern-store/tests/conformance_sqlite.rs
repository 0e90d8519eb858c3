//! The directory, DKIM, quarantine and log search conformance suites against the embedded SQLite backend, one fresh database
//! file per case.

use std::cell::Cell;

use postern_store::conformance::DkimBackend;
use postern_store::{DirectoryStore, SqliteStore, conformance};

#[test]
fn sqlite_passes_the_directory_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let make = || -> Box<dyn DirectoryStore> {
        made.set(made.get() + 1);
        let path = dir.path().join(format!("case-{}.db", made.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    };
    conformance::run_all(&make);
    assert_eq!(made.get(), conformance::CASES.len(), "one fresh store per case");
}

#[test]
fn sqlite_passes_the_dkim_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let make = || -> Box<dyn DkimBackend> {
        made.set(made.get() + 1);
        let path = dir.path().join(format!("dkim-{}.db", made.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    };
    conformance::run_dkim(&make);
    assert_eq!(made.get(), conformance::DKIM_CASES.len(), "one fresh store per case");
}

#[test]
fn sqlite_passes_the_quarantine_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let make = || -> Box<dyn postern_store::QuarantineStore> {
        made.set(made.get() + 1);
        let path = dir.path().join(format!("quarantine-{}.db", made.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    };
    conformance::run_quarantine(&make);
    assert_eq!(made.get(), conformance::QUARANTINE_CASES.len(), "one fresh store per case");
}

#[test]
fn sqlite_passes_the_scorer_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let fresh = || {
        made.set(made.get() + 1);
        dir.path().join(format!("scorer-{}.db", made.get()))
    };
    let make = || -> Box<dyn postern_store::ScorerStore> { Box::new(SqliteStore::open(&fresh()).unwrap()) };
    // One node's file has one store (its threads share it): the writers are that store.
    let writers = || -> Box<dyn Fn() -> std::sync::Arc<dyn postern_store::ScorerStore>> {
        let store: std::sync::Arc<dyn postern_store::ScorerStore> =
            std::sync::Arc::new(SqliteStore::open(&fresh()).unwrap());
        Box::new(move || std::sync::Arc::clone(&store))
    };
    conformance::run_scorer(&make, &writers);
}

#[test]
fn sqlite_passes_the_log_search_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let make = || -> Box<dyn conformance::LogBackend> {
        made.set(made.get() + 1);
        let path = dir.path().join(format!("log-{}.db", made.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    };
    conformance::run_log(&make);
    assert_eq!(made.get(), conformance::LOG_CASES.len(), "one fresh store per case");
}

#[test]
fn sqlite_passes_the_admin_users_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let made = Cell::new(0);
    let make = || -> Box<dyn postern_store::AdminUserStore> {
        made.set(made.get() + 1);
        let path = dir.path().join(format!("admin-users-{}.db", made.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    };
    conformance::run_admin_users(&make);
    assert_eq!(made.get(), conformance::ADMIN_USER_CASES.len(), "one fresh store per case");
}
