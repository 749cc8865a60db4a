//! Events from the `tracing` bridge whose message varies
//! (`tracing::info!("took {} ms", ms)`) have an empty call-site message and
//! the text in a `message` field: every output shows that text as the
//! message, as `ttlog_core::Event::display_message` does, and does not
//! repeat it among the fields.

use crate::view_ok;
use std::path::Path;
use std::process::Command;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const CHILD: &str = "TTLOG_VIEW_BRIDGED_CHILD";

/// The child side: logs through tracing and writes a snapshot into the
/// directory named by `TTLOG_VIEW_BRIDGED_CHILD`.
#[test]
fn bridged_child_entry() {
    let Some(dir) = std::env::var_os(CHILD) else { return };
    let trace = ttlog_core::Trace::builder()
        .service("bridged")
        .storage_path(Path::new(&dir))
        .snapshot_interval(None)
        .install()
        .unwrap();
    tracing_subscriber::registry().with(ttlog_core::layer()).init();
    for ms in [5u64, 7] {
        tracing::info!(target: "web", route = "/api", "took {} ms", ms);
    }
    tracing::warn!(target: "web", "constant message");
    trace.request_snapshot("test").unwrap();
}

fn snapshot() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "bridged::bridged_child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().display().to_string();
    (dir, path)
}

#[test]
fn the_message_field_is_the_message() {
    let (_dir, path) = snapshot();
    let json = view_ok(&[&path, "--format", "json"], 0);
    let events: serde_json::Value = serde_json::from_str(&json).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 3, "{json}");
    for (e, ms) in events.iter().zip([5, 7]) {
        assert_eq!(e["message"], format!("took {ms} ms"));
        assert_eq!(e["fields"], serde_json::json!({"route": "/api"}), "the message is not repeated: {e}");
    }
    assert_eq!(events[2]["message"], "constant message");

    let text = view_ok(&[&path, "--color", "never"], 0);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(" took 5 ms route=/api"), "{text}");
    assert!(!lines[0].contains("message="), "{text}");

    let csv = view_ok(&[&path, "--format", "csv"], 0);
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains(",took 5 ms,\"{\"\"route\"\":\"\"/api\"\"}\","), "{row}");
}
