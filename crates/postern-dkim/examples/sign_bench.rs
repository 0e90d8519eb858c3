//! Signing rate, one core: `cargo run --release -p postern-dkim --example sign_bench [-- ROUNDS SECONDS]`.
//!
//! Signs the same message again and again with one RSA-2048 and one Ed25519 key through
//! the [`Signer`] (the decision, the `h=` list, canonicalization, hashing and the
//! signature: everything the SMTP path pays), for messages of 2 KiB and 100 KiB (and
//! 100 KiB where one line in ten has a run of spaces and a tab: "mixed"), and
//! compares it with the raw signing rate of the same key (ring's signature of a fixed
//! short input, nothing else): the ratio Signer/raw says what the message work costs on
//! top of the signature. Also measures SHA-256 (ring) over 100 KiB, the floor of what
//! hashing a body costs. Every measurement runs ROUNDS times (default 5), each for
//! SECONDS (default 1) on this one thread, interleaved; the table gives medians of rates
//! per second of the thread's CPU time. The
//! "mail-auth" column is the Signer as it was before issue 17 (mail-auth canonicalizing
//! and hashing the body for each key), rebuilt here from the same public parts, for an
//! A/B comparison in one run.
//! Figures: docs/BENCHMARKS.md.

mod bench;

use std::time::Duration;

use mail_auth::common::crypto::{Algorithm, DkimKey, Sha256, SigningKey as MailAuthKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::{Canonicalization, DkimSigner};
use postern_core::dkim::DkimAlgorithm;
use postern_dkim::headers::{fields, from_domain, signing_template};
use postern_dkim::{KeyPair, KeyRing, SignOutcome, SignRequest, Signer, SigningKey};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};

use bench::{SIZES, median, message, rate};

const HEAD: &[u8] = b"Received: from client.example ([192.0.2.1])\r\n\tby mx.test (Postern) with ESMTPS id 0123456789ABCDEF0123;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n";

/// What the raw signature signs: short, fixed.
const RAW_INPUT: &[u8] = b"a fixed short input, the same for every raw signature..........";

const KEYS: [(&str, &str); 2] = [("RSA-2048", "rsa"), ("Ed25519", "ed")];

struct Borrowed<'a>(&'a DkimKey);

impl MailAuthKey for Borrowed<'_> {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

/// The Signer's work before issue 17: mail-auth hashes the body.
fn mail_auth_sign(key: &DkimKey, selector: &str, message: &[u8]) -> String {
    let fields = fields(&[HEAD, message]);
    let domain = from_domain(&fields).expect("From domain");
    let template = signing_template(&fields);
    DkimSigner::from_key(Borrowed(key))
        .domain(domain.as_str())
        .selector(selector)
        .headers(template.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign_chained([HEAD, message])
        .expect("mail-auth signs")
        .to_header()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu() -> (String, bool) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string());
    let sha_ni = info.lines().any(|l| l.starts_with("flags") && l.split(' ').any(|f| f == "sha_ni"));
    (model.unwrap_or_else(|| "unknown".into()), sha_ni)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse().expect("ROUNDS: a number")).unwrap_or(5);
    let seconds: f64 = args.next().map(|a| a.parse().expect("SECONDS: a number")).unwrap_or(1.0);
    let window = Duration::from_secs_f64(seconds);

    let rsa = KeyPair::generate(DkimAlgorithm::Rsa, None).expect("RSA key");
    let ed = KeyPair::generate(DkimAlgorithm::Ed25519, None).expect("Ed25519 key");
    let signer = Signer::new(KeyRing::new([
        SigningKey::new("example.com", "rsa", &rsa).expect("RSA signing key"),
        SigningKey::new("example.com", "ed", &ed).expect("Ed25519 signing key"),
    ]));
    let raw_rsa = RsaKeyPair::from_pkcs8(rsa.pkcs8()).expect("ring RSA key");
    let raw_ed = Ed25519KeyPair::from_pkcs8_maybe_unchecked(ed.pkcs8()).expect("ring Ed25519 key");
    let mail_auth_keys = [rsa.signing_key().expect("RSA key"), ed.signing_key().expect("Ed25519 key")];
    let rng = SystemRandom::new();
    let mut raw_out = vec![0u8; raw_rsa.public().modulus_len()];
    let messages: Vec<Vec<u8>> = SIZES.iter().map(|&(size, mixed)| message(size, mixed)).collect();
    let hashed = vec![b'x'; 100 * 1024];

    let (model, sha_ni) = cpu();
    println!(
        "CPU: {model}, sha_ni: {sha_ni}; {rounds} rounds of {seconds} s per figure, interleaved, medians; rates per second of thread CPU time"
    );
    println!("load average before: {}", load_average());

    // [key][size] for the Signer, [key] for raw.
    let mut signed = vec![vec![Vec::new(); SIZES.len()]; KEYS.len()];
    let mut before = signed.clone();
    let mut raw = vec![Vec::new(); KEYS.len()];
    let mut sha = Vec::new();
    for _ in 0..rounds {
        raw[0].push(rate(window, || {
            raw_rsa.sign(&RSA_PKCS1_SHA256, &rng, RAW_INPUT, &mut raw_out).expect("raw RSA signature");
        }));
        raw[1].push(rate(window, || {
            std::hint::black_box(raw_ed.sign(RAW_INPUT));
        }));
        sha.push(rate(window, || {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, std::hint::black_box(&hashed)));
        }));
        for (k, (_, selector)) in KEYS.iter().enumerate() {
            for (s, m) in messages.iter().enumerate() {
                let request = SignRequest {
                    account_domain: Some("example.com"),
                    selector: Some(selector),
                    head: HEAD,
                    message: m,
                };
                signed[k][s].push(rate(window, || match signer.sign(&request) {
                    SignOutcome::Signed { .. } => {}
                    other => panic!("not signed: {other:?}"),
                }));
                before[k][s].push(rate(window, || {
                    std::hint::black_box(mail_auth_sign(&mail_auth_keys[k], selector, m));
                }));
            }
        }
    }
    println!("load average after: {}", load_average());
    println!();
    println!(
        "| key | message | Signer sig/s | Signer µs | raw sig/s | raw µs | on top µs | Signer/raw | mail-auth µs | mail-auth/raw |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (k, (name, _)) in KEYS.iter().enumerate() {
        let raw = median(&raw[k]);
        for (s, m) in messages.iter().enumerate() {
            let mixed = if SIZES[s].1 { " mixed" } else { "" };
            let signer = median(&signed[k][s]);
            let before = median(&before[k][s]);
            println!(
                "| {name} | {} B{mixed} | {signer:.0} | {:.1} | {raw:.0} | {:.1} | {:.1} | {:.3} | {:.1} | {:.3} |",
                m.len(),
                1e6 / signer,
                1e6 / raw,
                1e6 / signer - 1e6 / raw,
                signer / raw,
                1e6 / before,
                before / raw
            );
        }
    }
    let sha = median(&sha);
    println!();
    println!(
        "SHA-256 (ring) over {} B: {:.1} µs each, {:.0} MB/s",
        hashed.len(),
        1e6 / sha,
        sha * hashed.len() as f64 / 1e6
    );
}
