//! Per-target filters on the macros' static call sites: directives from the
//! builder and from `TTLOG`, cached interest, and changes at run time.

use std::sync::{Mutex, MutexGuard, OnceLock};
use ttlog_core::{Level, Trace, debug, info, trace, warn};

fn trace() -> &'static Trace {
    static T: OnceLock<Trace> = OnceLock::new();
    T.get_or_init(|| {
        let env = std::env::var("TTLOG_FILTER_CHILD").is_ok();
        Trace::builder()
            .service("filter")
            .filter("info,db=debug,db::pool=trace,hyper=warn,noisy=off")
            .env_filter(env)
            .snapshot_on_signals(false)
            .snapshot_interval(None)
            .install()
            .unwrap()
    })
}

/// Tests that change the filter run one at a time.
fn lock() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn messages(prefix: &str) -> Vec<String> {
    trace()
        .events()
        .iter()
        .filter(|e| e.target.starts_with(prefix))
        .map(|e| format!("{}:{}", e.target, e.message))
        .collect()
}

#[test]
fn directives_pick_the_longest_matching_target() {
    if std::env::var("TTLOG_FILTER_CHILD").is_ok() {
        return;
    }
    trace();
    let _g = lock();
    trace!(target: "db::pool", "p-trace");
    trace!(target: "db::query", "q-trace");
    debug!(target: "db::query", "q-debug");
    debug!(target: "dbx", "dbx-debug");
    info!(target: "hyper::client", "h-info");
    warn!(target: "hyper::client", "h-warn");
    warn!(target: "noisy", "n-warn");
    info!(target: "other", "o-info");
    let all = [messages("db"), messages("hyper"), messages("noisy"), messages("other")].concat();
    assert_eq!(all, ["db::pool:p-trace", "db::query:q-debug", "hyper::client:h-warn", "other:o-info"]);
    assert_eq!(ttlog_core::level(), Level::Info);
    assert_eq!(ttlog_core::filter().max_level(), Some(Level::Trace));
}

#[test]
fn changing_the_filter_updates_every_cached_call_site() {
    if std::env::var("TTLOG_FILTER_CHILD").is_ok() {
        return;
    }
    trace();
    let _g = lock();
    let log = |i: u64| {
        info!(target: "svc::a", "a", i);
        info!(target: "svc::b", "b", i);
    };
    log(0);
    trace().set_filter("info,svc::a=warn").unwrap();
    log(1);
    // Another thread sees the new interest too.
    std::thread::spawn(move || log(2)).join().unwrap();
    ttlog_core::set_level(Level::Info);
    log(3);
    assert!(trace().set_filter("info,svc=loud").is_err());
    let got: Vec<String> = trace()
        .events()
        .iter()
        .filter(|e| e.target.starts_with("svc"))
        .map(|e| format!("{}{:?}", e.message, e.field("i").unwrap()))
        .collect();
    assert_eq!(got, ["aU64(0)", "bU64(0)", "bU64(1)", "bU64(2)", "aU64(3)", "bU64(3)"]);
    trace().set_filter("info,db=debug,db::pool=trace,hyper=warn,noisy=off").unwrap();
}

#[test]
fn the_ttlog_environment_variable_overrides_the_builder() {
    if std::env::var("TTLOG_FILTER_CHILD").is_ok() {
        // In the child: TTLOG=warn,db=trace.
        trace();
        assert_eq!(ttlog_core::filter().to_string(), "warn,db=trace");
        info!(target: "other", "hidden");
        trace!(target: "db", "shown");
        assert_eq!(messages("other").len() + messages("db").len(), 1);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_ttlog_environment_variable_overrides_the_builder", "--test-threads=1"])
        .env("TTLOG_FILTER_CHILD", "1")
        .env(ttlog_core::FILTER_ENV, "warn,db=trace")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("1 passed"), "{text}{}", String::from_utf8_lossy(&out.stderr));
}
