//! The fleet: N service processes, each logging M events from two threads
//! with periodic snapshots that overlap (each holds the whole ring), run in
//! waves of concurrent processes so that their timelines interleave as a
//! real fleet's do.
//!
//! Each process is this program re-executed with `FLEET_CHILD` set. It logs
//! in `snapshots` phases; after each phase its main thread takes a periodic
//! snapshot (the last one is the `shutdown` snapshot). The ring of each
//! thread holds about two phases of its events, so every event is in one or
//! two files, none is lost: the events in the files once each are exactly
//! the events logged (checked by `run`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

/// The fleet's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) processes: usize,
    /// Events each process logs (half per thread).
    pub(crate) events: u64,
    /// Snapshots each process takes.
    pub(crate) snapshots: u64,
    /// Processes running at once.
    pub(crate) wave: usize,
}

impl Shape {
    /// The directory name of a fleet of this shape.
    pub(crate) fn name(&self) -> String {
        format!("{}x{}x{}", self.processes, self.events, self.snapshots)
    }
}

const SERVICES: [&str; 5] = ["api", "orders", "payments", "search", "auth"];
const PATHS: [&str; 6] = ["/api/v1/orders", "/api/v1/users", "/api/v2/search", "/health", "/api/v1/pay", "/login"];

/// xorshift64*: cheap, deterministic per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One service event: mostly HTTP requests and database queries, some cache
/// lookups and logins, a few warnings and errors. `latency_us` is in most.
fn log_one(rng: &mut Rng, i: u64) {
    let r = rng.next();
    let latency = 100 + (r >> 20) % 4_800 + if r.is_multiple_of(97) { (r >> 40) % 20_000 } else { 0 };
    match r % 100 {
        0..=39 => ttlog_core::info!(target: "http", "request served",
            latency_us = latency, status = 200u64, path = PATHS[(r >> 8) as usize % PATHS.len()]),
        40..=64 => ttlog_core::debug!(target: "db", "query", rows = (r >> 16) % 500, latency_us = latency / 2),
        65..=79 => ttlog_core::debug!(target: "cache", "lookup", key = (r >> 24) % 10_000, hit = !r.is_multiple_of(3)),
        80..=89 => ttlog_core::info!(target: "auth", "login", user_id = (r >> 30) % 100_000),
        90..=96 => ttlog_core::warn!(target: "http", "slow request", latency_us = latency * 3, seq = i),
        _ => ttlog_core::error!(target: "http", "upstream failed", code = 500 + (r >> 8) % 4, latency_us = latency),
    }
}

/// The child: one service process.
pub(crate) fn child(dir: &Path, index: usize, shape: Shape) {
    let per_thread = shape.events / 2;
    let phase = per_thread / shape.snapshots;
    // About two phases of events per ring (≈ 48 bytes an event), rounded up
    // to a power of two by the library.
    let ring = (phase as usize * 2 * 48).next_power_of_two();
    let trace = ttlog_core::Trace::builder()
        .service(SERVICES[index % SERVICES.len()])
        .level(ttlog_core::Level::Debug)
        .capacity_bytes(ring)
        .storage_path(dir)
        .snapshot_on_signals(false)
        .snapshot_on_panic(false)
        .snapshot_interval(None)
        .snapshot_retention(ttlog_core::snapshot::Retention { max_files: None, max_bytes: None })
        .install()
        .expect("install");
    let start = Arc::new(Barrier::new(3));
    let done = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2u64)
        .map(|w| {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((index as u64) << 8 | w) | 1);
                    for p in 0..shape.snapshots {
                        start.wait();
                        let n = if p + 1 == shape.snapshots { per_thread - phase * p } else { phase };
                        for i in 0..n {
                            log_one(&mut rng, p * phase + i);
                        }
                        done.wait();
                    }
                })
                .expect("spawn")
        })
        .collect();
    for p in 0..shape.snapshots {
        start.wait();
        done.wait();
        let reason = if p + 1 == shape.snapshots { "shutdown" } else { "periodic" };
        trace.request_snapshot(reason).expect("snapshot");
    }
    for w in workers {
        w.join().expect("worker");
    }
}

/// Generates the fleet into `dir` (made empty first), waves of processes at
/// a time. Returns the snapshot files.
pub(crate) fn generate(dir: &Path, shape: Shape) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create fleet dir");
    let exe = std::env::current_exe().expect("current exe");
    let started = std::time::Instant::now();
    for wave in (0..shape.processes).collect::<Vec<_>>().chunks(shape.wave) {
        let children: Vec<_> = wave
            .iter()
            .map(|&i| {
                Command::new(&exe)
                    .env("FLEET_CHILD", i.to_string())
                    .env("FLEET_DIR", dir)
                    .env("FLEET_SHAPE", format!("{} {} {}", shape.processes, shape.events, shape.snapshots))
                    .spawn()
                    .expect("spawn a fleet process")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("wait").success(), "a fleet process failed");
        }
        eprintln!(
            "fleet: {} of {} processes done ({:.0} s)",
            wave.last().map_or(0, |l| l + 1),
            shape.processes,
            started.elapsed().as_secs_f64()
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list fleet dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    std::fs::write(dir.join("COMPLETE"), shape.name()).expect("mark complete");
    files
}

/// Runs the child side if this process is one.
pub(crate) fn child_from_env() -> bool {
    let Ok(index) = std::env::var("FLEET_CHILD") else { return false };
    let dir = PathBuf::from(std::env::var_os("FLEET_DIR").expect("FLEET_DIR"));
    let shape: Vec<u64> =
        std::env::var("FLEET_SHAPE").expect("FLEET_SHAPE").split(' ').map(|x| x.parse().expect("number")).collect();
    let shape = Shape { processes: shape[0] as usize, events: shape[1], snapshots: shape[2], wave: 1 };
    child(&dir, index.parse().expect("index"), shape);
    true
}
