//! The attachment checks (SPEC.md §5): attachments with macros, dangerous attachments
//! (executables, packed executables, scripts, shortcuts, installers, disk images), and the
//! archives that could hide them, looked into by content and not only by name.
//!
//! In: a message as received (or its parse, [`analyse_parsed`], made once for the pipeline's
//! content checks) and the account's settings ([`Checks`]). Out: the first
//! [`Finding`] that a setting turns on (its [`Rule`] and the part, with the path inside
//! archives: `invoice.zip/inner.zip/report.docm`), or nothing. Everything is bounded by
//! [`Bounds`] (depth, unpacked bytes, entries, compression ratio, message size): what passes
//! a bound is refused with its own rule, never taken as clean.
//!
//! # Layout (the order a file goes through)
//! - `mime.rs`: the message's attachments, decoded (in the pipeline, from the parse the
//!   content checks share); attached messages.
//! - `walk.rs`: [`Walk`](walk::Walk): one file by content then by name, containers opened
//!   inside one another, the bounds and their counters, the counted entry reader.
//! - `sniff.rs`: formats by signature; `executable.rs`: PE, ELF, Mach-O and packers;
//!   `names.rs`: dangerous file names.
//! - `zipfile.rs`: zip archives; `package.rs`: what a zip is as a whole (OOXML and
//!   OpenDocument macros, JAR).
//! - `ole.rs`: OLE2 compound files (VBA, Excel 4.0 macro sheets, MSI, encryption, OLE
//!   packages).
//! - `gzip.rs`, `tar.rs`: gzip and tar.
//! - `path.rs`: part names, printable and bounded.
//! - `finding.rs`: the rules, the settings they belong to, the finding.
//! - `scanner.rs`: [`AttachmentScanner`], the pipeline's
//!   [`Scanner`](postern_pipeline::Scanner).

pub mod bounds;
pub mod executable;
pub mod finding;
mod gzip;
mod mime;
mod names;
mod ole;
mod package;
pub mod path;
pub mod scanner;
pub mod sniff;
mod tar;
pub mod walk;
mod zipfile;

use std::ops::ControlFlow;

use mail_parser::{Message, MessageParser};

pub use bounds::Bounds;
pub use finding::{Checks, Finding, Gate, Kind, Rule};
pub use scanner::AttachmentScanner;

/// What the analysis of one message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing that the account's checks refuse.
    Clean,
    Found(Finding),
    /// Larger than [`Bounds::max_message_bytes`]: not analysed.
    TooLarge,
}

/// Looks at every attachment of `message` with the account's `checks`.
pub fn analyse(message: &[u8], bounds: &Bounds, checks: Checks) -> Verdict {
    if message.len() > bounds.max_message_bytes {
        return Verdict::TooLarge;
    }
    analyse_parsed(MessageParser::default().parse(message).as_ref(), bounds, checks)
}

/// The same for a message parsed whole by someone else (the pipeline's shared parse;
/// `None`: it did not parse, nothing to look at). The caller checks the size against
/// [`Bounds::max_message_bytes`] before parsing; a parse over the bound is `TooLarge` here
/// too. Attached messages are parsed by the walk, as in [`analyse`].
pub fn analyse_parsed(message: Option<&Message<'_>>, bounds: &Bounds, checks: Checks) -> Verdict {
    let Some(message) = message else { return Verdict::Clean };
    if message.raw_message.len() > bounds.max_message_bytes {
        return Verdict::TooLarge;
    }
    let mut walk = walk::Walk::new(bounds, checks);
    match walk.parsed(message, &path::PartPath::default(), 0) {
        ControlFlow::Break(finding) => Verdict::Found(finding),
        ControlFlow::Continue(()) => Verdict::Clean,
    }
}
