//! `--sql`: polars SQL over the table `events`, each event once, in every
//! output format.

use crate::{decode, td, view, view_ok};
use serde_json::Value as J;

#[test]
fn counts_by_target_equal_the_reference_decode() {
    let f = td("normal.bin");
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for e in decode(&f) {
        *want.entry(e.event.target.to_string()).or_default() += 1;
    }
    let csv = view_ok(&[&f, "--sql", "SELECT target, count(*) AS n FROM events GROUP BY target", "--format", "csv"], 0);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("target,n"));
    let got: std::collections::BTreeMap<String, u64> = lines
        .map(|l| {
            let (t, n) = l.split_once(',').unwrap();
            (t.to_owned(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn overlapping_snapshots_count_each_event_once() {
    let (a, b) = (td("periodic-1.bin"), td("periodic-2-panic.bin"));
    let stats: J = serde_json::from_str(&view_ok(&[&a, &b, "--stats", "--format", "json"], 0)).unwrap();
    let json = view_ok(
        &[&a, &b, "--sql", "SELECT count(*) AS n, count(DISTINCT timestamp_ns) AS t FROM events", "--format", "json"],
        0,
    );
    let rows: J = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(rows[0]["n"], stats["events"]);
    let raw =
        view_ok(&[&a, &b, "--keep-duplicates", "--sql", "SELECT count(*) AS n FROM events", "--format", "ndjson"], 0);
    let raw: J = serde_json::from_str(raw.trim()).unwrap();
    assert!(
        raw["n"].as_u64().unwrap() > stats["events"].as_u64().unwrap(),
        "the copies are there with --keep-duplicates"
    );
}

#[test]
fn filters_and_time_columns_apply() {
    let f = td("normal.bin");
    let errors = decode(&f).iter().filter(|e| e.event.level.as_str() == "ERROR").count();
    let n =
        view_ok(&[&f, "--filter", "level=ERROR", "--sql", "SELECT count(*) AS n FROM events", "--format", "csv"], 0);
    assert_eq!(n, format!("n\n{errors}\n"));
    // The first event: its time in both columns, the µs one as RFC 3339.
    let first = decode(&f).into_iter().min_by_key(|e| e.event.timestamp_ns).unwrap();
    let row = view_ok(
        &[
            &f,
            "--sql",
            "SELECT timestamp, timestamp_ns, pid, line FROM events ORDER BY timestamp_ns LIMIT 1",
            "--format",
            "ndjson",
        ],
        0,
    );
    let row: J = serde_json::from_str(row.trim()).unwrap();
    assert_eq!(row["timestamp_ns"], first.event.timestamp_ns);
    let us = first.event.timestamp_ns.div_euclid(1000) * 1000;
    let want = chrono::DateTime::from_timestamp_nanos(us).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(row["timestamp"], J::from(want));
    assert_eq!(row["pid"], first.pid);
    assert_eq!(row["line"], first.event.line);
}

#[test]
fn text_is_aligned_and_parquet_reads_back() {
    let f = td("normal.bin");
    let text = view_ok(
        &[
            &f,
            "--sql",
            "SELECT level, count(*) AS n FROM events GROUP BY level ORDER BY n DESC, level",
            "--color",
            "never",
        ],
        0,
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "level   n");
    assert!(lines[1..].iter().all(|l| l.len() == lines[0].len()), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("answer.parquet");
    view_ok(
        &[
            &f,
            "--sql",
            "SELECT target, max(field_qty) AS top FROM events GROUP BY target",
            "--format",
            "parquet",
            "-o",
            out.to_str().unwrap(),
        ],
        0,
    );
    use polars::prelude::SerReader as _;
    let df = polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    assert_eq!(df.get_column_names(), ["target", "top"]);
}

#[test]
fn an_sql_error_is_one_line_and_exit_2() {
    let f = td("normal.bin");
    for (query, says) in [("SELEC 1", "SELEC"), ("SELECT nope FROM events", "nope")] {
        let out = view(&[&f, "--sql", query]);
        assert_eq!(out.status.code(), Some(2), "{query}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("ttlog-view: error: --sql: ") && err.contains(says), "{err}");
    }
    // An empty answer exits 1, as a filter that matches nothing.
    let out = view(&[&f, "--sql", "SELECT * FROM events WHERE level = 'NOPE'", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1));
}
