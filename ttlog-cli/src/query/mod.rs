//! The streaming engine: a question (`--stats`, `--group-by`, `--agg`) is
//! planned over the chunks of a [`Catalog`] and answered chunk by chunk, in
//! parallel, without ever holding the events.
//!
//! # The plan
//!
//! A [`Plan`] is a value that says, before anything is decoded, what each
//! chunk contributes ([`Action`]):
//!
//! - **skip** it: all its events are copies that newer snapshots of the
//!   process hold; or its time range is outside `--since`/`--until`; or the
//!   filter is false for every (call site, thread) pair it holds
//!   ([`PairFilter`]);
//! - answer from its **statistics**: every event of the chunk is kept, in
//!   the time bounds, and the filter's verdict on each of its pairs is known
//!   without field values, and the question needs no more than counts per
//!   pair (and the time bucket, when the chunk lies in one). Its CRC is
//!   still checked, its data is not decompressed;
//! - **decode** it, only the columns the question needs: timestamps when a
//!   time bound cuts it or a time bucket key needs them; sequence numbers
//!   where newer snapshots begin inside it; the fields the filter tests
//!   (for pairs whose verdict depends on them), group by or aggregates.
//!
//! [`Plan::explain`] prints it; [`Plan::run`] executes it and reports what it
//! did ([`Executed`]).
//!
//! # Execution
//!
//! Chunks are processed in parallel (rayon); each gives a `Partial`:
//! events per (call site, thread) pair, group states for row-keyed
//! group-bys and aggregates, the time span of matched rows. Partials merge
//! associatively, so the split does not change the answer. Memory is that of
//! the chunks being decoded (one per worker) plus the answer: the pair
//! counts (bounded by the call-site and thread tables), the groups, and for
//! an exact percentile the aggregated values (8 bytes each).
//!
//! The time span of `--stats` is exact: chunks whose every event matched
//! give it from their statistics; otherwise the chunks at the two ends are
//! decoded until the first and last matching event are known.

use crate::catalog::{Catalog, ChunkKeep};
use crate::compile::{Compiler, PairFilter, Tri};
use crate::dataset::{CodeCount, LoadError};
use crate::filter::{Filter, FilterError, Key};
use crate::stats::{self, Agg, AggFn, GroupKey, GroupRow, GroupTable, KeyValue, Stats};
use crate::tables::{SourceInfo, Tables, as_f64};
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, ChunkStats, FieldSet, Projection, SnapshotError, Values};

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// Events for which the filter holds.
    pub filter: Filter,
    /// At or after (UTC ns).
    pub since: Option<i64>,
    /// At or before (UTC ns).
    pub until: Option<i64>,
    /// `--stats`.
    pub stats: bool,
    /// `--group-by` keys and `--agg` aggregates (count always).
    pub group: Option<(Vec<GroupKey>, Vec<Agg>)>,
}

/// Why a chunk is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its events are copies of events newer snapshots hold.
    Copies,
    /// Outside the time bounds.
    Time,
    /// The filter is false for all its events.
    Filter,
    /// It cannot be read (its damage is reported).
    Unreadable,
}

/// What one chunk contributes to the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Skip(Skip),
    /// Its statistics (after a CRC check).
    Stats,
    /// Its decoded columns.
    Decode {
        /// Timestamps.
        ts: bool,
        /// Sequence numbers (and threads), to keep only the events it owns.
        seqs: bool,
        /// Field columns, `(call-site id, field index)`.
        fields: Vec<(u32, u32)>,
        /// Whether some rows need the filter evaluated on their fields.
        row_filter: bool,
    },
}

/// A planned question (see the [module docs](self)).
#[derive(Debug)]
pub struct Plan<'c> {
    catalog: &'c Catalog,
    tables: Tables,
    question: Question,
    pairs: PairFilter,
    /// Per snapshot, per chunk.
    actions: Vec<Vec<Action>>,
    /// Whether groups are kept per row (a time or field key, or a field
    /// aggregate); otherwise they are read off the pair counts.
    row_groups: bool,
    /// The distinct fields aggregated, in order; `aggs[i]` reads
    /// `agg_fields[agg_field[i]]`.
    agg_fields: Vec<Arc<str>>,
    agg_field: Vec<usize>,
    /// Whether some aggregate is a quantile of each of `agg_fields`.
    keep_values: Vec<bool>,
}

