//! [`AttachmentScanner`]: the attachment checks as one of the pipeline's content checks.
//!
//! In: a [`ScanInput`]. Out: `Blocked` with the rule and the part, `Clean`, or `Skipped`
//! for a message larger than `max_message_bytes`. The account's `checks.block_macros`,
//! `checks.block_dangerous_attachments` and `checks.block_encrypted_archives` say which
//! rules apply (without an account, a trusted network: the defaults); the pipeline does not
//! run the scanner when both attachment settings are off ([`Setting::Attachments`]).
//!
//! The work is CPU only and bounded ([`Bounds`]); it runs on a blocking thread so that a
//! large archive never stalls the sessions sharing the runtime, and at most one analysis
//! per core runs at once (more would not finish sooner), so that the memory archives may
//! take is bounded by the cores times `max_unpacked_bytes`, not by the sessions. The size
//! is checked before anything is parsed; the message itself is then read from the
//! pipeline's shared parse ([`ScanInput::parsed`]: made by the scorer before, or here when no
//! check made it yet), attached messages are parsed by the walk.

use std::sync::Arc;

use tokio::sync::Semaphore;

use postern_core::BoxFuture;
use postern_core::tenancy::ContentChecks;
use postern_pipeline::{Block, BlockKind, ScanInput, ScanResult, Scanner, Setting};

use crate::{Bounds, Checks, Kind, Verdict};

pub struct AttachmentScanner {
    bounds: Arc<Bounds>,
    /// One permit per analysis running.
    running: Semaphore,
}

impl AttachmentScanner {
    pub fn new(bounds: Bounds) -> AttachmentScanner {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        AttachmentScanner { bounds: Arc::new(bounds), running: Semaphore::new(cores.max(2)) }
    }
}

impl Scanner for AttachmentScanner {
    fn engine(&self) -> &'static str {
        "attachments"
    }

    fn setting(&self) -> Option<Setting> {
        Some(Setting::Attachments)
    }

    fn shares_parse(&self) -> bool {
        true
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        Box::pin(async move {
            let defaults = ContentChecks::default();
            let settings = input.account.map_or(&defaults, |a| &a.settings.checks);
            let checks = Checks {
                macros: settings.block_macros,
                dangerous: settings.block_dangerous_attachments,
                encrypted: settings.block_encrypted_archives,
            };
            if input.message.len() > self.bounds.max_message_bytes {
                return skipped(&self.bounds);
            }
            let Ok(_permit) = self.running.acquire().await else {
                return ScanResult::Failed { error: "attachments: shutting down".into() };
            };
            let bounds = Arc::clone(&self.bounds);
            let parse = input.parse_handle();
            match tokio::task::spawn_blocking(move || crate::analyse_parsed(parse.get().as_deref(), &bounds, checks))
                .await
            {
                Err(e) => ScanResult::Failed { error: format!("attachments: {e}") },
                Ok(Verdict::Clean) => ScanResult::Clean { score: None },
                Ok(Verdict::TooLarge) => skipped(&self.bounds),
                Ok(Verdict::Found(finding)) => ScanResult::Blocked(Block {
                    kind: block_kind(finding.rule.kind()),
                    rule: finding.rule.name().to_string(),
                    part: Some(finding.part),
                }),
            }
        })
    }
}

fn skipped(bounds: &Bounds) -> ScanResult {
    ScanResult::Skipped {
        reason: format!("message larger than attachments.max_message_bytes ({})", bounds.max_message_bytes),
    }
}

fn block_kind(kind: Kind) -> BlockKind {
    match kind {
        Kind::Macros => BlockKind::Macros,
        Kind::Dangerous => BlockKind::Dangerous,
        Kind::Encrypted => BlockKind::Encrypted,
        Kind::Unscannable => BlockKind::Unscannable,
    }
}
