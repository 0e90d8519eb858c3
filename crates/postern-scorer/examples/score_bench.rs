//! `score_bench`: microseconds to score one message with the shipped model, through the
//! entry point the SMTP pipeline's [`ScorerScanner`](postern_scorer::ScorerScanner) calls
//! ([`Analyzer::score`]), for three kinds of message:
//!
//! - `filler-100k`: what `smtp-source -l 102400` sends: a few headers, then 80-byte lines
//!   of a digit and `X`s (the body of the Postfix load tools);
//! - `english-100k`: 100 KB of ordinary English prose (a fixed seed, so every run scores
//!   the same text);
//! - `english-2k`: 2 KB of the same.
//!
//! Usage: `cargo run --release -p postern-scorer --example score_bench [-- ROUNDS]`.
//! Prints, per message kind, the median over ROUNDS (default 15) of the mean time of a
//! batch of scorings, and the score (which must not change between versions).
//! `SCORE_BENCH_ONLY=filler-100k SCORE_BENCH_COUNT=300` scores one kind N times silently,
//! for `perf stat -e task-clock` (CPU time; or `instructions:u` where the machine has
//! counters), run interleaved with the other version.

use std::time::Instant;

use postern_scorer::rules::Sender;
use postern_scorer::{Analyzer, Models, TrainingMinimum};

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    let models = Models::shipped(TrainingMinimum::default()).expect("shipped model");
    let counts = models.counts();
    let analyzer = Analyzer::default();
    let sender = Sender { account_domain: Some("example.com".into()), any_domain: false };
    let cases = [("filler-100k", filler(102_400)), ("english-100k", english(102_400)), ("english-2k", english(2_048))];
    // `SCORE_BENCH_ONLY=NAME SCORE_BENCH_COUNT=N`: score that message N times and print
    // nothing, for `perf stat` (CPU time or instructions of the whole run).
    if let (Ok(only), Some(count)) = (
        std::env::var("SCORE_BENCH_ONLY"),
        std::env::var("SCORE_BENCH_COUNT").ok().and_then(|c| c.parse::<usize>().ok()),
    ) {
        let (_, message) = cases.iter().find(|(name, _)| *name == only).expect("a message kind");
        for _ in 0..count {
            std::hint::black_box(analyzer.score(std::hint::black_box(message), &sender, &counts));
        }
        return;
    }
    for (name, message) in &cases {
        let score = analyzer.score(message, &sender, &counts);
        // Batches of about 20 ms.
        let started = Instant::now();
        analyzer.score(message, &sender, &counts);
        let once = started.elapsed().as_secs_f64();
        let batch = ((0.02 / once.max(1e-7)) as usize).clamp(1, 100_000);
        let mut means: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..batch {
                    std::hint::black_box(analyzer.score(std::hint::black_box(message), &sender, &counts));
                }
                started.elapsed().as_secs_f64() * 1e6 / batch as f64
            })
            .collect();
        means.sort_by(f64::total_cmp);
        println!(
            "{name:<13} {:>7} bytes: median {:>9.1} us/message (min {:.1}, max {:.1}; {rounds} rounds of {batch}); score {:.4} p {:.6} clues {} {}",
            message.len(),
            means[means.len() / 2],
            means[0],
            means[means.len() - 1],
            score.total,
            score.probability,
            score.clues,
            score.hits.iter().map(|h| h.rule).collect::<Vec<_>>().join(","),
        );
    }
}

fn headers(subject: &str) -> String {
    format!(
        "Received: from vm ([127.0.0.1])\r\n\tby postern with SMTP; Mon, 7 Dec 2026 00:03:34 +0000\r\n\
         From: <foo@example.com>\r\nTo: <bar@example.org>\r\nDate: Mon, 7 Dec 2026 00:03:34 +0000\r\n\
         Message-Id: <0d93.0003.0000@example.com>\r\nSubject: {subject}\r\n\r\n"
    )
}

/// smtp-source's body: lines of 80 bytes, a digit (the line number mod 10) then `X`s.
fn filler(size: usize) -> Vec<u8> {
    let mut message = headers("").into_bytes();
    message.truncate(message.len() - "Subject: \r\n\r\n".len());
    message.extend_from_slice(b"\r\n");
    let mut line = 1usize;
    while message.len() < size {
        message.push(b"0123456789"[line % 10]);
        message.extend(std::iter::repeat_n(b'X', 77));
        message.extend_from_slice(b"\r\n");
        line += 1;
    }
    message
}

/// Ordinary English prose from a fixed seed, wrapped at about 72 columns.
fn english(size: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "had",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "no",
        "meeting",
        "report",
        "quarter",
        "results",
        "project",
        "schedule",
        "team",
        "review",
        "attached",
        "please",
        "thanks",
        "tomorrow",
        "morning",
        "afternoon",
        "discussion",
        "budget",
        "customer",
        "delivery",
        "server",
        "deployment",
        "configuration",
        "question",
        "answer",
        "weekend",
        "holiday",
        "office",
        "building",
        "Monday",
        "Tuesday",
        "London",
        "Paris",
        "September",
        "colleagues",
        "proposal",
        "contract",
        "invoice",
        "approximately",
        "unfortunately",
        "however",
        "therefore",
        "e-mail",
        "follow-up",
        "www.example.com",
        "(see",
        "below)",
        "3.5%",
        "2026,",
        "John's",
        "OK.",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut message = headers("Notes from the quarterly review").into_bytes();
    let mut column = 0;
    let mut sentence_start = true;
    while message.len() < size {
        let word = WORDS[(next() % WORDS.len() as u64) as usize];
        let mut word = word.to_string();
        if sentence_start {
            word[..1].make_ascii_uppercase();
        }
        sentence_start = next() % 12 == 0;
        if sentence_start {
            word.push(if next() % 5 == 0 { ',' } else { '.' });
        }
        if column + word.len() > 72 {
            message.extend_from_slice(b"\r\n");
            column = 0;
            if next() % 8 == 0 {
                message.extend_from_slice(b"\r\n");
            }
        } else if column > 0 {
            message.push(b' ');
            column += 1;
        }
        message.extend_from_slice(word.as_bytes());
        column += word.len();
    }
    message.extend_from_slice(b"\r\n");
    message
}
