//! Cost per event of the bridges, side by side with `tracing-subscriber`'s
//! `fmt` layer in the same run:
//!
//! ```sh
//! cargo run --release -p ttlog-core --features log --example bench_bridges
//! cargo run --release -p ttlog-core --features log --example bench_bridges -- "ttlog layer"   # some cases
//! ```
//!
//! Every case logs the same event, a message and three fields (u64, f64,
//! short text), from one thread, in batches of 1000, the cases taking turns
//! over several rounds so that load from other processes hits them alike;
//! the figures are the median and p99 of the per-batch mean, in ns per
//! event. The `fmt` layer
//! writes to `io::sink()` (formatting is all it pays: no I/O, no lock
//! contention), so it is the cheapest `fmt` can be.

use std::hint::black_box;
use std::time::Instant;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const BATCH: usize = 1000;
/// Rounds: every case runs once per round, so that load from other
/// processes hits all cases alike.
const ROUNDS: usize = 6;
const BATCHES_PER_ROUND: usize = 250;

/// Runs the measurement it is given around one event body.
type Runner = Box<dyn FnMut(&mut dyn FnMut(&mut dyn FnMut(u64)))>;
type Case = (&'static str, Runner);

/// Runs `body` on `BATCHES_PER_ROUND` batches and appends the per-event
/// time of each batch to `out`.
fn batches(out: &mut Vec<f64>, body: &mut dyn FnMut(u64)) {
    for i in 0..(BATCH * 20) as u64 {
        body(i);
    }
    let mut i = 0u64;
    for _ in 0..BATCHES_PER_ROUND {
        let start = Instant::now();
        for _ in 0..BATCH {
            body(i);
            i += 1;
        }
        out.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
}

/// A layer that records nothing: what `tracing` itself costs per event
/// (building the event, dispatching it to the registry and its layers).
struct Noop;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}

/// A layer that reads every field of every event and keeps nothing: the
/// least any layer pays to see an event's values through `tracing`'s
/// `Visit` (numbers taken as they come, text and the message formatted into
/// a writer that discards it).
struct ReadOnly;

struct Discard(u64);

impl std::fmt::Write for Discard {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 = self.0.wrapping_add(s.len() as u64);
        Ok(())
    }
}

impl tracing::field::Visit for Discard {
    fn record_u64(&mut self, _: &tracing::field::Field, value: u64) {
        self.0 = self.0.wrapping_add(value);
    }
    fn record_f64(&mut self, _: &tracing::field::Field, value: f64) {
        self.0 = self.0.wrapping_add(value.to_bits());
    }
    fn record_str(&mut self, _: &tracing::field::Field, value: &str) {
        self.0 = self.0.wrapping_add(value.len() as u64);
    }
    fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = std::fmt::Write::write_fmt(self, format_args!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ReadOnly {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut d = Discard(0);
        event.record(&mut d);
        black_box(d.0);
    }
}

fn main() {
    let trace = ttlog_core::Trace::builder()
        .service("bench-bridges")
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .env_filter(false)
        .install()
        .unwrap();
    #[cfg(feature = "log")]
    ttlog_core::log_bridge::init().unwrap();
    let ttlog = Dispatch::new(tracing_subscriber::registry().with(ttlog_core::layer()));
    let fmt = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink).with_ansi(false)),
    );
    let both = Dispatch::new(
        tracing_subscriber::registry()
            .with(ttlog_core::layer())
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink).with_ansi(false)),
    );
    fn under(d: &Dispatch, span: bool) -> Runner {
        let d = d.clone();
        Box::new(move |run| {
            tracing::dispatcher::with_default(&d, || {
                let s = if span {
                    tracing::info_span!("request", id = 42u64, route = "/orders")
                } else {
                    tracing::Span::none()
                };
                let _e = s.enter();
                run(&mut |i| tracing::info!(qty = black_box(i), price = 150.25, symbol = "AAPL", "Trade executed"));
            })
        })
    }
    let noop = Dispatch::new(tracing_subscriber::registry().with(Noop));
    let read_only = Dispatch::new(tracing_subscriber::registry().with(ReadOnly));
    let mut cases: Vec<Case> = vec![
        (
            "ttlog_core::info! (native macro)",
            Box::new(|run| {
                run(&mut |i| ttlog_core::info!("Trade executed", qty = black_box(i), price = 150.25, symbol = "AAPL"))
            }),
        ),
        ("tracing::info! + ttlog layer", under(&ttlog, false)),
        ("tracing::info! + ttlog layer, in a span", under(&ttlog, true)),
        ("tracing::info! + a layer that does nothing", under(&noop, false)),
        ("tracing::info! + a layer that does nothing, in a span", under(&noop, true)),
        ("tracing::info! + a layer that only reads the fields", under(&read_only, false)),
        ("tracing::info! + fmt layer (to io::sink)", under(&fmt, false)),
        ("tracing::info! + fmt layer (to io::sink), in a span", under(&fmt, true)),
        ("tracing::info! + ttlog layer + fmt layer", under(&both, false)),
        (
            "tracing::debug! + ttlog layer, disabled",
            Box::new({
                let d = ttlog.clone();
                move |run| {
                    tracing::dispatcher::with_default(&d, || {
                        run(&mut |i| tracing::debug!(qty = black_box(i), "disabled"))
                    })
                }
            }),
        ),
    ];
    #[cfg(feature = "log")]
    {
        cases.push((
            "log::info! + key-values, ttlog log bridge",
            Box::new(|run| {
                run(&mut |i| log::info!(qty = black_box(i), price = 150.25, symbol = "AAPL"; "Trade executed"))
            }),
        ));
        cases
            .push(("log::debug!, disabled", Box::new(|run| run(&mut |i| log::debug!(qty = black_box(i); "disabled")))));
    }
    // `bench_bridges TEXT` runs only the cases whose name contains TEXT;
    // `bench_bridges =NAME` only the case named NAME.
    let all = std::env::args().nth(1).is_none();
    if let Some(only) = std::env::args().nth(1) {
        match only.strip_prefix('=') {
            Some(exact) => cases.retain(|(name, _)| *name == exact),
            None => cases.retain(|(name, _)| name.contains(&only)),
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (k, (_, case)) in cases.iter_mut().enumerate() {
            let out = &mut times[k];
            case(&mut |body| batches(out, body));
        }
    }
    println!(
        "one thread, message + qty: u64, price: f64, symbol: &str; {ROUNDS} rounds x {BATCHES_PER_ROUND} batches of {BATCH} per case"
    );
    let mut medians = Vec::new();
    for ((name, _), t) in cases.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let (median, p99) = (t[t.len() / 2], t[t.len() * 99 / 100]);
        medians.push(median);
        println!("{name:<48} median {median:>7.1} ns/event   p99 of batches {p99:>7.1}");
    }
    if all {
        println!(
            "ttlog layer: {:.1}x cheaper than the fmt layer (median); +{:.0} ns over the native macro",
            medians[5] / medians[1],
            medians[1] - medians[0]
        );
    }
    let m = trace.metrics();
    println!("recorded {} events, {} dropped", m.logged, m.dropped.total());
}
