//! The clock events are stamped with.
//!
//! On x86-64, when the kernel itself uses the time-stamp counter as its clock
//! source (so it has judged it invariant and synchronised across CPUs), or when
//! the CPU reports `constant_tsc` and `nonstop_tsc`, an event costs one
//! `rdtsc`. Otherwise events carry nanoseconds of the monotonic clock. The raw
//! value ("ticks") goes into the ring; readers turn ticks into UTC
//! nanoseconds with a [`Calibration`] measured against the monotonic and the
//! wall clock. `TTLOG_CLOCK=monotonic` forces the fallback.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// The CPU time-stamp counter.
    Tsc,
    /// The operating system's monotonic clock, in nanoseconds.
    Monotonic,
}

impl ClockSource {
    /// `"tsc"` or `"monotonic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSource::Tsc => "tsc",
            ClockSource::Monotonic => "monotonic",
        }
    }
}

static USE_TSC: AtomicBool = AtomicBool::new(false);

struct Anchor {
    source: ClockSource,
    ticks: u64,
    mono: Instant,
    utc_ns: i128,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();
static MONO_BASE: OnceLock<Instant> = OnceLock::new();

/// Shortest interval over which the tick rate is measured.
const MIN_CALIBRATION: Duration = Duration::from_millis(20);

fn tsc_is_reliable() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    match std::env::var("TTLOG_CLOCK").as_deref() {
        Ok("monotonic") => return false,
        Ok("tsc") => return true,
        _ => {}
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    if read("/sys/devices/system/clocksource/clocksource0/current_clocksource").trim() == "tsc" {
        return true;
    }
    let cpuinfo = read("/proc/cpuinfo");
    let flags = cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    has("constant_tsc") && has("nonstop_tsc")
}

/// Chooses the clock source and takes the anchor point; idempotent.
pub(crate) fn init() -> ClockSource {
    ANCHOR
        .get_or_init(|| {
            let source = if tsc_is_reliable() { ClockSource::Tsc } else { ClockSource::Monotonic };
            USE_TSC.store(source == ClockSource::Tsc, Ordering::Relaxed);
            let (ticks, mono) = paired_read();
            // The wall-clock time at `mono`.
            let utc_ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
                - mono.elapsed().as_nanos() as i128;
            Anchor { source, ticks, mono, utc_ns }
        })
        .source
}

/// Current ticks.
#[inline(always)]
pub(crate) fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.load(Ordering::Relaxed) {
        return crate::sys::rdtsc();
    }
    monotonic_ns()
}

/// Ticks in one second (of the rough rate: a rate limit's window need not be
/// exact); measured once.
pub(crate) fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| ((1e9 / Calibration::quick().ns_per_tick) as u64).max(1))
}

#[inline]
fn monotonic_ns() -> u64 {
    let base = MONO_BASE.get_or_init(Instant::now);
    Instant::now().saturating_duration_since(*base).as_nanos() as u64
}

/// Reads ticks and the monotonic clock as close together as possible.
fn paired_read() -> (u64, Instant) {
    let mut best = (u64::MAX, 0, Instant::now());
    for _ in 0..5 {
        let a = now();
        let m = Instant::now();
        let b = now();
        if b.wrapping_sub(a) < best.0 {
            best = (b.wrapping_sub(a), a + (b.wrapping_sub(a)) / 2, m);
        }
    }
    (best.1, best.2)
}

/// Converts ticks to UTC nanoseconds since the Unix epoch.
///
/// ```
/// let cal = ttlog_core::Calibration::now();
/// let utc = cal.to_utc_ns(cal.ticks);
/// assert_eq!(utc, cal.utc_ns);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Where ticks come from.
    pub source: ClockSource,
    /// A tick value…
    pub ticks: u64,
    /// …and the UTC time it stands for, in nanoseconds since the epoch.
    pub utc_ns: i64,
    /// Nanoseconds per tick (1.0 for the monotonic source).
    pub ns_per_tick: f64,
}

impl Calibration {
    /// Measures the tick rate since the clock was first used (waiting, the
    /// first time, until at least 20 ms have passed so the rate is precise).
    pub fn now() -> Calibration {
        Calibration::measure(MIN_CALIBRATION)
    }

    /// Like [`Calibration::now`] but waits at most until 1 ms has passed
    /// since the clock was first used: a rougher rate, at once.
    pub(crate) fn quick() -> Calibration {
        Calibration::measure(Duration::from_millis(1))
    }

    fn measure(min: Duration) -> Calibration {
        init();
        let anchor = ANCHOR.get().expect("init() sets the anchor");
        let ns_per_tick = match anchor.source {
            ClockSource::Monotonic => 1.0,
            ClockSource::Tsc => {
                let elapsed = anchor.mono.elapsed();
                if elapsed < min {
                    std::thread::sleep(min - elapsed);
                }
                let (ticks, mono) = paired_read();
                let ns = mono.saturating_duration_since(anchor.mono).as_nanos() as f64;
                ns / ticks.wrapping_sub(anchor.ticks).max(1) as f64
            }
        };
        Calibration {
            source: anchor.source,
            ticks: anchor.ticks,
            utc_ns: anchor.utc_ns.clamp(0, i64::MAX as i128) as i64,
            ns_per_tick,
        }
    }

    /// UTC nanoseconds since the Unix epoch for `ticks`.
    #[inline]
    pub fn to_utc_ns(&self, ticks: u64) -> i64 {
        let d = ticks.wrapping_sub(self.ticks) as i64;
        if self.ns_per_tick == 1.0 {
            // Ticks that are nanoseconds: exact, however far apart (a
            // product in f64 keeps only 53 bits).
            return self.utc_ns.saturating_add(d);
        }
        self.utc_ns.saturating_add((d as f64 * self.ns_per_tick) as i64)
    }
}
