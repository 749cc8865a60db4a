//! The operators' partial states: what a share of the chunks gives (events
//! per (call site, thread) pair, row-keyed groups with their aggregates,
//! the time span), merged associatively so that rayon may split the work
//! any way; and exact quantiles over the values kept in blocks.

use super::{Executed, Plan};
use crate::stats::{AggFn, KeyValue};
use std::collections::HashMap;

/// The partial state of one aggregated field in one group.
#[derive(Debug, Clone, Default)]
pub(super) struct FieldAgg {
    pub(super) n: u64,
    pub(super) sum: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    /// Values added one by one (for exact quantiles, 8 bytes each)…
    pub(super) values: Vec<f64>,
    /// …and those of merged partials, in blocks of their exact size, so
    /// that no growing vector doubles the memory they take.
    pub(super) blocks: Vec<Vec<f64>>,
}

impl FieldAgg {
    #[inline]
    pub(super) fn add(&mut self, v: f64, keep: bool) {
        if self.n == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.n += 1;
        self.sum += v;
        if keep {
            self.values.push(v);
        }
    }

    fn merge(&mut self, mut o: FieldAgg) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            (self.min, self.max) = (o.min, o.max);
        } else {
            self.min = self.min.min(o.min);
            self.max = self.max.max(o.max);
        }
        self.n += o.n;
        self.sum += o.sum;
        if !o.values.is_empty() {
            if o.values.capacity() > o.values.len() + o.values.len() / 8 {
                o.values.shrink_to_fit();
            }
            self.blocks.push(o.values);
        }
        self.blocks.append(&mut o.blocks);
    }

    pub(super) fn finish(&mut self, f: AggFn) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(match f {
            AggFn::Count => self.n as f64,
            AggFn::Min => self.min,
            AggFn::Max => self.max,
            AggFn::Sum => self.sum,
            AggFn::Mean => self.sum / self.n as f64,
            AggFn::Quantile(q) => {
                if !self.values.is_empty() {
                    self.blocks.push(std::mem::take(&mut self.values));
                }
                quantile_of_blocks(&mut self.blocks, q)
            }
        })
    }
}

/// The `q` quantile of the values in `blocks` (at least one) with linear
/// interpolation between the two nearest ranks (polars'
/// `QuantileMethod::Linear`), in expected linear time and no memory beyond
/// the blocks, which it reorders.
pub(crate) fn quantile_of_blocks(blocks: &mut [Vec<f64>], q: f64) -> f64 {
    let n: usize = blocks.iter().map(Vec::len).sum();
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (a, b) = select_in_blocks(blocks, lo);
    if hi == lo {
        return a;
    }
    a + (b.unwrap_or(a) - a) * (pos - lo as f64)
}

/// The `k`-th smallest (from 0) of the values in `blocks`, in the order of
/// `f64::total_cmp`, and the next one if there is one: a quickselect whose
/// partitions are done in place in each block, so the blocks are never
/// copied into one vector.
fn select_in_blocks(blocks: &mut [Vec<f64>], mut k: usize) -> (f64, Option<f64>) {
    // The smallest value of the ranges above the current ones: the next
    // one when the k-th is the last of its range.
    let mut above: Option<f64> = None;
    let mut ranges: Vec<(usize, usize)> = blocks.iter().map(|b| (0, b.len())).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    loop {
        let total: usize = ranges.iter().map(|(a, b)| b - a).sum();
        debug_assert!(k < total);
        if total <= 1 << 12 {
            let mut rest: Vec<f64> =
                blocks.iter().zip(&ranges).flat_map(|(b, &(x, y))| b[x..y].iter().copied()).collect();
            let (_, v, right) = rest.select_nth_unstable_by(k, f64::total_cmp);
            let next = right.iter().copied().min_by(f64::total_cmp);
            return (*v, next.or(above));
        }
        // The median of nine values drawn at random from the live ranges.
        let mut sample = [0f64; 9];
        for v in &mut sample {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut at = (seed % total as u64) as usize;
            for (b, &(x, y)) in blocks.iter().zip(&ranges) {
                if at < y - x {
                    *v = b[x + at];
                    break;
                }
                at -= y - x;
            }
        }
        sample.sort_by(f64::total_cmp);
        let pivot = sample[4];
        // Three-way partition of each live range: below, equal, above.
        let (mut below, mut equal) = (0usize, 0usize);
        let mut parts = Vec::with_capacity(ranges.len());
        for (b, &(x, y)) in blocks.iter_mut().zip(&ranges) {
            let v = &mut b[x..y];
            let (mut lt, mut i, mut gt) = (0, 0, v.len());
            while i < gt {
                match v[i].total_cmp(&pivot) {
                    std::cmp::Ordering::Less => {
                        v.swap(lt, i);
                        lt += 1;
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        gt -= 1;
                        v.swap(i, gt);
                    }
                    std::cmp::Ordering::Equal => i += 1,
                }
            }
            below += lt;
            equal += gt - lt;
            parts.push((x, x + lt, x + gt, y));
        }
        if k < below {
            // The pivot (or more of its equals) comes right after.
            above = Some(pivot);
            ranges = parts.iter().map(|&(x, l, _, _)| (x, l)).collect();
        } else if k < below + equal {
            if k + 1 < below + equal {
                return (pivot, Some(pivot));
            }
            let next =
                blocks.iter().zip(&parts).flat_map(|(b, &(_, _, g, y))| b[g..y].iter().copied()).min_by(f64::total_cmp);
            return (pivot, next.or(above));
        } else {
            k -= below + equal;
            ranges = parts.iter().map(|&(_, _, g, y)| (g, y)).collect();
        }
    }
}

