//! [`ScorerStore`]: a sample counts once, moves when relabelled, and two writers (two
//! nodes) learning at once lose no count.

use std::sync::Arc;

use crate::scorer::{Learned, ScorerCounts, ScorerStore};

fn counts(store: &dyn ScorerStore) -> ScorerCounts {
    let mut c = store.scorer_counts().expect("counts");
    c.tokens.sort_unstable();
    c
}

pub fn samples_count_once_and_move_when_relabelled(store: &dyn ScorerStore) {
    assert_eq!(store.scorer_counts().expect("counts"), ScorerCounts::default(), "a new store has none");
    assert_eq!(store.scorer_totals().expect("totals"), (0, 0));
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert_eq!(store.learn_sample(&a, true, &[10, 20], "api").expect("learn"), Learned::New);
    assert_eq!(store.learn_sample(&a, true, &[10, 20], "api").expect("learn"), Learned::Known);
    assert_eq!(store.learn_sample(&b, false, &[20, u32::MAX], "api").expect("learn"), Learned::New);
    let c = counts(store);
    assert_eq!((c.ham, c.spam), (1, 1));
    assert_eq!(c.tokens, vec![(10, 0, 1), (20, 1, 1), (u32::MAX, 1, 0)], "token hashes keep all 32 bits");
    assert_eq!(store.learn_sample(&a, false, &[10, 20], "quarantine release").expect("learn"), Learned::Relabelled);
    let c = counts(store);
    assert_eq!((c.ham, c.spam), (2, 0));
    assert_eq!(c.tokens, vec![(10, 1, 0), (20, 2, 0), (u32::MAX, 1, 0)], "the old label's counts taken back");
    assert_eq!(store.scorer_totals().expect("totals"), (2, 0));
}

/// Writers learning different and identical samples at once: every new sample counted
/// once, none twice.
pub fn concurrent_learning_loses_and_doubles_nothing(make: &dyn Fn() -> Arc<dyn ScorerStore>) {
    let writers: Vec<Arc<dyn ScorerStore>> = (0..4).map(|_| make()).collect();
    let threads: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(w, store)| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for i in 0..20u8 {
                    // Samples 0..10 are learned by every writer; the rest by this one only.
                    let digest = if i < 10 { [i; 32] } else { [100 + w as u8 * 20 + i; 32] };
                    store.learn_sample(&digest, true, &[1, 2, 3, u32::from(i) + 10], "race").expect("learn");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a writer");
    }
    let c = counts(writers[0].as_ref());
    assert_eq!((c.ham, c.spam), (0, 10 + 4 * 10), "10 shared samples once, 10 own per writer");
    assert_eq!(c.tokens.iter().find(|t| t.0 == 1), Some(&(1, 0, 50)), "a token in every sample, counted 50 times");
}
