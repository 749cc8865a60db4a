//! The loggers under test and the one measuring sequence they all go
//! through. Each logger installs itself for the whole process, so each runs
//! in its own child process (see `main.rs`).
//!
//! # Workload
//!
//! One event with a message and three fields, `symbol` (a short `&str`),
//! `qty` (`u64`) and `price` (`f64`), from one thread. The values are passed
//! through [`black_box`] on every call so the compiler can neither fold nor
//! hoist them; they are the same on every call because `ttlog` 0.1.21 interns
//! each distinct set of field values (its ids are 16 bits), so varying values
//! would measure its interner filling up instead of its hot path. The disabled
//! event is the same call one level below the enabled one (`trace!` with the
//! level at Info).

use crate::measure::{self, BATCH, Timer, percentiles};
use std::hint::black_box;

/// Events per thread ring (ttlog-core) or in the snapshot buffer (ttlog).
pub(crate) const CAPACITY_EVENTS: usize = 16_384;

/// A logger under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logger {
    /// This workspace's `ttlog-core`.
    Core,
    /// `ttlog-core` with persistent rings (`Builder::persist_dir`): rings in
    /// memory-mapped files in the temporary directory.
    CorePersist,
    /// The original `ttlog` 0.1.21 from crates.io.
    Ttlog,
    /// `tracing` + `tracing-subscriber` fmt layer + `tracing-appender`
    /// non-blocking writer into `io::sink()`.
    Tracing,
}

impl Logger {
    /// Every logger, in the order they run.
    pub(crate) const ALL: [Logger; 4] = [Logger::Core, Logger::CorePersist, Logger::Ttlog, Logger::Tracing];

    /// The name used on the command line (`--peer NAME`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Logger::Core => "ttlog-core",
            Logger::CorePersist => "ttlog-core-persist",
            Logger::Ttlog => "ttlog",
            Logger::Tracing => "tracing",
        }
    }

    /// How the logger is shown in the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Logger::Core => "ttlog-core",
            Logger::CorePersist => "ttlog-core, persistent rings",
            Logger::Ttlog => "ttlog 0.1.21",
            Logger::Tracing => "tracing + fmt + non_blocking(sink)",
        }
    }

    /// The logger named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Logger> {
        Logger::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// How many calls each step makes.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    warm_up: u64,
    per_call: usize,
    batches: usize,
    /// Loops of 100 000 disabled calls.
    disabled_chunks: usize,
    allocs: u64,
    per_thread: u64,
    rounds: usize,
}

impl Sizes {
    fn new(logger: Logger, quick: bool) -> Sizes {
        // ttlog-core calls take ~10 ns, the peers' ~1 µs: the peers get fewer
        // calls so that the whole run stays well under two minutes.
        let fast = matches!(logger, Logger::Core | Logger::CorePersist);
        let full = Sizes {
            warm_up: if fast { 200_000 } else { 50_000 },
            per_call: if fast { 3_000_000 } else { 1_000_000 },
            batches: if fast { 200_000 } else { 30_000 },
            disabled_chunks: 2_000,
            allocs: if fast { 100_000 } else { 20_000 },
            per_thread: if fast { 5_000_000 } else { 200_000 },
            rounds: 5,
        };
        if quick {
            Sizes {
                per_call: full.per_call / 10,
                batches: full.batches / 10,
                disabled_chunks: full.disabled_chunks / 10,
                per_thread: full.per_thread / 10,
                rounds: 1,
                ..full
            }
        } else {
            full
        }
    }
}

