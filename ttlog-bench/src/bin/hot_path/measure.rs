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
/// Returns raw ticks `[empty, clock, f]`, and a [`core_probe`] before
/// every [`PROBE_ROUNDS`] rounds and after the last.
#[inline(never)]
pub(crate) fn per_call_interleaved<C: Fn(), F: Fn()>(calls: usize, clock: C, f: F) -> ([Vec<u32>; 3], Probes) {
    let mut out = [Vec::with_capacity(calls), Vec::with_capacity(calls), Vec::with_capacity(calls)];
    let mut probes = Vec::with_capacity(calls / PROBE_ROUNDS + 2);
    let ticks_u32 = |t0: u64, t1: u64| u32::try_from(t1.wrapping_sub(t0)).unwrap_or(u32::MAX);
    for i in 0..calls {
        if i % PROBE_ROUNDS == 0 {
            probes.push(core_probe());
        }
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
    probes.push(core_probe());
    (out, Probes(probes))
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

/// Per-call samples over a time window: all of them, and those of the
/// blocks that ran with the core to themselves (see [`core_probe`]).
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) calls: TickHistogram,
    pub(crate) empty: TickHistogram,
    pub(crate) unshared: TickHistogram,
    /// Blocks, and blocks that ran with the core shared.
    pub(crate) blocks: u64,
    pub(crate) shared_blocks: u64,
    /// The share of the core with the core to itself, [`best_probe`] of
    /// probes taken before the window.
    pub(crate) best: f64,
}

impl Window {
    /// Empty histograms and the best of 256 probes (about 2 ms).
    pub(crate) fn calibrate() -> Window {
        let best = best_probe((0..256).map(|_| core_probe()));
        Window {
            calls: TickHistogram::new(),
            empty: TickHistogram::new(),
            unshared: TickHistogram::new(),
            blocks: 0,
            shared_blocks: 0,
            best,
        }
    }

    /// Share of the blocks that ran with the core shared.
    pub(crate) fn shared(&self) -> f64 {
        self.shared_blocks as f64 / self.blocks.max(1) as f64
    }
}

/// Times single calls of `f` for `window`, each between its own pair of
/// [`ticks`] reads and in turn with an empty pair (as
/// [`per_call_interleaved`] does), into `into`, in blocks of
/// [`PROBE_ROUNDS`] rounds (the clock is looked at between blocks, outside
/// the timed pairs). Each block is judged shared or not as it ends, against
/// the calibrated best (the histograms keep no order, so this cannot wait
/// for the end).
#[inline(never)]
pub(crate) fn per_call_for<F: Fn()>(window: Duration, into: &mut Window, f: F) {
    let end = Instant::now() + window;
    let mut block = Vec::with_capacity(PROBE_ROUNDS);
    let mut before = core_probe();
    while Instant::now() < end {
        for _ in 0..PROBE_ROUNDS {
            let t0 = ticks();
            let t1 = ticks();
            into.empty.record(t1.wrapping_sub(t0));
            let t0 = ticks();
            f();
            let t1 = ticks();
            block.push(t1.wrapping_sub(t0));
        }
        let after = core_probe();
        let shared = is_shared(before.min(after), into.best);
        into.blocks += 1;
        into.shared_blocks += u64::from(shared);
        for &t in &block {
            into.calls.record(t);
            if !shared {
                into.unshared.record(t);
            }
        }
        block.clear();
        before = after;
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

/// Rounds of [`per_call_interleaved`] between two [`core_probe`]s (about
/// half a millisecond of ttlog-core calls).
pub(crate) const PROBE_ROUNDS: usize = 4_096;

/// Batches of [`batched`] between two [`core_probe`]s.
pub(crate) const PROBE_BATCHES: usize = 512;

/// A block whose probes found less than this share of the best probe of the
/// process counts as shared.
pub(crate) const SHARED_BELOW: f64 = 0.9;

/// Whether a block (or round) whose lowest probe was `lowest` ran with its
/// core shared, against the process's `best` probe. Never with NaN probes
/// (where the probe measures nothing).
pub(crate) fn is_shared(lowest: f64, best: f64) -> bool {
    lowest < SHARED_BELOW * best
}

/// How much of its core the calling thread has right now: independent
/// additions the core retires per cycle, measured over a few microseconds.
///
/// A chain of dependent additions runs at one per cycle whoever else uses
/// the core, so it measures the cycle; four independent chains run as wide
/// as the core's integer units go (3.8 per cycle on a core with four) when
/// the thread has the core to itself, and narrower when another hardware
/// thread of the same core (in a virtual machine: another guest's vCPU on
/// the sibling thread) takes some of the units. That second case is what
/// makes work beside a clock read stop hiding under its latency. The cycle
/// is measured twice, around the wide run, and the shorter taken, so an
/// interrupt in one of them does not pass for a fast core. NaN off x86-64.
pub(crate) fn core_probe() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        const ROUNDS: u64 = 2_048;
        let t0 = ticks();
        dependent_adds(ROUNDS);
        let t1 = ticks();
        independent_adds(ROUNDS);
        let t2 = ticks();
        dependent_adds(ROUNDS);
        let t3 = ticks();
        let cycle = t1.wrapping_sub(t0).min(t3.wrapping_sub(t2)) as f64 / (8 * ROUNDS) as f64;
        let per_add = t2.wrapping_sub(t1).max(1) as f64 / (16 * ROUNDS) as f64;
        cycle / per_add
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        f64::NAN
    }
}

