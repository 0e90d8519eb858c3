//! [`ScorerTrainer`]: administrators' samples for the installation's model
//! ([`Trainer`]): a quarantine release is ham, a confirmation spam, and so are the messages
//! of files an administrator trains from.
//!
//! In: a message and its label. Out: the sample stored ([`ScorerStore`], counted once per
//! message; relearning it with the other label moves its counts) and the counts in force
//! updated ([`Models::set_installation`]): the installation takes part once it holds the
//! [`TrainingMinimum`](crate::TrainingMinimum).

use std::sync::{Arc, Mutex};

use postern_core::{BoxFuture, Label, Trainer};
use postern_store::{Learned, ScorerStore};
use sha2::{Digest, Sha256};

use crate::bayes::Counts;
use crate::model::Models;
use crate::score::Analyzer;

pub struct ScorerTrainer {
    analyzer: Arc<Analyzer>,
    models: Arc<Models>,
    store: Arc<dyn ScorerStore>,
    /// The installation's counts, as stored.
    local: Mutex<Counts>,
}

impl ScorerTrainer {
    /// Loads the installation's counts from the store and puts them in force when they
    /// reach the minimum.
    pub fn open(
        analyzer: Arc<Analyzer>,
        models: Arc<Models>,
        store: Arc<dyn ScorerStore>,
    ) -> postern_store::Result<ScorerTrainer> {
        let stored = store.scorer_counts()?;
        let local = Counts {
            ham: stored.ham,
            spam: stored.spam,
            tokens: stored.tokens.into_iter().map(|(t, h, s)| (t, (h, s))).collect(),
        };
        models.set_installation(&local);
        Ok(ScorerTrainer { analyzer, models, store, local: Mutex::new(local) })
    }

    /// The scanner that scores with the counts this trainer keeps in force.
    pub fn scanner(&self) -> crate::ScorerScanner {
        crate::ScorerScanner::new(Arc::clone(&self.analyzer), Arc::clone(&self.models))
    }

    fn learn_now(&self, message: &[u8], label: Label, source: &str) -> Result<Learned, String> {
        let spam = label == Label::Spam;
        let tokens = self.analyzer.tokens(message);
        let digest: [u8; 32] = Sha256::digest(message).into();
        let learned = self.store.learn_sample(&digest, spam, &tokens, source).map_err(|e| e.to_string())?;
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        match learned {
            Learned::Known => return Ok(learned),
            Learned::New => local.learn(&tokens, spam),
            Learned::Relabelled => {
                local.unlearn(&tokens, !spam);
                local.learn(&tokens, spam);
            }
        }
        self.models.set_installation(&local);
        tracing::info!(label = label.name(), source, ham = local.ham, spam = local.spam, "scorer sample learned");
        Ok(learned)
    }
}

impl Trainer for ScorerTrainer {
    fn learn<'a>(&'a self, message: &'a [u8], label: Label, source: &'a str) -> BoxFuture<'a, Result<(), String>> {
        // Tokenizing and the store's transaction are blocking work, bounded by the view's
        // bounds; administrators' samples are rare enough to run here.
        Box::pin(std::future::ready(self.learn_now(message, label, source).map(|_| ())))
    }
}
