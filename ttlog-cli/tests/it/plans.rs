//! `--explain`: how a question is answered (chunks skipped, answered from
//! their statistics, decoded, and which columns), checked against what the
//! files hold.

use crate::{decode, td, view_ok};

/// The `executed` part of `--explain`.
fn executed(out: &str) -> &str {
    &out[out.find("\nexecuted\n").expect("an executed part")..]
}

/// The number right after `label` in the `executed` part.
fn after(out: &str, label: &str) -> u64 {
    let part = executed(out);
    let at = part.find(label).unwrap_or_else(|| panic!("no '{label}' in {out}")) + label.len();
    part[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// The number right before `label` in the `executed` part.
fn before(out: &str, label: &str) -> u64 {
    let part = executed(out);
    let at = part.find(label).unwrap_or_else(|| panic!("no '{label}' in {out}"));
    let digits: String = part[..at].chars().rev().take_while(char::is_ascii_digit).collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

#[test]
fn explain_skips_chunks_outside_a_time_range() {
    let f = td("chunked.bin");
    let ev = decode(&f);
    // chunked.bin: 10 chunks of 100 events; from the 501st event on.
    let since = chrono::DateTime::from_timestamp_nanos(ev[500].event.timestamp_ns)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    assert!(ev[499].event.timestamp_ns < ev[500].event.timestamp_ns);
    let out = view_ok(&[&f, "--stats", "--since", &since, "--explain"], 0);
    assert!(out.starts_with("plan\n"), "{out}");
    assert!(out.contains(&format!("  time       {since} .. …")), "{out}");
    assert_eq!(after(&out, "time "), 5, "{out}");
    assert_eq!(before(&out, " answered from statistics"), 5, "the other 5: {out}");
    assert_eq!(before(&out, " decoded,"), 0, "{out}");
    // The answer agrees.
    let stats: serde_json::Value =
        serde_json::from_str(&view_ok(&[&f, "--stats", "--since", &since, "--format", "json"], 0)).unwrap();
    assert_eq!(stats["events"], 500);
}

#[test]
fn explain_decodes_only_what_a_question_needs() {
    let (p1, p2) = (td("periodic-1.bin"), td("periodic-2-panic.bin"));
    // Counts by target: the newest file from its statistics; the older one
    // decoded for its call sites, threads and sequence numbers only, to keep
    // the events the newer one lacks.
    // (The newest file, of format 1.1, has the panic in its header only: its
    // event is one more chunk, held decoded, whose statistics are its own.)
    let out = view_ok(&[&p1, &p2, "--group-by", "target", "--explain"], 0);
    assert_eq!(before(&out, " answered from statistics"), 2, "{out}");
    assert_eq!(before(&out, " decoded,"), 1, "{out}");
    assert!(out.contains("columns decoded: call site, thread, sequence\n"), "{out}");
    assert!(out.contains("sequence: 1; fields: 0;"), "{out}");
    let rows = view_ok(&[&p1, &p2, "--group-by", "target", "--format", "json"], 0);
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    assert_eq!(rows[0]["count"], 1001, "every event the process logged, once: {rows}");
    // A field filter decodes that field of the call sites that have it,
    // and evaluates the filter on it; call sites without it are skipped.
    let f = td("normal.bin");
    let out = view_ok(&[&f, "--stats", "--filter", "qty>1000", "--explain"], 0);
    assert!(out.contains("columns decoded: call site, time, thread, field qty\n"), "{out}");
    assert!(out.contains("filter on field values: 1"), "{out}");
    assert_eq!(before(&out, " decoded, 9 matched"), 43, "{out}");
    assert!(out.contains(", 9 matched"), "{out}");
    // A filter on call-site properties alone is counted from statistics.
    let out = view_ok(&[&f, "--group-by", "level", "--filter", "level>=warn", "--explain"], 0);
    assert_eq!(before(&out, " answered from statistics"), 1, "{out}");
    assert!(out.contains(", 2 matched"), "{out}");
}

#[test]
fn hundreds_of_files_open_a_few_at_a_time() {
    // 300 copies of one file, read under a limit of 24 open files: each file
    // is opened, its header read and closed; chunks are read one at a time.
    let tmp = tempfile::tempdir().unwrap();
    let src = td("periodic-2-panic.bin");
    for i in 0..300 {
        std::fs::copy(&src, tmp.path().join(format!("copy-{i:03}.bin"))).unwrap();
    }
    let dir = tmp.path().display().to_string();
    for args in [vec!["--stats", "--format", "json"], vec!["--format", "ndjson"], vec!["--group-by", "target"]] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 24 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_ttlog-view"))
            .arg(&dir)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        if args[0] == "--stats" {
            let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            // 659 events and the panic's (in the header of this 1.1 file).
            assert_eq!(s["events"], 660, "each event once");
            assert_eq!(s["duplicates_skipped"], 660 * 299);
        } else if args[1] == "ndjson" {
            assert_eq!(stdout.lines().count(), 660);
        }
    }
}
