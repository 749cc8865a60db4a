//! `bridges`: what a `tracing` or `log` user pays per event with TTLog,
//! beside what `tracing` and `log` cost on their own, in one run.
//!
//! ```text
//! cargo run --release -p ttlog-bench --bin bridges            # about a minute
//! cargo run --release -p ttlog-bench --bin bridges -- --quick # about 15 s
//! ```
//!
//! Every case logs the same event from one thread: a message and three
//! fields, `qty` (`u64`), `price` (`f64`) and `symbol` (a short `&str`),
//! values passed through [`black_box`]. Loggers install themselves for the
//! whole process, so the binary re-runs itself once per case (`--case NAME`,
//! which prints one line of figures), one after the other, and prints a
//! markdown table and the targets of issue 19 with PASS or MISS.
//!
//! Figures per case: the median per event of [`measure::BATCH`]-event
//! batches; per call (each call timed alone between two fenced `rdtsc`
//! reads, minus the median empty pair) the median, p99 and p99.9; heap
//! allocations per event; and the same statement one level below the
//! enabled one (`debug!` with the level at info), written inline in the
//! measuring loop, as the median loop mean minus the median mean of the same
//! loop with an empty body.
//!
//! The peers: `tracing`'s registry with a layer that does nothing (what
//! `tracing` itself costs to build and dispatch an event), with a layer that
//! reads every field and keeps nothing (the least a layer that records
//! values pays), and with `tracing-subscriber`'s `fmt` layer writing to
//! `io::sink()`; `log` with a logger that does nothing.
//!
//! Exit codes: 0 on success (whether or not targets are met), 1 when a
//! measurement failed, 2 for a usage error.

#[allow(dead_code)]
#[path = "../hot_path/measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::{Command, ExitCode, Stdio};
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOCATOR: measure::CountingAlloc = measure::CountingAlloc;

const USAGE: &str = "\
usage: bridges [--quick]
       bridges --case NAME [--quick]

  --quick      a short run (about 10x fewer calls)
  --case NAME  measure one case in this process and print its figures on
               one line (what the full run does once per case)";

/// What starts a report line in a child's standard output.
const LINE_PREFIX: &str = "@ttlog-bench-bridges";

/// One measured path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// `ttlog_core::info!`, the native macro.
    Core,
    /// `tracing::info!` into the registry and a layer that does nothing.
    TracingNoop,
    /// The same inside an entered span with two fields.
    TracingNoopSpan,
    /// `tracing::info!` into a layer that reads every field.
    TracingRead,
    /// `tracing::info!` into `ttlog_core::layer()`.
    TracingTtlog,
    /// The same inside an entered span with two fields.
    TracingTtlogSpan,
    /// `tracing::info!` into `tracing_subscriber::fmt` writing to `io::sink`.
    TracingFmt,
    /// `log::info!` with key-values into a logger that does nothing.
    LogNoop,
    /// The same into a logger that reads every value.
    LogRead,
    /// The same into `ttlog_core::log_bridge`.
    LogTtlog,
}

impl Case {
    const ALL: [Case; 10] = [
        Case::Core,
        Case::TracingNoop,
        Case::TracingNoopSpan,
        Case::TracingRead,
        Case::TracingTtlog,
        Case::TracingTtlogSpan,
        Case::TracingFmt,
        Case::LogNoop,
        Case::LogRead,
        Case::LogTtlog,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Core => "core",
            Case::TracingNoop => "tracing-noop",
            Case::TracingNoopSpan => "tracing-noop-span",
            Case::TracingRead => "tracing-read",
            Case::TracingTtlog => "tracing-ttlog",
            Case::TracingTtlogSpan => "tracing-ttlog-span",
            Case::TracingFmt => "tracing-fmt",
            Case::LogNoop => "log-noop",
            Case::LogRead => "log-read",
            Case::LogTtlog => "log-ttlog",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Case::Core => "`ttlog_core::info!` (native macro)",
            Case::TracingNoop => "`tracing::info!` → registry + a layer that does nothing",
            Case::TracingNoopSpan => "… inside an entered span with two fields",
            Case::TracingRead => "`tracing::info!` → registry + a layer that only reads the fields",
            Case::TracingTtlog => "`tracing::info!` → registry + `ttlog_core::layer()`",
            Case::TracingTtlogSpan => "… inside an entered span with two fields",
            Case::TracingFmt => "`tracing::info!` → registry + `fmt` layer (to `io::sink`)",
            Case::LogNoop => "`log::info!` with key-values → a logger that does nothing",
            Case::LogRead => "`log::info!` with key-values → a logger that only reads the values",
            Case::LogTtlog => "`log::info!` with key-values → `ttlog_core::log_bridge`",
        }
    }

    fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One case's figures (ns unless said otherwise; NaN where not measured).
