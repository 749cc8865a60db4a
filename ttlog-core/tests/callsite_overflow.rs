//! Past the id space (2^22 - 1 call sites): a static call site registered
//! there gets no id of its own, its events are counted as dropped
//! (`callsite_overflow`), and a filter change still reaches it.
//!
//! One test in its own process: it fills the process-wide registry.

use ttlog_core::{Filter, Kind, Level, Trace, info};

/// Ids run from 1 to 2^22 - 1 (22 bits in a record header).
const MAX_CALLSITE_ID: u32 = (1 << 22) - 1;

#[inline(never)]
fn log_late() {
    info!(target: "late", "logged by a call site registered past the id space", n = 1u64);
}

#[test]
fn a_call_site_past_the_id_space_is_counted_and_follows_filter_changes() {
    let trace = Trace::builder()
        .service("callsite-overflow")
        .filter("info,late=off")
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .unwrap();

    // Fill the id space with dynamic call sites (what the bridges register).
    let fields: &[(&str, Kind)] = &[];
    let mut last = 0;
    loop {
        let id = ttlog_core::register_dynamic(Level::Info, "filler", "m", "f.rs", 1, "m", fields);
        if id > MAX_CALLSITE_ID {
            break;
        }
        last = id;
    }
    assert_eq!(last, MAX_CALLSITE_ID, "every id handed out once, in order");

    // Registered past the id space while its target is filtered out: neither
    // recorded nor counted (a disabled event is not a lost one).
    log_late();
    assert_eq!(trace.metrics().dropped.callsite_overflow, 0);

    // Enabled by a filter change: its events are lost for want of an id, and
    // each is counted.
    ttlog_core::set_filter(Filter::new(Level::Info));
    log_late();
    log_late();
    assert_eq!(trace.metrics().dropped.callsite_overflow, 2);
    assert!(trace.events().iter().all(|e| &*e.target != "late"));

    // And disabled again.
    ttlog_core::set_filter("info,late=off".parse().unwrap());
    log_late();
    assert_eq!(trace.metrics().dropped.callsite_overflow, 2);
}
