//! The `tracing` bridge end to end: events logged through `tracing` macros,
//! a snapshot file written, read back with `Snapshot`, every field compared.
#![cfg(feature = "tracing")]

use std::sync::{Mutex, MutexGuard, OnceLock};
use tracing_subscriber::prelude::*;
use ttlog_core::snapshot::Snapshot;
use ttlog_core::{Event, Level, Trace, Value};

fn trace() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ttlog-bridge-tracing-{}", std::process::id()));
        let t = Trace::builder()
            .service("bridge-tracing")
            .level(Level::Trace)
            .env_filter(false)
            .storage_path(dir)
            .snapshot_on_signals(false)
            .snapshot_interval(None)
            .install()
            .unwrap();
        tracing_subscriber::registry().with(ttlog_core::layer()).init();
        t
    })
}

/// Tests that change the filter run one at a time.
fn filter_lock() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

/// The events of `target` in a snapshot written now.
fn snapshot_events(target: &str) -> Vec<Event> {
    let path = trace().request_snapshot(target).unwrap();
    let snap = Snapshot::open(&path).unwrap();
    assert!(snap.is_complete(), "{:?}", snap.problems());
    let events: Vec<Event> =
        snap.events().collect::<Result<Vec<_>, _>>().unwrap().into_iter().filter(|e| &*e.target == target).collect();
    std::fs::remove_file(path).unwrap();
    events
}

#[derive(Debug)]
struct Peer {
    #[allow(dead_code)]
    port: u16,
}

#[test]
fn events_with_every_field_kind_and_spans_round_trip_through_a_snapshot() {
    trace();
    let conn = tracing::info_span!(target: "tr", "conn", peer = "10.0.0.1", port = 443u64);
    let _c = conn.enter();
    let req = tracing::debug_span!(target: "tr", "request", id = 7u64, path = tracing::field::Empty);
    req.record("path", "/orders");
    let _r = req.enter();
    let line = line!() + 1;
    tracing::info!(target: "tr", qty = 100u64, delta = -5i64, price = 150.25f64, ok = true, sym = "AAPL", big = u128::MAX, neg = i128::MIN, peer = ?Peer { port: 1 }, addr = %"x.y", "order filled");
    tracing::warn!(target: "tr", n = 3u64, "retry {} of {}", 3, 5);
    tracing::error!(target: "tr", n = 4u64, "retry {} of {}", 4, 5);
    drop(_r);
    drop(_c);
    tracing::trace!(target: "tr", "outside");

    let ev = snapshot_events("tr");
    assert_eq!(ev.len(), 4, "{ev:#?}");
    let e = &ev[0];
    assert_eq!((e.level, &*e.message), (Level::Info, "order filled"));
    assert_eq!(&*e.module_path, module_path!());
    assert!(e.file.ends_with("bridge_tracing.rs"));
    assert_eq!(e.line, line);
    let expected: Vec<(&str, Value)> = vec![
        ("qty", Value::U64(100)),
        ("delta", Value::I64(-5)),
        ("price", Value::F64(150.25)),
        ("ok", Value::Bool(true)),
        ("sym", Value::Str("AAPL".into())),
        ("big", Value::U128(u128::MAX)),
        ("neg", Value::I128(i128::MIN)),
        ("peer", Value::Str("Peer { port: 1 }".into())),
        ("addr", Value::Str("x.y".into())),
        ("conn.peer", Value::Str("10.0.0.1".into())),
        ("conn.port", Value::U64(443)),
        ("request.id", Value::U64(7)),
        ("request.path", Value::Str("/orders".into())),
        ("spans", Value::Str("conn>request".into())),
    ];
    let got: Vec<(&str, Value)> = e.fields.iter().map(|(n, v)| (&**n, v.clone())).collect();
    assert_eq!(got, expected);

    // A formatted message: the call site's usual message is the first one,
    // a different one goes into a `message` field.
    assert_eq!((ev[1].level, &*ev[1].message), (Level::Warn, "retry 3 of 5"));
    assert_eq!(ev[1].field("n"), Some(&Value::U64(3)));
    assert_eq!(ev[2].level, Level::Error);
    assert_eq!(&*ev[2].message, "retry 4 of 5");
    assert_eq!(&*ev[3].message, "outside");
    assert_eq!(ev[3].level, Level::Trace);
    assert!(ev[3].fields.is_empty());
}

