//! Building the frame of a [`Dataset`](super::Dataset) from decoded chunks.
//!
//! Each column is allocated once, at its final size, and the chunks are
//! copied into their parts of it in parallel: no frame per chunk, no
//! concatenation, no rechunk.
//!
//! Time order then comes without a general sort. The chunks of a snapshot
//! are in time order, so the rows in input order form a few sorted *runs*
//! (usually one per file; the check is one pass over each chunk). One run
//! is already the frame. Several are merged stably (on equal timestamps the
//! earlier run, so the earlier input, comes first: the order a stable sort
//! gives) in parallel: the output is cut into parts at timestamps found by
//! binary search over the runs, and each part merges its slices of the runs
//! on its own. Only an input whose chunks are not themselves in order (the
//! original `ttlog` 0.1 format) takes a stable parallel sort.

use super::{SourceInfo, cols};
use polars::prelude::*;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, Problem, SnapshotError};

/// Below this many rows, merging is not split into parallel parts.
const PARALLEL_MERGE_MIN: usize = 1 << 16;

/// Up to this many runs, a merge picks the next row by scanning the runs'
/// heads; beyond, with a heap.
const SCAN_RUNS_MAX: usize = 16;

/// A chunk's decoded columns but for those moved into the frame, and the
/// number of its events left out as copies.
type Decoded = Result<(ChunkColumns, u64), SnapshotError>;

/// The `ts`, `cs` and `th` columns in input order, filled chunk by chunk.
pub(super) struct Filled {
    ts: Vec<i64>,
    cs: Vec<u32>,
    th: Vec<u32>,
    /// Per chunk: how many events it filled (its events kept, one after the
    /// other in the columns), and whether they are in time order (`None`: it
    /// failed to decode and filled none).
    chunks: Vec<(usize, Option<bool>)>,
}

/// The most event slots reserved at once from the counts that chunk frames
/// declare, before the chunks are decoded: 16 Mi slots, 256 MiB for the
/// three columns (untouched pages until written: the system hands them out
/// zeroed). Up to this many events load in one batch, at full speed (4 Mi
/// made 10 M events load 40 % slower). A file's frames can declare many more events than it holds
/// (a frame is checked, its data only when decoded), so the columns grow
/// batch by batch with the events actually decoded, and no more than this
/// is ever reserved on a frame's word alone.
const BATCH_SLOTS: usize = 1 << 24;

/// Decodes chunk `j` of `lengths.len()` (of up to `lengths[j]` events, as
/// its frame says; fewer when copies are left out) with `decode(j)`, in
/// parallel, straight into its part of the columns. `input(j)` is the
/// snapshot of chunk `j`, whose code offsets apply. Returns the columns and
/// each chunk's decoded rest (field values, sequence numbers).
///
/// The chunks go in batches of at most [`BATCH_SLOTS`] declared events (or
/// one chunk): the columns grow by a batch's declared events, its chunks
/// are decoded in parallel into their slots, and the slots of chunks that
/// failed or kept fewer events are closed before the next batch. Each
/// chunk's own timestamp and thread columns are freed as soon as they are
/// copied, so the next chunk decoded on that thread reuses their memory.
pub(super) fn decode_into(
    lengths: &[usize],
    sources: &[Arc<SourceInfo>],
    input: impl Fn(usize) -> usize + Sync,
    decode: impl Fn(usize) -> Decoded + Sync,
) -> (Filled, Vec<Decoded>) {
    decode_batched(lengths, sources, input, decode, BATCH_SLOTS)
}

