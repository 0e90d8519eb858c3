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

/// The longest word of [`DISGUISED`], in bytes (all of them are ASCII).
const LONGEST_DISGUISED: usize = 11;

/// A word of [`DISGUISED`] written with look-alike characters or spelled out.
///
/// The words of [`DISGUISED`] are ASCII, so only a candidate of 4 to
/// [`LONGEST_DISGUISED`] ASCII bytes can be one, and for ASCII a byte count is a char
/// count; ASCII words take byte-wise paths with buffers reused across words, others the
/// general Unicode one (`K`, the Kelvin sign, lowercases to an ASCII `k`).
pub fn has_disguised_word(text: &str) -> bool {
    let mut spelled = String::new();
    let mut last_single = false;
    let mut letters = String::new();
    for raw in crate::spaces::words(text) {
        // Spelled out with spaces: single letters in a row.
        let mut chars = raw.chars();
        let single = match (chars.next(), chars.next()) {
            (Some(c), None) => c.is_alphabetic(),
            _ => false,
        };
        if single {
            if !last_single {
                spelled.clear();
            }
            // Past the longest word no run of letters can match again until it restarts.
            if spelled.len() <= LONGEST_DISGUISED {
                spelled.extend(raw.chars().flat_map(char::to_lowercase));
                if spelled.len() >= 4 && is_disguised(&spelled) {
                    return true;
                }
            }
        }
        last_single = single;
        let word = raw.trim_matches(|c: char| c.is_ascii_punctuation() && !matches!(c, '$' | '@' | '!' | '|'));
        if word.len() < 4 || word.len() > 40 {
            continue;
        }
        if !word.is_ascii() {
            if disguised_unicode(word) {
                return true;
            }
            continue;
        }
        let bytes = word.as_bytes();
        // Spelled out with separators: v-i-a-g-r-a, v.i.a.g.r.a.
        let letter_count = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if (4..=LONGEST_DISGUISED).contains(&letter_count) {
            let separators = bytes.iter().filter(|b| !b.is_ascii_alphanumeric()).count();
            if separators + 1 >= letter_count {
                letters.clear();
                letters.extend(
                    bytes.iter().filter(|b| b.is_ascii_alphabetic()).map(|b| char::from(b.to_ascii_lowercase())),
                );
                if is_disguised(&letters) {
                    return true;
                }
            }
        }
        // Look-alike characters: v1agra, c!alis, $ex (one byte for one byte).
        if word.len() <= LONGEST_DISGUISED
            && letter_count > 0
            && bytes.iter().any(|b| matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$' | b'!' | b'|'))
        {
            letters.clear();
            letters.extend(bytes.iter().map(|&b| char::from(undo_lookalike(b))));
            if is_disguised(&letters) {
                return true;
            }
        }
    }
    false
}

fn is_disguised(word: &str) -> bool {
    DISGUISED.contains(&word)
}

fn undo_lookalike(b: u8) -> u8 {
    match b {
        b'0' => b'o',
        b'1' | b'!' | b'|' => b'i',
        b'3' => b'e',
        b'4' | b'@' => b'a',
        b'5' | b'$' => b's',
        b'7' => b't',
        b => b.to_ascii_lowercase(),
    }
}

/// The separator test of [`has_disguised_word`] for a word with non-ASCII characters (a
/// look-alike word keeps its non-ASCII characters and so is never a word of [`DISGUISED`]).
fn disguised_unicode(word: &str) -> bool {
    let letters: String = word.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect();
    let letter_chars = letters.chars().count();
    let separated = word.chars().filter(|c| !c.is_alphanumeric()).count() + 1 >= letter_chars && letter_chars >= 4;
    separated && is_disguised(&letters)
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

    /// `has_disguised_word` as it was before its ASCII fast paths: the reference.
    fn reference_has_disguised_word(text: &str) -> bool {
        let mut spelled = String::new();
        let mut last_single = false;
        for raw in text.split_whitespace() {
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
            let letters: String = word.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect();
            let separated = word.chars().filter(|c| !c.is_alphanumeric()).count() + 1 >= letters.chars().count()
                && letters.chars().count() >= 4;
            if separated && DISGUISED.contains(&letters.as_str()) {
                return true;
            }
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

    #[test]
    fn disguised_words_match_the_reference() {
        let mut rng = crate::random_text::Rng::new(0x5EED_0002);
        let (mut found, mut checked) = (0, 0);
        for round in 0..20_000 {
            let length = if round % 100 == 0 { 300 } else { rng.below(8) + 1 };
            let text = crate::random_text::text(&mut rng, length);
            let old = reference_has_disguised_word(&text);
            assert_eq!(has_disguised_word(&text), old, "{text:?}");
            found += usize::from(old);
            checked += 1;
        }
        // Both answers are exercised.
        assert!(found > checked / 20 && found < checked - checked / 20, "{found} of {checked}");
        // Every disguise of every word, in both cases, and spelled out past the longest word.
        for word in DISGUISED {
            let disguises = [
                word.to_string(),
                word.to_uppercase(),
                word.chars().map(String::from).collect::<Vec<_>>().join(" "),
                word.chars().map(String::from).collect::<Vec<_>>().join("-"),
                word.chars().map(String::from).collect::<Vec<_>>().join("."),
                format!("x {} y", word.chars().map(String::from).collect::<Vec<_>>().join(" ")),
                format!("q r s t u v w x y z {}", word.chars().map(String::from).collect::<Vec<_>>().join(" ")),
                word.replace('a', "4").replace('i', "1").replace('o', "0").replace('s', "$"),
                word.replace('e', "3").replace('t', "7").replace('i', "|").replace('a', "@"),
                word.replace('k', "\u{212A}").replace('i', "!"),
                word.replace('k', "\u{212A}").chars().map(String::from).collect::<Vec<_>>().join("-"),
                format!("é-{}", word.chars().map(String::from).collect::<Vec<_>>().join("-")),
                format!("({word}!)"),
            ];
            for text in disguises {
                assert_eq!(has_disguised_word(&text), reference_has_disguised_word(&text), "{text:?}");
            }
        }
    }
}
