//! The purge: per account, copies received more than `retention_days` ago (Postern's
//! receive time, never the `Date:` header) are removed, file first, then row, in small
//! batches; an account under legal hold keeps everything.
//!
//! In: the time, each account's [`Policy`] (from its settings; an account that no longer
//! exists gets the default policy: 90 days, no hold), a batch size. Out: a [`PurgeReport`]
//! with counts per account, each logged. Blocking: run it on a blocking thread; the index's
//! write lock is held for one batch's delete at a time, so the SMTP path's inserts go on.
//!
//! Locally, file first, then row: a crash in between leaves a row without a file, which
//! the next purge removes (counted as missing); never a file that no row points to. A file
//! that cannot be removed keeps its row (it is tried again next time) and is reported. In
//! a shared store a batch's rows and copies go in one transaction; rows another node is
//! purging at that moment are skipped, and [`Archive::claim_purge`] lets one node of a
//! cluster take each run.

use postern_core::tenancy::Archive as ArchiveSettings;
use rusqlite::OptionalExtension;

use crate::store::{Backend, Local};
use crate::{Archive, Result};

const DAY_MS: i64 = 86_400_000;

/// What an account's settings say about its archive's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub retention_days: u32,
    pub legal_hold: bool,
}

impl Policy {
    pub fn of(settings: &ArchiveSettings) -> Policy {
        Policy { retention_days: settings.retention_days, legal_hold: settings.legal_hold }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::of(&ArchiveSettings::default())
    }
}

/// One account's purge.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountPurge {
    pub account_id: i64,
    pub account: String,
    /// Copies removed (file and row).
    pub removed: u64,
    /// Rows removed whose file was already gone.
    pub missing: u64,
    /// Copies whose file could not be removed (kept, tried again next time).
    pub failed: u64,
    /// Expired copies kept because the account is under legal hold.
    pub held: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// The accounts where something was (or would have been) purged.
    pub accounts: Vec<AccountPurge>,
}

impl PurgeReport {
    pub fn removed(&self) -> u64 {
        self.accounts.iter().map(|a| a.removed + a.missing).sum()
    }
}

impl Archive {
    /// Purges what expired at `now_ms`. `policy(account_id)`: `None` for an account that no
    /// longer exists.
    pub fn purge(&self, now_ms: i64, policy: &dyn Fn(i64) -> Option<Policy>, batch: u32) -> Result<PurgeReport> {
        let mut report = PurgeReport::default();
        let mut after = i64::MIN;
        // Each account in the index, by skipping along the (account_id, ...) index.
        while let Some(account_id) = self.next_account(after)? {
            after = account_id;
            let policy = policy(account_id).unwrap_or_default();
            let cutoff = now_ms.saturating_sub(i64::from(policy.retention_days).saturating_mul(DAY_MS));
            let done = if policy.legal_hold {
                self.held_back(account_id, cutoff)?
            } else {
                self.purge_account(account_id, cutoff, batch.max(1))?
            };
            if done.removed + done.missing + done.failed + done.held > 0 {
                tracing::info!(
                    account_id,
                    account = done.account.as_str(),
                    removed = done.removed,
                    missing = done.missing,
                    failed = done.failed,
                    held = done.held,
                    retention_days = policy.retention_days,
                    legal_hold = policy.legal_hold,
                    "archive purge"
                );
                report.accounts.push(done);
            }
        }
        Ok(report)
    }

    /// Whether this node runs the purge now: always on one node; in a cluster, the one
    /// node that takes the lease for `lease_ms` (the others skip this run).
    pub fn claim_purge(&self, now_ms: i64, lease_ms: i64) -> Result<bool> {
        match self.backend() {
            Backend::Local(_) => Ok(true),
            Backend::Shared(store) => Ok(store.claim_archive_purge(now_ms, lease_ms)?),
        }
    }

    fn next_account(&self, after: i64) -> Result<Option<i64>> {
        match self.backend() {
            Backend::Local(local) => {
                let found: Option<i64> = local
                    .reader()
                    .query_row("SELECT MIN(account_id) FROM messages WHERE account_id > ?1", [after], |r| r.get(0))
                    .optional()?
                    .flatten();
                Ok(found)
            }
            Backend::Shared(store) => Ok(store.archive_next_account(after)?),
        }
    }

    fn held_back(&self, account_id: i64, cutoff: i64) -> Result<AccountPurge> {
        let (held, account) = match self.backend() {
            Backend::Local(local) => {
                let (held, account): (i64, Option<String>) = local.reader().query_row(
                    "SELECT COUNT(*), MAX(account) FROM messages WHERE account_id = ?1 AND received_at_ms < ?2",
                    [account_id, cutoff],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                (u64::try_from(held).unwrap_or(0), account)
            }
            Backend::Shared(store) => store.archive_count_before(account_id, cutoff)?,
        };
        Ok(AccountPurge { account_id, account: account.unwrap_or_default(), held, ..AccountPurge::default() })
    }

    fn purge_account(&self, account_id: i64, cutoff: i64, batch: u32) -> Result<AccountPurge> {
        let store = match self.backend() {
            Backend::Local(local) => return purge_local(local, account_id, cutoff, batch),
            Backend::Shared(store) => store,
        };
        let mut done = AccountPurge { account_id, ..AccountPurge::default() };
        loop {
            let batch_done = store.archive_purge_batch(account_id, cutoff, batch)?;
            if let Some(account) = batch_done.account {
                done.account = account;
            }
            done.removed += batch_done.removed;
            done.missing += batch_done.missing;
            if batch_done.removed + batch_done.missing < u64::from(batch) {
                return Ok(done);
            }
        }
    }
}

fn purge_local(local: &Local, account_id: i64, cutoff: i64, batch: u32) -> Result<AccountPurge> {
    let mut done = AccountPurge { account_id, ..AccountPurge::default() };
    loop {
        let rows: Vec<(i64, String, String)> = {
            let conn = local.reader();
            let mut stmt = conn.prepare_cached(
                "SELECT id, file, account FROM messages WHERE account_id = ?1 AND received_at_ms < ?2
                    ORDER BY received_at_ms, id LIMIT ?3",
            )?;
            let rows =
                stmt.query_map([account_id, cutoff, i64::from(batch)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut gone = Vec::with_capacity(rows.len());
        for (id, file, account) in &rows {
            done.account.clone_from(account);
            match local.files.remove(file) {
                Ok(true) => done.removed += 1,
                Ok(false) => {
                    tracing::warn!(id, file = file.as_str(), "archive purge: the copy's file was already gone");
                    done.missing += 1;
                }
                Err(e) => {
                    tracing::error!(id, error = %e, "archive purge: cannot remove the copy; kept");
                    done.failed += 1;
                    continue;
                }
            }
            gone.push(*id);
        }
        crate::index::delete(&mut local.writer(), &gone)?;
        // A full batch goes on, unless a file would not go (it would come back first).
        if rows.len() < batch as usize || gone.len() < rows.len() {
            return Ok(done);
        }
    }
}