/// One group's partial state.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    pub(super) count: u64,
    pub(super) fields: Vec<FieldAgg>,
}

impl Group {
    pub(super) fn merge(&mut self, o: Group) {
        self.count += o.count;
        if self.fields.len() < o.fields.len() {
            self.fields.resize(o.fields.len(), FieldAgg::default());
        }
        for (a, b) in self.fields.iter_mut().zip(o.fields) {
            a.merge(b);
        }
    }
}

/// What a share of the chunks gave: merged associatively.
#[derive(Debug)]
pub(super) struct Partial {
    /// Events per (call-site code, thread code).
    pub(super) pairs: HashMap<(u32, u32), u64>,
    /// Row-keyed groups.
    pub(super) groups: HashMap<Vec<KeyValue>, Group>,
    /// Earliest and latest matching event found exactly.
    pub(super) span: Option<(i64, i64)>,
    /// Chunks counted from statistics whose span is not exact.
    pub(super) inexact: Vec<(usize, usize)>,
    /// Per snapshot: copies skipped, rows decoded, events of chunks that
    /// failed to decode.
    pub(super) copies: Vec<u64>,
    pub(super) decoded_rows: Vec<u64>,
    pub(super) damaged: Vec<u64>,
    pub(super) executed: Executed,
    n_fields: usize,
    keep_values: Vec<bool>,
    /// About how many bytes the groups hold: each group's key and state
    /// ([`GROUP_BYTES`], [`KEY_VALUE_BYTES`] per key part, [`FIELD_BYTES`]
    /// per aggregated field) and the values kept for quantiles (8 each).
    pub(super) bytes: u64,
}

/// Bytes of one group in the map besides its key parts and fields.
pub(super) const GROUP_BYTES: u64 = 64;
/// Bytes of one part of a group's key (a [`KeyValue`], text included).
pub(super) const KEY_VALUE_BYTES: u64 = 48;
/// Bytes of one aggregated field's state in a group.
pub(super) const FIELD_BYTES: u64 = 96;

impl Partial {
    pub(super) fn new(plan: &Plan<'_>) -> Partial {
        let n = plan.catalog.snapshots.len();
        Partial {
            pairs: HashMap::new(),
            groups: HashMap::new(),
            span: None,
            inexact: Vec::new(),
            copies: vec![0; n],
            decoded_rows: vec![0; n],
            damaged: vec![0; n],
            executed: Executed::default(),
            n_fields: plan.agg_fields.len(),
            keep_values: plan.keep_values.clone(),
            bytes: 0,
        }
    }

