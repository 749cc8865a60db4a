//! Every snapshot trigger, each in a child process (this test binary run
//! again with `TTLOG_TRIGGER_CASE` set, since the recorder is per process;
//! for `panic = "abort"`, the program in `tests/panic-abort-child`): the
//! parent checks the child's exit status or signal and the contents of the
//! file it left, not just that a file exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Event, Level, Trace, Value, info, warn};

const CASE: &str = "TTLOG_TRIGGER_CASE";
const DIR: &str = "TTLOG_TRIGGER_DIR";

/// The child side: does nothing unless run by `run_child`.
#[test]
fn child_entry() {
    let Ok(case) = std::env::var(CASE) else { return };
    let dir = PathBuf::from(std::env::var_os(DIR).expect("TTLOG_TRIGGER_DIR"));
    child(&case, &dir);
}

fn builder(dir: &Path) -> ttlog_core::Builder {
    Trace::builder().service("trig").storage_path(dir).snapshot_interval(None)
}

fn child(case: &str, dir: &Path) {
    match case {
        "panic-thread" => {
            let _t = builder(dir).snapshot_on_signals(false).install().unwrap();
            std::thread::Builder::new()
                .name("bystander".into())
                .spawn(|| {
                    for i in 0..5u64 {
                        info!("bystander", i);
                    }
                })
                .unwrap()
                .join()
                .unwrap();
            let r = std::thread::Builder::new()
                .name("exploder".into())
                .spawn(|| {
                    warn!("about to panic", code = 42u64);
                    panic!("kaboom {}", 42);
                })
                .unwrap()
                .join();
            assert!(r.is_err());
            info!("main goes on");
        }
        "panic-main" => {
            let _t = builder(dir).snapshot_on_signals(false).install().unwrap();
            info!("main about to fail", step = 3u64);
            panic!("main thread failed");
        }
        "abort" => {
            let _t = builder(dir).snapshot_on_signals(false).install().unwrap();
            // What `panic = "abort"` does: run the hook, then abort, with no
            // unwinding. The snapshot must be on disk before the abort. (A
            // real `panic = "abort"` build: `panic_abort_program_leaves_its_snapshot`.)
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                hook(info);
                std::process::abort();
            }));
            info!("before abort", n = 1u64);
            panic!("fatal: aborting");
        }
        "periodic" => {
            let t = builder(dir)
                .snapshot_on_signals(false)
                .snapshot_interval(Some(Duration::from_millis(100)))
                .install()
                .unwrap();
            let count = || {
                std::fs::read_dir(dir)
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "bin"))
                    .count()
            };
            info!("first batch", n = 1u64);
            std::thread::sleep(Duration::from_millis(1000));
            let after_first = count();
            assert!(after_first >= 1, "a periodic snapshot after new events");
            std::thread::sleep(Duration::from_millis(800));
            assert_eq!(count(), after_first, "no periodic snapshot without new events");
            info!("second batch", n = 2u64);
            std::thread::sleep(Duration::from_millis(1000));
            assert_eq!(count(), after_first + 1, "one more after new events");
            assert_eq!(t.metrics().snapshots_written as usize, after_first + 1);
        }
        "shutdown" => {
            let t = builder(dir).snapshot_on_signals(false).snapshot_on_shutdown(true).install().unwrap();
            info!("last words", n = 9u64);
            t.shutdown();
            info!("after shutdown: not recorded");
            drop(t); // the final snapshot is written once
        }
        "drop" => {
            let t = builder(dir).snapshot_on_signals(false).snapshot_on_shutdown(true).install().unwrap();
            info!("dropped guard", n = 1u64);
            drop(t);
        }
        "failure" => {
            // The directory cannot exist: its parent is a file.
            std::fs::write(dir.join("blocker"), b"").unwrap();
            let t = builder(&dir.join("blocker").join("snaps")).snapshot_on_signals(false).install().unwrap();
            info!("before failure");
            assert!(t.request_snapshot("one").is_err());
            assert!(t.request_snapshot("two").is_err());
            // A panic whose snapshot fails still ends as a normal panic.
            let r = std::thread::spawn(|| panic!("panic with no disk")).join();
            assert!(r.is_err());
            let m = t.metrics();
            assert_eq!(m.snapshot_errors, 3);
            assert_eq!(m.snapshots_written, 0);
            info!("still logging", n = 7u64);
            assert!(t.events().iter().any(|e| &*e.message == "still logging"));
        }
        "fsize" => {
            // Run under `prlimit --fsize`: a write past the limit fails with
            // EFBIG, as a full disk fails with ENOSPC, part-way through the
            // file. Without a handler SIGXFSZ would end the process.
            signal_hook::flag::register(
                signal_hook::consts::SIGXFSZ,
                std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            )
            .unwrap();
            let t = builder(dir).snapshot_on_signals(false).install().unwrap();
            for i in 0..20_000u64 {
                info!("filling", i, text = %format_args!("value number {i} of many"));
            }
            let e = t.request_snapshot("too_big").unwrap_err();
            assert!(e.to_string().contains("cannot write"), "{e}");
            assert_eq!(t.metrics().snapshot_errors, 1);
            info!("logging goes on");
            assert!(t.events().iter().any(|e| &*e.message == "logging goes on"));
        }
        "signal-listener" => {
            // The listener's next pass would be in 10 s: only the drain on the
            // signal can print this event.
            let _t = builder(dir)
                .listener(ttlog_core::StdoutListener::new().colours(false))
                .listener_interval(Duration::from_secs(10))
                .install()
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            warn!("last words", n = 7u64);
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
            std::thread::sleep(Duration::from_secs(20));
            std::process::exit(3);
        }
        signal if signal.starts_with("signal-") => {
            let sig: i32 = signal["signal-".len()..].parse().unwrap();
            let _t = builder(dir).install().unwrap();
            // A producer that keeps logging while the snapshot is written.
            std::thread::Builder::new()
                .name("producer".into())
                .spawn(|| {
                    for i in 0u64.. {
                        info!("busy", i);
                        if i % 1024 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            info!("before signal", sig = sig as i64);
            signal_hook::low_level::raise(sig).unwrap();
            std::thread::sleep(Duration::from_secs(20));
            // Not reached: the signal ends the process.
            std::process::exit(3);
        }
        other => panic!("unknown case {other}"),
    }
}

fn run_child(case: &str) -> (Output, tempfile::TempDir) {
    run_child_with(case, &[])
}

/// Runs the child, prefixed by `wrapper` (a command and its arguments).
fn run_child_with(case: &str, wrapper: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let out = cmd
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CASE, case)
        .env(DIR, dir.path())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (out, dir)
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    v.sort();
    v
}

