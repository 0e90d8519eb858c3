//! How the process asks glibc's allocator to give memory back: settings made once at
//! start-up before any thread runs, and a task that trims what the allocator keeps free.
//!
//! In: nothing (fixed values, measured in docs/BENCHMARKS.md). Out: `mallopt` settings and
//! a periodic `malloc_trim`. Defends against resident memory that grows and is never given
//! back:
//! - glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
//!   after the first large message every later message buffer comes from the arenas, whose
//!   freed space is kept and fragments; 100 clients streaming 24 MB messages with BDAT
//!   then peaked at 445 MB against a 256 MiB budget. A fixed threshold keeps every block
//!   of 256 KiB or more (message buffers, spool reads) in its own mapping, returned to the
//!   system when freed: the same run peaked at 302 MB.
//! - Memory of closed connections is freed but kept by the arenas (10,000 idle connections
//!   took 190 MB; after they closed RSS stayed at 183 MB and rose round after round).
//!   `malloc_trim(0)` hands it back (to 32 MB); the trimmer calls it when the arenas hold
//!   more than [`TRIM_ABOVE`] free, looking every [`TRIM_EVERY`].
//!
//! Elsewhere than glibc this does nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Blocks from this size up are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Free memory the arenas may keep before the trimmer gives it back.
pub const TRIM_ABOVE: usize = 32 * 1024 * 1024;

/// How often the trimmer looks.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Sets the allocator's behaviour; call before starting threads.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        if libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 {
            eprintln!("postern: warning: mallopt(M_MMAP_THRESHOLD) failed; memory may not be given back");
        }
    }
}

/// Gives free arena memory back to the system until `shutdown`.
pub async fn trim_until(shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TRIM_EVERY) => {}
        }
        // Both calls walk every arena under its lock: off the async threads.
        let trimmed = tokio::task::spawn_blocking(trim_if_worth_it).await;
        if let Ok(Some(free)) = trimmed {
            tracing::debug!(free_bytes = free, "gave free allocator memory back to the system");
        }
    }
}

/// `Some(free bytes)` when the arenas held more than [`TRIM_ABOVE`] free and were trimmed.
fn trim_if_worth_it() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 and malloc_trim only read and release the allocator's own free
        // memory; both are thread-safe in glibc.
        let free = unsafe { libc::mallinfo2() }.fordblks;
        if free > TRIM_ABOVE {
            unsafe { libc::malloc_trim(0) };
            return Some(free);
        }
    }
    None
}
