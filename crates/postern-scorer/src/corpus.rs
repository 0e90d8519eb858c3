//! Messages of the SpamAssassin public corpus as `scripts/fetch-corpus.sh` leaves them:
//! one JSON file per message (`{"id", "group", "checksum", "text"}`) in a directory per
//! group. Only the groups easy-ham-1 and spam-1 are ever read by Postern's tools.
//!
//! In: a group directory (or one file). Out: the messages' bytes, sorted by file name (so
//! that folds and models are reproducible).

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The groups Postern trains, tunes and evaluates on; every other group is refused.
pub const ALLOWED_GROUPS: &[&str] = &["easy-ham-1", "spam-1"];
const LARGEST_FILE: u64 = 16 << 20;

#[derive(serde::Deserialize)]
struct Entry {
    text: String,
}

/// Every message of a group directory (its name must be an allowed group).
pub fn read_group(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !ALLOWED_GROUPS.contains(&name) {
        bail!("{}: only the corpus groups {} are used", dir.display(), ALLOWED_GROUPS.join(" and "));
    }
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_message(p)).collect()
}

/// One message: the text of a corpus JSON file (by its `.json` ending), or a raw message.
pub fn read_message(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len();
    if size > LARGEST_FILE {
        bail!("{}: larger than {LARGEST_FILE} bytes", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    if path.extension().is_none_or(|x| x != "json") {
        return Ok(bytes);
    }
    let entry: Entry = serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok(entry.text.into_bytes())
}
