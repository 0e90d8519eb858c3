//! The spool: an append-only journal with group commit, its index, recovery and compaction.
//!
//! In: an envelope and message bytes (sessions, system mail, released quarantine); queue
//! ids to read, finish or move aside (the queue manager). Out: records made durable before
//! the writer returns; verified messages read back; at start, the queued ids.
//!
//! ```text
//! <root>/journal/<seq>.seg   segments of records (format: crate::journal)
//! <root>/journal/<seq>.new   a segment being prepared (zero-filled); removed at start
//! <root>/corrupt/<name>      records that failed verification, copied out for an
//!                            administrator; never delivered
//! <root>/state/<id>          delivery state (crate::state), unchanged by the journal
//! ```
//!
//! **Write** ([`Spool::write_blocking`]): the record is built outside the lock, appended to
//! the current segment under the lock (a copy into the page cache), then the writer waits
//! until a `fdatasync` that started after its append has returned. The first writer that
//! finds no sync running becomes the leader: it syncs once for every record appended so
//! far, and every writer whose record lies before the synced position is acknowledged.
//! Segments are zero-filled and fsynced before use (prepared ahead on a thread), so a
//! `fdatasync` writes data only, never block allocations. A failed `fdatasync` breaks the
//! spool: every later write is refused (`451`) until a restart recovers from the disk.
//! Sessions ([`Enqueue`]) do the same without holding a thread: the append happens on the
//! session's runtime thread (a copy into the page cache; a message over 256 KiB, or one
//! that does not fit the segment, whose closing syncs it, is written on the blocking pool
//! instead), then the session waits as a task: the first waiter that finds no sync running
//! starts one on the blocking pool, the others wake when a sync ends (a watch channel
//! beside the condition variable). One blocking-pool task per sync, not per message.
//!
//! **Finish** ([`Spool::remove`]): a tombstone record is appended and not synced. A
//! tombstone lost in a crash only means that the message is delivered again after the
//! restart (at least once, never lost). Messages leave a reserve at the end of each segment
//! for tombstones, so finishing (on a runtime thread) almost never closes a segment.
//!
//! **Compaction** (after a segment is closed, on the writing thread): the oldest segment is
//! deleted once none of its messages is live. Segments go oldest first because a segment
//! holds the tombstones of messages in older ones. When the journal holds more than twice
//! its live bytes plus two segments, the oldest segment's surviving messages (deferred for
//! days, say) are copied forward, synced, and the segment deleted: a few long-lived
//! messages never pin gigabytes.
//!
//! **Recovery** ([`Spool::recover`]): every segment is scanned in order; messages enter
//! the index, tombstones take them out. A torn tail (octets after the last valid record
//! of a segment: a write that was never made durable, so never acknowledged) is zeroed
//! and counted as incomplete. A corrupt region between valid records is copied to
//! `corrupt/` and overwritten with a padding record: it is never delivered.
//!
//! Memory: the index holds one entry per queued message (and one per segment), never
//! message bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use postern_core::{BoxFuture, Enqueue, Envelope, QueueId, Reply};

use crate::journal::{self, Item, SEGMENT_HEADER};

/// Default segment size: 32 MiB (about 30,000 messages of 1 KB).
pub const SEGMENT_SIZE: u64 = 32 << 20;

/// A segment being prepared is written back every this many bytes of zeros (see `prepare`).
const PREPARE_SYNC_BYTES: usize = 2 << 20;

/// Writes `len` bytes of `file` from `offset` to the disk and waits for them, without the
/// cache flush of an `fdatasync` (the segment's final `fsync` makes them durable): on
/// Linux `sync_file_range`, elsewhere (or where the file system refuses it) `fdatasync`.
fn write_back(file: &File, offset: u64, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return file.sync_data();
        };
        // SAFETY: the descriptor belongs to `file`, open for the whole call; the call only
        // starts and waits for writeback of that range.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } == 0 {
            return Ok(());
        }
    }
    file.sync_data()
}

/// Writes `pieces` one after the other into `file` from `offset`: on Linux in one
/// `pwritev` (a record's header, the lines Postern adds and the message: one system call
/// instead of one each), finishing piece by piece after a short write; elsewhere piece by
/// piece. A failed or short write leaves a torn tail, as separate writes would.
fn write_all_at_vectored(file: &File, pieces: &[&[u8]], offset: u64) -> io::Result<()> {
    let mut written = 0usize;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let iov: Vec<libc::iovec> = pieces
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| libc::iovec { iov_base: p.as_ptr().cast_mut().cast(), iov_len: p.len() })
            .collect();
        if let (Ok(count), Ok(at)) = (libc::c_int::try_from(iov.len()), libc::off_t::try_from(offset))
            && count <= libc::UIO_MAXIOV
        {
            loop {
                // SAFETY: every iovec points into a slice of `pieces`, borrowed for the whole
                // call; pwritev only reads them, and the descriptor belongs to `file`.
                let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), count, at) };
                if n >= 0 {
                    written = usize::try_from(n).unwrap_or(0);
                    break;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    write_rest_at(file, pieces, offset, written)
}

