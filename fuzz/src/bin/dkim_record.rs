//! AFL target: a DKIM key record as DNS returns it (RFC 6376 §3.6.1). Crashes on a panic,
//! or a key read with whitespace left in `p=`.
use postern_dkim::record::parse_record;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        if let Some(key) = parse_record(&text) {
            assert!(!key.public_key.chars().any(|c| c.is_ascii_whitespace()));
        }
    });
}
