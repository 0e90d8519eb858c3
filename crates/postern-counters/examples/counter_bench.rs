//! Latency and throughput of `acquire` with many distinct keys already counted.
//!
//! ```text
//! cargo run --release -p postern-counters --example counter_bench -- \
//!     --backend embedded|redis [--keys 1000000] [--ops 200000] [--tasks 2] \
//!     [--dir /tmp/counter-bench] [--redis-url redis://127.0.0.1:6379] [--populate-tasks 256]
//! ```
//!
//! 1. Populates `--keys` keys (`account:<i>`, one event each, one-hour window). The
//!    embedded backend is filled from one task; Redis from `--populate-tasks` concurrent
//!    tasks, whose calls the multiplexed connection pipelines.
//! 2. Latency: one task, `--ops` acquires (n = 1, limit 100) on uniformly random keys;
//!    median, p99, p99.9 and max in µs, and the ops/s of that single task.
//! 3. Throughput: `--tasks` tasks sharing `--ops` acquires; ops/s overall.
//!
//! The embedded backend writes its journal and snapshots to `--dir` (emptied first); the
//! Redis keys use a fresh prefix and are deleted at the end.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_counters::embedded::EmbeddedCounters;
use postern_counters::redis::RedisCounters;
use postern_counters::{Counters, SystemClock};

const WINDOW: Duration = Duration::from_secs(3600);
const LIMIT: u64 = 100;

struct Args {
    backend: String,
    keys: u64,
    ops: u64,
    tasks: u64,
    populate_tasks: u64,
    dir: PathBuf,
    redis_url: String,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        backend: "embedded".into(),
        keys: 1_000_000,
        ops: 200_000,
        tasks: 2,
        populate_tasks: 256,
        dir: std::env::temp_dir().join("postern-counter-bench"),
        redis_url: "redis://127.0.0.1:6379".into(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => args.backend = value,
            "--keys" => args.keys = value.replace('_', "").parse()?,
            "--ops" => args.ops = value.replace('_', "").parse()?,
            "--tasks" => args.tasks = value.parse::<u64>()?.max(1),
            "--populate-tasks" => args.populate_tasks = value.parse::<u64>()?.max(1),
            "--dir" => args.dir = value.into(),
            "--redis-url" => args.redis_url = value,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    println!("backend {}, {} keys, {} ops, {} tasks", args.backend, args.keys, args.ops, args.tasks);
    match args.backend.as_str() {
        "embedded" => {
            let _ = std::fs::remove_dir_all(&args.dir);
            let counters = Arc::new(EmbeddedCounters::open(&args.dir, Arc::new(SystemClock))?);
            populate(counters.clone(), &args, 1).await?;
            let started = Instant::now();
            counters.flush().await?;
            println!("flush after populating: {:.2} s; {:?}", started.elapsed().as_secs_f64(), counters.stats());
            println!("resident memory: {}", resident_memory());
            measure(counters.clone(), &args).await?;
            counters.flush().await?;
            println!("after a final flush: {:?}", counters.stats());
        }
        "redis" => {
            let prefix = format!("postern-bench:{}", std::process::id());
            let counters = Arc::new(RedisCounters::connect(&args.redis_url, &prefix, Arc::new(SystemClock)).await?);
            populate(counters.clone(), &args, args.populate_tasks).await?;
            measure(counters.clone(), &args).await?;
            let started = Instant::now();
            let deleted = counters.delete_all().await?;
            println!("cleanup: {deleted} Redis keys deleted in {:.1} s", started.elapsed().as_secs_f64());
        }
        other => return Err(format!("unknown backend {other}").into()),
    }
    Ok(())
}

/// Adds one event to each of `args.keys` keys from `tasks` concurrent tasks.
async fn populate<C: Counters>(counters: Arc<C>, args: &Args, tasks: u64) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (counters, keys) = (counters.clone(), args.keys);
        running.spawn(async move {
            let mut i = task;
            while i < keys {
                counters.add(&format!("account:{i}"), WINDOW, 1).await?;
                i += tasks;
            }
            Ok::<(), postern_counters::CounterError>(())
        });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("populated {} keys in {secs:.1} s ({:.0} keys/s)", args.keys, args.keys as f64 / secs);
    Ok(())
}

async fn measure<C: Counters>(counters: Arc<C>, args: &Args) -> Result<(), Box<dyn Error>> {
    let mut random = SplitMix(0x00be_ac4e);
    let mut nanos = Vec::with_capacity(args.ops as usize);
    let started = Instant::now();
    for _ in 0..args.ops {
        let key = format!("account:{}", random.below(args.keys));
        let t = Instant::now();
        counters.acquire(&key, WINDOW, 1, LIMIT).await?;
        nanos.push(t.elapsed().as_nanos() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)] as f64 / 1000.0;
    println!(
        "latency, 1 task: median {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.0} µs; {:.0} ops/s",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        args.ops as f64 / secs
    );

    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..args.tasks {
        let (counters, keys, ops) = (counters.clone(), args.keys, args.ops / args.tasks);
        running.spawn(async move {
            let mut random = SplitMix(task + 1);
            for _ in 0..ops {
                counters.acquire(&format!("account:{}", random.below(keys)), WINDOW, 1, LIMIT).await?;
            }
            Ok::<(), postern_counters::CounterError>(())
        });
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("throughput, {} tasks: {:.0} ops/s", args.tasks, (args.ops / args.tasks * args.tasks) as f64 / secs);
    Ok(())
}

fn resident_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l[6..].trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound.max(1)
    }
}
