//! Per-call-site rate limits end to end: declared on a statement
//! (`limit: N / s`) or by a filter rule (`target=level@N/s`), events over
//! the limit not written but counted per call site, the counts in the
//! snapshot's call-site table; the same rules for events from `tracing`
//! (and from `log`: `bridge_log.rs`).

use ttlog_core::snapshot::Snapshot;
use ttlog_core::{RateLimitInfo, Trace, info, warn};

/// The call site whose message is `message`, from a snapshot written now.
fn snapshot_site(trace: &Trace, message: &str) -> (usize, Option<RateLimitInfo>) {
    let path = trace.request_snapshot("limits").unwrap();
    let snap = Snapshot::open(&path).unwrap();
    assert!(snap.is_complete(), "{:?}", snap.problems());
    let site = snap.callsites().iter().find(|c| &*c.message == message).cloned();
    let written = snap.events().filter_map(Result::ok).filter(|e| &*e.message == message).count();
    std::fs::remove_file(path).unwrap();
    (written, site.and_then(|s| s.rate_limit))
}

#[test]
fn limits_declared_and_by_rule_write_at_most_n_a_second_and_count_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // A malformed rule is an error at install that names it and where it is.
    let err = Trace::builder().filter("info,net=warn@50").install().unwrap_err().to_string();
    assert!(err.contains("\"net=warn@50\"") && err.contains("at byte 5") && err.contains("N/s"), "{err}");

    let trace = Trace::builder()
        .service("limits")
        .filter("info,net::conn=warn@3/s,muted=info@0/s,loud=info@100000000/s,tr::conn=warn@3/s,tr::muted=info@0/s")
        .env_filter(false)
        .capacity_events(4096)
        .storage_path(dir.path())
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .unwrap();

    // Each loop takes well under a second, but may straddle a window
    // boundary: then at most twice the limit is written.
    for i in 0..200u64 {
        info!(limit: 5 / s, "declared", i);
        warn!(target: "net::conn", "by rule", i);
        info!(target: "muted", "silenced", i);
        info!(target: "loud", "above the ring", i);
        info!("unlimited", i);
    }
    let (declared, limit) = snapshot_site(&trace, "declared");
    let limit = limit.expect("a declared limit is in the snapshot");
    assert_eq!(limit.per_second, Some(5));
    assert!((5..=10).contains(&declared), "{declared}");
    assert_eq!(declared as u64 + limit.suppressed, 200, "every event written or counted");

    let (by_rule, limit) = snapshot_site(&trace, "by rule");
    let limit = limit.expect("a rule's limit is in the snapshot");
    assert_eq!(limit.per_second, Some(3));
    assert!((3..=6).contains(&by_rule), "{by_rule}");
    assert_eq!(by_rule as u64 + limit.suppressed, 200);

    assert_eq!(snapshot_site(&trace, "silenced"), (0, Some(RateLimitInfo { per_second: Some(0), suppressed: 200 })));
    // A limit above what a ring holds is no limit, and costs nothing.
    let (loud, limit) = snapshot_site(&trace, "above the ring");
    assert_eq!((loud, limit.and_then(|l| (l.suppressed > 0).then_some(l))), (200, None));
    assert_eq!(snapshot_site(&trace, "unlimited"), (200, None));

    // Events from `tracing` follow the same rules, per statement.
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(ttlog_core::layer());
    let from_tracing = || {
        for i in 0..200u64 {
            tracing::warn!(target: "tr::conn", i, "tracing by rule");
            tracing::info!(target: "tr::muted", i, "tracing silenced");
            tracing::info!(target: "tr::free", i, "tracing unlimited");
        }
    };
    tracing::subscriber::with_default(subscriber, from_tracing);
    let (by_rule, limit) = snapshot_site(&trace, "tracing by rule");
    let limit = limit.expect("a rule's limit on a tracing statement is in the snapshot");
    assert_eq!(limit.per_second, Some(3));
    assert!((3..=6).contains(&by_rule), "{by_rule}");
    assert_eq!(by_rule as u64 + limit.suppressed, 200, "every event written or counted");
    assert_eq!(
        snapshot_site(&trace, "tracing silenced"),
        (0, Some(RateLimitInfo { per_second: Some(0), suppressed: 200 }))
    );
    assert_eq!(snapshot_site(&trace, "tracing unlimited"), (200, None));

    // A filter change moves a rule's limit at once; the count stays.
    trace.set_filter("info,muted=info").unwrap();
    info!(target: "muted", "silenced", i = 0u64);
    let (written, limit) = snapshot_site(&trace, "silenced");
    assert_eq!((written, limit), (1, Some(RateLimitInfo { per_second: None, suppressed: 200 })));
    let subscriber = tracing_subscriber::registry().with(ttlog_core::layer());
    tracing::subscriber::with_default(subscriber, || tracing::info!(target: "tr::muted", i = 0u64, "tracing silenced"));
    let (written, limit) = snapshot_site(&trace, "tracing silenced");
    assert_eq!((written, limit), (1, Some(RateLimitInfo { per_second: None, suppressed: 200 })));
    assert_eq!(ttlog_core::filter().limit_for("net::conn"), None);
    assert_eq!(ttlog_core::filter().to_string(), "info,muted=info");
}
