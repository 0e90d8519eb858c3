//! Spool file format, version 1:
//!
//! ```text
//! POSTERN-SPOOL 1 <envelope-len> <message-len> <crc32-hex>\n
//! <envelope JSON, envelope-len octets><message, message-len octets>
//! ```
//!
//! The CRC-32 covers envelope and message. A reader accepts a file only when its size is
//! exactly what the header says, the CRC matches, the JSON parses, and the queue id inside
//! equals the file name. Anything else is corrupt.

use postern_core::{Envelope, QueueId};

const MAGIC: &str = "POSTERN-SPOOL 1";
const MAX_HEADER_LINE: usize = 128;

/// Encodes the header line and the envelope; the message parts follow as they are.
pub fn encode_prefix(envelope: &Envelope, parts: &[&[u8]]) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(envelope)?;
    let message_len: usize = parts.iter().map(|p| p.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&json);
    for part in parts {
        crc.update(part);
    }
    let mut out = format!("{MAGIC} {} {} {:08x}\n", json.len(), message_len, crc.finalize()).into_bytes();
    out.extend_from_slice(&json);
    Ok(out)
}

/// Decodes and verifies a whole spool file. `Err` says why it is corrupt.
pub fn decode(bytes: &[u8], expected: QueueId) -> Result<(Envelope, &[u8]), String> {
    let newline = bytes.iter().take(MAX_HEADER_LINE).position(|b| *b == b'\n').ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "header is not text")?;
    let mut fields = header.strip_prefix(MAGIC).ok_or("unknown format")?.split_ascii_whitespace();
    let mut number = |what: &str| -> Result<u64, String> {
        fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| format!("bad {what} in header"))
    };
    let env_len = usize::try_from(number("envelope length")?).map_err(|_| "envelope length")?;
    let msg_len = usize::try_from(number("message length")?).map_err(|_| "message length")?;
    let crc_text = fields.next().ok_or("no checksum in header")?;
    let want_crc = u32::from_str_radix(crc_text, 16).map_err(|_| "bad checksum in header")?;
    let rest = &bytes[newline + 1..];
    if Some(rest.len()) != env_len.checked_add(msg_len) {
        return Err(format!(
            "size mismatch: header says {} octets, file has {}",
            env_len.saturating_add(msg_len),
            rest.len()
        ));
    }
    if crc32fast::hash(rest) != want_crc {
        return Err("checksum mismatch".into());
    }
    let (json, message) = rest.split_at(env_len);
    let envelope: Envelope = serde_json::from_slice(json).map_err(|e| format!("bad envelope: {e}"))?;
    if envelope.queue_id != expected {
        return Err(format!("queue id {} does not match file name {expected}", envelope.queue_id));
    }
    Ok((envelope, message))
}
