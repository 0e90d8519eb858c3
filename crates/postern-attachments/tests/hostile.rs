//! Hostile bytes: every fixture mutated thousands of ways (bytes flipped, cut short, runs
//! of bytes repeated, headers' numbers set to extremes) and walked raw and inside a zip.
//! The walk must always answer (never panic, never hang); what it answers is not asserted.

mod fixtures;

use std::time::{Duration, Instant};

use fixtures::*;
use postern_attachments::{Bounds, Checks, Verdict, analyse};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 => {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            1 => b.truncate(rng.below(b.len())),
            2 => {
                let at = rng.below(b.len().saturating_sub(4));
                let v = [0u8, 0xff, 0x7f, 0x80][rng.below(4)];
                let end = (at + 4).min(b.len());
                b[at..end].iter_mut().for_each(|x| *x = v);
            }
            3 => {
                let start = rng.below(b.len());
                let end = (start + rng.below(64)).min(b.len());
                let run = b[start..end].to_vec();
                b.splice(start..start, run.iter().copied().cycle().take(run.len() * 3));
            }
            _ => {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

#[test]
fn mutated_fixtures_always_get_an_answer() {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("a.docm", docx(true)),
        ("a.doc", doc_with_vba()),
        ("a.xls", xls(1)),
        ("a.msi", msi()),
        ("a.docx", encrypted_office()),
        ("a.xlsm", xlsm_with_macrosheet()),
        ("a.zip", zip(&[("in.zip", &zip(&[("x.exe", &pe(&["UPX0"]))])), ("b.doc", &doc_clean())])),
        ("a.tgz", gzip(&tar(&[("a.doc", &doc_with_vba()), ("b.txt", b"text")]))),
        ("a.tar", tar(&[("x", &elf()), ("y", &macho())])),
        ("a.exe", pe(&[".text", "UPX1"])),
    ];
    let bounds = Bounds { max_unpacked_bytes: 8 << 20, ..Bounds::default() };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let started = Instant::now();
    let mut runs = 0;
    for (name, seed) in &seeds {
        for _ in 0..500 {
            let bytes = mutate(&mut rng, seed);
            let wrapped = zip(&[(name, &bytes)]);
            for data in [&bytes, &wrapped] {
                let m = message(&[(name, "application/octet-stream", data)]);
                let verdict = analyse(&m, &bounds, Checks::ALL);
                assert!(matches!(verdict, Verdict::Clean | Verdict::Found(_)));
                runs += 1;
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(120), "{runs} runs took {:?}", started.elapsed());
}
