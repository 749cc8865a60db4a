//! The reader opens snapshots written, on this run, by the original `ttlog`
//! 0.1.21 crate itself (a dev-dependency), not hand-made bytes.

use ttlog_core::snapshot::{FormatVersion, Snapshot};
use ttlog_core::{Level, Value};

#[test]
fn reads_what_ttlog_0_1_writes() {
    let dir = tempfile::tempdir().unwrap();
    let trace = ttlog::trace::Trace::init(1024, 64, "orders", Some(dir.path().to_str().unwrap()));
    trace.set_level(ttlog::event::LogLevel::TRACE);
    for i in 0..40u32 {
        ttlog::ttlog_macros::info!(order = i, venue = "XNAS", "order routed");
    }
    ttlog::ttlog_macros::debug!(neg = -5, flag = true, "mixed values");
    ttlog::ttlog_macros::error!("gave up");
    std::thread::spawn(|| ttlog::ttlog_macros::warn!(code = 7, "from another thread")).join().unwrap();
    trace.request_snapshot("manual");

    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let snap = Snapshot::open(&files[0]).unwrap();
    assert_eq!(snap.version(), FormatVersion::Legacy);
    assert_eq!(snap.header().service, "orders");
    assert_eq!(snap.header().reason, "manual");
    assert_eq!(snap.header().pid, std::process::id());
    let events: Vec<_> = snap.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(events.len(), 43);
    assert!(events.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    let routed: Vec<_> = events.iter().filter(|e| &*e.message == "order routed").collect();
    assert_eq!(routed.len(), 40);
    let mut orders: Vec<u64> = routed
        .iter()
        .map(|e| match e.field("order") {
            Some(Value::U64(v)) => *v,
            other => panic!("{other:?}"),
        })
        .collect();
    orders.sort();
    assert_eq!(orders, (0..40).collect::<Vec<_>>());
    assert!(routed.iter().all(|e| e.field("venue") == Some(&Value::Str("XNAS".into()))));
    let mixed = events.iter().find(|e| &*e.message == "mixed values").unwrap();
    assert_eq!(mixed.level, Level::Debug);
    assert_eq!(mixed.field("neg"), Some(&Value::I64(-5)));
    assert_eq!(mixed.field("flag"), Some(&Value::Bool(true)));
    assert_eq!(events.iter().find(|e| &*e.message == "gave up").unwrap().level, Level::Error);
    let other = events.iter().find(|e| &*e.message == "from another thread").unwrap();
    assert_ne!(other.thread_id, routed[0].thread_id);
    assert!(snap.threads().len() >= 2);
    // The columnar view holds the same call sites.
    let cols = snap.decode_chunk(0).unwrap();
    assert_eq!(cols.len(), 43);
    assert!(cols.callsites.iter().all(|&c| snap.callsite(c).is_some()));
}
