//! The quarantine's bytes on disk: one file per held message, beside the spool.
//!
//! ```text
//! <root>/incoming/<id>   being written; removed at start (never acknowledged)
//! <root>/held/<id>       durable: the message as the pipeline held it
//! <root>/corrupt/<name>  a held file with no row that failed verification (found by the
//!                        start-up recovery); kept for an administrator, never released
//! ```
//!
//! In: the envelope (with its owner), our headers and the message as received. Out: a
//! file (create exclusively, mode 0600, write, fsync, rename, fsync the directory) before
//! the client hears anything; read back verified, removed. Held messages are few and stay
//! long, so they keep a file each rather than a place in the spool's journal.
//!
//! Format, version 1 (the CRC-32 covers everything after the header line):
//!
//! ```text
//! POSTERN-HELD 1 <envelope-len> <head-len> <message-len> <crc32-hex>\n
//! <envelope JSON><our headers><message as received>
//! ```
//!
//! A reader accepts a file only when its size is what the header says, the CRC matches,
//! the JSON parses and the queue id inside is the file name; anything else is an error
//! naming the file, never a panic. Reads are bounded by the caller's limit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postern_core::{Envelope, QueueId};

use crate::spool::SpoolError;

const MAGIC: &str = "POSTERN-HELD 1";
const MAX_HEADER_LINE: usize = 160;

/// A held message read back.
#[derive(Debug, Clone)]
pub struct HeldFile {
    pub envelope: Envelope,
    /// Our headers (Received, and Date/Message-ID when added; DKIM signatures when signed).
    pub head: Vec<u8>,
    /// The message as received.
    pub message: Vec<u8>,
}

/// A cheap, cloneable handle on the quarantine directory.
#[derive(Clone)]
pub struct QuarantineDir {
    inner: Arc<Dirs>,
}

struct Dirs {
    incoming: PathBuf,
    held: PathBuf,
    corrupt: PathBuf,
}

/// The most files [`QuarantineDir::list_blocking`] returns in one call.
pub const MAX_LISTED: usize = 1_000_000;

type Result<T> = std::result::Result<T, SpoolError>;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError + use<> {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { op, path, source }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))
}

impl QuarantineDir {
    /// Opens (creating if needed) the quarantine under `root` and removes files left
    /// half-written by a stop (their messages were never acknowledged).
    pub fn open(root: &Path) -> Result<QuarantineDir> {
        let incoming = root.join("incoming");
        let held = root.join("held");
        let corrupt = root.join("corrupt");
        for dir in [&incoming, &held, &corrupt] {
            fs::DirBuilder::new().recursive(true).create(dir).map_err(io_err("create", dir))?;
        }
        for entry in fs::read_dir(&incoming).map_err(io_err("list", &incoming))? {
            let entry = entry.map_err(io_err("list", &incoming))?;
            fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
        }
        sync_dir(&incoming)?;
        sync_dir(root)?;
        Ok(QuarantineDir { inner: Arc::new(Dirs { incoming, held, corrupt }) })
    }

    fn path(&self, id: QueueId) -> PathBuf {
        self.inner.held.join(id.to_string())
    }

