//! `postern-train`: the scorer's default model and its measurements, from the SpamAssassin
//! corpus groups easy-ham-1 and spam-1 (`scripts/fetch-corpus.sh` fetches them).
//!
//! - `default`: trains the shipped model (`crates/postern-scorer/model/default.bayes`).
//! - `cv`: k-fold cross-validation of the scorer (rules + Bayes), or of a classifier alone
//!   (`--classifier bayes|logistic`); prints the catch and false-positive rates and, with
//!   `--scores FILE`, every message's score.
//! - `speed`: scoring speed on one core at the corpus' median message size.
//! - `score`: the shipped model's score of each message file given (a raw message, or a
//!   corpus JSON file), as a trusted network's message is scored (no account rules).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use postern_scorer::bayes::Counts;
use postern_scorer::logistic::Logistic;
use postern_scorer::rules::Sender;
use postern_scorer::{Analyzer, corpus};

#[derive(Parser)]
#[command(about = "Train and measure Postern's built-in scorer on the SpamAssassin corpus")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Groups {
    /// The easy-ham-1 directory.
    #[arg(long, default_value = "corpus/spam-assassin/easy-ham-1")]
    ham: PathBuf,
    /// The spam-1 directory.
    #[arg(long, default_value = "corpus/spam-assassin/spam-1")]
    spam: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Train the shipped model on every message of both groups.
    Default {
        #[command(flatten)]
        groups: Groups,
        #[arg(long, default_value = "crates/postern-scorer/model/default.bayes")]
        out: PathBuf,
        /// Keep tokens seen in at least this many messages.
        #[arg(long, default_value_t = 2)]
        prune: u32,
    },
    /// k-fold cross-validation.
    Cv {
        #[command(flatten)]
        groups: Groups,
        #[arg(long, default_value_t = 10)]
        folds: usize,
        #[arg(long, value_enum, default_value_t = Classifier::Scorer)]
        classifier: Classifier,
        /// Spam from this score (scorer) or probability (classifiers alone).
        #[arg(long)]
        threshold: Option<f64>,
        #[arg(long, default_value_t = 2)]
        prune: u32,
        /// Write "label score [probability clues rule hits]" per message here.
        #[arg(long)]
        scores: Option<PathBuf>,
    },
    /// The shipped model's score of each file: "score rule file" per line.
    Score {
        /// Raw messages, or corpus JSON files (`{"text": ...}`, by the `.json` ending).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Messages scored per second on one core, at the median size.
    Speed {
        #[command(flatten)]
        groups: Groups,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Classifier {
    /// The whole scorer: rules plus Bayes bands, threshold 5.0.
    Scorer,
    /// Bayes probability alone.
    Bayes,
    /// Logistic regression alone.
    Logistic,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Default { groups, out, prune } => default_model(&groups, &out, prune),
        Command::Cv { groups, folds, classifier, threshold, prune, scores } => {
            cross_validate(&groups, folds, classifier, threshold, prune, scores)
        }
        Command::Speed { groups, seconds } => speed(&groups, seconds),
        Command::Score { files } => score_files(&files),
    }
}

/// The messages of a group, each as bytes.
type Messages = Vec<Vec<u8>>;

/// (ham, spam).
fn load(groups: &Groups) -> Result<(Messages, Messages)> {
    let ham = corpus::read_group(&groups.ham)?;
    let spam = corpus::read_group(&groups.spam)?;
    if ham.is_empty() || spam.is_empty() {
        bail!("no messages: run scripts/fetch-corpus.sh first");
    }
    Ok((ham, spam))
}

fn default_model(groups: &Groups, out: &PathBuf, prune: u32) -> Result<()> {
    let (ham, spam) = load(groups)?;
    let analyzer = Analyzer::default();
    let mut counts = Counts::default();
    for m in &ham {
        counts.learn(&analyzer.tokens(m), false);
    }
    for m in &spam {
        counts.learn(&analyzer.tokens(m), true);
    }
    counts.prune(prune);
    let bytes = counts.to_bytes();
    std::fs::write(out, &bytes)?;
    println!(
        "{}: {} ham, {} spam, {} tokens, {} bytes",
        out.display(),
        counts.ham,
        counts.spam,
        counts.tokens.len(),
        bytes.len()
    );
    Ok(())
}

/// A reproducible shuffle (xorshift) so folds do not follow the corpus' file order.
fn fold_of(count: usize, folds: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..count).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut fold = vec![0; count];
    for (position, &index) in order.iter().enumerate() {
        fold[index] = position % folds;
    }
    fold
}

