//! The `log` bridge end to end: records logged through `log` macros (with
//! key-values), a snapshot file written, read back with `Snapshot`, every
//! field compared.
#![cfg(feature = "log")]

use std::sync::OnceLock;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Event, Level, Trace, Value};

fn trace() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ttlog-bridge-log-{}", std::process::id()));
        let t = Trace::builder()
            .service("bridge-log")
            .filter("debug,lg::quiet=error")
            .env_filter(false)
            .storage_path(dir)
            .snapshot_on_signals(false)
            .snapshot_interval(None)
            .install()
            .unwrap();
        ttlog_core::log_bridge::init().unwrap();
        t
    })
}

/// Tests that change the filter, or depend on it, run one at a time.
fn filter_lock() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn snapshot_events(target: &str) -> Vec<Event> {
    let path = trace().request_snapshot(target).unwrap();
    let snap = Snapshot::open(&path).unwrap();
    assert!(snap.is_complete(), "{:?}", snap.problems());
    let events: Vec<Event> =
        snap.events().collect::<Result<Vec<_>, _>>().unwrap().into_iter().filter(|e| &*e.target == target).collect();
    std::fs::remove_file(path).unwrap();
    events
}

#[test]
fn records_with_key_values_round_trip_through_a_snapshot() {
    trace();
    // Its info! record is lost while another test has the level at warn.
    let _g = filter_lock();
    let line = line!() + 1;
    log::info!(target: "lg", qty = 100u64, delta = -5i64, price = 150.25f64, ok = true, sym = "AAPL", c = 'Z', big = u128::MAX, addr:% = std::net::Ipv4Addr::LOCALHOST; "order filled");
    let (ms, one) = (std::hint::black_box(250), std::hint::black_box(1));
    log::warn!(target: "lg", "slow: {} ms", ms);
    log::debug!(target: "lg", n = 1u64; "debug {}", one);
    log::trace!(target: "lg", "below the filter");
    let ev = snapshot_events("lg");
    assert_eq!(ev.len(), 3, "{ev:#?}");
    let e = &ev[0];
    assert_eq!((e.level, &*e.message, e.line), (Level::Info, "order filled", line));
    assert!(e.file.ends_with("bridge_log.rs"));
    assert_eq!(&*e.module_path, module_path!());
    let got: Vec<(&str, Value)> = e.fields.iter().map(|(n, v)| (&**n, v.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("qty", Value::U64(100)),
            ("delta", Value::I64(-5)),
            ("price", Value::F64(150.25)),
            ("ok", Value::Bool(true)),
            ("sym", Value::Str("AAPL".into())),
            ("c", Value::Char('Z')),
            ("big", Value::U128(u128::MAX)),
            ("addr", Value::Str("127.0.0.1".into())),
        ]
    );
    assert_eq!((ev[1].level, &*ev[1].message), (Level::Warn, ""));
    assert_eq!(ev[1].fields, vec![("message".into(), Value::Str("slow: 250 ms".into()))]);
    assert_eq!(ev[2].level, Level::Debug);
    assert_eq!(ev[2].fields, vec![("message".into(), Value::Str("debug 1".into())), ("n".into(), Value::U64(1))]);
}

#[test]
fn per_target_directives_and_run_time_changes_apply_to_log() {
    trace();
    let _g = filter_lock();
    log::warn!(target: "lg::quiet::db", "hidden");
    log::error!(target: "lg::quiet::db", "shown");
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    ttlog_core::set_level(Level::Warn);
    assert_eq!(log::max_level(), log::LevelFilter::Warn);
    log::warn!(target: "lg::quiet::db", "shown after set_level");
    log::info!(target: "lg::quiet::db", "hidden after set_level");
    ttlog_core::set_filter("debug,lg::quiet=error".parse().unwrap());
    let got: Vec<String> = snapshot_events("lg::quiet::db").iter().map(|e| e.message.to_string()).collect();
    assert_eq!(got, ["shown", "shown after set_level"]);
}

