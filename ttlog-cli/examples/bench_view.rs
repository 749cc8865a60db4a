//! `ttlog-view` benchmark (DESIGN.md §4): decode throughput into the frame,
//! and `--stats --group-by target` end to end over a generated 10 M-event
//! snapshot set, beside `jq` computing the same group-by over the NDJSON
//! export of the same events, in the same run.
//!
//! ```sh
//! cargo run --release -p ttlog-cli --example bench_view
//! BENCH_EVENTS=2000000 cargo run --release -p ttlog-cli --example bench_view   # smaller
//! BENCH_JQ=0 cargo run --release -p ttlog-cli --example bench_view             # without jq
//! ```
//!
//! The set is 4 snapshot files (4 services, each from its own child process
//! running a recorder with rings big enough to keep every event) written
//! once under `target/bench-view/` and reused while the event count is the
//! same. Targets: decode ≥ 20 M events/s on 2 cores; `--stats --group-by
//! target` ≤ 1 s end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ttlog_cli::{Engine, GroupKey, Input};
use ttlog_core::{Trace, debug, error, info, warn};

const FILES: u64 = 4;
const THREADS: u64 = 2;

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

const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "NFLX"];
const PATHS: [&str; 4] = ["/api/v1/orders", "/api/v1/quotes", "/health", "/api/v2/fills"];

/// One request of a simulated service: 6–8 events from 12 call sites.
fn request(id: u64, rng: &mut Rng) -> u64 {
    let mut n = 0;
    let path = PATHS[rng.below(4) as usize];
    info!(target: "http", "request accepted", req = id, path = path, bytes = 180 + rng.below(64));
    debug!(target: "auth", "token verified", req = id, cached = rng.below(10) != 0);
    n += 2;
    let sym = SYMBOLS[rng.below(8) as usize];
    let qty = 100 * (1 + rng.below(50));
    info!(target: "orders", "order received", req = id, symbol = sym, qty = qty, price = 100.0 + rng.below(10_000) as f64 / 100.0);
    debug!(target: "risk", "risk ok", req = id, used = rng.below(1000) as f64 / 1000.0);
    n += 2;
    match rng.below(20) {
        0 => warn!(target: "db", "slow query", req = id, ms = 20 + rng.below(100), table = "fills"),
        1 => error!(target: "fix", "reject", req = id, code = 11u32, text = "price out of band"),
        2 => warn!(target: "md", "stale quote", symbol = sym, age_ms = rng.below(2000)),
        _ => debug!(target: "cache", "quote hit", symbol = sym),
    }
    debug!(target: "db", "fill stored", req = id, latency_us = 50 + rng.below(400));
    info!(target: "http", "response sent", req = id, status = 200u16, latency_us = 300 + rng.below(3000));
    n += 3;
    if rng.below(4) == 0 {
        debug!(target: "metrics", "counter", name = "orders", value = id);
        n += 1;
    }
    n
}

/// Child: log `events` events over THREADS threads and write one snapshot.
fn child(service: &str, events: u64, out: &Path) {
    let per_thread = events / THREADS;
    let trace = Trace::builder()
        .service(service)
        .level(ttlog_core::Level::Debug)
        .capacity_events(per_thread as usize + 16)
        .storage_path(out)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("install");
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1) ^ u64::from(std::process::id()));
                    let mut n = 0;
                    let mut id = t << 40;
                    while n + 8 <= per_thread {
                        n += request(id, &mut rng);
                        id += 1;
                    }
                    while n < per_thread {
                        debug!(target: "cache", "quote hit", symbol = "AAPL");
                        n += 1;
                    }
                })
                .expect("spawn")
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    trace.request_snapshot("bench").expect("snapshot");
}

fn generate(dir: &Path, total: u64) -> Vec<PathBuf> {
    let stamp = dir.join(format!("complete-{total}"));
    let list = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    if stamp.exists() {
        return list(dir);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
    let exe = std::env::current_exe().expect("current exe");
    let t = Instant::now();
    for k in 0..FILES {
        let status = Command::new(&exe)
            .env("BENCH_VIEW_CHILD", format!("svc-{k}"))
            .env("BENCH_VIEW_EVENTS", (total / FILES).to_string())
            .env("BENCH_VIEW_OUT", dir)
            .status()
            .expect("run generator");
        assert!(status.success(), "generator {k} failed");
    }
    std::fs::write(&stamp, b"").expect("stamp");
    println!("generated {FILES} snapshots of {} events each in {:.1} s", total / FILES, t.elapsed().as_secs_f64());
    list(dir)
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.expect("n >= 1"))
}

