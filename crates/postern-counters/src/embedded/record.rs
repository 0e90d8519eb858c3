//! The byte format of the embedded backend's files: a file header, then framed records.
//!
//! In: records to encode (bucket values set, a key reset); bytes read back from a file.
//! Out: bytes to append; records decoded one by one, stopping at the first damage. Defends
//! against torn writes and flipped bits (every frame carries its length and a CRC-32, and
//! lengths are bounded before anything is allocated) and against files of another kind or
//! version (the header has a magic, the generation and its own CRC).
//!
//! Header: `magic (8) | generation u64 LE | crc32(magic, generation) u32 LE`.
//! Frame: `payload length u32 LE | crc32(payload) u32 LE | payload`.
//! Payloads: `1 | key len u16 | key | window ms u64 | n u16 | n x (bucket i64, value u64)`
//! sets each bucket to its value (0 removes it); `2 | key len u16 | key` forgets a key;
//! `3 | key len u16 | key | expires ms i64 | len u32 | bytes` sets a key's blob (empty: none).
//! Values are absolute, so replaying a record twice, or a journal over a snapshot that
//! already holds some of its effects, gives the same state.

use std::io::{self, Read};

use crate::window::MAX_KEY_LEN;

pub(crate) const HEADER_LEN: usize = 20;
pub(crate) const JOURNAL_MAGIC: &[u8; 8] = b"PCJRNL01";
pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"PCSNAP01";

/// Frames above this are damage, not data (a key is at most 512 bytes).
const MAX_PAYLOAD: usize = 64 * 1024;
/// Buckets per set record, so that a record always fits in [`MAX_PAYLOAD`].
const MAX_BUCKETS_PER_RECORD: usize = 1024;
const TAG_SET: u8 = 1;
const TAG_RESET: u8 = 2;
const TAG_BLOB: u8 = 3;

/// One decoded record; the key borrows the reader's buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    Set {
        key: &'a str,
        window_ms: u64,
        buckets: Vec<(i64, u64)>,
    },
    Reset {
        key: &'a str,
    },
    /// The blob of `key` is `value` until `expires_ms` (an empty value: no blob).
    Blob {
        key: &'a str,
        expires_ms: i64,
        value: Vec<u8>,
    },
}

