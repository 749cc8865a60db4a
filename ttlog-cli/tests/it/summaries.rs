//! `--stats` and `--group-by`/`--agg`, counted by hand from the reference
//! reader.

use crate::{Expected, decode, decode_merged, num, td, testdata, testdata_files, view_ok};
use serde_json::Value as J;
use std::collections::BTreeMap;
use ttlog_core::snapshot::Snapshot;

fn rfc(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn counts_by<K: Ord>(ev: &[Expected], key: impl Fn(&Expected) -> K) -> BTreeMap<K, u64> {
    let mut m = BTreeMap::new();
    for e in ev {
        *m.entry(key(e)).or_default() += 1;
    }
    m
}

#[test]
fn stats_json_counts_everything() {
    // The clean samples and the damaged ones, as two directories.
    let mut files = testdata_files();
    files.extend(crate::damaged_files());
    let ev = decode_merged(&files);
    let damaged = testdata().join("damaged").display().to_string();
    let out = view_ok(&[&testdata().display().to_string(), &damaged, "--stats", "--format", "json"], 0);
    let s: J = serde_json::from_str(&out).unwrap();
    assert_eq!(s["events"], ev.len() as u64);
    let first = ev.iter().map(|e| e.event.timestamp_ns).min().unwrap();
    let last = ev.iter().map(|e| e.event.timestamp_ns).max().unwrap();
    assert_eq!(s["first"], rfc(first));
    assert_eq!(s["last"], rfc(last));
    let rate = s["events_per_second"].as_f64().unwrap();
    let want = ev.len() as f64 / ((last - first) as f64 / 1e9);
    assert!((rate - want).abs() / want < 1e-9);
    for (l, n) in counts_by(&ev, |e| e.event.level.as_str()) {
        assert_eq!(s["levels"][l], n, "{l}");
    }
    let targets = counts_by(&ev, |e| e.event.target.to_string());
    let got: BTreeMap<String, u64> = s["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap().to_owned(), t["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, targets);
    let counts: Vec<u64> = s["targets"].as_array().unwrap().iter().map(|t| t["count"].as_u64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most first");
    let messages =
        counts_by(&ev, |e| (e.event.level.as_str(), e.event.target.to_string(), e.event.message.to_string()));
    assert_eq!(s["messages"].as_array().unwrap().len(), messages.len());
    for m in s["messages"].as_array().unwrap() {
        let k = (
            m["level"].as_str().unwrap(),
            m["target"].as_str().unwrap().to_owned(),
            m["message"].as_str().unwrap().to_owned(),
        );
        assert_eq!(m["count"].as_u64(), messages.get(&k).copied(), "{m}");
    }
    // Threads: per file and thread id.
    let threads = counts_by(&ev, |e| (e.service.clone(), e.pid, e.event.thread_id));
    let total: u64 = s["threads"].as_array().unwrap().iter().map(|t| t["count"].as_u64().unwrap()).sum();
    assert_eq!(total, ev.len() as u64);
    assert!(s["threads"].as_array().unwrap().len() >= threads.len());
    // Per file: header facts, counters, what was decoded, damage.
    let fs = s["files"].as_array().unwrap();
    assert_eq!(fs.len(), files.len());
    for (f, path) in fs.iter().zip(&files) {
        let snap = Snapshot::open(path).unwrap();
        let h = snap.header();
        assert_eq!(f["path"], path.as_str());
        assert_eq!(f["service"], h.service.as_str());
        assert_eq!(f["pid"], h.pid);
        assert_eq!(f["reason"], h.reason.as_str());
        assert_eq!(f["counters"]["overwritten"], h.counters.overwritten);
        assert_eq!(f["counters"]["logged"], h.counters.logged);
        assert_eq!(f["counters"]["dropped_too_large"], h.counters.dropped_too_large);
        // Each event once: the copies that newer snapshots of the process
        // hold are skipped.
        let kept = ev.iter().filter(|e| &e.file == path).count() as u64;
        assert_eq!(f["events"], kept);
        // Most chunks are counted from their statistics, not decoded.
        assert!(f["events_decoded"].as_u64().unwrap() <= snap.event_count(), "{f}");
        assert_eq!(f["duplicates_skipped"], decode(path).len() as u64 - kept);
        assert_eq!(f["problems"].as_array().unwrap().len(), snap.problems().len());
    }
    // Copies: the overlapping snapshots of one process count once, their
    // counters are the newest snapshot's, not a sum.
    let in_files: u64 = files.iter().map(|p| decode(p).len() as u64).sum();
    assert_eq!(s["duplicates_skipped"], in_files - ev.len() as u64);
    assert!(in_files > ev.len() as u64, "testdata holds copies");
    let processes = s["processes"].as_array().unwrap();
    let (p1, p2) = (td("periodic-1.bin"), td("periodic-2-panic.bin"));
    let periodic = processes.iter().find(|p| p["files"][0] == p2.as_str()).expect("the periodic process");
    assert_eq!(periodic["files"], serde_json::json!([p2, p1]), "newest first");
    let newest = Snapshot::open(&p2).unwrap();
    assert_eq!(periodic["logged"], newest.header().counters.logged);
    assert_eq!(periodic["overwritten"], newest.header().counters.overwritten);
    assert_eq!(periodic["instance"], newest.header().instance.as_deref().unwrap());
    let kept = ev.iter().filter(|e| e.file == p1 || e.file == p2).count() as u64;
    assert_eq!(periodic["events"], kept);
    // Every event the process logged, once, and its panic: the 1.1 writer
    // kept the panic in the header only, the reader makes it an event.
    assert_eq!(kept, newest.header().counters.logged + 1, "every event the process logged, once");
    assert_eq!(ev.iter().filter(|e| e.file == p2 && &*e.event.target == "panic").count(), 1);
    assert_eq!(processes.iter().map(|p| p["events"].as_u64().unwrap()).sum::<u64>(), ev.len() as u64);
    assert_eq!(s["differing_copies"], serde_json::json!([]));
    // The damaged chunk's events are counted as such (its frame says 100).
    let corrupt = fs.iter().find(|f| f["path"].as_str().unwrap().ends_with("corrupt-chunk.bin")).unwrap();
    assert_eq!(corrupt["events_damaged"], 100);
    let problems: Vec<&str> = s["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(problems.iter().any(|p| p.contains("corrupt-chunk.bin") && p.contains("CRC mismatch")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("truncated.bin") && p.contains("cut short")), "{problems:?}");
}

#[test]
fn stats_text() {
    let f = td("normal.bin");
    let ev = decode(&f);
    let out = view_ok(&[&f, "--stats"], 0);
    assert!(out.starts_with(&format!("events     {}\n", ev.len())), "{out}");
    assert!(out.contains("levels     TRACE 1 DEBUG 20 INFO 20 WARN 1 ERROR 1"), "{out}");
    assert!(out.contains("top targets (3 in all)\n          22  gen_testdata\n          20  orders\n"), "{out}");
    assert!(out.contains("overwritten 0, dropped 0"), "{out}");
    // --stats on a filter that matches nothing: exit 1.
    view_ok(&[&f, "--stats", "--filter", "level>error"], 1);
}

/// The linear-interpolation quantile, by hand.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[test]
fn group_by_target_with_aggregates() {
    let f = td("normal.bin");
    let ev = decode(&f);
    let out = view_ok(
        &[
            &f,
            "--group-by",
            "target",
            "--agg",
            "count,p50:qty,p99:qty,min:price,max:price,mean:qty,sum:qty",
            "--format",
            "json",
        ],
        0,
    );
    let rows: J = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    let by_target = counts_by(&ev, |e| e.event.target.to_string());
    assert_eq!(rows.len(), by_target.len());
    for r in rows {
        let t = r["key"].as_str().unwrap();
        assert_eq!(r["count"], by_target[t], "{t}");
        let qty: Vec<f64> =
            ev.iter().filter(|e| &*e.event.target == t).filter_map(|e| e.event.field("qty").and_then(num)).collect();
        let price: Vec<f64> =
            ev.iter().filter(|e| &*e.event.target == t).filter_map(|e| e.event.field("price").and_then(num)).collect();
        if qty.is_empty() {
            assert!(r["p99_qty"].is_null() && r["sum_qty"].as_f64().is_none_or(|s| s == 0.0), "{r}");
            continue;
        }
        let close = |a: &J, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-9 * b.abs().max(1.0);
        assert!(close(&r["p50_qty"], quantile(qty.clone(), 0.5)), "{r}");
        assert!(close(&r["p99_qty"], quantile(qty.clone(), 0.99)), "{r}");
        assert!(close(&r["mean_qty"], qty.iter().sum::<f64>() / qty.len() as f64), "{r}");
        assert!(close(&r["sum_qty"], qty.iter().sum::<f64>()), "{r}");
        assert!(close(&r["min_price"], price.iter().copied().fold(f64::INFINITY, f64::min)), "{r}");
        assert!(close(&r["max_price"], price.iter().copied().fold(f64::NEG_INFINITY, f64::max)), "{r}");
    }
    let counts: Vec<u64> = rows.iter().map(|r| r["count"].as_u64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn group_by_composite_keys_threads_fields_and_time() {
    let files = testdata_files();
    let ev = decode_merged(&files);
    let dir = testdata().display().to_string();
    // Composite key: an object.
    let out = view_ok(&[&dir, "--group-by", "service,level", "--format", "json"], 0);
    let rows: J = serde_json::from_str(&out).unwrap();
    let want = counts_by(&ev, |e| (e.service.clone(), e.event.level.as_str().to_owned()));
    let got: BTreeMap<(String, String), u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r["key"]["service"].as_str().unwrap().to_owned(), r["key"]["level"].as_str().unwrap().to_owned()),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Threads of one file, by name.
    let f = td("many-threads.bin");
    let mt = decode(&f);
    let out = view_ok(&[&f, "--group-by", "thread", "--format", "json"], 0);
    let rows: J = serde_json::from_str(&out).unwrap();
    let want = counts_by(&mt, |e| e.event.thread_name.as_deref().unwrap().to_owned());
    let got: BTreeMap<String, u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
    // A field as key; events without it form the null group.
    let n = td("normal.bin");
    let ne = decode(&n);
    let out = view_ok(&[&n, "--group-by", "ok", "--format", "json"], 0);
    let rows: J = serde_json::from_str(&out).unwrap();
    let want = counts_by(&ne, |e| e.event.field("ok").map(|v| v.to_string()));
    let got: BTreeMap<Option<String>, u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_bool().map(|b| b.to_string()), r["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
    // Time buckets of 1 ms, by bucket start.
    let c = td("chunked.bin");
    let ce = decode(&c);
    let out = view_ok(&[&c, "--group-by", "time:1ms", "--format", "json"], 0);
    let rows: J = serde_json::from_str(&out).unwrap();
    let want = counts_by(&ce, |e| rfc(e.event.timestamp_ns.div_euclid(1_000_000) * 1_000_000));
    let got: BTreeMap<String, u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
    // Text and CSV tables.
    let text = view_ok(&[&n, "--group-by", "level"], 0);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["level", "count"]);
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["DEBUG", "20"]);
    let csv = view_ok(&[&n, "--group-by", "level", "--agg", "max:qty", "--format", "csv"], 0);
    assert!(csv.starts_with("level,count,max_qty\nDEBUG,20,\nINFO,20,1900\n"), "{csv}");
    // Stats and group-by together: one JSON document, {"stats": …, "groups": […]}.
    let both = view_ok(&[&n, "--stats", "--group-by", "level", "--format", "json"], 0);
    let doc: J = serde_json::from_str(&both).expect("one JSON document");
    assert_eq!(doc["stats"]["events"], 43);
    let groups = doc["groups"].as_array().unwrap();
    let alone: J = serde_json::from_str(&view_ok(&[&n, "--group-by", "level", "--format", "json"], 0)).unwrap();
    assert_eq!(&doc["groups"], &alone, "the same groups as --group-by alone");
    assert_eq!(groups.iter().map(|g| g["count"].as_u64().unwrap()).sum::<u64>(), 43);
    // NDJSON: the stats object on the first line, then one object per group.
    let nd = view_ok(&[&n, "--stats", "--group-by", "level", "--format", "ndjson"], 0);
    let lines: Vec<J> = nd.lines().map(|l| serde_json::from_str(l).expect("one object per line")).collect();
    assert_eq!(lines.len(), 1 + groups.len(), "{nd}");
    assert_eq!(lines[0]["events"], 43);
    assert_eq!(&lines[1..], groups.as_slice());
    let nd = view_ok(&[&n, "--group-by", "level", "--format", "ndjson"], 0);
    assert_eq!(nd.lines().count(), groups.len(), "{nd}");
    // Errors: unknown field, non-numeric aggregate.
    for args in [["--group-by", "nope"], ["--group-by", "target"]] {
        let mut a = vec![n.as_str()];
        a.extend(args);
        if args[1] == "target" {
            a.extend(["--agg", "p99:symbol"]);
        }
        let out = crate::view(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
    }
}

#[test]
fn time_buckets_come_in_time_order_and_limit_counts_groups() {
    let f = td("many-threads.bin");
    let ev = decode(&f);
    let by_ms = counts_by(&ev, |e| e.event.timestamp_ns.div_euclid(1_000_000));
    let json = |args: &[&str]| -> Vec<J> {
        let mut all = vec![f.as_str(), "--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str::<J>(&view_ok(&all, 0)).unwrap().as_array().unwrap().clone()
    };
    // One key: each group is {"key": …, "count": …}.
    let bucket = |g: &J| g["key"].as_str().unwrap().to_owned();
    // Time buckets: every bucket, in time order (not by count).
    let groups = json(&["--group-by", "time:1ms"]);
    let want: Vec<(String, u64)> = by_ms.iter().map(|(ms, n)| (rfc(ms * 1_000_000), *n)).collect();
    let got: Vec<(String, u64)> = groups.iter().map(|g| (bucket(g), g["count"].as_u64().unwrap())).collect();
    assert_eq!(got, want);
    assert!(by_ms.len() > 3, "the sample spans several buckets");
    // --limit and --tail count groups, after grouping (like SQL's LIMIT).
    let first3 = json(&["--group-by", "time:1ms", "--limit", "3"]);
    assert_eq!(
        first3.iter().map(bucket).collect::<Vec<_>>(),
        want[..3].iter().map(|w| w.0.clone()).collect::<Vec<_>>()
    );
    let last2 = json(&["--group-by", "time:1ms", "--tail", "2"]);
    assert_eq!(
        last2.iter().map(bucket).collect::<Vec<_>>(),
        want[want.len() - 2..].iter().map(|w| w.0.clone()).collect::<Vec<_>>()
    );
    // --sort count: most events first, ties in time order; --reverse turns it around.
    let mut by_count = want.clone();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top = json(&["--group-by", "time:1ms", "--sort", "count", "--limit", "2"]);
    assert_eq!(
        top.iter().map(bucket).collect::<Vec<_>>(),
        by_count[..2].iter().map(|w| w.0.clone()).collect::<Vec<_>>()
    );
    let newest = json(&["--group-by", "time:1ms", "--reverse", "--limit", "1"]);
    assert_eq!(bucket(&newest[0]), want.last().unwrap().0);
    // Other keys: most events first, and --limit 3 gives three whole groups
    // (it cut the events before grouping: groups of 2 and 1 events).
    let by_thread = counts_by(&ev, |e| e.event.thread_name.clone().unwrap_or_default());
    let threads = json(&["--group-by", "thread", "--limit", "3"]);
    assert_eq!(threads.len(), 3);
    for g in &threads {
        assert_eq!(g["count"].as_u64(), Some(by_thread[g["key"].as_str().unwrap()]), "{g}");
    }
}

#[test]
fn sort_by_an_aggregate() {
    let f = td("normal.bin");
    let out =
        view_ok(&[&f, "--group-by", "target", "--agg", "count,max:qty", "--sort", "max:qty", "--format", "csv"], 0);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    // orders has qty, the other targets none: they come last, by key.
    assert!(rows[0].starts_with("orders,"), "{out}");
    assert!(rows[1..].windows(2).all(|w| w[0] < w[1]), "{out}");
    let out = crate::view(&[&f, "--group-by", "target", "--sort", "p99:latency_us"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sort p99_latency_us: not an aggregate of --agg"), "{err}");
    let out = crate::view(&[&f, "--sort", "count"]);
    assert_eq!(out.status.code(), Some(2), "--sort needs --group-by");
}

#[test]
fn one_thread_label_everywhere() {
    // The original ttlog's threads have no names: `#id` in every output.
    let f = td("legacy-0.1.21.bin");
    let ev = decode(&f);
    let id = ev[0].event.thread_id;
    assert!(ev.iter().all(|e| e.event.thread_name.is_none() && e.event.thread_id == id));
    let label = format!("#{id}");
    let text = view_ok(&[&f, "--color", "never"], 0);
    assert!(text.lines().all(|l| l.ends_with(&format!("thread={label}"))), "{text}");
    let line = view_ok(&[&f, "--format", "ndjson", "--limit", "1"], 0);
    assert_eq!(serde_json::from_str::<J>(&line).unwrap()["thread"], label.as_str());
    let csv = view_ok(&[&f, "--format", "csv", "--limit", "1"], 0);
    assert!(csv.lines().nth(1).unwrap().contains(&format!(",{label},")), "{csv}");
    let groups = view_ok(&[&f, "--group-by", "thread", "--format", "json"], 0);
    assert_eq!(serde_json::from_str::<J>(&groups).unwrap()[0]["key"], label.as_str());
    let stats = view_ok(&[&f, "--stats", "--format", "json"], 0);
    assert_eq!(serde_json::from_str::<J>(&stats).unwrap()["threads"][0]["thread"], label.as_str());
    let stats = view_ok(&[&f, "--stats"], 0);
    assert!(stats.contains(&format!("{label} (id {id},")), "{stats}");
    // A filter names it either way.
    for v in [label.clone(), id.to_string()] {
        let n = view_ok(&[&f, "--filter", &format!("thread={v}"), "--format", "ndjson"], 0).lines().count();
        assert_eq!(n, ev.len(), "thread={v}");
    }
}

#[test]
fn stats_open_with_the_cause() {
    // A panic: message, location and thread, from the snapshot's header.
    let f = td("panic.bin");
    let snap = Snapshot::open(&f).unwrap();
    let p = snap.header().panic.clone().expect("panic.bin holds its panic");
    let text = view_ok(&[&f, "--stats"], 0);
    let first = text.lines().next().unwrap();
    let want = format!(
        "cause      panic in thread {} at {}: {}  ({f})",
        p.thread.as_deref().unwrap(),
        p.location.as_deref().unwrap(),
        p.message
    );
    assert_eq!(first, want);
    let json: J = serde_json::from_str(&view_ok(&[&f, "--stats", "--format", "json"], 0)).unwrap();
    assert_eq!(json["causes"][0]["reason"], "panic");
    assert_eq!(json["causes"][0]["message"], p.message.as_str());
    assert_eq!(json["causes"][0]["location"], p.location.as_deref().unwrap());
    assert_eq!(json["causes"][0]["thread"], p.thread.as_deref().unwrap());
    // A signal and a recovery: snapshots with those reasons.
    let dir = tempfile::tempdir().unwrap();
    let event = ttlog_core::Event {
        timestamp_ns: 1_795_307_845_000_000_000,
        level: ttlog_core::Level::Info,
        target: "svc".into(),
        message: "working".into(),
        file: "src/main.rs".into(),
        line: 1,
        module_path: "svc".into(),
        thread_id: 1,
        thread_name: Some("main".into()),
        seq: 0,
        callsite: 1,
        fields: Vec::new(),
    };
    let capture = ttlog_core::Capture::from_events(&[event]);
    for (reason, text_want, json_want) in [
        ("sigterm", "cause      signal SIGTERM", serde_json::json!({"reason": "sigterm", "signal": "SIGTERM"})),
        (
            "recovered",
            "cause      the process died without a snapshot: recovered from its persistent rings; its last event at 2026-11-22T00:37:25.000000000Z",
            serde_json::json!({"reason": "recovered", "last_event": "2026-11-22T00:37:25.000000000Z"}),
        ),
    ] {
        let path = dir.path().join(format!("{reason}.bin"));
        let meta = ttlog_core::snapshot::SnapshotMeta::new("svc", reason);
        std::fs::write(&path, ttlog_core::snapshot::encode(&capture, &meta)).unwrap();
        let p = path.display().to_string();
        let text = view_ok(&[&p, "--stats"], 0);
        assert!(text.starts_with(&format!("{text_want}  ({p})\n")), "{text}");
        let json: J = serde_json::from_str(&view_ok(&[&p, "--stats", "--format", "json"], 0)).unwrap();
        for (k, v) in json_want.as_object().unwrap() {
            assert_eq!(&json["causes"][0][k], v, "{reason}: {json}");
        }
    }
    // Periodic and manual snapshots have no cause line.
    let text = view_ok(&[&td("normal.bin"), "--stats"], 0);
    assert!(text.starts_with("events "), "{text}");
    let json: J = serde_json::from_str(&view_ok(&[&td("normal.bin"), "--stats", "--format", "json"], 0)).unwrap();
    assert_eq!(json["causes"], serde_json::json!([]));
}

#[test]
fn last_moments_of_every_thread() {
    let f = td("many-threads.bin");
    let ev = decode(&f);
    let json: J = serde_json::from_str(&view_ok(&[&f, "--last", "3", "--format", "json"], 0)).unwrap();
    let threads = json.as_array().unwrap();
    let by_thread = counts_by(&ev, |e| e.event.thread_name.clone().unwrap());
    assert_eq!(threads.len(), by_thread.len());
    let snap = Snapshot::open(&f).unwrap();
    let mut last_seen = String::new();
    for t in threads {
        let name = t["thread"].as_str().unwrap();
        // Its last three events, in time order, as the reference reader has them.
        let mut mine: Vec<&Expected> = ev.iter().filter(|e| e.event.thread_name.as_deref() == Some(name)).collect();
        mine.sort_by_key(|e| e.event.timestamp_ns);
        let want: Vec<String> = mine[mine.len() - 3..].iter().map(|e| rfc(e.event.timestamp_ns)).collect();
        let got: Vec<String> =
            t["events"].as_array().unwrap().iter().map(|e| e["timestamp"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, want, "{name}");
        // Threads in the order of their last event.
        assert!(got[2] >= last_seen, "{name}");
        last_seen = got[2].clone();
        let h = snap.header().threads.iter().find(|h| h.name.as_deref() == Some(name)).unwrap();
        assert_eq!(t["overwritten"], h.overwritten);
        assert_eq!(t["kept"], h.written - h.overwritten);
        assert_eq!(t["last"], got[2].as_str());
    }
    // Text: a heading per thread, then its events.
    let text = view_ok(&[&f, "--last", "2", "--color", "never"], 0);
    assert_eq!(text.matches("\n== thread ").count() + usize::from(text.starts_with("== thread ")), by_thread.len());
    assert!(text.contains("its last 2 events; its ring kept 50, overwrote 0"), "{text}");
    // One thread of a process across its overlapping snapshots is one thread.
    let periodic = [td("periodic-1.bin"), td("periodic-2-panic.bin")];
    let out = view_ok(&[&periodic[0], &periodic[1], "--last", "1", "--format", "ndjson"], 0);
    let names: Vec<String> =
        out.lines().map(|l| serde_json::from_str::<J>(l).unwrap()["thread"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names.iter().filter(|n| *n == "main").count(), 1, "{names:?}");
    // What --last does not do.
    for args in [&["--last", "2", "--format", "csv"][..], &["--last", "2", "--limit", "3"], &["--last", "2", "--stats"]]
    {
        let mut all = vec![f.as_str()];
        all.extend_from_slice(args);
        assert_eq!(crate::view(&all).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn diff_per_call_site_with_a_known_change_of_rates() {
    use ttlog_core::{Capture, Event, Level};
    // One process before and after: `request` triples its rate, `cache`
    // stops, an error appears. Both sides span 10 s.
    let ev = |ts: i64, seq: u64, callsite: u32, level: Level, target: &str, message: &str| Event {
        timestamp_ns: 1_795_307_845_000_000_000 + ts,
        level,
        target: target.into(),
        message: message.into(),
        file: "src/main.rs".into(),
        line: 10 + callsite,
        module_path: "svc".into(),
        thread_id: 1,
        thread_name: Some("main".into()),
        seq,
        callsite,
        fields: Vec::new(),
    };
    let side = |requests: u64, caches: u64, errors: u64| -> Vec<Event> {
        let mut out = Vec::new();
        let mut seq = 0;
        for (callsite, n, level, target, message) in [
            (1, requests, Level::Info, "http", "request"),
            (2, caches, Level::Debug, "cache", "miss"),
            (3, errors, Level::Error, "db", "connection lost"),
        ] {
            for i in 0..n {
                // Spread over the 10 s; the first and last events bound the span.
                out.push(ev((i as i64) * 10_000_000_000 / n.max(2) as i64, seq, callsite, level, target, message));
                seq += 1;
            }
        }
        out.push(ev(0, seq, 4, Level::Info, "svc", "start"));
        out.push(ev(10_000_000_000, seq + 1, 5, Level::Info, "svc", "tick"));
        out.sort_by_key(|e| e.timestamp_ns);
        out
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, events: Vec<Event>| {
        let path = dir.path().join(name);
        let meta = ttlog_core::snapshot::SnapshotMeta::new("svc", "periodic");
        std::fs::write(&path, ttlog_core::snapshot::encode(&Capture::from_events(&events), &meta)).unwrap();
        path.display().to_string()
    };
    let a = write("a.bin", side(100, 50, 0));
    let b = write("b.bin", side(300, 0, 5));
    let json: J = serde_json::from_str(&view_ok(&["diff", &a, &b, "--format", "json"], 0)).unwrap();
    assert_eq!(json["a"]["events"], 152);
    assert_eq!(json["b"]["events"], 307);
    assert_eq!(json["a"]["span_seconds"], 10.0);
    let changes = json["changes"].as_array().unwrap();
    let find = |message: &str| changes.iter().find(|c| c["message"] == message).unwrap_or_else(|| panic!("{message}"));
    let request = find("request");
    assert_eq!(request["status"], "changed");
    assert_eq!((request["a_events"].as_u64(), request["b_events"].as_u64()), (Some(100), Some(300)));
    assert!((request["a_per_second"].as_f64().unwrap() - 10.0).abs() < 1e-9, "{request}");
    assert!((request["ratio"].as_f64().unwrap() - 3.0).abs() < 1e-9, "{request}");
    assert_eq!(find("miss")["status"], "gone");
    assert_eq!(find("connection lost")["status"], "new");
    assert_eq!(json["new_errors"].as_array().unwrap().len(), 1);
    assert_eq!(json["new_errors"][0]["message"], "connection lost");
    // Most changed first: new and gone, then x3, then the unchanged.
    let order: Vec<&str> = changes.iter().map(|c| c["message"].as_str().unwrap()).collect();
    assert_eq!(&order[2..], &["request", "start", "tick"][..], "{order:?}");
    // Text and csv say the same; exit 0 whatever the difference.
    let text = view_ok(&["diff", &a, &b], 0);
    assert!(text.contains("error messages new in B\n           5  db: connection lost"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("changed") && l.contains("3.000x") && l.contains("http: request")),
        "{text}"
    );
    let csv = view_ok(&["diff", &a, &b, "--format", "csv"], 0);
    assert!(csv.lines().any(|l| l.starts_with("changed,INFO,http,request,src/main.rs,11,100,300,10,30,3")), "{csv}");
    // Parquet: the CSV's columns, typed.
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("diff.parquet");
    view_ok(&["diff", &a, &b, "--format", "parquet", "-o", pq.to_str().unwrap()], 0);
    use polars::prelude::SerReader;
    let df = polars::prelude::ParquetReader::new(std::fs::File::open(&pq).unwrap()).finish().unwrap();
    assert_eq!(df.height(), csv.lines().count() - 1);
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names.join(","), csv.lines().next().unwrap());
    let changed = df.column("ratio").unwrap().f64().unwrap().iter().flatten().collect::<Vec<_>>();
    assert!(changed.iter().any(|r| (r - 3.0).abs() < 1e-9), "{df}");
    let out = crate::view(&["diff", &a, &b, "--format", "parquet"]);
    assert_eq!(out.status.code(), Some(2), "parquet needs -o");
    let same = view_ok(&["diff", &a, &a, "--format", "ndjson"], 0);
    assert!(same.lines().all(|l| l.contains("\"status\":\"changed\"") && l.contains("\"ratio\":1.0")), "{same}");
    let out = crate::view(&["diff", &a, "missing.bin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("side B"), "{out:?}");
}

#[test]
fn stats_show_what_rate_limits_suppressed_beside_what_they_wrote() {
    let f = td("rate-limited.bin");
    let snap = Snapshot::open(&f).unwrap();
    let limit = |m: &str| snap.callsites().iter().find(|c| &*c.message == m).and_then(|c| c.rate_limit).unwrap();
    let written = |m: &str| decode(&f).iter().filter(|e| &*e.event.message == m).count() as u64;
    let (reset, retry) = (limit("connection reset"), limit("retrying"));
    let text = view_ok(&[&f, "--stats"], 0);
    let total = reset.suppressed + retry.suppressed;
    assert!(text.contains(&format!("rate-limited call sites (2 in all, {total} events suppressed)")), "{text}");
    let row = |w: u64, s: u64, l: &str, rest: &str| format!("  {w:>10}  {s:>10}  {l:>9}  {rest}");
    assert!(
        text.contains(&row(written("connection reset"), reset.suppressed, "5/s", "WARN  net::conn: connection reset")),
        "{text}"
    );
    assert!(text.contains(&row(written("retrying"), retry.suppressed, "10/s", "INFO  gen_testdata: retrying")));
    let json: J = serde_json::from_str(&view_ok(&[&f, "--stats", "--format", "json"], 0)).unwrap();
    let rows = json["rate_limited"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    assert_eq!(first["message"], "connection reset");
    assert_eq!(first["limit_per_second"], 5);
    assert_eq!(first["suppressed"], reset.suppressed);
    assert_eq!(first["written"], written("connection reset"));
    // A file without limits has none to show.
    let plain = view_ok(&[&td("normal.bin"), "--stats"], 0);
    assert!(!plain.contains("rate-limited"));
}

#[test]
fn stats_show_what_filled_each_ring() {
    let f = td("ring-pressure.bin");
    let snap = Snapshot::open(&f).unwrap();
    let poller = snap.header().threads.iter().find(|t| t.name.as_deref() == Some("poller")).unwrap().clone();
    let ring = poller.ring.clone().unwrap();
    let text = view_ok(&[&f, "--stats"], 0);
    assert!(text.contains("ring pressure (what filled each thread's ring"), "{text}");
    // The most overwritten thread first, with its ring, counts and window.
    let head = text.lines().skip_while(|l| !l.starts_with("ring pressure")).nth(1).unwrap();
    let share = 100.0 * poller.overwritten as f64 / poller.written as f64;
    assert!(
        head.starts_with(&format!(
            "  poller (id {}; testdata pid {}, {f}): ring 16.0 KiB, written 5010, overwritten {} ({share:.1} %); kept {} in ",
            poller.id,
            snap.header().pid,
            poller.overwritten,
            poller.written - poller.overwritten
        )),
        "{head}"
    );
    // The statement that filled it, with its share of records and bytes.
    let poll = &ring.sites[0];
    let kept = (poller.written - poller.overwritten) as f64;
    let row = format!("{:>10}  {:>5.1} %", poll.events, 100.0 * poll.events as f64 / kept);
    assert!(
        text.lines()
            .any(|l| l.contains(&row) && l.contains("DEBUG net::poll: poll (ttlog-core/examples/gen_testdata.rs:")),
        "{text}"
    );
    let json: J = serde_json::from_str(&view_ok(&[&f, "--stats", "--format", "json"], 0)).unwrap();
    let rows = json["ring_pressure"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["thread"], "poller");
    assert_eq!(rows[0]["capacity_bytes"], 16384);
    assert_eq!(rows[0]["overwritten"], poller.overwritten);
    assert_eq!(rows[0]["kept_bytes"], ring.kept_bytes);
    assert_eq!(rows[0]["sites"][0]["message"], "poll");
    assert_eq!(rows[0]["sites"][0]["bytes"], poll.bytes);
    assert_eq!(rows[1]["thread"], "main");
    assert_eq!(rows[1]["overwritten"], 0);
    // A file written before format 1.2 shows its counts and says what it
    // lacks; threads that lost nothing and have no details are counted.
    let old = view_ok(&[&td("periodic-2-panic.bin"), "--stats"], 0);
    assert!(
        old.contains("written 1000, overwritten 342 (34.2 %); kept 658; what filled its ring is not in this file (writers of format 1.2 record it)"),
        "{old}"
    );
    assert!(old.contains("  … and 1 more threads (0 of them overwrote events)"), "exploder: {old}");
}
