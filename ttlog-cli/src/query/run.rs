//! Running a [`Plan`]: each chunk is skipped, counted from its statistics
//! or decoded (only the planned columns) and its matching rows added to a
//! [`Partial`], in parallel; the partials merge into the [`Answer`].

use super::partial::{FieldAgg, Group, Partial};
use super::{Action, Answer, Plan, QueryError, Selector, Skip};
use crate::catalog::ChunkKeep;
use crate::compile::Tri;
use crate::dataset::{CodeCount, LoadError};
use crate::filter::Key;
use crate::stats::{self, Agg, GroupKey, GroupRow, GroupTable, KeyValue};
use crate::tables::{SourceInfo, as_f64};
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, FieldSet, Projection, SnapshotError, Values};

/// For a group key on a field: the field's column per local call-site id
/// of a chunk, and the field.
type KeyColumn<'a> = Option<(Vec<Option<&'a Values>>, &'a crate::tables::FieldInfo)>;

/// A field value as a group key, typed like the field's column.
fn field_key(col: &Values, rank: usize, dtype: &DataType) -> KeyValue {
    match (col, dtype) {
        (Values::Bool(v), _) => v.get(rank).map_or(KeyValue::Null, |&b| KeyValue::Bool(b)),
        (Values::U64(v), DataType::UInt64) => v.get(rank).map_or(KeyValue::Null, |&x| KeyValue::U64(x)),
        (Values::I64(v), DataType::Int64) => v.get(rank).map_or(KeyValue::Null, |&x| KeyValue::I64(x)),
        (Values::Str(v), _) if rank < v.len() => KeyValue::Str(Arc::from(v.get(rank))),
        (v, DataType::Float32 | DataType::Float64) => as_f64(v, rank).map_or(KeyValue::Null, KeyValue::F64),
        (v, _) => v.get(rank).map_or(KeyValue::Null, |x| KeyValue::Str(Arc::from(x.to_string().as_str()))),
    }
}