/// Why reading stopped before the end of a file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Damage {
    #[error("file ends inside a record (torn write)")]
    Truncated,
    #[error("record length {0} is out of bounds")]
    BadLength(u32),
    #[error("record checksum mismatch")]
    BadChecksum,
    #[error("record payload is malformed: {0}")]
    BadPayload(&'static str),
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub(crate) fn header(magic: &[u8; 8], generation: u64) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(magic);
    out[8..16].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&out[..16]);
    out[16..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The generation in a header, if the header is whole, of the `magic` kind and intact.
pub(crate) fn read_header(input: &mut impl Read, magic: &[u8; 8]) -> Result<u64, Damage> {
    let mut buf = [0u8; HEADER_LEN];
    if read_full(input, &mut buf)? < HEADER_LEN {
        return Err(Damage::Truncated);
    }
    if &buf[..8] != magic {
        return Err(Damage::BadPayload("not a counters file of this kind or version"));
    }
    if crc32fast::hash(&buf[..16]).to_le_bytes() != buf[16..] {
        return Err(Damage::BadChecksum);
    }
    Ok(u64::from_le_bytes(le_array(&buf[8..16])))
}

/// Appends set records for `buckets` (split if there are very many).
pub(crate) fn encode_set(out: &mut Vec<u8>, key: &str, window_ms: u64, buckets: &[(i64, u64)]) {
    for chunk in buckets.chunks(MAX_BUCKETS_PER_RECORD) {
        frame(out, |p| {
            p.push(TAG_SET);
            put_key(p, key);
            p.extend_from_slice(&window_ms.to_le_bytes());
            p.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
            for (index, value) in chunk {
                p.extend_from_slice(&index.to_le_bytes());
                p.extend_from_slice(&value.to_le_bytes());
            }
        });
    }
}

pub(crate) fn encode_reset(out: &mut Vec<u8>, key: &str) {
    frame(out, |p| {
        p.push(TAG_RESET);
        put_key(p, key);
    });
}

/// Appends a blob record (values are at most [`crate::MAX_BLOB_LEN`] bytes, checked by
/// the caller, so the record fits in [`MAX_PAYLOAD`]).
pub(crate) fn encode_blob(out: &mut Vec<u8>, key: &str, expires_ms: i64, value: &[u8]) {
    frame(out, |p| {
        p.push(TAG_BLOB);
        put_key(p, key);
        p.extend_from_slice(&expires_ms.to_le_bytes());
        p.extend_from_slice(&(value.len() as u32).to_le_bytes());
        p.extend_from_slice(value);
    });
}

fn put_key(p: &mut Vec<u8>, key: &str) {
    // Keys are checked (1..=512 bytes) before they reach the journal.
    p.extend_from_slice(&(key.len() as u16).to_le_bytes());
    p.extend_from_slice(key.as_bytes());
}

fn frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    payload(out);
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads records one at a time from a file positioned after its header.
pub(crate) struct RecordReader<R> {
    input: R,
    payload: Vec<u8>,
    /// Bytes of whole records read so far (where the damage starts, when there is some).
    pub(crate) good_bytes: u64,
}

impl<R: Read> RecordReader<R> {
    pub(crate) fn new(input: R) -> RecordReader<R> {
        RecordReader { input, payload: Vec::new(), good_bytes: 0 }
    }

    /// The next record; `None` at a clean end of file.
    pub(crate) fn next_record(&mut self) -> Option<Result<Record<'_>, Damage>> {
        match self.read_frame() {
            Ok(false) => None,
            Ok(true) => {
                let result = decode(&self.payload);
                if result.is_ok() {
                    self.good_bytes += 8 + self.payload.len() as u64;
                }
                Some(result)
            }
            Err(damage) => Some(Err(damage)),
        }
    }

    /// Reads one frame into `self.payload`; false at a clean end of file.
    fn read_frame(&mut self) -> Result<bool, Damage> {
        let mut head = [0u8; 8];
        match read_full(&mut self.input, &mut head)? {
            0 => return Ok(false),
            8 => {}
            _ => return Err(Damage::Truncated),
        }
        let len = u32::from_le_bytes(le_array(&head[..4]));
        let crc = u32::from_le_bytes(le_array(&head[4..]));
        if len == 0 || len as usize > MAX_PAYLOAD {
            return Err(Damage::BadLength(len));
        }
        self.payload.resize(len as usize, 0);
        if read_full(&mut self.input, &mut self.payload)? < len as usize {
            return Err(Damage::Truncated);
        }
        if crc32fast::hash(&self.payload) != crc {
            return Err(Damage::BadChecksum);
        }
        Ok(true)
    }
}

