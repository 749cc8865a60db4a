//! Every event once: overlapping snapshots written by real child processes
//! (periodic snapshots then a panic, a recovered ring beside a snapshot of
//! the same process), one file named twice or through a symlink, a forged
//! file claiming another process's identity, and `--keep-duplicates`.

use crate::{bins, decode, decode_merged, view, view_ok};
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHILD: &str = "TTLOG_VIEW_COPIES_CHILD";
const MODE: &str = "TTLOG_VIEW_COPIES_MODE";

/// Events each child logs on `main` and on its worker thread.
const MAIN_EVENTS: u64 = 1000;
const WORKER_EVENTS: u64 = 300;

fn install(dir: &Path, persist: bool) -> ttlog_core::Trace {
    let mut b = ttlog_core::Trace::builder()
        .service("copies")
        // 16 KiB rings: about 680 of these events, so that later snapshots
        // have overwritten part of what earlier ones hold.
        .capacity_bytes(16 << 10)
        .storage_path(dir)
        .snapshot_on_signals(false)
        .snapshot_interval(None);
    if persist {
        b = b.persist_dir(dir.join("rings")).snapshot_on_panic(false);
    }
    b.install().unwrap()
}

/// Logs `n` ticks numbered from `from` on this thread.
fn ticks(from: u64, n: u64) {
    for i in from..from + n {
        ttlog_core::info!("tick", n = i, half = i % 2 == 0);
    }
}

/// The child side; does nothing unless run by [`child`].
#[test]
fn copies_child_entry() {
    let Some(dir) = std::env::var_os(CHILD) else { return };
    let dir = PathBuf::from(dir);
    match std::env::var(MODE).unwrap().as_str() {
        // Snapshots every 400 main events (the ring holds about 680), a
        // worker's events in between, then a panic snapshot.
        "periodic-then-panic" => {
            let t = install(&dir, false);
            ticks(0, 400);
            std::thread::Builder::new()
                .name("worker".into())
                .spawn(|| {
                    for i in 0..WORKER_EVENTS {
                        ttlog_core::warn!(target: "work", "step", i);
                    }
                })
                .unwrap()
                .join()
                .unwrap();
            t.request_snapshot("periodic").unwrap();
            ticks(400, 400);
            t.request_snapshot("periodic").unwrap();
            ticks(800, MAIN_EVENTS - 800);
            let boom = std::thread::Builder::new()
                .name("exploder".into())
                .spawn(|| panic!("boom after two periodic snapshots"))
                .unwrap();
            assert!(boom.join().is_err());
        }
        // Persistent rings: a snapshot, more events, then abort; the rings
        // are recovered by the test.
        "snapshot-then-abort" => {
            let t = install(&dir, true);
            ticks(0, 500);
            t.request_snapshot("periodic").unwrap();
            ticks(500, 300);
            std::process::abort();
        }
        // A file that claims the instance of another process but holds other
        // events.
        "forge" => {
            let _t = install(&dir, false);
            for i in 0..500u64 {
                ttlog_core::error!("forged", i);
            }
            let mut meta = ttlog_core::snapshot::SnapshotMeta::new("copies", "forged");
            meta.instance = Some(std::env::var("TTLOG_VIEW_FORGE_INSTANCE").unwrap());
            meta.created_at_ns = 0;
            let bytes = ttlog_core::snapshot::encode(&ttlog_core::capture(), &meta);
            std::fs::write(dir.join("forged.bin"), bytes).unwrap();
        }
        other => panic!("unknown mode {other}"),
    }
}

fn child(dir: &Path, mode: &str, env: &[(&str, &str)]) -> std::process::ExitStatus {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "copies::copies_child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env(MODE, mode)
        .envs(env.iter().copied())
        .output()
        .unwrap()
        .status
}

/// `(from the worker thread, n)` of every tick and step in NDJSON output,
/// sorted (the child's main thread is the test harness's, named after the
/// test).
fn numbered(ndjson: &str) -> Vec<(bool, u64)> {
    let mut v: Vec<(bool, u64)> = ndjson
        .lines()
        // The panic's own event (target `panic`) is not a tick or a step.
        .filter(|l| serde_json::from_str::<J>(l).unwrap()["target"] != "panic")
        .map(|l| {
            let e: J = serde_json::from_str(l).unwrap();
            let n = e["fields"]["n"].as_u64().or(e["fields"]["i"].as_u64()).unwrap();
            (e["thread"] == "worker", n)
        })
        .collect();
    v.sort();
    v
}

/// Ticks `0..main` then steps `0..worker`, as [`numbered`] gives them.
fn each_once(main: u64, worker: u64) -> Vec<(bool, u64)> {
    (0..main).map(|n| (false, n)).chain((0..worker).map(|n| (true, n))).collect()
}

