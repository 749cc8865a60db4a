//! The optional periodic self-report: the recorder's counters as events.

use std::time::{Duration, Instant};
use ttlog_core::{Trace, Value, info};

#[test]
fn the_self_report_logs_the_counters_and_stops_at_shutdown() {
    let trace = Trace::builder()
        .service("self-report")
        .env_filter(false)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .self_report(Some(Duration::from_millis(10)))
        .install()
        .unwrap();
    for i in 0..5u64 {
        info!("work", i);
    }
    let start = Instant::now();
    let reports = loop {
        let r: Vec<_> =
            trace.events().into_iter().filter(|e| &*e.target == "ttlog" && &*e.message == "metrics").collect();
        if r.len() >= 2 {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no self-report");
        std::thread::sleep(Duration::from_millis(5));
    };
    let Some(Value::U64(logged)) = reports[1].field("logged") else { panic!("{:?}", reports[1]) };
    assert!(*logged >= 6, "the work and the first report: {logged}");
    for name in ["in_ring", "overwritten", "dropped", "snapshot_errors", "listener_missed"] {
        assert!(matches!(reports[1].field(name), Some(Value::U64(_))), "{name}");
    }
    assert_eq!(reports[0].thread_name.as_deref(), Some("ttlog-self-report"));
    trace.shutdown();
    let n = trace.metrics().logged;
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(trace.metrics().logged, n, "no report after shutdown");
}
