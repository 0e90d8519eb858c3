//! Where a finding is: the names from the attachment down to the file inside archives,
//! joined with `/` (`invoice.zip/inner.zip/report.docm`).
//!
//! In: names as the sender wrote them (MIME file names, archive entry names: any bytes).
//! Out: a printable, bounded part name. Defends against control characters (CR and LF in a
//! file name must never reach a log line or a reply) and against names of any length: each
//! name is cut to [`MAX_NAME`] characters and the whole path to [`MAX_PART`], keeping the
//! end (the file that decided) and marking the cut with `...`.

/// Characters of one name kept.
pub const MAX_NAME: usize = 100;
/// Characters of a whole part name kept.
pub const MAX_PART: usize = 250;

/// The names from the attachment down to the file being looked at.
#[derive(Debug, Clone, Default)]
pub struct PartPath {
    names: Vec<String>,
}

impl PartPath {
    /// `self` with `name` appended (an unnamed file gets `unnamed`).
    pub fn child(&self, name: &str) -> PartPath {
        let mut names = self.names.clone();
        names.push(clean(name));
        PartPath { names }
    }

    /// The part name of a finding.
    pub fn display(&self) -> String {
        let joined = self.names.join("/");
        let count = joined.chars().count();
        if count <= MAX_PART {
            return joined;
        }
        let keep: String = joined.chars().skip(count - (MAX_PART - 3)).collect();
        format!("...{keep}")
    }
}

/// One name: control characters become `?`, a name longer than [`MAX_NAME`] keeps its start
/// and its end (the extension).
fn clean(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        return "unnamed".to_string();
    }
    let chars: Vec<char> = name.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if chars.len() <= MAX_NAME {
        return chars.into_iter().collect();
    }
    let head: String = chars[..MAX_NAME / 2 - 2].iter().collect();
    let tail: String = chars[chars.len() - (MAX_NAME / 2 - 1)..].iter().collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_with_slashes() {
        let p = PartPath::default().child("invoice.zip").child("inner.zip").child("report.docm");
        assert_eq!(p.display(), "invoice.zip/inner.zip/report.docm");
    }

    #[test]
    fn control_characters_and_empty_names_are_made_printable() {
        let p = PartPath::default().child("a\r\nb.exe").child("  ");
        assert_eq!(p.display(), "a??b.exe/unnamed");
    }

    #[test]
    fn long_names_keep_their_extension_and_long_paths_their_end() {
        let long = format!("{}.exe", "x".repeat(500));
        let one = PartPath::default().child(&long).display();
        assert!(one.chars().count() <= MAX_NAME && one.ends_with("xx.exe"), "{one}");
        let mut p = PartPath::default();
        for i in 0..20 {
            p = p.child(&format!("{}{i}.zip", "d".repeat(40)));
        }
        let shown = p.display();
        assert_eq!(shown.chars().count(), MAX_PART);
        assert!(shown.starts_with("...") && shown.ends_with("19.zip"), "{shown}");
    }
}