/// One logger's figures, as a child process reports them to the parent on
/// one line of `key=value` pairs (all numbers; `NaN` where not measured).
macro_rules! report {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// One logger's figures.
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct Report {
            $($(#[$doc])* pub(crate) $field: f64,)*
        }

        impl Default for Report {
            fn default() -> Report {
                Report { $($field: f64::NAN,)* }
            }
        }

        impl Report {
            /// The line a child prints.
            pub(crate) fn to_line(self) -> String {
                let mut s = String::from(LINE_PREFIX);
                $(s.push_str(&format!(" {}={}", stringify!($field), self.$field));)*
                s
            }

            /// Parses a child's line.
            pub(crate) fn from_line(line: &str) -> Result<Report, String> {
                let rest = line.strip_prefix(LINE_PREFIX).ok_or("not a report line")?;
                let mut r = Report::default();
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').ok_or_else(|| format!("bad pair {pair:?}"))?;
                    let v: f64 = v.parse().map_err(|e| format!("bad value in {pair:?}: {e}"))?;
                    match k {
                        $(stringify!($field) => r.$field = v,)*
                        _ => return Err(format!("unknown key {k:?}")),
                    }
                }
                Ok(r)
            }
        }
    };
}

/// What starts a report line in a child's standard output (the loggers print
/// lines of their own there).
pub(crate) const LINE_PREFIX: &str = "@ttlog-bench";

report! {
    /// 1 if ttlog-core stamps events with the TSC, 0 for the monotonic clock.
    clock_tsc,
    /// One `rdtsc`, ns (median of loop means).
    rdtsc_ns,
    /// One `Instant::now()`, ns (median of loop means).
    instant_ns,
    /// One empty fenced timer pair, ns (subtracted from every sample).
    timer_overhead_ns,
    /// Timer ticks per ns.
    ticks_per_ns,
    /// Enabled call, per-call samples: median, p99, p99.9, max (ns).
    call_p50,
    call_p99,
    call_p999,
    call_max,
    /// Per-call samples taken.
    call_samples,
    /// Enabled call, 16-call batches, per call: median, p99, p99.9 (ns).
    batch_p50,
    batch_p99,
    batch_p999,
    /// Disabled call, ns (median of loop means).
    disabled_ns,
    /// Heap allocations per enabled call on the calling thread.
    allocs_per_event,
    /// Events per second, one thread and two threads (best of the rounds).
    tput1,
    tput2,
    /// Ring bytes per event (ttlog-core only).
    bytes_per_event,
    /// 1 if the logger demonstrably recorded the event, 0 if not, NaN if not checked.
    recorded,
    /// Lines the non-blocking writer dropped (tracing only).
    dropped_lines,
}

/// Runs the measuring sequence on `enabled` and `disabled` calls.
fn measure<E: Fn() + Sync, D: Fn()>(sizes: Sizes, enabled: &E, disabled: &D) -> Report {
    let timer = Timer::start(200_000);
    let mut r = Report::default();

    let (rdtsc, instant) = measure::clock_costs(1_000);
    r.rdtsc_ns = rdtsc;
    r.instant_ns = instant;

    for _ in 0..sizes.warm_up {
        enabled();
    }

    let per_call = measure::per_call(sizes.per_call, enabled);
    let batches = measure::batched(sizes.batches, enabled);

    let before = measure::allocations();
    measure::loop_mean(sizes.allocs, enabled);
    r.allocs_per_event = (measure::allocations() - before) as f64 / sizes.allocs as f64;

    r.disabled_ns = measure::chunked_mean(sizes.disabled_chunks, 100_000, disabled);

    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    for _ in 0..sizes.rounds {
        t1 = t1.max(measure::throughput(1, sizes.warm_up, sizes.per_thread, enabled));
        t2 = t2.max(measure::throughput(2, sizes.warm_up, sizes.per_thread, enabled));
    }
    r.tput1 = t1;
    r.tput2 = t2;

    let ns_per_tick = timer.ns_per_tick();
    r.ticks_per_ns = 1.0 / ns_per_tick;
    r.timer_overhead_ns = timer.overhead_ticks as f64 * ns_per_tick;
    r.call_samples = per_call.len() as f64;
    let p = percentiles(per_call, timer.overhead_ticks, ns_per_tick, 1);
    (r.call_p50, r.call_p99, r.call_p999, r.call_max) = (p.p50, p.p99, p.p999, p.max);
    let b = percentiles(batches, timer.overhead_ticks, ns_per_tick, BATCH);
    (r.batch_p50, r.batch_p99, r.batch_p999) = (b.p50, b.p99, b.p999);
    r
}

