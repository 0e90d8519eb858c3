//! The installation's samples: stored once, in force only from the minimum, and then
//! moving the verdict.

use std::sync::Arc;

use postern_core::{Label, Trainer};
use postern_scorer::bayes::Counts;
use postern_scorer::rules::Sender;
use postern_scorer::{Analyzer, Models, ScorerTrainer, TrainingMinimum};
use postern_store::{ScorerStore, SqliteStore};

fn message(i: usize, words: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: note {i}\r\n\r\n{words} number{i}\r\n").into_bytes()
}

#[tokio::test]
async fn samples_take_part_from_the_minimum_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ScorerStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store"));
    let analyzer = Arc::new(Analyzer::default());
    let minimum = TrainingMinimum { ham: 3, spam: 3 };
    // An empty shipped model: only the installation's samples can decide.
    let models = Arc::new(Models::with_model(Counts::default(), minimum));
    let trainer = ScorerTrainer::open(Arc::clone(&analyzer), Arc::clone(&models), Arc::clone(&store)).expect("open");
    let spam_words = "zorblax quintuple vexatious frobnicate widgetry hyperflux";
    let ham_words = "quarterly budget meeting agenda review minutes";
    for i in 0..3 {
        trainer.learn(&message(i, ham_words), Label::Ham, "test").await.expect("ham");
    }
    for i in 0..2 {
        trainer.learn(&message(100 + i, spam_words), Label::Spam, "test").await.expect("spam");
    }
    // The same message again changes nothing.
    trainer.learn(&message(100, spam_words), Label::Spam, "test").await.expect("again");
    assert_eq!(models.installation_samples(), (3, 2));
    assert!(!models.installation_in_force());
    let probe = message(999, spam_words);
    let before = analyzer.score(&probe, &Sender::default(), &models.counts());
    assert_eq!(before.hits[0].rule, "BAYES_FEW", "below the minimum nothing is learned yet");
    trainer.learn(&message(102, spam_words), Label::Spam, "test").await.expect("spam");
    assert!(models.installation_in_force());
    let after = analyzer.score(&probe, &Sender::default(), &models.counts());
    assert_eq!(after.hits[0].rule, "BAYES_99");
    assert!(after.total >= 5.0);
    // A restart loads the stored samples.
    let models2 = Arc::new(Models::with_model(Counts::default(), minimum));
    let _trainer2 = ScorerTrainer::open(analyzer, Arc::clone(&models2), store).expect("reopen");
    assert_eq!(models2.installation_samples(), (3, 3));
    assert!(models2.installation_in_force());
}

#[tokio::test]
async fn relabelling_moves_a_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ScorerStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store"));
    let models = Arc::new(Models::with_model(Counts::default(), TrainingMinimum::default()));
    let trainer = ScorerTrainer::open(Arc::new(Analyzer::default()), Arc::clone(&models), store).expect("open");
    let m = message(1, "hello there friend");
    trainer.learn(&m, Label::Spam, "quarantine confirm").await.expect("spam");
    trainer.learn(&m, Label::Ham, "quarantine release").await.expect("ham");
    assert_eq!(models.installation_samples(), (1, 0));
}

#[test]
fn a_training_file_is_learned_whole_and_tallied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ScorerStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store"));
    let models = Arc::new(Models::with_model(Counts::default(), TrainingMinimum { ham: 1, spam: 2 }));
    let trainer = ScorerTrainer::open(Arc::new(Analyzer::default()), Arc::clone(&models), store).expect("open");
    let mbox = [message(1, "a b c"), message(2, "d e f"), message(3, "g h i")]
        .iter()
        .map(|m| format!("From someone Sat Jan  3 01:05:34 1996\n{}", String::from_utf8_lossy(m)))
        .collect::<String>();
    let messages = postern_scorer::mbox::split(mbox.as_bytes()).expect("split");
    assert_eq!(messages.len(), 3);
    let tally = trainer.learn_messages(&messages, Label::Spam, "test").expect("learn");
    assert_eq!(tally, postern_scorer::Tally { learned: 3, relabelled: 0, known: 0 });
    let again = trainer.learn_messages(&messages[..2], Label::Spam, "test").expect("again");
    assert_eq!(again, postern_scorer::Tally { learned: 0, relabelled: 0, known: 2 });
    let totals = trainer.totals();
    assert_eq!((totals.ham, totals.spam, totals.in_force), (0, 3, false));
    let moved = trainer.learn_messages(&messages[..1], Label::Ham, "test").expect("relabel");
    assert_eq!(moved, postern_scorer::Tally { learned: 1, relabelled: 1, known: 0 });
    let totals = trainer.totals();
    assert_eq!((totals.ham, totals.spam, totals.in_force), (1, 2, true));
    assert_eq!(totals.minimum, TrainingMinimum { ham: 1, spam: 2 });
}

/// Two nodes share one store: what one learns, the other takes in at its next refresh
/// (and a refresh with nothing new reads nothing).
#[tokio::test]
async fn a_refresh_takes_in_what_another_node_learned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ScorerStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store"));
    let analyzer = Arc::new(Analyzer::default());
    let minimum = TrainingMinimum { ham: 1, spam: 1 };
    let node = || {
        let models = Arc::new(Models::with_model(Counts::default(), minimum));
        let trainer = ScorerTrainer::open(Arc::clone(&analyzer), Arc::clone(&models), Arc::clone(&store));
        (trainer.expect("open"), models)
    };
    let ((one, _), (other, other_models)) = (node(), node());
    assert!(!other.refresh(false).expect("refresh"), "nothing new: nothing read");
    one.learn(&message(1, "quarterly budget meeting"), Label::Ham, "test").await.expect("ham");
    one.learn(&message(2, "zorblax frobnicate widgetry"), Label::Spam, "test").await.expect("spam");
    assert_eq!(other_models.installation_samples(), (0, 0), "not yet");
    assert!(other.refresh(false).expect("refresh"));
    assert_eq!(other_models.installation_samples(), (1, 1));
    assert!(other_models.installation_in_force());
    assert!(!other.refresh(false).expect("refresh"), "taken in once");
    assert!(other.refresh(true).expect("refresh"), "a forced refresh reads again");
}
