//! Latency and throughput of `acquire` with many distinct keys already counted, and the
//! latency of counting one session in five windows: five `acquire` one after another
//! against one `acquire_all`.
//!
//! ```text
//! cargo run --release -p postern-counters --example counter_bench -- \
//!     --backend embedded|redis [--keys 1000000] [--ops 200000] [--tasks 2] \
//!     [--session-ops 50000] [--dir /tmp/counter-bench] [--redis-url redis://127.0.0.1:6379] \
//!     [--populate-tasks 256]
//! ```
//!
//! 1. Populates `--keys` keys (`account:<i>`, one event each, one-hour window). The
//!    embedded backend is filled from one task; Redis from `--populate-tasks` concurrent
//!    tasks, whose calls the multiplexed connection pipelines.
//! 2. Latency: one task, `--ops` acquires (n = 1, limit 100) on uniformly random keys;
//!    median, p99, p99.9 and max in µs, and the ops/s of that single task.
//! 3. Throughput: `--tasks` tasks sharing `--ops` acquires; ops/s overall.
//! 4. Sessions: one task, `--session-ops` sessions of random accounts (of `--keys`), each
//!    counted in the five session windows of the policy (minute to 30 days; limits never
//!    reached, so every call adds) both ways, interleaved: as five sequential `acquire`
//!    and as one `acquire_all` (each on keys of its own, so both start from the same
//!    state); latency per session.
//!
//! The embedded backend writes its journal and snapshots to `--dir` (emptied first); the
//! Redis keys use a fresh prefix and are deleted at the end.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_counters::embedded::EmbeddedCounters;
use postern_counters::redis::RedisCounters;
use postern_counters::{Acquire, Counters, MultiDecision, SystemClock};

const WINDOW: Duration = Duration::from_secs(3600);
const LIMIT: u64 = 100;
/// The session windows of the policy, in seconds: minute, hour, day, week, 30 days.
const SESSION_WINDOWS: [u64; 5] = [60, 3600, 86_400, 7 * 86_400, 30 * 86_400];
/// Never reached by the session benchmark.
const SESSION_LIMIT: u64 = 1_000_000;

const USAGE: &str = "counter_bench --backend embedded|redis [--keys 1000000] [--ops 200000] [--tasks 2] \
     [--session-ops 50000] [--dir DIR] [--redis-url redis://127.0.0.1:6379] [--populate-tasks 256]";

struct Args {
    backend: String,
    keys: u64,
    ops: u64,
    tasks: u64,
    session_ops: u64,
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
        session_ops: 50_000,
        populate_tasks: 256,
        dir: std::env::temp_dir().join("postern-counter-bench"),
        redis_url: "redis://127.0.0.1:6379".into(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => args.backend = value,
            "--keys" => args.keys = value.replace('_', "").parse()?,
            "--ops" => args.ops = value.replace('_', "").parse()?,
            "--tasks" => args.tasks = value.parse::<u64>()?.max(1),
            "--session-ops" => args.session_ops = value.replace('_', "").parse::<u64>()?.max(1),
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
            measure_sessions(counters.clone(), &args).await?;
            counters.flush().await?;
            println!("after a final flush: {:?}", counters.stats());
        }
        "redis" => {
            let prefix = format!("postern-bench:{}", std::process::id());
            let counters = Arc::new(RedisCounters::connect(&args.redis_url, &prefix, Arc::new(SystemClock)).await?);
            populate(counters.clone(), &args, args.populate_tasks).await?;
            measure(counters.clone(), &args).await?;
            measure_sessions(counters.clone(), &args).await?;
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
    println!("latency, 1 task: {}", latency(&mut nanos, started.elapsed()));

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

/// Latency of counting one session in the five session windows, both ways, interleaved
/// (so that background flushes and compactions hit both alike).
async fn measure_sessions<C: Counters>(counters: Arc<C>, args: &Args) -> Result<(), Box<dyn Error>> {
    let mut random = SplitMix(0x5e55_1045);
    let mut nanos = [Vec::with_capacity(args.session_ops as usize), Vec::with_capacity(args.session_ops as usize)];
    for session in 0..args.session_ops {
        let account = random.below(args.keys);
        for way in [session % 2, (session + 1) % 2] {
            let requests: Vec<Acquire> = SESSION_WINDOWS
                .iter()
                .map(|&secs| Acquire {
                    key: format!("sessions-{way}-{secs}:account:{account}"),
                    window: Duration::from_secs(secs),
                    n: 1,
                    limit: SESSION_LIMIT,
                })
                .collect();
            let t = Instant::now();
            if way == 1 {
                if let MultiDecision::Denied { index, .. } = counters.acquire_all(&requests).await? {
                    return Err(format!("session window {index} refused: raise SESSION_LIMIT").into());
                }
            } else {
                for r in &requests {
                    counters.acquire(&r.key, r.window, r.n, r.limit).await?;
                }
            }
            nanos[way as usize].push(t.elapsed().as_nanos() as u64);
        }
    }
    for (way, nanos) in ["acquire x5", "acquire_all"].into_iter().zip(&mut nanos) {
        let busy = Duration::from_nanos(nanos.iter().sum());
        println!("session in 5 windows, {way:<11}: {}", latency(nanos, busy));
    }
    Ok(())
}

/// Median, p99, p99.9 and max of `nanos` in µs, and the rate of `nanos.len()` calls in `elapsed`.
fn latency(nanos: &mut [u64], elapsed: Duration) -> String {
    if nanos.is_empty() {
        return "no calls".into();
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)] as f64 / 1000.0;
    format!(
        "median {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.0} µs; {:.0} calls/s",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        nanos.len() as f64 / elapsed.as_secs_f64()
    )
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