fn decode(payload: &[u8]) -> Result<Record<'_>, Damage> {
    let mut cursor = Cursor { rest: payload };
    let tag = cursor.take(1)?[0];
    let key_len = u16::from_le_bytes(le_array(cursor.take(2)?)) as usize;
    let key = std::str::from_utf8(cursor.take(key_len)?).map_err(|_| Damage::BadPayload("key is not UTF-8"))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Damage::BadPayload("key length"));
    }
    let record = match tag {
        TAG_SET => {
            let window_ms = u64::from_le_bytes(le_array(cursor.take(8)?));
            let n = u16::from_le_bytes(le_array(cursor.take(2)?)) as usize;
            let mut buckets = Vec::with_capacity(n.min(MAX_BUCKETS_PER_RECORD));
            for _ in 0..n {
                let index = i64::from_le_bytes(le_array(cursor.take(8)?));
                let value = u64::from_le_bytes(le_array(cursor.take(8)?));
                buckets.push((index, value));
            }
            Record::Set { key, window_ms, buckets }
        }
        TAG_RESET => Record::Reset { key },
        TAG_BLOB => {
            let expires_ms = i64::from_le_bytes(le_array(cursor.take(8)?));
            let len = u32::from_le_bytes(le_array(cursor.take(4)?)) as usize;
            if len > crate::MAX_BLOB_LEN {
                return Err(Damage::BadPayload("blob length"));
            }
            Record::Blob { key, expires_ms, value: cursor.take(len)?.to_vec() }
        }
        _ => return Err(Damage::BadPayload("unknown record type")),
    };
    if !cursor.rest.is_empty() {
        return Err(Damage::BadPayload("trailing bytes"));
    }
    Ok(record)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        if self.rest.len() < n {
            return Err(Damage::BadPayload("record shorter than its fields"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }
}

/// Copies a slice of known length into an array (lengths are fixed by the callers).
fn le_array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode_set(&mut out, "account:a", 60_000, &[(10, 3), (11, 0)]);
        encode_reset(&mut out, "account:b");
        encode_set(&mut out, "account:c", 3_600_000, &[(-5, u64::MAX)]);
        out
    }

    fn read_all(bytes: &[u8]) -> (Vec<String>, Option<String>) {
        let mut reader = RecordReader::new(bytes);
        let mut seen = Vec::new();
        loop {
            match reader.next_record() {
                None => return (seen, None),
                Some(Ok(record)) => seen.push(format!("{record:?}")),
                Some(Err(damage)) => return (seen, Some(damage.to_string())),
            }
        }
    }

    #[test]
    fn records_round_trip() {
        let bytes = sample();
        let mut reader = RecordReader::new(&bytes[..]);
        assert_eq!(
            reader.next_record().unwrap().unwrap(),
            Record::Set { key: "account:a", window_ms: 60_000, buckets: vec![(10, 3), (11, 0)] }
        );
        assert_eq!(reader.next_record().unwrap().unwrap(), Record::Reset { key: "account:b" });
        assert_eq!(
            reader.next_record().unwrap().unwrap(),
            Record::Set { key: "account:c", window_ms: 3_600_000, buckets: vec![(-5, u64::MAX)] }
        );
        assert!(reader.next_record().is_none());
        assert_eq!(reader.good_bytes, bytes.len() as u64);
    }

    #[test]
    fn a_torn_tail_keeps_the_whole_records() {
        let bytes = sample();
        for cut in 1..bytes.len() {
            let (seen, damage) = read_all(&bytes[..cut]);
            assert!(seen.len() < 3);
            let whole = [0usize, 1, 2].iter().filter(|&&i| frame_end(&bytes, i) <= cut).count();
            assert_eq!(seen.len(), whole, "cut at {cut}");
            let boundaries = [frame_end(&bytes, 0), frame_end(&bytes, 1)];
            assert_eq!(damage.is_some(), !boundaries.contains(&cut), "cut at {cut}");
        }
    }

    fn frame_end(bytes: &[u8], index: usize) -> usize {
        let mut pos = 0;
        for _ in 0..=index {
            pos += 8 + u32::from_le_bytes(le_array(&bytes[pos..pos + 4])) as usize;
        }
        pos
    }

    #[test]
    fn flipped_bits_stop_reading_at_the_damaged_record() {
        let clean = sample();
        for i in 0..clean.len() {
            let mut bytes = clean.clone();
            bytes[i] ^= 0x40;
            let (seen, damage) = read_all(&bytes);
            assert!(damage.is_some(), "flip at {i} went unnoticed");
            let first_damaged = (0..3).find(|&r| frame_end(&clean, r) > i).unwrap();
            assert_eq!(seen.len(), first_damaged, "flip at {i}");
        }
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        let mut bytes = vec![0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0u8; 16]);
        let (_, damage) = read_all(&bytes);
        assert!(damage.unwrap().contains("out of bounds"));
    }

    #[test]
    fn headers_are_checked() {
        let head = header(JOURNAL_MAGIC, 42);
        assert_eq!(read_header(&mut &head[..], JOURNAL_MAGIC).unwrap(), 42);
        assert!(read_header(&mut &head[..], SNAPSHOT_MAGIC).is_err());
        assert!(read_header(&mut &head[..10], JOURNAL_MAGIC).is_err());
        let mut flipped = head;
        flipped[9] ^= 1;
        assert!(read_header(&mut &flipped[..], JOURNAL_MAGIC).is_err());
    }

    #[test]
    fn many_buckets_are_split_into_bounded_records() {
        let buckets: Vec<(i64, u64)> = (0..2500).map(|i| (i, 1)).collect();
        let mut out = Vec::new();
        encode_set(&mut out, "k", 60_000, &buckets);
        let (seen, damage) = read_all(&out);
        assert_eq!(seen.len(), 3);
        assert!(damage.is_none());
    }
}
