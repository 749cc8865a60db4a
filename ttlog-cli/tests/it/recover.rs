//! `ttlog-view recover`: the persistent rings of a process that died by
//! `abort` become a snapshot read like any other, whose `--stats` says so
//! (every other way a process ends is in `causes.rs`).

use crate::{view, view_ok};
use std::path::Path;
use std::process::Command;

const CHILD: &str = "TTLOG_VIEW_RECOVER_CHILD";

/// The child side: logs with persistent rings, then aborts (no hook, no
/// snapshot). Does nothing unless run by `dead_process_rings`.
#[test]
fn recover_child_entry() {
    let Some(dir) = std::env::var_os(CHILD) else { return };
    let _t = ttlog_core::Trace::builder()
        .service("crashy")
        .persist_dir(Path::new(&dir).join("rings"))
        .snapshot_on_panic(false)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .unwrap();
    for n in 0..3u64 {
        ttlog_core::warn!("disk almost full", n, free_mb = 10 - n);
    }
    std::process::abort();
}

fn dead_process_rings(dir: &Path) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "recover::recover_child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .output()
        .unwrap()
        .status;
    assert!(!status.success(), "the child aborts");
}

#[test]
fn recover_turns_dead_rings_into_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    dead_process_rings(tmp.path());
    let rings = tmp.path().join("rings");
    let out = tmp.path().join("out");
    let stdout = view_ok(&["recover", rings.to_str().unwrap(), "-o", out.to_str().unwrap()], 0);
    assert!(stdout.starts_with("recovered 3 events of crashy (pid "), "{stdout}");
    assert!(stdout.contains("threads 1, overwritten 0) into "), "{stdout}");
    assert_eq!(std::fs::read_dir(&rings).unwrap().count(), 0, "the rings directory is gone");

    // --stats says how the process ended, and when it last wrote.
    let stats = view_ok(&[out.to_str().unwrap(), "--stats"], 0);
    let first = stats.lines().next().unwrap();
    assert!(
        first.starts_with(
            "cause      the process died without a snapshot: recovered from its persistent rings; its last event at 20"
        ),
        "{stats}"
    );
    let json = view_ok(&[out.to_str().unwrap(), "--format", "json"], 0);
    let events: serde_json::Value = serde_json::from_str(&json).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 3);
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e["message"], "disk almost full");
        assert_eq!(e["level"], "WARN");
        assert_eq!(e["service"], "crashy");
        assert_eq!(e["fields"]["n"], n as u64);
        assert_eq!(e["fields"]["free_mb"], 10 - n as u64);
    }
}

#[test]
fn recover_errors_name_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = view(&["recover", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&tmp.path().display().to_string()) && err.contains("no persistent rings"), "{err}");

    let out = view(&["recover"]);
    assert_eq!(out.status.code(), Some(2), "a missing DIR is a usage error");
}
