//! Regenerates the committed snapshot files in `testdata/` (see
//! `testdata/README.md`):
//!
//! ```sh
//! cargo run -p ttlog-core --example gen_testdata                    # every case, into ./testdata
//! cargo run -p ttlog-core --example gen_testdata -- OUT_DIR         # every case, elsewhere
//! cargo run -p ttlog-core --example gen_testdata -- OUT_DIR periodic # only these cases
//! ```
//!
//! Files of a format version are never regenerated in `testdata/` (they are
//! the compatibility promise): name the new cases only.
//!
//! Each file comes from its own child process (this program re-executed with
//! `TTLOG_GEN_CASE` set), so each holds exactly the events of its case: one
//! recorder per process. The damaged files are cut or corrupted copies of
//! `chunked.bin`. `legacy-0.1.21.bin` is written by the original `ttlog`
//! crate itself.
//!
//! The events logged here are what `tests/testdata.rs` checks: change both
//! together.

use std::path::{Path, PathBuf};
use std::process::Command;
use ttlog_core::snapshot::{Snapshot, SnapshotMeta, encode_chunked, file_name, format, write_file};
use ttlog_core::{Trace, debug, error, info, warn};

const CASES: [&str; 8] =
    ["normal", "many-threads", "panic", "chunked", "legacy", "periodic", "rate-limited", "ring-pressure"];

/// What every case installs: service `testdata`, snapshots into `out`
/// only when asked.
fn builder(out: &Path) -> ttlog_core::Builder {
    Trace::builder().service("testdata").storage_path(out).snapshot_on_signals(false).snapshot_interval(None)
}

fn install(out: &Path) -> Trace {
    builder(out).level(ttlog_core::Level::Trace).install().expect("install")
}

/// The events of `normal.bin`: every kind of value, every level.
fn log_normal() {
    for i in 0..20u64 {
        info!(target: "orders", "order filled", id = i, qty = 100 * i, price = 150.25 + i as f64, symbol = "AAPL", ok = i % 2 == 0);
        debug!("cache", hit = i % 3 != 0, key = %format_args!("k{i}"));
    }
    warn!(target: "risk", "limit near", used = 0.93f32, desk = "fx-options-europe", delta = -42i64);
    error!("disk full", dev = 'C', free = 0u128, big = i128::MIN);
    ttlog_core::trace!("bare");
}

fn child(case: &str, out: &Path) {
    match case {
        "normal" => {
            let trace = install(out);
            log_normal();
            trace.request_snapshot("manual").expect("snapshot");
        }
        "many-threads" => {
            let trace = install(out);
            let threads: Vec<_> = (0..16u64)
                .map(|t| {
                    std::thread::Builder::new()
                        .name(format!("worker-{t}"))
                        .spawn(move || {
                            for i in 0..50u64 {
                                info!("step", worker = t, i = i);
                            }
                        })
                        .expect("spawn")
                })
                .collect();
            for t in threads {
                t.join().expect("worker");
            }
            trace.request_snapshot("many_threads").expect("snapshot");
        }
        "panic" => {
            let _trace = install(out);
            let bystander = std::thread::Builder::new()
                .name("bystander".into())
                .spawn(|| {
                    for i in 0..10u64 {
                        info!("bystander working", i = i);
                    }
                })
                .expect("spawn");
            bystander.join().expect("bystander");
            let exploder = std::thread::Builder::new()
                .name("exploder".into())
                .spawn(|| {
                    warn!("about to panic", reason = "invariant");
                    panic!("boom: invariant broken");
                })
                .expect("spawn");
            assert!(exploder.join().is_err());
        }
        "chunked" => {
            let _trace = install(out);
            for i in 0..1000u64 {
                info!("tick", n = i, venue = "XNAS");
            }
            let meta = SnapshotMeta::new("testdata", "chunked");
            let bytes = encode_chunked(&ttlog_core::capture(), &meta, 100);
            write_file(out, &file_name("testdata", meta.pid, meta.created_at_ns, "chunked"), &bytes).expect("write");
        }
        "periodic" => {
            // One process, two overlapping snapshots: 600 events, a periodic
            // snapshot, 400 more, then a panic in another thread. The ring
            // (16 KiB, about 680 of these events) has overwritten the oldest
            // by the panic snapshot, which still repeats the newest of the
            // first one.
            let _trace = builder(out).capacity_bytes(16 << 10).install().expect("install");
            for i in 0..600u64 {
                info!("tick", n = i);
            }
            _trace.request_snapshot("periodic").expect("snapshot");
            for i in 600..1000u64 {
                info!("tick", n = i);
            }
            let exploder = std::thread::Builder::new()
                .name("exploder".into())
                .spawn(|| {
                    error!("giving up", after = 1000u64);
                    panic!("boom after the periodic snapshot");
                })
                .expect("spawn");
            assert!(exploder.join().is_err());
        }
        "legacy" => {
            let trace = ttlog::trace::Trace::init(4096, 64, "legacy-svc", Some(out.to_str().expect("utf-8 path")));
            trace.set_level(ttlog::event::LogLevel::TRACE);
            for i in 0..5u32 {
                ttlog::ttlog_macros::info!(user_id = i, amount = 12.5, "payment accepted");
            }
            ttlog::ttlog_macros::warn!(region = "eu-west", "slow upstream");
            ttlog::ttlog_macros::error!("database unreachable");
            trace.request_snapshot("manual");
        }
        "rate-limited" => {
            let trace = builder(out).filter("info,net::conn=warn@5/s").env_filter(false).install().expect("install");
            for i in 0..100u64 {
                warn!(target: "net::conn", "connection reset", peer = i);
                info!(limit: 10 / s, "retrying", attempt = i);
            }
            for i in 0..20u64 {
                info!("steady", i);
            }
            trace.request_snapshot("manual").expect("snapshot");
        }
        "ring-pressure" => {
            // 16 KiB rings: the poller's chatty statement overwrites its
            // own history; main's ring keeps everything.
            let trace =
                builder(out).level(ttlog_core::Level::Debug).capacity_bytes(16 << 10).install().expect("install");
            std::thread::Builder::new()
                .name("poller".into())
                .spawn(|| {
                    for i in 0..5_000u64 {
                        debug!(target: "net::poll", "poll", fd = i % 64, ready = i % 7 == 0, peer = "10.0.0.7:443");
                        if i % 500 == 499 {
                            warn!(target: "net::poll", "slow poll", waited_ms = 120 + i / 500);
                        }
                    }
                })
                .expect("spawn")
                .join()
                .expect("poller");
            for i in 0..30u64 {
                info!(target: "app", "tick", i);
            }
            trace.request_snapshot("manual").expect("snapshot");
        }
        other => panic!("unknown case {other}"),
    }
}

