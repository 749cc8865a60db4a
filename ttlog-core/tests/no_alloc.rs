//! Proves that logging allocates nothing after a thread's first event: a
//! counting global allocator wraps the system one, and the count must not
//! move across 100,000 events of every kind of field.
//!
//! Only allocations made by the logging thread itself count: the recorder's
//! own background threads (signals, periodic snapshots) may allocate. And
//! `harness = false`, so the libtest harness stays out of the way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use ttlog_core::{Trace, debug, info, warn};

struct Counting;

thread_local! {
    /// Allocations made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn log_all(i: u64) {
    let addr = std::net::Ipv4Addr::new(10, 0, 0, (i % 255) as u8);
    info!("Trade executed", symbol = "AAPL", qty = i, price = 150.25, ok = true);
    warn!(target: "risk", "limit", used = 0.93f32, desk = 'A', delta = -(i as i64), big = i as u128);
    info!("peer", addr = %addr, state = ?Some(i), long = "a string longer than six bytes, copied into the ring");
    debug!("disabled at info", i);
}

/// Runs `log` once per `i` in `0..100_000` after `warm_up` runs, and checks
/// that the calling thread allocated nothing and that `events` events were
/// recorded.
fn assert_no_alloc(trace: &Trace, what: &str, warm_up: u64, events: u64, log: impl Fn(u64)) {
    for i in 0..warm_up {
        log(i);
    }
    let before_logged = trace.metrics().logged;
    let before = allocations();
    for i in 0..100_000 {
        log(i);
    }
    let n = allocations() - before;
    assert_eq!(trace.metrics().logged - before_logged, events, "{what} were recorded");
    assert_eq!(n, 0, "{n} allocations in {events} {what} after warm-up");
    println!("no_alloc: 0 allocations in {events} {what} after warm-up");
}

fn main() {
    let trace = Trace::builder().service("no-alloc").capacity_events(1024).install().unwrap();
    // The counter itself must see this thread's allocations.
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 64]));
    assert_eq!(allocations(), probe + 1, "the counting allocator counts");
    // Warm-up: registers the call sites and gives this thread its ring.
    assert_no_alloc(&trace, "events", 1, 300_000, log_all);
    assert_eq!(trace.metrics().logged, 300_003, "every event was recorded");
    let mut passed = 1;

    #[cfg(feature = "tracing")]
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry().with(ttlog_core::layer()).init();
        let span = tracing::info_span!("request", id = 42u64, route = "/orders");
        let bridged = |i: u64| {
            let _e = span.enter();
            tracing::info!(qty = i, price = 150.25, symbol = "AAPL", peer = ?Some(i), "Trade executed");
            tracing::warn!(n = i, "retry {}", i);
            tracing::debug!(i, "disabled at info");
        };
        assert_no_alloc(&trace, "tracing events (in a span)", 100, 200_000, bridged);
        passed += 1;
    }

    #[cfg(feature = "log")]
    {
        ttlog_core::log_bridge::init().unwrap();
        let bridged = |i: u64| {
            log::info!(qty = i, price = 150.25, symbol = "AAPL"; "Trade executed");
            log::warn!("retry {}", std::hint::black_box(i));
        };
        assert_no_alloc(&trace, "log records", 100, 200_000, bridged);
        passed += 1;
    }
    println!("{passed} passed, 0 failed");
}