/// What running a plan did.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// Chunks skipped, by why.
    pub skipped: [u64; 4],
    /// Chunks answered from their statistics.
    pub from_stats: u64,
    /// Chunks decoded.
    pub decoded: u64,
    /// Chunks decoded again to find the first and last matching events.
    pub decoded_for_span: u64,
    /// Events in the decoded chunks.
    pub rows_decoded: u64,
    /// Chunks whose timestamps, sequence numbers, field columns were decoded.
    pub ts_columns: u64,
    /// See [`Executed::ts_columns`].
    pub seq_columns: u64,
    /// See [`Executed::ts_columns`].
    pub field_columns: u64,
    /// Chunks where the filter was evaluated on field values.
    pub row_filtered: u64,
    /// Events that matched.
    pub matched: u64,
    /// Wall time.
    pub seconds: f64,
}

/// The answer to a [`Question`].
#[derive(Debug)]
pub struct Answer {
    /// `--stats`, if asked.
    pub stats: Option<Stats>,
    /// The group table, if asked.
    pub groups: Option<GroupTable>,
    /// Events that matched.
    pub events: u64,
    /// The tables, with each file's events decoded and copies skipped.
    pub tables: Tables,
    /// Damage found while answering (chunks that did not decode), beside
    /// that found when opening.
    pub problems: Vec<SnapshotError>,
    /// What was done.
    pub executed: Executed,
}

