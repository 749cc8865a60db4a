//! The measuring instruments: a cycle timer, per-call and batched samples,
//! per-call samples over a time window (into a histogram), percentiles, loop
//! means, multi-thread throughput and a per-thread allocation counter.
//!
//! # Timer
//!
//! On x86-64 the timer is the time-stamp counter read between two `lfence`s
//! (`lfence; rdtsc; lfence`), so the timed call can neither start before the
//! first read nor still be running at the second. The fenced pair itself
//! costs a few tens of ticks, subtracted from every sample: the median of
//! empty pairs timed in turn with the calls, in the same window
//! ([`per_call_interleaved`], which also times one clock read the same way,
//! the floor under any event; [`per_call_for`]). Interleaving matters here:
//! this VM's CPU speed drifts by a quarter within a run, and an overhead
//! measured seconds earlier once made a clock read look like 5 ns and once
//! like 41. Ticks become nanoseconds with a rate measured against
//! [`Instant`] over the whole run. Elsewhere the timer falls back to
//! [`Instant`] (coarser, still subtracted the same way).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Reads the timer, fenced so that the work around it does not overlap it.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: SSE2 (hence `lfence`) is part of the x86-64 baseline.
        unsafe { _mm_lfence() };
        // SAFETY: `rdtsc` exists on every x86-64 CPU and only reads a counter.
        let t = unsafe { _rdtsc() };
        // SAFETY: as above.
        unsafe { _mm_lfence() };
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        base().elapsed().as_nanos() as u64
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// The timer's tick rate, measured over the whole run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    start_ticks: u64,
    start: Instant,
}

impl Timer {
    /// Starts the rate measurement.
    pub(crate) fn start() -> Timer {
        Timer { start: Instant::now(), start_ticks: ticks() }
    }

    /// Nanoseconds per tick, measured since [`Timer::start`] (waiting until
    /// at least 50 ms have passed, so the pairing error stays below 0.01 %).
    pub(crate) fn ns_per_tick(&self) -> f64 {
        if cfg!(not(target_arch = "x86_64")) {
            return 1.0;
        }
        let min = Duration::from_millis(50);
        if let Some(rest) = min.checked_sub(self.start.elapsed()) {
            std::thread::sleep(rest);
        }
        let t = ticks();
        let ns = self.start.elapsed().as_nanos() as f64;
        ns / t.wrapping_sub(self.start_ticks).max(1) as f64
    }
}

/// Times `calls` rounds of three single calls, each between its own pair of
/// [`ticks`] reads: nothing (the empty pair), `clock` (one clock read) and
/// `f`. Interleaved, so the three series see the same machine: a CPU that
/// slows down or speeds up during the run moves all three alike, and the
/// empty pair subtracted from the other two is measured in the same window.
/// Returns raw ticks `[empty, clock, f]`.
#[inline(never)]
pub(crate) fn per_call_interleaved<C: Fn(), F: Fn()>(calls: usize, clock: C, f: F) -> [Vec<u32>; 3] {
    let mut out = [Vec::with_capacity(calls), Vec::with_capacity(calls), Vec::with_capacity(calls)];
    let ticks_u32 = |t0: u64, t1: u64| u32::try_from(t1.wrapping_sub(t0)).unwrap_or(u32::MAX);
    for _ in 0..calls {
        let t0 = ticks();
        let t1 = ticks();
        out[0].push(ticks_u32(t0, t1));
        let t0 = ticks();
        clock();
        let t1 = ticks();
        out[1].push(ticks_u32(t0, t1));
        let t0 = ticks();
        f();
        let t1 = ticks();
        out[2].push(ticks_u32(t0, t1));
    }
    out
}

/// The median of raw tick samples.
pub(crate) fn median_ticks(samples: &[u32]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).map_or(0, |&t| u64::from(t))
}

/// Per-call samples, counted exactly: one counter per tick below
/// [`TickHistogram::EXACT`] ticks, and the rare longer samples (a
/// preemption, a page fault) kept one by one. Percentiles come out as
/// from the sorted samples, in bounded memory however long the window.
#[derive(Debug, Clone)]
pub(crate) struct TickHistogram {
    counts: Vec<u64>,
    /// Samples of [`TickHistogram::EXACT`] ticks or more.
    long: Vec<u64>,
    samples: u64,
}

impl TickHistogram {
    /// 65 536 ticks: tens of microseconds at any TSC rate.
    const EXACT: u64 = 1 << 16;

    pub(crate) fn new() -> TickHistogram {
        TickHistogram { counts: vec![0; Self::EXACT as usize], long: Vec::new(), samples: 0 }
    }

