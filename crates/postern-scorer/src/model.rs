//! Which classifier counts are in force: the model shipped with Postern
//! (`model/default.bayes`, trained by `postern-train default`, docs/SCORING.md) and the
//! installation's own samples, which take part only once they reach the
//! [`TrainingMinimum`] of ham and of spam (200 and 200 by default, as SpamAssassin's Bayes).
//! Until then the shipped model decides alone; from then on the installation's counts are
//! added to the shipped ones.
//!
//! In: the shipped model bytes, the installation's counts whenever they change. Out: the
//! [`Counts`] to score with, swapped atomically (readers never wait on training).

use std::sync::{Arc, RwLock};

use crate::bayes::{Counts, ModelError};

/// The default model, trained on the SpamAssassin corpus groups easy-ham-1 and spam-1.
pub const SHIPPED: &[u8] = include_bytes!("../model/default.bayes");

/// How many samples of each label the installation needs before its counts take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingMinimum {
    pub ham: u32,
    pub spam: u32,
}

impl Default for TrainingMinimum {
    fn default() -> TrainingMinimum {
        TrainingMinimum { ham: 200, spam: 200 }
    }
}

pub struct Models {
    shipped: Arc<Counts>,
    minimum: TrainingMinimum,
    in_force: RwLock<Arc<Counts>>,
    /// The installation's ham and spam samples so far.
    installation: RwLock<(u32, u32)>,
}

impl Models {
    /// The shipped model alone.
    pub fn shipped(minimum: TrainingMinimum) -> Result<Models, ModelError> {
        Ok(Models::with_model(Counts::from_bytes(SHIPPED)?, minimum))
    }

    pub fn with_model(shipped: Counts, minimum: TrainingMinimum) -> Models {
        let shipped = Arc::new(shipped);
        Models { in_force: RwLock::new(Arc::clone(&shipped)), shipped, minimum, installation: RwLock::new((0, 0)) }
    }

    /// The counts to score with now.
    pub fn counts(&self) -> Arc<Counts> {
        match self.in_force.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether the installation's samples take part.
    pub fn installation_in_force(&self) -> bool {
        let (ham, spam) = self.installation_samples();
        ham >= self.minimum.ham && spam >= self.minimum.spam
    }

    pub fn installation_samples(&self) -> (u32, u32) {
        match self.installation.read() {
            Ok(n) => *n,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    pub fn minimum(&self) -> TrainingMinimum {
        self.minimum
    }

    /// The installation's counts changed: recompute what is in force.
    pub fn set_installation(&self, local: &Counts) {
        let ready = local.ham >= self.minimum.ham && local.spam >= self.minimum.spam;
        let next = if ready {
            let mut merged = (*self.shipped).clone();
            merged.merge(local);
            Arc::new(merged)
        } else {
            Arc::clone(&self.shipped)
        };
        match self.installation.write() {
            Ok(mut n) => *n = (local.ham, local.spam),
            Err(poisoned) => *poisoned.into_inner() = (local.ham, local.spam),
        }
        match self.in_force.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads() {
        let models = Models::shipped(TrainingMinimum::default()).expect("shipped model");
        assert!(models.counts().ham >= 2500 && models.counts().spam >= 500);
    }

    #[test]
    fn installation_counts_take_part_only_from_the_minimum() {
        let mut shipped = Counts::default();
        shipped.learn(&[1], false);
        shipped.learn(&[2], true);
        let models = Models::with_model(shipped, TrainingMinimum { ham: 2, spam: 2 });
        let mut local = Counts::default();
        local.learn(&[3], false);
        local.learn(&[3], false);
        local.learn(&[4], true);
        models.set_installation(&local);
        assert!(!models.installation_in_force());
        assert_eq!(models.counts().ham, 1, "one spam short: the shipped model alone");
        local.learn(&[4], true);
        models.set_installation(&local);
        assert!(models.installation_in_force());
        assert_eq!((models.counts().ham, models.counts().spam), (3, 3));
        assert_eq!(models.counts().tokens[&4], (0, 2));
    }
}