impl<'c> Plan<'c> {
    /// Runs the plan. `progress(events)` is called as chunks are done.
    ///
    /// # Errors
    /// Strict mode and damage; polars errors.
    pub fn run(&self, strict: bool, progress: &(dyn Fn(u64) + Sync)) -> Result<Answer, QueryError> {
        let started = std::time::Instant::now();
        let catalog = self.catalog;
        if catalog.snapshots.is_empty() {
            return Err(LoadError::NothingReadable(catalog.failed.clone()).into());
        }
        let mut problems: Vec<SnapshotError> = catalog.failed.clone();
        for s in &catalog.snapshots {
            problems.extend(s.problems().iter().cloned());
        }
        for st in catalog.stats.iter().flatten() {
            if let Err(e) = st {
                problems.push(e.clone());
            }
        }
        if strict && let Some(e) = problems.first() {
            return Err(LoadError::Damaged(e.clone()).into());
        }
        let jobs: Vec<(usize, usize)> =
            self.actions.iter().enumerate().flat_map(|(s, a)| (0..a.len()).map(move |c| (s, c))).collect();
        let spans_needed = self.question.stats;
        let failed = std::sync::Mutex::new(Vec::new());
        // The groups' memory, summed over the partials as they grow (merging
        // only lowers it): past the limit, the question stops.
        let limit = ttlog_core::memory::limit();
        let held = std::sync::atomic::AtomicU64::new(0);
        let over = std::sync::atomic::AtomicBool::new(false);
        let total = jobs
            .par_iter()
            .fold(
                || Partial::new(self),
                |mut p, &(s, c)| {
                    use std::sync::atomic::Ordering::Relaxed;
                    if over.load(Relaxed) {
                        return p;
                    }
                    let before = p.bytes;
                    let result = self.chunk(s, c, &mut p);
                    let grown = p.bytes.saturating_sub(before);
                    if grown > 0 {
                        let now = held.fetch_add(grown, Relaxed).saturating_add(grown);
                        if ttlog_core::memory::check_against(now, limit).is_err() {
                            over.store(true, Relaxed);
                        }
                    }
                    if let Err(e) = result {
                        p.damaged[s] += u64::from(catalog.snapshots[s].chunks()[c].events);
                        failed.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                    }
                    if let Ok(st) = &catalog.stats[s][c] {
                        progress(u64::from(st.events));
                    }
                    p
                },
            )
            .reduce(|| Partial::new(self), Partial::merge);
        if over.into_inner() {
            let groups = total.groups.len();
            let what = format!(
                "grouping needs more than {} ({groups} groups{} when it stopped)",
                ttlog_core::memory::size_text(held.into_inner()),
                if self.keep_values.iter().any(|&k| k) { ", with the values their quantiles need," } else { "" }
            );
            let inputs = crate::memory::inputs_name(catalog.snapshots.iter().map(|s| (s.name(), s.event_count())));
            return Err(LoadError::MemoryLimit { inputs, what, limit: limit.unwrap_or(0) }.into());
        }
        let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
        failed.sort_by(|a: &SnapshotError, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
        if strict && let Some(e) = failed.first() {
            return Err(LoadError::Damaged(e.clone()).into());
        }
        problems.extend(failed);
        let mut total = total;
        if spans_needed {
            self.exact_span(&mut total)?;
        }
        let mut executed = total.executed.clone();
        for a in self.actions.iter().flatten() {
            match a {
                Action::Skip(w) => executed.skipped[*w as usize] += 1,
                Action::Stats => executed.from_stats += 1,
                Action::Decode { .. } => {}
            }
        }
        let counts: Vec<CodeCount> =
            total.pairs.iter().map(|(&(cs, th), &n)| CodeCount { cs, th, n }).filter(|c| c.n > 0).collect();
        let events: u64 = counts.iter().map(|c| c.n).sum();
        executed.matched = events;
        // The files as this question saw them.
        let mut tables = self.tables.clone();
        for (s, src) in tables.sources.iter_mut().enumerate() {
            let mut info = SourceInfo::clone(src);
            info.events_loaded = total.decoded_rows[s];
            info.duplicates = total.copies[s];
            info.damaged += total.damaged[s];
            *src = Arc::new(info);
        }
        let stats = self.question.stats.then(|| stats::stats_of(&tables, &tables.sources, &counts, events, total.span));
        let groups = match &self.question.group {
            None => None,
            Some((keys, aggs)) if !self.row_groups => Some(
                stats::groups_of_codes(&tables, keys, &counts)
                    .unwrap_or_else(|| self.group_table(&mut total, keys, aggs)),
            ),
            Some((keys, aggs)) => Some(self.group_table(&mut total, keys, aggs)),
        };
        executed.seconds = started.elapsed().as_secs_f64();
        Ok(Answer { stats, groups, events, tables, problems, executed })
    }

    /// Adds chunk `c` of snapshot `s` to `p`.
    fn chunk(&self, s: usize, c: usize, p: &mut Partial) -> Result<(), SnapshotError> {
        let snap = &self.catalog.snapshots[s];
        let Ok(st) = &self.catalog.stats[s][c] else { return Ok(()) };
        match &self.actions[s][c] {
            Action::Skip(Skip::Copies) => {
                p.copies[s] += u64::from(st.events);
                Ok(())
            }
            Action::Skip(_) => Ok(()),
            Action::Stats => {
                snap.verify_chunk(c)?;
                let bucket = self.bucket_of(st.min_ts);
                let mut all_true = true;
                for sc in &st.counts {
                    let (cs, th) = (self.tables.site_code(s, sc.callsite), self.tables.thread_code(s, sc.thread));
                    if self.pairs.test(cs, th) == Tri::True {
                        *p.pairs.entry((cs, th)).or_default() += u64::from(sc.events);
                        if self.row_groups {
                            p.add_group_count(self, cs, th, bucket, u64::from(sc.events));
                        }
                    } else {
                        all_true = false;
                    }
                }
                if all_true {
                    p.widen(st.min_ts, st.max_ts);
                } else {
                    p.inexact.push((s, c));
                }
                Ok(())
            }
            Action::Decode { ts, seqs, fields, row_filter } => {
                let projection = Projection {
                    timestamps: *ts || self.question.stats,
                    threads: true,
                    seqs: *seqs,
                    fields: if fields.is_empty() { FieldSet::None } else { FieldSet::Only(fields.clone()) },
                };
                let cols = snap.decode_chunk_with(c, &projection)?;
                p.executed.decoded += 1;
                p.executed.rows_decoded += cols.len() as u64;
                p.decoded_rows[s] += cols.len() as u64;
                p.executed.ts_columns += u64::from(projection.timestamps);
                p.executed.seq_columns += u64::from(*seqs);
                p.executed.field_columns += u64::from(!fields.is_empty());
                p.executed.row_filtered += u64::from(*row_filter);
                let mask = self.mask(s, c, &cols, *row_filter, p).map_err(|e| SnapshotError {
                    file: snap.name().to_owned(),
                    offset: snap.chunks()[c].offset,
                    problem: ttlog_core::snapshot::Problem::Invalid(format!("evaluating the filter: {e}")),
                })?;
                self.add_rows(s, &cols, &mask, p);
                Ok(())
            }
        }
    }

    /// What selects rows in a decoded chunk.
    fn selector(&self) -> Selector<'_> {
        Selector {
            catalog: self.catalog,
            tables: &self.tables,
            pairs: &self.pairs,
            since: self.question.since,
            until: self.question.until,
        }
    }

