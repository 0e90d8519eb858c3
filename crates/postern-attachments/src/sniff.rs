//! What a file is, by its first bytes (its name is not asked): the containers the walk
//! opens, the formats it refuses by signature, and the archives it cannot open.
//!
//! In: the first bytes of a file (up to [`crate::walk::HEAD`]). Out: a [`Format`].
//! Executables are recognised by `executable.rs`, which reads their headers further.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A zip: a plain archive, an OOXML or OpenDocument file, a JAR.
    Zip,
    /// An OLE2 compound file: Word, Excel, PowerPoint 97-2003, MSI, a `vbaProject.bin`.
    Ole2,
    Gzip,
    /// A POSIX (ustar) or GNU tar archive.
    Tar,
    /// A Windows shortcut.
    Shortcut,
    /// ISO 9660 or UDF (optical disc), VHD or VHDX (virtual disk).
    DiskImage,
    /// A script with a `#!` interpreter line.
    Shebang,
    /// 7z, RAR, CAB, ACE, xz, bzip2, zstd: archives the walk cannot open.
    Unsupported,
    /// Anything else (text, PDF, images...): only the name is judged.
    Other,
}

/// The shell link header: its size (0x4C) and class id 00021401-0000-0000-C000-000000000046.
const LNK: &[u8] = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46";
const OLE2: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

const UNSUPPORTED: &[&[u8]] = &[
    b"7z\xbc\xaf\x27\x1c", // 7z
    b"Rar!\x1a\x07",       // RAR 4 and 5
    b"MSCF\0\0\0\0",       // Microsoft cabinet
    b"\xfd7zXZ\0",         // xz
    b"\x28\xb5\x2f\xfd",   // zstd
];

pub fn sniff(head: &[u8]) -> Format {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || head.starts_with(b"PK\x07\x08") {
        return Format::Zip;
    }
    if head.starts_with(OLE2) {
        return Format::Ole2;
    }
    if head.starts_with(b"\x1f\x8b\x08") {
        return Format::Gzip;
    }
    if head.starts_with(LNK) {
        return Format::Shortcut;
    }
    if is_unsupported(head) {
        return Format::Unsupported;
    }
    if is_tar(head) {
        return Format::Tar;
    }
    if is_disk_image(head) {
        return Format::DiskImage;
    }
    if head.starts_with(b"#!") && head.len() > 2 && matches!(head[2], b'/' | b' ' | b'\t') {
        return Format::Shebang;
    }
    Format::Other
}

fn is_unsupported(head: &[u8]) -> bool {
    let bzip2 = head.starts_with(b"BZh")
        && head.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        && head.get(4..10) == Some(b"\x31\x41\x59\x26\x53\x59");
    let ace = head.get(7..14) == Some(b"**ACE**");
    bzip2 || ace || UNSUPPORTED.iter().any(|sig| head.starts_with(sig))
}

/// A ustar or GNU tar header: the magic at 257 and a header checksum that adds up.
pub fn is_tar(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else { return false };
    (&block[257..262] == b"ustar") && crate::tar::checksum_ok(block)
}

/// ISO 9660 (`CD001`) or UDF (`BEA01`) volume descriptors from sector 16; VHD (`conectix`)
/// and VHDX (`vhdxfile`) headers.
fn is_disk_image(head: &[u8]) -> bool {
    let volume =
        [0x8001, 0x8801, 0x9001].iter().any(|&at| matches!(head.get(at..at + 5), Some(b"CD001") | Some(b"BEA01")));
    volume || head.starts_with(b"conectix") || head.starts_with(b"vhdxfile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(OLE2), Format::Ole2);
        assert_eq!(sniff(b"\x1f\x8b\x08\0"), Format::Gzip);
        assert_eq!(sniff(LNK), Format::Shortcut);
        assert_eq!(sniff(b"7z\xbc\xaf\x27\x1c\0\x04"), Format::Unsupported);
        assert_eq!(sniff(b"Rar!\x1a\x07\x01\0"), Format::Unsupported);
        assert_eq!(sniff(b"BZh91AY&SY"), Format::Unsupported);
        assert_eq!(sniff(b"#!/bin/sh\necho hi\n"), Format::Shebang);
        let mut iso = vec![0u8; 0x8800];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(sniff(&iso), Format::DiskImage);
    }

    #[test]
    fn ordinary_files_are_other() {
        for head in [&b"%PDF-1.7\n"[..], b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"Hello\n", b"BZh is a word", b"#!"]
        {
            assert_eq!(sniff(head), Format::Other, "{head:?}");
        }
    }
}