#[derive(Debug, Clone, Copy)]
struct Figures {
    batch_p50: f64,
    call_p50: f64,
    call_p99: f64,
    call_p999: f64,
    /// Disabled statement inline, loop mean minus the empty loop's.
    disabled: f64,
    /// The empty loop's mean itself.
    empty_loop: f64,
    allocs_per_event: f64,
    /// 1 if the event was seen recorded (ttlog cases), NaN otherwise.
    recorded: f64,
}

impl Figures {
    fn to_line(self) -> String {
        let f = [
            self.batch_p50,
            self.call_p50,
            self.call_p99,
            self.call_p999,
            self.disabled,
            self.empty_loop,
            self.allocs_per_event,
            self.recorded,
        ];
        let mut s = String::from(LINE_PREFIX);
        for v in f {
            let _ = write!(s, " {v}");
        }
        s
    }

    fn from_line(line: &str) -> Result<Figures, String> {
        let rest = line.strip_prefix(LINE_PREFIX).ok_or("not a report line")?;
        let v: Vec<f64> = rest
            .split_whitespace()
            .map(|x| x.parse().map_err(|e| format!("bad value {x:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let [batch_p50, call_p50, call_p99, call_p999, disabled, empty_loop, allocs_per_event, recorded] = v[..] else {
            return Err(format!("expected 8 values, got {}", v.len()));
        };
        Ok(Figures { batch_p50, call_p50, call_p99, call_p999, disabled, empty_loop, allocs_per_event, recorded })
    }
}

/// How many calls each step makes.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    warm_up: u64,
    per_call: usize,
    batches: usize,
    disabled_chunks: usize,
    allocs: u64,
}

impl Sizes {
    fn new(case: Case, quick: bool) -> Sizes {
        // The fmt layer takes ~1 µs a call: fewer calls.
        let slow = case == Case::TracingFmt;
        let full = Sizes {
            warm_up: 100_000,
            per_call: if slow { 300_000 } else { 2_000_000 },
            batches: if slow { 30_000 } else { 200_000 },
            disabled_chunks: 1_000,
            allocs: 100_000,
        };
        if quick {
            Sizes {
                per_call: full.per_call / 10,
                batches: full.batches / 10,
                disabled_chunks: full.disabled_chunks / 10,
                ..full
            }
        } else {
            full
        }
    }
}

/// Measures `enabled` and the inline `disabled` statement.
fn measure<E: Fn(), D: Fn() + Copy>(sizes: Sizes, enabled: E, disabled: D) -> Figures {
    let timer = measure::Timer::start();
    for _ in 0..sizes.warm_up {
        enabled();
    }
    let ([empty, _, per_call], _) = measure::per_call_interleaved(sizes.per_call, || {}, &enabled);
    let (batches, _) = measure::batched(sizes.batches, &enabled);
    let before = measure::allocations();
    measure::loop_mean(sizes.allocs, &enabled);
    let allocs_per_event = (measure::allocations() - before) as f64 / sizes.allocs as f64;
    // The loop with an empty body and with the disabled statement, chunks
    // taking turns so that load weighs on both alike.
    let (mut empty_means, mut disabled_means) = (Vec::new(), Vec::new());
    for _ in 0..sizes.disabled_chunks.div_ceil(10) {
        empty_means.push(measure::chunked_mean(10, 100_000, || black_box(())));
        disabled_means.push(measure::chunked_mean(10, 100_000, disabled));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_unstable_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (empty_loop, disabled_loop) = (median(empty_means), median(disabled_means));

    let ns_per_tick = timer.ns_per_tick();
    let overhead = measure::median_ticks(&empty);
    let call = measure::percentiles(per_call, overhead, ns_per_tick, 1);
    let batch = measure::percentiles(batches, overhead, ns_per_tick, measure::BATCH);
    Figures {
        batch_p50: batch.p50,
        call_p50: call.p50,
        call_p99: call.p99,
        call_p999: call.p999,
        disabled: disabled_loop - empty_loop,
        empty_loop,
        allocs_per_event,
        recorded: f64::NAN,
    }
}

/// A layer that does nothing: `tracing`'s own cost per event.
struct Noop;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}

/// A layer that reads every field of every event and keeps nothing: numbers
/// taken as they come, text and the message formatted into a writer that
/// discards them. The least a layer that records values pays.
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
        let _ = write!(self, "{value:?}");
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ReadOnly {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut d = Discard(0);
        event.record(&mut d);
        black_box(d.0);
    }
}

