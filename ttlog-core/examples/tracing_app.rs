//! An application that logs through `tracing` only: one line adds TTLog
//! beside the usual `fmt` output, and every event — fields, spans, levels —
//! is in the flight recorder and the snapshot written at the end.
//!
//! ```sh
//! cargo run -p ttlog-core --example tracing_app
//! ```

use std::time::Duration;
use tracing::{debug, error, info, info_span, instrument, warn};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct Order {
    id: u64,
    symbol: &'static str,
    qty: u32,
}

#[instrument(fields(order.id = order.id))]
fn price(order: &Order) -> f64 {
    let px = 150.25 + (order.id % 7) as f64;
    debug!(symbol = order.symbol, px, "priced");
    px
}

fn execute(order: Order) -> Result<f64, String> {
    let span = info_span!("execute", symbol = order.symbol, qty = order.qty);
    let _enter = span.enter();
    let px = price(&order);
    if order.qty > 900 {
        warn!(qty = order.qty, limit = 900u32, "order above the limit, splitting");
    }
    if order.id.is_multiple_of(13) {
        error!(order = ?order, "venue rejected the order");
        return Err(format!("order {} rejected", order.id));
    }
    info!(notional = px * f64::from(order.qty), "Trade executed");
    Ok(px)
}

fn main() {
    let dir = std::env::temp_dir().join("ttlog-examples");
    let trace = ttlog_core::Trace::builder()
        .service("tracing-app")
        .filter("debug,tracing_app=trace")
        .storage_path(&dir)
        .snapshot_on_shutdown(true)
        .install()
        .expect("install the recorder");
    // The one line: TTLog's layer beside the fmt layer the app already had.
    tracing_subscriber::registry()
        .with(ttlog_core::layer())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();

    let handles: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("desk-{t}"))
                .spawn(move || {
                    info_span!("session", desk = t).in_scope(|| run_desk(t));
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for i in 0..3 {
        info!("tick {i}");
    }
    match trace.shutdown_with_snapshot() {
        Ok(Some(path)) => println!("snapshot: {}", path.display()),
        Ok(None) => println!("no snapshot written"),
        Err(e) => eprintln!("snapshot failed: {e}"),
    }
    println!("recorded {} events", trace.metrics().logged);
}

/// Runs a few orders of one desk.
fn run_desk(desk: u64) {
    for k in 0..10u64 {
        let id = desk * 100 + k;
        let symbol = ["AAPL", "MSFT", "NVDA"][(id % 3) as usize];
        let _ = execute(Order { id, symbol, qty: (id * 97 % 1000) as u32 });
        std::thread::sleep(Duration::from_millis(1));
    }
}