fn only_snapshot(dir: &Path, out: &Output) -> (Snapshot, Vec<Event>) {
    let files = snapshots(dir);
    assert_eq!(files.len(), 1, "{files:?}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let s = Snapshot::open(&files[0]).unwrap();
    assert!(s.is_complete(), "{:?}", s.problems());
    let ev = s.events().collect::<Result<Vec<_>, _>>().unwrap();
    (s, ev)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn panic_in_a_thread() {
    let (out, dir) = run_child("panic-thread");
    assert!(out.status.success(), "{}", stderr(&out));
    // The previous (default) hook still printed the message.
    assert!(stderr(&out).contains("kaboom 42"), "{}", stderr(&out));
    let (s, ev) = only_snapshot(dir.path(), &out);
    let h = s.header();
    assert_eq!(h.reason, "panic");
    let p = h.panic.as_ref().unwrap();
    assert_eq!(p.message, "kaboom 42");
    assert_eq!(p.thread.as_deref(), Some("exploder"));
    assert!(p.location.as_deref().unwrap().contains("triggers.rs:"));
    assert_eq!(ev.iter().filter(|e| &*e.message == "bystander").count(), 5);
    // The panic is the panicking thread's last event, after its own last one.
    let last = ev.last().unwrap();
    assert_eq!((&*last.target, &*last.message, last.level), ("panic", "panic", Level::Error));
    assert_eq!(last.thread_name.as_deref(), Some("exploder"));
    let field = |name: &str| last.fields.iter().find(|(n, _)| &**n == name).map(|(_, v)| v.clone());
    assert_eq!(field("message"), Some(Value::Str("kaboom 42".into())));
    assert_eq!(field("location"), Some(Value::Str(p.location.clone().unwrap())));
    let before = &ev[ev.len() - 2];
    assert_eq!((&*before.message, before.thread_name.as_deref()), ("about to panic", Some("exploder")));
    assert!(!ev.iter().any(|e| &*e.message == "main goes on"), "the snapshot ends at the panic");
}

#[test]
fn panic_in_main_thread() {
    let (out, dir) = run_child("panic-main");
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    assert!(stderr(&out).contains("main thread failed"));
    let (s, ev) = only_snapshot(dir.path(), &out);
    assert_eq!(s.header().panic.as_ref().unwrap().message, "main thread failed");
    assert!(ev.iter().any(|e| &*e.message == "main about to fail"));
}

#[cfg(unix)]
#[test]
fn panic_then_abort() {
    use std::os::unix::process::ExitStatusExt;
    let (out, dir) = run_child("abort");
    assert_eq!(out.status.signal(), Some(signal_hook::consts::SIGABRT), "{:?} {}", out.status, stderr(&out));
    assert!(stderr(&out).contains("fatal: aborting"));
    let (s, ev) = only_snapshot(dir.path(), &out);
    assert_eq!(s.header().reason, "panic");
    assert_eq!(s.header().panic.as_ref().unwrap().message, "fatal: aborting");
    // The panic's own event, then the thread's last one before it.
    let last = ev.last().unwrap();
    assert_eq!((&*last.target, last.field("message")), ("panic", Some(&Value::Str("fatal: aborting".into()))));
    assert_eq!(ev[ev.len() - 2].field("n"), Some(&ttlog_core::Value::U64(1)));
}

/// Builds `tests/panic-abort-child` (its own workspace and lockfile, built
/// with `panic = "abort"`) into this target directory and returns the
/// program's path. The first build compiles ttlog-core's dependencies again
/// (the panic strategy is part of every crate's build); later runs reuse it.
#[cfg(unix)]
fn build_panic_abort_child() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/panic-abort-child/Cargo.toml");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("panic-abort-child");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--locked", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {} failed ({}); if ttlog-core's dependencies changed, refresh its Cargo.lock as its Cargo.toml says\n{}",
        manifest.display(),
        out.status,
        stderr(&out)
    );
    // The executable as cargo reports it, wherever the configuration puts it.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ttlog-panic-abort-child")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the child's executable")
}