/// A `log` logger that does nothing: `log`'s own cost per record.
struct NoopLogger;

impl log::Log for NoopLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        black_box(record);
    }
    fn flush(&self) {}
}

static NOOP_LOGGER: NoopLogger = NoopLogger;

/// A `log` logger that reads the message and every key-value of every
/// record and keeps nothing: the least a logger that records values pays.
struct ReadLogger;

impl<'kvs> log::kv::VisitSource<'kvs> for Discard {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, value: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        self.0 = self.0.wrapping_add(key.as_str().len() as u64);
        if let Some(n) = value.to_u64() {
            self.0 = self.0.wrapping_add(n);
        } else if let Some(x) = value.to_f64() {
            self.0 = self.0.wrapping_add(x.to_bits());
        } else if let Some(text) = value.to_borrowed_str() {
            self.0 = self.0.wrapping_add(text.len() as u64);
        } else {
            let _ = write!(self, "{value}");
        }
        Ok(())
    }
}

impl log::Log for ReadLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut d = Discard(0);
        match record.args().as_str() {
            Some(text) => d.0 = text.len() as u64,
            None => {
                let _ = write!(d, "{}", record.args());
            }
        }
        let _ = record.key_values().visit(&mut d);
        black_box(d.0);
    }
    fn flush(&self) {}
}

static READ_LOGGER: ReadLogger = ReadLogger;

fn install_ttlog() -> Result<ttlog_core::Trace, String> {
    ttlog_core::Trace::builder()
        .service("ttlog-bench-bridges")
        .capacity_events(16_384)
        .env_filter(false)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .map_err(|e| format!("installing ttlog-core: {e}"))
}

fn tracing_enabled() {
    tracing::info!(
        qty = black_box(1000u64),
        price = black_box(150.25f64),
        symbol = black_box("AAPL"),
        "Trade executed"
    );
}

#[inline(always)]
fn tracing_disabled() {
    tracing::debug!(
        qty = black_box(1000u64),
        price = black_box(150.25f64),
        symbol = black_box("AAPL"),
        "Trade executed"
    );
}

fn log_enabled() {
    log::info!(qty = black_box(1000u64), price = black_box(150.25f64), symbol = black_box("AAPL"); "Trade executed");
}

#[inline(always)]
fn log_disabled() {
    log::debug!(qty = black_box(1000u64), price = black_box(150.25f64), symbol = black_box("AAPL"); "Trade executed");
}

/// Whether ttlog recorded the event with its values.
fn recorded(trace: &ttlog_core::Trace) -> f64 {
    let ok = trace.events().last().is_some_and(|e| {
        &*e.message == "Trade executed"
            && e.field("qty") == Some(&ttlog_core::Value::U64(1000))
            && e.field("price") == Some(&ttlog_core::Value::F64(150.25))
            && e.field("symbol").is_some()
    }) && trace.metrics().dropped.total() == 0;
    f64::from(u8::from(ok))
}

