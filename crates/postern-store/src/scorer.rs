//! The [`ScorerStore`] trait: the built-in scorer's per-installation training samples.
//!
//! In: a learned message's digest, label and token hashes. Out: the installation's
//! [`ScorerCounts`] (messages learned per label, per token the ham and spam messages it was
//! in). Learning the same message twice with the same label changes nothing; with the other
//! label its counts move, in one transaction.

use crate::Result;

/// What learning one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    New,
    /// Already learned with this label: nothing changed.
    Known,
    /// Learned before with the other label: its counts moved.
    Relabelled,
}

/// The installation's counts: (ham messages, spam messages) and per token (hash, ham, spam).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScorerCounts {
    pub ham: u32,
    pub spam: u32,
    pub tokens: Vec<(u32, u32, u32)>,
}

pub trait ScorerStore: Send + Sync + 'static {
    /// Learns one message: `digest` identifies it (SHA-256 of its bytes), `tokens` are its
    /// distinct token hashes.
    fn learn_sample(&self, digest: &[u8; 32], spam: bool, tokens: &[u32], source: &str) -> Result<Learned>;
    fn scorer_counts(&self) -> Result<ScorerCounts>;
    /// The messages learned per label, (ham, spam): a cheap question, asked to find out
    /// whether other nodes learned something since the counts were read.
    fn scorer_totals(&self) -> Result<(u32, u32)>;
}