/// A real `panic = "abort"` build, not the emulation above: the snapshot is
/// on disk before the process aborts, with both threads' events and the
/// panic.
#[cfg(unix)]
#[test]
fn panic_abort_program_leaves_its_snapshot() {
    use std::os::unix::process::ExitStatusExt;
    let exe = build_panic_abort_child();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(&exe)
        .arg(dir.path())
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(signal_hook::consts::SIGABRT), "{:?} {}", out.status, stderr(&out));
    // The default hook still printed the message before the abort.
    assert!(stderr(&out).contains("exploder gave up: code 42"), "{}", stderr(&out));

    let (s, ev) = only_snapshot(dir.path(), &out);
    let h = s.header();
    assert_eq!((h.reason.as_str(), h.service.as_str()), ("panic", "abort-child"));
    assert_eq!(h.pid, pid);
    let p = h.panic.as_ref().expect("the panic in the header");
    assert_eq!(p.message, "exploder gave up: code 42");
    assert_eq!(p.thread.as_deref(), Some("exploder"));
    let location = p.location.as_deref().expect("the panic's location");
    assert!(location.starts_with("src/main.rs:"), "{location}");

    let main = ev.iter().find(|e| &*e.message == "main started").expect("main's event");
    assert_eq!(main.field("pid"), Some(&ttlog_core::Value::U64(u64::from(pid))));
    let steps: Vec<_> = ev
        .iter()
        .filter(|e| &*e.message == "bystander step")
        .map(|e| (e.thread_name.as_deref(), e.field("step").cloned()))
        .collect();
    let expected: Vec<_> = (0..5u64).map(|i| (Some("bystander"), Some(ttlog_core::Value::U64(i)))).collect();
    assert_eq!(steps, expected);
    // The panic is the exploder's last event, after its own last one.
    let last = ev.last().unwrap();
    assert_eq!((&*last.target, last.thread_name.as_deref()), ("panic", Some("exploder")));
    assert_eq!(last.field("location"), Some(&Value::Str(location.into())));
    let before = &ev[ev.len() - 2];
    assert_eq!((&*before.message, before.thread_name.as_deref()), ("about to fail", Some("exploder")));
    assert_eq!(before.field("code"), Some(&ttlog_core::Value::U64(42)));
}