/// Writes what follows the first `written` bytes of `pieces` (laid end to end from
/// `offset`): the rest of a short vectored write.
fn write_rest_at(file: &File, pieces: &[&[u8]], offset: u64, mut written: usize) -> io::Result<()> {
    let mut at = offset;
    for piece in pieces {
        let skip = written.min(piece.len());
        written -= skip;
        at += skip as u64;
        let rest = &piece[skip..];
        if !rest.is_empty() {
            file.write_all_at(rest, at)?;
            at += rest.len() as u64;
        }
    }
    Ok(())
}

/// The largest message a session appends on its own runtime thread (a copy of this much
/// into the page cache takes tens of microseconds); larger ones are written on the blocking
/// pool, so that one big message never holds a runtime thread for milliseconds.
const INLINE_APPEND: usize = 256 << 10;

/// What a writer waiting for its record to be durable does next ([`Spool::next_step`]).
enum Step {
    Durable,
    /// A sync runs: wait for it to end.
    Wait,
    /// Sync the file up to the position (running from now on).
    Sync(Pos, Arc<File>),
    Fail(SpoolError),
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("cannot encode envelope: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot write record: {0}")]
    Record(String),
    #[error("{path}: corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("spool task failed: {0}")]
    Task(String),
    #[error("the journal is broken since a failed sync ({0}); restart to recover")]
    Broken(String),
    #[error("queue id {0} is not in the spool")]
    NotFound(QueueId),
}

pub type Result<T> = std::result::Result<T, SpoolError>;

impl SpoolError {
    /// What the SMTP client hears: always temporary, the message was not accepted.
    pub fn reply(&self) -> Reply {
        match self {
            SpoolError::Io { source, .. } if source.raw_os_error() == Some(28) => {
                Reply::new(452, "4.3.1", "Insufficient system storage")
            }
            _ => Reply::new(451, "4.3.0", "Error: queue file write error"),
        }
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError + use<> {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { op, path, source }
}

/// What [`Spool::recover`] found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Verified messages waiting in the journal, oldest first.
    pub messages: Vec<QueueId>,
    /// Torn tails zeroed (records never made durable, so never acknowledged) and
    /// segments left half-prepared.
    pub incomplete_removed: usize,
    /// Records (or whole segments) copied to `corrupt/`, with the name and the reason.
    pub corrupt: Vec<(String, String)>,
}

/// A cheap, cloneable handle on the spool.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    journal: PathBuf,
    corrupt: PathBuf,
    segment_size: u64,
    state: Mutex<State>,
    /// Signalled when a sync ends and when a spare segment is ready.
    synced: Condvar,
    /// The same signal for async writers ([`Spool::durable`]): bumped with every
    /// `notify_all` of `synced`.
    changed: tokio::sync::watch::Sender<u64>,
    compacting: AtomicBool,
    /// Names each health probe file apart (concurrent probes never collide).
    probes: AtomicU64,
}

/// A position in the journal: (segment, offset). Ordered.
type Pos = (u64, u64);

#[derive(Clone, Copy)]
struct Loc {
    seq: u64,
    off: u64,
    len: u64,
}

struct Segment {
    file: Arc<File>,
    salt: u32,
    /// Octets on disk (the whole file; the current one is preallocated).
    size: u64,
    live: u64,
    live_bytes: u64,
}

struct Current {
    seq: u64,
    file: Arc<File>,
    salt: u32,
    end: u64,
    capacity: u64,
}

/// A zero-filled segment ready to become the current one.
struct Prepared {
    seq: u64,
    file: File,
    salt: u32,
    capacity: u64,
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    /// Every segment this process knows (the current one included), by sequence number.
    segments: BTreeMap<u64, Segment>,
    index: HashMap<QueueId, Loc>,
    next_seq: u64,
    /// The newest segment that has been current (or was found by recovery).
    last_seq: u64,
    /// Everything before this position is durable.
    synced: Pos,
    syncing: bool,
    broken: Option<String>,
    /// A prepared segment, or the sequence number of one being prepared.
    spare: Option<Prepared>,
    preparing: Option<u64>,
}

impl Spool {
    /// Opens (creating if needed) the spool under `root`. Nothing is read until
    /// [`Spool::recover`]; the first write creates a new segment.
    pub fn open(root: &Path) -> Result<Spool> {
        Spool::with_segment_size(root, SEGMENT_SIZE)
    }

