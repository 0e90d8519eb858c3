//! Zip archives, and the documents that are zips (OOXML, OpenDocument, JAR): the package
//! checks (`package.rs`) on the entry names and content types, then every entry walked.
//!
//! In: a zip's bytes, whole. Out: a [`Step`]. Defends against: an entry count beyond the
//! bound, refused from the end-of-central-directory record before the directory is parsed
//! (a 10,000-entry archive costs one record's read); entries sharing compressed data (the
//! overlapping-file bomb), refused before any is unpacked; encrypted entries, never
//! decrypted; compression methods other than stored and deflate, never guessed at; a
//! directory the `zip` crate cannot read, or a panic inside it, taken as corrupt.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::zip::read::ZipReadOptions;
use ::zip::{CompressionMethod, ZipArchive};

use crate::finding::Rule;
use crate::package;
use crate::path::PartPath;
use crate::walk::{Content, Step, Walk};

/// What the central directory says of one entry.
struct Entry {
    name: String,
    encrypted: bool,
    method: CompressionMethod,
    compressed: u64,
    declared: u64,
    data_start: u64,
    is_dir: bool,
}

/// The content types file of an OOXML package is read up to this size.
const MAX_CONTENT_TYPES: u64 = 1 << 20;

impl Walk<'_> {
    pub(crate) fn zip(&mut self, path: &PartPath, bytes: &[u8], depth: usize) -> Step {
        let depth = self.enter(path, depth)?;
        let Some(declared) = declared_entries(bytes) else { return self.report(Rule::ArchiveCorrupt, path) };
        if declared > self.entries_left() as u64 {
            return self.report(Rule::ArchiveTooManyEntries, path);
        }
        let opened = catch_unwind(AssertUnwindSafe(|| ZipArchive::new(Cursor::new(bytes))));
        let Ok(Ok(mut archive)) = opened else { return self.report(Rule::ArchiveCorrupt, path) };
        self.count_entries(archive.len() as u64, path)?;
        let Some(entries) = directory(&mut archive) else { return self.report(Rule::ArchiveCorrupt, path) };
        if overlapping(&entries) {
            return self.report(Rule::ArchiveBomb, path);
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let content_types = match names.iter().position(|n| n.eq_ignore_ascii_case("[Content_Types].xml")) {
            Some(i) if entries[i].compressed <= MAX_CONTENT_TYPES && readable(&entries[i]) => {
                let child = path.child(&entries[i].name);
                Some(self.unpack(&mut archive, i, &entries[i], &child)?.0)
            }
            _ => None,
        };
        for rule in package::rules(&names, content_types.as_deref()) {
            self.report(rule, path)?;
        }
        for (i, entry) in entries.iter().enumerate() {
            if entry.is_dir {
                continue;
            }
            let child = path.child(&entry.name);
            if entry.encrypted {
                self.report(Rule::EncryptedArchive, &child)?;
                continue;
            }
            if !readable(entry) {
                self.report(Rule::ArchiveUnsupported, &child)?;
                continue;
            }
            let (data, whole) = self.unpack(&mut archive, i, entry, &child)?;
            self.file(&child, &entry.name, &Content { bytes: &data, whole }, depth, true)?;
        }
        ControlFlow::Continue(())
    }

    /// Entry `i`, unpacked through [`Walk::read_entry`] (CRCs are not checked: the content
    /// is what matters, and a wrong CRC does not stop other unzippers).
    fn unpack(
        &mut self,
        archive: &mut ZipArchive<Cursor<&[u8]>>,
        i: usize,
        entry: &Entry,
        path: &PartPath,
    ) -> Step<(Vec<u8>, bool)> {
        let options = ZipReadOptions::new().ignore_crc32(true);
        let opened = catch_unwind(AssertUnwindSafe(move || archive.by_index_with_options(i, options)));
        let Ok(Ok(reader)) = opened else {
            self.report(Rule::ArchiveCorrupt, path)?;
            return ControlFlow::Continue((Vec::new(), true));
        };
        let reader = Guarded(reader);
        self.read_entry(reader, entry.compressed, entry.declared, path)
    }
}

/// A reader whose panics become errors (a decompressor bug must not take the gateway's
/// worker down with it).
struct Guarded<R>(R);

impl<R: std::io::Read> std::io::Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match catch_unwind(AssertUnwindSafe(|| self.0.read(buf))) {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::other("panic while unpacking")),
        }
    }
}

/// Whether an entry can be unpacked: not encrypted, stored or deflated.
fn readable(entry: &Entry) -> bool {
    !entry.encrypted && matches!(entry.method, CompressionMethod::Stored | CompressionMethod::Deflated)
}

/// Every entry's metadata, or `None` when a local header cannot be found.
fn directory(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Option<Vec<Entry>> {
    let mut entries = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let file = catch_unwind(AssertUnwindSafe(|| {
            archive.by_index_raw(i).ok().map(|f| Entry {
                name: normalize(f.name()),
                encrypted: f.encrypted(),
                method: f.compression(),
                compressed: f.compressed_size(),
                declared: f.size(),
                data_start: f.data_start().unwrap_or(0),
                is_dir: f.is_dir(),
            })
        }))
        .ok()
        .flatten()?;
        entries.push(file);
    }
    Some(entries)
}

/// `./a\b` and `/a/b` are `a/b` to the package checks and in part names.
fn normalize(name: &str) -> String {
    let name = name.replace('\\', "/");
    name.trim_start_matches("./").trim_start_matches('/').to_string()
}

/// Whether two entries' compressed data overlap (a non-recursive zip bomb: thousands of
/// entries unpacking the same kernel).
fn overlapping(entries: &[Entry]) -> bool {
    let mut ranges: Vec<(u64, u64)> = entries
        .iter()
        .filter(|e| e.compressed > 0)
        .map(|e| (e.data_start, e.data_start.saturating_add(e.compressed)))
        .collect();
    ranges.sort_unstable();
    ranges.windows(2).any(|w| w[1].0 < w[0].1)
}

/// The entry count the end-of-central-directory record declares (the Zip64 record's when
/// the classic one says 0xFFFF); `None` without such a record.
pub(crate) fn declared_entries(bytes: &[u8]) -> Option<u64> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let from = bytes.len().saturating_sub(22 + 65_535);
    let at = from + memchr::memmem::rfind(&bytes[from..], EOCD)?;
    let classic = u16::from_le_bytes(bytes.get(at + 10..at + 12)?.try_into().ok()?);
    if classic != 0xFFFF {
        return Some(u64::from(classic));
    }
    let zip64 = || -> Option<u64> {
        let locator = bytes.get(at.checked_sub(20)?..at)?;
        if &locator[..4] != b"PK\x06\x07" {
            return None;
        }
        let offset = usize::try_from(u64::from_le_bytes(locator[8..16].try_into().ok()?)).ok()?;
        let record = bytes.get(offset..offset.checked_add(56)?)?;
        if &record[..4] != b"PK\x06\x06" {
            return None;
        }
        Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
    };
    Some(zip64().unwrap_or(u64::from(classic)))
}
