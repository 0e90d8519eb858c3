//! A bounded tar reader over bytes in memory: POSIX ustar, GNU long names (`L`), pax
//! `path` records (`x`).
//!
//! In: the bytes of a tar archive (already unpacked from gzip when it was `.tar.gz`). Out:
//! its regular files, each a name and a slice of the input (nothing is copied). Defends
//! against lying headers: a size is never trusted past the bytes at hand (a file cut short
//! is an error), checksums are verified, octal and base-256 sizes are parsed without
//! overflow, and a long name is cut to 4 KiB.

use std::ops::ControlFlow;

use crate::finding::Rule;
use crate::path::PartPath;
use crate::walk::{Content, Step, Walk};

const BLOCK: usize = 512;
const MAX_LONG_NAME: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: String,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt;

/// The regular files of `bytes`, in order, stopping after `max + 1` (the caller counts
/// them against its bound: one more than it allows is enough to refuse).
pub fn entries(bytes: &[u8], max: usize) -> Result<Vec<Entry<'_>>, Corrupt> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    while let Some(header) = bytes.get(at..at + BLOCK) {
        if header.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(header) {
            return Err(Corrupt);
        }
        let size = size(&header[124..136]).ok_or(Corrupt)?;
        let start = at + BLOCK;
        let end = start.checked_add(size).filter(|&e| e <= bytes.len()).ok_or(Corrupt)?;
        let data = &bytes[start..end];
        match header[156] {
            b'0' | b'\0' | b'7' => {
                let name = long_name.take().unwrap_or_else(|| header_name(header));
                out.push(Entry { name, data });
                if out.len() > max {
                    return Ok(out);
                }
            }
            b'L' => long_name = Some(text(&data[..data.len().min(MAX_LONG_NAME)])),
            b'x' => long_name = pax_path(data).or(long_name),
            // Directories, links, devices, global pax headers: nothing to look at.
            _ => {}
        }
        // The next header starts at the next block boundary.
        at = end.div_ceil(BLOCK).checked_mul(BLOCK).ok_or(Corrupt)?;
    }
    Ok(out)
}

impl Walk<'_> {
    /// Every regular file of a tar archive, walked in order.
    pub(crate) fn tar(&mut self, path: &PartPath, bytes: &[u8], depth: usize) -> Step {
        let depth = self.enter(path, depth)?;
        let Ok(files) = entries(bytes, self.entries_left()) else { return self.report(Rule::ArchiveCorrupt, path) };
        self.count_entries(files.len() as u64, path)?;
        for file in files {
            let child = path.child(&file.name);
            self.file(&child, &file.name, &Content::whole(file.data), depth, true)?;
        }
        ControlFlow::Continue(())
    }
}

/// The header's checksum: the sum of its bytes with the checksum field taken as spaces.
pub fn checksum_ok(header: &[u8]) -> bool {
    let Some(stored) = octal(&header[148..156]) else { return false };
    let sum: u64 =
        header.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) }).sum();
    stored == sum
}

/// A size field: octal text, or GNU base-256 (high bit of the first byte set).
fn size(field: &[u8]) -> Option<usize> {
    if field[0] & 0x80 != 0 {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return usize::try_from(value).ok();
    }
    usize::try_from(octal(field)?).ok()
}

fn octal(field: &[u8]) -> Option<u64> {
    let digits = field.iter().skip_while(|&&b| b == b' ').take_while(|&&b| (b'0'..=b'7').contains(&b));
    let mut value: u64 = 0;
    let mut any = false;
    for &d in digits {
        value = value.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(value)
}

/// `prefix/name` of a ustar header.
fn header_name(header: &[u8]) -> String {
    let name = text(&header[0..100]);
    let prefix = if &header[257..262] == b"ustar" { text(&header[345..500]) } else { String::new() };
    if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
}

/// A NUL-terminated field as text.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The `path` record of a pax extended header (`<len> path=<value>\n` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let data = &data[..data.len().min(64 * 1024)];
    data.split(|&b| b == b'\n').find_map(|record| {
        let (_, kv) = record.split_at(record.iter().position(|&b| b == b' ')? + 1);
        let value = kv.strip_prefix(b"path=")?;
        Some(text(&value[..value.len().min(MAX_LONG_NAME)]))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ustar header for a regular file (`typeflag`), then the data padded to a block.
    pub(crate) fn file(name: &str, data: &[u8], typeflag: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut out = h;
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    pub(crate) fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out: Vec<u8> = files.iter().flat_map(|(n, d)| file(n, d, b'0')).collect();
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    }

    #[test]
    fn files_in_order_with_long_names() {
        let long = "d/".repeat(80) + "deep.exe";
        let mut bytes = file("././@LongLink", long.as_bytes(), b'L');
        bytes.extend(archive(&[("short.txt", b"hello"), ("x.bin", &[1, 2, 3])]));
        let got = entries(&bytes, 10).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name.as_str(), got[0].data), (long.as_str(), &b"hello"[..]));
        assert_eq!((got[1].name.as_str(), got[1].data), ("x.bin", &[1u8, 2, 3][..]));
    }

    #[test]
    fn lying_sizes_and_bad_checksums_are_corrupt() {
        let mut bytes = archive(&[("a.txt", b"abc")]);
        bytes[124..135].copy_from_slice(b"77777777777");
        assert_eq!(entries(&bytes, 10), Err(Corrupt), "a size past the end, checksum bad");
        let mut cut = file("a.txt", &[7u8; 2000], b'0');
        cut.truncate(1024);
        assert_eq!(entries(&cut, 10), Err(Corrupt), "a file cut short");
    }

    #[test]
    fn the_entry_bound_stops_the_walk() {
        let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(entries(&archive(&files), 10).unwrap().len(), 11);
    }
}
