//! One configuration error, printed as one line: `FILE:LINE: KEY: REASON`.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// Dotted key (`limits.max_hops`, `trusted_networks[1]`) or a flag (`--smtp`).
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn key(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError { file: None, line: None, key: key.into(), reason: reason.into() }
    }
}

/// One line whatever the parts hold: keys, values and paths come from the file (a quoted
/// TOML key may contain a newline), so control characters are written escaped (`\n`).
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write_escaped(f, &file.display().to_string())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write_escaped(f, &self.key)?;
            f.write_str(": ")?;
        }
        write_escaped(f, &self.reason)
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

/// Turns a TOML/serde error into one line with the key it happened at.
pub(crate) fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let reason = err.message().replace('\n', " ").trim().to_string();
    let (line, key) = match err.span() {
        Some(span) => locate(text, span.start),
        None => (None, String::new()),
    };
    ConfigError { file: Some(path.to_path_buf()), line, key, reason }
}

/// The 1-based line of `offset` and the dotted key written there (`[table]` + `key =`).
fn locate(text: &str, offset: usize) -> (Option<usize>, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let mut table = String::new();
    for line in text.lines().take(line_no) {
        let t = line.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let current = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let key = match current.split_once('=') {
        Some((k, _)) if !current.starts_with('[') => k.trim().trim_matches('"').to_string(),
        _ => String::new(),
    };
    let dotted = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    (Some(line_no), dotted)
}

/// The 1-based line where a dotted key (`limits.max_hops`, `trusted_networks[1]`,
/// `delivery.relay_hosts[0].tls`) is written, if it is.
pub(crate) fn line_of(text: &str, key: &str) -> Option<usize> {
    let strip = |s: &str| s.split('[').next().unwrap_or(s).trim().to_string();
    let parts: Vec<String> = key.split('.').map(strip).collect();
    let (name, table) = parts.split_last()?;
    let table = table.join(".");
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        if current == table
            && let Some((k, _)) = t.split_once('=')
            && k.trim().trim_matches('"') == name
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_in_tables() {
        let text = "hostname = \"a\"\n[limits]\nmax_hops = \"x\"\n";
        let offset = text.find("\"x\"").unwrap();
        assert_eq!(locate(text, offset), (Some(3), "limits.max_hops".to_string()));
        assert_eq!(line_of(text, "limits.max_hops"), Some(3));
        assert_eq!(line_of(text, "hostname"), Some(1));
        assert_eq!(line_of("x = 1\n[[delivery.relay_hosts]]\ntls = \"q\"\n", "delivery.relay_hosts[0].tls"), Some(3));
        assert_eq!(line_of(text, "trusted_networks[0]"), None);
    }
}
