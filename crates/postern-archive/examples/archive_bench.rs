//! What an archived copy costs on the SMTP path, one node (files + SQLite index):
//! `cargo run --release -p postern-archive --example archive_bench [-- THREADS COPIES SIZE [DIR]]`.
//!
//! THREADS threads (default 20, like the real-path benchmark's sessions) each store COPIES
//! copies (default 100) of a SIZE-octet message (default 102400; a text body and a base64
//! attachment, so gzip and the text extraction do their usual work) through
//! [`Archive::store`], the call the pipeline makes before the spool and the `250`. Prints
//! copies per second and the latency of each store (p50/p90/p99/max). DIR (default: a
//! temporary directory) must be on the disk whose fsyncs you want to measure.
//! Figures: docs/BENCHMARKS.md ("Archive writes").

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_archive::Archive;
use postern_core::test_support::{envelope, owner};
use postern_core::{ArchiveCopy, Envelope};

fn message(size: usize, n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Alice <alice@a.example>\r\nTo: bob@remote.example\r\nSubject: report {n}\r\n\
         Message-ID: <{n}@a.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    for i in 0..20 {
        m.extend_from_slice(format!("Line {i} of the quarterly report for message {n}.\r\n").as_bytes());
    }
    m.extend_from_slice(
        b"--b\r\nContent-Type: application/octet-stream; name=\"r.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    let mut x: u32 = 2463534242 ^ n as u32;
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    while m.len() + 80 < size {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            m.push(B64[(x % 64) as usize]);
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

fn copy(size: usize, n: usize) -> ArchiveCopy {
    let mut env: Envelope = envelope(Some("alice@a.example"), &["bob@remote.example"]);
    env.owner = Some(owner(Some(1 + (n % 30) as i64), Some("a.example"), "alice@a.example"));
    env.received_at_ms = chrono::Utc::now().timestamp_millis();
    ArchiveCopy {
        envelope: env,
        head: Arc::new(b"DKIM-Signature: v=1; d=a.example; b=xyz\r\nReceived: from test\r\n".to_vec()),
        message: Arc::new(message(size, n)),
        message_id: Some(format!("<{n}@a.example>")),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (threads, copies, size) = (arg(0, 20), arg(1, 100), arg(2, 102_400));
    let temp = tempfile::tempdir_in(args.get(3).map_or(".", String::as_str)).expect("a scratch directory");
    let (archive, _) = Archive::open(&temp.path().join("archive")).expect("the archive opens");
    // Every copy built before the clock starts: the figure is the store alone.
    let work: Vec<Vec<ArchiveCopy>> =
        (0..threads).map(|t| (0..copies).map(|i| copy(size, t * copies + i)).collect()).collect();
    let started = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .map(|mine| {
            let archive = archive.clone();
            std::thread::spawn(move || {
                let mut took = Vec::with_capacity(mine.len());
                for c in &mine {
                    let t = Instant::now();
                    archive.store(c).expect("stored");
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().expect("a thread")).collect();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "threads {threads}, copies {}, size {size}: {:.0} copies/s; store p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
}
