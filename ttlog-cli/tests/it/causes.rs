//! How a real process ended, as `ttlog-view` tells it (issue 18): a child
//! process with two logging threads (the test's own, [`MAIN`], and
//! `worker`) is ended by a panic in a worker thread,
//! by each terminating signal, by `abort` and by `kill -9`; each output
//! (`--stats` text and JSON, `--last`) shows the right cause and each
//! thread's right last events. The processes that die without a snapshot
//! leave persistent rings, which `ttlog-view recover` turns into one.

use crate::view_ok;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

const CHILD: &str = "TTLOG_VIEW_CAUSE_CHILD";
const DIR: &str = "TTLOG_VIEW_CAUSE_DIR";

/// The child's first thread: the test harness names it after the test.
const MAIN: &str = "causes::cause_child_entry";

/// The panic's message; its location is this file.
const BOOM: &str = "order book crossed: bid 101 > ask 100";

/// The child side: logs from `main` and from a thread named `worker`, then
/// ends as its case says. Does nothing unless run by [`run`].
#[test]
fn cause_child_entry() {
    let (Some(case), Some(dir)) = (std::env::var_os(CHILD), std::env::var_os(DIR)) else { return };
    let case = case.to_string_lossy().into_owned();
    let dir = Path::new(&dir);
    let mut builder = ttlog_core::Trace::builder()
        .service("crashy")
        .storage_path(dir.join("snapshots"))
        .snapshot_on_signals(true)
        .snapshot_interval(None);
    if case == "abort" || case == "kill" {
        // No hook runs: only the persistent rings outlive the process.
        builder = builder.persist_dir(dir.join("rings")).snapshot_on_panic(false).snapshot_on_signals(false);
    }
    let _trace = builder.install().unwrap();
    ttlog_core::info!("serving", port = 8080u64);
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            for n in 0..5u64 {
                ttlog_core::info!("working", n);
            }
            if case == "panic" {
                ttlog_core::warn!("book crossed", bid = 101u64, ask = 100u64);
                panic!("{BOOM}");
            }
        })
        .unwrap();
    let _ = worker.join();
    ttlog_core::info!("waiting", ready = true);
    println!("ready");
    match std::env::var(CHILD).unwrap().as_str() {
        "panic" => std::process::exit(3),
        "abort" => std::process::abort(),
        // Signals and kill -9 come from the parent.
        _ => std::thread::sleep(std::time::Duration::from_secs(30)),
    }
}

/// Runs the child for `case` in `dir`; sends `signal` (a `kill` option,
/// `-TERM`, `-9`, …) once it is ready. Returns its exit status.
fn run(case: &str, dir: &Path, signal: Option<&str>) -> std::process::ExitStatus {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "causes::cause_child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.any(|l| l.is_ok_and(|l| l.contains("ready")));
    if let Some(signal) = signal {
        assert!(ready, "{case}: the child started");
        let kill = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
    }
    child.wait().unwrap()
}

/// `--last 2` of `input`: each thread's last events, as text.
fn last(input: &str) -> String {
    view_ok(&[input, "--last", "2", "--color", "never"], 0)
}

/// The heading line of `thread` in `--last` text, and the event lines under
/// it.
fn thread_block<'a>(last: &'a str, thread: &str) -> Vec<&'a str> {
    let head = format!("== thread {thread} of crashy ");
    last.lines().skip_while(|l| !l.starts_with(&head)).take_while(|l| !l.is_empty()).collect()
}

