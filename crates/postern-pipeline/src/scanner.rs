//! Content checks: the [`Scanner`] trait every content check implements (GTUBE, the real
//! engines Rspamd and SpamAssassin in `engines/`; later the built-in scorer and attachment
//! scanners).
//!
//! In: a [`ScanInput`] (envelope, account, the message as received). Out: a
//! [`ScanResult`] naming its rule and score. A scanner never refuses by itself: the
//! pipeline turns results into a verdict, applies the scanner's [`OnFailure`] to a failure
//! and applies monitor mode.

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
    /// The engine could not answer (down, timed out, a garbled, truncated or oversized
    /// reply): never taken as clean; its [`OnFailure`] decides.
    Failed {
        error: String,
    },
    /// Not scanned, by the engine's own configuration (a message larger than it takes).
    Skipped {
        reason: String,
    },
}

/// What a failed engine means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// The other scanners decide; the failure is logged every time.
    #[default]
    Skip,
    /// The message is refused with `451 4.7.1` (the client tries again later).
    Tempfail,
}

impl OnFailure {
    pub fn name(self) -> &'static str {
        match self {
            OnFailure::Skip => "skip",
            OnFailure::Tempfail => "tempfail",
        }
    }
}

/// One content check. `engine` names it in the verdict trace.
pub trait Scanner: Send + Sync + 'static {
    fn engine(&self) -> &'static str;
    fn scan<'a>(&'a self, input: &'a ScanInput<'a>) -> BoxFuture<'a, ScanResult>;

    /// What a [`ScanResult::Failed`] means (GTUBE never fails: the default, skip).
    fn on_failure(&self) -> OnFailure {
        OnFailure::Skip
    }

    /// Whether the account's `checks.spam` switch turns this check off (the spam engines);
    /// `false`: it always runs (GTUBE, the installation's test of its spam path).
    fn is_spam_check(&self) -> bool {
        false
    }
}
