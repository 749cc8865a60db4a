//! `--memory-limit` (issue 20): inputs that would need more memory than the
//! limit stop with one line naming the input and the figures, exit 2;
//! streaming questions over the same inputs stay far below it; the
//! committed samples work under a modest limit.

use crate::hostile::write;
use crate::{td, testdata, view};
use std::path::Path;
use std::process::{Command, Stdio};
use ttlog_tui::Source as _;

/// Whether the large files of the note are to be written too.
fn keep() -> bool {
    std::env::var_os("TTLOG_KEEP_HOSTILE").is_some()
}

/// Stderr of a run that must end with `code`, never killed, never a panic.
fn stderr_of(out: &std::process::Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// The one line of an error over the memory limit: about `file`, with the
/// figures.
fn assert_one_line_over(err: &str, file: &str, limit: &str) {
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("ttlog-view: error: {file}: ")), "{err}");
    let figures = ["needs about ", "goes on past ", "takes about ", "decompresses into "];
    assert!(figures.iter().any(|w| err.contains(w)), "{err}");
    assert!(err.trim_end().ends_with(&format!("more than the memory limit of {limit}")), "{err}");
}

#[test]
fn a_legacy_file_is_decoded_within_the_limit_or_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // 200,000 events: a block of 14.9 MiB from 60 KiB of file.
    let file = write(dir.path(), "legacy-bomb.bin", &ttlog_core::fuzz::legacy_events(200_000));
    if keep() {
        // The file: a few MB declaring (just under) 1 GiB.
        write(dir.path(), "legacy-1gib.bin", &ttlog_core::fuzz::legacy_events(13_765_919));
    }
    // A block larger than the limit is refused before it is decompressed.
    let out = view(&[&file, "--stats", "--memory-limit", "8MiB"]);
    let err = stderr_of(&out, 2);
    assert_one_line_over(&err, &file, "8.0 MiB");
    assert!(err.contains(": byte 0: this ttlog 0.1 snapshot decompresses into 14.9 MiB first: "), "{err}");
    // Its events are converted one by one, and the decoding stops where
    // they pass the limit.
    let out = view(&[&file, "--stats", "--memory-limit", "32MiB"]);
    let err = stderr_of(&out, 2);
    assert_one_line_over(&err, &file, "32.0 MiB");
    assert!(
        err.contains(": byte 0: decoding this ttlog 0.1 snapshot (14.9 MiB once decompressed) takes about "),
        "{err}"
    );
    assert!(err.contains(" of its events: more than the memory limit"), "{err}");
    // Several inputs: the legacy one still ends the question.
    let out = view(&[&td("normal.bin"), &file, "--stats", "--memory-limit", "32MiB"]);
    assert_one_line_over(&stderr_of(&out, 2), &file, "32.0 MiB");
    // Within a limit that holds it, it is decoded.
    let out = view(&[&file, "--stats", "--format", "json", "--memory-limit", "512MiB"]);
    stderr_of(&out, 0);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 200_000, "{stats}");
}

#[test]
fn events_beyond_the_limit_are_refused_by_the_engines_that_hold_them() {
    let dir = tempfile::tempdir().unwrap();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    // 16 chunks of 65,536 events: 1 M events in 17 KB, each chunk intact.
    let file = write(dir.path(), "compressible.bin", &ttlog_core::fuzz::compressible(&normal, 16));
    if keep() {
        // 1,000 and 10,000 chunks: 65.5 M events in 1.2 MB, 655 M in 12 MB.
        write(dir.path(), "compressible-1k.bin", &ttlog_core::fuzz::compressible(&normal, 1_000));
        write(dir.path(), "compressible-10k.bin", &ttlog_core::fuzz::compressible(&normal, 10_000));
    }
    // Streamed questions hold a few chunks: far below 16 MiB.
    let out = view(&[&file, "--stats", "--format", "json", "--memory-limit", "16MiB"]);
    stderr_of(&out, 0);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 1_048_576, "{stats}");
    let out = view(&[&file, "--group-by", "target", "--format", "csv", "--memory-limit", "16MiB"]);
    stderr_of(&out, 0);
    let out = view(&[&file, "--format", "ndjson", "--limit", "3", "--memory-limit", "16MiB"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    stderr_of(&out, 0);
    // Every event in time order: chunks that all begin at one instant are
    // written one after the other, not all held (16 of them take 24 MiB).
    let csv = dir.path().join("all.csv");
    let out = view(&[&file, "--format", "csv", "-o", &csv.display().to_string(), "--memory-limit", "16MiB"]);
    stderr_of(&out, 0);
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1 + 1_048_576);
    // Stats of the last events load them all into a frame: refused.
    let out = view(&[&file, "--stats", "--tail", "5", "--memory-limit", "16MiB"]);
    let err = stderr_of(&out, 2);
    assert_one_line_over(&err, &file, "16.0 MiB");
    assert!(err.contains("loading 1048576 events needs about "), "{err}");

    // The interactive viewer's engine: loaded, then indexed; the message
    // names the figures (the viewer puts the input's name before it).
    let progress = ttlog_tui::Progress::new();
    let path = std::path::PathBuf::from(&file);
    let source = ttlog_cli::EngineSource::new().memory_limit(16 << 20);
    let e = source.add_input(&path, &progress).unwrap_err();
    assert_eq!(e.path, path);
    assert_eq!(e.message, "loading 1048576 events needs about 104.0 MiB: more than the memory limit of 16.0 MiB");
    assert!(source.summary().inputs.is_empty(), "nothing loaded");
    let source = ttlog_cli::EngineSource::indexing_above(1000).memory_limit(16 << 20);
    let e = source.add_input(&path, &progress).unwrap_err();
    assert_eq!(e.message, "an index of 1048576 events needs about 24.0 MiB: more than the memory limit of 16.0 MiB");
    // Within the limit, both load.
    let source = ttlog_cli::EngineSource::new().memory_limit(256 << 20);
    assert_eq!(source.add_input(&path, &progress).unwrap().events, 1_048_576);
}