    #[inline(always)]
    fn record(&mut self, ticks: u64) {
        self.samples += 1;
        match self.counts.get_mut(ticks as usize) {
            Some(c) => *c += 1,
            None => self.long.push(ticks),
        }
    }

    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// The median sample, in ticks (0 when there are none), ranked as
    /// [`TickHistogram::percentiles`] ranks them.
    pub(crate) fn median(&self) -> u64 {
        if self.samples == 0 {
            return 0;
        }
        let i = self.samples.div_ceil(2) - 1;
        let mut seen = 0;
        for (ticks, &c) in self.counts.iter().enumerate() {
            seen += c;
            if i < seen {
                return ticks as u64;
            }
        }
        let mut long = self.long.clone();
        long.sort_unstable();
        long[(i - seen) as usize]
    }

    /// The sample of rank `i` (0-based) in sorted order; `long` sorted.
    fn rank(&self, i: u64) -> u64 {
        let mut seen = 0;
        for (ticks, &c) in self.counts.iter().enumerate() {
            seen += c;
            if i < seen {
                return ticks as u64;
            }
        }
        self.long[(i - seen) as usize]
    }

    /// As [`percentiles`] computes them from the same samples, one call per
    /// sample. All zero when there are no samples.
    pub(crate) fn percentiles(mut self, overhead: u64, ns_per_tick: f64) -> Percentiles {
        if self.samples == 0 {
            return Percentiles::default();
        }
        self.long.sort_unstable();
        let at = |q: f64| {
            let i = ((self.samples as f64 * q).ceil() as u64).clamp(1, self.samples) - 1;
            self.rank(i).saturating_sub(overhead) as f64 * ns_per_tick
        };
        Percentiles { p50: at(0.50), p99: at(0.99), p999: at(0.999), max: at(1.0) }
    }
}

/// Times single calls of `f` for `window`, each between its own pair of
/// [`ticks`] reads and in turn with an empty pair (as
/// [`per_call_interleaved`] does), into `into` and `empty` (the clock is
/// looked at every 1 024 rounds, outside the timed pairs).
#[inline(never)]
pub(crate) fn per_call_for<F: Fn()>(window: Duration, into: &mut TickHistogram, empty: &mut TickHistogram, f: F) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        for _ in 0..1024 {
            let t0 = ticks();
            let t1 = ticks();
            empty.record(t1.wrapping_sub(t0));
            let t0 = ticks();
            f();
            let t1 = ticks();
            into.record(t1.wrapping_sub(t0));
        }
    }
}

/// Time the calling thread has spent on a CPU so far, from the kernel's
/// scheduler statistics (`/proc/thread-self/schedstat`, nanoseconds); `None`
/// where the system does not tell.
pub(crate) fn thread_on_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Calls per batch in [`batched`].
pub(crate) const BATCH: usize = 16;

/// Times `batches` runs of [`BATCH`] back-to-back calls. Returns raw ticks
/// per batch.
#[inline(never)]
pub(crate) fn batched<F: Fn()>(batches: usize, f: F) -> Vec<u32> {
    let mut out = Vec::with_capacity(batches);
    for _ in 0..batches {
        let t0 = ticks();
        for _ in 0..BATCH {
            f();
        }
        let t1 = ticks();
        out.push(u32::try_from(t1.wrapping_sub(t0)).unwrap_or(u32::MAX));
    }
    out
}

/// The timer's step, in ticks: the greatest common divisor of the
/// differences between `reads` back-to-back [`ticks`] reads. Where the
/// counter advances in coarse steps (on AMD Zen the TSC adds its P0
/// multiplier every 10 ns of a 100 MHz reference clock), single-call samples
/// come only in multiples of it; a batch of [`BATCH`] calls divides it by
/// [`BATCH`].
pub(crate) fn timer_step(reads: usize) -> u64 {
    step_of((0..reads).map(|_| ticks()))
}

/// The greatest common divisor of the differences between successive
/// `reads` (at least 1).
fn step_of(reads: impl IntoIterator<Item = u64>) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let mut reads = reads.into_iter();
    let Some(mut last) = reads.next() else { return 1 };
    let mut step = 0;
    for t in reads {
        step = gcd(step, t.wrapping_sub(last));
        last = t;
    }
    step.max(1)
}

/// Median, 99th and 99.9th percentile, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

/// Percentiles of raw samples after subtracting `overhead` ticks (never
/// below zero) and dividing by `per` calls per sample.
pub(crate) fn percentiles(mut samples: Vec<u32>, overhead: u64, ns_per_tick: f64, per: usize) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        (u64::from(samples[i]).saturating_sub(overhead)) as f64 * ns_per_tick / per as f64
    };
    Percentiles { p50: at(0.50), p99: at(0.99), p999: at(0.999), max: at(1.0) }
}