    /// Writes one message durably (file and directory fsynced). Blocking.
    pub fn write_blocking(&self, envelope: &Envelope, head: &[u8], message: &[u8]) -> Result<()> {
        let name = envelope.queue_id.to_string();
        let temp = self.inner.incoming.join(&name);
        let dest = self.inner.held.join(&name);
        let json = serde_json::to_vec(envelope)?;
        let header = header_line(&json, head, message);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(io_err("create", &temp))?;
            for part in [header.as_bytes(), &json, head, message] {
                f.write_all(part).map_err(io_err("write", &temp))?;
            }
            f.sync_all().map_err(io_err("fsync", &temp))?;
            drop(f);
            if dest.exists() {
                return Err(io_err("create", &dest)(io::Error::from(io::ErrorKind::AlreadyExists)));
            }
            fs::rename(&temp, &dest).map_err(io_err("rename", &dest))?;
            sync_dir(&self.inner.held)
        })();
        if result.is_err() {
            // Nothing acknowledged may remain behind: the caller answers 4xx.
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Reads and verifies one held message of at most `max_size` octets. `Ok(None)`: no
    /// such file.
    pub fn read_blocking(&self, id: QueueId, max_size: u64) -> Result<Option<HeldFile>> {
        let path = self.path(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let size = file.metadata().map_err(io_err("stat", &path))?.len();
        if size > max_size {
            let reason = format!("{size} octets, more than the {max_size} allowed");
            return Err(SpoolError::Corrupt { path, reason });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(max_size.saturating_add(1)).read_to_end(&mut bytes).map_err(io_err("read", &path))?;
        decode(bytes, id).map(Some).map_err(|reason| SpoolError::Corrupt { path, reason })
    }

    /// Removes a held message. Not finding it is not an error (already gone).
    pub fn remove_blocking(&self, id: QueueId) -> Result<()> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.inner.held),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    /// The names of the files in `held/` (normally queue ids), at most [`MAX_LISTED`],
    /// in no particular order. Blocking.
    pub fn list_blocking(&self) -> Result<Vec<String>> {
        let held = &self.inner.held;
        let mut names = Vec::new();
        for entry in fs::read_dir(held).map_err(io_err("list", held))?.take(MAX_LISTED) {
            let entry = entry.map_err(io_err("list", held))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    /// Moves the file `name` of `held/` to `corrupt/` (a free name: `<name>.1`, ... when
    /// taken), for an administrator to look at; it is never released. Blocking.
    pub fn move_to_corrupt_blocking(&self, name: &str) -> Result<PathBuf> {
        let from = self.inner.held.join(name);
        let mut dest = self.inner.corrupt.join(name);
        let mut n = 1;
        while dest.exists() {
            dest = self.inner.corrupt.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(&from, &dest).map_err(io_err("rename", &dest))?;
        sync_dir(&self.inner.corrupt)?;
        sync_dir(&self.inner.held)?;
        Ok(dest)
    }

    /// Whether the message's file is there.
    pub fn contains(&self, id: QueueId) -> bool {
        self.path(id).is_file()
    }
}

/// The format's header line for these parts.
fn header_line(json: &[u8], head: &[u8], message: &[u8]) -> String {
    let mut crc = crc32fast::Hasher::new();
    for part in [json, head, message] {
        crc.update(part);
    }
    format!("{MAGIC} {} {} {} {:08x}\n", json.len(), head.len(), message.len(), crc.finalize())
}

/// One held message in the file format above, as one buffer: for a store that keeps the
/// bytes elsewhere than this directory (a database every node of a cluster reaches).
pub fn encode_held(envelope: &Envelope, head: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(envelope)?;
    let header = header_line(&json, head, message);
    let mut bytes = Vec::with_capacity(header.len() + json.len() + head.len() + message.len());
    for part in [header.as_bytes(), &json, head, message] {
        bytes.extend_from_slice(part);
    }
    Ok(bytes)
}

/// Reads back what [`encode_held`] made, verified like a file (sizes, checksum, the queue
/// id inside is `expected`); the error says what is wrong.
pub fn decode_held(bytes: Vec<u8>, expected: QueueId) -> std::result::Result<HeldFile, String> {
    decode(bytes, expected)
}

fn decode(mut bytes: Vec<u8>, expected: QueueId) -> std::result::Result<HeldFile, String> {
    let newline = bytes.iter().take(MAX_HEADER_LINE).position(|b| *b == b'\n').ok_or("no header line")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "header is not text")?;
    let mut fields = header.strip_prefix(MAGIC).ok_or("unknown format")?.split_ascii_whitespace();
    let mut number = |what: &str| -> std::result::Result<usize, String> {
        fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| format!("bad {what} in header"))
    };
    let env_len = number("envelope length")?;
    let head_len = number("head length")?;
    let msg_len = number("message length")?;
    let crc_text = fields.next().ok_or("no checksum in header")?;
    let want_crc = u32::from_str_radix(crc_text, 16).map_err(|_| "bad checksum in header")?;
    let rest = bytes.len() - (newline + 1);
    let want = env_len.checked_add(head_len).and_then(|n| n.checked_add(msg_len));
    if want != Some(rest) {
        return Err(format!("size mismatch: the file has {rest} octets after its header"));
    }
    if crc32fast::hash(&bytes[newline + 1..]) != want_crc {
        return Err("checksum mismatch".into());
    }
    let envelope: Envelope =
        serde_json::from_slice(&bytes[newline + 1..newline + 1 + env_len]).map_err(|e| format!("bad envelope: {e}"))?;
    if envelope.queue_id != expected {
        return Err(format!("queue id {} does not match file name {expected}", envelope.queue_id));
    }
    let message = bytes.split_off(newline + 1 + env_len + head_len);
    let head = bytes.split_off(newline + 1 + env_len);
    Ok(HeldFile { envelope, head, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::test_support::{self, client};

    fn envelope() -> Envelope {
        Envelope {
            received_at_ms: 1,
            client: client("127.0.0.1:1", "submission"),
            size: 10,
            ..test_support::envelope(Some("a@example.com"), &["b@example.net"])
        }
    }

    #[test]
    fn writes_reads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let q = QuarantineDir::open(dir.path()).unwrap();
        let env = envelope();
        q.write_blocking(&env, b"Received: x\r\n", b"Subject: s\r\n\r\nbody\r\n").unwrap();
        assert!(q.write_blocking(&env, b"", b"").is_err(), "a second file for one id is refused");
        let held = q.read_blocking(env.queue_id, 1 << 20).unwrap().unwrap();
        assert_eq!(held.envelope.queue_id, env.queue_id);
        assert_eq!(held.head, b"Received: x\r\n");
        assert_eq!(held.message, b"Subject: s\r\n\r\nbody\r\n");
        assert!(q.read_blocking(env.queue_id, 10).is_err(), "bounded read");
        q.remove_blocking(env.queue_id).unwrap();
        assert!(q.read_blocking(env.queue_id, 1 << 20).unwrap().is_none());
        q.remove_blocking(env.queue_id).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
    }

    #[test]
    fn an_encoded_message_reads_back_and_damage_is_an_error() {
        let env = envelope();
        let bytes = encode_held(&env, b"Received: x\r\n", b"Subject: s\r\n\r\nbody\r\n").unwrap();
        let held = decode_held(bytes.clone(), env.queue_id).unwrap();
        assert_eq!(
            (held.head.as_slice(), held.message.as_slice()),
            (&b"Received: x\r\n"[..], &b"Subject: s\r\n\r\nbody\r\n"[..])
        );
        let mut flipped = bytes.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        assert!(decode_held(flipped, env.queue_id).unwrap_err().contains("checksum"));
        assert!(decode_held(bytes[..bytes.len() - 1].to_vec(), env.queue_id).is_err());
        let other = envelope();
        assert!(decode_held(bytes, other.queue_id).unwrap_err().contains("does not match"));
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let q = QuarantineDir::open(dir.path()).unwrap();
        let env = envelope();
        q.write_blocking(&env, b"H: 1\r\n", b"body").unwrap();
        let path = dir.path().join("held").join(env.queue_id.to_string());
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(q.read_blocking(env.queue_id, 1 << 20).is_err());
        for cut in [0, 5, 20, bytes.len() - 2] {
            fs::write(&path, &bytes[..cut]).unwrap();
            assert!(q.read_blocking(env.queue_id, 1 << 20).is_err(), "cut at {cut}");
        }
        fs::write(&path, b"POSTERN-HELD 1 99999999999999999999 1 1 0\n").unwrap();
        assert!(q.read_blocking(env.queue_id, 1 << 20).is_err());
    }

    #[test]
    fn lists_and_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let q = QuarantineDir::open(dir.path()).unwrap();
        let env = envelope();
        q.write_blocking(&env, b"", b"body").unwrap();
        fs::write(dir.path().join("held").join("junk"), b"x").unwrap();
        let mut names = q.list_blocking().unwrap();
        names.sort();
        let mut want = vec![env.queue_id.to_string(), "junk".to_string()];
        want.sort();
        assert_eq!(names, want);
        assert_eq!(q.move_to_corrupt_blocking("junk").unwrap(), dir.path().join("corrupt").join("junk"));
        fs::write(dir.path().join("held").join("junk"), b"y").unwrap();
        assert_eq!(q.move_to_corrupt_blocking("junk").unwrap(), dir.path().join("corrupt").join("junk.1"));
        assert_eq!(q.list_blocking().unwrap(), vec![env.queue_id.to_string()]);
        assert_eq!(fs::read(dir.path().join("corrupt").join("junk")).unwrap(), b"x", "kept, not overwritten");
        assert!(q.move_to_corrupt_blocking("missing").is_err());
    }

    #[test]
    fn half_written_files_go_at_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(QuarantineDir::open(dir.path()).unwrap());
        fs::write(dir.path().join("incoming").join("leftover"), b"x").unwrap();
        drop(QuarantineDir::open(dir.path()).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("incoming")).unwrap().count(), 0);
    }
}
