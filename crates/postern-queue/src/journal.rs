//! The journal's on-disk format: segments of records, and the scan that reads one back.
//!
//! In: the bytes of one segment file. Out: its records in order — messages, tombstones,
//! padding — and the regions that are not records: a torn tail (written but never made
//! durable, so never acknowledged) or a corrupt record between good ones.
//!
//! ```text
//! segment  = header(32) record* zeros*
//! header   = "POSTERN-JOURNAL1" seq:u64 salt:u32 crc32(header[0..28]):u32
//! record   = "PSJ1" kind:u8 0 0 0 queue-id:20 ASCII env-len:u32 msg-len:u32
//!            body-crc:u32 header-crc:u32  envelope-JSON  message
//! ```
//!
//! Integers are little-endian. `body-crc` is the CRC-32 of envelope and message;
//! `header-crc` is the CRC-32 of the record header's first 40 octets, seeded with the
//! segment's random salt. The salt makes a record that a sender hid inside its own message
//! worthless: after a torn or corrupt header the scan looks for the next valid header, and
//! a forged one would have to guess the salt of a segment that did not exist when it was
//! sent. Kinds: 1 message, 2 tombstone (the message is finished; no body), 3 padding (a
//! corrupt region that was copied aside and neutralized; its body is ignored).
//!
//! Segments are filled with zeros before use (so that `fdatasync` never has to write
//! metadata); a run of zeros up to the end of the file is where the segment ends.

use postern_core::{Envelope, QueueId};

pub const SEGMENT_MAGIC: &[u8; 16] = b"POSTERN-JOURNAL1";
pub const SEGMENT_HEADER: usize = 32;
pub const RECORD_MAGIC: &[u8; 4] = b"PSJ1";
pub const RECORD_HEADER: usize = 44;
const ID_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message = 1,
    Tombstone = 2,
    Padding = 3,
}

/// The segment header: its sequence number and the salt of its record headers.
pub fn segment_header(seq: u64, salt: u32) -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[..16].copy_from_slice(SEGMENT_MAGIC);
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..28].copy_from_slice(&salt.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// `Ok((seq, salt))`, or why the segment header is not one.
pub fn parse_segment_header(bytes: &[u8]) -> Result<(u64, u32), String> {
    let h = bytes.get(..SEGMENT_HEADER).ok_or("shorter than a segment header")?;
    if &h[..16] != SEGMENT_MAGIC {
        return Err("not a journal segment".into());
    }
    if crc32fast::hash(&h[..28]).to_le_bytes() != h[28..32] {
        return Err("segment header checksum mismatch".into());
    }
    Ok((le_u64(&h[16..24]), le_u32(&h[24..28])))
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The start of a message record — header and envelope JSON — whose header CRC is still to
/// be sealed with the salt of the segment it goes to ([`seal`]); the message parts follow
/// it as they are (never copied into one buffer). Everything that costs (JSON, the CRC of
/// the message) is done before the writer takes the journal lock.
pub fn encode_message(envelope: &Envelope, parts: &[&[u8]]) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(envelope).map_err(|e| format!("cannot encode envelope: {e}"))?;
    let message_len: usize = parts.iter().map(|p| p.len()).sum();
    let env_len = u32::try_from(json.len()).map_err(|_| "envelope too large")?;
    let msg_len = u32::try_from(message_len).map_err(|_| "message too large for the journal (4 GiB)")?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&json);
    for part in parts {
        crc.update(part);
    }
    let mut out = Vec::with_capacity(RECORD_HEADER + json.len());
    out.resize(RECORD_HEADER, 0);
    out.extend_from_slice(&json);
    write_header(&mut out, Kind::Message, envelope.queue_id, env_len, msg_len, crc.finalize());
    Ok(out)
}