    /// Whether each row of a decoded chunk counts: owned (not a copy), in
    /// the time bounds, and matching the filter.
    fn mask(
        &self,
        s: usize,
        c: usize,
        cols: &ChunkColumns,
        row_filter: bool,
        p: &mut Partial,
    ) -> PolarsResult<Vec<bool>> {
        let (mask, copies) = self.selector().mask(s, c, cols, row_filter)?;
        p.copies[s] += copies;
        Ok(mask)
    }

    fn bucket_of(&self, ts: i64) -> Option<i64> {
        let (keys, _) = self.question.group.as_ref()?;
        keys.iter().find_map(|k| match k {
            GroupKey::Time(b) => Some(crate::stats::bucket_start(ts, *b)),
            _ => None,
        })
    }

    /// Adds the rows of `mask` of a decoded chunk to `p`.
    fn add_rows(&self, s: usize, cols: &ChunkColumns, mask: &[bool], p: &mut Partial) {
        let tables = &self.tables;
        let n_sites = tables.sources_sites(s) as usize;
        let n_threads = tables.sources_threads(s) as usize;
        let site_codes: Vec<u32> = (0..=n_sites as u32).map(|id| tables.site_code(s, id.max(1))).collect();
        // Events per local (call site, thread) pair, counted densely when
        // the file's tables are small, then added to the partial's map.
        let width = n_threads.max(1);
        let dense = (n_sites + 1) * width <= 1 << 16;
        let mut counts = if dense { vec![0u64; (n_sites + 1) * width] } else { Vec::new() };
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for (r, &m) in mask.iter().enumerate() {
            if !m {
                continue;
            }
            let (local, th) = (cols.callsites[r], cols.threads[r]);
            if dense {
                counts[local as usize * width + th as usize] += 1;
            } else {
                *p.pairs.entry((site_codes[local as usize], tables.thread_code(s, th))).or_default() += 1;
            }
            if let Some(&t) = cols.timestamps.get(r) {
                lo = lo.min(t);
                hi = hi.max(t);
            }
        }
        if lo <= hi {
            p.widen(lo, hi);
        }
        for (i, &n) in counts.iter().enumerate() {
            if n > 0 {
                let (local, th) = (i / width, i % width);
                *p.pairs.entry((site_codes[local], tables.thread_code(s, th as u32))).or_default() += n;
            }
        }
        if !self.row_groups {
            return;
        }
        // Per local call-site id, the columns of the aggregated fields.
        let agg_cols: Vec<Vec<Option<&Values>>> =
            self.agg_fields.iter().map(|f| tables.columns_of(&tables.fields[f], s, cols)).collect();
        let keys = self.question.group.as_ref().map_or(&[][..], |(k, _)| &k[..]);
        let by_site_only =
            keys.iter().all(|k| matches!(k, GroupKey::Key(k) if !matches!(k, Key::Thread | Key::Field(_))));
        if by_site_only {
            // The key is the call site's: one group per call site of the
            // chunk, found by index, merged into the partial at the end.
            // Values kept for quantiles are reserved at their exact number
            // (the call site's matching events), so no vector grows.
            let mut per_site = vec![0usize; n_sites + 1];
            for (&m, &site) in mask.iter().zip(&cols.callsites) {
                per_site[site as usize] += usize::from(m);
            }
            let mut slot = vec![u32::MAX; n_sites + 1];
            let mut local: Vec<(u32, Group)> = Vec::new();
            for (r, &m) in mask.iter().enumerate() {
                if !m {
                    continue;
                }
                let site = cols.callsites[r] as usize;
                if slot[site] == u32::MAX {
                    slot[site] = local.len() as u32;
                    let fields = agg_cols
                        .iter()
                        .zip(&self.keep_values)
                        .map(|(by_site, &keep)| {
                            let n = if keep && by_site[site].is_some() { per_site[site] } else { 0 };
                            FieldAgg { values: Vec::with_capacity(n), ..FieldAgg::default() }
                        })
                        .collect();
                    local.push((site as u32, Group { count: 0, fields }));
                }
                let g = &mut local[slot[site] as usize].1;
                g.count += 1;
                let rank = cols.ranks.get(r).map_or(0, |&x| x as usize);
                for ((f, by_site), &keep) in g.fields.iter_mut().zip(&agg_cols).zip(&self.keep_values) {
                    if let Some(v) = by_site[site].and_then(|col| as_f64(col, rank)) {
                        f.add(v, keep);
                    }
                }
            }
            let mut key = Vec::new();
            for (site, g) in local {
                self.row_key(site_codes[site as usize], 0, None, site, 0, &[], &mut key);
                p.merge_group(&key, g);
            }
            return;
        }
        let key_cols: Vec<KeyColumn<'_>> = keys
            .iter()
            .map(|k| match k {
                GroupKey::Key(Key::Field(f)) => {
                    let info = &tables.fields[f.as_str()];
                    Some((tables.columns_of(info, s, cols), info))
                }
                _ => None,
            })
            .collect();
        let mut key = Vec::new();
        let mut values = vec![None; self.agg_fields.len()];
        for (r, &m) in mask.iter().enumerate() {
            if !m {
                continue;
            }
            let local = cols.callsites[r];
            let (cs, th) = (site_codes[local as usize], tables.thread_code(s, cols.threads[r]));
            let rank = cols.ranks.get(r).map_or(0, |&x| x as usize);
            let ts = cols.timestamps.get(r).copied();
            self.row_key(cs, th, ts, local, rank, &key_cols, &mut key);
            for (v, by_site) in values.iter_mut().zip(&agg_cols) {
                *v = by_site[local as usize].and_then(|col| as_f64(col, rank));
            }
            p.add_row(self, &key, &values);
        }
    }