/// [`decode_into`] in batches of at most `batch` declared events.
fn decode_batched(
    lengths: &[usize],
    sources: &[Arc<SourceInfo>],
    input: impl Fn(usize) -> usize + Sync,
    decode: impl Fn(usize) -> Decoded + Sync,
    batch: usize,
) -> (Filled, Vec<Decoded>) {
    crate::worker_stacks();
    let total: usize = lengths.iter().sum();
    // One zeroed allocation (pages the system hands out zeroed, untouched
    // until written) at the final size when that is one batch: the columns
    // grow beyond it only by what was decoded.
    let reserve = total.min(batch);
    let (mut ts, mut cs, mut th) = (vec![0i64; reserve], vec![0u32; reserve], vec![0u32; reserve]);
    let mut results = Vec::with_capacity(lengths.len());
    let mut chunks = Vec::with_capacity(lengths.len());
    let mut first = 0;
    while first < lengths.len() {
        let mut last = first + 1;
        let mut slots = lengths[first];
        while last < lengths.len() && slots + lengths[last] <= batch {
            slots += lengths[last];
            last += 1;
        }
        let base = if first == 0 { 0 } else { ts.len() };
        if ts.len() < base + slots {
            ts.resize(base + slots, 0);
            cs.resize(base + slots, 0);
            th.resize(base + slots, 0);
        }
        let mut parts = Vec::with_capacity(last - first);
        let end = base + slots;
        let (mut ts_rest, mut cs_rest, mut th_rest) = (&mut ts[base..end], &mut cs[base..end], &mut th[base..end]);
        for (j, &k) in lengths.iter().enumerate().take(last).skip(first) {
            let (a, r) = std::mem::take(&mut ts_rest).split_at_mut(k);
            ts_rest = r;
            let (b, r) = std::mem::take(&mut cs_rest).split_at_mut(k);
            cs_rest = r;
            let (c, r) = std::mem::take(&mut th_rest).split_at_mut(k);
            th_rest = r;
            parts.push((j, a, b, c));
        }
        let done: Vec<(Decoded, usize, Option<bool>)> =
            parts.into_par_iter().map(|(j, ts, cs, th)| decode_one(j, ts, cs, th, sources, &input, &decode)).collect();
        // Close the gaps: each chunk's events move down to follow the
        // previous chunk's.
        let (mut from, mut to) = (base, base);
        for (j, (r, n, sorted)) in (first..last).zip(done) {
            if to < from && n > 0 {
                ts.copy_within(from..from + n, to);
                cs.copy_within(from..from + n, to);
                th.copy_within(from..from + n, to);
            }
            from += lengths[j];
            to += n;
            results.push(r);
            chunks.push((n, sorted));
        }
        ts.truncate(to);
        cs.truncate(to);
        th.truncate(to);
        first = last;
    }
    ts.shrink_to_fit();
    cs.shrink_to_fit();
    th.shrink_to_fit();
    (Filled { ts, cs, th, chunks }, results)
}

/// Decodes chunk `j` into its slots (see [`decode_into`]): its result, the
/// events it filled, and whether they are in time order (`None`: failed).
fn decode_one(
    j: usize,
    ts: &mut [i64],
    cs: &mut [u32],
    th: &mut [u32],
    sources: &[Arc<SourceInfo>],
    input: &(impl Fn(usize) -> usize + Sync),
    decode: &(impl Fn(usize) -> Decoded + Sync),
) -> (Decoded, usize, Option<bool>) {
    let (mut c, dropped) = match decode(j) {
        Ok(c) => c,
        Err(e) => return (Err(e), 0, None),
    };
    // The decoder checks a chunk against its frame's count; should that
    // ever differ, the chunk counts as damaged.
    if c.len() as u64 + dropped != ts.len() as u64 {
        let problem = Problem::Invalid(format!("a chunk holds {} events, its frame says {}", c.len(), ts.len()));
        return (Err(SnapshotError { file: sources[input(j)].path.clone(), offset: 0, problem }), 0, None);
    }
    let n = c.len();
    let (ts, cs, th) = (&mut ts[..n], &mut cs[..n], &mut th[..n]);
    let src = &sources[input(j)];
    ts.copy_from_slice(&c.timestamps);
    c.timestamps = Vec::new();
    // Call-site ids are 1-based and checked by the decoder.
    for (o, &l) in cs.iter_mut().zip(&c.callsites) {
        *o = l - 1 + src.site_offset;
    }
    for (o, &t) in th.iter_mut().zip(&c.threads) {
        *o = t + src.thread_offset;
    }
    c.threads = Vec::new();
    let sorted = ts.windows(2).all(|w| w[0] <= w[1]);
    (Ok((c, dropped)), n, Some(sorted))
}

