//! What the walk can find: every [`Rule`] with its name (shown in the reply, the log and the
//! trace), the account setting that turns it on ([`Gate`]), and the [`Finding`] that names
//! the rule and the part it was found in.
//!
//! In: nothing (plain values). Out: rules, findings, and [`Checks`], the account's settings
//! as the walk reads them.

/// Every verdict the attachment checks can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    // --- Macros (`checks.block_macros`).
    /// An OLE2 document (Word 97-2003, Excel 97-2003, a `vbaProject.bin`...) holding a VBA
    /// project: a `VBA` storage with its `dir` stream.
    Ole2VbaMacro,
    /// An OOXML document (`.docm`, `.xlsm`, `.pptm`, whatever its name) with a
    /// `vbaProject.bin` or a macro-enabled content type.
    OoxmlVbaMacro,
    /// An Excel 4.0 (XLM) macro sheet: OOXML `xl/macrosheets/`, or a BIFF8 sheet of the macro
    /// type in an `.xls` workbook.
    XlmMacroSheet,
    /// An OpenDocument file with Basic modules or scripts (`Basic/`, `Scripts/`).
    OdfMacro,
    // --- Dangerous attachments (`checks.block_dangerous_attachments`).
    /// A Windows executable (PE: `.exe`, `.dll`, `.scr`, `.cpl`... by content).
    PeExecutable,
    /// A Linux/Unix executable or shared object (ELF).
    ElfExecutable,
    /// A macOS executable (Mach-O, also universal binaries).
    MachoExecutable,
    /// An executable compressed by a packer (UPX, MPRESS, ASPack...).
    PackedExecutable,
    /// A script: by name (`.js .vbs .ps1 .bat .cmd .hta .wsf`...) or a `#!` first line.
    ScriptFile,
    /// A file named as an executable (`.exe .com .pif .cpl .scr .dll`) whose content is no
    /// executable format the walk knows.
    ExecutableFile,
    /// A Windows shortcut (`.lnk`, by its header or its name).
    ShortcutFile,
    /// A Java archive (`.jar`, or any zip with `META-INF/MANIFEST.MF`).
    JavaArchive,
    /// A Windows Installer package (`.msi`, `.msp`: OLE2 with the installer's class id).
    WindowsInstaller,
    /// A disk image (ISO 9660 or UDF, VHD, VHDX; `.iso .img .vhd .vhdx`).
    DiskImage,
    /// An archive format the walk cannot open (7z, RAR, CAB, xz, bzip2, zstd, or a zip
    /// entry compressed by a method other than stored and deflate).
    ArchiveUnsupported,
    // --- Encrypted (`checks.block_encrypted_archives`, with either attachment setting on).
    /// A zip entry encrypted (ZipCrypto or AES).
    EncryptedArchive,
    /// A password-protected Office document (OLE2 `EncryptionInfo` and `EncryptedPackage`).
    EncryptedDocument,
    // --- Beyond the bounds (whenever the attachment checks run).
    /// An entry that unpacks to more than `max_ratio` times its compressed size, or archive
    /// entries sharing their compressed data: a zip bomb.
    ArchiveBomb,
    /// More unpacked bytes in the message than `max_unpacked_bytes`.
    ArchiveTooLarge,
    /// More archive entries in the message than `max_entries`.
    ArchiveTooManyEntries,
    /// Containers nested deeper than `max_depth`.
    ArchiveTooDeep,
    /// An archive or OLE2 document whose structure cannot be read.
    ArchiveCorrupt,
}

/// Which account setting a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `checks.block_macros`.
    Macros,
    /// `checks.block_dangerous_attachments`.
    Dangerous,
    /// `checks.block_encrypted_archives`.
    Encrypted,
    /// Always, when the attachment checks run at all.
    Bounds,
}

/// What the block says in its own words (mapped onto the pipeline's block kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Macros,
    Dangerous,
    Encrypted,
    Unscannable,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Ole2VbaMacro => "OLE2_VBA_MACRO",
            Rule::OoxmlVbaMacro => "OOXML_VBA_MACRO",
            Rule::XlmMacroSheet => "XLM_MACRO_SHEET",
            Rule::OdfMacro => "ODF_MACRO",
            Rule::PeExecutable => "PE_EXECUTABLE",
            Rule::ElfExecutable => "ELF_EXECUTABLE",
            Rule::MachoExecutable => "MACHO_EXECUTABLE",
            Rule::PackedExecutable => "PACKED_EXECUTABLE",
            Rule::ScriptFile => "SCRIPT_FILE",
            Rule::ExecutableFile => "EXECUTABLE_FILE",
            Rule::ShortcutFile => "SHORTCUT_FILE",
            Rule::JavaArchive => "JAVA_ARCHIVE",
            Rule::WindowsInstaller => "WINDOWS_INSTALLER",
            Rule::DiskImage => "DISK_IMAGE",
            Rule::ArchiveUnsupported => "ARCHIVE_UNSUPPORTED",
            Rule::EncryptedArchive => "ENCRYPTED_ARCHIVE",
            Rule::EncryptedDocument => "ENCRYPTED_DOCUMENT",
            Rule::ArchiveBomb => "ARCHIVE_BOMB",
            Rule::ArchiveTooLarge => "ARCHIVE_TOO_LARGE",
            Rule::ArchiveTooManyEntries => "ARCHIVE_TOO_MANY_ENTRIES",
            Rule::ArchiveTooDeep => "ARCHIVE_TOO_DEEP",
            Rule::ArchiveCorrupt => "ARCHIVE_CORRUPT",
        }
    }

    pub fn gate(self) -> Gate {
        match self {
            Rule::Ole2VbaMacro | Rule::OoxmlVbaMacro | Rule::XlmMacroSheet | Rule::OdfMacro => Gate::Macros,
            Rule::EncryptedArchive | Rule::EncryptedDocument => Gate::Encrypted,
            Rule::ArchiveBomb
            | Rule::ArchiveTooLarge
            | Rule::ArchiveTooManyEntries
            | Rule::ArchiveTooDeep
            | Rule::ArchiveCorrupt => Gate::Bounds,
            // An archive that cannot be opened may hold anything: with only macros blocked
            // it passes, as a RAR of spreadsheets should.
            _ => Gate::Dangerous,
        }
    }

    pub fn kind(self) -> Kind {
        match self.gate() {
            Gate::Macros => Kind::Macros,
            Gate::Encrypted => Kind::Encrypted,
            Gate::Bounds => Kind::Unscannable,
            Gate::Dangerous if self == Rule::ArchiveUnsupported => Kind::Unscannable,
            Gate::Dangerous => Kind::Dangerous,
        }
    }
}

/// The account's attachment settings, as the walk applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checks {
    pub macros: bool,
    pub dangerous: bool,
    pub encrypted: bool,
}

impl Checks {
    /// Every check on (tests and the benchmark).
    pub const ALL: Checks = Checks { macros: true, dangerous: true, encrypted: true };

    pub fn applies(self, rule: Rule) -> bool {
        match rule.gate() {
            Gate::Macros => self.macros,
            Gate::Dangerous => self.dangerous,
            Gate::Encrypted => self.encrypted,
            Gate::Bounds => true,
        }
    }
}

/// A rule that applied, and where: the attachment's file name with the path inside
/// archives (`invoice.zip/inner.zip/report.docm`), at most [`crate::path::MAX_PART`]
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub part: String,
}