fn cross_validate(
    groups: &Groups,
    folds: usize,
    classifier: Classifier,
    threshold: Option<f64>,
    prune: u32,
    scores_out: Option<PathBuf>,
) -> Result<()> {
    let (ham, spam) = load(groups)?;
    let analyzer = Analyzer::default();
    let messages: Vec<(&[u8], bool)> =
        ham.iter().map(|m| (m.as_slice(), false)).chain(spam.iter().map(|m| (m.as_slice(), true))).collect();
    let tokens: Vec<Vec<u32>> = messages.iter().map(|(m, _)| analyzer.tokens(m)).collect();
    let fold = fold_of(messages.len(), folds.max(2));
    let threshold = threshold.unwrap_or(if classifier == Classifier::Scorer { 5.0 } else { 0.5 });
    let mut results: Vec<(bool, f64, String)> = vec![(false, 0.0, String::new()); messages.len()];
    let started = Instant::now();
    for k in 0..folds.max(2) {
        let train: Vec<usize> = (0..messages.len()).filter(|i| fold[*i] != k).collect();
        let test: Vec<usize> = (0..messages.len()).filter(|i| fold[*i] == k).collect();
        match classifier {
            Classifier::Scorer | Classifier::Bayes => {
                let mut counts = Counts::default();
                for &i in &train {
                    counts.learn(&tokens[i], messages[i].1);
                }
                counts.prune(prune);
                for &i in &test {
                    results[i] = if classifier == Classifier::Scorer {
                        let score = analyzer.score(messages[i].0, &Sender::default(), &counts);
                        let hits: Vec<String> = score.hits.iter().skip(1).map(|h| h.rule.to_string()).collect();
                        (
                            messages[i].1,
                            score.total,
                            format!("{:.6} {} {} {}", score.probability, score.clues, score.rule(), hits.join(",")),
                        )
                    } else {
                        (messages[i].1, counts.probability(&tokens[i]), String::new())
                    };
                }
            }
            Classifier::Logistic => {
                let mut model = Logistic::default();
                let samples: Vec<(&[u32], bool)> =
                    train.iter().map(|&i| (tokens[i].as_slice(), messages[i].1)).collect();
                model.train(&samples, 5, 0.5, 1e-6);
                for &i in &test {
                    results[i] = (messages[i].1, model.probability(&tokens[i]), String::new());
                }
            }
        }
    }
    let (mut caught, mut flagged) = (0usize, 0usize);
    for (spam, score, _) in &results {
        if *score >= threshold {
            if *spam {
                caught += 1;
            } else {
                flagged += 1;
            }
        }
    }
    println!(
        "{} folds, {} ham, {} spam, threshold {threshold}: spam caught {caught}/{} = {:.2}%, ham flagged {flagged}/{} = {:.2}% ({:.1}s)",
        folds,
        ham.len(),
        spam.len(),
        spam.len(),
        100.0 * caught as f64 / spam.len() as f64,
        ham.len(),
        100.0 * flagged as f64 / ham.len() as f64,
        started.elapsed().as_secs_f64()
    );
    // The operating point at the limit: the best catch rate with at most 0.3% of
    // ham flagged, whatever the threshold (compares classifiers fairly).
    let mut ham_scores: Vec<f64> = results.iter().filter(|r| !r.0).map(|r| r.1).collect();
    ham_scores.sort_by(|a, b| b.total_cmp(a));
    let allowed = ham_scores.len() * 3 / 1000;
    if let Some(&above) = ham_scores.get(allowed) {
        let caught = results.iter().filter(|r| r.0 && r.1 > above).count();
        println!(
            "  at most {allowed} ham flagged (0.3%): threshold > {above:.4} catches {caught}/{} = {:.2}%",
            spam.len(),
            100.0 * caught as f64 / spam.len() as f64
        );
    }
    if let Some(path) = scores_out {
        let lines: Vec<String> = results
            .iter()
            .map(|(spam, score, rule)| format!("{} {score:.4} {rule}", if *spam { "spam" } else { "ham" }))
            .collect();
        std::fs::write(path, lines.join("\n") + "\n")?;
    }
    Ok(())
}

fn score_files(files: &[PathBuf]) -> Result<()> {
    let counts = Counts::from_bytes(postern_scorer::model::SHIPPED)?;
    let analyzer = Analyzer::default();
    for path in files {
        let message = corpus::read_message(path)?;
        let score = analyzer.score(&message, &Sender::default(), &counts);
        println!("{:.2} {} {}", score.total, score.rule(), path.display());
    }
    Ok(())
}

fn speed(groups: &Groups, seconds: f64) -> Result<()> {
    let (ham, spam) = load(groups)?;
    let mut all: Vec<&Vec<u8>> = ham.iter().chain(spam.iter()).collect();
    all.sort_by_key(|m| m.len());
    let median = all[all.len() / 2].len();
    // The 200 messages closest to the median size.
    let start = (all.len() / 2).saturating_sub(100);
    let sample: Vec<&Vec<u8>> = all[start..(start + 200).min(all.len())].to_vec();
    let mut counts = Counts::default();
    let analyzer = Analyzer::default();
    for m in &ham {
        counts.learn(&analyzer.tokens(m), false);
    }
    for m in &spam {
        counts.learn(&analyzer.tokens(m), true);
    }
    counts.prune(2);
    let sender = Sender::default();
    let started = Instant::now();
    let mut scored = 0usize;
    let mut total = 0.0;
    while started.elapsed().as_secs_f64() < seconds {
        for m in &sample {
            total += analyzer.score(m, &sender, &counts).total;
            scored += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sizes: Vec<usize> = sample.iter().map(|m| m.len()).collect();
    println!(
        "median size {median} bytes (sample {}..{} bytes): {scored} messages in {elapsed:.2}s on one thread = {:.0} messages/s (checksum {total:.0})",
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
        scored as f64 / elapsed
    );
    Ok(())
}
