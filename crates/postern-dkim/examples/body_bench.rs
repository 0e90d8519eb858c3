//! The body hash alone, one core: `cargo run --release -p postern-dkim --example body_bench [-- ROUNDS SECONDS]`.
//!
//! Times [`body_hash`] on the messages of `sign_bench` (2 KiB and 100 KiB of clean lines,
//! and 100 KiB where one line in ten has a run of spaces and a tab: "mixed"), and ring's
//! SHA-256 over the same body bytes as they are: the difference is what finding the
//! lines that need canonicalization, and canonicalizing them, costs on top of hashing.
//! Every measurement runs ROUNDS times (default 9), each for SECONDS (default 1), on this
//! one thread, interleaved; the table gives medians, in µs per call of the thread's CPU
//! time.

use std::time::{Duration, Instant};

use postern_dkim::body::{body_hash, body_offset};

const SIZES: [(usize, bool); 3] = [(2 * 1024, false), (100 * 1024, false), (100 * 1024, true)];

/// The message of `sign_bench`.
fn message(body_size: usize, mixed: bool) -> Vec<u8> {
    let mut m = b"From: Alice <alice@example.com>\r\nTo: bob@dest.example\r\nSubject: quarterly report\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    let odd = b"The quick brown fox  jumps over the lazy dog,\tagain and again and again.\r\n";
    for n in 0.. {
        if m.len() >= body_size {
            break;
        }
        m.extend_from_slice(if mixed && n % 10 == 9 { odd } else { line });
    }
    m
}

/// µs of this thread's CPU time per call of `f`, over at least `time` of wall time.
fn micros(time: Duration, mut f: impl FnMut()) -> f64 {
    let (started, cpu_started) = (Instant::now(), thread_cpu());
    let mut count = 0u64;
    while started.elapsed() < time {
        f();
        count += 1;
    }
    let seconds = match (cpu_started, thread_cpu()) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => started.elapsed().as_secs_f64(),
    };
    seconds * 1e6 / count as f64
}

/// Time this thread has run on a CPU (the first field of schedstat, in ns).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split(' ').next()?.parse().ok().map(Duration::from_nanos)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse().expect("ROUNDS: a number")).unwrap_or(9);
    let seconds: f64 = args.next().map(|a| a.parse().expect("SECONDS: a number")).unwrap_or(1.0);
    let window = Duration::from_secs_f64(seconds);
    let messages: Vec<Vec<u8>> = SIZES.iter().map(|&(size, mixed)| message(size, mixed)).collect();

    let mut ours = vec![Vec::new(); SIZES.len()];
    let mut sha = vec![Vec::new(); SIZES.len()];
    for _ in 0..rounds {
        for (s, m) in messages.iter().enumerate() {
            let body = &m[body_offset(m)..];
            ours[s].push(micros(window, || {
                std::hint::black_box(body_hash(std::hint::black_box(m)));
            }));
            sha[s].push(micros(window, || {
                std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, std::hint::black_box(body)));
            }));
        }
    }
    println!("{rounds} rounds of {seconds} s per figure, interleaved, medians; µs per call of thread CPU time");
    println!();
    println!("| body | body_hash µs | SHA-256 µs | on top µs |");
    println!("|---:|---:|---:|---:|");
    for (s, m) in messages.iter().enumerate() {
        let mixed = if SIZES[s].1 { " mixed" } else { "" };
        let (ours, sha) = (median(&ours[s]), median(&sha[s]));
        println!("| {} B{mixed} | {ours:.2} | {sha:.2} | {:.2} |", m.len() - body_offset(m), ours - sha);
    }
}
