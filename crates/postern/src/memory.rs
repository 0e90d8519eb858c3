//! How the process asks glibc's allocator to give memory back, set once at start-up before
//! any thread runs.
//!
//! In: nothing (fixed values, measured in docs/BENCHMARKS.md). Out: `mallopt` settings.
//! Defends against resident memory that grows and is never returned: glibc raises its
//! mmap threshold each time a large block is freed (up to 32 MiB), so after the first large
//! message every later message buffer comes from the per-thread arenas, whose freed space
//! is kept and fragments; 100 clients streaming 24 MB messages with BDAT then peaked at
//! 445 MB against a 256 MiB budget. A fixed threshold keeps every block of 256 KiB or more
//! (message buffers, spool reads) in its own mapping, returned to the system when freed:
//! the same run peaked at 302 MB. Elsewhere than glibc this does nothing.

/// Blocks from this size up are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 256 * 1024;

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