/// `rounds` × 8 additions, each waiting for the one before.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn dependent_adds(rounds: u64) {
    // SAFETY: register arithmetic and a loop on registers the asm declares
    // as its own; no memory, no stack, no flags the compiler relies on
    // (`asm!` clobbers flags unless told otherwise).
    unsafe {
        core::arch::asm!(
            "2:",
            "add {a}, 1", "add {a}, 1", "add {a}, 1", "add {a}, 1",
            "add {a}, 1", "add {a}, 1", "add {a}, 1", "add {a}, 1",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) rounds => _,
            a = out(reg) _,
            options(nostack, nomem),
        );
    }
}

/// `rounds` × 16 additions in four independent chains.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn independent_adds(rounds: u64) {
    // SAFETY: as in `dependent_adds`.
    unsafe {
        core::arch::asm!(
            "2:",
            "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1",
            "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1",
            "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1",
            "add {a}, 1", "add {b}, 1", "add {c}, 1", "add {d}, 1",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) rounds => _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            d = out(reg) _,
            options(nostack, nomem),
        );
    }
}

/// The probes around each block of samples: `probes[k]` was taken before
/// block `k` and `probes[k + 1]` after it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probes(pub(crate) Vec<f64>);

/// The share of the core a thread gets when it has the core to itself: the
/// 99th percentile of `probes` (NaN when there are none). Not the maximum:
/// a probe whose two cycle measurements were both interrupted (one in some
/// ten thousand here) overstates it.
pub(crate) fn best_probe(probes: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = probes.into_iter().filter(|p| !p.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable_by(f64::total_cmp);
    v[(v.len() - 1) * 99 / 100]
}

impl Probes {
    /// Whether block `k` ran with its core shared: either probe around it
    /// found less than [`SHARED_BELOW`] of `best`.
    fn shared(&self, k: usize, best: f64) -> bool {
        is_shared(self.0[k].min(self.0.get(k + 1).copied().unwrap_or(f64::INFINITY)), best)
    }

    /// The samples of the blocks (of `per_block` samples each, the last one
    /// possibly shorter) that ran with the core to themselves, and the share
    /// of blocks that did not. With no probes (or NaN ones), every block
    /// counts as unshared.
    pub(crate) fn unshared<T: Copy>(&self, samples: &[T], per_block: usize, best: f64) -> (Vec<T>, f64) {
        let blocks = samples.chunks(per_block);
        let total = blocks.len();
        let mut kept = Vec::with_capacity(samples.len());
        let mut shared = 0;
        for (k, block) in blocks.enumerate() {
            if k < self.0.len() && self.shared(k, best) {
                shared += 1;
            } else {
                kept.extend_from_slice(block);
            }
        }
        (kept, shared as f64 / total.max(1) as f64)
    }
}

/// Calls per batch in [`batched`].
pub(crate) const BATCH: usize = 16;

/// Times `batches` runs of [`BATCH`] back-to-back calls. Returns raw ticks
/// per batch, and a [`core_probe`] before every [`PROBE_BATCHES`] batches
/// and after the last.
#[inline(never)]
pub(crate) fn batched<F: Fn()>(batches: usize, f: F) -> (Vec<u32>, Probes) {
    let mut out = Vec::with_capacity(batches);
    let mut probes = Vec::with_capacity(batches / PROBE_BATCHES + 2);
    for i in 0..batches {
        if i % PROBE_BATCHES == 0 {
            probes.push(core_probe());
        }
        let t0 = ticks();
        for _ in 0..BATCH {
            f();
        }
        let t1 = ticks();
        out.push(u32::try_from(t1.wrapping_sub(t0)).unwrap_or(u32::MAX));
    }
    probes.push(core_probe());
    (out, Probes(probes))
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

impl Percentiles {
    /// Not measured.
    pub(crate) fn nan() -> Percentiles {
        Percentiles { p50: f64::NAN, p99: f64::NAN, p999: f64::NAN, max: f64::NAN }
    }
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
/// of `f` (after `warm_up` untimed calls each), from the first thread's
/// start, once all are warm, to the last one's end; and the lowest
/// [`core_probe`] the threads took just before their timed calls, after
/// each quarter of them and just after (the three probes between quarters
/// fall inside the timed window: some 20 µs of a round of tens of
/// milliseconds).
///
/// The threads read the clock themselves: a coordinating thread woken by
/// the same barrier may get a CPU only after the others (on two CPUs, three
/// threads), and timing from there overstated two threads' rate up to 3×
/// one thread's.
pub(crate) fn throughput<F: Fn() + Sync>(threads: usize, warm_up: u64, per_thread: u64, f: &F) -> (f64, f64) {
    let ready = Barrier::new(threads);
    let (start, end, probe) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let ready = &ready;
                std::thread::Builder::new()
                    .name(format!("bench-{i}"))
                    .spawn_scoped(s, move || {
                        for _ in 0..warm_up {
                            f();
                        }
                        let mut lowest = core_probe();
                        ready.wait();
                        let start = Instant::now();
                        for quarter in 1..=4 {
                            for _ in 0..black_box(per_thread * quarter / 4 - per_thread * (quarter - 1) / 4) {
                                f();
                            }
                            if quarter < 4 {
                                lowest = lowest.min(core_probe());
                            }
                        }
                        let end = Instant::now();
                        (start, end, lowest.min(core_probe()))
                    })
                    .expect("spawn a benchmark thread")
            })
            .collect();
        let mut runs = workers.into_iter().map(|w| w.join().expect("a benchmark thread panicked"));
        let first = runs.next().expect("at least one thread");
        runs.fold(first, |(s0, e0, p0), (s1, e1, p1)| (s0.min(s1), e0.max(e1), p0.min(p1)))
    });
    ((threads as u64 * per_thread) as f64 / (end - start).as_secs_f64(), probe)
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
    fn blocks_whose_probes_found_the_core_shared_are_left_out() {
        // Four blocks (the last one short) and the five probes around them:
        // the probe between blocks 1 and 2 found the core shared, so both
        // are left out; 3.6 is within 90 % of the best 3.7.
        let probes = Probes(vec![3.7, 3.7, 2.5, 3.7, 3.6]);
        let samples = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4];
        let (kept, shared) = probes.unshared(&samples, 3, 3.7);
        assert_eq!(kept, [1, 1, 1, 4, 4]);
        assert_eq!(shared, 0.5);
        // Where the probe measures nothing (NaN), no block is left out.
        let (kept, shared) = Probes(vec![f64::NAN; 3]).unshared(&[1, 2, 3, 4], 2, f64::NAN);
        assert_eq!((kept, shared), (vec![1, 2, 3, 4], 0.0));
    }

    #[test]
    fn the_best_probe_ignores_a_rare_overstated_one() {
        let mut probes = vec![3.7; 300];
        probes.extend([6.0, f64::NAN, 2.4]);
        assert_eq!(best_probe(probes), 3.7);
        assert_eq!(best_probe([2.4, 3.7]), 2.4);
        assert!(best_probe([]).is_nan());
        assert!(best_probe([f64::NAN]).is_nan());
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
