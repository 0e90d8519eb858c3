//! [`ScorerScanner`]: the built-in scorer as one of the pipeline's content checks.
//!
//! In: a [`ScanInput`]. Out: `Spam { rule, score }` when the score reaches the account's
//! `checks.spam_threshold`, else `Clean` with the score. An account with `checks.spam`
//! off is not scored (`Clean` without a score). Mail from a trusted network (no account)
//! is scored with [`TRUSTED_NETWORK_THRESHOLD`] and without the rules about the account's
//! domain: a trusted network relays for many domains, and a compromised host inside it is
//! exactly what an outgoing filter is for.
//!
//! The work is CPU only and bounded ([`crate::Bounds`]); it runs on a blocking thread so
//! that a large message never stalls the sessions sharing the runtime (a message of at
//! most 4 KiB is scored in place: its parse and score take less than the trip would). A
//! message within [`Bounds::message_bytes`](crate::Bounds::message_bytes) is read from the pipeline's
//! shared parse ([`ScanInput::parsed`], made here when no check made it before: the
//! attachment checks then read it without parsing again); a longer one has its first bytes
//! parsed here, as [`Analyzer::score`] does.

use std::sync::Arc;

use postern_core::BoxFuture;
use postern_pipeline::{ScanInput, ScanResult, Scanner, Setting};

use crate::model::Models;
use crate::rules::Sender;
use crate::score::Analyzer;

/// The threshold for mail from trusted networks (the account default).
pub const TRUSTED_NETWORK_THRESHOLD: f64 = 5.0;

/// Messages up to this size are scored on the session's runtime thread: at most about
/// 100 µs of work (2 KB of prose takes ~50 µs, `examples/score_bench.rs`), less than the
/// hand-off to a blocking thread and back costs in wake-ups on a busy machine.
const INLINE_BYTES: usize = 4 * 1024;

pub struct ScorerScanner {
    analyzer: Arc<Analyzer>,
    models: Arc<Models>,
}

impl ScorerScanner {
    pub fn new(analyzer: Arc<Analyzer>, models: Arc<Models>) -> ScorerScanner {
        ScorerScanner { analyzer, models }
    }
}

impl Scanner for ScorerScanner {
    fn engine(&self) -> &'static str {
        "scorer"
    }

    /// The account's `checks.spam` switch turns the scorer off (trace: `off`).
    fn setting(&self) -> Option<Setting> {
        Some(Setting::Spam)
    }

    fn shares_parse(&self) -> bool {
        true
    }

    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult> {
        Box::pin(async move {
            let (sender, threshold) = match input.account {
                Some(account) if !account.settings.checks.spam => return ScanResult::Clean { score: None },
                Some(account) => (
                    Sender {
                        account_domain: Some(account.domain.clone()),
                        any_domain: account.settings.allow_foreign_sender_domains,
                    },
                    account.settings.checks.spam_threshold,
                ),
                None => (Sender::default(), TRUSTED_NETWORK_THRESHOLD),
            };
            let analyzer = Arc::clone(&self.analyzer);
            let counts = self.models.counts();
            let limit = analyzer.bounds().message_bytes;
            let scored = if input.message.len() <= INLINE_BYTES.min(limit) {
                // Small: scored here, cheaper than a trip to the blocking pool and back.
                Ok(analyzer.score_parsed(input.parsed.get(input.message).as_deref(), &sender, &counts))
            } else if input.message.len() > limit {
                // Longer than the bound: the scorer parses its first bytes only, on its own.
                let message = input.message[..limit].to_vec();
                tokio::task::spawn_blocking(move || analyzer.score(&message, &sender, &counts)).await
            } else {
                let parse = input.parse_handle();
                tokio::task::spawn_blocking(move || analyzer.score_parsed(parse.get().as_deref(), &sender, &counts))
                    .await
            };
            match scored {
                Err(e) => ScanResult::Failed { error: format!("scorer: {e}") },
                Ok(score) if score.total >= threshold => {
                    ScanResult::Spam { rule: score.rule(), score: Some(round(score.total)) }
                }
                Ok(score) => ScanResult::Clean { score: Some(round(score.total)) },
            }
        })
    }
}

fn round(score: f64) -> f64 {
    (score * 100.0).round() / 100.0
}
