//! The classifier's features: the tokens of a message, hashed.
//!
//! In: a [`MessageView`]. Out: the distinct 32-bit hashes of its tokens, at most
//! [`MOST_TOKENS`]: words of the subject (`s:`) and of the text (plain, visible HTML and,
//! marked `h:`, hidden HTML), the hosts of links (`u:`), the declared charsets, the mailer,
//! the kinds of parts and attachments. Trace headers (Received, Return-Path, list headers)
//! are left out on purpose: they say where a message travelled, not what it is, and would
//! teach the model the corpus' mail servers instead of spam.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use crate::view::MessageView;

/// A map keyed by token hashes. Hashed with a per-process random seed (`foldhash`), as
/// the standard library's default does, for the same reason (an attacker who knows the
/// function could make every token of a message fall in one bucket), at a fraction of
/// SipHash's cost for a 32-bit key: every word of a scanned text is looked up.
pub type TokenMap<V> = HashMap<u32, V, foldhash::fast::RandomState>;
/// The same as a set.
pub type TokenSet = HashSet<u32, foldhash::fast::RandomState>;

/// Distinct tokens taken from one message.
pub const MOST_TOKENS: usize = 4000;
const SHORTEST_WORD: usize = 3;
const LONGEST_WORD: usize = 20;
const BIGRAMS: bool = true;

/// The distinct token hashes of `view`, in the order first seen.
pub fn tokens(view: &MessageView) -> Vec<u32> {
    let mut out =
        Tokens { seen: TokenSet::with_capacity_and_hasher(512, Default::default()), list: Vec::with_capacity(512) };
    words(&mut out, "s:", &view.subject);
    words(&mut out, "", &view.text);
    words(&mut out, "", &view.html_text);
    if let Some(from) = &view.from {
        words(&mut out, "fn:", &from.name);
    }
    for link in &view.links {
        if let Some(host) = crate::links::host(&link.href) {
            out.add(&["u:", &host]);
            for label in host.split('.') {
                out.add(&["ul:", label]);
            }
            let path = link.href.splitn(4, '/').nth(3).unwrap_or("");
            for piece in path.split(|c: char| !c.is_alphanumeric()).filter(|p| p.len() >= 3 && p.len() <= 20).take(8) {
                out.add(&["up:", &piece.to_ascii_lowercase()]);
            }
        }
    }
    for charset in &view.charsets {
        out.add(&["cs:", charset]);
    }
    if !view.mailer.is_empty() {
        out.add(&["xm:", &view.mailer]);
    }
    for attachment in &view.attachments {
        out.add(&["att:", attachment.split(' ').next().unwrap_or("")]);
    }
    let shape = match (view.has_plain, view.has_html) {
        (true, true) => "alternative",
        (false, true) => "html-only",
        (true, false) => "plain-only",
        (false, false) => "no-text",
    };
    out.add(&["shape:", shape]);
    if view.images > 0 {
        out.add(&["img:", if view.images > 3 { "many" } else { "some" }]);
    }
    if view.hidden_chars > 0 {
        out.add(&["hidden:", "yes"]);
    }
    out.list
}

struct Tokens {
    seen: TokenSet,
    list: Vec<u32>,
}

impl Tokens {
    fn add(&mut self, pieces: &[&str]) {
        if self.list.len() >= MOST_TOKENS {
            return;
        }
        let hash = hash(pieces);
        if self.seen.insert(hash) {
            self.list.push(hash);
        }
    }
}

fn words(out: &mut Tokens, prefix: &str, text: &str) {
    // Buffers reused for every word; ASCII words (most words of most mail) take the fast
    // paths: a byte length is a char count and ASCII lowercasing is the Unicode one.
    let mut previous = String::new();
    let mut lower = String::new();
    let mut number = String::new();
    for raw in crate::spaces::pieces(text) {
        if out.list.len() >= MOST_TOKENS {
            return;
        }
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '$');
        if word.is_empty() {
            continue;
        }
        let ascii = word.is_ascii();
        let chars = if ascii { word.len() } else { word.chars().count() };
        if chars > LONGEST_WORD {
            // A long word says little by itself; its start and length class do.
            if ascii {
                ascii_lower_into(&mut lower, &word[..4]);
            } else {
                lower = word.chars().take(4).collect::<String>().to_lowercase();
            }
            number.clear();
            // Writing to a String cannot fail.
            let _ = write!(number, "{}", chars / 10);
            out.add(&[prefix, "long:", &lower, &number]);
            continue;
        }
        if chars < SHORTEST_WORD {
            continue;
        }
        if ascii {
            ascii_lower_into(&mut lower, word);
        } else {
            lower = word.to_lowercase();
        }
        out.add(&[prefix, &lower]);
        if BIGRAMS && !previous.is_empty() {
            out.add(&[prefix, "2:", &previous, " ", &lower]);
        }
        // Shouting is a feature of its own.
        if chars >= 4 && shouted(word, ascii) {
            out.add(&[prefix, "caps:", &lower]);
        }
        // Pieces of punctuated words ("free!!!", "e-mail", "www.x.com").
        if lower.contains(['.', '-', '/', '!', '@', '_']) {
            for piece in lower.split(|c: char| !c.is_alphanumeric() && c != '$') {
                let piece_chars = if piece.is_ascii() { piece.len() } else { piece.chars().count() };
                if piece_chars >= SHORTEST_WORD {
                    out.add(&[prefix, piece]);
                }
            }
        }
        // `lower` becomes the previous word; the old previous is the next scratch buffer.
        std::mem::swap(&mut previous, &mut lower);
    }
}