/// An error of a question.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A filter key or value that does not fit the data.
    #[error("bad filter: {0}")]
    Filter(#[from] FilterError),
    /// A group-by that does not fit the data.
    #[error(transparent)]
    Group(#[from] stats::GroupError),
    /// No input could be read, or damage in strict mode.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An error of polars.
    #[error(transparent)]
    Polars(#[from] PolarsError),
    /// An error of the output.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One (call site, thread) pair's verdict inside a chunk.
fn verdicts(pairs: &PairFilter, tables: &Tables, s: usize, st: &ChunkStats) -> (bool, bool, bool) {
    let (mut t, mut f, mut u) = (false, false, false);
    for c in &st.counts {
        match pairs.test(tables.site_code(s, c.callsite), tables.thread_code(s, c.thread)) {
            Tri::True => t = true,
            Tri::False => f = true,
            Tri::Unknown => u = true,
        }
    }
    (t, f, u)
}

impl<'c> Plan<'c> {
    /// Plans `question` over the catalog's chunks.
    ///
    /// # Errors
    /// A filter or group-by that does not fit the data.
    pub fn new(catalog: &'c Catalog, question: Question) -> Result<Plan<'c>, QueryError> {
        let tables = Tables::of(catalog);
        let pairs = PairFilter::new(&tables, &question.filter)?;
        let (keys, aggs) = question.group.clone().unwrap_or_default();
        let mut agg_fields: Vec<Arc<str>> = Vec::new();
        let mut agg_field = Vec::new();
        let mut keep_values = Vec::new();
        for a in &aggs {
            let Some(f) = &a.field else { continue };
            let info = tables
                .fields
                .get(f.as_str())
                .ok_or_else(|| stats::GroupError(format!("no event has a field '{f}'")))?;
            if !info.dtype.is_primitive_numeric() {
                return Err(
                    stats::GroupError(format!("{}: field '{f}' is not numeric ({})", a.name(), info.dtype)).into()
                );
            }
            let i = match agg_fields.iter().position(|x| &**x == f) {
                Some(i) => i,
                None => {
                    agg_fields.push(Arc::clone(&info.name));
                    keep_values.push(false);
                    agg_fields.len() - 1
                }
            };
            keep_values[i] |= matches!(a.func, AggFn::Quantile(_));
            agg_field.push(i);
        }
        for k in &keys {
            if let GroupKey::Key(Key::Field(f)) = k
                && !tables.fields.contains_key(f.as_str())
            {
                return Err(stats::GroupError(format!("no event has a field '{f}'")).into());
            }
        }
        let field_keys: Vec<&str> = keys
            .iter()
            .filter_map(|k| match k {
                GroupKey::Key(Key::Field(f)) => Some(f.as_str()),
                _ => None,
            })
            .collect();
        let time_bucket = keys.iter().find_map(|k| match k {
            GroupKey::Time(b) => Some(*b),
            _ => None,
        });
        let row_groups = !field_keys.is_empty() || time_bucket.is_some() || !agg_fields.is_empty();
        let filter_fields = question.filter.field_names();

        let actions = catalog
            .snapshots
            .iter()
            .enumerate()
            .map(|(s, _)| {
                (0..catalog.stats[s].len())
                    .map(|c| {
                        let st = match &catalog.stats[s][c] {
                            Ok(st) => st,
                            Err(_) => return Action::Skip(Skip::Unreadable),
                        };
                        let keep = &catalog.keep[s][c];
                        if *keep == ChunkKeep::None {
                            return Action::Skip(Skip::Copies);
                        }
                        let (lo, hi) = (question.since.unwrap_or(i64::MIN), question.until.unwrap_or(i64::MAX));
                        if st.max_ts < lo || st.min_ts > hi {
                            return Action::Skip(Skip::Time);
                        }
                        let time_all = lo <= st.min_ts && st.max_ts <= hi;
                        let (any_true, _, any_unknown) = verdicts(&pairs, &tables, s, st);
                        if !any_true && !any_unknown {
                            return Action::Skip(Skip::Filter);
                        }
                        let one_bucket = time_bucket.is_none_or(|b| st.min_ts.div_euclid(b) == st.max_ts.div_euclid(b));
                        // Fields of the call sites in this chunk whose events may count.
                        let mut fields = Vec::new();
                        let mut wants_fields = false;
                        for site in st.counts.iter().map(|c| c.callsite).collect::<std::collections::BTreeSet<_>>() {
                            let code = tables.site_code(s, site);
                            let live = st
                                .counts
                                .iter()
                                .filter(|c| c.callsite == site)
                                .any(|c| pairs.test(code, tables.thread_code(s, c.thread)) != Tri::False);
                            if !live {
                                continue;
                            }
                            let unknown = st
                                .counts
                                .iter()
                                .filter(|c| c.callsite == site)
                                .any(|c| pairs.test(code, tables.thread_code(s, c.thread)) == Tri::Unknown);
                            for (fi, (name, _)) in tables.sites[code as usize].info.fields.iter().enumerate() {
                                let needed = (unknown && filter_fields.iter().any(|f| **f == **name))
                                    || field_keys.contains(&&**name)
                                    || agg_fields.iter().any(|f| **f == **name);
                                if needed {
                                    fields.push((site, fi as u32));
                                }
                                wants_fields |=
                                    field_keys.contains(&&**name) || agg_fields.iter().any(|f| **f == **name);
                            }
                        }
                        let rows_exact = time_all && *keep == ChunkKeep::All && !any_unknown;
                        let needs_rows = !field_keys.is_empty() || wants_fields || !one_bucket;
                        if rows_exact && !needs_rows {
                            return Action::Stats;
                        }
                        fields.sort_unstable();
                        Action::Decode {
                            ts: !time_all || time_bucket.is_some(),
                            seqs: matches!(keep, ChunkKeep::Some(_)),
                            fields,
                            row_filter: any_unknown,
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(Plan { catalog, tables, question, pairs, actions, row_groups, agg_fields, agg_field, keep_values })
    }

    /// The action planned for each chunk of each snapshot.
    pub fn actions(&self) -> &[Vec<Action>] {
        &self.actions
    }

    /// The plan as text: the tree of operators, and what the chunks will
    /// contribute.
    pub fn explain(&self) -> String {
        let mut o = String::new();
        let chunks: usize = self.actions.iter().map(Vec::len).sum();
        let count = |f: &dyn Fn(&Action) -> bool| self.actions.iter().flatten().filter(|a| f(a)).count();
        let q = &self.question;
        let _ = writeln!(o, "plan");
        let _ = writeln!(
            o,
            "  scan       {} files, {} chunks, {} events in them ({} once each)",
            self.catalog.snapshots.len(),
            chunks,
            self.catalog.events_in_files(),
            self.catalog.events_kept()
        );
        let mut columns = vec!["call site".to_owned()];
        let decodes = count(&|a| matches!(a, Action::Decode { .. })) > 0;
        if count(&|a| matches!(a, Action::Decode { ts: true, .. })) > 0 || (decodes && q.stats) {
            columns.push("time".into());
        }
        if count(&|a| matches!(a, Action::Decode { seqs: true, .. })) > 0 {
            columns.push("thread, sequence".into());
        } else {
            columns.push("thread".into());
        }
        let mut names: Vec<String> = Vec::new();
        for (s, acts) in self.actions.iter().enumerate() {
            for a in acts {
                if let Action::Decode { fields, .. } = a {
                    for &(site, f) in fields {
                        let code = self.tables.site_code(s, site);
                        let name = self.tables.sites[code as usize].info.fields[f as usize].0.to_string();
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                }
            }
        }
        names.sort();
        columns.extend(names.iter().map(|n| format!("field {n}")));
        if decodes {
            let _ = writeln!(o, "             columns decoded: {}", columns.join(", "));
        } else {
            let _ = writeln!(o, "             columns decoded: none");
        }
        let _ = writeln!(
            o,
            "  dedupe     by (process, thread, sequence): {} processes{}",
            self.tables.processes.len(),
            if self.tables.keeps_duplicates { ", off (--keep-duplicates)" } else { "" }
        );
        if q.since.is_some() || q.until.is_some() {
            let b = |t: Option<i64>| t.map_or("…".to_owned(), crate::time::rfc3339);
            let _ = writeln!(o, "  time       {} .. {}", b(q.since), b(q.until));
        }
        if !q.filter.is_empty() {
            let _ = writeln!(o, "  filter     {}", q.filter);
        }
        if let Some((keys, aggs)) = &q.group {
            {
                let k: Vec<String> = keys.iter().map(GroupKey::name).collect();
                let mut a = vec!["count".to_owned()];
                a.extend(aggs.iter().map(Agg::name));
                let _ = writeln!(
                    o,
                    "  aggregate  group by {}: {} ({})",
                    k.join(", "),
                    a.join(", "),
                    if self.row_groups { "per row of decoded chunks" } else { "from counts per call site and thread" }
                );
            }
        }
        if q.stats {
            let _ = writeln!(o, "  stats      counts per call site and thread, time span");
        }
        let skip = |w: Skip| count(&|a| *a == Action::Skip(w));
        let _ = writeln!(
            o,
            "  chunks     {} from statistics, {} to decode ({} with a row filter), {} skipped (copies {}, time {}, filter {}, unreadable {})",
            count(&|a| *a == Action::Stats),
            count(&|a| matches!(a, Action::Decode { .. })),
            count(&|a| matches!(a, Action::Decode { row_filter: true, .. })),
            count(&|a| matches!(a, Action::Skip(_))),
            skip(Skip::Copies),
            skip(Skip::Time),
            skip(Skip::Filter),
            skip(Skip::Unreadable),
        );
        o
    }

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
        let total = jobs
            .par_iter()
            .fold(
                || Partial::new(self),
                |mut p, &(s, c)| {
                    if let Err(e) = self.chunk(s, c, &mut p) {
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

    /// Whether each row of a decoded chunk counts: owned (not a copy), in
    /// the time bounds, and matching the filter.
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
            GroupKey::Time(b) => Some(ts.div_euclid(*b) * b),
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
    fn row_key(
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
                GroupKey::Time(b) => KeyValue::Time(ts.unwrap_or(0).div_euclid(*b) * b),
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

/// Selects the rows of decoded chunks: the copies to keep, the time
/// bounds, the filter (by (call site, thread) verdict, then, where that
/// depends on field values, evaluated by polars on the chunk's rows).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selector<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) tables: &'a Tables,
    pub(crate) pairs: &'a PairFilter,
    pub(crate) since: Option<i64>,
    pub(crate) until: Option<i64>,
}

impl Selector<'_> {
    /// Whether each row of a decoded chunk counts: owned (not a copy), in
    /// the time bounds, and matching the filter; and how many rows were
    /// copies.
    pub(crate) fn mask(
        &self,
        s: usize,
        c: usize,
        cols: &ChunkColumns,
        row_filter: bool,
    ) -> PolarsResult<(Vec<bool>, u64)> {
        let n = cols.len();
        let keep = &self.catalog.keep[s][c];
        let mut mask = vec![true; n];
        let mut copies = 0;
        if let ChunkKeep::Some(_) = keep {
            for (r, m) in mask.iter_mut().enumerate() {
                if !keep.keeps(cols.threads[r], cols.seqs[r]) {
                    *m = false;
                    copies += 1;
                }
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let (lo, hi) = (self.since.unwrap_or(i64::MIN), self.until.unwrap_or(i64::MAX));
            for (m, &t) in mask.iter_mut().zip(&cols.timestamps) {
                *m &= lo <= t && t <= hi;
            }
        }
        // The filter's verdict per local (call site, thread) pair of the
        // chunk, from its statistics; rows of pairs whose verdict depends
        // on field values are tested one by one.
        if !self.pairs.is_empty() {
            let width = self.tables.sources_threads(s).max(1) as usize;
            let st = self.catalog.stats[s][c].as_ref().expect("a planned chunk has statistics");
            let verdict = |sc: &ttlog_core::snapshot::SiteCount| {
                self.pairs.test(self.tables.site_code(s, sc.callsite), self.tables.thread_code(s, sc.thread))
            };
            let n_sites = self.tables.sources_sites(s) as usize;
            let dense = (n_sites + 1) * width <= 1 << 20;
            let mut table = vec![Tri::False; if dense { (n_sites + 1) * width } else { 0 }];
            let mut sparse: HashMap<(u32, u32), Tri> = HashMap::new();
            for sc in &st.counts {
                if dense {
                    table[sc.callsite as usize * width + sc.thread as usize] = verdict(sc);
                } else {
                    sparse.insert((sc.callsite, sc.thread), verdict(sc));
                }
            }
            let tri = |site: u32, th: u32| {
                if dense {
                    table[site as usize * width + th as usize]
                } else {
                    sparse.get(&(site, th)).copied().unwrap_or(Tri::False)
                }
            };
            let terms = if row_filter { self.field_terms(s, cols)? } else { Vec::new() };
            for (r, m) in mask.iter_mut().enumerate() {
                if !*m {
                    continue;
                }
                let (site, th) = (cols.callsites[r], cols.threads[r]);
                *m = match tri(site, th) {
                    Tri::True => true,
                    Tri::False => false,
                    Tri::Unknown => {
                        let (cs, th) = (self.tables.site_code(s, site), self.tables.thread_code(s, th));
                        !terms.is_empty() && self.pairs.test_row(cs, th, &|i| terms[i][r])
                    }
                };
            }
        }
        Ok((mask, copies))
    }

    /// The field terms of the filter evaluated by polars on the chunk's
    /// field columns: one bitmap per term ([`PairFilter::field_terms`]),
    /// false where a row lacks the field.
    fn field_terms(&self, s: usize, cols: &ChunkColumns) -> PolarsResult<Vec<Vec<bool>>> {
        let n = cols.len();
        let tables = self.tables;
        let field = |name: &str| tables.fields.get(name).map(|info| tables.field_series(info, s, cols));
        let mut c = Compiler { tables, field: &field, extra: Vec::new() };
        let mut exprs = Vec::new();
        for (i, t) in self.pairs.field_terms().iter().enumerate() {
            let e = c
                .expr(&crate::filter::Expr::Term(t.clone()))
                .map_err(|e| PolarsError::ComputeError(e.message.into()))?;
            exprs.push(e.alias(format!("t{i}")));
        }
        if exprs.is_empty() {
            return Ok(Vec::new());
        }
        let df = DataFrame::new(n, std::mem::take(&mut c.extra))?;
        let out = df.lazy().select(exprs).collect()?;
        out.columns()
            .iter()
            .map(|col| {
                let m = col.as_materialized_series().bool()?.rechunk();
                if m.len() != n {
                    // A literal gives one value.
                    return Ok(vec![m.get(0).unwrap_or(false); n]);
                }
                let arr = m.downcast_iter().next().expect("one chunk");
                // Nulls (no such field) count as false.
                Ok(match arr.validity() {
                    Some(valid) => arr.values().iter().zip(valid.iter()).map(|(v, ok)| v && ok).collect(),
                    None => arr.values().iter().collect(),
                })
            })
            .collect()
    }
}

impl Tables {
    /// The number of threads of snapshot `source`.
    pub(crate) fn sources_threads(&self, source: usize) -> u32 {
        let start = self.sources[source].thread_offset;
        let end = self.sources.get(source + 1).map_or(self.threads.len() as u32, |n| n.thread_offset);
        end - start
    }

    /// The number of call sites of snapshot `source`.
    pub(crate) fn sources_sites(&self, source: usize) -> u32 {
        let start = self.sources[source].site_offset;
        let end = self.sources.get(source + 1).map_or(self.sites.len() as u32, |n| n.site_offset);
        end - start
    }
}

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

/// The partial state of one aggregated field in one group.
#[derive(Debug, Clone, Default)]
struct FieldAgg {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Values added one by one (for exact quantiles, 8 bytes each)…
    values: Vec<f64>,
    /// …and those of merged partials, in blocks of their exact size, so
    /// that no growing vector doubles the memory they take.
    blocks: Vec<Vec<f64>>,
}

impl FieldAgg {
    #[inline]
    fn add(&mut self, v: f64, keep: bool) {
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

    fn finish(&mut self, f: AggFn) -> Option<f64> {
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
struct Group {
    count: u64,
    fields: Vec<FieldAgg>,
}

impl Group {
    fn merge(&mut self, o: Group) {
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
struct Partial {
    /// Events per (call-site code, thread code).
    pairs: HashMap<(u32, u32), u64>,
    /// Row-keyed groups.
    groups: HashMap<Vec<KeyValue>, Group>,
    /// Earliest and latest matching event found exactly.
    span: Option<(i64, i64)>,
    /// Chunks counted from statistics whose span is not exact.
    inexact: Vec<(usize, usize)>,
    /// Per snapshot: copies skipped, rows decoded, events of chunks that
    /// failed to decode.
    copies: Vec<u64>,
    decoded_rows: Vec<u64>,
    damaged: Vec<u64>,
    executed: Executed,
    n_fields: usize,
    keep_values: Vec<bool>,
}

impl Partial {
    fn new(plan: &Plan<'_>) -> Partial {
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
        }
    }

    fn widen(&mut self, a: i64, b: i64) {
        self.span = Some(self.span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
    }

    fn group(&mut self, key: &[KeyValue]) -> &mut Group {
        if !self.groups.contains_key(key) {
            self.groups.insert(key.to_vec(), Group { count: 0, fields: vec![FieldAgg::default(); self.n_fields] });
        }
        self.groups.get_mut(key).expect("inserted")
    }

    /// Adds a chunk's group of call site `key` to this partial's.
    fn merge_group(&mut self, key: &[KeyValue], g: Group) {
        match self.groups.get_mut(key) {
            Some(x) => x.merge(g),
            None => {
                self.groups.insert(key.to_vec(), g);
            }
        }
    }

    fn add_row(&mut self, _plan: &Plan<'_>, key: &[KeyValue], values: &[Option<f64>]) {
        let keep_values = std::mem::take(&mut self.keep_values);
        let g = self.group(key);
        g.count += 1;
        for ((f, v), &keep) in g.fields.iter_mut().zip(values).zip(&keep_values) {
            if let Some(v) = v {
                f.add(*v, keep);
            }
        }
        self.keep_values = keep_values;
    }

    /// Events of a pair counted from statistics, into the row-keyed groups
    /// (only when no key or aggregate needs field values: see the plan).
    fn add_group_count(&mut self, plan: &Plan<'_>, cs: u32, th: u32, bucket: Option<i64>, n: u64) {
        let mut key = Vec::new();
        plan.row_key(cs, th, bucket, 0, 0, &[], &mut key);
        self.group(&key).count += n;
    }

    fn merge(mut self, o: Partial) -> Partial {
        if self.pairs.len() < o.pairs.len() && self.groups.is_empty() {
            return o.merge(self);
        }
        for (k, n) in o.pairs {
            *self.pairs.entry(k).or_default() += n;
        }
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

impl fmt::Display for Executed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let skipped: u64 = self.skipped.iter().sum();
        writeln!(f, "executed")?;
        writeln!(
            f,
            "  chunks     {} answered from statistics (CRC checked, not decompressed), {} decoded{}, {} skipped (copies {}, time {}, filter {}, unreadable {})",
            self.from_stats,
            self.decoded,
            if self.decoded_for_span > 0 {
                format!(" and {} again for the time span", self.decoded_for_span)
            } else {
                String::new()
            },
            skipped,
            self.skipped[Skip::Copies as usize],
            self.skipped[Skip::Time as usize],
            self.skipped[Skip::Filter as usize],
            self.skipped[Skip::Unreadable as usize],
        )?;
        writeln!(
            f,
            "  columns    call site, thread: {} chunks; time: {}; sequence: {}; fields: {}; filter on field values: {}",
            self.decoded, self.ts_columns, self.seq_columns, self.field_columns, self.row_filtered
        )?;
        writeln!(f, "  rows       {} decoded, {} matched", self.rows_decoded, self.matched)?;
        writeln!(f, "  time       {:.3} s", self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// The streaming engine's answers against the in-memory engine's (every
/// chunk decoded into one frame, then filtered and counted): the same.
#[cfg(test)]
pub(crate) mod equivalence {
    use super::*;
    use crate::catalog::OpenOptions;
    use crate::dataset::{Engine, Input};

    /// The questions asked of every input set.
    pub(crate) fn questions() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
        // (filter, group keys, aggregates)
        vec![
            ("", "", None),
            ("", "target", None),
            ("", "level,thread", None),
            ("", "service,pid", Some("count")),
            ("", "time:1ms", None),
            ("", "time:1s,target", None),
            ("level>=warn", "target", None),
            ("level=info and thread!=main", "message", None),
            ("qty>1000", "target", Some("p50:qty,max:price")),
            ("not qty>1000", "target", Some("mean:qty,sum:n,p99:n")),
            ("n>=100 and n<900", "level", Some("min:n,p999:n,p90:i")),
            ("target=orders or symbol~AA", "symbol", None),
            ("", "ok,target", Some("p50:price")),
            ("", "n", None),
            ("venue=XNAS", "thread", Some("max:n")),
        ]
    }

    /// Compares both engines on `inputs` for every question, and with time
    /// bounds cutting the events in three.
    pub(crate) fn check(inputs: &[Input]) {
        let engine = Engine::new();
        let ds = engine.load(inputs).expect("load");
        let catalog = Catalog::open(inputs, OpenOptions::default(), &|_| ()).expect("open");
        let range = ds.all().time_range();
        let mut bounds = vec![(None, None)];
        if let Some((a, b)) = range {
            let third = (b - a) / 3;
            bounds.push((Some(a + third), None));
            bounds.push((None, Some(b - third)));
            bounds.push((Some(a + third), Some(b - third)));
        }
        for (filter, keys, aggs) in questions() {
            let filter = Filter::parse(filter).unwrap();
            let keys: Vec<GroupKey> = if keys.is_empty() {
                Vec::new()
            } else {
                keys.split(',').map(|k| GroupKey::parse(k).unwrap()).collect()
            };
            let aggs: Vec<Agg> = aggs
                .map(|a| a.split(',').map(|a| Agg::parse(a).unwrap()).filter(|a| a.field.is_some()).collect())
                .unwrap_or_default();
            for &(since, until) in &bounds {
                let view = match ds.filter(&filter) {
                    Ok(v) => v.between(since, until),
                    Err(_) => {
                        // An unknown field: the streaming engine refuses it too.
                        let q = Question { filter: filter.clone(), since, until, stats: true, group: None };
                        assert!(Plan::new(&catalog, q).is_err(), "{filter}");
                        continue;
                    }
                };
                let group = (!keys.is_empty()).then(|| (keys.clone(), aggs.clone()));
                let q = Question { filter: filter.clone(), since, until, stats: true, group: group.clone() };
                let what =
                    format!("{inputs:?} filter {filter} keys {keys:?} aggs {aggs:?} since {since:?} until {until:?}");
                let plan = match Plan::new(&catalog, q) {
                    Ok(p) => p,
                    Err(e) => {
                        assert!(view.group_by(&keys, &aggs).is_err(), "{what}: {e}");
                        continue;
                    }
                };
                let answer = plan.run(false, &|_| ()).unwrap_or_else(|e| panic!("{what}: {e}"));
                let want = view.stats();
                let got = answer.stats.as_ref().unwrap();
                assert_eq!(got.events, want.events, "{what}");
                assert_eq!(got.span, want.span, "{what}");
                assert_eq!(got.levels, want.levels, "{what}");
                assert_eq!(got.targets, want.targets, "{what}");
                assert_eq!(got.messages, want.messages, "{what}");
                assert_eq!(got.threads, want.threads, "{what}");
                let files = |s: &Stats| s.files.iter().map(|f| f.events).collect::<Vec<_>>();
                assert_eq!(files(got), files(&want), "{what}");
                if let Some((keys, aggs)) = &group {
                    let want = view.group_by(keys, aggs).unwrap();
                    let got = answer.groups.as_ref().unwrap();
                    assert_eq!((&got.keys, &got.aggs), (&want.keys, &want.aggs), "{what}");
                    assert_eq!(got.rows.len(), want.rows.len(), "{what}: {got:?} vs {want:?}");
                    // Equal keys (two threads of one name) come in any order
                    // in the in-memory engine: compare the rows as sets.
                    let sorted = |rows: &[GroupRow]| {
                        let mut v = rows.to_vec();
                        v.sort_by_key(|r| (std::cmp::Reverse(r.count), format!("{:?}{:?}", r.key, r.values)));
                        v
                    };
                    for (g, w) in sorted(&got.rows).iter().zip(&sorted(&want.rows)) {
                        assert_eq!((&g.key, g.count), (&w.key, w.count), "{what}: {got:?} vs {want:?}");
                        for (a, b) in g.values.iter().zip(&w.values) {
                            let close = match (a, b) {
                                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                                (None, None) => true,
                                _ => false,
                            };
                            assert!(close, "{what}: {g:?} vs {w:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_testdata_file_and_all_of_them() {
        let td = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut files: Vec<_> = std::fs::read_dir(&td)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        files.sort();
        for f in &files {
            check(&[Input::File(f.clone())]);
        }
        check(&files.iter().cloned().map(Input::File).collect::<Vec<_>>());
    }
}

/// The same on snapshots written here, from random events of a few call
/// sites and threads, taken at random moments (overlapping, with the small
/// ring overwriting) and cut into chunks of random sizes.
#[cfg(test)]
mod generated {
    use super::equivalence::check;
    use crate::dataset::Input;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn recorder() -> &'static tempfile::TempDir {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let t = ttlog_core::Trace::builder()
                .service("generated")
                .level(ttlog_core::Level::Trace)
                .capacity_bytes(16 << 10)
                .storage_path(dir.path())
                .snapshot_on_signals(false)
                .snapshot_on_panic(false)
                .snapshot_interval(None)
                .install()
                .unwrap();
            std::mem::forget(t);
            dir
        })
    }

    /// One event: call site by `kind`, values from `v`.
    fn log(kind: u8, v: u64) {
        match kind % 6 {
            0 => {
                ttlog_core::info!(target: "orders", "order filled", qty = v % 3000, price = (v % 97) as f64 + 0.25, symbol = if v.is_multiple_of(2) { "AAPL" } else { "MSFT" })
            }
            1 => ttlog_core::debug!("tick", n = v, venue = "XNAS"),
            2 => {
                ttlog_core::warn!(target: "risk", "limit near", used = (v % 100) as f64 / 100.0, ok = v.is_multiple_of(3))
            }
            3 => ttlog_core::error!("disk full", i = v as i64 - 500),
            4 => ttlog_core::trace!("bare"),
            _ => ttlog_core::info!(target: "orders", "order filled", qty = v % 5000, price = 1.5, symbol = "NVDA"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        #[test]
        fn streaming_answers_equal_full_decode_answers(
            steps in proptest::collection::vec((0u8..3, proptest::collection::vec((any::<u8>(), 0u64..10_000), 1..200), 1usize..400), 1..4)
        ) {
            let dir = recorder();
            let out = tempfile::tempdir_in(dir.path()).unwrap();
            let mut inputs = Vec::new();
            for (i, (threads, events, chunk)) in steps.iter().enumerate() {
                std::thread::scope(|s| {
                    for t in 0..=*threads {
                        let events = events.clone();
                        std::thread::Builder::new()
                            .name(format!("w{t}"))
                            .spawn_scoped(s, move || events.iter().for_each(|&(k, v)| log(k.wrapping_add(t), v)))
                            .unwrap();
                    }
                });
                let mut meta = ttlog_core::snapshot::SnapshotMeta::new("generated", "periodic");
                if i % 2 == 1 {
                    // Another "process": its events interleave in time with
                    // the others' (the streamed merge's hard case).
                    meta.instance = Some(format!("{:032x}", 0x5eed_u128 + i as u128));
                }
                let bytes = ttlog_core::snapshot::encode_chunked(&ttlog_core::capture(), &meta, *chunk);
                let path = out.path().join(format!("{i}.bin"));
                std::fs::write(&path, bytes).unwrap();
                inputs.push(Input::File(path));
            }
            check(&inputs);
            crate::stream::equivalence::check(&inputs);
        }
    }
}