/// The one `.bin` file a child wrote into `dir`.
fn only_bin(dir: &Path) -> PathBuf {
    let bins: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    assert_eq!(bins.len(), 1, "expected one snapshot in {}: {bins:?}", dir.display());
    bins.into_iter().next().expect("one")
}

/// The one `.bin` file in `dir` whose name ends with `suffix`.
fn bin_with(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one *{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().expect("one")
}

fn main() {
    if let Ok(case) = std::env::var("TTLOG_GEN_CASE") {
        let out = PathBuf::from(std::env::var_os("TTLOG_GEN_OUT").expect("TTLOG_GEN_OUT"));
        child(&case, &out);
        return;
    }
    let target = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("testdata"));
    std::fs::create_dir_all(&target).expect("create testdata dir");
    let exe = std::env::current_exe().expect("current exe");
    let named: Vec<String> = std::env::args().skip(2).collect();
    for n in &named {
        assert!(CASES.contains(&n.as_str()), "unknown case {n} (cases: {CASES:?})");
    }
    let cases: Vec<&str> = CASES.into_iter().filter(|c| named.is_empty() || named.iter().any(|n| n == c)).collect();
    for case in &cases {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = Command::new(&exe)
            .env("TTLOG_GEN_CASE", case)
            .env("TTLOG_GEN_OUT", tmp.path())
            .output()
            .expect("run child");
        assert!(out.status.success(), "case {case} failed: {}", String::from_utf8_lossy(&out.stderr));
        let files: Vec<(PathBuf, String)> = match *case {
            "legacy" => vec![(only_bin(tmp.path()), "legacy-0.1.21.bin".to_owned())],
            // Named by reason: periodic-1.bin, then periodic-2-panic.bin.
            "periodic" => vec![
                (bin_with(tmp.path(), "-periodic.bin"), "periodic-1.bin".to_owned()),
                (bin_with(tmp.path(), "-panic.bin"), "periodic-2-panic.bin".to_owned()),
            ],
            other => vec![(only_bin(tmp.path()), format!("{other}.bin"))],
        };
        for (file, name) in files {
            std::fs::copy(&file, target.join(&name)).expect("copy");
            println!("{name}: {} bytes", std::fs::metadata(target.join(&name)).expect("stat").len());
        }
    }
    if !cases.contains(&"chunked") {
        return;
    }

    // Damaged copies of chunked.bin, in their own folder (so that the
    // clean samples can be read as one directory without warnings).
    let bytes = std::fs::read(target.join("chunked.bin")).expect("read chunked.bin");
    let damaged = target.join("damaged");
    std::fs::create_dir_all(&damaged).expect("create damaged/");
    let snap = Snapshot::from_bytes(bytes.clone(), "chunked.bin").expect("chunked.bin opens");
    assert!(snap.chunks().len() >= 5, "chunked.bin has several chunks");
    let c3 = snap.chunks()[3];
    let cut = c3.offset as usize + format::FRAME_LEN + c3.compressed_len as usize / 2;
    std::fs::write(damaged.join("truncated.bin"), &bytes[..cut]).expect("write truncated.bin");
    println!("damaged/truncated.bin: cut at byte {cut}, inside chunk 3 (frame at byte {})", c3.offset);
    let c1 = snap.chunks()[1];
    let mut corrupt = bytes.clone();
    let at = c1.offset as usize + format::FRAME_LEN + c1.compressed_len as usize / 2;
    corrupt[at] ^= 0xA5;
    std::fs::write(damaged.join("corrupt-chunk.bin"), &corrupt).expect("write corrupt-chunk.bin");
    println!("damaged/corrupt-chunk.bin: byte {at} flipped, inside chunk 1 (frame at byte {})", c1.offset);
}
