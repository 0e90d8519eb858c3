//! Dangerous file names: what a name alone says, for files whose content has no signature
//! (scripts) or that a recipient's system opens by name whatever they hold.
//!
//! In: a file name as the sender wrote it. Out: the [`Rule`] its extension earns, if any.
//! Windows ignores trailing dots and spaces (`run.exe.` opens as `run.exe`) and case, so
//! they are ignored here too.

use crate::finding::Rule;

/// Extensions and the rule each earns (lower case, without the dot).
const EXTENSIONS: &[(&str, Rule)] = &[
    // Scripts Windows runs on a double click (Script Host, PowerShell, cmd, mshta).
    ("js", Rule::ScriptFile),
    ("jse", Rule::ScriptFile),
    ("vbs", Rule::ScriptFile),
    ("vbe", Rule::ScriptFile),
    ("vb", Rule::ScriptFile),
    ("ps1", Rule::ScriptFile),
    ("psm1", Rule::ScriptFile),
    ("bat", Rule::ScriptFile),
    ("cmd", Rule::ScriptFile),
    ("hta", Rule::ScriptFile),
    ("wsf", Rule::ScriptFile),
    ("wsh", Rule::ScriptFile),
    ("wsc", Rule::ScriptFile),
    ("sct", Rule::ScriptFile),
    // Executables by name.
    ("exe", Rule::ExecutableFile),
    ("com", Rule::ExecutableFile),
    ("pif", Rule::ExecutableFile),
    ("cpl", Rule::ExecutableFile),
    ("scr", Rule::ExecutableFile),
    ("dll", Rule::ExecutableFile),
    ("lnk", Rule::ShortcutFile),
    ("jar", Rule::JavaArchive),
    ("msi", Rule::WindowsInstaller),
    ("msp", Rule::WindowsInstaller),
    ("iso", Rule::DiskImage),
    ("img", Rule::DiskImage),
    ("vhd", Rule::DiskImage),
    ("vhdx", Rule::DiskImage),
];

/// The rule a file name earns by its extension.
pub fn rule(name: &str) -> Option<Rule> {
    let name = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace() || c == '\0');
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (_, ext) = base.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, rule)| *rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_extensions_whatever_their_case_and_trailing_dots() {
        assert_eq!(rule("invoice.pdf.JS"), Some(Rule::ScriptFile));
        assert_eq!(rule("run.exe. "), Some(Rule::ExecutableFile));
        assert_eq!(rule("dir\\setup.msi"), Some(Rule::WindowsInstaller));
        assert_eq!(rule("Desktop.lnk"), Some(Rule::ShortcutFile));
        assert_eq!(rule("disk.iso"), Some(Rule::DiskImage));
        assert_eq!(rule("app.jar"), Some(Rule::JavaArchive));
    }

    #[test]
    fn documents_and_names_without_extension_pass() {
        for name in ["report.pdf", "photo.jpeg", "notes.txt", "exe", ".bashrc", "a.docx", "archive.zip", ""] {
            assert_eq!(rule(name), None, "{name}");
        }
    }
}
