//! From a message to its score: the rules plus the classifier's points, and the name of
//! what decided.
//!
//! In: the message as received (or its parse, made once for the pipeline's content checks),
//! the [`Sender`] and the classifier counts in force. Out: a
//! [`Score`]: the total, the classifier's probability and every hit (the classifier's as a
//! `BAYES_*` band). The caller compares the total with the account's threshold.

use mail_parser::Message;

use crate::bayes::Counts;
use crate::phrases::Phrases;
use crate::rules::{self, Hit, Sender};
use crate::tokens;
use crate::view::{Bounds, MessageView};

/// The classifier's probability bands and their points (the probability is above the
/// bound, rule, points), as SpamAssassin's BAYES_* rules. Tuned by cross-validation
/// (docs/SCORING.md).
pub const BANDS: &[(f64, &str, f64)] = &[
    (0.99, "BAYES_99", 6.0),
    (0.90, "BAYES_90", 5.5),
    (0.80, "BAYES_80", 5.0),
    (0.50, "BAYES_50", UNSURE_POINTS),
    (0.35, "BAYES_35", 3.5),
    (0.20, "BAYES_20", -0.5),
    (0.05, "BAYES_05", -1.0),
    (0.0, "BAYES_00", -2.0),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub total: f64,
    pub probability: f64,
    /// How many tokens the probability rests on (the classifier's clues).
    pub clues: usize,
    /// The classifier's band first, then the rules that hit.
    pub hits: Vec<Hit>,
}

impl Score {
    /// What decided, for the verdict: the hits that added points, highest first, at most
    /// three, joined with `,` (e.g. `BAYES_99,URL_SHORTENER`).
    pub fn rule(&self) -> String {
        let mut positive: Vec<&Hit> = self.hits.iter().filter(|h| h.score > 0.0).collect();
        positive.sort_by(|a, b| b.score.total_cmp(&a.score));
        let names: Vec<&str> = positive.iter().take(3).map(|h| h.rule).collect();
        if names.is_empty() { "SCORER".to_string() } else { names.join(",") }
    }
}

/// Fewer clues than this and the classifier says nothing (`BAYES_FEW`, 0 points): a short
/// message with one or two known words is no evidence either way.
pub const FEWEST_CLUES: usize = 3;
/// The clues the classifier's spam points need in full. Below, they are weighed by the
/// evidence: `clues / FULL_SPAM_CLUES` of the band's points (3 clues, 60%; 4 clues, 80%),
/// so that no message resting on fewer clues is spam by the classifier alone: a short note
/// whose few words happen to be spammy stays below the threshold, and takes rules that
/// agree to become spam. Points for ham are given in full.
pub const FULL_SPAM_CLUES: usize = 5;
/// `BAYES_80` (0.8 to 0.9) gives its full points only on this many clues; on fewer it gives
/// `BAYES_50`'s 4.0: a short message of a few ordinary words (6 or 7 clues) lands anywhere
/// between 0.5 and 0.9, and is no evidence by itself.
pub const FIRM_CLUES: usize = 10;
/// The points of an unsure classifier (`BAYES_50`), below the default threshold.
pub const UNSURE_POINTS: f64 = 4.0;

/// The classifier's band for a probability resting on `clues` tokens.
pub fn band(probability: f64, clues: usize) -> Hit {
    if clues < FEWEST_CLUES {
        return Hit { rule: "BAYES_FEW", score: 0.0 };
    }
    let (_, rule, score) =
        BANDS.iter().find(|(low, _, _)| probability > *low).copied().unwrap_or(BANDS[BANDS.len() - 1]);
    if score > 0.0 && clues < FULL_SPAM_CLUES {
        return Hit { rule, score: score * clues as f64 / FULL_SPAM_CLUES as f64 };
    }
    if rule == "BAYES_80" && clues < FIRM_CLUES {
        return Hit { rule, score: UNSURE_POINTS };
    }
    Hit { rule, score }
}

/// What scores messages: the phrase matcher and the bounds. The counts come with each call
/// so that the caller decides which model is in force.
#[derive(Default)]
pub struct Analyzer {
    phrases: Phrases,
    bounds: Bounds,
}