    pub(super) fn widen(&mut self, a: i64, b: i64) {
        self.span = Some(self.span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
    }

    /// The estimate of a new group of `key` with `fields` aggregated fields.
    fn group_bytes(key: &[KeyValue], fields: usize) -> u64 {
        GROUP_BYTES + KEY_VALUE_BYTES * key.len() as u64 + FIELD_BYTES * fields as u64
    }

    fn group(&mut self, key: &[KeyValue]) -> &mut Group {
        if !self.groups.contains_key(key) {
            self.bytes += Partial::group_bytes(key, self.n_fields);
            self.groups.insert(key.to_vec(), Group { count: 0, fields: vec![FieldAgg::default(); self.n_fields] });
        }
        self.groups.get_mut(key).expect("inserted")
    }

    /// Adds a chunk's group of call site `key` to this partial's.
    pub(super) fn merge_group(&mut self, key: &[KeyValue], g: Group) {
        self.bytes += 8 * g.fields.iter().map(|f| f.values.len() as u64).sum::<u64>();
        match self.groups.get_mut(key) {
            Some(x) => x.merge(g),
            None => {
                self.bytes += Partial::group_bytes(key, g.fields.len());
                self.groups.insert(key.to_vec(), g);
            }
        }
    }

    pub(super) fn add_row(&mut self, _plan: &Plan<'_>, key: &[KeyValue], values: &[Option<f64>]) {
        let keep_values = std::mem::take(&mut self.keep_values);
        let g = self.group(key);
        g.count += 1;
        let mut kept = 0;
        for ((f, v), &keep) in g.fields.iter_mut().zip(values).zip(&keep_values) {
            if let Some(v) = v {
                f.add(*v, keep);
                kept += u64::from(keep);
            }
        }
        self.keep_values = keep_values;
        self.bytes += 8 * kept;
    }

    /// Events of a pair counted from statistics, into the row-keyed groups
    /// (only when no key or aggregate needs field values: see the plan).
    pub(super) fn add_group_count(&mut self, plan: &Plan<'_>, cs: u32, th: u32, bucket: Option<i64>, n: u64) {
        let mut key = Vec::new();
        plan.row_key(cs, th, bucket, 0, 0, &[], &mut key);
        self.group(&key).count += n;
    }

    pub(super) fn merge(mut self, o: Partial) -> Partial {
        if self.pairs.len() < o.pairs.len() && self.groups.is_empty() {
            return o.merge(self);
        }
        for (k, n) in o.pairs {
            *self.pairs.entry(k).or_default() += n;
        }
        self.bytes += o.bytes;
        for (k, g) in o.groups {
            match self.groups.get_mut(&k) {
                Some(x) => x.merge(g),
                None => {
                    self.groups.insert(k, g);
                }
            }
        }
        if let Some((a, b)) = o.span {
            self.widen(a, b);
        }
        self.inexact.extend(o.inexact);
        for (a, b) in self.copies.iter_mut().zip(o.copies) {
            *a += b;
        }
        for (a, b) in self.decoded_rows.iter_mut().zip(o.decoded_rows) {
            *a += b;
        }
        for (a, b) in self.damaged.iter_mut().zip(o.damaged) {
            *a += b;
        }
        let e = &mut self.executed;
        let f = o.executed;
        e.decoded += f.decoded;
        e.decoded_for_span += f.decoded_for_span;
        e.rows_decoded += f.rows_decoded;
        e.ts_columns += f.ts_columns;
        e.seq_columns += f.seq_columns;
        e.field_columns += f.field_columns;
        e.row_filtered += f.row_filtered;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn quantiles_are_polars_linear_ones() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for n in [1usize, 2, 3, 10, 101, 1000, 20_000] {
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 1000) as f64 / 7.0
                })
                .collect();
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let want = Float64Chunked::from_vec("v".into(), v.clone())
                    .quantile(q, QuantileMethod::Linear)
                    .unwrap()
                    .unwrap();
                let got = quantile_of_blocks(&mut [v.clone()], q);
                // Split into blocks of uneven sizes: the same.
                let mut blocks: Vec<Vec<f64>> = v.chunks(n / 3 + 1).map(<[f64]>::to_vec).collect();
                blocks.push(Vec::new());
                assert_eq!(quantile_of_blocks(&mut blocks, q), got);
                assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "n {n} q {q}: {got} vs {want}");
            }
        }
    }
}