#[test]
fn a_varying_message_goes_into_a_field_of_a_sibling_call_site() {
    trace();
    for i in 0..3u64 {
        tracing::info!(target: "tr-fmt", i, "tick {i}");
    }
    let ev = snapshot_events("tr-fmt");
    assert_eq!(ev.len(), 3);
    assert_eq!(&*ev[0].message, "tick 0");
    assert_eq!(ev[0].field("message"), None);
    for (k, e) in ev.iter().enumerate().skip(1) {
        assert_eq!(&*e.message, "");
        assert_eq!(e.field("message"), Some(&Value::Str(format!("tick {k}"))));
        assert_eq!(e.field("i"), Some(&Value::U64(k as u64)));
    }
    assert_ne!(ev[0].callsite, ev[1].callsite);
    assert_eq!(ev[1].callsite, ev[2].callsite, "one call site per shape");
}

#[test]
fn a_field_whose_kind_changes_gets_its_own_typed_call_site() {
    trace();
    fn log(v: &dyn tracing::Value) {
        tracing::info!(target: "tr-kind", v, "value");
    }
    log(&1u64);
    log(&"one");
    log(&2u64);
    let ev = snapshot_events("tr-kind");
    let values: Vec<Value> = ev.iter().map(|e| e.field("v").cloned().unwrap()).collect();
    assert_eq!(values, vec![Value::U64(1), Value::Str("one".into()), Value::U64(2)]);
    assert_eq!(ev[0].callsite, ev[2].callsite);
    assert_ne!(ev[0].callsite, ev[1].callsite);
}

#[test]
fn the_filter_applies_to_tracing_events_and_changes_at_run_time() {
    trace();
    let _g = filter_lock();
    trace().set_filter("trace,tr-filter::quiet=warn").unwrap();
    tracing::info!(target: "tr-filter::quiet", "hidden");
    tracing::warn!(target: "tr-filter::quiet", "shown");
    tracing::debug!(target: "tr-filter::loud", "shown too");
    trace().set_filter("trace").unwrap();
    tracing::info!(target: "tr-filter::quiet", "now shown");
    let mut got: Vec<String> = snapshot_events("tr-filter::quiet").iter().map(|e| e.message.to_string()).collect();
    got.extend(snapshot_events("tr-filter::loud").iter().map(|e| e.message.to_string()));
    assert_eq!(got, ["shown", "now shown", "shown too"]);
}

#[test]
fn long_values_are_truncated_and_threads_are_kept_apart() {
    trace();
    let long = "x".repeat(2000);
    let before = trace().metrics().truncated;
    std::thread::Builder::new()
        .name("tr-worker".into())
        .spawn(move || tracing::info!(target: "tr-long", s = long.as_str(), "long"))
        .unwrap()
        .join()
        .unwrap();
    let ev = snapshot_events("tr-long");
    let Some(Value::Str(s)) = ev[0].field("s") else { panic!() };
    assert!(s.ends_with(ttlog_core::TRUNCATION_MARKER) && s.len() <= ttlog_core::MAX_STR_BYTES);
    assert_eq!(ev[0].thread_name.as_deref(), Some("tr-worker"));
    assert_eq!(trace().metrics().truncated - before, 1);
}

/// Counts the events a layer sees.
struct Counting(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn the_layer_never_hides_events_from_the_other_layers() {
    trace();
    let _g = filter_lock();
    trace().set_filter("trace,tr-beside=error").unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(ttlog_core::layer()).with(Counting(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "tr-beside", "not for ttlog");
        tracing::error!(target: "tr-beside", "for both");
    });
    trace().set_filter("trace").unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2, "the other layer saw both");
    let got: Vec<String> = snapshot_events("tr-beside").iter().map(|e| e.message.to_string()).collect();
    assert_eq!(got, ["for both"]);
}