/// Installs what `case` needs, measures, and returns the figures. Once per
/// process.
fn run(case: Case, quick: bool) -> Result<Figures, String> {
    let sizes = Sizes::new(case, quick);
    let in_span = matches!(case, Case::TracingNoopSpan | Case::TracingTtlogSpan);
    match case {
        Case::Core => {
            let trace = install_ttlog()?;
            #[inline(always)]
            fn disabled() {
                ttlog_core::debug!(
                    "Trade executed",
                    qty = black_box(1000u64),
                    price = black_box(150.25f64),
                    symbol = black_box("AAPL")
                );
            }
            let enabled = || {
                ttlog_core::info!(
                    "Trade executed",
                    qty = black_box(1000u64),
                    price = black_box(150.25f64),
                    symbol = black_box("AAPL")
                );
            };
            let mut f = measure(sizes, enabled, disabled);
            f.recorded = recorded(&trace);
            Ok(f)
        }
        Case::TracingNoop | Case::TracingNoopSpan | Case::TracingRead | Case::TracingFmt => {
            // The level at info, as a service sets it (the ttlog layer takes
            // it from its filter).
            let registry = tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO);
            let set = match case {
                Case::TracingRead => tracing::subscriber::set_global_default(registry.with(ReadOnly)),
                Case::TracingFmt => tracing::subscriber::set_global_default(
                    registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::sink).with_ansi(false)),
                ),
                _ => tracing::subscriber::set_global_default(registry.with(Noop)),
            };
            set.map_err(|e| format!("installing tracing: {e}"))?;
            let span = if in_span {
                tracing::info_span!("request", id = 42u64, route = "/orders")
            } else {
                tracing::Span::none()
            };
            let _entered = span.enter();
            Ok(measure(sizes, tracing_enabled, tracing_disabled))
        }
        Case::TracingTtlog | Case::TracingTtlogSpan => {
            let trace = install_ttlog()?;
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(ttlog_core::layer()))
                .map_err(|e| format!("installing tracing: {e}"))?;
            let span = if in_span {
                tracing::info_span!("request", id = 42u64, route = "/orders")
            } else {
                tracing::Span::none()
            };
            let _entered = span.enter();
            let mut f = measure(sizes, tracing_enabled, tracing_disabled);
            f.recorded = recorded(&trace);
            Ok(f)
        }
        Case::LogNoop | Case::LogRead => {
            let logger: &'static dyn log::Log = if case == Case::LogRead { &READ_LOGGER } else { &NOOP_LOGGER };
            log::set_logger(logger).map_err(|e| format!("installing the logger: {e}"))?;
            log::set_max_level(log::LevelFilter::Info);
            Ok(measure(sizes, log_enabled, log_disabled))
        }
        Case::LogTtlog => {
            let trace = install_ttlog()?;
            ttlog_core::log_bridge::init().map_err(|e| format!("installing the log bridge: {e}"))?;
            let mut f = measure(sizes, log_enabled, log_disabled);
            f.recorded = recorded(&trace);
            Ok(f)
        }
    }
}

