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
//! level at Info), measured twice: written inline in the measuring loop, as
//! a statement sits in its caller's code (the figure the target is about),
//! and behind a function call, which adds the call and return.
//!
//! # During snapshots
//!
//! [`Job::Snapshots`] times the same ttlog-core call, one call at a time as
//! above, on the main thread while another thread writes snapshots back to
//! back (`Trace::request_snapshot` into a temporary directory), next to the
//! same timing without snapshots. Three more threads have filled their rings
//! and wait, so every snapshot copies, encodes, compresses and fsyncs four
//! full rings. The window without snapshots is split into two halves, one
//! before and one after, so that a change in the machine's load during the
//! run weighs on both columns alike.

use crate::measure::{
    self, BATCH, PROBE_BATCHES, PROBE_ROUNDS, Percentiles, TickHistogram, Timer, Window, percentiles,
};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    /// `ttlog-core` with its rings in 4 KiB pages (`Builder::huge_pages(false)`).
    CoreSmallPages,
    /// The original `ttlog` 0.1.21 from crates.io.
    Ttlog,
    /// `tracing` + `tracing-subscriber` fmt layer + `tracing-appender`
    /// non-blocking writer into `io::sink()`.
    Tracing,
}

impl Logger {
    /// Every logger, in the order they run.
    pub(crate) const ALL: [Logger; 5] =
        [Logger::Core, Logger::CorePersist, Logger::CoreSmallPages, Logger::Ttlog, Logger::Tracing];

    /// The name used on the command line (`--peer NAME`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Logger::Core => "ttlog-core",
            Logger::CorePersist => "ttlog-core-persist",
            Logger::CoreSmallPages => "ttlog-core-small-pages",
            Logger::Ttlog => "ttlog",
            Logger::Tracing => "tracing",
        }
    }

    /// How the logger is shown in the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Logger::Core => "ttlog-core",
            Logger::CorePersist => "ttlog-core, persistent rings",
            Logger::CoreSmallPages => "ttlog-core, rings in 4 KiB pages",
            Logger::Ttlog => "ttlog 0.1.21",
            Logger::Tracing => "tracing + fmt + non_blocking(sink)",
        }
    }

    /// The logger named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Logger> {
        Logger::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// What one child process measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Job {
    /// One logger's hot path.
    Logger(Logger),
    /// ttlog-core's hot path while another thread writes snapshots.
    Snapshots,
}

