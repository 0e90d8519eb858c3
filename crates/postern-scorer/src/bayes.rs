//! The statistical classifier: Bayes over token counts with Robinson's per-token
//! probabilities and Fisher's chi-square combining (as in SpamBayes and SpamAssassin).
//!
//! In: the token hashes of a message ([`crate::tokens`]). Out: a spam probability in
//! [0, 1] (0.5 when the message has no token the model knows).
//!
//! A [`Counts`] holds how many ham and spam messages were learned and, per token, in how
//! many of each it appeared; training adds counts, so the shipped model and an
//! installation's samples can be added together ([`Counts::merge`]). The file format
//! (little-endian): `PSTB`, version 1, ham total, spam total, token count, then per token
//! its hash, ham count and spam count (all u32), sorted by hash. Reading a file checks
//! every length against the data, so a damaged file is an error, never a panic.

use crate::tokens::TokenMap;

/// Robinson's strength of the prior (s) and its value (x).
const PRIOR_STRENGTH: f64 = 0.45;
const PRIOR: f64 = 0.5;
/// Tokens whose probability is within this of 0.5 are ignored.
const MIN_STRENGTH: f64 = 0.1;
/// The most extreme tokens taken into account.
const MOST_CLUES: usize = 300;
const MAGIC: &[u8; 4] = b"PSTB";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub ham: u32,
    pub spam: u32,
    /// Token hash -> (ham messages, spam messages).
    pub tokens: TokenMap<(u32, u32)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("not a Postern Bayes model (bad magic or version)")]
    Format,
    #[error("the model file is truncated or damaged")]
    Damaged,
}

impl Counts {
    pub fn learn(&mut self, tokens: &[u32], spam: bool) {
        if spam {
            self.spam += 1;
        } else {
            self.ham += 1;
        }
        for t in tokens {
            let entry = self.tokens.entry(*t).or_default();
            if spam {
                entry.1 = entry.1.saturating_add(1);
            } else {
                entry.0 = entry.0.saturating_add(1);
            }
        }
    }

