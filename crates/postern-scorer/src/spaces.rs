//! Text cut at Unicode whitespace, fast on ASCII.
//!
//! In: a `&str`. Out: the same pieces, in the same order, as
//! `text.split(char::is_whitespace)` (empty pieces included), found by looking at bytes: an
//! ASCII byte is whitespace or not by a table, and a character is decoded only where its
//! first byte can start a non-ASCII whitespace character (U+0085, U+00A0, U+1680, U+2000
//! to U+200A, U+2028, U+2029, U+202F, U+205F, U+3000: first bytes C2, E1, E2, E3). The
//! scorer's word passes read every byte of up to a bounded text through this.

/// What a byte is to the scan.
const PLAIN: u8 = 0;
const ASCII_SPACE: u8 = 1;
const MAYBE_SPACE: u8 = 2;

const CLASSES: [u8; 256] = {
    let mut classes = [PLAIN; 256];
    // char::is_whitespace of ASCII: tab, line feed, vertical tab, form feed, carriage
    // return, space.
    let ascii = [b'\t', b'\n', 0x0B, 0x0C, b'\r', b' '];
    let mut i = 0;
    while i < ascii.len() {
        classes[ascii[i] as usize] = ASCII_SPACE;
        i += 1;
    }
    classes[0xC2] = MAYBE_SPACE;
    classes[0xE1] = MAYBE_SPACE;
    classes[0xE2] = MAYBE_SPACE;
    classes[0xE3] = MAYBE_SPACE;
    classes
};

/// The pieces of `text` between whitespace characters: `text.split(char::is_whitespace)`.
pub fn pieces(text: &str) -> Pieces<'_> {
    Pieces { text, start: 0, finished: false }
}

/// The non-empty pieces: `text.split_whitespace()`.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    pieces(text).filter(|p| !p.is_empty())
}

pub struct Pieces<'a> {
    text: &'a str,
    start: usize,
    finished: bool,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.finished {
            return None;
        }
        let bytes = self.text.as_bytes();
        let mut at = self.start;
        while let Some(rest) = bytes.get(at..) {
            let Some(offset) = rest.iter().position(|&b| CLASSES[usize::from(b)] != PLAIN) else {
                break;
            };
            at += offset;
            let width = if rest[offset] < 0x80 {
                1
            } else {
                // A first byte of a character (continuation bytes are 80 to BF): decoded.
                match self.text.get(at..).and_then(|rest| rest.chars().next()) {
                    Some(c) if c.is_whitespace() => c.len_utf8(),
                    _ => 0,
                }
            };
            if width > 0 {
                let piece = self.text.get(self.start..at).unwrap_or_default();
                self.start = at + width;
                return Some(piece);
            }
            at += 1;
        }
        self.finished = true;
        Some(self.text.get(self.start..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whitespace_character_starts_with_a_byte_the_scan_looks_at() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let first = c.encode_utf8(&mut buf).as_bytes()[0];
            let class = CLASSES[usize::from(first)];
            if c.is_whitespace() {
                assert_ne!(class, PLAIN, "{c:?}");
            }
            if c.is_ascii() {
                assert_eq!(class == ASCII_SPACE, c.is_whitespace(), "{c:?}");
            }
        }
    }

    #[test]
    fn the_pieces_are_those_of_split() {
        let edge = [
            "",
            " ",
            "  ",
            "a",
            " a ",
            "a\u{b}b\u{c}c\r\nd",
            "\u{85}\u{a0}x\u{1680}\u{2000}\u{200a}\u{200b}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}\u{3001}",
            "ÂéⅫ€ x \u{e000}",
        ];
        for text in edge {
            assert_eq!(
                pieces(text).collect::<Vec<_>>(),
                text.split(char::is_whitespace).collect::<Vec<_>>(),
                "{text:?}"
            );
            assert_eq!(words(text).collect::<Vec<_>>(), text.split_whitespace().collect::<Vec<_>>(), "{text:?}");
        }
        let mut rng = crate::random_text::Rng::new(0x5EED_0003);
        for round in 0..3000 {
            let length = if round % 100 == 0 { 3000 } else { rng.below(60) };
            let text = crate::random_text::text(&mut rng, length);
            assert_eq!(pieces(&text).collect::<Vec<_>>(), text.split(char::is_whitespace).collect::<Vec<_>>());
            assert_eq!(words(&text).collect::<Vec<_>>(), text.split_whitespace().collect::<Vec<_>>());
        }
    }
}
