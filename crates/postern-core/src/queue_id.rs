//! Queue identifiers: 20 upper-case hex digits, microseconds since the epoch followed by 24
//! random bits, so they sort by arrival and never collide in practice.
//!
//! A queue id also names the spool file, so [`QueueId::parse`] accepts nothing that could
//! be a path: exactly 20 characters `0-9A-F`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(u128);

const LEN: usize = 20;

impl QueueId {
    pub fn generate() -> QueueId {
        let micros =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0) & 0x00FF_FFFF_FFFF_FFFF; // 56 bits: good until the year 4253
        let mut random = [0u8; 3];
        // A failing OS random source is not fatal here: the time part still orders ids,
        // and the spool refuses to overwrite an existing file.
        let _ = getrandom::fill(&mut random);
        let rand = u128::from(u32::from_be_bytes([0, random[0], random[1], random[2]]));
        QueueId((micros << 24) | rand)
    }

    pub fn parse(text: &str) -> Option<QueueId> {
        if text.len() != LEN || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')) {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(QueueId)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020X}", self.0)
    }
}

impl Serialize for QueueId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for QueueId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<QueueId, D::Error> {
        let text = String::deserialize(d)?;
        QueueId::parse(&text).ok_or_else(|| serde::de::Error::custom("invalid queue id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = QueueId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = QueueId::generate();
        assert!(a < b);
        assert_eq!(a.to_string().len(), 20);
        assert_eq!(QueueId::parse(&a.to_string()), Some(a));
        assert_eq!(QueueId::parse("../../etc/passwd0000"), None);
        assert_eq!(QueueId::parse("0123456789abcdef0123"), None);
    }
}