    /// [`Spool::open`] with segments of `segment_size` octets (tests and benchmarks use
    /// small ones to see rotation and compaction).
    pub fn with_segment_size(root: &Path, segment_size: u64) -> Result<Spool> {
        let journal = root.join("journal");
        let corrupt = root.join("corrupt");
        for dir in [&journal, &corrupt] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        File::open(root).and_then(|d| d.sync_all()).map_err(io_err("fsync", root))?;
        // Past every segment, and every half-prepared one a crash may have left.
        let mut last_seq = list_segments(&journal)?.last().map_or(0, |(seq, _)| *seq);
        for entry in fs::read_dir(&journal).map_err(io_err("list", &journal))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(seq) = name.strip_suffix(".new").and_then(|s| u64::from_str_radix(s, 16).ok()) {
                last_seq = last_seq.max(seq);
            }
        }
        let state =
            State { next_seq: last_seq.saturating_add(1), last_seq, synced: (last_seq, u64::MAX), ..State::default() };
        let inner = Inner {
            root: root.to_path_buf(),
            journal,
            corrupt,
            segment_size: segment_size.max(4096),
            state: Mutex::new(state),
            synced: Condvar::new(),
            changed: tokio::sync::watch::Sender::new(0),
            compacting: AtomicBool::new(false),
            probes: AtomicU64::new(0),
        };
        Ok(Spool { inner: Arc::new(inner) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the segments are.
    pub fn journal_dir(&self) -> &Path {
        &self.inner.journal
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every writer waiting for a sync or a spare segment, blocking or async.
    fn signal(&self) {
        self.inner.synced.notify_all();
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.inner.journal.join(format!("{seq:016x}.seg"))
    }

    /// Writes one message durably. Blocking: call from a blocking thread.
    pub fn write_blocking(&self, envelope: &Envelope, parts: &[&[u8]]) -> Result<()> {
        let id = envelope.queue_id;
        let mut prefix = journal::encode_message(envelope, parts).map_err(SpoolError::Record)?;
        let len = (prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>()) as u64;
        let st = self.lock();
        if let Some(why) = &st.broken {
            return Err(SpoolError::Broken(why.clone()));
        }
        let (mut st, rotated) = self.make_room(st, len, self.reserve())?;
        let Some((seq, off)) = self.append(&mut st, &mut prefix, parts)? else {
            return Err(SpoolError::Task("no current segment".into()));
        };
        let pos = (seq, off + len);
        let loc = Loc { seq, off, len };
        Self::add_live(&mut st, id, loc);
        let st = self.wait_durable(st, pos);
        match st {
            Ok(st) => drop(st),
            Err(e) => {
                // Not acknowledged: take it out again (the record may still be found after
                // a restart and delivered: the client got a 4xx and may send it again).
                let mut st = self.lock();
                Self::drop_live(&mut st, id);
                return Err(e);
            }
        }
        if rotated {
            self.compact();
        }
        Ok(())
    }

    /// Appends one message to the current segment if it has room, on the caller's thread:
    /// the lock and a copy into the page cache, nothing that waits for the disk.
    /// `Ok(Some(pos))`: appended, durable once a sync passes `pos`. `Ok(None)`: the segment
    /// is full; closing it syncs and may compact, which is [`Spool::write_blocking`]'s work.
    fn try_append(&self, envelope: &Envelope, parts: &[&[u8]]) -> Result<Option<Pos>> {
        let mut prefix = journal::encode_message(envelope, parts).map_err(SpoolError::Record)?;
        let len = (prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>()) as u64;
        let mut st = self.lock();
        if let Some(why) = &st.broken {
            return Err(SpoolError::Broken(why.clone()));
        }
        let reserve = self.reserve();
        if st.current.as_ref().is_none_or(|c| c.end + len + reserve > c.capacity) {
            return Ok(None);
        }
        self.prepare_ahead(&mut st);
        let Some((seq, off)) = self.append(&mut st, &mut prefix, parts)? else { return Ok(None) };
        Self::add_live(&mut st, envelope.queue_id, Loc { seq, off, len });
        Ok(Some((seq, off + len)))
    }

    /// Waits until everything up to `pos` is durable, without holding a thread: the first
    /// waiter that finds no sync running starts one on the blocking pool (for every record
    /// appended so far, blocking writers' included) and waits for it; the others wait for
    /// the signal that a sync ended. On `Err` the message `id` is taken out again.
    async fn durable(&self, id: QueueId, pos: Pos) -> Result<()> {
        let mut changed = self.inner.changed.subscribe();
        let result = loop {
            let sync = match Self::next_step(&mut self.lock(), pos) {
                Step::Durable => break Ok(()),
                Step::Fail(e) => break Err(e),
                Step::Wait => None,
                Step::Sync(target, file) => Some((target, file)),
            };
            match sync {
                Some((target, file)) => {
                    let spool = self.clone();
                    let joined = tokio::task::spawn_blocking(move || {
                        let result = file.sync_data();
                        spool.synced(target, result);
                    })
                    .await;
                    if let Err(e) = joined {
                        // The sync did not run to its end: nothing says what is durable.
                        self.synced(target, Err(io::Error::other(format!("journal sync task: {e}"))));
                    }
                }
                None => {
                    if changed.changed().await.is_err() {
                        break Err(SpoolError::Task("the spool went away".into()));
                    }
                }
            }
        };
        if result.is_err() {
            // Not acknowledged (see `write_blocking`).
            Self::drop_live(&mut self.lock(), id);
        }
        result
    }

    /// The end of a sync (started by [`Spool::durable`] or [`Spool::wait_durable`]):
    /// everything before `target` is durable, or the spool is broken.
    fn synced(&self, target: Pos, result: io::Result<()>) {
        let mut st = self.lock();
        st.syncing = false;
        match result {
            Ok(()) => st.synced = st.synced.max(target),
            Err(e) => {
                tracing::error!(error = %e, "journal fdatasync failed; the spool refuses writes until a restart");
                st.broken = Some(e.to_string());
            }
        }
        drop(st);
        self.signal();
    }

    /// Seals `record` (a record, or the start of one that `parts` complete) for the current
    /// segment and appends it; `(segment, offset)`. A failed write closes the segment:
    /// whatever part of the record reached the file is then that segment's torn tail, after
    /// every acknowledged record.
    fn append(&self, st: &mut State, record: &mut [u8], parts: &[&[u8]]) -> Result<Option<Pos>> {
        let Some(cur) = st.current.as_ref() else { return Ok(None) };
        journal::seal(record, cur.salt);
        let (seq, off, file) = (cur.seq, cur.end, Arc::clone(&cur.file));
        let pieces: Vec<&[u8]> = std::iter::once(&*record).chain(parts.iter().copied()).collect();
        if let Err(e) = write_all_at_vectored(&file, &pieces, off) {
            self.close_current(st);
            return Err(io_err("write", &self.segment_path(seq))(e));
        }
        let at = off + pieces.iter().map(|p| p.len() as u64).sum::<u64>();
        if let Some(cur) = st.current.as_mut() {
            cur.end = at;
        }
        Ok(Some((seq, off)))
    }

    fn add_live(st: &mut State, id: QueueId, loc: Loc) {
        if let Some(old) = st.index.insert(id, loc)
            && let Some(seg) = st.segments.get_mut(&old.seq)
        {
            seg.live -= 1;
            seg.live_bytes -= old.len;
        }
        if let Some(seg) = st.segments.get_mut(&loc.seq) {
            seg.live += 1;
            seg.live_bytes += loc.len;
        }
    }

    fn drop_live(st: &mut State, id: QueueId) -> Option<Loc> {
        let loc = st.index.remove(&id)?;
        if let Some(seg) = st.segments.get_mut(&loc.seq) {
            seg.live -= 1;
            seg.live_bytes -= loc.len;
        }
        Some(loc)
    }

    /// Waits until everything up to `pos` is durable, leading a sync when none runs.
    fn wait_durable<'a>(&'a self, mut st: MutexGuard<'a, State>, pos: Pos) -> Result<MutexGuard<'a, State>> {
        loop {
            match Self::next_step(&mut st, pos) {
                Step::Durable => return Ok(st),
                Step::Fail(e) => return Err(e),
                Step::Wait => st = self.inner.synced.wait(st).unwrap_or_else(|p| p.into_inner()),
                Step::Sync(target, file) => {
                    drop(st);
                    self.synced(target, file.sync_data());
                    st = self.lock();
                }
            }
        }
    }

    /// What a writer waiting for everything before `pos` to be durable does next, the
    /// same for [`Spool::durable`] (a task) and [`Spool::wait_durable`] (a thread): a
    /// `Step::Sync` is counted as running until [`Spool::synced`].
    fn next_step(st: &mut State, pos: Pos) -> Step {
        if let Some(why) = &st.broken {
            return Step::Fail(SpoolError::Broken(why.clone()));
        }
        if st.synced >= pos {
            return Step::Durable;
        }
        if st.syncing {
            return Step::Wait;
        }
        let Some(cur) = st.current.as_ref() else {
            // The segment was closed (and synced) since: `synced` says how far.
            return Step::Fail(SpoolError::Task("record's segment closed without a sync".into()));
        };
        st.syncing = true;
        Step::Sync((cur.seq, cur.end), Arc::clone(&cur.file))
    }

    /// Makes sure the current segment has room for `len` more octets and `reserve` left over,
    /// closing it and taking a prepared one if not. `true` when a segment was closed. Segments
    /// become current in increasing sequence order (recovery replays them in that order).
    fn make_room<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        len: u64,
        reserve: u64,
    ) -> Result<(MutexGuard<'a, State>, bool)> {
        let need = (SEGMENT_HEADER as u64 + len + reserve).max(self.inner.segment_size);
        let mut rotated = false;
        loop {
            if st.current.as_ref().is_some_and(|c| c.end + len + reserve <= c.capacity) {
                self.prepare_ahead(&mut st);
                return Ok((st, rotated));
            }
            if st.current.is_some() {
                self.close_current(&mut st);
                rotated = true;
            }
            if let Some(why) = &st.broken {
                return Err(SpoolError::Broken(why.clone()));
            }
            if st.spare.is_none() && st.preparing.is_some() && need == self.inner.segment_size {
                // The thread is preparing one: wait for it rather than make a second.
                st = self.inner.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let last = st.last_seq;
            let prepared = match st.spare.take() {
                Some(p) if p.capacity >= need && p.seq > last => p,
                other => {
                    if let Some(p) = other {
                        // Too small for this record, or older than the current segment: it
                        // stays on disk as an empty segment and goes with compaction.
                        Self::register(&mut st, p.seq, Arc::new(p.file), p.salt, p.capacity);
                    }
                    let seq = st.next_seq;
                    st.next_seq += 1;
                    self.prepare(seq, need)?
                }
            };
            let file = Arc::new(prepared.file);
            Self::register(&mut st, prepared.seq, Arc::clone(&file), prepared.salt, prepared.capacity);
            st.last_seq = prepared.seq;
            st.synced = st.synced.max((prepared.seq, SEGMENT_HEADER as u64));
            st.current = Some(Current {
                seq: prepared.seq,
                file,
                salt: prepared.salt,
                end: SEGMENT_HEADER as u64,
                capacity: prepared.capacity,
            });
        }
    }

    /// Room that messages leave at the end of a segment for tombstones: an eighth of a
    /// segment, at most 256 KiB (about 5,900 tombstones).
    fn reserve(&self) -> u64 {
        (self.inner.segment_size / 8).min(256 << 10)
    }

    fn register(st: &mut State, seq: u64, file: Arc<File>, salt: u32, size: u64) {
        st.segments.insert(seq, Segment { file, salt, size, live: 0, live_bytes: 0 });
    }

    /// Closes the current segment: syncs it (its records become durable), trims the
    /// unused zeros. Under the lock: rare (once per segment).
    fn close_current(&self, st: &mut State) {
        let Some(cur) = st.current.take() else { return };
        match cur.file.sync_data() {
            Ok(()) => st.synced = st.synced.max((cur.seq, cur.end)),
            Err(e) => {
                tracing::error!(error = %e, "journal fdatasync failed; the spool refuses writes until a restart");
                st.broken = Some(e.to_string());
                self.signal();
                return;
            }
        }
        // The zeros after the last record are no use now; trimming them needs no sync (if
        // it is lost, recovery reads zeros).
        if cur.file.set_len(cur.end).is_ok()
            && let Some(seg) = st.segments.get_mut(&cur.seq)
        {
            seg.size = cur.end;
        }
        self.signal();
    }

    /// Starts preparing the next segment on a thread when the current one is half full.
    fn prepare_ahead(&self, st: &mut State) {
        let half = st.current.as_ref().is_none_or(|c| c.end * 2 >= c.capacity);
        if !half || st.spare.is_some() || st.preparing.is_some() || st.broken.is_some() {
            return;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.preparing = Some(seq);
        let spool = self.clone();
        let size = self.inner.segment_size;
        let spawned = std::thread::Builder::new().name("spool-prepare".into()).spawn(move || {
            let result = spool.prepare(seq, size);
            let mut st = spool.lock();
            if st.preparing == Some(seq) {
                st.preparing = None;
                match result {
                    Ok(p) => st.spare = Some(p),
                    Err(e) => tracing::warn!(error = %e, "cannot prepare the next journal segment ahead"),
                }
            }
            spool.signal();
        });
        if spawned.is_err() {
            st.preparing = None;
        }
    }

    /// Creates segment `seq`: header, zeros up to `size`, fsynced, renamed into place, the
    /// directory fsynced.
    fn prepare(&self, seq: u64, size: u64) -> Result<Prepared> {
        let temp = self.inner.journal.join(format!("{seq:016x}.new"));
        let dest = self.segment_path(seq);
        let salt = random_salt();
        let result = (|| {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(io_err("create", &temp))?;
            f.write_all(&journal::segment_header(seq, salt)).map_err(io_err("write", &temp))?;
            let zeros = vec![0u8; 1 << 20];
            let mut left = size.saturating_sub(SEGMENT_HEADER as u64);
            let mut unsynced = 0;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                f.write_all(&zeros[..n]).map_err(io_err("write", &temp))?;
                left -= n as u64;
                unsynced += n;
                // A few megabytes at a time: the sessions' `fdatasync`s of the current
                // segment wait behind at most that much of this file's writeback, not
                // behind a whole segment's (32 MiB at once gave 100 KB messages a p99 of
                // 20-37 ms at half the peak rate).
                if unsynced >= PREPARE_SYNC_BYTES && left > 0 {
                    let end = size - left;
                    write_back(&f, end - unsynced as u64, unsynced as u64).map_err(io_err("write back", &temp))?;
                    unsynced = 0;
                }
            }
            f.sync_all().map_err(io_err("fsync", &temp))?;
            fs::rename(&temp, &dest).map_err(io_err("rename", &dest))?;
            File::open(&self.inner.journal).and_then(|d| d.sync_all()).map_err(io_err("fsync", &self.inner.journal))?;
            Ok(Prepared { seq, file: f, salt, capacity: size.max(SEGMENT_HEADER as u64) })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Finishes a message: appends its tombstone (not synced: a lost one means a second
    /// delivery, never a lost message). Not finding it is not an error (already gone).
    pub fn remove(&self, id: QueueId) -> Result<()> {
        let mut st = self.lock();
        if Self::drop_live(&mut st, id).is_none() {
            return Ok(());
        }
        self.append_tombstone(st, id)
    }

    fn append_tombstone(&self, st: MutexGuard<'_, State>, id: QueueId) -> Result<()> {
        let mut record = journal::encode_tombstone(id);
        // Tombstones may use the reserve that messages leave: finishing a message (on the
        // queue manager's runtime thread) then almost never has to close a segment.
        let (mut st, _) = self.make_room(st, record.len() as u64, 0)?;
        self.append(&mut st, &mut record, &[])?;
        Ok(())
    }

    /// Moves a queued message that failed verification aside: its record is copied to
    /// `corrupt/<id>` and a tombstone appended.
    pub fn quarantine_id(&self, id: QueueId) -> Result<()> {
        let (loc, file) = {
            let st = self.lock();
            let Some(&loc) = st.index.get(&id) else { return Ok(()) };
            let Some(seg) = st.segments.get(&loc.seq) else { return Ok(()) };
            (loc, Arc::clone(&seg.file))
        };
        let mut bytes = vec![0u8; loc.len as usize];
        let path = self.segment_path(loc.seq);
        file.read_exact_at(&mut bytes, loc.off).map_err(io_err("read", &path))?;
        self.save_corrupt(&id.to_string(), &bytes)?;
        let mut st = self.lock();
        if Self::drop_live(&mut st, id).is_none() {
            return Ok(());
        }
        self.append_tombstone(st, id)
    }

    /// The health check: writes a small probe file where the segments are, fsyncs and
    /// removes it; and fails when a sync has failed. `Err`: the spool cannot take a message
    /// now (the directory is gone or not writable, the disk is full, the journal is
    /// broken). Blocking: call from a blocking thread.
    pub fn probe_blocking(&self) -> Result<()> {
        if let Some(why) = &self.lock().broken {
            return Err(SpoolError::Broken(why.clone()));
        }
        let n = self.inner.probes.fetch_add(1, Ordering::Relaxed);
        let path = self.inner.journal.join(format!(".probe-{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err("create", &path))?;
            f.write_all(b"postern health probe\n").map_err(io_err("write", &path))?;
            f.sync_all().map_err(io_err("fsync", &path))
        })();
        let removed = fs::remove_file(&path);
        written?;
        removed.map_err(io_err("remove", &path))
    }

    /// Reads and verifies one queued message.
    pub fn read(&self, id: QueueId) -> Result<(Envelope, Vec<u8>)> {
        let (loc, file, salt) = {
            let st = self.lock();
            let loc = *st.index.get(&id).ok_or(SpoolError::NotFound(id))?;
            let seg = st.segments.get(&loc.seq).ok_or(SpoolError::NotFound(id))?;
            (loc, Arc::clone(&seg.file), seg.salt)
        };
        let path = self.segment_path(loc.seq);
        let mut bytes = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut bytes, loc.off).map_err(io_err("read", &path))?;
        let (envelope, start) =
            journal::decode_message(&bytes, salt, id).map_err(|reason| SpoolError::Corrupt { path, reason })?;
        // The message stays in the buffer it was read into: no second copy.
        bytes.drain(..start);
        Ok((envelope, bytes))
    }

    /// Start-up (and a full re-read at any time): scans every segment in order, rebuilds
    /// the index, zeroes torn tails and moves corrupt records aside.
    pub fn recover(&self) -> Result<Recovery> {
        let mut recovery = Recovery::default();
        {
            let mut st = self.lock();
            while st.syncing {
                st = self.inner.synced.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            self.close_current(&mut st);
            if let Some(why) = &st.broken {
                return Err(SpoolError::Broken(why.clone()));
            }
            let keep = [st.spare.as_ref().map(|p| p.seq), st.preparing];
            // Half-prepared segments of an earlier run: never used.
            for entry in fs::read_dir(&self.inner.journal).map_err(io_err("list", &self.inner.journal))?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let seq = name.strip_suffix(".new").and_then(|s| u64::from_str_radix(s, 16).ok());
                if seq.is_some_and(|s| !keep.contains(&Some(s))) || name.starts_with(".probe-") {
                    match fs::remove_file(entry.path()) {
                        // Gone already (renamed or removed by whoever made it): nothing to do.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        other => other.map_err(io_err("remove", &entry.path()))?,
                    }
                }
            }
            st.index.clear();
            st.segments.clear();
            let mut corrupt: Vec<(u64, usize, usize, Option<QueueId>, String)> = Vec::new();
            let mut tombstoned_corrupt: Vec<QueueId> = Vec::new();
            for (seq, path) in list_segments(&self.inner.journal)? {
                if keep.contains(&Some(seq)) {
                    continue;
                }
                st.next_seq = st.next_seq.max(seq.saturating_add(1));
                st.last_seq = st.last_seq.max(seq);
                let bytes = fs::read(&path).map_err(io_err("read", &path))?;
                let salt = match journal::parse_segment_header(&bytes) {
                    Ok((s, salt)) if s == seq => salt,
                    parsed => {
                        if bytes.iter().all(|b| *b == 0) {
                            // Created, never written: nothing in it was ever acknowledged.
                            fs::remove_file(&path).map_err(io_err("remove", &path))?;
                            recovery.incomplete_removed += 1;
                            continue;
                        }
                        let reason = match parsed {
                            Ok((s, _)) => format!("segment header says {s:x}, file name {seq:x}"),
                            Err(e) => e,
                        };
                        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        self.move_aside(&path, &name)?;
                        tracing::error!(file = %path.display(), %reason, "journal segment unreadable, moved to corrupt/");
                        recovery.corrupt.push((name, reason));
                        continue;
                    }
                };
                let scan = journal::scan(&bytes, salt);
                let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io_err("open", &path))?;
                Self::register(&mut st, seq, Arc::new(file), salt, bytes.len() as u64);
                for item in scan.items {
                    match item {
                        Item::Message { id, off, len } => {
                            Self::add_live(&mut st, id, Loc { seq, off: off as u64, len: len as u64 })
                        }
                        Item::Tombstone { id } => {
                            Self::drop_live(&mut st, id);
                            if corrupt.iter().any(|c| c.3 == Some(id)) {
                                tombstoned_corrupt.push(id);
                            }
                        }
                        Item::Corrupt { off, len, id, reason } => corrupt.push((seq, off, len, id, reason)),
                    }
                }
                if let Some((start, end)) = scan.torn {
                    let file = &st.segments[&seq].file;
                    let zeros = vec![0u8; end - start];
                    file.write_all_at(&zeros, start as u64)
                        .and_then(|()| file.sync_data())
                        .map_err(io_err("write", &path))?;
                    tracing::warn!(file = %path.display(), at = start, octets = end - start, "journal: torn tail (never acknowledged) removed");
                    recovery.incomplete_removed += 1;
                }
                // The preallocated zeros after the last record are no use to a closed segment.
                if scan.end < bytes.len()
                    && st.segments[&seq].file.set_len(scan.end as u64).is_ok()
                    && let Some(seg) = st.segments.get_mut(&seq)
                {
                    seg.size = scan.end as u64;
                }
            }
            for (seq, off, len, id, reason) in corrupt {
                let path = self.segment_path(seq);
                let Some(seg) = st.segments.get(&seq) else { continue };
                let (file, salt) = (Arc::clone(&seg.file), seg.salt);
                let already = id.is_some_and(|id| tombstoned_corrupt.contains(&id));
                if !already {
                    let mut bytes = vec![0u8; len];
                    file.read_exact_at(&mut bytes, off as u64).map_err(io_err("read", &path))?;
                    let name = id.map_or_else(|| format!("{seq:016x}-{off}"), |id| id.to_string());
                    let saved = self.save_corrupt(&name, &bytes)?;
                    tracing::error!(file = %path.display(), at = off, %reason, saved = %saved, "journal record corrupt, copied to corrupt/");
                    recovery.corrupt.push((name, reason));
                }
                if let Some(pad) = journal::padding(len, salt) {
                    file.write_all_at(&pad, off as u64)
                        .and_then(|()| file.sync_data())
                        .map_err(io_err("write", &path))?;
                }
            }
            recovery.messages = st.index.keys().copied().collect();
            recovery.messages.sort();
            st.last_seq = st.segments.keys().next_back().copied().unwrap_or(0).max(st.last_seq);
            // Nothing is waiting; the next current segment is newer than all of these.
            st.synced = (st.last_seq, u64::MAX);
        }
        self.compact();
        Ok(recovery)
    }

    /// Deletes the oldest segments with no live message; copies the survivors of the oldest
    /// forward while the journal holds more than twice its live bytes plus two segments.
    fn compact(&self) {
        if self.inner.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        loop {
            let mut st = self.lock();
            let current = st.current.as_ref().map(|c| c.seq);
            let Some((&seq, oldest)) = st.segments.iter().next() else { break };
            if Some(seq) == current {
                break;
            }
            if oldest.live == 0 {
                st.segments.remove(&seq);
                drop(st);
                let path = self.segment_path(seq);
                if let Err(e) = fs::remove_file(&path) {
                    tracing::warn!(file = %path.display(), error = %e, "cannot delete a finished journal segment");
                }
                continue;
            }
            let on_disk: u64 = st.segments.values().map(|s| s.size).sum();
            let live: u64 = st.segments.values().map(|s| s.live_bytes).sum();
            if on_disk <= 2 * live + 2 * self.inner.segment_size {
                break;
            }
            let survivors: Vec<(QueueId, Loc)> =
                st.index.iter().filter(|(_, l)| l.seq == seq).map(|(id, l)| (*id, *l)).collect();
            let (file, salt) = (Arc::clone(&oldest.file), oldest.salt);
            drop(st);
            if let Err(e) = self.copy_forward(seq, &file, salt, &survivors) {
                tracing::warn!(error = %e, "journal compaction stopped");
                break;
            }
        }
        self.inner.compacting.store(false, Ordering::Release);
    }

    /// Copies the messages of segment `seq` to the current segment, synced; a record that
    /// no longer verifies is moved to `corrupt/` instead.
    fn copy_forward(&self, seq: u64, file: &File, salt: u32, survivors: &[(QueueId, Loc)]) -> Result<()> {
        let path = self.segment_path(seq);
        for &(id, loc) in survivors {
            let mut record = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut record, loc.off).map_err(io_err("read", &path))?;
            if let Err(reason) = journal::decode_message(&record, salt, id) {
                tracing::error!(queue_id = %id, %reason, "journal record corrupt at compaction, moved to corrupt/");
                self.quarantine_id(id)?;
                continue;
            }
            let st = self.lock();
            let (mut st, _) = self.make_room(st, record.len() as u64, self.reserve())?;
            if !st.index.get(&id).is_some_and(|l| l.seq == loc.seq && l.off == loc.off) {
                continue; // finished meanwhile
            }
            let Some((seq, off)) = self.append(&mut st, &mut record, &[])? else { continue };
            let new = Loc { seq, off, len: record.len() as u64 };
            let pos = (seq, off + record.len() as u64);
            Self::add_live(&mut st, id, new);
            drop(self.wait_durable(st, pos)?);
        }
        Ok(())
    }

    /// Writes `bytes` to `corrupt/<name>` (or `<name>.N` when taken), fsynced.
    fn save_corrupt(&self, name: &str, bytes: &[u8]) -> Result<String> {
        let mut n = 0;
        loop {
            let file_name = if n == 0 { name.to_string() } else { format!("{name}.{n}") };
            let path = self.inner.corrupt.join(&file_name);
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(mut f) => {
                    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io_err("write", &path))?;
                    File::open(&self.inner.corrupt)
                        .and_then(|d| d.sync_all())
                        .map_err(io_err("fsync", &self.inner.corrupt))?;
                    return Ok(file_name);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(io_err("create", &path)(e)),
            }
        }
    }

    fn move_aside(&self, path: &Path, name: &str) -> Result<()> {
        let mut dest = self.inner.corrupt.join(name);
        let mut n = 1;
        while dest.exists() {
            dest = self.inner.corrupt.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(path, &dest).map_err(io_err("rename", &dest))?;
        for dir in [&self.inner.corrupt, &self.inner.journal] {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync", dir))?;
        }
        Ok(())
    }

    /// Segments on disk now and queued messages in the index (for tests and the bench).
    pub fn stats(&self) -> SpoolStats {
        let st = self.lock();
        SpoolStats {
            segments: st.segments.len(),
            bytes_on_disk: st.segments.values().map(|s| s.size).sum(),
            live_bytes: st.segments.values().map(|s| s.live_bytes).sum(),
            messages: st.index.len(),
        }
    }
}

/// See [`Spool::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolStats {
    pub segments: usize,
    pub bytes_on_disk: u64,
    pub live_bytes: u64,
    pub messages: usize,
}

/// `<seq>.seg` files in `dir`, by sequence number.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(seq) = name.strip_suffix(".seg").and_then(|s| u64::from_str_radix(s, 16).ok()) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn random_salt() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // The salt only guards against records forged inside messages; time still varies.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return t as u32;
    }
    u32::from_le_bytes(b)
}

/// The session's handle. No runtime thread waits for the disk: the record is appended on
/// the session's thread (a copy into the page cache) and the session waits, as a task, for
/// the shared `fdatasync` ([`Spool::durable`]: one blocking-pool task per sync, not per
/// message). When the segment is full the whole write goes to the blocking pool instead
/// (closing a segment syncs it, and may compact).
impl Enqueue for Spool {
    fn enqueue(
        &self,
        envelope: Envelope,
        head: Vec<u8>,
        body: Vec<u8>,
    ) -> BoxFuture<'_, std::result::Result<(), Reply>> {
        let spool = self.clone();
        Box::pin(async move {
            let id = envelope.queue_id;
            let appended = if head.len() + body.len() <= INLINE_APPEND {
                spool.try_append(&envelope, &[&head, &body])
            } else {
                Ok(None)
            };
            let result = match appended {
                Ok(Some(pos)) => spool.durable(id, pos).await,
                Ok(None) => {
                    let joined =
                        tokio::task::spawn_blocking(move || spool.write_blocking(&envelope, &[&head, &body])).await;
                    joined.unwrap_or_else(|e| Err(SpoolError::Task(e.to_string())))
                }
                Err(e) => Err(e),
            };
            result.map_err(|e| {
                tracing::error!(queue_id = %id, error = %e, "spool write failed; message not accepted");
                e.reply()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    fn pieces() -> Vec<&'static [u8]> {
        vec![b"PSJ1 header", b"", b"Received: from x\r\n", b"Subject: y\r\n\r\nbody\r\n"]
    }

    fn read(file: &File, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, 0).unwrap();
        buf
    }

    #[test]
    fn a_vectored_write_lays_the_pieces_end_to_end() {
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(b"0123456789", 0).unwrap();
        write_all_at_vectored(&file, &pieces(), 10).unwrap();
        let mut expected = b"0123456789".to_vec();
        expected.extend(pieces().concat());
        assert_eq!(read(&file, expected.len()), expected);
        write_all_at_vectored(&file, &[], 3).unwrap();
        assert_eq!(read(&file, expected.len()), expected, "nothing to write changes nothing");
    }

    #[test]
    fn a_short_write_is_finished_from_where_it_stopped() {
        let whole = pieces().concat();
        for written in 0..=whole.len() {
            let file = tempfile::tempfile().unwrap();
            file.write_all_at(&whole[..written], 7).unwrap();
            write_rest_at(&file, &pieces(), 7, written).unwrap();
            assert_eq!(read(&file, 7 + whole.len())[7..], whole[..], "after {written} bytes");
        }
    }
}