/// `out` = `word` in ASCII lower case, reusing `out`'s allocation.
fn ascii_lower_into(out: &mut String, word: &str) {
    out.clear();
    out.push_str(word);
    out.make_ascii_lowercase();
}

/// No lower-case letter and at least one letter.
fn shouted(word: &str, ascii: bool) -> bool {
    if ascii {
        !word.bytes().any(|b| b.is_ascii_lowercase()) && word.bytes().any(|b| b.is_ascii_alphabetic())
    } else {
        word.chars().all(|c| !c.is_lowercase()) && word.chars().any(char::is_alphabetic)
    }
}

/// FNV-1a over the pieces, as one string.
pub fn hash(pieces: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for piece in pieces {
        for b in piece.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_prefixed() {
        let view = MessageView {
            subject: "Cheap pills".into(),
            text: "cheap CHEAP cheap offer www.pills.example".into(),
            has_plain: true,
            ..MessageView::default()
        };
        let t = tokens(&view);
        assert!(t.contains(&hash(&["s:", "cheap"])));
        assert!(t.contains(&hash(&["", "cheap"])));
        assert!(t.contains(&hash(&["", "caps:", "cheap"])));
        assert!(t.contains(&hash(&["", "pills"])));
        assert!(t.contains(&hash(&["shape:", "plain-only"])));
        let distinct: HashSet<_> = t.iter().collect();
        assert_eq!(distinct.len(), t.len());
    }

    /// `words` as it was before its ASCII fast paths and reused buffers: the reference.
    fn reference_words(out: &mut Tokens, prefix: &str, text: &str) {
        let mut previous = String::new();
        for raw in text.split(|c: char| c.is_whitespace()) {
            if out.list.len() >= MOST_TOKENS {
                return;
            }
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '$');
            if word.is_empty() {
                continue;
            }
            let chars = word.chars().count();
            if chars > LONGEST_WORD {
                let head: String = word.chars().take(4).collect::<String>().to_lowercase();
                out.add(&[prefix, "long:", &head, &(chars / 10).to_string()]);
                continue;
            }
            if chars < SHORTEST_WORD {
                continue;
            }
            let lower = word.to_lowercase();
            out.add(&[prefix, &lower]);
            if BIGRAMS && !previous.is_empty() {
                out.add(&[prefix, "2:", &previous, " ", &lower]);
            }
            previous.clone_from(&lower);
            if chars >= 4 && word.chars().all(|c| !c.is_lowercase()) && word.chars().any(char::is_alphabetic) {
                out.add(&[prefix, "caps:", &lower]);
            }
            if lower.contains(['.', '-', '/', '!', '@', '_']) {
                for piece in lower.split(|c: char| !c.is_alphanumeric() && c != '$') {
                    if piece.chars().count() >= SHORTEST_WORD {
                        out.add(&[prefix, piece]);
                    }
                }
            }
        }
    }

    fn fresh() -> Tokens {
        Tokens { seen: TokenSet::default(), list: Vec::new() }
    }

    #[test]
    fn words_match_the_reference() {
        let mut rng = crate::random_text::Rng::new(0x5EED_0001);
        // Short texts, long ones, and a few that reach MOST_TOKENS.
        for round in 0..3000 {
            let length = match round % 10 {
                9 if round % 300 == 9 => 6000,
                8 => 400,
                _ => rng.below(40),
            };
            let text = crate::random_text::text(&mut rng, length);
            for prefix in ["", "s:"] {
                let (mut new, mut old) = (fresh(), fresh());
                words(&mut new, prefix, &text);
                reference_words(&mut old, prefix, &text);
                assert_eq!(new.list, old.list, "{text:?}");
                assert_eq!(new.seen, old.seen);
            }
        }
    }

    #[test]
    fn words_match_the_reference_on_the_edge_cases() {
        let texts = [
            "",
            " ",
            "\u{85}\u{a0}",
            "XXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXX",
            "ÉXXXXXXXXXXXXXXXXXXXX ΣXXXXXXXXXXXXXXXXXXXXΣ İİİİİİİİİİİİİİİİİİİİİİ",
            "\u{212A}ELVIN kelvin \u{212A}\u{212A}\u{212A}\u{212A}",
            "ΟΔΟΣ οδος ΣΑΣ. FREE!!! free!!! e-mail E-MAIL www.X.com a-b-c ab-cd-éf ǅǅǅǅ",
            "$$$ $100 $ab 12345678901234567890123 ¹²³⁴",
        ];
        for text in texts {
            let (mut new, mut old) = (fresh(), fresh());
            words(&mut new, "", text);
            reference_words(&mut old, "", text);
            assert_eq!(new.list, old.list, "{text:?}");
        }
    }
}
