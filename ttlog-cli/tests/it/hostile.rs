//! Hostile snapshots (issue 20): files that claim more than they hold, that
//! decompress into more than a writer produces, streams without end, many
//! failing inputs. Each is made here, small; each must give a clear error
//! line naming the file, never a panic, an abort or an allocation from a
//! count the file declares.

use crate::{td, view};
use std::process::{Command, Stdio};

/// Where the hostile files go: a temporary directory, or the directory
/// `TTLOG_KEEP_HOSTILE` names (to measure them with the binary by hand).
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes `bytes` as `name` into `dir`, or into `TTLOG_KEEP_HOSTILE`; the
/// path written.
pub(crate) fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = match std::env::var_os("TTLOG_KEEP_HOSTILE") {
        Some(keep) => {
            std::fs::create_dir_all(&keep).unwrap();
            std::path::Path::new(&keep).join(name)
        }
        None => dir.join(name),
    };
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Stderr of a run, checked for no panic and no abort.
fn stderr_of(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.code().is_some(), "killed by a signal: {err}");
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
    err
}

#[test]
fn frames_claiming_more_than_a_writer_puts_in_a_chunk_are_rejected() {
    let dir = scratch();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    // The abort: frames that each claim 16.7 M events in 64 MiB,
    // over 263 KB of junk (LZ4 could expand that far), with valid CRCs.
    let claims: Vec<_> = (0..4).map(|i| (1u32 << 24, 64u32 << 20, vec![i as u8; 263_200])).collect();
    let file = write(dir.path(), "claims.bin", &ttlog_core::fuzz::claimed_chunks(&normal, &claims, true));
    if std::env::var_os("TTLOG_KEEP_HOSTILE").is_some() {
        // The file, for measuring by hand: 255 such frames, 67 MB,
        // indexed in the header.
        let claims: Vec<_> = (0..255).map(|i| (1u32 << 24, 64u32 << 20, vec![i as u8; 263_200])).collect();
        write(dir.path(), "claims-255.bin", &ttlog_core::fuzz::claimed_chunks(&normal, &claims, true));
    }
    let out = view(&[&file, "--stats"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "no event: {err}");
    for i in 0..4 {
        let line = format!("chunk frame {i}: claims 16777216 events, more than the 65536 a writer puts in a chunk");
        assert!(err.lines().any(|l| l.contains("claims.bin: byte ") && l.contains(&line)), "{err}");
    }

    // A bomb: a frame whose data would decompress into 32 MiB, more than a
    // writer's chunk, is rejected before anything is decompressed.
    // (32 MiB of zeros compress to about this much LZ4.)
    let bomb = ttlog_core::fuzz::claimed_chunks(&normal, &[(65_536, 32 << 20, vec![0; 131_600])], false);
    let file = write(dir.path(), "bomb.bin", &bomb);
    let out = view(&[&file, "--format", "ndjson"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "no event: {err}");
    assert!(
        err.contains("bomb.bin: byte ")
            && err.contains("chunk frame 0: claims 33554432 bytes once decompressed, more than the 25165824"),
        "{err}"
    );
}

#[test]
fn declared_counts_reserve_nothing_before_the_chunks_decode() {
    let dir = scratch();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    // 2,000 frames that each claim the most a chunk may hold (65,536 events
    // in 256 KiB, from 1,028 bytes), indexed in the header so that no chunk
    // is decoded before the load: 131 M events declared by 2 MB of junk.
    let claims: Vec<_> = (0..2000u32).map(|i| (65_536u32, 262_144u32, vec![(i % 251) as u8; 1_028])).collect();
    let file = write(dir.path(), "declared.bin", &ttlog_core::fuzz::claimed_chunks(&normal, &claims, true));
    // The library's engine, which loads every event into one frame.
    let ds = ttlog_cli::Engine::new().load(&[ttlog_cli::Input::File(file.clone().into())]).unwrap();
    assert_eq!(ds.all().len(), 0);
    assert_eq!(ds.problems().len(), 2000, "one problem per chunk");
    let out = view(&[&file, "--format", "ndjson"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "no event: {err}");
    // Ten lines of damage, then their count.
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 11, "{err}");
    assert!(lines[0].contains("declared.bin: byte ") && lines[0].contains("LZ4 data is damaged"), "{err}");
    assert!(
        lines[10].ends_with("… and 1990 more problems in 1 file (130416640 events in their chunks are unreadable)"),
        "{err}"
    );
}

#[test]
fn streams_without_end_are_bounded() {
    // A device that never ends and can start no snapshot: refused at once.
    let out = view(&["/dev/zero", "--stats"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/dev/zero: byte 0: not a TTLog snapshot"), "{err}");
    // The same on standard input.
    let out = Command::new(env!("CARGO_BIN_EXE_ttlog-view"))
        .args(["-", "--stats"])
        .stdin(Stdio::from(std::fs::File::open("/dev/zero").unwrap()))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("<stdin>: byte 0: not a TTLog snapshot"), "{err}");
}

#[test]
fn many_failing_inputs_give_ten_lines_and_a_count() {
    let dir = scratch();
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..500 {
        std::fs::write(many.join(format!("empty-{i:04}.bin")), b"").unwrap();
    }
    let out = view(&[&many.display().to_string(), "--stats"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 12, "{err}");
    assert!(lines[0].starts_with("ttlog-view: error: none of the 500 inputs could be read as a snapshot:"), "{err}");
    assert!(lines[1].contains("empty-0000.bin: byte 0: not a TTLog snapshot (0 bytes: too short)"), "{err}");
    assert_eq!(lines[11], "  … and 490 more");
    assert!(err.len() < 2000, "{} bytes", err.len());
}

/// Every character a terminal or spreadsheet must not get raw.
const EVIL: &str = ttlog_core::fuzz::HOSTILE_TEXT;

/// `normal.bin` with every name in its header hostile: service, host,
/// thread names, targets (formulas), messages, files, field names.
fn evil_names(dir: &std::path::Path) -> String {
    write(dir, "names.bin", &evil_names_bytes())
}

fn evil_names_bytes() -> Vec<u8> {
    ttlog_core::fuzz::hostile_names(&std::fs::read(td("normal.bin")).unwrap())
}

/// The hostile files of this module, small, by name: what the fuzz target
/// `snapshot_engine` keeps as regressions (`fuzz/regressions/`, replayed by
/// `fuzz_corpus.rs`).
pub(crate) fn crafted() -> Vec<(&'static str, Vec<u8>)> {
    let normal = std::fs::read(td("normal.bin")).unwrap();
    let claimed = |chunks: &[(u32, u32, Vec<u8>)], indexed| ttlog_core::fuzz::claimed_chunks(&normal, chunks, indexed);
    vec![
        // A frame claiming 16.7 M events in 64 MiB over junk that LZ4
        // could expand that far.
        ("claims", claimed(&[(1 << 24, 64 << 20, vec![0; 263_200])], true)),
        // Frames claiming the most a chunk may hold, over 1 KB of junk each.
        ("declared", claimed(&[(65_536, 262_144, vec![1; 1_028]), (65_536, 262_144, vec![2; 1_028])], true)),
        // A frame whose data would decompress into 32 MiB.
        ("bomb", claimed(&[(65_536, 32 << 20, vec![0; 131_600])], false)),
        ("names", evil_names_bytes()),
        // 262,144 valid, identical events at one instant in 4 KiB.
        ("compressible", ttlog_core::fuzz::compressible(&normal, 4)),
        // A ttlog 0.1 file whose block is 1.5 MiB.
        ("legacy", ttlog_core::fuzz::legacy_events(20_000)),
    ]
}

/// `text` without the viewer's own colour sequences.
fn uncolored(text: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(text, "").into_owned()
}

/// Output with no character of `ttlog_core::text::needs_escape` but the
/// line ends.
fn assert_no_raw(what: &str, out: &str) {
    for (n, line) in out.lines().enumerate() {
        let bad: Vec<char> = line.chars().filter(|&c| ttlog_core::text::needs_escape(c)).collect();
        assert!(bad.is_empty(), "{what}: line {n} holds {bad:?}: {line:?}");
    }
}

#[test]
fn every_output_escapes_every_column() {
    let dir = scratch();
    let names = evil_names(dir.path());
    let evil = crate::fixtures().join("evil.bin").display().to_string();
    let events = ttlog_core::snapshot::Snapshot::open(&names).unwrap().event_count() as usize;
    for (args, lines) in [
        (vec!["--format", "csv"], Some(events + 1)),
        (vec!["--format", "csv", "--csv-safe"], Some(events + 1)),
        (vec!["--color", "always"], Some(events)),
        (vec!["--color", "never"], Some(events)),
        (vec!["--stats"], None),
        (vec!["--stats", "--group-by", "target,thread,service,hostname,file"], None),
        (vec!["--group-by", "target,message,thread,service,hostname,file", "--format", "csv"], None),
        (vec!["--group-by", "target", "--format", "csv", "--csv-safe"], None),
        (vec!["--sql", "SELECT target, message, thread, file, service, hostname FROM events", "--format", "csv"], None),
        (vec!["--sql", "SELECT * FROM events"], None),
    ] {
        let out = view(&[&[names.as_str()][..], &args].concat());
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert_no_raw(&format!("{args:?} stderr"), &err);
        let text = String::from_utf8(out.stdout).unwrap();
        // Colours are the viewer's own escape sequences: without them,
        // nothing is left to escape.
        assert_no_raw(&format!("{args:?}"), &uncolored(&text));
        if let Some(n) = lines {
            assert_eq!(text.lines().count(), n, "{args:?}: one line per event\n{text}");
        }
        if args.contains(&"--csv-safe") && args.contains(&"--group-by") {
            let first = text.lines().nth(1).unwrap();
            assert!(first.starts_with("\"'=HYPERLINK(\"\"http://x\"\")x\\x1b[2J"), "{first}");
        } else if args.contains(&"--csv-safe") {
            let first = text.lines().nth(1).unwrap();
            assert!(first.contains(",\"'=HYPERLINK(\"\"http://x\"\")x\\x1b[2J"), "{first}");
            assert!(first.contains(",'+msgx\\x1b[2J") && first.contains(",'@filex"), "{first}");
        }
        // Field values of the recorder's own hostile events.
        let out = view(&[&[evil.as_str()][..], &args].concat());
        assert_no_raw(&format!("evil.bin {args:?}"), &uncolored(&String::from_utf8_lossy(&out.stdout)));
    }
    // Without --csv-safe the formula is written as it is (escaped, quoted).
    let csv = String::from_utf8(view(&[&names, "--format", "csv"]).stdout).unwrap();
    assert!(
        csv.lines().nth(1).unwrap().contains(",\"=HYPERLINK(\"\"http://x\"\")x\\x1b[2J\\x07\\r\\n\\t\\x7f\\u{85}"),
        "{csv}"
    );
    assert!(csv.contains("\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{202e}\\u{2066}\\u{2069}\\u{2028}\\u{2029}y"), "{csv}");
    // --csv-safe is for CSV.
    let out = view(&[&names, "--csv-safe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--csv-safe guards CSV cells: add --format csv"));
}

#[test]
fn error_messages_are_escaped() {
    let dir = scratch();
    let name = format!("bad{EVIL}.bin").replace(['\n', '\r'], "_");
    let path = dir.path().join(&name);
    std::fs::write(&path, b"").unwrap();
    let out = view(&[&path.display().to_string(), "--stats"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_no_raw("error", &err);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("badx\\x1b[2J\\x07_"), "{err}");
}

#[test]
fn arithmetic_never_wraps() {
    use std::sync::Arc;
    use ttlog_core::{Event, Level, Value};
    let dir = scratch();
    let event = |ts: i64, seq: u64| Event {
        timestamp_ns: ts,
        level: Level::Info,
        target: "edge".into(),
        message: "at the end of time".into(),
        file: "src/edge.rs".into(),
        line: 1,
        module_path: "edge".into(),
        thread_id: 1,
        thread_name: Some("main".into()),
        seq,
        callsite: 0,
        fields: vec![(Arc::from("n"), Value::U64(seq))],
    };
    let events = [event(i64::MIN, 0), event(i64::MIN + 1, 1), event(0, 2), event(i64::MAX, 3)];
    let capture = ttlog_core::Capture::from_events(&events);
    let bytes = ttlog_core::snapshot::encode(&capture, &ttlog_core::snapshot::SnapshotMeta::new("edge", "manual"));
    // Counters near 2^64 whose sums would wrap.
    let bytes = ttlog_core::fuzz::wrapping_counters(&bytes);
    let file = write(dir.path(), "edges.bin", &bytes);

    let out = view(&[&file, "--stats"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "span       1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z (18446744073.710 s, 0.0 events/s)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "logged 18446744073709551614, overwritten 18446744073709551613, dropped 18446744073709551615 (inconsistent: the counters' parts add up to more than logged)"
        ),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&view(&[&file, "--stats", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["span_seconds"], 18446744073.709553);
    assert!(json["events_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(json["processes"][0]["dropped"], u64::MAX);
    assert_eq!(json["processes"][0]["counters_consistent"], false);
    assert_eq!(json["files"][0]["counters"]["consistent"], false);

    // Time buckets at both ends: the first starts at the earliest time
    // there is (not in 2262), the last holds i64::MAX.
    let out = view(&[&file, "--group-by", "time:1s", "--format", "json"]);
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<(String, u64)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_owned(), g["count"].as_u64().unwrap()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("1677-09-21T00:12:43.145224192Z".to_owned(), 2),
            ("1970-01-01T00:00:00.000000000Z".to_owned(), 1),
            ("2262-04-11T23:47:16.000000000Z".to_owned(), 1)
        ],
        "{groups}"
    );
    // The engine of the interactive viewer and the library.
    let ds = ttlog_cli::Engine::new().load(&[ttlog_cli::Input::File(file.clone().into())]).unwrap();
    let stats = ds.all().stats();
    assert_eq!(stats.span_seconds(), Some(18446744073.709553));
    assert!(stats.rate().unwrap() > 0.0);
}

#[test]
fn crafted_files_run_end_to_end_through_the_engine() {
    // What the fuzzer would run (`ttlog_cli::fuzz_snapshot`): the reader
    // into the engine, on the crafted files of this module, the committed
    // testdata and the corpus of ttlog-core's snapshot fuzz targets.
    let mut inputs: Vec<(String, Vec<u8>)> = crafted().into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dirs =
        [root.join("testdata"), root.join("testdata/damaged"), root.join("ttlog-core/fuzz/corpus/snapshot_file")];
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                inputs.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut loaded = 0;
    for (name, bytes) in inputs {
        let r = std::panic::catch_unwind(|| ttlog_cli::fuzz_snapshot(bytes));
        loaded += r.unwrap_or_else(|_| panic!("{name} panicked"));
    }
    assert!(loaded > 1000, "the intact files load: {loaded}");
}
