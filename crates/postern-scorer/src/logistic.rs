//! Logistic regression over hashed token features, trained by stochastic gradient
//! descent: the alternative classifier measured against Bayes (docs/SCORING.md says why
//! Bayes was chosen). Used by the training tool's cross-validation only.
//!
//! In: token hashes. Out: a spam probability.

/// Buckets of the hashed feature space (2^20).
const BUCKETS_BITS: u32 = 20;

pub struct Logistic {
    weights: Vec<f32>,
    bias: f32,
}

impl Default for Logistic {
    fn default() -> Logistic {
        Logistic { weights: vec![0.0; 1 << BUCKETS_BITS], bias: 0.0 }
    }
}

impl Logistic {
    fn bucket(token: u32) -> usize {
        (token.wrapping_mul(0x9E37_79B9) >> (32 - BUCKETS_BITS)) as usize
    }

    fn margin(&self, tokens: &[u32]) -> f32 {
        let scale = 1.0 / (tokens.len().max(1) as f32).sqrt();
        self.bias + scale * tokens.iter().map(|t| self.weights[Self::bucket(*t)]).sum::<f32>()
    }

    pub fn probability(&self, tokens: &[u32]) -> f64 {
        1.0 / (1.0 + (-f64::from(self.margin(tokens))).exp())
    }

    /// `epochs` passes over the samples (token lists and labels, true = spam), in the order
    /// given; the caller shuffles.
    pub fn train(&mut self, samples: &[(&[u32], bool)], epochs: usize, rate: f32, l2: f32) {
        for epoch in 0..epochs {
            let rate = rate / (1.0 + epoch as f32);
            for (tokens, spam) in samples {
                let p = 1.0 / (1.0 + (-self.margin(tokens)).exp());
                let gradient = p - if *spam { 1.0 } else { 0.0 };
                let scale = 1.0 / (tokens.len().max(1) as f32).sqrt();
                for t in tokens.iter() {
                    let w = &mut self.weights[Self::bucket(*t)];
                    *w -= rate * (gradient * scale + l2 * *w);
                }
                self.bias -= rate * gradient;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_set() {
        let spam = [1u32, 2, 3];
        let ham = [4u32, 5, 6];
        let samples: Vec<(&[u32], bool)> = (0..50).flat_map(|_| [(&spam[..], true), (&ham[..], false)]).collect();
        let mut model = Logistic::default();
        model.train(&samples, 5, 0.5, 1e-6);
        assert!(model.probability(&spam) > 0.9);
        assert!(model.probability(&ham) < 0.1);
    }
}
