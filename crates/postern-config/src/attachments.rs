//! The `[attachments]` section: the attachment checks' bounds (docs/CONFIG.md).
//!
//! In: the section as written. Out: an [`AttachmentsConfig`] whose every value is in range,
//! or the error naming the key.

use serde::Deserialize;

use crate::validate::num;
use crate::{AttachmentsConfig, ConfigError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachments {
    pub max_depth: Option<u64>,
    pub max_unpacked_bytes: Option<u64>,
    pub max_entries: Option<u64>,
    pub max_ratio: Option<u64>,
    pub max_message_bytes: Option<u64>,
}

/// Depth 1 to 32; unpacked bytes 1 MiB to 16 GiB; entries 1 to one million; ratio 10 to
/// 100,000; message 64 KiB to 4 GiB.
pub fn validate(raw: RawAttachments) -> Result<AttachmentsConfig, ConfigError> {
    let d = AttachmentsConfig::default();
    Ok(AttachmentsConfig {
        max_depth: num("attachments.max_depth", raw.max_depth, d.max_depth as u64, 1, 32)? as usize,
        max_unpacked_bytes: num(
            "attachments.max_unpacked_bytes",
            raw.max_unpacked_bytes,
            d.max_unpacked_bytes,
            1 << 20,
            16 << 30,
        )?,
        max_entries: num("attachments.max_entries", raw.max_entries, d.max_entries as u64, 1, 1_000_000)? as usize,
        max_ratio: num("attachments.max_ratio", raw.max_ratio, d.max_ratio, 10, 100_000)?,
        max_message_bytes: num(
            "attachments.max_message_bytes",
            raw.max_message_bytes,
            d.max_message_bytes,
            64 << 10,
            4 << 30,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, Defaults, Overrides};

    fn load(text: &str) -> Result<Config, crate::ConfigError> {
        let dir = std::env::temp_dir().join(format!("postern-config-attachments-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", text.len()));
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &Overrides::default(), &Defaults { hostname: "h.example".into() })
    }

    #[test]
    fn defaults_and_values() {
        let c = load("").unwrap();
        assert_eq!(c.attachments, crate::AttachmentsConfig::default());
        assert_eq!((c.attachments.max_depth, c.attachments.max_entries, c.attachments.max_ratio), (5, 1000, 100));
        let c = load("[attachments]\nmax_depth = 3\nmax_unpacked_bytes = 10485760\nmax_entries = 50\nmax_ratio = 200\nmax_message_bytes = 1048576\n").unwrap();
        assert_eq!(c.attachments.max_depth, 3);
        assert_eq!(c.attachments.max_unpacked_bytes, 10 << 20);
        assert_eq!(c.attachments.max_entries, 50);
        assert_eq!(c.attachments.max_ratio, 200);
        assert_eq!(c.attachments.max_message_bytes, 1 << 20);
    }

    #[test]
    fn out_of_range_and_unknown_keys_name_the_key() {
        let e = load("[attachments]\nmax_depth = 0\n").unwrap_err();
        assert_eq!(e.key, "attachments.max_depth");
        assert_eq!(e.line, Some(2));
        let e = load("[attachments]\nmax_ratio = 2\n").unwrap_err();
        assert_eq!(e.key, "attachments.max_ratio");
        let e = load("[attachments]\nmax_files = 2\n").unwrap_err();
        assert!(e.reason.contains("max_files"), "{e}");
    }
}
