//! `content_bench`: the CPU time of the two built-in content checks that read MIME, the
//! scorer then the attachment checks (the order the gateway runs them in), on one message:
//! about 100 KB, a short text body and a base64-encoded PDF attachment of about 72 KB. Both
//! scanners run as the pipeline runs them (`Scanner::scan`, their blocking tasks included),
//! on one [`ScanInput`] per message.
//!
//! Usage: `cargo run --release -p postern-scorer --example content_bench [-- SECONDS RUNS]`
//! (default 3 s, 5 runs). Prints the process CPU time per message (user + system, every
//! thread: the blocking pool's too) and the wall time per message, median, min and max over
//! the runs, and the scorer's and the attachment checks' results, which must not change
//! between versions. `CONTENT_BENCH_COUNT=N` runs N messages and prints nothing else:
//! `valgrind --tool=callgrind` of N and of 0 messages gives the instructions per message,
//! whatever else the machine is doing.

use std::sync::Arc;
use std::time::Instant;

use postern_attachments::{AttachmentScanner, Bounds};
use postern_core::tenancy::{Account, AccountSettings};
use postern_core::test_support::{account, envelope};
use postern_pipeline::{ScanInput, ScanResult, Scanner};
use postern_scorer::{Analyzer, Models, ScorerScanner, TrainingMinimum};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let models = Models::shipped(TrainingMinimum::default()).expect("shipped model");
    let scorer = ScorerScanner::new(Arc::new(Analyzer::default()), Arc::new(models));
    let attachments = AttachmentScanner::new(Bounds::default());
    let account = account(AccountSettings::default());
    let message = message(100 * 1024);
    let once = |message: &[u8]| runtime.block_on(both(&scorer, &attachments, &account, message));
    let (scored, checked) = once(message.as_slice());
    println!("message {} bytes; scorer {scored:?}; attachments {checked:?}", message.len());
    // `CONTENT_BENCH_COUNT=N`: N messages and nothing else, for an instruction count that
    // load on the machine does not change (`valgrind --tool=callgrind`, N and 0).
    if let Some(count) = std::env::var("CONTENT_BENCH_COUNT").ok().and_then(|c| c.parse::<usize>().ok()) {
        for _ in 0..count {
            std::hint::black_box(once(std::hint::black_box(message.as_slice())));
        }
        return;
    }
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..runs {
        let (cpu_started, started) = (cpu_seconds(), Instant::now());
        let mut count = 0u64;
        while started.elapsed().as_secs_f64() < seconds {
            std::hint::black_box(once(std::hint::black_box(message.as_slice())));
            count += 1;
        }
        wall.push(started.elapsed().as_secs_f64() * 1e6 / count as f64);
        cpu.push((cpu_seconds() - cpu_started) * 1e6 / count as f64);
    }
    for (name, mut values) in [("cpu", cpu), ("wall", wall)] {
        values.sort_by(f64::total_cmp);
        println!(
            "{name:<4} us/message: median {:.1} (min {:.1}, max {:.1}; {runs} runs of {seconds} s)",
            values[values.len() / 2],
            values[0],
            values[values.len() - 1]
        );
    }
}

/// The scorer then the attachment checks on one message, as the pipeline runs them.
async fn both(
    scorer: &ScorerScanner,
    attachments: &AttachmentScanner,
    account: &Account,
    message: &[u8],
) -> (ScanResult, ScanResult) {
    let envelope = envelope(Some("alice@example.com"), &["bob@remote.example"]);
    let input = ScanInput {
        envelope: &envelope,
        account: Some(account),
        message,
        parsed: Default::default(), // (the shared parse: one per message)
    };
    let scored = scorer.scan(&input).await;
    (scored, attachments.scan(&input).await)
}

/// User and system CPU time of the whole process so far (`/proc/self/stat`, in ticks of
/// 10 ms: runs of seconds make that precise enough).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// About `size` bytes: a short note and a PDF (a header, then bytes that do not compress),
/// base64-encoded in lines of 76.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: Alice <alice@example.com>\r\nTo: bob@remote.example\r\nSubject: The signed contract\r\n\
Date: Mon, 7 Dec 2026 00:03:34 +0000\r\nMessage-Id: <0d93.0003.0000@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Hi Bob,\r\n\r\nplease find attached the signed contract; the invoice follows next week.\r\n\r\nThanks,\r\nAlice\r\n\
--BOUNDARY\r\nContent-Type: application/pdf; name=\"contract.pdf\"\r\n\
Content-Disposition: attachment; filename=\"contract.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let raw = (size.saturating_sub(m.len() + 20) / 78) * 57;
    let mut pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while pdf.len() < raw {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        pdf.push(state as u8);
    }
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for line in pdf.chunks(57) {
        for chunk in line.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                m.push(if k <= chunk.len() { ALPHABET[(n >> (18 - 6 * k) & 63) as usize] } else { b'=' });
            }
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--BOUNDARY--\r\n");
    m
}