/// The frame of the decoded chunks' events, in time order; `ev` is each
/// row's position in input order, without the chunks that failed. The
/// flag: whether that is already time order (`ev` is `0..n`).
pub(super) fn assemble(filled: Filled) -> PolarsResult<(DataFrame, bool)> {
    let Filled { mut ts, mut cs, mut th, chunks } = filled;
    let n = ts.len();
    let chunks: Vec<(usize, bool)> = chunks.into_iter().filter_map(|(n, s)| Some((n, s?))).collect();

    let order = if chunks.iter().all(|&(_, s)| s) {
        let runs = sorted_runs(&ts, chunks.iter().map(|&(len, _)| len));
        if runs.len() <= 1 { None } else { Some(merge_runs(&ts, &runs)) }
    } else {
        // Stable: rows of equal time keep their input order.
        let mut order: Vec<IdxSize> = (0..n as IdxSize).collect();
        order.par_sort_by_key(|&i| ts[i as usize]);
        Some(order)
    };
    let ev: Vec<IdxSize> = match &order {
        None => (0..n as IdxSize).collect(),
        Some(order) => {
            ts = gather(&ts, order);
            cs = gather(&cs, order);
            th = gather(&th, order);
            order.clone()
        }
    };
    let in_input_order = order.is_none();
    drop(order);
    let frame = DataFrame::new(
        n,
        vec![
            Int64Chunked::from_vec(cols::TS.into(), ts).into_column(),
            UInt32Chunked::from_vec(cols::CS.into(), cs).into_column(),
            UInt32Chunked::from_vec(cols::TH.into(), th).into_column(),
            IdxCa::from_vec(cols::EV.into(), ev).into_column(),
        ],
    )?;
    Ok((frame, in_input_order))
}

/// The maximal runs of consecutive chunks (of these lengths, each sorted)
/// that continue each other in time.
fn sorted_runs(ts: &[i64], lengths: impl Iterator<Item = usize>) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for len in lengths.filter(|&l| l > 0) {
        let end = start + len;
        match runs.last_mut() {
            Some(last) if ts[last.end - 1] <= ts[start] => last.end = end,
            _ => runs.push(start..end),
        }
        start = end;
    }
    runs
}

/// `values` in `order`.
fn gather<T: Copy + Default + Send + Sync>(values: &[T], order: &[IdxSize]) -> Vec<T> {
    crate::worker_stacks();
    let mut out = vec![T::default(); order.len()];
    out.par_chunks_mut(1 << 14).zip(order.par_chunks(1 << 14)).for_each(|(o, idx)| {
        for (o, &i) in o.iter_mut().zip(idx) {
            *o = values[i as usize];
        }
    });
    out
}

/// The positions of the rows of `runs` (sorted ranges of `ts`, in input
/// order) in stable time order.
fn merge_runs(ts: &[i64], runs: &[Range<usize>]) -> Vec<IdxSize> {
    crate::worker_stacks();
    let n: usize = runs.iter().map(|r| r.len()).sum();
    let parts = if n < PARALLEL_MERGE_MIN { 1 } else { rayon::current_num_threads() * 4 };
    // cuts[j][r]: where part j begins in run r. A part boundary is a
    // timestamp v: rows before v go left, in every run, so no row of equal
    // time is split from its peers and the merge stays stable.
    let mut cuts: Vec<Vec<usize>> = Vec::with_capacity(parts + 1);
    cuts.push(runs.iter().map(|r| r.start).collect());
    let below = |v: i128| -> Vec<usize> {
        runs.iter().map(|r| r.start + ts[r.clone()].partition_point(|&t| i128::from(t) < v)).collect()
    };
    let count = |c: &[usize]| -> usize { c.iter().zip(runs).map(|(&c, r)| c - r.start).sum() };
    let lo = runs.iter().filter(|r| !r.is_empty()).map(|r| ts[r.start]).min().map_or(0, i128::from);
    let hi = runs.iter().filter(|r| !r.is_empty()).map(|r| ts[r.end - 1]).max().map_or(0, i128::from) + 1;
    for j in 1..parts {
        // The smallest v with at least n * j / parts rows before it.
        let target = n * j / parts;
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = a + (b - a) / 2;
            if count(&below(mid)) >= target { b = mid } else { a = mid + 1 }
        }
        cuts.push(below(a));
    }
    cuts.push(runs.iter().map(|r| r.end).collect());

    let mut order: Vec<IdxSize> = vec![0; n];
    let mut rest = &mut order[..];
    let mut jobs = Vec::with_capacity(parts);
    for w in cuts.windows(2) {
        let ranges: Vec<Range<usize>> = w[0].iter().zip(&w[1]).map(|(&a, &b)| a..b).collect();
        let len = ranges.iter().map(|r| r.len()).sum();
        let (out, r) = std::mem::take(&mut rest).split_at_mut(len);
        rest = r;
        jobs.push((ranges, out));
    }
    jobs.into_par_iter().for_each(|(ranges, out)| merge_into(ts, ranges, out));
    order
}

