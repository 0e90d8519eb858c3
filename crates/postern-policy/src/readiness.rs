//! Whether the in-memory directory may be trusted to decide: on one node it always may; in
//! a cluster it may while the node keeps up with the shared store's change feed. When the
//! node has not caught up for longer than `stale_after` (PostgreSQL away: a lock or a
//! deleted account on another node may not be known here), the policy answers
//! `451 4.3.0` at MAIL and RCPT instead of deciding on what may be stale, and answers as
//! usual again as soon as the feed is caught up.
//!
//! In: "caught up now" from whoever follows the feed ([`Readiness::caught_up`]). Out: a
//! refusal for the policy ([`Readiness::refusal`]), and a status for `/health`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postern_core::{Reply, Verdict};
use tokio::time::Instant;

/// A cheap handle, shared by the follower of the feed, the policy and `/health`.
#[derive(Clone, Default)]
pub struct Readiness {
    /// `None`: nothing to keep up with (one node).
    watch: Option<Arc<Watch>>,
}

struct Watch {
    origin: Instant,
    /// Milliseconds after `origin` of the last catch-up.
    caught_up_ms: AtomicU64,
    stale_after: Duration,
}

impl Readiness {
    /// One node: the directory is always current.
    pub fn always() -> Readiness {
        Readiness { watch: None }
    }

    /// A node that follows a shared store's feed; current now (its snapshot was just read).
    pub fn following(stale_after: Duration) -> Readiness {
        let watch = Watch { origin: Instant::now(), caught_up_ms: AtomicU64::new(0), stale_after };
        Readiness { watch: Some(Arc::new(watch)) }
    }

    /// The feed was read to its end and applied just now.
    pub fn caught_up(&self) {
        if let Some(w) = &self.watch {
            let ms = u64::try_from(w.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            w.caught_up_ms.fetch_max(ms, Ordering::Relaxed);
        }
    }

    /// How long since the last catch-up, when that is longer than allowed; `None`: current.
    pub fn stale_for(&self) -> Option<Duration> {
        let w = self.watch.as_ref()?;
        let since = w.origin.elapsed().saturating_sub(Duration::from_millis(w.caught_up_ms.load(Ordering::Relaxed)));
        (since > w.stale_after).then_some(since)
    }

    /// The policy's answer while stale: `451 4.3.0`, the client tries again later.
    pub fn refusal(&self) -> Option<Verdict> {
        let since = self.stale_for()?;
        Some(Verdict::refuse(
            Reply::new(451, "4.3.0", "directory store unavailable, try again later"),
            format!("directory store unavailable: not caught up with the shared store for {} s", since.as_secs()),
        ))
    }

    /// For `/health`: `Err` with a short public text while stale.
    pub fn status(&self) -> Result<(), String> {
        match self.stale_for() {
            None => Ok(()),
            Some(since) => Err(format!("not caught up with the shared store for {} s", since.as_secs())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stale_after_the_allowed_time_current_again_once_caught_up() {
        let readiness = Readiness::following(Duration::from_secs(3));
        assert_eq!(readiness.refusal(), None, "current at start");
        tokio::time::advance(Duration::from_secs(2)).await;
        readiness.caught_up();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(readiness.stale_for(), None, "3 s since the last catch-up is still allowed");
        tokio::time::advance(Duration::from_millis(1500)).await;
        let Some(Verdict::Refuse { reply, reason }) = readiness.refusal() else { panic!("stale after 4.5 s") };
        assert_eq!(reply.render(), "451 4.3.0 directory store unavailable, try again later\r\n");
        assert!(reason.contains("for 4 s"), "{reason}");
        assert!(readiness.status().is_err());
        readiness.caught_up();
        assert_eq!(readiness.refusal(), None);
        assert_eq!(readiness.status(), Ok(()));
    }

    #[test]
    fn one_node_is_always_current() {
        let readiness = Readiness::always();
        assert_eq!(readiness.refusal(), None);
        assert_eq!(readiness.status(), Ok(()));
    }
}
