//! The archive in the running server: opened under `<data-dir>/archive` at start (what a
//! crash left in its `tmp/` settled before the listeners open), or, on a cluster node, in
//! the shared PostgreSQL (the node's `<data-dir>/archive/tmp` holds only exports' scratch
//! files); on one node every row's file checked in the background; and the retention
//! purge: once at start, then every hour. In a cluster one node takes each purge run (a
//! lease in the shared store); the others skip it.
//!
//! In: the data directory, the shared store if any, the live directory (each account's
//! `archive` settings: retention days and legal hold). Out: the [`Archive`] the pipeline
//! and the admin API share, log lines (`archive recovered`, `archive verified`, `archive
//! purge` per account, `archive purge run` per run). The purge and the check run on
//! blocking threads, never on the async ones; the purge works in batches, so the SMTP
//! path's writes go on between them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use postern_archive::{Archive, Policy};

/// How often the purge runs (and once at start).
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Copies removed per batch (one index transaction).
const PURGE_BATCH: u32 = 500;

/// How long a cluster node holds the purge it took: less than [`PURGE_EVERY`], so the
/// next run is free for whichever node comes first, even if this one is gone.
const PURGE_LEASE: Duration = Duration::from_secs(50 * 60);

/// Opens the archive (shared: in `shared`; else local, settling what a crash left in
/// `tmp/`).
pub fn open(data_dir: &Path, shared: Option<Arc<dyn postern_store::ArchiveStore>>) -> Result<Archive> {
    let root = data_dir.join("archive");
    if let Some(store) = shared {
        let archive = Archive::open_shared(&root, store).with_context(|| format!("archive in {}", root.display()))?;
        tracing::info!("archive in PostgreSQL, shared by the cluster's nodes");
        return Ok(archive);
    }
    let (archive, recovery) = Archive::open(&root).with_context(|| format!("archive in {}", root.display()))?;
    if recovery.placed + recovery.removed > 0 {
        tracing::info!(
            placed = recovery.placed,
            removed = recovery.removed,
            "archive recovered: committed copies placed, unacknowledged leftovers removed"
        );
    }
    Ok(archive)
}

/// Checks, in the background, that every indexed copy has its file; logs what is missing.
/// Not on a cluster node: there a row and its copy commit together, and every node's
/// start would walk the whole shared archive.
pub fn verify_in_background(archive: Archive) {
    if archive.is_shared() {
        return;
    }
    tokio::task::spawn_blocking(move || match archive.verify() {
        Ok(report) if report.missing + report.unreadable == 0 => {
            tracing::info!(copies = report.checked, "archive verified");
        }
        Ok(report) => tracing::error!(
            copies = report.checked,
            missing = report.missing,
            unreadable = report.unreadable,
            examples = ?report.examples,
            "archive verified: copies whose file is missing or unreadable (see `postern archive show ID`)"
        ),
        Err(e) => tracing::error!(error = %e, "archive check failed"),
    });
}

/// Runs the purge now and then every `every`, until the task is aborted.
pub async fn purge_every(archive: Archive, directory: Arc<postern_policy::Directory>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (archive, directory) = (archive.clone(), Arc::clone(&directory));
        let run = tokio::task::spawn_blocking(move || {
            let lease = i64::try_from(PURGE_LEASE.as_millis()).unwrap_or(i64::MAX);
            if !archive.claim_purge(postern_core::event::now_ms(), lease)? {
                return Ok(None);
            }
            let index = directory.load();
            let policy = |id: i64| index.account(id).map(|entry| Policy::of(&entry.account.settings.archive));
            archive.purge(postern_core::event::now_ms(), &policy, PURGE_BATCH).map(Some)
        })
        .await;
        match run {
            Ok(Ok(None)) => tracing::debug!("archive purge run by another node of the cluster"),
            Ok(Ok(Some(report))) => tracing::info!(
                accounts = report.accounts.len(),
                removed = report.removed(),
                held = report.accounts.iter().map(|a| a.held).sum::<u64>(),
                failed = report.accounts.iter().map(|a| a.failed).sum::<u64>(),
                "archive purge run"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "archive purge failed; tried again at the next run"),
            Err(e) => tracing::error!(error = %e, "archive purge task failed; tried again at the next run"),
        }
    }
}