impl Job {
    /// The name used on the command line (`--peer NAME`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Job::Logger(l) => l.name(),
            Job::Snapshots => "snapshots",
        }
    }

    /// How the job is shown in progress messages.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Job::Logger(l) => l.label(),
            Job::Snapshots => "ttlog-core during snapshots",
        }
    }

    /// The job named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Job> {
        if name == Job::Snapshots.name() {
            return Some(Job::Snapshots);
        }
        Logger::from_name(name).map(Job::Logger)
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
        let fast = matches!(logger, Logger::Core | Logger::CorePersist | Logger::CoreSmallPages);
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
    /// One clock read (`rdtsc`), called through a function that is not
    /// inlined and timed alone per call exactly as the enabled calls are:
    /// median, p99, p99.9 (ns). The floor under any event that reads it.
    clock_p50,
    clock_p99,
    clock_p999,
    /// The same clock read in [`BATCH`]-read batches, per read: median (ns),
    /// to set beside the enabled call's batches.
    clock_batch_p50,
    /// The timer's step (see [`measure::timer_step`]), ns: single-call
    /// samples come in multiples of it.
    timer_step_ns,
    /// The same for `Instant::now()` (median, ns).
    instant_call_p50,
    /// Disabled statement written inline in the measuring loop, as in a
    /// caller's code, ns (median of loop means).
    disabled_ns,
    /// The same statement behind a function call the loop makes (its
    /// call and return included), ns (median of loop means).
    disabled_call_ns,
    /// Heap allocations per enabled call on the calling thread.
    allocs_per_event,
    /// Events per second, one thread and two threads (best of the rounds).
    tput1,
    tput2,
    /// The best [`measure::core_probe`] of the process: independent
    /// additions per cycle with the core to itself.
    core_best,
    /// Share of the per-call blocks, of the batched blocks, and of the
    /// throughput rounds that ran with the core shared (see
    /// [`measure::core_probe`]).
    call_shared,
    batch_shared,
    tput_shared,
    /// The figures above from the blocks (rounds) that ran with the core
    /// to themselves only: enabled call per call (median, p99, p99.9), the
    /// clock read per call (median, p99.9), per call in batches (the call,
    /// the clock read), throughput (NaN when every round was shared).
    u_call_p50,
    u_call_p99,
    u_call_p999,
    u_clock_p50,
    u_clock_p999,
    u_batch_p50,
    u_clock_batch_p50,
    u_tput1,
    u_tput2,
    /// Ring bytes per event (ttlog-core only).
    bytes_per_event,
    /// 1 if the logger demonstrably recorded the event, 0 if not, NaN if not checked.
    recorded,
    /// Lines the non-blocking writer dropped (tracing only).
    dropped_lines,
    /// [`Job::Snapshots`]: enabled call, per-call samples without snapshots:
    /// median, p99, p99.9, max (ns), and the samples taken.
    quiet_p50,
    quiet_p99,
    quiet_p999,
    quiet_max,
    quiet_samples,
    /// The same while another thread writes snapshots.
    snap_p50,
    snap_p99,
    snap_p999,
    snap_max,
    snap_samples,
    /// Share of the blocks of each window that ran with the core shared,
    /// and each window's p99.9 over the other blocks.
    quiet_shared,
    snap_shared,
    u_quiet_p999,
    u_snap_p999,
    /// Seconds each of the two windows lasted.
    snap_window_s,
    /// Seconds the producer spent on a CPU without snapshots, and during
    /// them (NaN where the system does not tell).
    quiet_cpu_s,
    snap_cpu_s,
    /// Seconds the snapshot thread spent on a CPU, until its last snapshot
    /// ends (just after the window: at most one snapshot more than the
    /// window holds, a small overestimate of its share).
    writer_cpu_s,
    /// Snapshots written during the window.
    snapshots,
    /// Mean time one `request_snapshot` took, ms.
    snapshot_ms,
    /// Events in the last snapshot written.
    snapshot_events,
    /// Bytes of the last snapshot written.
    snapshot_bytes,
    /// Part of the window during which a snapshot was being written (0 to 1).
    snapshot_busy,
}

/// Calls `f`, behind a call of its own that the compiler may not inline
/// (inside it, `f` itself is inlined).
#[inline(never)]
fn behind_a_call<F: Fn()>(f: F) {
    f();
}