    /// Takes back one message learned with `spam`.
    pub fn unlearn(&mut self, tokens: &[u32], spam: bool) {
        if spam {
            self.spam = self.spam.saturating_sub(1);
        } else {
            self.ham = self.ham.saturating_sub(1);
        }
        for t in tokens {
            if let Some(entry) = self.tokens.get_mut(t) {
                if spam {
                    entry.1 = entry.1.saturating_sub(1);
                } else {
                    entry.0 = entry.0.saturating_sub(1);
                }
            }
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.ham = self.ham.saturating_add(other.ham);
        self.spam = self.spam.saturating_add(other.spam);
        for (t, (h, s)) in &other.tokens {
            let entry = self.tokens.entry(*t).or_default();
            entry.0 = entry.0.saturating_add(*h);
            entry.1 = entry.1.saturating_add(*s);
        }
    }

    /// Drops tokens seen in fewer than `min` messages (keeps the shipped model small).
    pub fn prune(&mut self, min: u32) {
        self.tokens.retain(|_, (h, s)| h.saturating_add(*s) >= min);
    }

    /// Robinson's f(w) for one token, when the model knows it.
    fn token_probability(&self, token: u32) -> Option<f64> {
        let &(h, s) = self.tokens.get(&token)?;
        if self.ham == 0 || self.spam == 0 {
            return None;
        }
        let ham_ratio = f64::from(h) / f64::from(self.ham);
        let spam_ratio = f64::from(s) / f64::from(self.spam);
        if ham_ratio + spam_ratio == 0.0 {
            return None;
        }
        let p = spam_ratio / (ham_ratio + spam_ratio);
        let n = f64::from(h) + f64::from(s);
        Some((PRIOR_STRENGTH * PRIOR + n * p) / (PRIOR_STRENGTH + n))
    }

    /// The spam probability of a message with these tokens (Fisher's combining).
    pub fn probability(&self, tokens: &[u32]) -> f64 {
        self.classify(tokens).0
    }

    /// The spam probability and the number of tokens it rests on (the clues).
    pub fn classify(&self, tokens: &[u32]) -> (f64, usize) {
        let mut clues: Vec<f64> = tokens
            .iter()
            .filter_map(|t| self.token_probability(*t))
            .filter(|p| (p - 0.5).abs() >= MIN_STRENGTH)
            .collect();
        if clues.is_empty() {
            return (0.5, 0);
        }
        if clues.len() > MOST_CLUES {
            clues.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
            clues.truncate(MOST_CLUES);
        }
        let n = clues.len();
        let (mut ln_spam, mut ln_ham) = (0.0, 0.0);
        for p in &clues {
            let p = p.clamp(1e-6, 1.0 - 1e-6);
            ln_ham += p.ln();
            ln_spam += (1.0 - p).ln();
        }
        let spamminess = 1.0 - chi2q(-2.0 * ln_spam, 2 * n);
        let hamminess = 1.0 - chi2q(-2.0 * ln_ham, 2 * n);
        (((spamminess - hamminess + 1.0) / 2.0).clamp(0.0, 1.0), n)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<(u32, (u32, u32))> = self.tokens.iter().map(|(k, v)| (*k, *v)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        let mut out = Vec::with_capacity(20 + entries.len() * 12);
        out.extend_from_slice(MAGIC);
        for v in [VERSION, self.ham, self.spam, entries.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (t, (h, s)) in entries {
            for v in [t, h, s] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Counts, ModelError> {
        if bytes.len() < 20 || &bytes[..4] != MAGIC {
            return Err(ModelError::Format);
        }
        let word = |i: usize| -> Result<u32, ModelError> {
            let b = bytes.get(i..i + 4).ok_or(ModelError::Damaged)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if word(4)? != VERSION {
            return Err(ModelError::Format);
        }
        let (ham, spam, n) = (word(8)?, word(12)?, word(16)? as usize);
        if bytes.len() != 20 + n.checked_mul(12).ok_or(ModelError::Damaged)? {
            return Err(ModelError::Damaged);
        }
        let mut tokens = TokenMap::with_capacity_and_hasher(n, Default::default());
        for i in 0..n {
            let at = 20 + i * 12;
            tokens.insert(word(at)?, (word(at + 4)?, word(at + 8)?));
        }
        Ok(Counts { ham, spam, tokens })
    }
}

/// The chi-square survival function for an even number of degrees of freedom.
fn chi2q(x2: f64, degrees: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..degrees / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained() -> Counts {
        let mut c = Counts::default();
        for _ in 0..20 {
            c.learn(&[1, 2, 3], true);
            c.learn(&[4, 5, 3], false);
        }
        c
    }

    #[test]
    fn spam_tokens_score_high_ham_tokens_low() {
        let c = trained();
        assert!(c.probability(&[1, 2]) > 0.95);
        assert!(c.probability(&[4, 5]) < 0.05);
        assert_eq!(c.probability(&[3]), 0.5, "a token in both says nothing");
        assert_eq!(c.probability(&[99]), 0.5, "unknown tokens say nothing");
        assert_eq!(Counts::default().probability(&[1]), 0.5);
    }

    #[test]
    fn bytes_round_trip_and_damage_is_an_error() {
        let c = trained();
        let bytes = c.to_bytes();
        assert_eq!(Counts::from_bytes(&bytes), Ok(c));
        assert_eq!(Counts::from_bytes(&bytes[..bytes.len() - 1]), Err(ModelError::Damaged));
        assert_eq!(Counts::from_bytes(b"nonsense-nonsense-nonsense"), Err(ModelError::Format));
        let mut huge = bytes.clone();
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Counts::from_bytes(&huge), Err(ModelError::Damaged));
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = trained();
        a.merge(&trained());
        assert_eq!((a.ham, a.spam), (40, 40));
        assert_eq!(a.tokens[&1], (0, 40));
        a.prune(81);
        assert!(a.tokens.is_empty());
    }
}