impl Analyzer {
    pub fn new(bounds: Bounds) -> Analyzer {
        Analyzer { phrases: Phrases::new(), bounds }
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The view of a message with the phrase analysis done.
    pub fn view(&self, message: &[u8]) -> MessageView {
        self.annotated(MessageView::parse_bounded(message, self.bounds))
    }

    /// The same of a message parsed whole by someone else (`None`: it did not parse), no
    /// longer than [`Bounds::message_bytes`] (a longer one is for [`Analyzer::view`]).
    pub fn view_parsed(&self, parsed: Option<&Message<'_>>) -> MessageView {
        self.annotated(MessageView::from_parsed(parsed, self.bounds))
    }

    fn annotated(&self, mut view: MessageView) -> MessageView {
        self.phrases.annotate(&mut view);
        view
    }

    /// The classifier's tokens of a message.
    pub fn tokens(&self, message: &[u8]) -> Vec<u32> {
        tokens::tokens(&self.view(message))
    }

    pub fn score(&self, message: &[u8], sender: &Sender, counts: &Counts) -> Score {
        self.score_view(&self.view(message), sender, counts)
    }

    /// The score of a message parsed whole by someone else (the pipeline's shared parse;
    /// `None`: it did not parse), no longer than [`Bounds::message_bytes`]: the same as
    /// [`Analyzer::score`] of its bytes.
    pub fn score_parsed(&self, parsed: Option<&Message<'_>>, sender: &Sender, counts: &Counts) -> Score {
        self.score_view(&self.view_parsed(parsed), sender, counts)
    }

    fn score_view(&self, view: &MessageView, sender: &Sender, counts: &Counts) -> Score {
        let (probability, clues) = counts.classify(&tokens::tokens(view));
        let mut hits = vec![band(probability, clues)];
        hits.extend(rules::hits(view, sender));
        let total = hits.iter().map(|h| h.score).sum();
        Score { total, probability, clues, hits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_zero_to_one() {
        assert_eq!(band(1.0, 20).rule, "BAYES_99");
        assert_eq!(band(0.95, 20).rule, "BAYES_90");
        assert_eq!(band(0.51, 20).rule, "BAYES_50");
        assert_eq!(band(0.5, 20).rule, "BAYES_35", "0.5 is no evidence for spam");
        assert_eq!(band(0.0, 20).rule, "BAYES_00");
        assert_eq!(band(f64::NAN, 20).rule, "BAYES_00");
        assert_eq!(band(1.0, FEWEST_CLUES - 1), Hit { rule: "BAYES_FEW", score: 0.0 });
        assert_eq!(band(0.0, FULL_SPAM_CLUES - 1), Hit { rule: "BAYES_00", score: -2.0 }, "ham points in full");
    }

    #[test]
    fn an_unsure_classifier_never_reaches_the_threshold_alone() {
        // Robinson/Fisher probabilities between 0.5 and 0.8 are "unsure" (SpamBayes'
        // middle ground): however many clues, they take a rule that agrees to make spam.
        for probability in [0.51, 0.6, 0.7, 0.8] {
            assert!(band(probability, 300).score < 5.0, "{probability}");
        }
        assert_eq!(band(0.81, 300).rule, "BAYES_80");
        assert!(band(0.81, FIRM_CLUES).score >= 5.0);
        // A short message's few ordinary words: 0.8 to 0.9 on fewer clues is still unsure.
        for clues in FULL_SPAM_CLUES..FIRM_CLUES {
            assert!(band(0.89, clues).score < 5.0, "{clues}");
        }
    }

    #[test]
    fn spam_points_on_few_clues_never_reach_the_threshold_alone() {
        for clues in FEWEST_CLUES..FULL_SPAM_CLUES {
            for probability in [0.36, 0.51, 0.91, 0.995, 1.0] {
                let hit = band(probability, clues);
                assert!(hit.score > 0.0 && hit.score < 5.0, "{clues} clues at {probability}: {hit:?}");
            }
        }
        for (clues, points) in [(3, 3.6), (4, 4.8), (FULL_SPAM_CLUES, 6.0), (300, 6.0)] {
            let hit = band(1.0, clues);
            assert_eq!(hit.rule, "BAYES_99");
            assert!((hit.score - points).abs() < 1e-9, "{clues} clues: {hit:?}");
        }
    }

    #[test]
    fn the_rule_names_the_biggest_contributions() {
        let score = Score {
            total: 8.5,
            probability: 0.995,
            clues: 20,
            hits: vec![
                Hit { rule: "BAYES_99", score: 5.0 },
                Hit { rule: "HTML_ONLY", score: 0.5 },
                Hit { rule: "URL_SHORTENER", score: 1.5 },
                Hit { rule: "HTML_HIDDEN_TEXT", score: 2.0 },
            ],
        };
        assert_eq!(score.rule(), "BAYES_99,HTML_HIDDEN_TEXT,URL_SHORTENER");
        let none =
            Score { total: -2.0, probability: 0.0, clues: 20, hits: vec![Hit { rule: "BAYES_00", score: -2.0 }] };
        assert_eq!(none.rule(), "SCORER");
    }

    #[test]
    fn a_message_is_scored_end_to_end() {
        let analyzer = Analyzer::default();
        let message = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: FREE MONEY NOW!!\r\n\
            Content-Type: text/html\r\n\r\n<p>Click here to get <a href=\"https://bit.ly/x\">paid</a></p>";
        let score = analyzer.score(message, &Sender::default(), &Counts::default());
        let names: Vec<_> = score.hits.iter().map(|h| h.rule).collect();
        assert_eq!(
            names,
            ["BAYES_FEW", "HTML_ONLY", "URL_SHORTENER", "SPAM_PHRASES_1", "SUBJECT_ALL_CAPS", "SUBJECT_MONEY_PUNCT"]
        );
        assert!((score.total - (1.5 + 1.5 + 0.5 + 0.8 + 0.8)).abs() < 1e-9);
    }
}
