//! The hot path in a loop, for instruction counting and profiling:
//! `valgrind --tool=callgrind target/release/examples/hot_loop 1000000`.
//! Prints the events it logged.

use std::hint::black_box;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let trace = ttlog_core::Trace::builder()
        .service("hot-loop")
        .capacity_events(16 * 1024)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("first install");
    for _ in 0..n {
        ttlog_core::info!(
            "Trade executed",
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25)
        );
    }
    println!("{}", trace.metrics().logged);
}