/// A tombstone: `id` is finished (delivered, bounced, deleted or moved aside).
pub fn encode_tombstone(id: QueueId) -> Vec<u8> {
    let mut out = vec![0u8; RECORD_HEADER];
    write_header(&mut out, Kind::Tombstone, id, 0, 0, crc32fast::hash(&[]));
    out
}

/// The header of a padding record that covers `len` octets (at least a header).
pub fn padding(len: usize, salt: u32) -> Option<[u8; RECORD_HEADER]> {
    let body = u32::try_from(len.checked_sub(RECORD_HEADER)?).ok()?;
    let mut out = [0u8; RECORD_HEADER];
    out[..4].copy_from_slice(RECORD_MAGIC);
    out[4] = Kind::Padding as u8;
    out[8..28].copy_from_slice(&[b'0'; ID_LEN]);
    out[32..36].copy_from_slice(&body.to_le_bytes());
    seal(&mut out, salt);
    Some(out)
}

fn write_header(out: &mut [u8], kind: Kind, id: QueueId, env_len: u32, msg_len: u32, body_crc: u32) {
    out[..4].copy_from_slice(RECORD_MAGIC);
    out[4] = kind as u8;
    out[5..8].fill(0);
    out[8..28].copy_from_slice(id.to_string().as_bytes());
    out[28..32].copy_from_slice(&env_len.to_le_bytes());
    out[32..36].copy_from_slice(&msg_len.to_le_bytes());
    out[36..40].copy_from_slice(&body_crc.to_le_bytes());
}

/// Seals a record header with the salt of its segment.
pub fn seal(record: &mut [u8], salt: u32) {
    let crc = header_crc(&record[..40], salt);
    record[40..44].copy_from_slice(&crc.to_le_bytes());
}

fn header_crc(bytes: &[u8], salt: u32) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(bytes);
    h.finalize()
}

/// A record header that checks out.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub kind: Kind,
    /// `None` for padding.
    pub id: Option<QueueId>,
    pub env_len: usize,
    pub msg_len: usize,
    pub body_crc: u32,
}

impl Header {
    /// The whole record's octets, header included.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER + self.env_len + self.msg_len
    }
}

/// The header at the start of `bytes`, if it is a valid one for this salt.
pub fn parse_header(bytes: &[u8], salt: u32) -> Option<Header> {
    let h = bytes.get(..RECORD_HEADER)?;
    if &h[..4] != RECORD_MAGIC || le_u32(&h[40..44]) != header_crc(&h[..40], salt) {
        return None;
    }
    let kind = match h[4] {
        1 => Kind::Message,
        2 => Kind::Tombstone,
        3 => Kind::Padding,
        _ => return None,
    };
    let id = std::str::from_utf8(&h[8..28]).ok().and_then(QueueId::parse);
    if kind != Kind::Padding && id.is_none() {
        return None;
    }
    Some(Header {
        kind,
        id,
        env_len: le_u32(&h[28..32]) as usize,
        msg_len: le_u32(&h[32..36]) as usize,
        body_crc: le_u32(&h[36..40]),
    })
}

/// Verifies one whole message record (as read back by its location) and decodes it: the
/// envelope, and where the message starts in `record`.
pub fn decode_message(record: &[u8], salt: u32, expected: QueueId) -> Result<(Envelope, usize), String> {
    let h = parse_header(record, salt).ok_or("bad record header")?;
    if h.kind != Kind::Message {
        return Err("not a message record".into());
    }
    if h.record_len() != record.len() {
        return Err(format!("size mismatch: header says {} octets, record has {}", h.record_len(), record.len()));
    }
    let (envelope, _) = check_body(&h, &record[RECORD_HEADER..], expected)?;
    Ok((envelope, RECORD_HEADER + h.env_len))
}

fn check_body<'a>(h: &Header, body: &'a [u8], expected: QueueId) -> Result<(Envelope, &'a [u8]), String> {
    if crc32fast::hash(body) != h.body_crc {
        return Err("checksum mismatch".into());
    }
    let (json, message) = body.split_at(h.env_len);
    let envelope: Envelope = serde_json::from_slice(json).map_err(|e| format!("bad envelope: {e}"))?;
    if envelope.queue_id != expected {
        return Err(format!("queue id {} does not match record header {expected}", envelope.queue_id));
    }
    Ok((envelope, message))
}