fn main() -> ExitCode {
    let mut quick = false;
    let mut case = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--case" => match args.next().as_deref().map(|n| (n.to_owned(), Case::from_name(n))) {
                Some((_, Some(c))) => case = Some(c),
                Some((n, None)) => return usage(&format!("unknown case {n:?}")),
                None => return usage("--case needs a name"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let result = match case {
        Some(case) => run(case, quick).map(|f| println!("{}", f.to_line())),
        None => run_all(quick),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridges: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("bridges: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Runs every case in a child process, one at a time, and prints the report.
fn run_all(quick: bool) -> Result<(), String> {
    if cfg!(debug_assertions) {
        eprintln!("bridges: this is a debug build; its figures mean nothing (add --release)");
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let mut figures = Vec::new();
    for case in Case::ALL {
        eprint!("measuring {} ... ", case.name());
        let t = std::time::Instant::now();
        let mut cmd = Command::new(&exe);
        cmd.args(["--case", case.name()]).stdin(Stdio::null());
        if quick {
            cmd.arg("--quick");
        }
        let out = cmd.output().map_err(|e| format!("starting the {} child: {e}", case.name()))?;
        if !out.status.success() {
            return Err(format!(
                "the {} child failed ({}):\n{}",
                case.name(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with(LINE_PREFIX))
            .ok_or_else(|| format!("the {} child printed no report line", case.name()))?;
        figures.push((case, Figures::from_line(line)?));
        eprintln!("{:.1} s", t.elapsed().as_secs_f64());
    }
    print!("{}", render(&figures, quick));
    Ok(())
}

fn ns(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn render(figures: &[(Case, Figures)], quick: bool) -> String {
    let get = |c: Case| figures.iter().find(|(k, _)| *k == c).map(|(_, f)| *f).expect("every case measured");
    let mut s = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(
        s,
        "one thread; message + qty: u64, price: f64, symbol: &str; each case in its own process; {cpus} CPUs{}\n",
        if quick { "; --quick" } else { "" }
    );
    let _ = writeln!(
        s,
        "| path | per event, {}-event batches (median) | per call p50 | p99 | p99.9 | disabled, minus the empty loop | allocations per event |",
        measure::BATCH
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (case, f) in figures {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            case.label(),
            ns(f.batch_p50),
            ns(f.call_p50),
            ns(f.call_p99),
            ns(f.call_p999),
            ns(f.disabled),
            f.allocs_per_event
        );
    }
    let (noop, noop_span, read) = (get(Case::TracingNoop), get(Case::TracingNoopSpan), get(Case::TracingRead));
    let (layer, layer_span, fmt) = (get(Case::TracingTtlog), get(Case::TracingTtlogSpan), get(Case::TracingFmt));
    let (log_noop, bridge, core) = (get(Case::LogNoop), get(Case::LogTtlog), get(Case::Core));
    let log_read = get(Case::LogRead);
    let _ = writeln!(s, "\n(the empty loop itself: {} ns per iteration)\n", ns(core.empty_loop));
    let pass = |ok: bool| if ok { "PASS" } else { "MISS" };
    let ratio = |a: f64, b: f64| a / b;
    let _ = writeln!(s, "| target (issue 19) | measured | result |");
    let _ = writeln!(s, "| --- | --- | --- |");
    let rows = [
        (
            "layer p50 ≤ 3× the no-op layer's dispatch".to_owned(),
            format!(
                "{} ns = {:.1}× ({:.1}× a layer that only reads the fields; fmt {:.0}×)",
                ns(layer.batch_p50),
                ratio(layer.batch_p50, noop.batch_p50),
                ratio(read.batch_p50, noop.batch_p50),
                ratio(fmt.batch_p50, noop.batch_p50)
            ),
            layer.batch_p50 <= 3.0 * noop.batch_p50,
        ),
        ("layer p99.9 ≤ 200 ns".to_owned(), format!("{} ns", ns(layer.call_p999)), layer.call_p999 <= 200.0),
        (
            "layer in a span with two fields ≤ 5× the no-op layer's".to_owned(),
            format!("{} ns = {:.1}×", ns(layer_span.batch_p50), ratio(layer_span.batch_p50, noop_span.batch_p50)),
            layer_span.batch_p50 <= 5.0 * noop_span.batch_p50,
        ),
        (
            "log bridge ≤ 3× log's no-op logger".to_owned(),
            format!(
                "{} ns = {:.1}× ({:.1}× a logger that only reads the values)",
                ns(bridge.batch_p50),
                ratio(bridge.batch_p50, log_noop.batch_p50),
                ratio(log_read.batch_p50, log_noop.batch_p50)
            ),
            bridge.batch_p50 <= 3.0 * log_noop.batch_p50,
        ),
        (
            "disabled `debug!` ≤ 0.5 ns over an empty loop (from another crate)".to_owned(),
            format!("{} ns", ns(core.disabled)),
            core.disabled <= 0.5,
        ),
        (
            "layer's disabled path (`tracing::debug!`)".to_owned(),
            format!("{} ns (no-op layer: {} ns)", ns(layer.disabled), ns(noop.disabled)),
            layer.disabled <= noop.disabled + 0.5,
        ),
        (
            "bridge's disabled path (`log::debug!`)".to_owned(),
            format!("{} ns (no-op logger: {} ns)", ns(bridge.disabled), ns(log_noop.disabled)),
            bridge.disabled <= log_noop.disabled + 0.5,
        ),
    ];
    for (what, measured, ok) in rows {
        let _ = writeln!(s, "| {what} | {measured} | {} |", pass(ok));
    }
    let not_recorded: Vec<&str> = figures.iter().filter(|(_, f)| f.recorded == 0.0).map(|(c, _)| c.name()).collect();
    if !not_recorded.is_empty() {
        let _ = writeln!(s, "\nwarning: not recorded as expected: {}", not_recorded.join(", "));
    }
    s
}