#[cfg(unix)]
#[test]
fn each_signal_snapshots_then_ends_the_process_by_that_signal() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use std::os::unix::process::ExitStatusExt;
    for (sig, reason) in [(SIGINT, "sigint"), (SIGTERM, "sigterm"), (SIGQUIT, "sigquit"), (SIGHUP, "sighup")] {
        let (out, dir) = run_child(&format!("signal-{sig}"));
        assert_eq!(out.status.signal(), Some(sig), "{reason}: {:?} {}", out.status, stderr(&out));
        let (s, ev) = only_snapshot(dir.path(), &out);
        assert_eq!(s.header().reason, reason);
        let before = ev.iter().find(|e| &*e.message == "before signal").expect("event before the signal");
        assert_eq!(before.field("sig"), Some(&ttlog_core::Value::I64(i64::from(sig))));
        assert!(ev.iter().filter(|e| &*e.message == "busy").count() > 10, "{reason}: producer events");
        let files = snapshots(dir.path());
        assert!(files[0].file_name().unwrap().to_str().unwrap().ends_with(&format!("-{reason}.bin")));
    }
}

#[cfg(unix)]
#[test]
fn a_signal_lets_the_listeners_print_their_last_pass() {
    use std::os::unix::process::ExitStatusExt;
    let (out, dir) = run_child("signal-listener");
    assert_eq!(out.status.signal(), Some(signal_hook::consts::SIGTERM), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" WARN ") && stdout.contains("last words n=7"), "stdout: {stdout}");
    let (_, ev) = only_snapshot(dir.path(), &out);
    assert!(ev.iter().any(|e| &*e.message == "last words"));
}

#[test]
fn periodic_only_when_new_events() {
    let (out, dir) = run_child("periodic");
    assert!(out.status.success(), "{}", stderr(&out));
    let files = snapshots(dir.path());
    assert!(files.len() >= 2);
    let last = Snapshot::open(files.last().unwrap()).unwrap();
    assert_eq!(last.header().reason, "periodic");
    assert!(last.events().any(|e| &*e.unwrap().message == "second batch"));
}

#[test]
fn shutdown_writes_one_final_snapshot() {
    let (out, dir) = run_child("shutdown");
    assert!(out.status.success(), "{}", stderr(&out));
    let (s, ev) = only_snapshot(dir.path(), &out);
    assert_eq!(s.header().reason, "shutdown");
    assert_eq!(&*ev.last().unwrap().message, "last words");

    let (out, dir) = run_child("drop");
    assert!(out.status.success(), "{}", stderr(&out));
    let (s, ev) = only_snapshot(dir.path(), &out);
    assert_eq!(s.header().reason, "shutdown");
    assert_eq!(&*ev.last().unwrap().message, "dropped guard");
}

#[test]
fn failures_are_counted_reported_once_and_leave_nothing() {
    let (out, dir) = run_child("failure");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("ttlog: snapshot failed").count(), 1, "{err}");
    assert!(err.contains("blocker"), "the message names the path: {err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("blocker")]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_write_failing_mid_file_leaves_no_file() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let (out, dir) = run_child_with("fsize", &["prlimit", "--fsize=16384"]);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_eq!(stderr(&out).matches("ttlog: snapshot failed").count(), 1, "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "no temp or partial file: {left:?}");
}