/// Runs the measuring sequence on `enabled` calls and on a `disabled`
/// statement: `disabled` (a `fn` item marked `#[inline(always)]`) is inlined
/// into the measuring loop, and measured again [`behind_a_call`].
fn measure<E: Fn() + Sync, D: Fn() + Copy>(sizes: Sizes, enabled: &E, disabled: D) -> Report {
    let timer = Timer::start();
    let mut r = Report::default();

    let (rdtsc, instant) = measure::clock_costs(1_000);
    r.rdtsc_ns = rdtsc;
    r.instant_ns = instant;

    for _ in 0..sizes.warm_up {
        enabled();
    }

    let ([empty, clock, per_call], call_probes) = measure::per_call_interleaved(
        sizes.per_call,
        || {
            measure::read_tsc();
        },
        enabled,
    );
    let ([_, instant, _], _) = measure::per_call_interleaved(
        sizes.per_call / 10,
        || {
            measure::read_instant();
        },
        || {},
    );
    let (batches, batch_probes) = measure::batched(sizes.batches, enabled);
    let (clock_batches, clock_batch_probes) = measure::batched(sizes.batches, || {
        measure::read_tsc();
    });
    let step = measure::timer_step(10_000);

    let before = measure::allocations();
    measure::loop_mean(sizes.allocs, enabled);
    r.allocs_per_event = (measure::allocations() - before) as f64 / sizes.allocs as f64;

    r.disabled_ns = measure::chunked_mean(sizes.disabled_chunks, 100_000, disabled);
    r.disabled_call_ns = measure::chunked_mean(sizes.disabled_chunks, 100_000, || behind_a_call(disabled));

    // (rate, lowest probe) of each round.
    let mut rounds: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..sizes.rounds {
        rounds[0].push(measure::throughput(1, sizes.warm_up, sizes.per_thread, enabled));
        rounds[1].push(measure::throughput(2, sizes.warm_up, sizes.per_thread, enabled));
    }

    // The blocks that ran with the core to themselves, against the best
    // probe of the whole process (see `measure::core_probe`).
    let best = measure::best_probe(
        [&call_probes, &batch_probes, &clock_batch_probes]
            .iter()
            .flat_map(|p| p.0.iter().copied())
            .chain(rounds.iter().flatten().map(|&(_, probe)| probe)),
    );
    let (u_call, call_shared) = call_probes.unshared(&per_call, PROBE_ROUNDS, best);
    let (u_clock, _) = call_probes.unshared(&clock, PROBE_ROUNDS, best);
    let (u_batches, batch_shared) = batch_probes.unshared(&batches, PROBE_BATCHES, best);
    let (u_clock_batches, _) = clock_batch_probes.unshared(&clock_batches, PROBE_BATCHES, best);
    (r.core_best, r.call_shared, r.batch_shared) = (best, call_shared, batch_shared);

    let ns_per_tick = timer.ns_per_tick();
    r.ticks_per_ns = 1.0 / ns_per_tick;
    // The empty pair measured in the same window as the calls.
    let overhead = measure::median_ticks(&empty);
    r.timer_overhead_ns = overhead as f64 * ns_per_tick;
    r.call_samples = per_call.len() as f64;
    let pct = |samples: Vec<u32>, per: usize| {
        if samples.is_empty() { Percentiles::nan() } else { percentiles(samples, overhead, ns_per_tick, per) }
    };
    let p = pct(per_call, 1);
    (r.call_p50, r.call_p99, r.call_p999, r.call_max) = (p.p50, p.p99, p.p999, p.max);
    let c = pct(clock, 1);
    (r.clock_p50, r.clock_p99, r.clock_p999) = (c.p50, c.p99, c.p999);
    r.instant_call_p50 = pct(instant, 1).p50;
    let b = pct(batches, BATCH);
    (r.batch_p50, r.batch_p99, r.batch_p999) = (b.p50, b.p99, b.p999);
    r.clock_batch_p50 = pct(clock_batches, BATCH).p50;
    r.timer_step_ns = step as f64 * ns_per_tick;

    let p = pct(u_call, 1);
    (r.u_call_p50, r.u_call_p99, r.u_call_p999) = (p.p50, p.p99, p.p999);
    let c = pct(u_clock, 1);
    (r.u_clock_p50, r.u_clock_p999) = (c.p50, c.p999);
    r.u_batch_p50 = pct(u_batches, BATCH).p50;
    r.u_clock_batch_p50 = pct(u_clock_batches, BATCH).p50;

    let shared_round = |&(_, probe): &(f64, f64)| measure::is_shared(probe, best);
    let fastest = |rs: &[(f64, f64)], unshared_only: bool| {
        rs.iter().filter(|x| !unshared_only || !shared_round(x)).map(|&(rate, _)| rate).fold(f64::NAN, f64::max)
    };
    (r.tput1, r.tput2) = (fastest(&rounds[0], false), fastest(&rounds[1], false));
    (r.u_tput1, r.u_tput2) = (fastest(&rounds[0], true), fastest(&rounds[1], true));
    let all_rounds: Vec<_> = rounds.iter().flatten().collect();
    r.tput_shared = all_rounds.iter().filter(|x| shared_round(x)).count() as f64 / all_rounds.len().max(1) as f64;
    r
}

/// Installs the logger `job` needs, measures and returns the figures. Call
/// once per process.
pub(crate) fn run(job: Job, quick: bool) -> Result<Report, String> {
    let logger = match job {
        Job::Logger(logger) => logger,
        Job::Snapshots => return run_snapshots(quick),
    };
    let sizes = Sizes::new(logger, quick);
    match logger {
        Logger::Core => run_core(sizes, None, true),
        Logger::CoreSmallPages => run_core(sizes, None, false),
        Logger::CorePersist => {
            let dir = std::env::temp_dir().join(format!("ttlog-bench-persist-{}", std::process::id()));
            let r = run_core(sizes, Some(&dir), true);
            let _ = std::fs::remove_dir_all(&dir);
            r
        }
        Logger::Ttlog => run_ttlog(sizes),
        Logger::Tracing => run_tracing(sizes),
    }
}

