//! Executables by content: PE (Windows), ELF (Linux/Unix), Mach-O (macOS), and whether a
//! packer compressed them (UPX and others: the real code is unpacked only when run).
//!
//! In: the first bytes of a file (at least the headers: the caller passes up to
//! [`crate::walk::HEAD`] bytes). Out: an [`Executable`] or nothing. Every offset read from
//! the file is checked against the bytes at hand: a truncated or lying header is no
//! executable (the walk's other checks, and the name, still apply).

use memchr::memmem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pe,
    Elf,
    MachO,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executable {
    pub format: Format,
    pub packed: bool,
}

/// PE section names of known packers.
const PACKER_SECTIONS: &[&[u8]] = &[
    b"UPX0",
    b"UPX1",
    b"UPX2",
    b".UPX0",
    b".UPX1",
    b"UPX!",
    b".aspack",
    b".adata",
    b".MPRESS1",
    b".MPRESS2",
    b".petite",
    b".nsp0",
    b".nsp1",
    b".vmp0",
    b".vmp1",
    b".themida",
    b".enigma1",
    b".packed",
    b"PEC2TO",
    b"PEC2",
    b"pec1",
    b"kkrunchy",
];

/// What `head` is, when it is an executable.
pub fn detect(head: &[u8]) -> Option<Executable> {
    let format = if is_pe(head) {
        Format::Pe
    } else if head.starts_with(b"\x7fELF") && head.len() >= 20 && matches!(head[4], 1 | 2) {
        Format::Elf
    } else if is_macho(head) {
        Format::MachO
    } else {
        return None;
    };
    let packed = upx_marker(head) || (format == Format::Pe && pe_sections(head).iter().any(|s| packer_section(s)));
    Some(Executable { format, packed })
}

/// `MZ`, and at the offset the DOS header names, the `PE\0\0` signature.
fn is_pe(head: &[u8]) -> bool {
    pe_offset(head).is_some()
}

fn pe_offset(head: &[u8]) -> Option<usize> {
    if !head.starts_with(b"MZ") {
        return None;
    }
    let at = u32::from_le_bytes(head.get(0x3c..0x40)?.try_into().ok()?) as usize;
    (head.get(at..at.checked_add(4)?)? == b"PE\0\0").then_some(at)
}

/// The section names of a PE's section table (as far as `head` holds it).
fn pe_sections(head: &[u8]) -> Vec<&[u8]> {
    let Some(pe) = pe_offset(head) else { return Vec::new() };
    let read16 = |at: usize| head.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let (Some(count), Some(optional)) = (read16(pe + 6), read16(pe + 20)) else { return Vec::new() };
    let table = pe + 24 + optional;
    (0..count.min(96))
        .filter_map(|i| head.get(table + i * 40..table + i * 40 + 8))
        .map(|name| &name[..name.iter().position(|&b| b == 0).unwrap_or(8)])
        .collect()
}

fn packer_section(name: &[u8]) -> bool {
    PACKER_SECTIONS.iter().any(|p| name.eq_ignore_ascii_case(p))
}

/// UPX writes `UPX!` into the headers of everything it packs (PE, ELF, Mach-O).
fn upx_marker(head: &[u8]) -> bool {
    memmem::find(&head[..head.len().min(8192)], b"UPX!").is_some()
}

/// Mach-O (32 and 64 bits, either byte order) or a universal binary. A universal binary
/// shares `CAFEBABE` with Java class files: a class file's next word is its version (45 and
/// up), a universal binary's the number of architectures (a handful).
fn is_macho(head: &[u8]) -> bool {
    let Some(magic) = head.get(0..4) else { return false };
    match magic {
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => head.len() >= 28,
        [0xca, 0xfe, 0xba, 0xbe] | [0xca, 0xfe, 0xba, 0xbf] => {
            let count = head.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            matches!(count, Some(1..=20))
        }
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal PE: DOS header pointing at `PE\0\0`, a COFF header, no optional header, and
    /// the given sections.
    pub(crate) fn tiny_pe(sections: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 0x80];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        b[0x44..0x46].copy_from_slice(&0x14cu16.to_le_bytes());
        b[0x46..0x48].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        b.truncate(0x40 + 24);
        for s in sections {
            let mut entry = [0u8; 40];
            entry[..s.len()].copy_from_slice(s.as_bytes());
            b.extend_from_slice(&entry);
        }
        b.extend_from_slice(&[0x90; 64]);
        b
    }

    #[test]
    fn pe_elf_and_macho_headers() {
        assert_eq!(detect(&tiny_pe(&[".text", ".data"])), Some(Executable { format: Format::Pe, packed: false }));
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0);
        assert_eq!(detect(&elf).map(|e| e.format), Some(Format::Elf));
        let mut macho = vec![0xcf, 0xfa, 0xed, 0xfe];
        macho.resize(64, 0);
        assert_eq!(detect(&macho).map(|e| e.format), Some(Format::MachO));
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        fat.resize(64, 0);
        assert_eq!(detect(&fat).map(|e| e.format), Some(Format::MachO));
    }

    #[test]
    fn packed_by_section_name_or_marker() {
        assert!(detect(&tiny_pe(&["UPX0", "UPX1", ".rsrc"])).unwrap().packed);
        assert!(detect(&tiny_pe(&[".MPRESS1"])).unwrap().packed);
        let mut elf = b"\x7fELF\x01\x01\x01".to_vec();
        elf.resize(200, 0);
        elf.extend_from_slice(b"UPX!");
        assert!(detect(&elf).unwrap().packed);
    }

    #[test]
    fn look_alikes_are_not_executables() {
        let mut class = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52];
        class.resize(64, 0);
        assert_eq!(detect(&class), None, "a Java class file");
        assert_eq!(detect(b"MZ is where the text starts, not a program"), None);
        let mut lying = tiny_pe(&[]);
        lying[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(detect(&lying), None, "e_lfanew out of bounds");
        assert_eq!(detect(b"\x7fELF"), None, "truncated");
    }
}