/// Mean nanoseconds per call of `f` over a plain loop of `calls` calls.
#[inline(never)]
pub(crate) fn loop_mean<F: Fn()>(calls: u64, f: F) -> f64 {
    let start = Instant::now();
    for _ in 0..black_box(calls) {
        f();
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// Nanoseconds per call of `f`: `chunks` loops of `per_chunk` calls, each
/// timed as a whole; the median loop's mean. A loop during which the thread
/// was descheduled is an outlier and does not move the median, where one
/// long loop would carry the lost time into its mean.
#[inline(never)]
pub(crate) fn chunked_mean<F: Fn()>(chunks: usize, per_chunk: u64, f: F) -> f64 {
    let mut means = Vec::with_capacity(chunks);
    for _ in 0..chunks {
        let start = Instant::now();
        for _ in 0..black_box(per_chunk) {
            f();
        }
        means.push(start.elapsed().as_nanos() as f64 / per_chunk as f64);
    }
    means.sort_unstable_by(f64::total_cmp);
    means[means.len() / 2]
}

/// Events per second with `threads` threads each making `per_thread` calls
/// of `f` (after `warm_up` untimed calls each), from the moment all are
/// ready to the moment the last one is done.
pub(crate) fn throughput<F: Fn() + Sync>(threads: usize, warm_up: u64, per_thread: u64, f: &F) -> f64 {
    let ready = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| {
        for i in 0..threads {
            let (ready, done) = (&ready, &done);
            std::thread::Builder::new()
                .name(format!("bench-{i}"))
                .spawn_scoped(s, move || {
                    for _ in 0..warm_up {
                        f();
                    }
                    ready.wait();
                    for _ in 0..black_box(per_thread) {
                        f();
                    }
                    done.wait();
                })
                .expect("spawn a benchmark thread");
        }
        ready.wait();
        let start = Instant::now();
        done.wait();
        start.elapsed()
    });
    (threads as u64 * per_thread) as f64 / elapsed.as_secs_f64()
}

/// Cost of one clock read: `rdtsc` and `Instant::now()`, back to back in
/// loops of 2 000 reads (see [`chunked_mean`]).
pub(crate) fn clock_costs(chunks: usize) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    let tsc = chunked_mean(chunks, 2_000, || {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and only reads a counter.
        black_box(unsafe { core::arch::x86_64::_rdtsc() });
    });
    #[cfg(not(target_arch = "x86_64"))]
    let tsc = f64::NAN;
    let instant = chunked_mean(chunks, 2_000, || {
        black_box(Instant::now());
    });
    (tsc, instant)
}

/// One `rdtsc`, in a function of its own that is not inlined: the clock read
/// timed per call the way the loggers' calls are (they too are calls).
#[inline(never)]
pub(crate) fn read_tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and only reads a counter.
        black_box(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        black_box(base().elapsed().as_nanos() as u64)
    }
}

/// One `Instant::now()`, not inlined (as [`read_tsc`]).
#[inline(never)]
pub(crate) fn read_instant() -> Instant {
    black_box(Instant::now())
}

thread_local! {
    /// Heap allocations made by this thread so far.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Allocations made by the calling thread so far.
pub(crate) fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The system allocator, counting each thread's allocations in a
/// thread-local (no shared counter, so it adds no contention).
#[derive(Debug)]
pub(crate) struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counter touches no heap memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[inline]
fn count_one() {
    // `try_with`: during thread teardown the counter may be gone already.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_match_the_sorted_samples() {
        // Short samples and long ones (beyond the exact counters), shuffled.
        let mut samples: Vec<u32> = (0..5_000u32).map(|i| (i * 7919) % 3_000 + 20).collect();
        samples.extend([70_000, 1_000_000, 66_000, 65_536, 65_535]);
        let mut h = TickHistogram::new();
        for &t in &samples {
            h.record(u64::from(t));
        }
        assert_eq!(h.samples(), samples.len() as u64);
        let (overhead, ns_per_tick) = (20, 0.5);
        let from_h = h.clone().percentiles(overhead, ns_per_tick);
        let sorted = percentiles(samples.clone(), overhead, ns_per_tick, 1);
        assert_eq!(
            (from_h.p50, from_h.p99, from_h.p999, from_h.max),
            (sorted.p50, sorted.p99, sorted.p999, sorted.max)
        );
        assert_eq!(from_h.max, (1_000_000.0 - 20.0) * 0.5);

        assert_eq!(TickHistogram::new().percentiles(overhead, ns_per_tick).max, 0.0);
    }

    #[test]
    fn the_timer_step_is_the_common_divisor_of_the_differences() {
        // A counter that adds 26 every 10 ns, read at uneven moments.
        assert_eq!(step_of([1_000_014, 1_000_066, 1_000_118, 1_000_196, 1_000_222]), 26);
        // A counter that moves by single ticks.
        assert_eq!(step_of([500, 538, 577, 615]), 1);
        // Repeated reads and too few reads say nothing: 1.
        assert_eq!(step_of([7, 7, 7]), 1);
        assert_eq!(step_of([7]), 1);
        assert_eq!(step_of(std::iter::empty()), 1);
        // Equal reads among coarse steps do not hide the step.
        assert_eq!(step_of([52, 52, 104, 104, 130]), 26);
    }
}