/// Merges the sorted `ranges` of `ts` (earlier range first on equal
/// timestamps) into `out`, as positions.
fn merge_into(ts: &[i64], ranges: Vec<Range<usize>>, out: &mut [IdxSize]) {
    let mut heads: Vec<Range<usize>> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
    let mut o = 0;
    let mut emit = |out: &mut [IdxSize], r: Range<usize>| {
        for (x, i) in out[o..o + r.len()].iter_mut().zip(r.clone()) {
            *x = i as IdxSize;
        }
        o += r.len();
    };
    if heads.len() > SCAN_RUNS_MAX {
        let mut heap: BinaryHeap<Reverse<(i64, usize)>> =
            heads.iter().enumerate().map(|(k, r)| Reverse((ts[r.start], k))).collect();
        while let Some(Reverse((_, k))) = heap.pop() {
            let r = &mut heads[k];
            emit(out, r.start..r.start + 1);
            r.start += 1;
            if r.start < r.end {
                heap.push(Reverse((ts[r.start], k)));
            }
        }
        return;
    }
    while heads.len() > 1 {
        // The run with the earliest next row (the first such on ties)…
        let mut best = 0;
        for k in 1..heads.len() {
            if ts[heads[k].start] < ts[heads[best].start] {
                best = k;
            }
        }
        // …keeps the lead while its rows are before every earlier run's next
        // row and not after any later run's: before `limit`. Galloping, as
        // the lead is often one row (runs interleaved row by row).
        let mut limit = i128::MAX;
        for (k, r) in heads.iter().enumerate() {
            let t = i128::from(ts[r.start]);
            if k < best {
                limit = limit.min(t);
            } else if k > best {
                limit = limit.min(t + 1);
            }
        }
        let h = &heads[best];
        let end = h.start + gallop(&ts[h.start..h.end], limit);
        let h = &mut heads[best];
        emit(out, h.start..end);
        h.start = end;
        if h.start == h.end {
            heads.remove(best);
        }
    }
    if let Some(r) = heads.pop() {
        emit(out, r);
    }
    debug_assert_eq!(o, out.len());
}

