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
//!
//! # Where things are
//!
//! - `mod.rs` (here): the [`Question`], the [`Plan`] (what each chunk
//!   contributes, [`Plan::explain`]) and the [`Answer`];
//! - `run.rs`: [`Plan::run`]: each chunk skipped, counted from its
//!   statistics or decoded (only the columns planned), in parallel;
//! - `select.rs`: which rows of a decoded chunk count (copies, time
//!   bounds, the filter), shared with the events stream ([`crate::stream`]);
//! - `partial.rs`: the operators' partial states (pair counts, groups,
//!   aggregates, exact quantiles), which merge associatively.

mod partial;
mod run;
mod select;

use crate::catalog::{Catalog, ChunkKeep};
use crate::compile::{PairFilter, Tri};
use crate::dataset::LoadError;
use crate::filter::{Filter, FilterError, Key};
use crate::stats::{self, Agg, AggFn, GroupKey, GroupTable, Stats};
use crate::tables::Tables;
use polars::prelude::*;
pub(crate) use select::Selector;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkStats, SnapshotError};

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
            let b = |t: Option<i64>| t.map_or("…".to_owned(), ttlog_core::time::format_rfc3339);
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

/// The streaming engine's answers against the in-memory engine's (every
/// chunk decoded into one frame, then filtered and counted): the same.
#[cfg(test)]
pub(crate) mod equivalence {
    use super::*;
    use crate::catalog::OpenOptions;
    use crate::dataset::{Engine, Input};
    use crate::stats::GroupRow;

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
        let files = crate::testdata_files();
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
