//! Exact accounting and whole events under concurrency: many threads log
//! into small rings while a reader captures; afterwards
//! `logged == readable + overwritten + dropped`, exactly, and every event
//! any capture returned was whole.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use ttlog_core::{Trace, Value, info};

fn trace() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| {
        Trace::builder().service("accounting").capacity_bytes(16 * 1024).max_idle_rings(16).install().unwrap()
    })
}

/// The tests here measure global counters, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Checks that an event written by `worker` below is whole.
fn check_whole(e: &ttlog_core::Event) {
    let (Some(Value::U64(n)), Some(Value::U64(check)), Some(Value::Str(tag))) =
        (e.field("n"), e.field("check"), e.field("tag"))
    else {
        panic!("event with missing fields: {e:?}");
    };
    assert_eq!(*check, n.wrapping_mul(0x9e37_79b9), "torn event {e:?}");
    assert_eq!(tag, &format!("t{}", n % 97), "torn event {e:?}");
}

fn worker(count: u64, logged: &AtomicU64) {
    for n in 0..count {
        let tag = format!("t{}", n % 97);
        info!(target: "acct", "work", n, check = n.wrapping_mul(0x9e37_79b9), tag = tag.as_str());
        logged.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn many_threads_exact_accounting_and_no_torn_events() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let trace = trace();
    let before = trace.metrics();
    let logged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut captures = 0;
            while !stop.load(Ordering::Acquire) {
                let c = ttlog_core::capture();
                for e in c.events().iter().filter(|e| &*e.target == "acct") {
                    check_whole(e);
                }
                captures += 1;
            }
            captures
        })
    };
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let logged = Arc::clone(&logged);
            std::thread::spawn(move || worker(20_000, &logged))
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    let captures = reader.join().unwrap();
    assert!(captures > 0);

    let after = trace.metrics();
    let logged = logged.load(Ordering::Relaxed);
    assert_eq!(after.logged - before.logged, logged);
    // Quiet now: the identity holds exactly, globally and in a capture.
    assert_eq!(after.logged, after.in_ring + after.overwritten + after.dropped.total());
    let c = trace.capture();
    assert_eq!(c.logged(), after.logged);
    assert_eq!(c.len() as u64, after.in_ring);
    assert_eq!(c.overwritten(), after.overwritten);
    for e in c.events().iter().filter(|e| &*e.target == "acct") {
        check_whole(e);
    }
    // Each ring kept its newest events, gap-free.
    for t in &c.threads {
        let seqs: Vec<u64> = t.records().map(|r| r.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(t.overwritten + t.len() as u64, t.written);
    }
}

#[test]
fn thousand_live_threads_stay_bounded() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let trace = trace();
    let barrier = Arc::new(std::sync::Barrier::new(1024 + 1));
    let handles: Vec<_> = (0..1024u64)
        .map(|i| {
            let b = Arc::clone(&barrier);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    for n in 0..100u64 {
                        info!(target: "live", "tick", i, n);
                    }
                    b.wait(); // all 1,024 threads alive at once
                    b.wait();
                })
                .unwrap()
        })
        .collect();
    barrier.wait();
    let m = trace.metrics();
    assert!(m.live_threads >= 1024, "{} live rings", m.live_threads);
    // One ring per live thread plus at most max_idle_rings idle ones (and the
    // test harness threads).
    assert!(m.rings <= 1024 + 16 + 8, "{} rings", m.rings);
    assert!(m.memory_bytes as usize <= m.rings * (trace.ring_bytes() + 4096));
    let c = trace.capture();
    let live: Vec<_> = c.events().into_iter().filter(|e| &*e.target == "live").collect();
    assert_eq!(live.len(), 1024 * 100, "every live thread's events are readable");
    barrier.wait();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(trace.metrics().logged, trace.capture().logged());
}

#[test]
fn hundred_thousand_short_lived_threads_reuse_rings() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let trace = trace();
    let before = trace.metrics();
    let logged = Arc::new(AtomicU64::new(0));
    // 100,000 threads, 8 alive at a time.
    for _ in 0..12_500 {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let logged = Arc::clone(&logged);
                std::thread::Builder::new().stack_size(64 * 1024).spawn(move || worker(3, &logged)).unwrap()
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
    let m = trace.metrics();
    assert_eq!(m.logged - before.logged, logged.load(Ordering::Relaxed));
    assert_eq!(m.logged, m.in_ring + m.overwritten + m.dropped.total());
    // Rings never exceed what the 1,024-thread test needed plus idle ones.
    assert!(
        m.rings <= before.rings.max(8) + 16 + 8,
        "{} rings after 100,000 threads (before: {})",
        m.rings,
        before.rings
    );
    let newest: Vec<_> = trace.events().into_iter().filter(|e| &*e.target == "acct").collect();
    assert!(!newest.is_empty());
}
