//! The memory budget for messages being received: one number of bytes
//! (`limits.max_data_in_flight`) that every session's DATA and BDAT buffers together may
//! hold, and the buffer that takes from it as it grows.
//!
//! In: the bytes a session wants to keep. Out: room in a [`MessageBuffer`], or `false`
//! when the budget is spent; the session then reads and discards to the end of the
//! message and answers `452 4.3.1` (`verbs/data.rs`, `verbs/bdat.rs`). Defends against:
//! many clients streaming large messages at once exhausting the machine's memory (each
//! message is held whole until the end of data, for DKIM and content checks). What a
//! buffer holds is what it was granted: its capacity is reserved exactly, so the budget
//! bounds the allocations, not just the lengths.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The first grant; later ones double what the buffer holds (up to the size limit).
const FIRST_GRANT: usize = 64 * 1024;

/// Bytes in flight over all sessions, bounded.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget { limit, used: AtomicU64::new(0) })
    }

    /// Bytes granted now, over all sessions.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn try_take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Budget held by one message; given back when dropped.
#[derive(Debug)]
pub struct Grant {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// A message being received, whose capacity is always covered by its grant.
#[derive(Debug)]
pub struct MessageBuffer {
    bytes: Vec<u8>,
    grant: Grant,
}

impl MessageBuffer {
    pub fn new(budget: &Arc<MemoryBudget>) -> MessageBuffer {
        MessageBuffer { bytes: Vec::new(), grant: Grant { budget: Arc::clone(budget), bytes: 0 } }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Makes room for `more` bytes, growing (and taking budget) towards at most `cap`
    /// bytes in all. `false`: the budget cannot cover them; nothing changed.
    pub fn reserve(&mut self, more: usize, cap: usize) -> bool {
        let need = self.bytes.len().saturating_add(more);
        if need <= self.grant.bytes as usize {
            return true;
        }
        let held = self.grant.bytes as usize;
        let generous = held.saturating_mul(2).max(FIRST_GRANT).min(cap).max(need);
        for target in [generous, need] {
            let extra = (target - held) as u64;
            if self.grant.budget.try_take(extra) {
                self.grant.bytes += extra;
                self.bytes.reserve_exact(target - self.bytes.len());
                return true;
            }
        }
        false
    }

    /// Appends bytes for which [`reserve`](Self::reserve) made room.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The vector to decode into; [`reserve`](Self::reserve) first.
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// The message and the grant that must live as long as it is in memory.
    pub fn into_parts(self) -> (Vec<u8>, Grant) {
        (self.bytes, self.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_capacity_and_come_back() {
        let budget = MemoryBudget::new(1 << 20);
        let mut a = MessageBuffer::new(&budget);
        assert!(a.reserve(10, 1 << 20));
        a.extend(&[b'x'; 10]);
        assert_eq!(budget.in_use(), FIRST_GRANT as u64);
        assert!(a.reserve(FIRST_GRANT, 1 << 20));
        assert_eq!(budget.in_use(), 2 * FIRST_GRANT as u64, "doubled");
        assert!(a.bytes.capacity() as u64 <= budget.in_use() + 64);
        drop(a);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_spent_budget_refuses_and_changes_nothing() {
        let budget = MemoryBudget::new(100_000);
        let mut a = MessageBuffer::new(&budget);
        assert!(a.reserve(90_000, 1 << 20));
        let mut b = MessageBuffer::new(&budget);
        assert!(!b.reserve(20_000, 1 << 20));
        assert_eq!(budget.in_use(), 90_000, "a refusal takes nothing");
        assert!(b.reserve(10_000, 1 << 20), "the generous grant fails, the exact one fits");
        let (bytes, grant) = a.into_parts();
        drop(bytes);
        assert_eq!(budget.in_use(), 100_000);
        drop(grant);
        assert_eq!(budget.in_use(), 10_000);
    }
}
