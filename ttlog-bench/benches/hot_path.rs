//! Criterion benchmarks of the ttlog-core hot path: one enabled event
//! (message + `u64`, `f64`, short `&str`) and the same event disabled.
//!
//! `cargo bench -p ttlog-bench`. The full side-by-side comparison with the
//! peers is the `hot_path` binary (see the README).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn hot_path(c: &mut Criterion) {
    let _trace = ttlog_core::Trace::builder()
        .service("ttlog-bench")
        .capacity_events(16_384)
        .install()
        .expect("no other recorder in this process");
    let mut group = c.benchmark_group("ttlog-core");
    group.bench_function("enabled", |b| {
        b.iter(|| {
            ttlog_core::info!(
                "Trade executed",
                symbol = black_box("AAPL"),
                qty = black_box(1000u64),
                price = black_box(150.25f64)
            );
        });
    });
    // `trace!` is below the default level (Info).
    group.bench_function("disabled", |b| {
        b.iter(|| {
            ttlog_core::trace!(
                "Trade executed",
                symbol = black_box("AAPL"),
                qty = black_box(1000u64),
                price = black_box(150.25f64)
            );
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = hot_path
}
criterion_main!(benches);
