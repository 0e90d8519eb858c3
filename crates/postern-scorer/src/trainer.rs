//! [`ScorerTrainer`]: administrators' samples for the installation's model
//! ([`Trainer`]): a quarantine release is ham, a confirmation spam, and so are the messages
//! of files an administrator trains from.
//!
//! In: a message and its label. Out: the sample stored ([`ScorerStore`], counted once per
//! message; relearning it with the other label moves its counts) and the counts in force
//! updated ([`Models::set_installation`]): the installation takes part once it holds the
//! [`TrainingMinimum`](crate::TrainingMinimum). Training files (split by [`crate::mbox`])
//! are learned whole with [`ScorerTrainer::learn_messages`]; [`ScorerTrainer::totals`] says
//! where the installation stands.

use std::sync::{Arc, Mutex};

use postern_core::{BoxFuture, Label, Trainer};
use postern_store::{Learned, ScorerStore};
use sha2::{Digest, Sha256};

use crate::bayes::Counts;
use crate::model::{Models, TrainingMinimum};
use crate::score::Analyzer;

/// What learning a training file did: `learned` messages changed the counts (new ones and
/// `relabelled` ones, learned before with the other label); `known` ones were already
/// learned with this label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub learned: u32,
    pub relabelled: u32,
    pub known: u32,
}

/// The installation's samples so far, the minimum of each before they take part, and
/// whether they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub ham: u32,
    pub spam: u32,
    pub minimum: TrainingMinimum,
    pub in_force: bool,
}

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
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let learned = self.learn_one(&mut local, message, label, source)?;
        if learned != Learned::Known {
            self.models.set_installation(&local);
            tracing::info!(label = label.name(), source, ham = local.ham, spam = local.spam, "scorer sample learned");
        }
        Ok(learned)
    }

    /// Stores one sample and updates `local` (the caller puts it in force).
    fn learn_one(&self, local: &mut Counts, message: &[u8], label: Label, source: &str) -> Result<Learned, String> {
        let spam = label == Label::Spam;
        let tokens = self.analyzer.tokens(message);
        let digest: [u8; 32] = Sha256::digest(message).into();
        let learned = self.store.learn_sample(&digest, spam, &tokens, source).map_err(|e| e.to_string())?;
        match learned {
            Learned::Known => {}
            Learned::New => local.learn(&tokens, spam),
            Learned::Relabelled => {
                local.unlearn(&tokens, !spam);
                local.learn(&tokens, spam);
            }
        }
        Ok(learned)
    }

    /// Learns the messages of a training file (blocking: tokenizing and one store
    /// transaction per message), putting the counts in force once at the end. On a store
    /// failure the messages learned before it stay learned and in force, and the tally so
    /// far comes back with the error.
    pub fn learn_messages<M: AsRef<[u8]>>(
        &self,
        messages: &[M],
        label: Label,
        source: &str,
    ) -> Result<Tally, (Tally, String)> {
        let mut tally = Tally::default();
        let mut failed = None;
        for message in messages {
            // Locked per message: a quarantine decision meanwhile waits for one message,
            // not for the whole file.
            let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            match self.learn_one(&mut local, message.as_ref(), label, source) {
                Ok(Learned::New) => tally.learned += 1,
                Ok(Learned::Relabelled) => {
                    tally.learned += 1;
                    tally.relabelled += 1;
                }
                Ok(Learned::Known) => tally.known += 1,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if tally.learned > 0 {
            self.models.set_installation(&local);
        }
        tracing::info!(
            label = label.name(),
            source,
            learned = tally.learned,
            relabelled = tally.relabelled,
            known = tally.known,
            ham = local.ham,
            spam = local.spam,
            "scorer training file learned"
        );
        match failed {
            None => Ok(tally),
            Some(e) => Err((tally, e)),
        }
    }

    /// Takes in what other nodes learned (a cluster shares one store): when the stored
    /// totals differ from the counts in force, or `always`, the counts are read again and
    /// put in force. `Ok(true)`: they were. Blocking.
    pub fn refresh(&self, always: bool) -> postern_store::Result<bool> {
        if !always {
            let stored = self.store.scorer_totals()?;
            let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            if stored == (local.ham, local.spam) {
                return Ok(false);
            }
        }
        // Read outside the lock (it can be large); a sample learned here meanwhile is in
        // the store already, so the read has it or the next refresh does.
        let stored = self.store.scorer_counts()?;
        let fresh = Counts {
            ham: stored.ham,
            spam: stored.spam,
            tokens: stored.tokens.into_iter().map(|(t, h, s)| (t, (h, s))).collect(),
        };
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        *local = fresh;
        self.models.set_installation(&local);
        tracing::info!(ham = local.ham, spam = local.spam, "scorer samples of other nodes taken in");
        Ok(true)
    }

    /// The installation's samples and whether they take part in verdicts.
    pub fn totals(&self) -> Totals {
        let (ham, spam) = self.models.installation_samples();
        Totals { ham, spam, minimum: self.models.minimum(), in_force: self.models.installation_in_force() }
    }
}

impl Trainer for ScorerTrainer {
    fn learn<'a>(&'a self, message: &'a [u8], label: Label, source: &'a str) -> BoxFuture<'a, Result<(), String>> {
        // Tokenizing and the store's transaction are blocking work, bounded by the view's
        // bounds; administrators' samples are rare enough to run here.
        Box::pin(std::future::ready(self.learn_now(message, label, source).map(|_| ())))
    }
}