/// Installs `logger`, measures it and returns its figures. Call once per
/// process.
pub(crate) fn run(logger: Logger, quick: bool) -> Result<Report, String> {
    let sizes = Sizes::new(logger, quick);
    match logger {
        Logger::Core => run_core(sizes, None),
        Logger::CorePersist => {
            let dir = std::env::temp_dir().join(format!("ttlog-bench-persist-{}", std::process::id()));
            let r = run_core(sizes, Some(&dir));
            let _ = std::fs::remove_dir_all(&dir);
            r
        }
        Logger::Ttlog => run_ttlog(sizes),
        Logger::Tracing => run_tracing(sizes),
    }
}

fn run_core(sizes: Sizes, persist_dir: Option<&std::path::Path>) -> Result<Report, String> {
    let mut builder = ttlog_core::Trace::builder().service("ttlog-bench").capacity_events(CAPACITY_EVENTS);
    if let Some(dir) = persist_dir {
        builder = builder.persist_dir(dir);
    }
    let trace = builder.install().map_err(|e| format!("installing ttlog-core: {e}"))?;
    let enabled = || {
        ttlog_core::info!(
            "Trade executed",
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64)
        );
    };
    let disabled = || {
        ttlog_core::trace!(
            "Trade executed",
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64)
        );
    };

    // Fill the main thread's ring once, then read the ring size per event
    // while only this thread has logged.
    for _ in 0..CAPACITY_EVENTS * 2 {
        enabled();
    }
    let m = trace.metrics();
    let bytes_per_event = m.bytes_in_use as f64 / m.in_ring.max(1) as f64;
    let events = trace.events();
    let recorded = events.last().is_some_and(|e| {
        &*e.message == "Trade executed"
            && e.field("qty") == Some(&ttlog_core::Value::U64(1000))
            && e.field("symbol").is_some()
            && e.field("price").is_some()
    }) && m.dropped.total() == 0
        && m.persistent_rings == usize::from(persist_dir.is_some());

    let mut r = measure(sizes, &enabled, &disabled);
    r.bytes_per_event = bytes_per_event;
    r.recorded = f64::from(u8::from(recorded && trace.metrics().dropped.total() == 0));
    r.clock_tsc = f64::from(u8::from(ttlog_core::Calibration::now().source == ttlog_core::ClockSource::Tsc));
    Ok(r)
}

fn run_ttlog(sizes: Sizes) -> Result<Report, String> {
    use ttlog::ttlog_macros::{info, trace};

    let dir = std::env::temp_dir().join(format!("ttlog-bench-{}", std::process::id()));
    let dir_str = dir.to_str().ok_or("temporary directory is not UTF-8")?;
    let logger = ttlog::trace::Trace::init(CAPACITY_EVENTS, 1024, "ttlog-bench", Some(dir_str));
    // `init` leaves the level at WARN.
    logger.set_level(ttlog::event::LogLevel::INFO);

    let enabled = || {
        info!("Trade executed", symbol = black_box("AAPL"), qty = black_box(1000u64), price = black_box(150.25f64));
    };
    let disabled = || {
        trace!("Trade executed", symbol = black_box("AAPL"), qty = black_box(1000u64), price = black_box(150.25f64));
    };
    enabled();
    let recorded = !logger.snapshot_buffer.is_empty();

    let mut r = measure(sizes, &enabled, &disabled);
    r.recorded = f64::from(u8::from(recorded));
    // Dropping the logger would write a final snapshot of the buffer; the
    // process ends right after the report, so skip that.
    std::mem::forget(logger);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(r)
}

fn run_tracing(sizes: Sizes) -> Result<Report, String> {
    let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
    let errors = writer.error_counter();
    let subscriber =
        tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_max_level(tracing::Level::INFO).finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|e| format!("installing tracing: {e}"))?;

    let enabled = || {
        tracing::info!(
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64),
            "Trade executed"
        );
    };
    let disabled = || {
        tracing::trace!(
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64),
            "Trade executed"
        );
    };
    let mut r = measure(sizes, &enabled, &disabled);
    r.dropped_lines = errors.dropped_lines() as f64;
    drop(guard);
    Ok(r)
}
