//! The recorder through its public API: macros, every value type, levels,
//! metrics, and rings of threads that come and go.
//!
//! One recorder per process, so every test here shares it; each test uses
//! its own targets to find its events, and tests that change the global
//! level hold `LEVEL_LOCK`.

use std::sync::{Mutex, MutexGuard, OnceLock};
use ttlog_core::{Level, Trace, Value, debug, error, info, trace, warn};

fn trace() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| {
        Trace::builder().service("recorder-tests").capacity_bytes(64 * 1024).max_idle_rings(8).install().unwrap()
    })
}

static LEVEL_LOCK: Mutex<()> = Mutex::new(());

fn level_lock() -> MutexGuard<'static, ()> {
    LEVEL_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn events_of(target: &str) -> Vec<ttlog_core::Event> {
    trace().events().into_iter().filter(|e| &*e.target == target).collect()
}

#[test]
fn contract_example_records_every_field_typed() {
    trace();
    let _g = level_lock();
    let line = line!() + 1;
    info!(target: "contract", "Trade executed", symbol = "AAPL", qty = 1000u64, price = 150.25, ok = true);
    let e = events_of("contract");
    assert_eq!(e.len(), 1);
    let e = &e[0];
    assert_eq!(e.level, Level::Info);
    assert_eq!(&*e.message, "Trade executed");
    assert!(e.file.ends_with("recorder.rs"), "{}", e.file);
    assert_eq!(e.line, line);
    assert_eq!(
        e.fields,
        vec![
            ("symbol".into(), Value::Str("AAPL".into())),
            ("qty".into(), Value::U64(1000)),
            ("price".into(), Value::F64(150.25)),
            ("ok".into(), Value::Bool(true)),
        ]
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert!((now - e.timestamp_ns).abs() < 5_000_000_000, "timestamp {} is not near now {}", e.timestamp_ns, now);
}

#[test]
fn every_value_type_round_trips() {
    trace();
    let _g = level_lock();
    let owned = String::from("owned");
    let user = "ada";
    let addr: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    info!(target: "types", "all types",
        a = 1u8, b = 2u16, c = 3u32, d = u64::MAX, e = 5usize,
        f = -1i8, g = -2i16, h = -3i32, i = i64::MIN, j = -5isize,
        k = u128::MAX, l = i128::MIN, m = 1.5f32, n = -2.25f64,
        o = 'é', p = false, q = owned, r = "str", user,
        peer = %addr, list = ?vec![1, 2], http.status = 404u16, "quoted key" = 7i32);
    let e = events_of("types").pop().unwrap();
    let get = |k: &str| e.field(k).cloned().unwrap_or_else(|| panic!("no field {k}"));
    assert_eq!(get("a"), Value::U64(1));
    assert_eq!(get("b"), Value::U64(2));
    assert_eq!(get("c"), Value::U64(3));
    assert_eq!(get("d"), Value::U64(u64::MAX));
    assert_eq!(get("e"), Value::U64(5));
    assert_eq!(get("f"), Value::I64(-1));
    assert_eq!(get("g"), Value::I64(-2));
    assert_eq!(get("h"), Value::I64(-3));
    assert_eq!(get("i"), Value::I64(i64::MIN));
    assert_eq!(get("j"), Value::I64(-5));
    assert_eq!(get("k"), Value::U128(u128::MAX));
    assert_eq!(get("l"), Value::I128(i128::MIN));
    assert_eq!(get("m"), Value::F32(1.5));
    assert_eq!(get("n"), Value::F64(-2.25));
    assert_eq!(get("o"), Value::Char('é'));
    assert_eq!(get("p"), Value::Bool(false));
    assert_eq!(get("q"), Value::Str("owned".into()));
    assert_eq!(get("r"), Value::Str("str".into()));
    assert_eq!(get("user"), Value::Str("ada".into()));
    assert_eq!(get("peer"), Value::Str("10.0.0.1".into()));
    assert_eq!(get("list"), Value::Str("[1, 2]".into()));
    assert_eq!(get("http.status"), Value::U64(404));
    assert_eq!(get("quoted key"), Value::I64(7));
    assert_eq!(e.fields.len(), 23);
}

#[test]
fn message_only_and_default_target() {
    trace();
    let _g = level_lock();
    info!("started, no fields");
    let e: Vec<_> = trace().events().into_iter().filter(|e| &*e.message == "started, no fields").collect();
    assert_eq!(e.len(), 1);
    assert_eq!(&*e[0].target, module_path!());
    assert!(e[0].fields.is_empty());
}

#[test]
fn long_strings_are_truncated_with_a_marker_and_counted() {
    trace();
    let _g = level_lock();
    let before = trace().metrics().truncated;
    let long = "x".repeat(ttlog_core::MAX_STR_BYTES * 3);
    let long_display = "é".repeat(ttlog_core::MAX_STR_BYTES);
    info!(target: "trunc", "long", s = long.as_str(), d = %long_display, short = "ok");
    let e = events_of("trunc").pop().unwrap();
    let Some(Value::Str(s)) = e.field("s") else { panic!("s is not text") };
    assert!(s.ends_with(ttlog_core::TRUNCATION_MARKER));
    assert!(s.len() <= ttlog_core::MAX_STR_BYTES);
    assert!(s.trim_end_matches(ttlog_core::TRUNCATION_MARKER).chars().all(|c| c == 'x'));
    let Some(Value::Str(d)) = e.field("d") else { panic!("d is not text") };
    assert!(d.ends_with(ttlog_core::TRUNCATION_MARKER) && d.len() <= ttlog_core::MAX_STR_BYTES);
    assert_eq!(e.field("short"), Some(&Value::Str("ok".into())));
    assert_eq!(trace().metrics().truncated - before, 2);
}

#[test]
fn levels_filter_and_set_level_applies_everywhere() {
    trace();
    let _g = level_lock();
    assert_eq!(ttlog_core::level(), Level::Info);
    trace!(target: "levels", "t");
    debug!(target: "levels", "d");
    info!(target: "levels", "i");
    warn!(target: "levels", "w");
    error!(target: "levels", "e");
    let got: Vec<_> = events_of("levels").iter().map(|e| e.message.to_string()).collect();
    assert_eq!(got, ["i", "w", "e"]);

    ttlog_core::set_level(Level::Trace);
    let t = std::thread::spawn(|| trace!(target: "levels2", "from another thread"));
    t.join().unwrap();
    ttlog_core::set_level(Level::Error);
    warn!(target: "levels2", "hidden");
    ttlog_core::set_level(Level::Info);
    let got: Vec<_> = events_of("levels2").iter().map(|e| e.message.to_string()).collect();
    assert_eq!(got, ["from another thread"]);
}

#[test]
fn second_install_is_an_error_not_a_panic() {
    trace();
    let err = Trace::builder().install().unwrap_err();
    assert!(matches!(err, ttlog_core::Error::AlreadyInstalled), "{err}");
    // The legacy entry point does not panic either.
    let again = Trace::init(1024, 16, "again", None);
    assert_eq!(again.service(), "again");
}

#[test]
fn events_carry_thread_identity_and_come_in_time_order() {
    trace();
    let _g = level_lock();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    for n in 0..50u64 {
                        info!(target: "order", "tick", worker = i as u64, n);
                    }
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let events = events_of("order");
    assert_eq!(events.len(), 200);
    assert!(events.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    for e in &events {
        let Some(Value::U64(w)) = e.field("worker") else { panic!() };
        assert_eq!(e.thread_name.as_deref(), Some(format!("worker-{w}").as_str()));
    }
    // Per thread, sequence numbers are gap-free and follow `n`.
    for w in 0..4u64 {
        let mine: Vec<_> = events.iter().filter(|e| e.field("worker") == Some(&Value::U64(w))).collect();
        assert!(mine.windows(2).all(|p| p[1].seq == p[0].seq + 1));
        let ns: Vec<u64> =
            mine.iter().map(|e| if let Some(Value::U64(n)) = e.field("n") { *n } else { panic!() }).collect();
        assert_eq!(ns, (0..50).collect::<Vec<u64>>());
    }
}

#[test]
fn metrics_add_up_and_utilization_is_a_fraction() {
    trace();
    let _g = level_lock();
    for i in 0..10_000u64 {
        info!(target: "metrics", "fill", i, price = 1.5, sym = "AAPL");
    }
    let m = trace().metrics();
    assert_eq!(m.logged, m.in_ring + m.overwritten + m.dropped.total());
    assert!(m.overwritten > 0, "a 64 KiB ring cannot hold 10,000 events");
    let u = trace().buffer_utilization();
    assert!(u > 0.0 && u <= 1.0, "{u}");
    assert!(m.bytes_in_use <= m.bytes_capacity);
    // The newest events are the ones kept.
    let kept = events_of("metrics");
    assert_eq!(kept.last().unwrap().field("i"), Some(&Value::U64(9_999)));
    let first = match kept.first().unwrap().field("i") {
        Some(Value::U64(i)) => *i,
        _ => panic!(),
    };
    assert_eq!(kept.len() as u64, 10_000 - first);
}

#[test]
fn rings_of_exited_threads_stay_readable_then_are_reused() {
    trace();
    let _g = level_lock();
    std::thread::spawn(|| info!(target: "exited", "last words", code = 7u8)).join().unwrap();
    let e = events_of("exited");
    assert_eq!(e.len(), 1, "an exited thread's events stay readable");

    // 2,000 short-lived threads: rings are reused, memory stays bounded by
    // (live threads + max_idle_rings) rings.
    for round in 0..20 {
        let hs: Vec<_> = (0..100).map(|i| std::thread::spawn(move || info!(target: "churn", "hi", round, i))).collect();
        for h in hs {
            h.join().unwrap();
        }
    }
    let m = trace().metrics();
    let ring = trace().ring_bytes();
    assert!(m.rings <= 8 + 100 + 16, "rings grew to {} with 2,000 short-lived threads", m.rings);
    assert!(m.memory_bytes as usize <= m.rings * (ring + 4096));
    assert_eq!(m.logged, m.in_ring + m.overwritten + m.dropped.total());
}

/// A value whose encoding logs an event of its own: the inner event finds
/// the thread's producer out (an event is being written) and is counted as
/// dropped (re-entrant); the outer event is recorded whole, and the thread
/// logs normally afterwards.
struct LogsWhileEncoded(u64);

impl ttlog_core::Encode for LogsWhileEncoded {
    const KIND: ttlog_core::Kind = ttlog_core::Kind::U64;
    fn words(&self) -> usize {
        1
    }
    fn encode(&self, w: &mut ttlog_core::RecordWriter<'_>) {
        info!(target: "reentrant-inner", "logged from inside an encoding");
        w.push(self.0);
    }
}

#[test]
fn an_event_logged_while_one_is_written_is_counted_not_recorded() {
    trace();
    let _g = level_lock();
    let before = trace().metrics().dropped.reentrant;
    info!(target: "reentrant-outer", "outer", v = LogsWhileEncoded(7));
    info!(target: "reentrant-outer", "after");
    assert_eq!(trace().metrics().dropped.reentrant, before + 1);
    assert!(events_of("reentrant-inner").is_empty());
    let outer = events_of("reentrant-outer");
    assert_eq!(outer.len(), 2);
    assert_eq!(outer[0].field("v"), Some(&Value::U64(7)));
    assert_eq!(&*outer[1].message, "after");
}