fn run_core(sizes: Sizes, persist_dir: Option<&std::path::Path>, huge_pages: bool) -> Result<Report, String> {
    let mut builder =
        ttlog_core::Trace::builder().service("ttlog-bench").capacity_events(CAPACITY_EVENTS).huge_pages(huge_pages);
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
    // Written inline where the loop measures it (a closure would be a call).
    #[inline(always)]
    fn disabled() {
        ttlog_core::trace!(
            "Trade executed",
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64)
        );
    }

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
        && m.persistent_rings == usize::from(persist_dir.is_some())
        && m.huge_page_rings == usize::from(huge_pages && persist_dir.is_none() && cfg!(target_os = "linux"));

    let mut r = measure(sizes, &enabled, disabled);
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
    #[inline(always)]
    fn disabled() {
        trace!("Trade executed", symbol = black_box("AAPL"), qty = black_box(1000u64), price = black_box(150.25f64));
    }
    enabled();
    let recorded = !logger.snapshot_buffer.is_empty();

    let mut r = measure(sizes, &enabled, disabled);
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
    #[inline(always)]
    fn disabled() {
        tracing::trace!(
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64),
            "Trade executed"
        );
    }
    let mut r = measure(sizes, &enabled, disabled);
    r.dropped_lines = errors.dropped_lines() as f64;
    drop(guard);
    Ok(r)
}

/// Threads that fill their ring, then wait while the snapshots are taken.
pub(crate) const IDLE_THREADS: usize = 3;

/// Snapshot files kept in the temporary directory (retention).
const KEEP_FILES: usize = 2;

/// Measures the calling thread's time on a CPU (seconds, NaN where the
/// system does not tell).
#[derive(Debug)]
struct Cpu(Option<Duration>);

impl Cpu {
    fn start() -> Cpu {
        Cpu(measure::thread_on_cpu())
    }

    fn stop(self) -> f64 {
        match (self.0, measure::thread_on_cpu()) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => f64::NAN,
        }
    }
}

/// One snapshot the snapshot thread wrote.
#[derive(Debug)]
struct Written {
    start: Instant,
    end: Instant,
    path: PathBuf,
}

