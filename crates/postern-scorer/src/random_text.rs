//! Test-only: reproducible random texts for the tests that compare an optimised function
//! with the reference it replaced (mixed ASCII and Unicode, punctuation, every kind of
//! whitespace, long words, spam phrases and disguised words).

/// A xorshift generator: the same seed gives the same texts on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const LETTERS: &[&str] = &[
    "a", "b", "c", "e", "i", "o", "s", "x", "z", "A", "E", "I", "O", "S", "V", "X", "é", "É", "ß", "Σ", "σ", "ς", "İ",
    "ı", "\u{212A}", "ǅ", "ж", "Ж", "中", "ﬁ", "0", "1", "3", "4", "5", "7", "9", "$", "@", "!", "|", "-", ".", "/",
    "_", "'", ",", ";", "(", ")", "\"", "%", "€", "😀", "\u{301}",
];
const WHITESPACE: &[&str] = &[
    " ", " ", " ", "  ", "\t", "\n", "\r\n", "\u{b}", "\u{c}", "\u{a0}", "\u{2003}", "\u{85}", "\u{3000}", "\u{1680}",
    "\u{2028}", "\u{205f}",
];
const WORDS: &[&str] = &[
    "the",
    "and",
    "meeting",
    "Report",
    "QUARTER",
    "free",
    "FREE!!!",
    "e-mail",
    "www.example.com",
    "http://x.example/a-b",
    "click here",
    "act now",
    "Limited Time",
    "100% free",
    "risk-free",
    "v i a g r a",
    "V I A G R A",
    "v-i-a-g-r-a",
    "v.i.a.g.r.a",
    "c!al!s",
    "V1AGRA",
    "c4s1n0",
    "$ex",
    "p.o.r.n",
    "b a n k",
    "BAN\u{212A}",
    "ba\u{212A}n",
    "b-a-n-\u{212A}",
    "\u{212A}.é.y",
    "é-x-a-n-a-x",
    "m-o-n-e-y",
    "l0an",
    "r0lex",
    "fr33",
    "ca$h",
    "e n l a r g e m e n t",
    "winner",
    "Σ",
    "ΣΑΣ",
    "Straße",
    "İstanbul",
    "naïve",
    "café",
    "$$$",
    "--",
    "...",
    "a",
    "I",
    "é",
    "x",
    "$100",
    "3.5%",
    "don't",
    "(see",
    "below)",
    "superlongwordwithoutanyspacesatallhere",
    "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ",
    "p-a-y-p-a-l",
    "p a y p a l",
    "pay-pal",
    "cr3d1t",
    "pa$$word",
    "b!tc0!n",
    "|oan",
    "@ccount",
    "pr!ze",
];

/// A text of about `words` pieces.
pub fn text(rng: &mut Rng, words: usize) -> String {
    let mut out = String::new();
    for _ in 0..words {
        match rng.below(4) {
            0 | 1 => out.push_str(rng.pick(WORDS)),
            2 => {
                for _ in 0..rng.below(30) + 1 {
                    out.push_str(rng.pick(LETTERS));
                }
            }
            _ => {
                // A word of plain ASCII letters, in any case, 1 to 45 long.
                for _ in 0..rng.below(45) + 1 {
                    let b = b'a' + rng.below(26) as u8;
                    out.push(char::from(if rng.below(3) == 0 { b.to_ascii_uppercase() } else { b }));
                }
            }
        }
        out.push_str(rng.pick(WHITESPACE));
    }
    out
}
