//! Spool write throughput: N concurrent writers (as N concurrent SMTP sessions would be),
//! each message written, fsynced, renamed and its directory fsynced, exactly as the
//! session's path to `250`. Five runs per row; the median is printed with the spread.
//!
//! `cargo run --release -p postern-queue --example spool_bench -- [DIR] [MESSAGES] [SIZE]`
//! DIR defaults to a temporary directory on the same disk as the current directory.

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

fn run(dir: &std::path::Path, writers: usize, total: usize, size: usize) -> f64 {
    let root = dir.join(format!("w{writers}"));
    let spool = Spool::open(&root).expect("open spool");
    let body = vec![b'x'; size];
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (spool, body) = (&spool, &body);
            s.spawn(move || {
                for _ in 0..total / writers {
                    spool.write_blocking(&envelope(), &[body]).expect("write");
                }
            });
        }
    });
    let rate = (total / writers * writers) as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&root);
    rate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).map(std::path::PathBuf::from).unwrap_or_else(|| std::env::current_dir().expect("cwd"));
    let total: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let size: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    println!("spool writes/s, {total} messages of {size} octets, in {}", base.display());
    println!("{:>8} {:>10} {:>10} {:>10}", "writers", "median/s", "min/s", "max/s");
    for writers in [1, 10, 50] {
        let mut rates: Vec<f64> = (0..5).map(|_| run(dir.path(), writers, total, size)).collect();
        rates.sort_by(f64::total_cmp);
        println!("{writers:>8} {:>10.0} {:>10.0} {:>10.0}", rates[2], rates[0], rates[4]);
    }
}