    /// The group key of one row: call-site keys and the thread as codes
    /// (decoded at the end), time buckets, field values.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn row_key(
        &self,
        cs: u32,
        th: u32,
        ts: Option<i64>,
        local: u32,
        rank: usize,
        key_cols: &[KeyColumn<'_>],
        key: &mut Vec<KeyValue>,
    ) {
        key.clear();
        let Some((keys, _)) = &self.question.group else { return };
        for (i, k) in keys.iter().enumerate() {
            key.push(match k {
                GroupKey::Time(b) => KeyValue::Time(crate::stats::bucket_start(ts.unwrap_or(0), *b)),
                GroupKey::Key(Key::Thread) => KeyValue::U64(u64::from(self.tables.thread_canon[th as usize])),
                GroupKey::Key(Key::Field(_)) => match key_cols.get(i) {
                    Some(Some((by_site, info))) => match by_site[local as usize] {
                        Some(col) => field_key(col, rank, &info.dtype),
                        None => KeyValue::Null,
                    },
                    _ => KeyValue::Null,
                },
                GroupKey::Key(_) => KeyValue::U64(u64::from(cs)),
            });
        }
    }

    /// The final group table of a row-keyed group-by.
    fn group_table(&self, total: &mut Partial, keys: &[GroupKey], aggs: &[Agg]) -> GroupTable {
        let tables = &self.tables;
        let dictionaries: Vec<Option<(Vec<u32>, Vec<KeyValue>)>> = keys
            .iter()
            .map(|k| match k {
                GroupKey::Key(Key::Field(_)) | GroupKey::Key(Key::Thread) | GroupKey::Time(_) => None,
                GroupKey::Key(k) => Some(stats::site_dictionary(tables, k)),
            })
            .collect();
        // Groups keyed by call-site code fold into the key's value.
        let mut folded: HashMap<Vec<KeyValue>, Group> = HashMap::new();
        for (key, g) in std::mem::take(&mut total.groups) {
            let decoded: Vec<KeyValue> = key
                .iter()
                .zip(keys)
                .zip(&dictionaries)
                .map(|((v, _), d)| match (v, d) {
                    // Threads stay codes until the end: two threads of one
                    // name (of two processes) are two groups.
                    (KeyValue::U64(cs), Some((lookup, values))) => values[lookup[*cs as usize] as usize].clone(),
                    (v, _) => v.clone(),
                })
                .collect();
            match folded.get_mut(&decoded) {
                Some(f) => f.merge(g),
                None => {
                    folded.insert(decoded, g);
                }
            }
        }
        let mut rows: Vec<(Vec<KeyValue>, GroupRow)> = folded
            .into_iter()
            .map(|(coded, mut g)| {
                let values = aggs
                    .iter()
                    .filter(|a| a.field.is_some())
                    .zip(&self.agg_field)
                    .map(|(a, &f)| g.fields[f].finish(a.func))
                    .collect();
                let key = coded
                    .iter()
                    .zip(keys)
                    .map(|(v, k)| match (k, v) {
                        (GroupKey::Key(Key::Thread), KeyValue::U64(th)) => {
                            KeyValue::Str(Arc::from(tables.threads[*th as usize].label().as_str()))
                        }
                        (_, v) => v.clone(),
                    })
                    .collect();
                (coded, GroupRow { key, count: g.count, values })
            })
            .filter(|(_, r)| !keys.is_empty() || r.count > 0)
            .collect();
        // Most events first, then by key; equal keys (two threads of one
        // name) by code, so the order is always the same.
        rows.sort_by(|(ca, a), (cb, b)| {
            b.count.cmp(&a.count).then_with(|| stats::cmp_keys(&a.key, &b.key)).then_with(|| stats::cmp_keys(ca, cb))
        });
        let rows = rows.into_iter().map(|(_, r)| r).collect();
        GroupTable {
            keys: keys.iter().map(GroupKey::name).collect(),
            aggs: aggs.iter().filter(|a| a.field.is_some()).map(Agg::name).collect(),
            rows,
        }
    }

