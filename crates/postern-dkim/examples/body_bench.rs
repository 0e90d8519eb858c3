//! The body hash alone, one core: `cargo run --release -p postern-dkim --example body_bench [-- ROUNDS SECONDS]`.
//!
//! Times [`body_hash`] on the messages of `sign_bench` (2 KiB and 100 KiB of clean lines,
//! and 100 KiB where one line in ten has a run of spaces and a tab: "mixed"), and ring's
//! SHA-256 over the same body bytes as they are: the difference is what finding the
//! lines that need canonicalization, and canonicalizing them, costs on top of hashing.
//! Every measurement runs ROUNDS times (default 9), each for SECONDS (default 1), on this
//! one thread, interleaved; the table gives medians, in µs per call of the thread's CPU
//! time.

mod bench;

use std::time::Duration;

use postern_dkim::body::{body_hash, body_offset};

use bench::{SIZES, median, message, rate};

/// µs of this thread's CPU time per call of `f`, over at least `time` of wall time.
fn micros(time: Duration, f: impl FnMut()) -> f64 {
    1e6 / rate(time, f)
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
