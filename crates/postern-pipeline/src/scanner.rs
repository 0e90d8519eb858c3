//! Content checks: the [`Scanner`] trait every content check implements (GTUBE today;
//! later the built-in scorer, Rspamd, SpamAssassin, attachment scanners).
//!
//! In: a [`ScanInput`] (envelope, account, the message as received). Out: a
//! [`ScanResult`] naming its rule and score. A scanner never refuses by itself: the
//! pipeline turns results into a verdict and applies monitor mode.

use postern_core::tenancy::Account;
use postern_core::{BoxFuture, Envelope};

/// What a scanner sees of the message.
pub struct ScanInput<'a> {
    pub envelope: &'a Envelope,
    /// `None`: a trusted network.
    pub account: Option<&'a Account>,
    /// The message as received (without our headers).
    pub message: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScanResult {
    Clean {
        score: Option<f64>,
    },
    Spam {
        rule: String,
        score: Option<f64>,
    },
    /// The engine could not answer; never taken as clean by the verdict of a later part
    /// (today no scanner fails).
    Failed {
        error: String,
    },
}

/// One content check. `engine` names it in the verdict trace.
pub trait Scanner: Send + Sync + 'static {
    fn engine(&self) -> &'static str;
    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult>;
}
