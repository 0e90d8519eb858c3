//! Spool write throughput: N concurrent writers (as N concurrent SMTP sessions would be),
//! each write durable before it returns, exactly as the session's path to `250`. Two write
//! paths side by side in the same run:
//!
//! - `files`: the spool before the journal (issue 2): one file per message, created in
//!   `incoming/`, written, fsynced, renamed to `queue/`, the directory fsynced.
//! - `journal`: [`Spool::write_blocking`]: append to a zero-filled segment, one
//!   `fdatasync` shared by every concurrent writer (group commit).
//!
//! Five runs per row, interleaved; the median is printed with the spread.
//!
//! `cargo run --release -p postern-queue --example spool_bench -- [DIR] [MESSAGES] [SIZE]`
//! DIR defaults to a temporary directory on the same disk as the current directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use postern_core::Envelope;
use postern_core::test_support::{self, client};
use postern_queue::Spool;

fn envelope() -> Envelope {
    Envelope {
        client: client("127.0.0.1:1", "smtp"),
        ..test_support::envelope(Some("bench@example.com"), &["sink@example.net"])
    }
}

/// The file-per-message spool of issue 2, kept here to measure against.
struct Files {
    incoming: PathBuf,
    queue: PathBuf,
    queue_dir: File,
}

impl Files {
    fn open(root: &Path) -> Files {
        let (incoming, queue) = (root.join("incoming"), root.join("queue"));
        fs::create_dir_all(&incoming).expect("incoming");
        fs::create_dir_all(&queue).expect("queue");
        let queue_dir = File::open(&queue).expect("queue dir");
        Files { incoming, queue, queue_dir }
    }

    fn write(&self, envelope: &Envelope, body: &[u8]) {
        let name = envelope.queue_id.to_string();
        let json = serde_json::to_vec(envelope).expect("json");
        let mut crc = crc32fast::Hasher::new();
        crc.update(&json);
        crc.update(body);
        let header = format!("POSTERN-SPOOL 1 {} {} {:08x}\n", json.len(), body.len(), crc.finalize());
        let temp = self.incoming.join(&name);
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).expect("create");
        f.write_all(header.as_bytes()).expect("write");
        f.write_all(&json).expect("write");
        f.write_all(body).expect("write");
        f.sync_all().expect("fsync");
        drop(f);
        fs::rename(&temp, self.queue.join(&name)).expect("rename");
        self.queue_dir.sync_all().expect("fsync dir");
    }
}

#[derive(Clone, Copy)]
enum Path_ {
    Files,
    Journal,
}

fn run(dir: &Path, path: Path_, writers: usize, total: usize, size: usize) -> f64 {
    let root = dir.join(format!("w{writers}"));
    let body = vec![b'x'; size];
    let per = total / writers;
    let rate = match path {
        Path_::Files => {
            let files = Files::open(&root);
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..writers {
                    let (files, body) = (&files, &body);
                    s.spawn(move || (0..per).for_each(|_| files.write(&envelope(), body)));
                }
            });
            (per * writers) as f64 / start.elapsed().as_secs_f64()
        }
        Path_::Journal => {
            let spool = Spool::open(&root).expect("open spool");
            // The first segment is prepared outside the measured time, as it is at start.
            spool.write_blocking(&envelope(), &[&body]).expect("write");
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..writers {
                    let (spool, body) = (&spool, &body);
                    s.spawn(move || (0..per).for_each(|_| spool.write_blocking(&envelope(), &[body]).expect("write")));
                }
            });
            (per * writers) as f64 / start.elapsed().as_secs_f64()
        }
    };
    let _ = fs::remove_dir_all(&root);
    rate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).map(PathBuf::from).unwrap_or_else(|| std::env::current_dir().expect("cwd"));
    let total: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let size: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    println!("spool writes/s, {total} messages of {size} octets per run, 5 runs, in {}", base.display());
    println!(
        "{:>8} | {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>6}",
        "writers", "files/s", "min", "max", "journal/s", "min", "max", "ratio"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[2], v[0], v[4])
    };
    for writers in [1, 10, 50] {
        let (mut files, mut journal) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            files.push(run(dir.path(), Path_::Files, writers, total, size));
            journal.push(run(dir.path(), Path_::Journal, writers, total, size));
        }
        let (f, fmin, fmax) = median(files);
        let (j, jmin, jmax) = median(journal);
        println!(
            "{writers:>8} | {f:>10.0} {fmin:>8.0} {fmax:>8.0} | {j:>10.0} {jmin:>8.0} {jmax:>8.0} | {:>6.1}",
            j / f
        );
    }
}
