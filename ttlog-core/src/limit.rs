//! Per-call-site rate limits: at most N events a second from one logging
//! statement; the rest are not written but counted, per call site, and
//! snapshots carry the counts.
//!
//! A limit comes from the statement itself (`info!(limit: 100 / s, "…")`)
//! or from a filter rule for its target (`net::conn=warn@50/s`, see
//! [`Filter`](crate::Filter)); the statement's own wins. A call site with a
//! limit has a bit of its state word set, so that its events leave the
//! macros' one-comparison fast path for the cold path, where the limit
//! decides; a call site without one pays nothing.
//!
//! Statements bridged from `tracing` and `log` have no static call site of
//! ours: a rule's limit for their target is kept per statement (its
//! metadata, or its level, target, file and line), made the first time the
//! bridge's cached filter answer says a rule limits the target, and updated
//! by every filter change. Its suppressed events are reported on the first
//! of the statement's call sites that an event of it reached.
//!
//! # The window
//!
//! One counter per call site over fixed one-second windows of the event
//! clock: `{ window number: 40 bits | events admitted in it: 24 bits }` in
//! one atomic word, moved on by compare-and-swap. A limit of 0 admits
//! nothing (the statement is silenced, its events counted); a limit at or
//! above what a thread's ring holds is no limit (the bit is not set).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The largest limit a window counts (24 bits); anything above is no limit.
pub const MAX_PER_SECOND: u32 = (1 << 24) - 1;

/// `per_second` value meaning "no limit".
const UNLIMITED: u32 = u32::MAX;

/// One call site's rate limit and what it suppressed.
#[derive(Debug)]
pub struct RateLimit {
    /// The limit in force: `{ events per second | UNLIMITED }`.
    per_second: AtomicU32,
    /// `{ window number << 24 | events admitted in that window }`.
    window: AtomicU64,
    /// Events not written because of the limit.
    suppressed: AtomicU64,
}

impl RateLimit {
    /// A limit of `per_second` events a second, as a statement declares it
    /// (`None`: none). Built by the macros; not meant to be named.
    #[doc(hidden)]
    pub const fn new(per_second: Option<u32>) -> RateLimit {
        let per_second = match per_second {
            Some(n) => n,
            None => UNLIMITED,
        };
        RateLimit { per_second: AtomicU32::new(per_second), window: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// The limit in force, events per second (`None`: none).
    pub fn per_second(&self) -> Option<u32> {
        let n = self.per_second.load(Ordering::Relaxed);
        (n != UNLIMITED).then_some(n)
    }

    /// Sets the limit in force (a filter rule's).
    pub(crate) fn set(&self, per_second: Option<u32>) {
        self.per_second.store(per_second.unwrap_or(UNLIMITED), Ordering::Relaxed);
    }

    /// Events suppressed so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// Whether an event at `ticks` (the event clock) may be written; counts
    /// it as suppressed when not.
    pub(crate) fn admit(&self, ticks: u64) -> bool {
        let limit = self.per_second.load(Ordering::Relaxed);
        if limit == UNLIMITED {
            return true;
        }
        if limit > 0 {
            let window = (ticks / crate::clock::ticks_per_second()) & ((1 << 40) - 1);
            let mut current = self.window.load(Ordering::Relaxed);
            loop {
                let (w, n) = (current >> 24, current & MAX_PER_SECOND as u64);
                let next = if w != window {
                    window << 24 | 1
                } else if n < u64::from(limit) {
                    current + 1
                } else {
                    break;
                };
                match self.window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(now) => current = now,
                }
            }
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        false
    }
}

/// Whether a limit of `per_second` makes a difference on rings that hold at
/// most `ring_events` events: one at or above it is no limit.
pub(crate) fn matters(per_second: Option<u32>, ring_events: u64) -> bool {
    per_second.is_some_and(|n| u64::from(n) < ring_events && n <= MAX_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_limit_then_counts_the_rest() {
        static L: RateLimit = RateLimit::new(Some(3));
        let second = crate::clock::ticks_per_second();
        let t0 = 10 * second;
        let admitted: Vec<bool> = (0..5).map(|i| L.admit(t0 + i)).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert_eq!(L.suppressed(), 2);
        // The next second opens a new window.
        assert!(L.admit(t0 + second));
        assert_eq!(L.suppressed(), 2);
        // A limit of 0 silences; no limit admits everything.
        L.set(Some(0));
        assert!(!L.admit(t0 + 3 * second));
        assert_eq!(L.suppressed(), 3);
        L.set(None);
        assert!((0..100).all(|i| L.admit(t0 + 3 * second + i)));
    }

    #[test]
    fn limits_at_or_above_the_ring_are_no_limit() {
        assert!(matters(Some(0), 1024));
        assert!(matters(Some(1023), 1024));
        assert!(!matters(Some(1024), 1024));
        assert!(!matters(None, 1024));
        assert!(!matters(Some(MAX_PER_SECOND + 1), u64::MAX));
    }
}
