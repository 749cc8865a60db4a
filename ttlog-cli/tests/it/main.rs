//! Integration tests of `ttlog-view`, in one test binary so that polars is
//! linked once. They run the real binary on the committed `testdata/` and
//! on files written here, and compute every expected result independently
//! of the code under test: by decoding the files through
//! `ttlog_core::snapshot` and counting by hand.

mod bridged;
mod causes;
mod copies;
mod damaged;
mod exports;
mod filters;
mod fuzz_corpus;
mod hostile;
mod interactive;
mod memory;
mod options;
mod plans;
mod recover;
mod screens;
mod sql;
mod summaries;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Event, Value};

/// The committed snapshot files.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("testdata")
}

/// A committed file.
pub fn td(name: &str) -> String {
    let clean = testdata().join(name);
    let path = if clean.exists() { clean } else { testdata().join("damaged").join(name) };
    path.display().to_string()
}

/// A snapshot (service `svc`, one thread) of `n` events `tick`, one a
/// microsecond, each with its own `n` (0, 1, …): the events of the tests
/// that need many of them with a distinct key each.
pub fn ticks_snapshot(n: u64) -> Vec<u8> {
    let events: Vec<Event> = (0..n)
        .map(|i| Event {
            timestamp_ns: 1_795_307_845_000_000_000 + i as i64 * 1000,
            level: ttlog_core::Level::Info,
            target: "svc".into(),
            message: "tick".into(),
            file: "src/main.rs".into(),
            line: 1,
            module_path: "svc".into(),
            thread_id: 1,
            thread_name: Some("main".into()),
            seq: i,
            callsite: 1,
            fields: vec![(std::sync::Arc::from("n"), Value::U64(i))],
        })
        .collect();
    let meta = ttlog_core::snapshot::SnapshotMeta::new("svc", "manual");
    ttlog_core::snapshot::encode(&ttlog_core::Capture::from_events(&events), &meta)
}

/// Runs `ttlog-view` with `args`.
pub fn view(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ttlog-view")).args(args).env_remove("NO_COLOR").output().expect("run ttlog-view")
}

/// Stdout of a run that must exit with `code`.
pub fn view_ok(args: &[&str], code: i32) -> String {
    let out = view(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "ttlog-view {args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every decodable event of a file, through the reference reader, with the
/// file's header facts.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The event.
    pub event: Event,
    /// Its file's service.
    pub service: String,
    /// Its file's host.
    pub hostname: String,
    /// Its file's pid.
    pub pid: u32,
    /// Its file, as given.
    pub file: String,
}

/// Every decodable event of the file at `path`, in file order.
pub fn decode(path: &str) -> Vec<Expected> {
    let snap = Snapshot::open(path).unwrap();
    let h = snap.header().clone();
    snap.events()
        .filter_map(Result::ok)
        .map(|event| Expected {
            event,
            service: h.service.clone(),
            hostname: h.hostname.clone(),
            pid: h.pid,
            file: path.to_owned(),
        })
        .collect()
}

/// The events of several files merged the way the viewer promises: each
/// event once, by (process, thread id, sequence number), from the newest
/// file that holds it (creation time, then most events, then input order);
/// then by time, ties in input order. The process is the header's instance,
/// else service, host and pid (legacy files: the file's own facts).
pub fn decode_merged(paths: &[String]) -> Vec<Expected> {
    let mut files: Vec<(usize, &String, Snapshot)> =
        paths.iter().enumerate().map(|(i, p)| (i, p, Snapshot::open(p).unwrap())).collect();
    files
        .sort_by_key(|(i, _, s)| (std::cmp::Reverse(s.header().created_at_ns), std::cmp::Reverse(s.event_count()), *i));
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<(usize, Expected)> = Vec::new();
    for (i, path, s) in &files {
        let h = s.header();
        let process = match (&h.instance, s.version()) {
            (_, ttlog_core::snapshot::FormatVersion::Legacy) => format!("legacy {path}"),
            (Some(instance), _) => instance.clone(),
            (None, _) => format!("{} {} {}", h.service, h.hostname, h.pid),
        };
        for e in decode(path) {
            if seen.insert((process.clone(), e.event.thread_id, e.event.seq)) {
                kept.push((*i, e));
            }
        }
    }
    kept.sort_by_key(|(i, e)| (e.event.timestamp_ns, *i));
    kept.into_iter().map(|(_, e)| e).collect()
}

/// The `.bin` files of `dir`, sorted, as a directory input expands.
pub fn bins(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

/// The damaged samples, `testdata/damaged/*.bin`, sorted.
pub fn damaged_files() -> Vec<String> {
    bins(&testdata().join("damaged"))
}

/// Every `.bin` file of testdata (the clean samples), sorted, as the
/// directory input expands.
pub fn testdata_files() -> Vec<String> {
    bins(&testdata())
}

/// A value as a number, for comparisons by hand.
pub fn num(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F32(x) => f64::from(*x),
        Value::F64(x) => *x,
        Value::U128(x) => *x as f64,
        Value::I128(x) => *x as f64,
        _ => return None,
    })
}

/// Files written by a recorder in this test process (one recorder per
/// process, so they are made once): `evil.bin` has log text full of
/// terminal control sequences.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let _trace = ttlog_core::Trace::builder()
            .service("evil")
            .level(ttlog_core::Level::Trace)
            .storage_path(dir.path())
            .snapshot_on_signals(false)
            .snapshot_interval(None)
            .snapshot_on_panic(false)
            .install()
            .unwrap();
        ttlog_core::warn!(target: "term\x1b[2J", "clear \x1b[31mred\x1b[0m \u{9b}6n bell\x07 bidi\u{202e}",
            title = "\x1b]0;pwned\x07", line = "a\nb", ok = true);
        ttlog_core::info!("plain", n = 1u64);
        let bytes = ttlog_core::snapshot::encode(
            &ttlog_core::capture(),
            &ttlog_core::snapshot::SnapshotMeta::new("evil\x1b[5m", "manual"),
        );
        std::fs::write(dir.path().join("evil.bin"), bytes).unwrap();
        dir
    })
    .path()
}
