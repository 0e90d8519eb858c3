//! Known spam phrases and disguised spam words.
//!
//! In: a [`MessageView`]. Out: the view's `spam_phrases` (how many distinct phrases of
//! [`PHRASES`] appear, case-insensitively, in the subject and text) and `obfuscated` (a
//! word of [`DISGUISED`] written with digits or symbols for letters, `v1agra`, `c!alis`,
//! or spelled out with separators, `v-i-a-g-r-a`, `v i a g r a`). One automaton pass and
//! one word pass over the text the view already bounds.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::view::MessageView;

pub const PHRASES: &[&str] = &[
    "click here",
    "act now",
    "limited time",
    "100% free",
    "risk free",
    "risk-free",
    "money back guarantee",
    "no obligation",
    "you have been selected",
    "dear friend",
    "this is not spam",
    "not a spam",
    "to be removed",
    "remove you from",
    "removal instructions",
    "earn money",
    "make money",
    "work from home",
    "extra income",
    "million dollars",
    "wire transfer",
    "verify your account",
    "account has been suspended",
    "confirm your identity",
    "click below",
    "order now",
    "special promotion",
    "once in a lifetime",
    "no credit check",
    "lowest price",
    "best price",
    "cash bonus",
    "double your",
    "free gift",
    "free trial",
    "guaranteed",
    "incredible deal",
    "lose weight",
    "meet singles",
    "no hidden",
    "offer expires",
    "opt in",
    "pre-approved",
    "satisfaction guaranteed",
    "this is not a scam",
    "urgent response",
    "winner",
    "you are a winner",
    "bulk email",
    "mass email",
    "increase sales",
    "online pharmacy",
    "debt free",
    "consolidate debt",
    "refinance",
    "unsubscribe",
];

/// Words spammers disguise; compared after undoing the disguise.
pub const DISGUISED: &[&str] = &[
    "viagra",
    "cialis",
    "levitra",
    "xanax",
    "valium",
    "pharmacy",
    "casino",
    "lottery",
    "mortgage",
    "bitcoin",
    "crypto",
    "investment",
    "refinance",
    "penis",
    "enlarge",
    "enlargement",
    "porn",
    "sex",
    "pills",
    "credit",
    "password",
    "account",
    "bank",
    "paypal",
    "winner",
    "prize",
    "free",
    "money",
    "cash",
    "loan",
    "rolex",
];

pub struct Phrases {
    automaton: Option<AhoCorasick>,
}

impl Default for Phrases {
    fn default() -> Phrases {
        Phrases::new()
    }
}

impl Phrases {
    pub fn new() -> Phrases {
        let automaton =
            AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(PHRASES).ok();
        Phrases { automaton }
    }

    /// Fills `spam_phrases` and `obfuscated`.
    pub fn annotate(&self, view: &mut MessageView) {
        let mut seen = [false; PHRASES.len()];
        if let Some(automaton) = &self.automaton {
            for text in view.all_text() {
                for m in automaton.find_overlapping_iter(text) {
                    seen[m.pattern().as_usize()] = true;
                }
            }
        }
        view.spam_phrases = seen.iter().filter(|s| **s).count();
        let obfuscated = view.all_text().any(has_disguised_word);
        view.obfuscated = obfuscated;
    }
}

/// A word of [`DISGUISED`] written with look-alike characters or spelled out.
pub fn has_disguised_word(text: &str) -> bool {
    let mut spelled = String::new();
    let mut last_single = false;
    for raw in text.split_whitespace() {
        // Spelled out with spaces: single letters in a row.
        let single = raw.chars().count() == 1 && raw.chars().all(char::is_alphabetic);
        if single {
            if !last_single {
                spelled.clear();
            }
            spelled.extend(raw.chars().flat_map(char::to_lowercase));
            if spelled.chars().count() >= 4 && DISGUISED.contains(&spelled.as_str()) {
                return true;
            }
        }
        last_single = single;
        let word = raw.trim_matches(|c: char| c.is_ascii_punctuation() && !matches!(c, '$' | '@' | '!' | '|'));
        if word.len() < 4 || word.len() > 40 {
            continue;
        }
        // Spelled out with separators: v-i-a-g-r-a, v.i.a.g.r.a.
        let letters: String = word.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect();
        let separated = word.chars().filter(|c| !c.is_alphanumeric()).count() + 1 >= letters.chars().count()
            && letters.chars().count() >= 4;
        if separated && DISGUISED.contains(&letters.as_str()) {
            return true;
        }
        // Look-alike characters: v1agra, c!alis, $ex.
        let has_letter = word.chars().any(|c| c.is_alphabetic());
        let has_lookalike =
            word.chars().any(|c| matches!(c, '0' | '1' | '3' | '4' | '5' | '7' | '@' | '$' | '!' | '|'));
        if has_letter && has_lookalike {
            let undone: String = word
                .chars()
                .map(|c| match c {
                    '0' => 'o',
                    '1' | '!' | '|' => 'i',
                    '3' => 'e',
                    '4' | '@' => 'a',
                    '5' | '$' => 's',
                    '7' => 't',
                    c => c.to_ascii_lowercase(),
                })
                .collect();
            if DISGUISED.contains(&undone.as_str()) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_counted_once_each() {
        let mut view = MessageView {
            subject: "ACT NOW".into(),
            text: "Click here, click HERE and act now. Limited time!".into(),
            ..MessageView::default()
        };
        Phrases::new().annotate(&mut view);
        assert_eq!(view.spam_phrases, 3);
        assert!(!view.obfuscated);
    }

    #[test]
    fn disguised_words() {
        for text in ["buy V1AGRA today", "c!al!s here", "v-i-a-g-r-a", "v i a g r a cheap", "win $$ at the c4s1n0"] {
            assert!(has_disguised_word(text), "{text}");
        }
        for text in ["viagra", "the bank account", "in 2004 we met", "a b c d", "pills-free", "e-mail me"] {
            assert!(!has_disguised_word(text), "{text}");
        }
    }
}