#[test]
fn one_statement_with_run_time_targets_names_and_kinds_keeps_each_record_apart() {
    trace();
    let _g = filter_lock();
    // One statement (one file and line, one level): targets of one length
    // made at run time, a value whose kind changes, and the quiet target
    // the filter silences; every record must keep its own target and fields.
    fn log_one(target: &str, v: log::kv::Value<'_>) {
        log::info!(target: target, v = v; "same statement");
    }
    // Targets of one length: the same slot of the bridge's cache.
    let targets: Vec<String> =
        ["lg::ma", "lg::mb", "lg::ma", "lg::mb", "lg::ma"].iter().map(|t| t.to_string()).collect();
    log_one(&targets[0], log::kv::Value::from(1u64));
    log_one(&targets[1], log::kv::Value::from(2u64));
    log_one(&targets[2], log::kv::Value::from("text"));
    log_one(&targets[3], log::kv::Value::from(3u64));
    log_one(&targets[4], log::kv::Value::from(4u64));
    // A silenced target of the same length as a loud one.
    for (i, t) in ["lg::loudy", "lg::quiet", "lg::loudy", "lg::quiet"].iter().enumerate() {
        log_one(t, log::kv::Value::from(i as u64));
    }
    let values = |target| snapshot_events(target).iter().map(|e| e.field("v").cloned()).collect::<Vec<_>>();
    assert_eq!(values("lg::ma"), [Some(Value::U64(1)), Some(Value::Str("text".into())), Some(Value::U64(4))]);
    assert_eq!(values("lg::mb"), [Some(Value::U64(2)), Some(Value::U64(3))]);
    assert_eq!(values("lg::loudy"), [Some(Value::U64(0)), Some(Value::U64(2))]);
    assert!(values("lg::quiet").is_empty());
    // Two statements of one target, level and message on neighbouring
    // lines, with different names.
    fn named(first: bool) {
        if first {
            log::info!(target: "lg::names", a = 1u64; "n");
        } else {
            log::info!(target: "lg::names", b = 2u64; "n");
        }
    }
    named(true);
    named(false);
    named(true);
    let ev = snapshot_events("lg::names");
    let got: Vec<(Option<Value>, Option<Value>)> =
        ev.iter().map(|e| (e.field("a").cloned(), e.field("b").cloned())).collect();
    assert_eq!(got, [(Some(Value::U64(1)), None), (None, Some(Value::U64(2))), (Some(Value::U64(1)), None)]);
}

#[test]
fn a_rule_limits_log_statements_and_counts_what_it_suppressed() {
    trace();
    let _g = filter_lock();
    ttlog_core::set_filter("debug,lg::quiet=error,lg::limited=info@2/s,lg::muted=info@0/s".parse().unwrap());
    // Well under a second, or straddling one window boundary: 2 to 4 written.
    for i in 0..100u64 {
        log::info!(target: "lg::limited", i; "flood");
        log::info!(target: "lg::muted", i; "never");
        log::info!(target: "lg::free", i; "free");
    }
    let path = trace().request_snapshot("limits").unwrap();
    let snap = Snapshot::open(&path).unwrap();
    let events: Vec<Event> = snap.events().collect::<Result<Vec<_>, _>>().unwrap();
    std::fs::remove_file(&path).unwrap();
    let written = |target: &str| events.iter().filter(|e| &*e.target == target).count() as u64;
    let limit = |target: &str| snap.callsites().iter().find_map(|c| (&*c.target == target).then_some(c.rate_limit)?);
    let flood = limit("lg::limited").expect("the statement's limit is in the snapshot");
    assert_eq!(flood.per_second, Some(2));
    assert!((2..=4).contains(&written("lg::limited")), "{}", written("lg::limited"));
    assert_eq!(written("lg::limited") + flood.suppressed, 100, "every record written or counted");
    let muted = limit("lg::muted").expect("a silenced statement is in the snapshot");
    assert_eq!((written("lg::muted"), muted.per_second, muted.suppressed), (0, Some(0), 100));
    assert_eq!((written("lg::free"), limit("lg::free")), (100, None));
    // Lifting the rule lifts the limit at once; the count stays.
    ttlog_core::set_filter("debug,lg::quiet=error".parse().unwrap());
    log::info!(target: "lg::muted", i = 0; "never");
    let path = trace().request_snapshot("limits").unwrap();
    let snap = Snapshot::open(&path).unwrap();
    let muted = snap.callsites().iter().find_map(|c| (&*c.target == "lg::muted").then_some(c.rate_limit)?).unwrap();
    assert_eq!((muted.per_second, muted.suppressed), (None, 100));
    let n = snap.events().filter_map(Result::ok).filter(|e| &*e.target == "lg::muted").count();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(n, 1);
}