fn main() {
    if let Ok(service) = std::env::var("BENCH_VIEW_CHILD") {
        let events: u64 = std::env::var("BENCH_VIEW_EVENTS").expect("events").parse().expect("number");
        child(&service, events, Path::new(&std::env::var_os("BENCH_VIEW_OUT").expect("out")));
        return;
    }
    let total: u64 = std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").join("target"));
    let dir = target_dir.join("bench-view");
    let files = generate(&dir, total);
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let inputs: Vec<Input> = files.iter().cloned().map(Input::File).collect();
    println!(
        "input: {} files, {:.1} MB, in {}  ({} rayon threads, {} cores)",
        files.len(),
        bytes as f64 / 1e6,
        dir.display(),
        rayon::current_num_threads(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. Decode throughput: open (read the files, check framing) and decode
    //    every chunk in parallel into the frame.
    let engine = Engine::new();
    let (t_open, catalog) = best_of(3, || engine.open(&inputs).expect("open"));
    let events = ttlog_cli::dataset::events_in(&catalog);
    drop(catalog);
    let (t_load, ds) = best_of(3, || engine.load(&inputs).expect("load"));
    assert_eq!(ds.len() as u64, events);
    let t_decode = t_load.saturating_sub(t_open);
    println!("events                          {events}");
    println!("open (read + framing)           {:>8.1} ms", t_open.as_secs_f64() * 1e3);
    println!(
        "load = open + decode into frame {:>8.1} ms  = {:.1} M events/s (decode alone {:.1} M events/s)",
        t_load.as_secs_f64() * 1e3,
        events as f64 / t_load.as_secs_f64() / 1e6,
        events as f64 / t_decode.as_secs_f64() / 1e6
    );
    // A fresh view each time: a view keeps its counts by code, which stats
    // and a count-only group-by then share (as the command line does).
    let target = [GroupKey::parse("target").expect("key")];
    let (t_stats, _) = best_of(3, || ds.all().stats());
    let (t_group, g) = best_of(3, || ds.all().group_by(&target, &[]).expect("group"));
    let (t_both, _) = best_of(3, || {
        let view = ds.all();
        (view.stats(), view.group_by(&target, &[]).expect("group"))
    });
    println!("stats on the loaded frame       {:>8.1} ms", t_stats.as_secs_f64() * 1e3);
    println!("group-by target on the frame    {:>8.1} ms  ({} groups)", t_group.as_secs_f64() * 1e3, g.rows.len());
    println!("both, on one view               {:>8.1} ms", t_both.as_secs_f64() * 1e3);
    drop(ds);

    // 2. End to end: the command line, in process (argument parsing, load,
    //    stats, group-by, output), and the binary if it was built.
    let mut args: Vec<String> = vec!["ttlog-view".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--stats", "--group-by", "target", "-o", "/dev/null"].map(String::from));
    let (t_cli, _) = best_of(3, || ttlog_cli::cli::run(args.clone()).expect("ttlog-view"));
    println!("`ttlog-view --stats --group-by target` in process   {:>8.1} ms", t_cli.as_secs_f64() * 1e3);
    let bin = std::env::current_exe().ok().and_then(|e| Some(e.parent()?.parent()?.join("ttlog-view")));
    match bin.filter(|b| b.exists()) {
        Some(bin) => {
            let (t_bin, _) = best_of(3, || {
                let s = Command::new(&bin).args(&args[1..]).stdout(Stdio::null()).status().expect("run ttlog-view");
                assert!(s.success());
            });
            println!(
                "`ttlog-view --stats --group-by target` as a process {:>8.1} ms ({})",
                t_bin.as_secs_f64() * 1e3,
                bin.display()
            );
        }
        None => println!(
            "(ttlog-view binary not built in this profile: `cargo build --release -p ttlog-cli` to time it as a process)"
        ),
    }

    // 3. jq over the NDJSON export of the same events.
    if std::env::var("BENCH_JQ").is_ok_and(|v| v == "0") {
        println!("jq: skipped (BENCH_JQ=0)");
        return;
    }
    let jq_ok = Command::new("jq").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !jq_ok {
        println!("jq: not installed, skipped (apt-get install jq)");
        return;
    }
    let ndjson = dir.join("events.ndjson");
    let mut export: Vec<String> = args[1..=files.len()].to_vec();
    export.extend(["--format", "ndjson", "-o"].map(String::from));
    export.push(ndjson.display().to_string());
    let mut full = vec!["ttlog-view".to_owned()];
    full.extend(export);
    let t = Instant::now();
    ttlog_cli::cli::run(full).expect("export");
    let t_export = t.elapsed();
    let nd_bytes = std::fs::metadata(&ndjson).map(|m| m.len()).unwrap_or(0);
    println!(
        "NDJSON export                   {:>8.1} ms  ({:.0} MB, {:.1} M events/s)",
        t_export.as_secs_f64() * 1e3,
        nd_bytes as f64 / 1e6,
        events as f64 / t_export.as_secs_f64() / 1e6
    );
    let t = Instant::now();
    let out = Command::new("jq")
        .args(["-n", "-c", "reduce inputs as $e ({}; .[$e.target] += 1) | to_entries | sort_by(-.value)"])
        .arg(&ndjson)
        .output()
        .expect("run jq");
    let t_jq = t.elapsed();
    assert!(out.status.success(), "jq failed: {}", String::from_utf8_lossy(&out.stderr));
    let jq_groups: serde_json::Value = serde_json::from_slice(&out.stdout).expect("jq output");
    let jq_total: u64 = jq_groups.as_array().map_or(0, |a| a.iter().filter_map(|e| e["value"].as_u64()).sum());
    assert_eq!(jq_total, events, "jq counted the same events");
    println!(
        "jq group-by target over NDJSON  {:>8.1} ms  ({:.0}x the ttlog-view command)",
        t_jq.as_secs_f64() * 1e3,
        t_jq.as_secs_f64() / t_cli.as_secs_f64()
    );
    let _ = std::fs::remove_file(&ndjson);
}