/// Notes, for every event, its message and the names of the spans that the
/// registry says enclose it (outermost first, joined by `>`): what the
/// layer's `spans` field must say.
#[derive(Clone, Default)]
struct Witness(std::sync::Arc<Mutex<Vec<(String, String)>>>);

struct MessageText(String);

impl tracing::field::Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for Witness
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = MessageText(String::new());
        event.record(&mut message);
        let names: Vec<String> = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push((message.0, names.join(">")));
    }
}

#[test]
fn each_event_has_the_spans_the_registry_gives_it_however_spans_are_entered_and_left() {
    trace();
    let witness = Witness::default();
    let subscriber = tracing_subscriber::registry().with(ttlog_core::layer()).with(witness.clone());
    let dispatch = tracing::Dispatch::new(subscriber);
    let n_values = tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "tr-mirror", "e0");
        let a = tracing::info_span!("a");
        let ga = a.enter();
        tracing::info!(target: "tr-mirror", "e1");
        let b = tracing::info_span!("b", n = 1u64);
        let gb = b.enter();
        tracing::info!(target: "tr-mirror", "e2");
        // Entered again while entered: the registry keeps `b` current.
        let ga2 = a.enter();
        tracing::info!(target: "tr-mirror", "e3");
        drop(ga2);
        tracing::info!(target: "tr-mirror", "e4");
        // A field recorded while entered: the next event shows it.
        b.record("n", 2u64);
        tracing::info!(target: "tr-mirror", "e5");
        drop(gb);
        tracing::info!(target: "tr-mirror", "e6");
        // A root span entered inside `a`, an explicit parent, a root event.
        let c = tracing::info_span!(parent: None, "c");
        let gc = c.enter();
        tracing::info!(target: "tr-mirror", "e7");
        tracing::info!(target: "tr-mirror", parent: &b, "e8");
        tracing::info!(target: "tr-mirror", parent: None, "e9");
        drop(gc);
        // Left out of order: `a` exits first, `x` (a child of `a`) stays.
        let x = tracing::info_span!("x");
        let gx = x.clone().entered();
        drop(ga);
        tracing::info!(target: "tr-mirror", "e10");
        drop(gx);
        tracing::info!(target: "tr-mirror", "e11");
        // Entered on another thread, and a nested dispatcher of its own.
        let d = dispatch.clone();
        let b2 = b.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                let _g = b2.enter();
                tracing::info!(target: "tr-mirror", "e12");
            })
        })
        .join()
        .unwrap();
        let inner = tracing_subscriber::registry().with(ttlog_core::layer());
        let _g = x.enter();
        tracing::subscriber::with_default(inner, || tracing::info!(target: "tr-mirror", "e13"));
        tracing::info!(target: "tr-mirror", "e14");
        b.record("n", 3u64);
        let _g = b.enter();
        tracing::info!(target: "tr-mirror", "e15");
        let events: Vec<ttlog_core::Event> =
            trace().events().into_iter().filter(|e| &*e.target == "tr-mirror").collect();
        events.iter().filter_map(|e| e.field("b.n").cloned()).collect::<Vec<_>>()
    });
    let seen = witness.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 15, "{seen:?}");
    let events: Vec<ttlog_core::Event> = trace().events().into_iter().filter(|e| &*e.target == "tr-mirror").collect();
    for (message, spans) in &seen {
        let e = events.iter().find(|e| &*e.message == message).unwrap_or_else(|| panic!("{message} not recorded"));
        let got = match e.field("spans") {
            Some(Value::Str(s)) => s.as_str(),
            None => "",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, spans, "{message}");
    }
    // e13 went through the inner subscriber, which has no span entered.
    let e13 = events.iter().find(|e| &*e.message == "e13").unwrap();
    assert_eq!(e13.field("spans"), None);
    // `b.n` as recorded when each event inside `b` happened: e2, e3, e4 (1),
    // e5 (2), e8 and e12 (2), e15 (3).
    assert_eq!(n_values, [1, 1, 1, 2, 2, 2, 3].map(Value::U64));
}
