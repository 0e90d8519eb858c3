//! gzip files (`.gz`, `.tgz`): the one file inside, unpacked through the walk's counted
//! reader (a gzip bomb is refused by its ratio or the message's unpacked total, never
//! unpacked whole), then looked at like any file.
//!
//! In: a gzip file's bytes and its name. Out: a [`Step`].

use flate2::read::MultiGzDecoder;

use crate::path::PartPath;
use crate::walk::{Content, Step, Walk};

impl Walk<'_> {
    pub(crate) fn gzip(&mut self, path: &PartPath, name: &str, bytes: &[u8], depth: usize) -> Step {
        let depth = self.enter(path, depth)?;
        self.count_entries(1, path)?;
        let inner = inner_name(name);
        let child = path.child(&inner);
        let (data, whole) = self.read_entry(MultiGzDecoder::new(bytes), bytes.len() as u64, 0, &child)?;
        self.file(&child, &inner, &Content { bytes: &data, whole }, depth, true)
    }
}

/// The name of the file inside: `logs.tar.gz` and `logs.tgz` hold `logs.tar`, `a.exe.gz`
/// holds `a.exe`.
fn inner_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tgz") {
        return format!("{}.tar", &name[..name.len() - 4]);
    }
    for ext in [".gz", ".gzip"] {
        if lower.ends_with(ext) && name.len() > ext.len() {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    "unnamed".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_names() {
        assert_eq!(inner_name("logs.tar.gz"), "logs.tar");
        assert_eq!(inner_name("logs.TGZ"), "logs.tar");
        assert_eq!(inner_name("a.exe.gz"), "a.exe");
        assert_eq!(inner_name("blob"), "unnamed");
    }
}
