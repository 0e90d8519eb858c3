//! The archive's files: `tmp/` (copies being written) and `messages/<day>/` (stored
//! copies, gzip). Blocking; callers run it on a blocking thread.
//!
//! In: the message's parts and its queue id; relative paths read back from the index.
//! Out: durable gzip files, their SHA-256 (of the uncompressed message), the bytes read
//! back. Write: create `tmp/<queue id>` exclusively (mode 0600), gzip, fsync the file;
//! the committer (`commit.rs`) fsyncs `tmp/` once for a batch of such files, then
//! [`Files::move_into_place`] renames each into its day directory; the day directory is
//! fsynced once per batch, after the batch's rows are acknowledged ([`Files::place`] does
//! both, for recovery).
//!
//! Defends against: a relative path from the index that leaves the archive (only
//! `messages/<day>/<name>` is accepted), a copy that decompresses to more than its
//! limit (a bounded read), and partial files (only renamed once complete and fsynced).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::{ArchiveError, Result, io_err};

/// What became of a row's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Present,
    Missing,
    /// There, but it cannot be opened (permissions, an I/O error).
    Unreadable,
}

#[derive(Debug, Clone)]
pub(crate) struct Files {
    root: PathBuf,
    tmp: PathBuf,
}

impl Files {
    pub fn open(root: &Path) -> Result<Files> {
        let tmp = root.join("tmp");
        for dir in [&tmp, &root.join("messages")] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        sync_dir(root)?;
        Ok(Files { root: root.to_path_buf(), tmp })
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// The stored copy's path relative to the root: `messages/<YYYY-MM-DD>/<queue id>.eml.gz`.
    pub fn relative_path(queue_id: &str, received_at_ms: i64) -> String {
        let day = chrono::DateTime::from_timestamp_millis(received_at_ms)
            .map_or_else(|| "1970-01-01".to_string(), |t| t.format("%Y-%m-%d").to_string());
        format!("messages/{day}/{queue_id}.eml.gz")
    }

    pub fn temp_path(&self, queue_id: &str) -> PathBuf {
        self.tmp.join(queue_id)
    }

    /// Writes `parts` gzipped into `tmp/<queue id>` and fsyncs the file (its name in `tmp/`
    /// is durable once [`Files::sync_tmp`] returns, which the committer calls once for a
    /// batch). Returns the SHA-256 (lower-case hex) of the uncompressed parts. On failure
    /// nothing is left behind.
    pub fn write_temp(&self, queue_id: &str, parts: &[&[u8]]) -> Result<String> {
        let temp = self.temp_path(queue_id);
        let result = (|| {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(io_err("create", &temp))?;
            let mut gz = GzEncoder::new(BufWriter::with_capacity(64 * 1024, file), Compression::fast());
            let mut hash = Sha256::new();
            for part in parts {
                hash.update(part);
                gz.write_all(part).map_err(io_err("write", &temp))?;
            }
            let buffered = gz.finish().map_err(io_err("write", &temp))?;
            let file = buffered.into_inner().map_err(|e| io_err("write", &temp)(e.into_error()))?;
            file.sync_all().map_err(io_err("fsync", &temp))?;
            Ok(hex(&hash.finalize()))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Makes the names of the files written to `tmp/` so far durable.
    pub fn sync_tmp(&self) -> Result<()> {
        sync_dir(&self.tmp)
    }

    /// Moves a complete temp file to its place and makes the rename durable.
    pub fn place(&self, temp: &Path, relative: &str) -> Result<()> {
        let day = self.move_into_place(temp, relative)?;
        sync_dir(&day)
    }

    /// Moves a complete temp file to its place (a new day directory is made durable first)
    /// and returns the day directory, which the caller fsyncs: until then a crash may
    /// leave the file in `tmp/`, where [`Files::place`] finds it at the next start.
    pub fn move_into_place(&self, temp: &Path, relative: &str) -> Result<PathBuf> {
        let dest = self.resolve(relative)?;
        let day = dest.parent().ok_or_else(|| ArchiveError::Refused(format!("bad path {relative}")))?;
        if !day.is_dir() {
            fs::create_dir_all(day).map_err(io_err("create", day))?;
            sync_dir(&self.root.join("messages"))?;
        }
        fs::rename(temp, &dest).map_err(io_err("rename", &dest))?;
        Ok(day.to_path_buf())
    }

    /// The whole uncompressed copy, at most `limit` bytes (more is corruption).
    pub fn read(&self, id: i64, relative: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.resolve(relative)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ArchiveError::Missing { id, path: relative.to_string() });
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        gunzip(id, relative, file, limit)
    }

    pub fn state(&self, relative: &str) -> FileState {
        let Ok(path) = self.resolve(relative) else { return FileState::Unreadable };
        match File::open(&path) {
            Ok(_) => FileState::Present,
            Err(e) if e.kind() == io::ErrorKind::NotFound => FileState::Missing,
            Err(_) => FileState::Unreadable,
        }
    }

    /// Removes a stored copy; `Ok(false)` when it was already gone.
    pub fn remove(&self, relative: &str) -> Result<bool> {
        let path = self.resolve(relative)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    /// The names of the files in `tmp/`.
    pub fn leftovers(&self) -> Result<Vec<String>> {
        let entries = fs::read_dir(&self.tmp).map_err(io_err("list", &self.tmp))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list", &self.tmp))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    /// `relative` under the root, only in the shape this crate writes.
    fn resolve(&self, relative: &str) -> Result<PathBuf> {
        let path = Path::new(relative);
        let parts: Vec<Component<'_>> = path.components().collect();
        let ok = parts.len() == 3
            && parts[0] == Component::Normal("messages".as_ref())
            && parts.iter().all(|c| matches!(c, Component::Normal(_)));
        if !ok {
            return Err(ArchiveError::Refused(format!("not an archive path: {relative:?}")));
        }
        Ok(self.root.join(path))
    }
}

/// `parts` gzipped in memory (a copy for the shared store), and the SHA-256 (lower-case
/// hex) of the uncompressed parts.
pub(crate) fn gzip(parts: &[&[u8]]) -> Result<(Vec<u8>, String)> {
    let size: usize = parts.iter().map(|p| p.len()).sum();
    let mut gz = GzEncoder::new(Vec::with_capacity(size / 2 + 64), Compression::fast());
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
        gz.write_all(part).map_err(|e| ArchiveError::Refused(format!("gzip: {e}")))?;
    }
    let bytes = gz.finish().map_err(|e| ArchiveError::Refused(format!("gzip: {e}")))?;
    Ok((bytes, hex(&hash.finalize())))
}

/// The uncompressed copy read from `gzip`, at most `limit` bytes (more is corruption);
/// `what` names the copy in errors.
pub(crate) fn gunzip(id: i64, what: &str, gzip: impl Read, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(gzip)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ArchiveError::Corrupt { id, reason: format!("{what}: {e}") })?;
    if out.len() as u64 > limit {
        return Err(ArchiveError::Corrupt { id, reason: format!("{what}: longer than the indexed size") });
    }
    Ok(out)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_places_reads_and_removes_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let sha = files.write_temp("Q1", &[b"Head: 1\r\n", b"\r\nbody\r\n"]).unwrap();
        assert_eq!(sha, hex(&Sha256::digest(b"Head: 1\r\n\r\nbody\r\n")));
        let relative = Files::relative_path("Q1", 86_400_000);
        assert_eq!(relative, "messages/1970-01-02/Q1.eml.gz");
        files.place(&files.temp_path("Q1"), &relative).unwrap();
        assert!(files.leftovers().unwrap().is_empty());
        assert_eq!(files.read(1, &relative, 100).unwrap(), b"Head: 1\r\n\r\nbody\r\n");
        assert!(matches!(files.read(1, &relative, 5), Err(ArchiveError::Corrupt { .. })));
        assert_eq!(files.state(&relative), FileState::Present);
        assert!(files.remove(&relative).unwrap());
        assert!(!files.remove(&relative).unwrap());
        assert_eq!(files.state(&relative), FileState::Missing);
        assert!(matches!(files.read(1, &relative, 100), Err(ArchiveError::Missing { id: 1, .. })));
    }

    #[test]
    fn paths_outside_the_archive_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        for bad in ["../x", "/etc/passwd", "messages/../../x", "messages/a", "index.db", "messages/a/b/c"] {
            assert!(matches!(files.read(1, bad, 10), Err(ArchiveError::Refused(_))), "{bad}");
            assert_eq!(files.state(bad), FileState::Unreadable, "{bad}");
        }
    }

    #[test]
    fn a_copy_that_is_not_gzip_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("messages/d")).unwrap();
        fs::write(dir.path().join("messages/d/x.eml.gz"), b"plain text").unwrap();
        assert!(matches!(files.read(9, "messages/d/x.eml.gz", 100), Err(ArchiveError::Corrupt { id: 9, .. })));
    }
}
