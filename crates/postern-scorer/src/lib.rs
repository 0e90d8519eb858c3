//! The built-in spam scorer (docs/SCORING.md): MIME-aware rules for outgoing mail plus a
//! Bayes classifier, a default model shipped inside the binary, and per-installation
//! training by administrators.
//!
//! In: a message as received (and the account it came from). Out: a score, the hits that
//! made it, and a verdict against the account's `checks.spam_threshold`.
//!
//! # Layout (the order a message goes through)
//! - `view.rs`: MIME parsing (`mail-parser`; in the pipeline, the parse the content checks
//!   share) into a bounded [`MessageView`]; `html.rs`: visible and hidden text and links
//!   of HTML parts; `links.rs`: hosts and domains.
//! - `phrases.rs`: known spam phrases and disguised words; `spaces.rs`: text cut at
//!   whitespace, the word passes' scan.
//! - `rules.rs`: the rules, each a name, a score and a test.
//! - `tokens.rs`: the classifier's hashed tokens; `bayes.rs`: the classifier
//!   (Robinson/Fisher) and its model file; `logistic.rs`: the alternative measured
//!   against it.
//! - `score.rs`: rules + classifier -> [`Score`].
//! - `model.rs`: the shipped model and the installation's samples, which model is in force.
//! - `scanner.rs`: [`ScorerScanner`], the pipeline's [`Scanner`](postern_pipeline::Scanner).
//! - `trainer.rs`: [`ScorerTrainer`], administrators' samples
//!   ([`Trainer`](postern_core::Trainer)) kept in the store; `mbox.rs`: training files
//!   (one message or an mbox) split into messages.
//! - `corpus.rs`: the SpamAssassin corpus files for training and the benchmark.

pub mod bayes;
pub mod corpus;
pub mod html;
pub mod links;
pub mod logistic;
pub mod mbox;
pub mod model;
pub mod phrases;
#[cfg(test)]
mod random_text;
pub mod rules;
pub mod scanner;
pub mod score;
pub mod spaces;
pub mod tokens;
pub mod trainer;
pub mod view;

pub use model::{Models, TrainingMinimum};
pub use scanner::ScorerScanner;
pub use score::{Analyzer, Score};
pub use trainer::{ScorerTrainer, Tally, Totals};
pub use view::{Bounds, MessageView};