#[test]
fn periodic_snapshots_then_a_panic_count_every_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(child(tmp.path(), "periodic-then-panic", &[]).success());
    let files = bins(tmp.path());
    assert_eq!(files.len(), 3, "two periodic snapshots and the panic's: {files:?}");
    let dir = tmp.path().display().to_string();
    let in_files: u64 = files.iter().map(|f| decode(f).len() as u64).sum();
    // Every tick and step, and the panic, which the panic hook logs as the
    // panicking thread's last event.
    let logged = MAIN_EVENTS + WORKER_EVENTS + 1;
    assert!(in_files > logged, "the snapshots overlap: {in_files} events in files");

    // Every event the process logged, once: each tick and step exactly once.
    let out = view_ok(&[&dir, "--format", "ndjson"], 0);
    assert_eq!(out.lines().filter(|l| l.contains("\"target\":\"panic\"")).count(), 1, "the panic, once");
    let got = numbered(&out);
    assert_eq!(got.len() as u64, logged - 1);
    assert!(got == each_once(MAIN_EVENTS, WORKER_EVENTS), "not each event once");
    // The reference merge agrees, in time order.
    let reference = decode_merged(&files);
    assert_eq!(reference.len() as u64, logged);

    // Stats: the counts, the copies skipped, the newest file's counters.
    let s: J = serde_json::from_str(&view_ok(&[&dir, "--stats", "--format", "json"], 0)).unwrap();
    assert_eq!(s["events"], logged);
    assert_eq!(s["duplicates_skipped"], in_files - logged);
    let p = &s["processes"][0];
    assert_eq!(s["processes"].as_array().unwrap().len(), 1);
    assert!(p["files"][0].as_str().unwrap().ends_with("-panic.bin"), "{p}");
    assert_eq!(p["logged"], logged, "the newest snapshot's counter, not a sum");
    assert_eq!(p["events"], logged);
    let text = view_ok(&[&dir, "--stats"], 0);
    // The panic that ended the process comes first, then the counts.
    assert!(text.starts_with("cause      panic in thread exploder at "), "{text}");
    assert!(text.contains(&format!("\n\nevents     {logged}\n")), "{text}");
    assert!(text.contains(&format!("{} copies of events skipped", in_files - logged)), "{text}");
    // Group-by, filters and exports see each event once too.
    let g: J = serde_json::from_str(&view_ok(&[&dir, "--group-by", "target", "--format", "json"], 0)).unwrap();
    let counts: BTreeMap<String, u64> = g
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts.get("work"), Some(&WORKER_EVENTS));
    assert_eq!(counts.values().sum::<u64>(), logged);
    let half = view_ok(&[&dir, "--filter", "half=true", "--format", "ndjson"], 0);
    assert_eq!(half.lines().count() as u64, MAIN_EVENTS / 2);
    let csv = view_ok(&[&dir, "--format", "csv"], 0);
    assert_eq!(csv.lines().count() as u64, logged + 1);

    // --keep-duplicates: every copy, for forensics.
    let raw = view_ok(&[&dir, "--keep-duplicates", "--format", "ndjson"], 0);
    assert_eq!(raw.lines().count() as u64, in_files);
    let s: J = serde_json::from_str(&view_ok(&[&dir, "--keep-duplicates", "--stats", "--format", "json"], 0)).unwrap();
    assert_eq!((s["events"].as_u64(), s["duplicates_skipped"].as_u64()), (Some(in_files), Some(0)));
}

#[test]
fn a_recovered_ring_beside_a_snapshot_of_the_same_process() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(!child(tmp.path(), "snapshot-then-abort", &[]).success(), "the child aborts");
    let rings = tmp.path().join("rings");
    view_ok(&["recover", rings.to_str().unwrap(), "-o", tmp.path().to_str().unwrap()], 0);
    let files = bins(tmp.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("-recovered.bin")), "{files:?}");
    let in_files: u64 = files.iter().map(|f| decode(f).len() as u64).sum();
    assert!(in_files > 800, "the ring repeats the snapshot's newest events");
    let dir = tmp.path().display().to_string();
    let out = view_ok(&[&dir, "--format", "ndjson"], 0);
    let got = numbered(&out);
    assert_eq!(got.len(), 800);
    assert!(got == each_once(800, 0), "not each event once");
}

#[test]
fn one_file_twice_or_through_a_symlink_is_read_once() {
    let f = crate::td("normal.bin");
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("link.bin");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    let copy = tmp.path().join("copy.bin");
    std::fs::copy(&f, &copy).unwrap();
    let once = view_ok(&[&f, "--format", "ndjson"], 0);
    assert_eq!(once.lines().count(), 43);
    for other in [f.clone(), link.display().to_string(), copy.display().to_string()] {
        let out = view_ok(&[&f, &other, "--format", "ndjson"], 0);
        assert_eq!(out, once, "{other}");
        let s: J = serde_json::from_str(&view_ok(&[&f, &other, "--stats", "--format", "json"], 0)).unwrap();
        assert_eq!((s["events"].as_u64(), s["duplicates_skipped"].as_u64()), (Some(43), Some(43)));
    }
    // The legacy format has no identity of its own: copies of one file still count once.
    let legacy = crate::td("legacy-0.1.21.bin");
    let out = view_ok(&[&legacy, &legacy, "--format", "ndjson"], 0);
    assert_eq!(out.lines().count(), 7);
}

#[test]
fn a_file_that_claims_another_process_identity_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let real = crate::td("periodic-1.bin");
    let instance = ttlog_core::snapshot::Snapshot::open(&real).unwrap().header().instance.clone().unwrap();
    assert!(child(tmp.path(), "forge", &[("TTLOG_VIEW_FORGE_INSTANCE", &instance)]).success());
    let forged = tmp.path().join("forged.bin").display().to_string();
    let out = view(&[&real, &forged, "--stats", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warning: Vec<&str> = stderr.lines().filter(|l| l.contains("hold different events")).collect();
    assert_eq!(warning.len(), 1, "{stderr}");
    assert!(warning[0].contains(&real) && warning[0].contains(&forged), "{stderr}");
    let s: J = serde_json::from_slice(&out.stdout).unwrap();
    let d = &s["differing_copies"][0];
    assert_eq!(d["kept"], real.as_str(), "the newer file's events are kept");
    assert_eq!(d["other"], forged.as_str());
    // The forged file's thread `main` holds seqs 0..500, all under the real file's 0..600.
    assert_eq!(d["events"], 500);
    assert_eq!(s["events"], 600, "one copy of each identity");
}
