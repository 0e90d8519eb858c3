//! OLE2 compound files (Word, Excel and PowerPoint 97-2003, `vbaProject.bin`, MSI, Office
//! documents encrypted with a password): VBA projects, Excel 4.0 macro sheets, installers,
//! encryption, and the files embedded as OLE packages (`\x01Ole10Native`), walked in turn.
//!
//! In: a compound file's bytes, whole. Out: a [`Step`]. The `cfb` crate reads the
//! directory; a file it cannot read (or a panic inside it) is corrupt. Streams are read
//! with a limit of the file's own size; the BIFF records of a workbook are walked with
//! bounds checks on every length.

use std::collections::HashSet;
use std::io::{Cursor, Read};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::finding::Rule;
use crate::path::PartPath;
use crate::walk::{Content, Step, Walk};

/// Class ids of the Windows Installer's files: package (MSI), patch (MSP), transform (MST).
const INSTALLER_CLSIDS: &[&str] = &[
    "000c1084-0000-0000-c000-000000000046",
    "000c1086-0000-0000-c000-000000000046",
    "000c1082-0000-0000-c000-000000000046",
];

/// BIFF: the sheet record (`BoundSheet8`), its macro-sheet type, the end of the globals.
const BOUNDSHEET: u16 = 0x0085;
const SHEET_MACRO: u8 = 0x01;
const EOF: u16 = 0x000a;

/// What the directory of a compound file holds.
struct Directory {
    /// Every entry's path, lower case (`/macros/vba/dir`).
    streams: HashSet<String>,
    storages: Vec<String>,
    clsid: String,
}

impl Walk<'_> {
    pub(crate) fn ole(&mut self, path: &PartPath, bytes: &[u8], depth: usize) -> Step {
        let depth = self.enter(path, depth)?;
        let opened = catch_unwind(AssertUnwindSafe(|| cfb::CompoundFile::open(Cursor::new(bytes))));
        let Ok(Ok(mut file)) = opened else { return self.report(Rule::ArchiveCorrupt, path) };
        let Ok(dir) = catch_unwind(AssertUnwindSafe(|| directory(&file))) else {
            return self.report(Rule::ArchiveCorrupt, path);
        };
        let vba = dir
            .storages
            .iter()
            .any(|s| s.rsplit('/').next() == Some("vba") && dir.streams.contains(&format!("{s}/dir")));
        if vba {
            self.report(Rule::Ole2VbaMacro, path)?;
        }
        if INSTALLER_CLSIDS.contains(&dir.clsid.as_str()) {
            self.report(Rule::WindowsInstaller, path)?;
        }
        let limit = bytes.len() as u64;
        for book in ["/workbook", "/book"] {
            if dir.streams.contains(book)
                && let Some(stream) = read_stream(&mut file, book, limit)
                && macro_sheet(&stream)
            {
                self.report(Rule::XlmMacroSheet, path)?;
            }
        }
        if dir.streams.contains("/encryptioninfo") && dir.streams.contains("/encryptedpackage") {
            self.report(Rule::EncryptedDocument, path)?;
        }
        let mut natives: Vec<&String> = dir.streams.iter().filter(|s| s.ends_with("/\u{1}ole10native")).collect();
        natives.sort();
        for native in natives {
            let Some(stream) = read_stream(&mut file, native, limit) else { continue };
            if let Some((name, data)) = ole10_native(&stream) {
                self.count_entries(1, path)?;
                let child = path.child(&name);
                self.file(&child, &name, &Content::whole(data), depth, true)?;
            }
        }
        ControlFlow::Continue(())
    }
}

fn directory(file: &cfb::CompoundFile<Cursor<&[u8]>>) -> Directory {
    let mut streams = HashSet::new();
    let mut storages = Vec::new();
    for entry in file.walk() {
        let path = entry.path().to_string_lossy().replace('\\', "/").to_lowercase();
        if entry.is_stream() {
            streams.insert(path);
        } else if entry.is_storage() {
            storages.push(path);
        }
    }
    Directory { streams, storages, clsid: file.root_entry().clsid().to_string().to_lowercase() }
}

