//! Signing rate, one core: `cargo run --release -p postern-dkim --example sign_bench`.
//!
//! Signs the same message again and again with one RSA-2048 and one Ed25519 key through
//! the [`Signer`] (the decision, the `h=` list, canonicalization, hashing and the
//! signature: everything the SMTP path pays), for messages of 2 KiB and 100 KiB, and
//! prints signatures per second on this one thread. Figures: docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use postern_core::dkim::DkimAlgorithm;
use postern_dkim::{KeyPair, KeyRing, SignOutcome, SignRequest, Signer, SigningKey};

const HEAD: &[u8] = b"Received: from client.example ([192.0.2.1])\r\n\tby mx.test (Postern) with ESMTPS id 0123456789ABCDEF0123;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n";

fn message(body_size: usize) -> Vec<u8> {
    let mut m = b"From: Alice <alice@example.com>\r\nTo: bob@dest.example\r\nSubject: quarterly report\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() < body_size {
        m.extend_from_slice(line);
    }
    m
}

/// Signatures per second over at least `time`.
fn rate(signer: &Signer, message: &[u8], selector: &str, time: Duration) -> f64 {
    let request = SignRequest { account_domain: Some("example.com"), selector: Some(selector), head: HEAD, message };
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < time {
        match signer.sign(&request) {
            SignOutcome::Signed { .. } => count += 1,
            other => panic!("not signed: {other:?}"),
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rsa = KeyPair::generate(DkimAlgorithm::Rsa, None).expect("RSA key");
    let ed = KeyPair::generate(DkimAlgorithm::Ed25519, None).expect("Ed25519 key");
    let signer = Signer::new(KeyRing::new([
        SigningKey::new("example.com", "rsa", &rsa).expect("RSA signing key"),
        SigningKey::new("example.com", "ed", &ed).expect("Ed25519 signing key"),
    ]));
    println!("{:<14} {:>10} {:>14} {:>12}", "key", "message", "signatures/s", "µs each");
    for size in [2 * 1024, 100 * 1024] {
        let m = message(size);
        for (name, selector) in [("RSA-2048", "rsa"), ("Ed25519", "ed")] {
            let per_second = rate(&signer, &m, selector, Duration::from_secs(2));
            println!("{name:<14} {:>8} B {per_second:>14.0} {:>12.1}", m.len(), 1e6 / per_second);
        }
    }
}