/// How many leading values of the sorted `ts` are below `limit`, probing
/// 1, 2, 4, … values ahead before a binary search: cheap when few are.
fn gallop(ts: &[i64], limit: i128) -> usize {
    let (mut lo, mut step) = (0, 1);
    while lo + step <= ts.len() && i128::from(ts[lo + step - 1]) < limit {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step).min(ts.len());
    lo + ts[lo..hi].partition_point(|&x| i128::from(x) < limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_close_the_slots_of_failed_and_short_chunks() {
        let source = Arc::new(SourceInfo {
            path: "t.bin".into(),
            service: "s".into(),
            hostname: "h".into(),
            pid: 1,
            reason: "manual".into(),
            panic: None,
            created_at_ns: 0,
            last_event_ns: None,
            library: String::new(),
            version: ttlog_core::snapshot::FormatVersion::Legacy,
            counters: ttlog_core::snapshot::Counters::default(),
            events_in_frames: 0,
            events_loaded: 0,
            duplicates: 0,
            damaged: 0,
            process: 0,
            problems: Vec::new(),
            site_offset: 0,
            thread_offset: 0,
        });
        let lengths = [3, 2, 4, 1, 3, 2];
        // Chunk 1 fails; chunk 4 keeps 2 of its 3 events (1 copy left out);
        // chunk 5 claims 2 events and holds 1 (damaged).
        let decode = |j: usize| -> Decoded {
            let (n, dropped) = match j {
                1 => {
                    let problem = Problem::Invalid("bad".into());
                    return Err(SnapshotError { file: "t.bin".into(), offset: 0, problem });
                }
                4 => (2, 1),
                5 => (1, 0),
                _ => (lengths[j], 0),
            };
            let cols = ChunkColumns {
                timestamps: (0..n).map(|i| (j * 10 + i) as i64).collect(),
                callsites: vec![1; n],
                threads: vec![0; n],
                ..ChunkColumns::default()
            };
            Ok((cols, dropped))
        };
        for batch in [1, 4, 5, 100] {
            let (filled, results) = decode_batched(&lengths, std::slice::from_ref(&source), |_| 0, decode, batch);
            assert_eq!(filled.ts, [0, 1, 2, 20, 21, 22, 23, 30, 40, 41], "batch {batch}");
            assert_eq!(filled.cs, [0; 10]);
            assert_eq!(
                filled.chunks,
                [(3, Some(true)), (0, None), (4, Some(true)), (1, Some(true)), (2, Some(true)), (0, None)]
            );
            assert_eq!(results.iter().filter(|r| r.is_err()).count(), 2);
        }
    }

    /// The reference: a stable sort of positions by time.
    fn stable_sort(ts: &[i64]) -> Vec<IdxSize> {
        let mut v: Vec<IdxSize> = (0..ts.len() as IdxSize).collect();
        v.sort_by_key(|&i| ts[i as usize]);
        v
    }

    fn runs_of(lengths: &[usize]) -> Vec<Range<usize>> {
        let mut start = 0;
        lengths
            .iter()
            .map(|&l| {
                start += l;
                start - l..start
            })
            .collect()
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Sorted runs of random lengths with many equal timestamps within and
    /// across runs.
    fn random_runs(rng: &mut Rng, runs: usize, max_len: u64, spread: u64) -> (Vec<i64>, Vec<Range<usize>>) {
        let mut ts = Vec::new();
        let mut lengths = Vec::new();
        for _ in 0..runs {
            let len = rng.below(max_len + 1) as usize;
            let mut run: Vec<i64> = (0..len).map(|_| rng.below(spread) as i64 - (spread / 2) as i64).collect();
            run.sort();
            ts.extend(run);
            lengths.push(len);
        }
        (ts, runs_of(&lengths))
    }

    #[test]
    fn merging_runs_is_a_stable_sort() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        // Small merges (one part), large ones (parallel parts), few and
        // many runs (scan and heap), few distinct times (ties everywhere).
        for (runs, max_len, spread) in
            [(2, 10, 5), (3, 1000, 50), (5, 40_000, 1 << 40), (4, 50_000, 7), (40, 3_000, 100), (1, 10, 3), (7, 0, 1)]
        {
            for _ in 0..3 {
                let (ts, r) = random_runs(&mut rng, runs, max_len, spread);
                assert_eq!(merge_runs(&ts, &r), stable_sort(&ts), "{runs} runs of up to {max_len}, spread {spread}");
            }
        }
    }

    #[test]
    fn runs_that_follow_each_other_merge_into_one() {
        let ts = [1, 2, 2, 3, 3, 5, 4, 6, 0];
        assert_eq!(sorted_runs(&ts, [2, 0, 2, 2, 2, 1].into_iter()), vec![0..6, 6..8, 8..9]);
        assert_eq!(sorted_runs(&[], std::iter::empty()), Vec::<Range<usize>>::new());
    }

    #[test]
    fn galloping_counts_the_values_below_the_limit() {
        let ts: Vec<i64> = (0..100).map(|i| i / 3).collect();
        for limit in -1..40 {
            assert_eq!(gallop(&ts, limit), ts.iter().filter(|&&t| i128::from(t) < limit).count(), "{limit}");
        }
        assert_eq!(gallop(&[], 5), 0);
        assert_eq!(gallop(&[i64::MAX], i128::from(i64::MAX) + 1), 1);
    }

    #[test]
    fn extreme_timestamps_merge() {
        let ts = [i64::MIN, 0, i64::MAX, i64::MIN, i64::MAX, i64::MAX];
        let r = runs_of(&[3, 3]);
        assert_eq!(merge_runs(&ts, &r), stable_sort(&ts));
    }
}
