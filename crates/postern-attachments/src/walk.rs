//! The walk: every file of a message looked at by content, containers opened inside one
//! another, within the [`Bounds`]; the first finding the account's [`Checks`] turn on ends
//! it.
//!
//! In: files (bytes and a name) from the MIME walk (`mime.rs`) and from the containers
//! (`zipfile.rs`, `ole.rs`, `gzip.rs`, `tar.rs` callers here). Out: `Break(Finding)` or
//! `Continue`. Defends against decompression bombs: sizes declared in headers are never
//! trusted; bytes are counted as they come out of a decompressor, read in chunks, and the
//! entry is refused as soon as its ratio, the message's unpacked total or the entry count
//! passes its bound. Only containers are kept whole in memory (they need random access);
//! other files keep their first [`HEAD`] bytes, enough for every signature checked.

use std::io::Read;
use std::ops::ControlFlow;

use crate::bounds::{Bounds, RATIO_FLOOR};
use crate::finding::{Checks, Finding, Rule};
use crate::path::PartPath;
use crate::sniff::{self, Format};
use crate::{executable, names};

/// The bytes of a file kept for its signatures (ISO 9660's is at 32 KiB).
pub const HEAD: usize = 64 * 1024;

/// `Break`: a finding that decides. `Continue`: nothing here, go on.
pub type Step<T = ()> = ControlFlow<Finding, T>;

/// A file's bytes: all of them, or only the first [`HEAD`].
pub struct Content<'a> {
    pub bytes: &'a [u8],
    pub whole: bool,
}

impl<'a> Content<'a> {
    pub fn whole(bytes: &'a [u8]) -> Content<'a> {
        Content { bytes, whole: true }
    }
}

/// One message's walk: the bounds and what has been spent of them.
pub struct Walk<'b> {
    pub(crate) bounds: &'b Bounds,
    checks: Checks,
    unpacked: u64,
    entries: usize,
}

impl<'b> Walk<'b> {
    pub fn new(bounds: &'b Bounds, checks: Checks) -> Walk<'b> {
        Walk { bounds, checks, unpacked: 0, entries: 0 }
    }

    /// `Break` with `rule` at `path` when the account's checks apply it.
    pub(crate) fn report(&self, rule: Rule, path: &PartPath) -> Step {
        if self.checks.applies(rule) {
            return ControlFlow::Break(Finding { rule, part: path.display() });
        }
        ControlFlow::Continue(())
    }

    /// Opens a container found at `depth`; its files are at the returned depth.
    pub(crate) fn enter(&self, path: &PartPath, depth: usize) -> Step<usize> {
        if depth >= self.bounds.max_depth {
            self.report(Rule::ArchiveTooDeep, path)?;
        }
        ControlFlow::Continue(depth + 1)
    }

    /// Counts `count` more archive entries against `max_entries`.
    pub(crate) fn count_entries(&mut self, count: u64, path: &PartPath) -> Step {
        let left = self.entries_left() as u64;
        if count > left {
            self.report(Rule::ArchiveTooManyEntries, path)?;
        }
        self.entries = self.entries.saturating_add(usize::try_from(count).unwrap_or(usize::MAX));
        ControlFlow::Continue(())
    }

    pub(crate) fn entries_left(&self) -> usize {
        self.bounds.max_entries.saturating_sub(self.entries)
    }

    /// Looks at one file: its content first (executables, containers opened, signatures),
    /// then its name. `attachment`: a file the recipient receives as such (every archive
    /// entry; a MIME part that is no message body), where a `#!` line makes a script.
    pub fn file(&mut self, path: &PartPath, name: &str, content: &Content<'_>, depth: usize, attachment: bool) -> Step {
        let bytes = content.bytes;
        let head = &bytes[..bytes.len().min(HEAD)];
        if let Some(exe) = executable::detect(head) {
            let rule = match (exe.packed, exe.format) {
                (true, _) => Rule::PackedExecutable,
                (false, executable::Format::Pe) => Rule::PeExecutable,
                (false, executable::Format::Elf) => Rule::ElfExecutable,
                (false, executable::Format::MachO) => Rule::MachoExecutable,
            };
            self.report(rule, path)?;
        }
        match sniff::sniff(head) {
            Format::Zip if content.whole => self.zip(path, bytes, depth)?,
            Format::Ole2 if content.whole => self.ole(path, bytes, depth)?,
            Format::Gzip if content.whole => self.gzip(path, name, bytes, depth)?,
            Format::Tar if content.whole => self.tar(path, bytes, depth)?,
            Format::Shortcut => self.report(Rule::ShortcutFile, path)?,
            Format::DiskImage => self.report(Rule::DiskImage, path)?,
            Format::Shebang if attachment => self.report(Rule::ScriptFile, path)?,
            Format::Unsupported => self.report(Rule::ArchiveUnsupported, path)?,
            _ => {}
        }
        if let Some(rule) = names::rule(name) {
            self.report(rule, path)?;
        }
        ControlFlow::Continue(())
    }

    /// Reads one archive entry out of its decompressor, counting every byte: `compressed`
    /// is its size in the archive, `declared` the unpacked size its header claims (believed
    /// only when it alone already breaks a bound). Returns the entry's bytes: whole for a
    /// container, else its first [`HEAD`] bytes (`whole` false when cut).
    pub(crate) fn read_entry(
        &mut self,
        mut reader: impl Read,
        compressed: u64,
        declared: u64,
        path: &PartPath,
    ) -> Step<(Vec<u8>, bool)> {
        let ratio_limit = compressed.max(1).saturating_mul(self.bounds.max_ratio).max(RATIO_FLOOR);
        if declared > ratio_limit {
            self.report(Rule::ArchiveBomb, path)?;
        }
        if self.unpacked.saturating_add(declared) > self.bounds.max_unpacked_bytes {
            self.report(Rule::ArchiveTooLarge, path)?;
        }
        let mut kept = Vec::new();
        let mut keep_all: Option<bool> = None;
        let mut produced: u64 = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // Data that breaks off is looked at as far as it goes (an unpacker shows the
                // recipient as much); data that never starts is corrupt.
                Err(_) if produced > 0 => break,
                Err(_) => {
                    self.report(Rule::ArchiveCorrupt, path)?;
                    break;
                }
            };
            produced += n as u64;
            self.unpacked += n as u64;
            if produced > ratio_limit {
                self.report(Rule::ArchiveBomb, path)?;
            }
            if self.unpacked > self.bounds.max_unpacked_bytes {
                self.report(Rule::ArchiveTooLarge, path)?;
            }
            match keep_all {
                Some(true) => kept.extend_from_slice(&chunk[..n]),
                Some(false) => {}
                None => {
                    kept.extend_from_slice(&chunk[..n]);
                    if kept.len() >= HEAD {
                        let container = is_container(&kept);
                        if !container {
                            kept.truncate(HEAD);
                        }
                        keep_all = Some(container);
                    }
                }
            }
        }
        let whole = keep_all != Some(false);
        ControlFlow::Continue((kept, whole))
    }
}

/// Formats the walk opens, which it keeps whole in memory.
fn is_container(head: &[u8]) -> bool {
    matches!(sniff::sniff(head), Format::Zip | Format::Ole2 | Format::Gzip | Format::Tar)
}