#[test]
fn the_interactive_viewer_says_what_passes_the_limit_and_loads_nothing() {
    use ttlog_testkit::tmux::{Session, shell_line, skip_without_tmux};
    if skip_without_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    let file = dir.path().join("compressible.bin");
    std::fs::write(&file, ttlog_core::fuzz::compressible(&normal, 16)).unwrap();
    let args = format!("-i {} --memory-limit 16MiB", file.display());
    let s = Session::start("view-memory", (200, 30), &shell_line(Path::new(env!("CARGO_BIN_EXE_ttlog-view")), &args));
    s.wait_for(&[
        "compressible.bin: loading 1048576 events needs about 104.0 MiB: more than the memory limit of 16.0 MiB",
        "row 0/0",
    ]);
    s.keys(&["q"]);
    s.wait_exit_restored(0);
}

#[test]
fn pipes_are_read_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let normal = std::fs::read(td("normal.bin")).unwrap();
    let file = write(dir.path(), "piped.bin", &ttlog_core::fuzz::compressible(&normal, 2048));
    assert!(std::fs::metadata(&file).unwrap().len() > 1 << 20, "a file of more than 1 MiB");
    let run = |limit: &str| {
        Command::new(env!("CARGO_BIN_EXE_ttlog-view"))
            .args(["-", "--stats", "--memory-limit", limit])
            .stdin(Stdio::from(std::fs::File::open(&file).unwrap()))
            .output()
            .unwrap()
    };
    let err = stderr_of(&run("1MiB"), 2);
    assert_one_line_over(&err, "<stdin>", "1.0 MiB");
    assert!(
        err.contains(
            "<stdin>: byte 1048576: a pipe or device is read into memory whole, and this one goes on past 1.0 MiB"
        ),
        "{err}"
    );
    stderr_of(&run("64MiB"), 0);
}

#[test]
fn the_samples_work_under_a_modest_limit() {
    let all = testdata().display().to_string();
    for args in [
        vec![all.as_str(), "--stats"],
        vec![all.as_str(), "--stats", "--tail", "10"],
        vec![all.as_str(), "--group-by", "target", "--agg", "count,p99:qty"],
        vec![all.as_str(), "--format", "csv"],
    ] {
        let mut args = args.clone();
        args.extend(["--memory-limit", "64MiB"]);
        let out = view(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stdout.is_empty());
    }
    let source = ttlog_cli::EngineSource::new().memory_limit(64 << 20);
    let files: Vec<_> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    for r in source.add_inputs(&files, &ttlog_tui::Progress::new()) {
        r.unwrap();
    }
}

#[test]
fn limits_are_sizes_or_percentages() {
    for good in ["1000000", "512MB", "2GiB", "70%"] {
        let out = view(&[&td("normal.bin"), "--stats", "--memory-limit", good]);
        assert!(out.status.success(), "{good}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = view(&[&td("normal.bin"), "--stats", "--memory-limit", "lots"]);
    let err = stderr_of(&out, 2);
    assert!(err.contains("invalid value 'lots' for '--memory-limit <SIZE>'"), "{err}");
    assert!(err.contains("expected a size such as 512MB, 2GiB or 70%"), "{err}");
}

#[test]
fn group_bys_and_sql_tables_that_grow_past_the_limit_stop_in_one_line() {
    // 1,000,000 events with a distinct `n` each, one after the other in time:
    // streamed, they hold a chunk or two; grouped by `n`, or as the table
    // `--sql` queries, they hold every row.
    let dir = tempfile::tempdir().unwrap();
    let bytes = crate::ticks_snapshot(1_000_000);
    let file = write(dir.path(), "distinct.bin", &bytes);
    // A key per event: a million groups are more than 8 MiB.
    let out = view(&[&file, "--group-by", "n", "--limit", "3", "--memory-limit", "8MiB"]);
    let err = stderr_of(&out, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("ttlog-view: error: {file}: grouping needs more than ")), "{err}");
    assert!(err.trim_end().ends_with("more than the memory limit of 8.0 MiB"), "{err}");
    // A group-by of few groups answers.
    let out = view(&[&file, "--group-by", "target", "--memory-limit", "8MiB"]);
    stderr_of(&out, 0);
    // Quantiles keep the values: a million of them are more than 1 MiB.
    let out = view(&[&file, "--group-by", "target", "--agg", "p99:n", "--memory-limit", "1MiB"]);
    let err = stderr_of(&out, 2);
    assert!(err.contains("with the values their quantiles need"), "{err}");
    // --sql: the table of the query's columns is held whole (its scan
    // holds about 2 MiB of decoded chunks per core at once; the table
    // takes about 37 MiB).
    let sql = "SELECT count(*), max(timestamp_ns), max(field_n), max(message), max(file), sum(line), \
               max(thread), max(target), max(service), max(hostname), max(timestamp), max(level) FROM events";
    let out = view(&[&file, "--sql", sql, "--memory-limit", "24MiB"]);
    let err = stderr_of(&out, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ttlog-view: error: --sql: the events table of the query's columns ("), "{err}");
    assert!(err.trim_end().ends_with("more than the memory limit of 24.0 MiB"), "{err}");
    let out = view(&[&file, "--sql", sql, "--format", "csv", "--memory-limit", "256MiB"]);
    stderr_of(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().starts_with("1000000,"));
}