/// A stream's bytes, at most `limit`; `None` when it cannot be read. `path` is lower case:
/// the compound file's names compare without case.
fn read_stream(file: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &str, limit: u64) -> Option<Vec<u8>> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut stream = file.open_stream(path).ok()?;
        let mut out = Vec::new();
        (&mut stream).take(limit).read_to_end(&mut out).ok()?;
        Some(out)
    }))
    .ok()
    .flatten()
}

/// Whether a BIFF workbook stream declares an Excel 4.0 macro sheet: a `BoundSheet8`
/// record (`lbPlyPos` u32, `hsState` u8, `dt` u8, name) of type macro, before the globals'
/// end.
pub(crate) fn macro_sheet(stream: &[u8]) -> bool {
    let mut at = 0usize;
    while let Some(header) = stream.get(at..at + 4) {
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let Some(data) = stream.get(at + 4..at + 4 + len) else { return false };
        if kind == BOUNDSHEET && data.get(5) == Some(&SHEET_MACRO) {
            return true;
        }
        if kind == EOF {
            return false;
        }
        at += 4 + len;
    }
    false
}

/// The file inside an OLE package stream: size (u32), a version word, the label and the
/// source path (NUL-terminated), two words, the temporary path (length-prefixed), then the
/// data (length-prefixed). `None` when it does not parse.
pub(crate) fn ole10_native(stream: &[u8]) -> Option<(String, &[u8])> {
    let mut at = 6usize;
    let label = cstr(stream, &mut at)?;
    let _source = cstr(stream, &mut at)?;
    at = at.checked_add(4)?;
    let temp_len = u32_at(stream, at)? as usize;
    at = at.checked_add(4)?.checked_add(temp_len)?;
    let size = u32_at(stream, at)? as usize;
    at = at.checked_add(4)?;
    let data = stream.get(at..at.checked_add(size)?)?;
    Some((label, data))
}

fn cstr(bytes: &[u8], at: &mut usize) -> Option<String> {
    let rest = bytes.get(*at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    *at += end + 1;
    Some(String::from_utf8_lossy(&rest[..end.min(1024)]).into_owned())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut r = kind.to_le_bytes().to_vec();
        r.extend_from_slice(&(data.len() as u16).to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    fn boundsheet(dt: u8) -> Vec<u8> {
        record(BOUNDSHEET, &[0, 0, 0, 0, 0, dt, 6, 0, b'S', b'h', b'e', b'e', b't', b'1'])
    }

    #[test]
    fn biff_macro_sheets_are_found_and_worksheets_are_not() {
        let bof = record(0x0809, &[0; 16]);
        let sheets = |dt| [bof.clone(), boundsheet(0), boundsheet(dt), record(EOF, &[])].concat();
        assert!(macro_sheet(&sheets(SHEET_MACRO)));
        assert!(!macro_sheet(&sheets(0)));
        let after_eof = [bof.clone(), record(EOF, &[]), boundsheet(SHEET_MACRO)].concat();
        assert!(!macro_sheet(&after_eof), "only the globals substream declares sheets");
        let mut truncated = sheets(SHEET_MACRO);
        truncated.truncate(bof.len() + 20);
        assert!(!macro_sheet(&truncated));
    }

    #[test]
    fn ole_packages_yield_their_file() {
        let mut s = 0u32.to_le_bytes().to_vec();
        s.extend_from_slice(&2u16.to_le_bytes());
        s.extend_from_slice(b"run.exe\0C:\\tmp\\run.exe\0");
        s.extend_from_slice(&0x0003_0000u32.to_le_bytes());
        s.extend_from_slice(&15u32.to_le_bytes());
        s.extend_from_slice(b"C:\\tmp\\run.exe\0");
        s.extend_from_slice(&4u32.to_le_bytes());
        s.extend_from_slice(b"MZ\0\0");
        assert_eq!(ole10_native(&s), Some(("run.exe".to_string(), &b"MZ\0\0"[..])));
        let mut lying = s.clone();
        let len = lying.len();
        lying[len - 8..len - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(ole10_native(&lying), None);
    }
}