/// The [`Job::Snapshots`] measurement, in a temporary directory removed
/// afterwards.
fn run_snapshots(quick: bool) -> Result<Report, String> {
    let window = if quick { Duration::from_millis(600) } else { Duration::from_secs(4) };
    let dir = std::env::temp_dir().join(format!("ttlog-bench-snapshots-{}", std::process::id()));
    let result = snapshots_into(&dir, window);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn snapshots_into(dir: &Path, window: Duration) -> Result<Report, String> {
    let trace = ttlog_core::Trace::builder()
        .service("ttlog-bench")
        .capacity_events(CAPACITY_EVENTS)
        .storage_path(dir)
        .snapshot_on_signals(false)
        .snapshot_on_panic(false)
        .snapshot_interval(None)
        .snapshot_retention(ttlog_core::snapshot::Retention { max_files: Some(KEEP_FILES), max_bytes: None })
        .install()
        .map_err(|e| format!("installing ttlog-core: {e}"))?;
    let enabled = || {
        ttlog_core::info!(
            "Trade executed",
            symbol = black_box("AAPL"),
            qty = black_box(1000u64),
            price = black_box(150.25f64)
        );
    };
    let timer = Timer::start();
    let filled = Barrier::new(IDLE_THREADS + 1);
    let release = Barrier::new(IDLE_THREADS + 1);
    let stop = AtomicBool::new(false);

    let ((quiet, quiet_cpu), (during, during_cpu, start, end), (written, writer_cpu)) = std::thread::scope(|s| {
        for i in 0..IDLE_THREADS {
            let (filled, release) = (&filled, &release);
            std::thread::Builder::new()
                .name(format!("idle-{i}"))
                .spawn_scoped(s, move || {
                    for _ in 0..CAPACITY_EVENTS * 2 {
                        enabled();
                    }
                    filled.wait();
                    release.wait();
                })
                .expect("spawn a benchmark thread");
        }
        // The rest runs inside a closure so that the idle threads are
        // released however it ends.
        let measured = (|| {
            // Warm-up: the main ring full, then overwriting.
            for _ in 0..CAPACITY_EVENTS * 4 {
                enabled();
            }
            filled.wait();
            let mut quiet = Window::calibrate();
            let cpu = Cpu::start();
            measure::per_call_for(window / 2, &mut quiet, enabled);
            let mut quiet_cpu = cpu.stop();

            let writer = std::thread::Builder::new()
                .name("snapshots".into())
                .spawn_scoped(s, || {
                    let mut written: Vec<Written> = Vec::new();
                    let cpu = Cpu::start();
                    while !stop.load(Ordering::Relaxed) {
                        let start = Instant::now();
                        let path = trace.request_snapshot("bench").map_err(|e| format!("writing a snapshot: {e}"))?;
                        written.push(Written { start, end: Instant::now(), path });
                    }
                    Ok::<_, String>((written, cpu.stop()))
                })
                .map_err(|e| format!("spawning the snapshot thread: {e}"))?;
            let mut during = Window::calibrate();
            during.best = during.best.max(quiet.best);
            let start = Instant::now();
            let cpu = Cpu::start();
            measure::per_call_for(window, &mut during, enabled);
            let during_cpu = cpu.stop();
            let end = Instant::now();
            stop.store(true, Ordering::Relaxed);
            let written = writer.join().map_err(|_| "the snapshot thread panicked".to_owned())??;

            let cpu = Cpu::start();
            measure::per_call_for(window / 2, &mut quiet, enabled);
            quiet_cpu += cpu.stop();
            Ok::<_, String>(((quiet, quiet_cpu), (during, during_cpu, start, end), written))
        })();
        release.wait();
        measured
    })?;

    let last = &written.last().ok_or("no snapshot was written during the window")?.path;
    let snap = ttlog_core::snapshot::Snapshot::open(last).map_err(|e| format!("reading {}: {e}", last.display()))?;
    let events = snap.event_count();
    let main_events = snap
        .events()
        .filter_map(Result::ok)
        .filter(|e| e.thread_name.as_deref() == Some("main") && &*e.message == "Trade executed")
        .count();
    if !snap.problems().is_empty() || main_events == 0 {
        return Err(format!(
            "the last snapshot ({}) misses the main thread's events or is damaged: {:?}",
            last.display(),
            snap.problems()
        ));
    }

    let ns_per_tick = timer.ns_per_tick();
    let mut r = Report {
        ticks_per_ns: 1.0 / ns_per_tick,
        timer_overhead_ns: quiet.empty.median() as f64 * ns_per_tick,
        quiet_samples: quiet.calls.samples() as f64,
        snap_samples: during.calls.samples() as f64,
        quiet_shared: quiet.shared(),
        snap_shared: during.shared(),
        core_best: quiet.best.max(during.best),
        timer_step_ns: measure::timer_step(10_000) as f64 * ns_per_tick,
        snap_window_s: window.as_secs_f64(),
        quiet_cpu_s: quiet_cpu,
        snap_cpu_s: during_cpu,
        writer_cpu_s: writer_cpu,
        snapshots: written.len() as f64,
        snapshot_events: events as f64,
        snapshot_bytes: std::fs::metadata(last).map_or(f64::NAN, |m| m.len() as f64),
        clock_tsc: f64::from(u8::from(ttlog_core::Calibration::now().source == ttlog_core::ClockSource::Tsc)),
        ..Report::default()
    };
    let took: Duration = written.iter().map(|w| w.end - w.start).sum();
    r.snapshot_ms = took.as_secs_f64() * 1e3 / written.len() as f64;
    // The first snapshot starts a little before the window, the last ends
    // after it: count only the time inside.
    let inside: Duration = written.iter().map(|w| w.end.min(end).saturating_duration_since(w.start.max(start))).sum();
    r.snapshot_busy = inside.as_secs_f64() / (end - start).as_secs_f64();
    // Each window's calls minus the median empty pair of the same window.
    let (quiet_overhead, during_overhead) = (quiet.empty.median(), during.empty.median());
    let unshared_p999 = |h: TickHistogram, overhead: u64| {
        if h.samples() == 0 { f64::NAN } else { h.percentiles(overhead, ns_per_tick).p999 }
    };
    r.u_quiet_p999 = unshared_p999(quiet.unshared, quiet_overhead);
    r.u_snap_p999 = unshared_p999(during.unshared, during_overhead);
    let q = quiet.calls.percentiles(quiet_overhead, ns_per_tick);
    (r.quiet_p50, r.quiet_p99, r.quiet_p999, r.quiet_max) = (q.p50, q.p99, q.p999, q.max);
    let d = during.calls.percentiles(during_overhead, ns_per_tick);
    (r.snap_p50, r.snap_p99, r.snap_p999, r.snap_max) = (d.p50, d.p99, d.p999, d.max);
    Ok(r)
}
