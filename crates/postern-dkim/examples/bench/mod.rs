//! What the DKIM examples share: their messages, and rates and medians of this thread's
//! CPU time (on a shared machine the thread is often descheduled; wall time would count
//! that as work).

use std::time::{Duration, Instant};

/// Body size, and whether one line in ten needs canonicalization.
pub const SIZES: [(usize, bool); 3] = [(2 * 1024, false), (100 * 1024, false), (100 * 1024, true)];

pub fn message(body_size: usize, mixed: bool) -> Vec<u8> {
    let mut m = b"From: Alice <alice@example.com>\r\nTo: bob@dest.example\r\nSubject: quarterly report\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    let odd = b"The quick brown fox  jumps over the lazy dog,\tagain and again and again.\r\n";
    for n in 0.. {
        if m.len() >= body_size {
            break;
        }
        m.extend_from_slice(if mixed && n % 10 == 9 { odd } else { line });
    }
    m
}

/// Calls of `f` per second of this thread's CPU time, over at least `time` of wall time.
/// CPU time, not wall time: on a shared machine the thread is often descheduled, and
/// that would count as signing time. Wall time when the kernel does not say.
pub fn rate(time: Duration, mut f: impl FnMut()) -> f64 {
    let (started, cpu_started) = (Instant::now(), thread_cpu());
    let mut count = 0u64;
    while started.elapsed() < time {
        f();
        count += 1;
    }
    let seconds = match (cpu_started, thread_cpu()) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => started.elapsed().as_secs_f64(),
    };
    count as f64 / seconds
}

/// Time this thread has run on a CPU (the first field of schedstat, in ns).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split(' ').next()?.parse().ok().map(Duration::from_nanos)
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}
