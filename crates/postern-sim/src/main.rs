//! The abuse simulation's full run (issue 15), figures for docs/BENCHMARKS.md:
//!
//! ```text
//! cargo run --release -p postern-sim -- [--seeds 5] [--senders 200] [--days 7] [--no-baseline] [--reasons]
//!     [--identities-only] [--training-days 10]
//! ```
//!
//! `--identities-only` judges each identity's profile alone (not the account's), to show
//! what the account's profile adds.
//!
//! Per seed: a training week (monitor mode) then `--days` measured days; prints the table
//! over every seed, and with `--reasons` the lock reasons of the behaviour gateway.

use std::time::Instant;

use postern_sim::{Report, SimConfig};

fn value(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?.parse()?),
        None => Ok(default),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds = value(&args, "--seeds", 5)?;
    let senders = value(&args, "--senders", 200)? as usize;
    let days = value(&args, "--days", 7)? as i64;
    let training = value(&args, "--training-days", 10)? as i64;
    let mut report = Report::default();
    let started = Instant::now();
    for seed in 1..=seeds {
        let config = SimConfig {
            senders,
            measured_days: days,
            training_days: training,
            baseline: !args.iter().any(|a| a == "--no-baseline"),
            account_profiles: !args.iter().any(|a| a == "--identities-only"),
            ..SimConfig::week(seed)
        };
        let result = postern_sim::run(&config).await?;
        eprintln!("seed {seed} done after {:.1} s", started.elapsed().as_secs_f64());
        report.seeds.push(result);
    }
    println!("{}", report.table());
    if args.iter().any(|a| a == "--reasons") {
        for seed in &report.seeds {
            for (strategy, reason) in &seed.reasons {
                let who = strategy.map_or("NORMAL SENDER (false lock)", |s| s.name());
                println!("seed {}: {who}: {reason}", seed.seed);
            }
        }
    }
    Ok(())
}
