//! Every committed file in `testdata/` opens, and holds what
//! `examples/gen_testdata.rs` logged. Files of a format version must keep
//! opening in every later version: never regenerate them to make this pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ttlog_core::snapshot::{FormatVersion, Problem, Snapshot, format};
use ttlog_core::{Event, Level, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("testdata")
}

/// A committed file: in `testdata/`, or in `testdata/damaged/` for the
/// damaged samples.
fn path(name: &str) -> PathBuf {
    let clean = dir().join(name);
    if clean.exists() { clean } else { dir().join("damaged").join(name) }
}

fn open(name: &str) -> Snapshot {
    Snapshot::open(path(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn events(s: &Snapshot) -> Vec<Event> {
    s.events().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{e}"))
}

fn check_normal(s: &Snapshot) {
    assert!(s.is_complete(), "{:?}", s.problems());
    assert_eq!(s.version(), FormatVersion::Chunked { major: 1, minor: 0 });
    let h = s.header();
    assert_eq!((h.service.as_str(), h.reason.as_str()), ("testdata", "manual"));
    assert!(h.library.starts_with("ttlog-core "));
    assert_eq!(h.counters.in_snapshot, 43);
    assert_eq!(h.counters.logged, 43);
    let ev = events(s);
    assert_eq!(ev.len(), 43);
    assert!(ev.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    assert!(ev[0].timestamp_ns > 1_700_000_000_000_000_000, "a 2023+ UTC time");
    let fills: Vec<&Event> = ev.iter().filter(|e| &*e.message == "order filled").collect();
    assert_eq!(fills.len(), 20);
    for (i, e) in fills.iter().enumerate() {
        let i = i as u64;
        assert_eq!(&*e.target, "orders");
        assert_eq!(e.level, Level::Info);
        assert_eq!(e.seq, 2 * i);
        assert_eq!(e.field("id"), Some(&Value::U64(i)));
        assert_eq!(e.field("qty"), Some(&Value::U64(100 * i)));
        assert_eq!(e.field("price"), Some(&Value::F64(150.25 + i as f64)));
        assert_eq!(e.field("symbol"), Some(&Value::Str("AAPL".into())));
        assert_eq!(e.field("ok"), Some(&Value::Bool(i.is_multiple_of(2))));
    }
    let cache: Vec<&Event> = ev.iter().filter(|e| &*e.message == "cache").collect();
    assert_eq!(cache[7].field("key"), Some(&Value::Str("k7".into())));
    assert_eq!(cache[7].level, Level::Debug);
    let risk = ev.iter().find(|e| &*e.message == "limit near").unwrap();
    assert_eq!(risk.field("used"), Some(&Value::F32(0.93)));
    assert_eq!(risk.field("desk"), Some(&Value::Str("fx-options-europe".into())));
    assert_eq!(risk.field("delta"), Some(&Value::I64(-42)));
    let disk = ev.iter().find(|e| &*e.message == "disk full").unwrap();
    assert_eq!(disk.level, Level::Error);
    assert_eq!(
        disk.fields,
        vec![("dev".into(), Value::Char('C')), ("free".into(), Value::U128(0)), ("big".into(), Value::I128(i128::MIN))]
    );
    assert_eq!(ev.last().unwrap().level, Level::Trace);
    assert!(ev.iter().all(|e| e.file.ends_with("gen_testdata.rs")));
}

fn check_many_threads(s: &Snapshot) {
    assert!(s.is_complete());
    assert_eq!(s.header().reason, "many_threads");
    let names: Vec<String> = s.threads().iter().filter_map(|t| t.name.as_deref().map(str::to_owned)).collect();
    for t in 0..16 {
        assert!(names.contains(&format!("worker-{t}")), "{names:?}");
    }
    let mut per_thread: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for e in events(s) {
        let Some(Value::U64(w)) = e.field("worker") else { panic!("worker field") };
        assert_eq!(e.thread_name.as_deref(), Some(format!("worker-{w}").as_str()));
        let Some(Value::U64(i)) = e.field("i") else { panic!("i field") };
        per_thread.entry(e.thread_name.as_deref().unwrap().to_owned()).or_default().push((e.seq, *i));
    }
    assert_eq!(per_thread.len(), 16);
    for rows in per_thread.values() {
        let mut rows = rows.clone();
        rows.sort();
        assert_eq!(rows, (0..50).map(|i| (i, i)).collect::<Vec<_>>());
    }
}

fn check_panic(s: &Snapshot) {
    assert!(s.is_complete());
    let h = s.header();
    assert_eq!(h.reason, "panic");
    let p = h.panic.as_ref().expect("panic details");
    assert_eq!(p.message, "boom: invariant broken");
    assert_eq!(p.thread.as_deref(), Some("exploder"));
    assert!(p.location.as_deref().unwrap().contains("gen_testdata.rs:"), "{p:?}");
    let ev = events(s);
    assert_eq!(ev.iter().filter(|e| &*e.message == "bystander working").count(), 10);
    let before = &ev[ev.len() - 2];
    assert_eq!(&*before.message, "about to panic");
    assert_eq!(before.thread_name.as_deref(), Some("exploder"));
    // The 1.0 writer kept the panic in the header only; the reader makes it
    // the panicking thread's last event, as writers of 1.2 log it.
    check_panic_event(s, &ev, "exploder");
}

/// The panic of `s`'s header is the last event of `thread`, once: level
/// ERROR, target `panic`, its message and location as fields, after the
/// thread's other events, with the thread's next sequence number.
fn check_panic_event(s: &Snapshot, ev: &[Event], thread: &str) {
    let p = s.header().panic.as_ref().unwrap();
    let panics: Vec<&Event> = ev.iter().filter(|e| &*e.target == "panic").collect();
    assert_eq!(panics.len(), 1, "{panics:?}");
    let e = panics[0];
    assert_eq!((e.level, &*e.message, e.thread_name.as_deref()), (Level::Error, "panic", Some(thread)));
    assert_eq!(e.fields[0], ("message".into(), Value::Str(p.message.clone())));
    assert_eq!(e.fields[1], ("location".into(), Value::Str(p.location.clone().unwrap())));
    let mine: Vec<&Event> = ev.iter().filter(|x| x.thread_id == e.thread_id).collect();
    assert!(std::ptr::eq(*mine.last().unwrap(), e), "the thread's last event");
    assert!(mine.iter().all(|x| x.timestamp_ns <= e.timestamp_ns && (std::ptr::eq(*x, e) || x.seq < e.seq)));
    let written = s.header().threads.iter().find(|t| t.id == e.thread_id).map_or(0, |t| t.written);
    assert_eq!(e.seq, written);
}

fn check_chunked(s: &Snapshot) {
    assert!(s.is_complete());
    assert_eq!(s.chunks().len(), 10);
    assert!(s.chunks().iter().all(|c| c.events == 100));
    let ev = events(s);
    let n: Vec<u64> = ev.iter().map(|e| if let Some(Value::U64(n)) = e.field("n") { *n } else { panic!() }).collect();
    assert_eq!(n, (0..1000).collect::<Vec<_>>());
    assert!(ev.iter().all(|e| e.field("venue") == Some(&Value::Str("XNAS".into()))));
    // Columns: the viewer's view of the same data.
    let c = s.decode_chunk(4).unwrap();
    let col = c.column(c.callsites[0], 0).unwrap();
    assert_eq!(col.values, ttlog_core::snapshot::Values::U64((400..500).collect()));
}

fn check_truncated(s: &Snapshot) {
    assert!(!s.is_complete());
    assert_eq!(s.chunks().len(), 3, "chunks 0..3 are intact");
    let p = &s.problems()[0];
    assert!(matches!(p.problem, Problem::Truncated { .. }), "{p}");
    assert!(p.file.ends_with("truncated.bin"));
    // The cut chunk's frame starts where the third intact chunk ends.
    let c2 = s.chunks()[2];
    assert_eq!(p.offset, c2.offset + format::FRAME_LEN as u64 + u64::from(c2.compressed_len));
    let ok: Vec<Event> = s.events().filter_map(Result::ok).collect();
    assert_eq!(ok.len(), 300);
    assert_eq!(ok.last().unwrap().field("n"), Some(&Value::U64(299)));
    assert_eq!(s.events().filter(Result::is_err).count(), 1);
}

fn check_corrupt(s: &Snapshot) {
    assert_eq!(s.chunks().len(), 10);
    assert!(s.problems().is_empty(), "the framing is intact");
    let e = s.decode_chunk(1).unwrap_err();
    assert!(matches!(e.problem, Problem::Crc { .. }), "{e}");
    assert_eq!(e.offset, s.chunks()[1].offset);
    assert!(e.to_string().contains("corrupt-chunk.bin: byte "), "{e}");
    let ok: Vec<Event> = s.events().filter_map(Result::ok).collect();
    assert_eq!(ok.len(), 900);
    assert!(!ok.iter().any(|e| matches!(e.field("n"), Some(Value::U64(n)) if (100..200).contains(n))));
}

fn check_legacy(s: &Snapshot) {
    assert_eq!(s.version(), FormatVersion::Legacy);
    let h = s.header();
    assert_eq!((h.service.as_str(), h.reason.as_str()), ("legacy-svc", "manual"));
    assert!(h.created_at_ns > 1_700_000_000_000_000_000);
    let ev = events(s);
    assert_eq!(ev.len(), 7);
    let pay: Vec<&Event> = ev.iter().filter(|e| &*e.message == "payment accepted").collect();
    assert_eq!(pay.len(), 5);
    let mut ids: Vec<u64> =
        pay.iter().map(|e| if let Some(Value::U64(v)) = e.field("user_id") { *v } else { panic!("{e:?}") }).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3, 4]);
    // ttlog 0.1 itself stored non-integer values as JSON strings.
    assert!(
        pay.iter().all(|e| e.field("amount") == Some(&Value::Str("12.5".into())) && e.level == Level::Info),
        "{pay:#?}"
    );
    let slow = ev.iter().find(|e| &*e.message == "slow upstream").unwrap();
    assert_eq!(slow.level, Level::Warn);
    assert_eq!(slow.field("region"), Some(&Value::Str("eu-west".into())));
    let db = ev.iter().find(|e| &*e.message == "database unreachable").unwrap();
    assert_eq!(db.level, Level::Error);
    assert!(db.fields.is_empty());
    assert!(db.file.ends_with("gen_testdata.rs"));
    assert!(db.line > 0);
}

/// What both files of the `periodic` case share: format 1.1, an index whose
/// statistics are those of the decoded chunks, the ticks of thread `main`.
/// Returns the sequence numbers of `main`'s ticks (equal to their `n`).
fn check_periodic(s: &Snapshot, reason: &str) -> Vec<u64> {
    assert!(s.is_complete(), "{:?}", s.problems());
    assert_eq!(s.version(), FormatVersion::Chunked { major: 1, minor: 1 });
    assert!(s.reads_lazily(), "an indexed file is read chunk by chunk");
    let h = s.header();
    assert_eq!(h.reason, reason);
    let instance = h.instance.as_deref().expect("format 1.1 names the process instance");
    assert!(instance.len() == 32 && instance.bytes().all(|b| b.is_ascii_hexdigit()), "{instance}");
    for i in 0..s.chunks().len() {
        let c = s.decode_chunk(i).unwrap();
        let computed = ttlog_core::snapshot::ChunkStats::of(&c.timestamps, &c.callsites, &c.threads, &c.seqs);
        assert_eq!(s.chunk_stats(i), Some(&computed));
    }
    let ticks: Vec<Event> = events(s).into_iter().filter(|e| &*e.message == "tick").collect();
    for e in &ticks {
        assert_eq!(e.thread_name.as_deref(), Some("main"));
        assert_eq!(e.field("n"), Some(&Value::U64(e.seq)));
    }
    ticks.iter().map(|e| e.seq).collect()
}

fn check_periodic_1(s: &Snapshot) {
    assert_eq!(check_periodic(s, "periodic"), (0..600).collect::<Vec<_>>());
    assert_eq!(s.header().counters.logged, 600);
}

fn check_periodic_2(s: &Snapshot) {
    let seqs = check_periodic(s, "panic");
    let h = s.header();
    // The ring overwrote the oldest ticks; the newest 600-… repeat those of
    // periodic-1.bin, with the same instance.
    let main = h.threads.iter().find(|t| t.name.as_deref() == Some("main")).unwrap();
    assert!(main.overwritten > 0 && main.overwritten < 600, "{main:?}");
    assert_eq!(seqs, (main.overwritten..1000).collect::<Vec<_>>());
    assert_eq!(h.instance, open("periodic-1.bin").header().instance);
    assert_ne!(h.instance, None);
    assert_eq!(h.counters.logged, 1001);
    assert_eq!(h.panic.as_ref().unwrap().message, "boom after the periodic snapshot");
    check_panic_event(s, &events(s), "exploder");
}

/// `rate-limited.bin`: format 1.2, a rule's limit (5/s on `net::conn`) and a
/// statement's own (10/s), each of 100 events written up to its limit and
/// the rest counted in the call-site table; 20 unlimited events.
fn check_rate_limited(s: &Snapshot) {
    assert!(s.is_complete(), "{:?}", s.problems());
    assert_eq!(s.version(), FormatVersion::Chunked { major: 1, minor: 2 });
    let ev = events(s);
    let count = |m: &str| ev.iter().filter(|e| &*e.message == m).count() as u64;
    let limit = |m: &str| s.callsites().iter().find(|c| &*c.message == m).and_then(|c| c.rate_limit);
    let reset = limit("connection reset").expect("the rule's limit is stored");
    assert_eq!(reset.per_second, Some(5));
    assert!((5..=10).contains(&count("connection reset")));
    assert_eq!(count("connection reset") + reset.suppressed, 100);
    let retry = limit("retrying").expect("the statement's limit is stored");
    assert_eq!(retry.per_second, Some(10));
    assert_eq!(count("retrying") + retry.suppressed, 100);
    assert_eq!((count("steady"), limit("steady")), (20, None));
}

/// `ring-pressure.bin`: format 1.2 with what filled each ring. 16 KiB
/// rings; the thread `poller` wrote 5,000 `poll` and 10 `slow poll` events
/// and kept what fits, `main` 30 `tick` events, all kept.
fn check_ring_pressure(s: &Snapshot) {
    assert!(s.is_complete(), "{:?}", s.problems());
    assert_eq!(s.version(), FormatVersion::Chunked { major: 1, minor: 2 });
    let ev = events(s);
    let h = s.header();
    let thread = |name: &str| h.threads.iter().find(|t| t.name.as_deref() == Some(name)).expect(name);
    let (poller, main) = (thread("poller"), thread("main"));
    assert_eq!((poller.written, main.written, main.overwritten), (5_010, 30, 0));
    assert!(poller.overwritten > 4_000, "{poller:?}");
    for t in [poller, main] {
        let ring = t.ring.as_ref().expect("a 1.2 writer stores the ring");
        assert_eq!(ring.capacity, 16 << 10);
        assert!(ring.kept_bytes <= ring.capacity, "{ring:?}");
        assert_eq!(ring.sites.iter().map(|u| u.bytes).sum::<u64>(), ring.kept_bytes);
        // The sites' records are the thread's events in the file, call site
        // by call site, and their time window is the events' own.
        let mine: Vec<&Event> = ev.iter().filter(|e| e.thread_id == t.id).collect();
        assert_eq!(mine.len() as u64, t.written - t.overwritten);
        for u in &ring.sites {
            let n = mine.iter().filter(|e| e.callsite == u.callsite).count() as u64;
            assert_eq!(n, u.events, "call site {} of {:?}", u.callsite, t.name);
            assert!(u.bytes >= 16 * u.events, "two words a record at least: {u:?}");
        }
        assert_eq!(ring.sites.iter().map(|u| u.events).sum::<u64>(), mine.len() as u64);
        assert_eq!(ring.oldest_ns, mine.iter().map(|e| e.timestamp_ns).min());
        assert_eq!(ring.newest_ns, mine.iter().map(|e| e.timestamp_ns).max());
    }
    let poll = s.callsites().iter().find(|c| &*c.message == "poll").unwrap().id;
    assert_eq!(poller.ring.as_ref().unwrap().sites[0].callsite, poll, "the chatty statement filled the ring");
}

#[test]
fn every_committed_file_opens_with_the_expected_contents() {
    type Check = (&'static str, fn(&Snapshot));
    let checks: [Check; 11] = [
        ("normal.bin", check_normal),
        ("many-threads.bin", check_many_threads),
        ("panic.bin", check_panic),
        ("chunked.bin", check_chunked),
        ("truncated.bin", check_truncated),
        ("corrupt-chunk.bin", check_corrupt),
        ("legacy-0.1.21.bin", check_legacy),
        ("periodic-1.bin", check_periodic_1),
        ("periodic-2-panic.bin", check_periodic_2),
        ("rate-limited.bin", check_rate_limited),
        ("ring-pressure.bin", check_ring_pressure),
    ];
    let mut on_disk: Vec<String> = [dir(), dir().join("damaged")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    on_disk.sort();
    let mut known: Vec<String> = checks.iter().map(|(n, _)| n.to_string()).collect();
    known.sort();
    assert_eq!(on_disk, known, "every file in testdata/ and testdata/damaged/ needs its check here");
    for (name, check) in checks {
        check(&open(name));
    }
}
