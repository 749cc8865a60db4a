//! Snapshot benchmark: 1 M events of a simulated order-routing service (28
//! call sites, numeric and short string fields) from 4 threads, then one
//! snapshot. Prints the write time, bytes per event on disk and decode rates.
//!
//! ```sh
//! cargo run --release -p ttlog-core --example bench_snapshot
//! ```
//!
//! Targets (DESIGN.md §4): written in ≤ 300 ms, ≤ 8 bytes/event.

use std::time::Instant;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Trace, debug, error, info, warn};

const THREADS: u64 = 4;
const EVENTS_PER_THREAD: u64 = 250_000;

const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "NFLX"];
const VENUES: [&str; 4] = ["XNAS", "XNYS", "BATS", "IEXG"];
const USERS: [&str; 6] = ["ada", "bob", "cyd", "dee", "eve", "fay"];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One request through the service: 6–12 events from 28 call sites.
fn request(id: u64, rng: &mut Rng) -> u64 {
    let mut n = 0u64;
    let mut ev = || n += 1;
    let sym = SYMBOLS[rng.below(8) as usize];
    let venue = VENUES[rng.below(4) as usize];
    let user = USERS[rng.below(6) as usize];
    info!(target: "http", "request accepted", req = id, method = "POST", path = "/v1/orders", bytes = 180 + rng.below(64));
    ev();
    debug!(target: "auth", "token verified", req = id, user = user, cached = rng.below(10) != 0);
    ev();
    match rng.below(20) {
        0 => {
            warn!(target: "auth", "token near expiry", req = id, user = user, secs_left = rng.below(300));
            ev();
        }
        1 => {
            debug!(target: "auth", "scope check", req = id, scope = "trade");
            ev();
        }
        _ => {}
    }
    let qty = 100 * (1 + rng.below(50));
    let price = 100.0 + rng.below(10_000) as f64 / 100.0;
    info!(target: "orders", "order received", req = id, symbol = sym, qty = qty, price = price, side = "buy");
    ev();
    debug!(target: "risk", "limits loaded", req = id, user = user, limit = 1_000_000u64);
    ev();
    let used = rng.below(1000) as f64 / 1000.0;
    if used > 0.9 {
        warn!(target: "risk", "limit near", req = id, used = used, user = user);
        ev();
    } else {
        debug!(target: "risk", "risk ok", req = id, used = used);
        ev();
    }
    match rng.below(10) {
        0 => {
            debug!(target: "cache", "quote miss", symbol = sym);
            ev();
            debug!(target: "md", "quote fetched", symbol = sym, us = 200 + rng.below(800));
            ev();
        }
        _ => {
            debug!(target: "cache", "quote hit", symbol = sym);
            ev();
        }
    }
    info!(target: "router", "route chosen", req = id, venue = venue, score = rng.below(100));
    ev();
    debug!(target: "fix", "send NewOrderSingle", req = id, venue = venue, seq = id * 3);
    ev();
    match rng.below(50) {
        0 => {
            error!(target: "fix", "reject", req = id, venue = venue, code = 11u32, text = "price out of band");
            ev();
        }
        1 => {
            warn!(target: "fix", "slow ack", req = id, venue = venue, ms = 5 + rng.below(50));
            ev();
        }
        2 => {
            info!(target: "orders", "partial fill", req = id, filled = qty / 2, px = price);
            ev();
        }
        3 => {
            debug!(target: "db", "retry insert", req = id, attempt = 2u8);
            ev();
        }
        4 => {
            warn!(target: "db", "slow query", req = id, ms = 20 + rng.below(100), table = "fills");
            ev();
        }
        5 => {
            debug!(target: "pool", "connection reused", pool = "pg", idle = rng.below(16));
            ev();
        }
        6 => {
            info!(target: "pool", "connection opened", pool = "pg", total = 16 + rng.below(4));
            ev();
        }
        7 => {
            debug!(target: "gc", "arena reset", freed = rng.below(1 << 20));
            ev();
        }
        8 => {
            warn!(target: "md", "stale quote", symbol = sym, age_ms = rng.below(2000));
            ev();
        }
        9 => {
            info!(target: "admin", "config reloaded", version = 42u32);
            ev();
        }
        _ => {
            info!(target: "orders", "filled", req = id, qty = qty, px = price, venue = venue);
            ev();
        }
    }
    debug!(target: "db", "fill stored", req = id, table = "fills", us = 50 + rng.below(400));
    ev();
    match rng.below(4) {
        0 => {
            debug!(target: "metrics", "histogram", name = "latency", bucket = rng.below(32));
            ev();
        }
        1 => {
            debug!(target: "metrics", "counter", name = "orders", value = id);
            ev();
        }
        _ => {}
    }
    info!(target: "http", "response sent", req = id, status = 200u16, us = 300 + rng.below(3000));
    ev();
    n
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = Trace::builder()
        .service("bench")
        .level(ttlog_core::Level::Debug)
        .capacity_events(EVENTS_PER_THREAD as usize + 10_000)
        .storage_path(dir.path())
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("install");
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut n = 0;
                let mut id = t << 40;
                while n < EVENTS_PER_THREAD {
                    n += request(id, &mut rng);
                    id += 1;
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let callsites = ttlog_core::callsites().len();

    // Warm the file system path and the clock calibration once.
    let _ = trace.request_snapshot("warmup").unwrap();

    let t0 = Instant::now();
    let capture = trace.capture();
    let t_capture = t0.elapsed();
    let meta = ttlog_core::snapshot::SnapshotMeta::new("bench", "bench");
    let t1 = Instant::now();
    let bytes = ttlog_core::snapshot::encode(&capture, &meta);
    let t_encode = t1.elapsed();
    drop(capture);

    let t2 = Instant::now();
    let path = trace.request_snapshot("bench").unwrap();
    let t_total = t2.elapsed();
    let on_disk = std::fs::metadata(&path).unwrap().len();

    let snap = Snapshot::open(&path).unwrap();
    let events = snap.event_count();
    assert!(snap.is_complete());

    let t3 = Instant::now();
    let mut decoded = 0usize;
    for i in 0..snap.chunks().len() {
        decoded += snap.decode_chunk(i).unwrap().len();
    }
    let t_decode1 = t3.elapsed();
    let t4 = Instant::now();
    let decoded2: usize = std::thread::scope(|s| {
        let n = snap.chunks().len();
        let hs: Vec<_> = (0..2)
            .map(|w| {
                let snap = &snap;
                s.spawn(move || (w..n).step_by(2).map(|i| snap.decode_chunk(i).unwrap().len()).sum::<usize>())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let t_decode2 = t4.elapsed();
    let t5 = Instant::now();
    let n_events = snap.events().filter(Result::is_ok).count();
    let t_events = t5.elapsed();
    assert_eq!(decoded as u64, events);
    assert_eq!(decoded2 as u64, events);
    assert_eq!(n_events as u64, events);

    let rate = |n: u64, d: std::time::Duration| n as f64 / d.as_secs_f64() / 1e6;
    println!(
        "events in snapshot     {events} ({} call sites, {THREADS} threads, {} chunks)",
        callsites,
        snap.chunks().len()
    );
    println!("capture (ring read)    {:>8.1} ms", t_capture.as_secs_f64() * 1e3);
    println!("encode (sort+CBOR+LZ4) {:>8.1} ms", t_encode.as_secs_f64() * 1e3);
    println!(
        "request_snapshot total {:>8.1} ms  (capture + encode + write + fsync + rename + dir fsync)",
        t_total.as_secs_f64() * 1e3
    );
    println!(
        "file size              {on_disk} bytes = {:.2} bytes/event (encoded in memory: {} bytes)",
        on_disk as f64 / events as f64,
        bytes.len()
    );
    println!(
        "decode to columns      {:>8.1} M events/s on 1 thread, {:.1} M events/s on 2 threads",
        rate(events, t_decode1),
        rate(events, t_decode2)
    );
    println!("decode to Events       {:>8.1} M events/s (convenience iterator, 1 thread)", rate(events, t_events));

    // Producers are not stalled: one thread logs flat out while a snapshot
    // of the 1 M events is written; compare its rate inside and outside.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start = Instant::now();
    let producer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut marks = Vec::with_capacity(1 << 16);
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..1000 {
                    info!(target: "producer", "tick", i = i, venue = "XNAS");
                    i += 1;
                }
                marks.push(start.elapsed());
            }
            marks
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let a = start.elapsed();
    trace.request_snapshot("under-load").unwrap();
    let b = start.elapsed();
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let marks = producer.join().unwrap();
    let end = *marks.last().unwrap();
    let inside = marks.iter().filter(|m| **m >= a && **m < b).count() as f64 * 1000.0;
    let outside = marks.iter().filter(|m| **m < a || **m >= b).count() as f64 * 1000.0;
    let outside_time = (end - (b - a)).as_secs_f64();
    let longest_gap = marks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    println!(
        "producer while writing  {:>7.1} M events/s during the snapshot ({:.0} ms), {:.1} M events/s outside it;",
        inside / (b - a).as_secs_f64() / 1e6,
        (b - a).as_secs_f64() * 1e3,
        outside / outside_time / 1e6
    );
    println!(
        "                        longest time for 1000 events: {:.2} ms (a blocked producer would show the snapshot's duration)",
        longest_gap.as_secs_f64() * 1e3
    );
}