/// What a scan of one segment found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A verified message record at `off`, `len` octets.
    Message {
        id: QueueId,
        off: usize,
        len: usize,
    },
    Tombstone {
        id: QueueId,
    },
    /// A region that is no record, followed by valid records: corruption, never a crash
    /// (a crash only tears what comes after the last durable record). `id` when its
    /// header was still readable.
    Corrupt {
        off: usize,
        len: usize,
        id: Option<QueueId>,
        reason: String,
    },
}

/// One segment's records, and where its torn tail starts and ends (if it has one).
#[derive(Debug, Default)]
pub struct Scan {
    pub items: Vec<Item>,
    /// Octets after the last valid record that are not zeros: `(start, end)`.
    pub torn: Option<(usize, usize)>,
    /// Where the next record would go (after the last valid record or region).
    pub end: usize,
}

/// Reads a whole segment (`bytes`, its header included).
pub fn scan(bytes: &[u8], salt: u32) -> Scan {
    let mut out = Scan::default();
    let n = bytes.len();
    // One past the last non-zero octet: everything after it is the zero-filled tail.
    let used = bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1).max(SEGMENT_HEADER);
    let mut off = SEGMENT_HEADER;
    // A bad region waiting to learn whether a valid record follows it.
    let mut pending: Option<(usize, Option<QueueId>, String)> = None;
    let mut last_good_end = SEGMENT_HEADER;
    while off < used {
        let header = parse_header(&bytes[off..n], salt).filter(|h| off + h.record_len() <= n);
        let (start, id, reason, next) = match header {
            Some(h) => {
                let body = &bytes[off + RECORD_HEADER..off + h.record_len()];
                let verdict = match (h.kind, h.id) {
                    (Kind::Padding, _) => Ok(None),
                    (Kind::Tombstone, Some(id)) => Ok(Some(Item::Tombstone { id })),
                    (Kind::Message, Some(id)) => {
                        check_body(&h, body, id).map(|_| Some(Item::Message { id, off, len: h.record_len() }))
                    }
                    _ => Err("record without a queue id".to_string()),
                };
                match verdict {
                    Ok(item) => {
                        if let Some((start, id, reason)) = pending.take() {
                            out.items.push(Item::Corrupt { off: start, len: off - start, id, reason });
                        }
                        out.items.extend(item);
                        off += h.record_len();
                        last_good_end = off;
                        continue;
                    }
                    Err(reason) => (off, h.id, reason, off + h.record_len()),
                }
            }
            None => {
                let reason = if bytes[off..(off + RECORD_HEADER).min(n)].iter().all(|b| *b == 0) {
                    "zeros between records".to_string()
                } else {
                    "bad record header".to_string()
                };
                let next = next_header(bytes, off + 1, salt).unwrap_or(used);
                (off, None, reason, next)
            }
        };
        if pending.is_none() {
            pending = Some((start, id, reason));
        }
        off = next;
    }
    if pending.is_some() {
        out.torn = Some((last_good_end, used));
    }
    out.end = if out.torn.is_some() { last_good_end } else { off.max(last_good_end) };
    out
}

/// The next offset at or after `from` where a valid header (with a body that fits) starts.
fn next_header(bytes: &[u8], from: usize, salt: u32) -> Option<usize> {
    let n = bytes.len();
    let mut at = from;
    while at + RECORD_HEADER <= n {
        let rel = bytes[at..].windows(4).position(|w| w == RECORD_MAGIC)?;
        at += rel;
        if parse_header(&bytes[at..], salt).is_some_and(|h| at + h.record_len() <= n) {
            return Some(at);
        }
        at += 1;
    }
    None
}
