//! The attachment checks' throughput on one core: messages analysed per second for
//! (a) a message with a realistic 2 MB `.docx` (many XML parts, a few images), (b) a
//! message with a nested zip (documents in a zip in a zip), and (c) a plain text message;
//! and, for reference, (a) parsed as MIME only (what decoding the message costs alone).
//!
//! ```sh
//! cargo run --release -p postern-attachments --example bench [SECONDS_PER_RUN] [RUNS]
//! ```
//!
//! Prints, per case, the message size and the median, min and max messages/s over the runs.

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

use std::time::{Duration, Instant};

use postern_attachments::{Bounds, Checks, Verdict, analyse};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);

    let docx = fixtures::large_docx(2 << 20);
    let inner = fixtures::zip(&[
        ("q1.docx", &fixtures::large_docx(300 << 10)),
        ("q2.docx", &fixtures::large_docx(300 << 10)),
        ("summary.pdf", fixtures::PDF),
        ("notes.txt", b"Figures attached."),
    ]);
    let nested = fixtures::zip(&[("reports/inner.zip", &inner), ("cover.docx", &fixtures::docx(false))]);
    let cases = [
        ("2 MB .docx", fixtures::message(&[("report.docx", "application/octet-stream", &docx)])),
        ("nested zip", fixtures::message(&[("reports.zip", "application/zip", &nested)])),
        ("plain text", b"From: a@example.com\r\nSubject: hi\r\n\r\nJust text.\r\n".to_vec()),
    ];
    let bounds = Bounds::default();
    let parse_only = |message: &[u8]| {
        std::hint::black_box(mail_parser::MessageParser::default().parse(message).map(|m| m.parts.len()));
    };
    println!("attachment checks, {runs} runs of {seconds} s each, one thread");
    println!("| message | size | median msg/s | min | max | median MB/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, message) in &cases {
        assert_eq!(analyse(message, &bounds, Checks::ALL), Verdict::Clean, "{name} must be clean");
        row(name, message, runs, || {
            rate(seconds, || drop(analyse(std::hint::black_box(message), &bounds, Checks::ALL)))
        });
    }
    let (_, docx_message) = &cases[0];
    row("2 MB .docx, MIME parsing only", docx_message, runs, || rate(seconds, || parse_only(docx_message)));
}

fn row(name: &str, message: &[u8], runs: usize, mut measure: impl FnMut() -> f64) {
    let mut rates: Vec<f64> = (0..runs).map(|_| measure()).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "| {name} | {:.2} MB | {median:.1} | {:.1} | {:.1} | {:.1} |",
        message.len() as f64 / 1e6,
        rates[0],
        rates[rates.len() - 1],
        median * message.len() as f64 / 1e6
    );
}

/// Calls of `work` per second over `seconds`.
fn rate(seconds: f64, mut work: impl FnMut()) -> f64 {
    let started = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    let mut count = 0u64;
    while started.elapsed() < limit {
        work();
        count += 1;
    }
    count as f64 / started.elapsed().as_secs_f64()
}