    /// Makes the time span exact where chunks were counted from statistics
    /// but not all their events matched: decodes the chunks at either end
    /// until the first and last matching events are known.
    fn exact_span(&self, total: &mut Partial) -> Result<(), QueryError> {
        if total.inexact.is_empty() {
            return Ok(());
        }
        let stats_of = |&(s, c): &(usize, usize)| self.catalog.stats[s][c].as_ref().ok().map(Arc::clone);
        let mut by_start = total.inexact.clone();
        by_start.sort_by_key(|k| stats_of(k).map_or(i64::MAX, |st| st.min_ts));
        let mut by_end = total.inexact.clone();
        by_end.sort_by_key(|k| std::cmp::Reverse(stats_of(k).map_or(i64::MIN, |st| st.max_ts)));
        let decode = |s: usize, c: usize, p: &mut Partial| -> Result<Option<(i64, i64)>, QueryError> {
            let snap = &self.catalog.snapshots[s];
            let projection = Projection {
                timestamps: true,
                threads: true,
                seqs: matches!(self.catalog.keep[s][c], ChunkKeep::Some(_)),
                fields: FieldSet::None,
            };
            let cols = snap.decode_chunk_with(c, &projection).map_err(LoadError::Damaged)?;
            let mut scratch = Partial::new(self);
            let mask = self.mask(s, c, &cols, false, &mut scratch)?;
            p.executed.decoded_for_span += 1;
            let mut span: Option<(i64, i64)> = None;
            for (r, &m) in mask.iter().enumerate() {
                if m {
                    let t = cols.timestamps[r];
                    span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                }
            }
            Ok(span)
        };
        for &(s, c) in &by_start {
            let Some(st) = stats_of(&(s, c)) else { continue };
            if total.span.is_some_and(|(a, _)| a <= st.min_ts) {
                break;
            }
            if let Some((a, _)) = decode(s, c, total)? {
                total.widen(a, a);
            }
        }
        for &(s, c) in &by_end {
            let Some(st) = stats_of(&(s, c)) else { continue };
            if total.span.is_some_and(|(_, b)| b >= st.max_ts) {
                break;
            }
            if let Some((_, b)) = decode(s, c, total)? {
                total.widen(b, b);
            }
        }
        Ok(())
    }
}
