//! Content checks: the [`Scanner`] trait every content check implements (GTUBE, the
//! built-in scorer, the real engines Rspamd, SpamAssassin and ClamAV in `engines/`, the
//! attachment checks and the sender domain's age).
//!
//! In: a [`ScanInput`] (envelope, account, the message as received, and its MIME parse made
//! once for the checks that read MIME, [`Parsed`]). Out: a
//! [`ScanResult`] naming its rule and score, or the [`Block`] of a policy check naming its
//! rule and the part it found. A scanner never refuses by itself: the pipeline turns results
//! into a verdict, applies the scanner's [`OnFailure`] to a failure and applies monitor mode.
//! Which account setting turns a scanner on is the scanner's [`Setting`].

use std::sync::Arc;

use postern_core::tenancy::{Account, ContentChecks};
use postern_core::{BoxFuture, Envelope};

use crate::parsed::{ParseHandle, Parsed};

/// What a scanner sees of the message.
pub struct ScanInput<'a> {
    pub envelope: &'a Envelope,
    /// `None`: a trusted network.
    pub account: Option<&'a Account>,
    /// The message as received (without our headers).
    pub message: &'a [u8],
    /// The message's MIME parse, made by the first check that asks and shared by the others
    /// (one per message; a fresh `Parsed::default()` outside the pipeline).
    pub parsed: Arc<Parsed>,
}

impl ScanInput<'_> {
    /// What a blocking task takes along to reach the message's shared parse (a copy of the
    /// message only when no check parsed it yet).
    pub fn parse_handle(&self) -> ParseHandle {
        self.parsed.handle(self.message)
    }
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
    /// A policy check blocked the message (an attachment with macros, a dangerous
    /// attachment, a virus, a sender domain registered too recently...): held in the
    /// quarantine like spam, the account's quarantine reaction says what the client hears.
    Blocked(Block),
    /// The check found something the account's settings allow (ClamAV's potentially
    /// unwanted program with `checks.block_dangerous_attachments` off): the message passes
    /// (trace `pass`) and the trace's rule names what was found.
    Allowed {
        rule: String,
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

/// What a policy check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    /// The rule, named in the log, the trace and the reply (`OLE2_VBA_MACRO`, `PE_EXECUTABLE`,
    /// `CLAMAV:Win.Test.EICAR_HDB-1`, `NEW_DOMAIN`...).
    pub rule: String,
    /// Where: the attachment's file name, with the path inside archives
    /// (`invoice.zip/report.docm`); the sender domain for its age. `None`: the whole message.
    pub part: Option<String>,
}

/// The kinds of block; each says in its own words why the message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// An attachment with macros (`checks.block_macros`).
    Macros,
    /// An executable, a script or a packed executable (`checks.block_dangerous_attachments`),
    /// or a potentially unwanted program ClamAV names (password, network, remote access
    /// tools...).
    Dangerous,
    /// An encrypted archive the checks cannot look into (`checks.encrypted_archives`).
    Encrypted,
    /// An archive beyond the inspection bounds: a zip bomb, too many entries, too deep.
    Unscannable,
    /// ClamAV found malware (`checks.clamav`).
    Virus,
    /// The sender's domain was registered too recently (`checks.block_new_domains`).
    NewDomain,
}

impl BlockKind {
    /// The words of the reply: `550 5.7.1 Error: message rejected: {words} ({rule} in {part})`.
    pub fn words(self) -> &'static str {
        match self {
            BlockKind::Macros => "attachment with macros",
            BlockKind::Dangerous => "dangerous attachment",
            BlockKind::Encrypted => "encrypted archive that cannot be checked",
            BlockKind::Unscannable => "attachment that cannot be checked",
            BlockKind::Virus => "virus found",
            BlockKind::NewDomain => "sender domain registered too recently",
        }
    }

    /// Whether the block counts like spam toward the account's automatic lock: malware is
    /// what a compromised account sends; an attachment the account's policy forbids is not.
    pub fn counts_as_spam(self) -> bool {
        matches!(self, BlockKind::Virus)
    }
}

impl Block {
    /// `RULE` or `RULE in part`, for the reply, the log and the quarantine row.
    pub fn describe(&self) -> String {
        match &self.part {
            Some(part) => format!("{} in {}", self.rule, part),
            None => self.rule.clone(),
        }
    }
}

/// The account setting that turns a scanner on. Without an account (a trusted network) the
/// defaults of [`ContentChecks`] apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `checks.spam`: the spam engines and the built-in scorer.
    Spam,
    /// `checks.block_macros` or `checks.block_dangerous_attachments`: the attachment walk.
    Attachments,
    /// `checks.clamav`.
    ClamAv,
    /// `checks.block_new_domains`.
    NewDomains,
}

impl Setting {
    pub fn is_on(self, checks: &ContentChecks) -> bool {
        match self {
            Setting::Spam => checks.spam,
            Setting::Attachments => checks.block_macros || checks.block_dangerous_attachments,
            Setting::ClamAv => checks.clamav,
            Setting::NewDomains => checks.block_new_domains,
        }
    }

    /// What the trace says when the setting is off.
    pub fn off(self) -> &'static str {
        match self {
            Setting::Spam => "checks.spam off",
            Setting::Attachments => "checks.block_macros and checks.block_dangerous_attachments off",
            Setting::ClamAv => "checks.clamav off",
            Setting::NewDomains => "checks.block_new_domains off",
        }
    }
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

    /// The account setting that turns this check on; `None`: it always runs (GTUBE, the
    /// installation's test of its spam path).
    fn setting(&self) -> Option<Setting> {
        None
    }

    /// Whether the check reads the message's shared parse ([`ScanInput::parsed`]): the
    /// pipeline keeps the parse until the last check that does has run, and lets go of it
    /// then. A check that reads it without saying so still gets it (parsed again).
    fn shares_parse(&self) -> bool {
        false
    }

    /// The health check's question to the engine behind this check (its cheapest: a
    /// ping), `Err` with a short reason; `None`: nothing to ask (the check runs in-process).
    fn ping(&self) -> Option<BoxFuture<'_, Result<(), String>>> {
        None
    }
}