#[test]
fn a_panic_in_a_worker_thread_is_the_cause_and_its_last_event() {
    let tmp = tempfile::tempdir().unwrap();
    let status = run("panic", tmp.path(), None);
    assert_eq!(status.code(), Some(3), "main went on after the worker's panic");
    let dir = tmp.path().join("snapshots").display().to_string();
    // --stats opens with the panic: message, location (this file) and the
    // thread's name.
    let stats = view_ok(&[&dir, "--stats"], 0);
    let first = stats.lines().next().unwrap();
    assert!(first.starts_with("cause      panic in thread worker at ttlog-cli/tests/it/causes.rs:"), "{stats}");
    assert!(first.contains(&format!(": {BOOM}  (")), "{first}");
    let json: serde_json::Value = serde_json::from_str(&view_ok(&[&dir, "--stats", "--format", "json"], 0)).unwrap();
    let cause = &json["causes"][0];
    assert_eq!((cause["reason"].as_str(), cause["thread"].as_str()), (Some("panic"), Some("worker")));
    assert_eq!(cause["message"], BOOM);
    assert!(cause["location"].as_str().unwrap().starts_with("ttlog-cli/tests/it/causes.rs:"), "{cause}");
    // The worker's last events: the warning, then the panic as an event.
    let last = last(&dir);
    let worker = thread_block(&last, "worker");
    assert_eq!(worker.len(), 3, "{last}");
    assert!(worker[1].contains("WARN  ") && worker[1].contains("book crossed bid=101 ask=100"), "{last}");
    assert!(worker[2].contains("ERROR panic") && worker[2].contains(&format!("message=\"{BOOM}\"")), "{last}");
    // The other thread logged nothing since: the snapshot was taken then.
    let main = thread_block(&last, MAIN);
    assert!(main.last().unwrap().contains("serving port=8080"), "{last}");
    // Every export sees the panic as an event.
    let ndjson = view_ok(&[&dir, "--filter", "target=panic", "--format", "ndjson"], 0);
    assert_eq!(ndjson.lines().count(), 1, "{ndjson}");
    assert!(ndjson.contains("\"thread\":\"worker\""), "{ndjson}");
}

#[cfg(unix)]
#[test]
fn each_signal_is_the_cause() {
    for (signal, name) in [("-INT", "SIGINT"), ("-TERM", "SIGTERM"), ("-QUIT", "SIGQUIT"), ("-HUP", "SIGHUP")] {
        let tmp = tempfile::tempdir().unwrap();
        let status = run("signal", tmp.path(), Some(signal));
        assert!(!status.success(), "{name}: ended by the signal: {status:?}");
        let dir = tmp.path().join("snapshots").display().to_string();
        let stats = view_ok(&[&dir, "--stats"], 0);
        assert!(stats.starts_with(&format!("cause      signal {name}  (")), "{name}: {stats}");
        let json: serde_json::Value =
            serde_json::from_str(&view_ok(&[&dir, "--stats", "--format", "json"], 0)).unwrap();
        assert_eq!(json["causes"][0]["signal"], name);
        let last = last(&dir);
        let worker = thread_block(&last, "worker");
        assert!(worker.last().unwrap().contains("working n=4"), "{name}: {last}");
        let main = thread_block(&last, MAIN);
        assert!(main.last().unwrap().contains("waiting ready=true"), "{name}: {last}");
    }
}

/// A process that died without a snapshot (`abort`, `kill -9`): its rings
/// are recovered, and the recovered snapshot says so and holds each
/// thread's last events.
fn recovered(case: &str, signal: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let status = run(case, tmp.path(), signal);
    assert!(!status.success(), "{case}: {status:?}");
    let rings = tmp.path().join("rings").display().to_string();
    let out = tmp.path().join("recovered").display().to_string();
    let said = view_ok(&["recover", &rings, "-o", &out], 0);
    assert!(said.starts_with("recovered 7 events of crashy (pid "), "{case}: {said}");
    let stats = view_ok(&[&out, "--stats"], 0);
    assert!(
        stats.starts_with(
            "cause      the process died without a snapshot: recovered from its persistent rings; its last event at 20"
        ),
        "{case}: {stats}"
    );
    let last = last(&out);
    assert!(thread_block(&last, "worker").last().unwrap().contains("working n=4"), "{case}: {last}");
    assert!(thread_block(&last, MAIN).last().unwrap().contains("waiting ready=true"), "{case}: {last}");
}

#[test]
fn abort_then_recovery_shows_the_last_events() {
    recovered("abort", None);
}

#[cfg(unix)]
#[test]
fn kill_9_then_recovery_shows_the_last_events() {
    recovered("kill", Some("-KILL"));
}
