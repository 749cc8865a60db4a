//! Summaries of a [`View`]: [`Stats`] (`--stats`) and group-by tables
//! (`--group-by`, `--agg`).
//!
//! Both work on the frame's numeric codes and only then turn codes into
//! text through the call-site and thread tables: no per-row strings. Stats
//! and count-only group-bys by call-site keys or the thread read the view's
//! counts per (call site, thread) code pair, counted once in one parallel
//! pass (`View::code_counts`); other group-bys (a time bucket, a field,
//! an aggregate of a field) are one polars group-by over key columns (a
//! call-site key as a code gathered through a small lookup).

use crate::dataset::{CodeCount, View, cols};
use crate::filter::Key;
use crate::tables::{SourceInfo, Tables};
use polars::prelude::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use ttlog_core::Level;

/// An error of a group-by request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GroupError(pub String);

/// Counts of a view: what `--stats` prints.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Events in the view.
    pub events: u64,
    /// Earliest and latest timestamps (UTC ns).
    pub span: Option<(i64, i64)>,
    /// Events per level, most verbose first (every level listed).
    pub levels: Vec<(Level, u64)>,
    /// Events per target, most first.
    pub targets: Vec<(Arc<str>, u64)>,
    /// Events per (level, target, message), most first.
    pub messages: Vec<MessageCount>,
    /// Events per thread, most first.
    pub threads: Vec<ThreadCount>,
    /// Per snapshot file: what it holds and how many of its events are in
    /// the view.
    pub files: Vec<FileStats>,
    /// Call sites with a rate limit, most suppressed first.
    pub limited: Vec<LimitedCount>,
    /// What filled each thread's ring, in the newest snapshot of each
    /// process: most overwritten first.
    pub pressure: Vec<RingPressure>,
}

/// What filled one thread's ring: its capacity, what it wrote and lost,
/// the time it still held, and the call sites that wrote what it held (the
/// records that overwrote the lost ones). From the newest snapshot of the
/// thread's process; the call sites, bytes and window need format 1.2.
#[derive(Debug, Clone, PartialEq)]
pub struct RingPressure {
    /// Thread code (into [`Tables::threads`]) in the newest snapshot.
    pub thread: u32,
    /// Records ever written to the ring.
    pub written: u64,
    /// Records lost to overwriting.
    pub overwritten: u64,
    /// The ring's capacity, bytes.
    pub capacity: Option<u64>,
    /// Ring bytes the kept records take.
    pub kept_bytes: Option<u64>,
    /// Oldest and newest kept record (UTC ns).
    pub window: Option<(i64, i64)>,
    /// The call sites of the kept records, most bytes first.
    pub sites: Vec<RingSite>,
}

impl RingPressure {
    /// Records the ring held.
    pub fn kept(&self) -> u64 {
        self.written.saturating_sub(self.overwritten)
    }

    /// The call sites that filled the ring most: the `n` with the most
    /// bytes and the `n` with the most records (a chatty statement of
    /// small events is among them even when larger events take more
    /// bytes), most bytes first.
    pub fn top_sites(&self, n: usize) -> Vec<&RingSite> {
        let mut by_events: Vec<&RingSite> = self.sites.iter().collect();
        by_events.sort_by(|a, b| b.events.cmp(&a.events).then(a.site.cmp(&b.site)));
        let mut out: Vec<&RingSite> = self.sites.iter().take(n).collect();
        for s in by_events.into_iter().take(n) {
            if !out.iter().any(|o| o.site == s.site) {
                out.push(s);
            }
        }
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.site.cmp(&b.site)));
        out
    }

    /// The share of what was written that was overwritten, 0 to 1.
    pub fn overwritten_share(&self) -> f64 {
        if self.written == 0 { 0.0 } else { self.overwritten as f64 / self.written as f64 }
    }
}

/// One call site's share of a ring.
#[derive(Debug, Clone, PartialEq)]
pub struct RingSite {
    /// Call-site code (into [`Tables::sites`]).
    pub site: u32,
    /// Its records in the ring.
    pub events: u64,
    /// The ring bytes they take.
    pub bytes: u64,
}

/// The ring pressure of every thread of the newest snapshot of each
/// process, most overwritten first (then most written).
pub fn ring_pressure(tables: &Tables) -> Vec<RingPressure> {
    let mut out = Vec::new();
    for p in &tables.processes {
        let Some(&newest) = p.sources.first() else { continue };
        let first = tables.sources[newest].thread_offset;
        let n_sites = tables.sources_sites(newest);
        for code in first..first + tables.sources_threads(newest) {
            let th = &tables.threads[code as usize];
            if th.written == 0 {
                continue;
            }
            let ring = th.ring.as_deref();
            let sites = ring
                .map(|r| {
                    r.sites
                        .iter()
                        .filter(|u| u.callsite >= 1 && u.callsite <= n_sites)
                        .map(|u| RingSite {
                            site: tables.site_code(newest, u.callsite),
                            events: u.events,
                            bytes: u.bytes,
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(RingPressure {
                thread: code,
                written: th.written,
                overwritten: th.overwritten,
                capacity: ring.map(|r| r.capacity),
                kept_bytes: ring.map(|r| r.kept_bytes),
                window: ring.and_then(|r| Some((r.oldest_ns?, r.newest_ns?))),
                sites,
            });
        }
    }
    out.sort_by(|a, b| b.overwritten.cmp(&a.overwritten).then(b.written.cmp(&a.written)).then(a.thread.cmp(&b.thread)));
    out
}

/// A rate-limited statement: its limit, its events in the view and the
/// events its limit kept out of the rings (per process the count of its
/// newest snapshot, a count since the process started; summed over
/// processes).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitedCount {
    /// Level.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// The limit, events a second (`None`: lifted before the snapshot;
    /// the highest where processes differ).
    pub per_second: Option<u32>,
    /// Its events in the view.
    pub written: u64,
    /// Events not written because of the limit.
    pub suppressed: u64,
}

impl Stats {
    /// Events per second over the span (`None` for fewer than two distinct
    /// timestamps).
    pub fn rate(&self) -> Option<f64> {
        let (a, b) = self.span?;
        (b > a).then(|| self.events as f64 / span_seconds(a, b))
    }

    /// Seconds from the first event to the last, over the whole range of
    /// timestamps (`i64::MIN` to `i64::MAX` is about 584.5 years, not a
    /// wrapped negative number).
    pub fn span_seconds(&self) -> Option<f64> {
        self.span.map(|(a, b)| span_seconds(a, b))
    }
}

/// Seconds from `a` to `b` (UTC ns), computed in 128 bits so that no pair
/// of timestamps overflows.
///
/// ```
/// assert_eq!(ttlog_cli::stats::span_seconds(i64::MIN, i64::MAX), 18_446_744_073.709_553);
/// assert_eq!(ttlog_cli::stats::span_seconds(0, 1_500_000_000), 1.5);
/// ```
pub fn span_seconds(a: i64, b: i64) -> f64 {
    (i128::from(b) - i128::from(a)) as f64 / 1e9
}

/// The start of the time bucket of `bucket_ns` nanoseconds that holds `ts`
/// (buckets are aligned on the Unix epoch). The earliest bucket begins
/// before the earliest representable time: its start is then that time,
/// `i64::MIN`, rather than a product that wraps to the year 2262.
///
/// ```
/// use ttlog_cli::stats::bucket_start;
/// assert_eq!(bucket_start(1_500, 1_000), 1_000);
/// assert_eq!(bucket_start(-1, 1_000), -1_000);
/// assert_eq!(bucket_start(i64::MIN, 1_000_000_000), i64::MIN);
/// assert_eq!(bucket_start(i64::MAX, 1_000_000_000), 9_223_372_036_000_000_000);
/// ```
pub fn bucket_start(ts: i64, bucket_ns: i64) -> i64 {
    ts.div_euclid(bucket_ns).checked_mul(bucket_ns).unwrap_or(i64::MIN)
}

/// Events of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageCount {
    /// Level.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Events.
    pub count: u64,
}

/// Events of one thread.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadCount {
    /// Index into [`Dataset::sources`](crate::Dataset::sources).
    pub source: usize,
    /// Thread id.
    pub id: u64,
    /// Thread name.
    pub name: Option<Arc<str>>,
    /// Events in the view.
    pub count: u64,
}

/// One snapshot file in [`Stats`].
#[derive(Debug, Clone)]
pub struct FileStats {
    /// The file.
    pub source: Arc<SourceInfo>,
    /// Its events in the view.
    pub events: u64,
}

fn sort_desc<T, K: Ord>(v: &mut [T], count: impl Fn(&T) -> u64, key: impl Fn(&T) -> K) {
    v.sort_by(|a, b| count(b).cmp(&count(a)).then_with(|| key(a).cmp(&key(b))));
}

/// The stats of events counted per (call-site code, thread code) pair:
/// levels, targets, messages, threads and files are read off the pairs.
/// `sources` are the tables' files as the question saw them (events
/// decoded, copies skipped).
pub(crate) fn stats_of(
    tables: &Tables,
    sources: &[Arc<SourceInfo>],
    counts: &[CodeCount],
    events: u64,
    span: Option<(i64, i64)>,
) -> Stats {
    let mut by_site: HashMap<u32, u64> = HashMap::new();
    let mut by_thread: HashMap<u32, u64> = HashMap::new();
    for c in counts {
        *by_site.entry(c.cs).or_default() += c.n;
        *by_thread.entry(tables.thread_canon[c.th as usize]).or_default() += c.n;
    }
    let mut levels: Vec<(Level, u64)> = Level::ALL.iter().map(|&l| (l, 0)).collect();
    let mut targets: HashMap<Arc<str>, u64> = HashMap::new();
    let mut messages: HashMap<(Level, Arc<str>, Arc<str>), u64> = HashMap::new();
    let mut per_file = vec![0u64; sources.len()];
    for (&cs, &n) in &by_site {
        let (site, _) = tables.site(cs);
        let i = &site.info;
        levels[i.level as usize].1 += n;
        *targets.entry(Arc::clone(&i.target)).or_default() += n;
        *messages.entry((i.level, Arc::clone(&i.target), Arc::clone(&i.message))).or_default() += n;
        per_file[site.source as usize] += n;
    }
    let mut targets: Vec<(Arc<str>, u64)> = targets.into_iter().collect();
    sort_desc(&mut targets, |t| t.1, |t| Arc::clone(&t.0));
    let mut messages: Vec<MessageCount> = messages
        .into_iter()
        .map(|((level, target, message), count)| MessageCount { level, target, message, count })
        .collect();
    sort_desc(&mut messages, |m| m.count, |m| (Arc::clone(&m.target), Arc::clone(&m.message)));
    let mut threads: Vec<ThreadCount> = by_thread
        .iter()
        .map(|(&th, &count)| {
            let t = &tables.threads[th as usize];
            ThreadCount { source: t.source as usize, id: t.id, name: t.name.clone(), count }
        })
        .collect();
    sort_desc(&mut threads, |t| t.count, |t| (t.source, t.id));
    let files = sources.iter().zip(per_file).map(|(s, events)| FileStats { source: Arc::clone(s), events }).collect();
    let limited = limited_of(tables, &messages);
    let pressure = ring_pressure(tables);
    Stats { events, span, levels, targets, messages, threads, files, limited, pressure }
}

/// The rate-limited statements of the newest snapshot of each process.
fn limited_of(tables: &Tables, messages: &[MessageCount]) -> Vec<LimitedCount> {
    let newest: std::collections::HashSet<u32> =
        tables.processes.iter().filter_map(|p| p.sources.first()).map(|&s| s as u32).collect();
    // (level, target, message) → (highest limit, suppressed).
    type Statement = (Level, Arc<str>, Arc<str>);
    let mut by_message: HashMap<Statement, (Option<u32>, u64)> = HashMap::new();
    for site in tables.sites.iter().filter(|s| newest.contains(&s.source)) {
        let (i, Some(limit)) = (&site.info, site.info.rate_limit) else { continue };
        let e = by_message.entry((i.level, Arc::clone(&i.target), Arc::clone(&i.message))).or_default();
        e.0 = e.0.max(limit.per_second);
        e.1 = e.1.saturating_add(limit.suppressed);
    }
    let mut limited: Vec<LimitedCount> = by_message
        .into_iter()
        .map(|((level, target, message), (per_second, suppressed))| {
            let written = messages
                .iter()
                .find(|m| m.level == level && m.target == target && m.message == message)
                .map_or(0, |m| m.count);
            LimitedCount { level, target, message, per_second, written, suppressed }
        })
        .collect();
    sort_desc(&mut limited, |l| l.suppressed, |l| (Arc::clone(&l.target), Arc::clone(&l.message)));
    limited
}

impl View {
    /// Counts by level, target, message, thread and file, and the time span.
    ///
    /// ```
    /// use ttlog_cli::{Engine, Input};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
    /// let stats = Engine::new().load(&[Input::File(p)]).unwrap().all().stats();
    /// assert_eq!(stats.events, 43);
    /// assert_eq!(stats.targets[0], ("gen_testdata".into(), 22));
    /// ```
    pub fn stats(&self) -> Stats {
        let ds = self.dataset();
        let sources: Vec<Arc<SourceInfo>> = ds.sources().to_vec();
        stats_of(ds.tables(), &sources, self.code_counts(), self.len() as u64, self.time_range())
    }

    /// Groups the view's events by `keys` and computes `aggs` (the count is
    /// always computed), most events first.
    ///
    /// ```
    /// use ttlog_cli::{Agg, Engine, GroupKey, Input};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
    /// let view = Engine::new().load(&[Input::File(p)]).unwrap().all();
    /// let keys = [GroupKey::parse("target").unwrap()];
    /// let aggs = [Agg::parse("p50:qty").unwrap()];
    /// let t = view.group_by(&keys, &aggs).unwrap();
    /// // Most events first: gen_testdata (22 events, none with a qty), then orders.
    /// assert_eq!(t.rows[1].key[0].to_string(), "orders");
    /// assert_eq!(t.rows[1].count, 20);
    /// assert_eq!(t.rows[1].values[0], Some(950.0));
    /// ```
    ///
    /// # Errors
    /// An unknown field, or a non-numeric field under a numeric aggregate.
    pub fn group_by(&self, keys: &[GroupKey], aggs: &[Agg]) -> Result<GroupTable, GroupError> {
        match self.group_by_codes(keys, aggs) {
            Some(t) => Ok(t),
            None => self.group_by_rows(keys, aggs),
        }
    }

    /// The general group-by: a key column per key (a call-site key through
    /// a gather of its dictionary codes), one polars group-by over them.
    fn group_by_rows(&self, keys: &[GroupKey], aggs: &[Agg]) -> Result<GroupTable, GroupError> {
        let ds = self.dataset();
        let perr = |e: PolarsError| GroupError(e.to_string());
        let mut columns: Vec<Column> = Vec::new();
        let mut decoders: Vec<Decoder> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let name = format!("k{i}");
            match key {
                GroupKey::Time(bucket) => {
                    let ts = self.frame().column(cols::TS).map_err(perr)?.i64().map_err(perr)?.clone();
                    let b = *bucket;
                    let c = ts.apply_values(|t| bucket_start(t, b));
                    columns.push(c.with_name(name.as_str().into()).into_column());
                    decoders.push(Decoder::Time);
                }
                GroupKey::Key(Key::Thread) => {
                    // One thread of a process is one group, whichever file.
                    let canon = UInt32Chunked::from_vec("canon".into(), ds.tables().thread_canon.clone());
                    let th = self.frame().column(cols::TH).map_err(perr)?.u32().map_err(perr)?.clone();
                    let idx: IdxCa = th.cast(&IDX_DTYPE).map_err(perr)?.idx().map_err(perr)?.clone();
                    let th = canon.take(&idx).map_err(perr)?;
                    columns.push(th.with_name(name.as_str().into()).into_column());
                    decoders.push(Decoder::Thread);
                }
                GroupKey::Key(Key::Field(f)) => {
                    let c = self.field_column(f).ok_or_else(|| GroupError(format!("no event has a field '{f}'")))?;
                    columns.push(c.with_name(name.as_str().into()).into_column());
                    decoders.push(Decoder::Field);
                }
                GroupKey::Key(k) => {
                    let (lookup, values) = site_dictionary(ds.tables(), k);
                    let lookup = UInt32Chunked::from_vec("lookup".into(), lookup);
                    let cs = self.frame().column(cols::CS).map_err(perr)?.u32().map_err(perr)?.clone();
                    let idx: IdxCa = cs.cast(&IDX_DTYPE).map_err(perr)?.idx().map_err(perr)?.clone();
                    let c = lookup.take(&idx).map_err(perr)?;
                    columns.push(c.with_name(name.as_str().into()).into_column());
                    decoders.push(Decoder::Table(values));
                }
            }
        }
        let mut agg_exprs = vec![len().alias("count")];
        let mut agg_names = Vec::new();
        for (j, a) in aggs.iter().enumerate() {
            let Some(field) = &a.field else { continue };
            let c = self.field_column(field).ok_or_else(|| GroupError(format!("no event has a field '{field}'")))?;
            if !c.dtype().is_primitive_numeric() {
                return Err(GroupError(format!("{}: field '{field}' is not numeric ({})", a.name(), c.dtype())));
            }
            let name = format!("a{j}");
            let c = c.cast(&DataType::Float64).map_err(perr)?;
            columns.push(c.with_name(name.as_str().into()).into_column());
            let e = col(name.as_str());
            agg_exprs.push(
                match a.func {
                    AggFn::Count => unreachable!("count has no field"),
                    AggFn::Min => e.min(),
                    AggFn::Max => e.max(),
                    AggFn::Mean => e.mean(),
                    // polars sums no value to 0; a group without the field has no sum.
                    AggFn::Sum => when(e.clone().count().gt(lit(0))).then(e.sum()).otherwise(lit(NULL)),
                    AggFn::Quantile(q) => e.quantile(lit(q), QuantileMethod::Linear),
                }
                .alias(name.as_str()),
            );
            agg_names.push((name, a.name()));
        }
        let height = self.len();
        let df = DataFrame::new(height, columns).map_err(perr)?;
        let key_cols: Vec<Expr> = (0..keys.len()).map(|i| col(format!("k{i}").as_str())).collect();
        let out = if keys.is_empty() {
            df.lazy().select(agg_exprs).collect().map_err(perr)?
        } else {
            df.lazy().group_by(key_cols).agg(agg_exprs).collect().map_err(perr)?
        };
        let n = out.height();
        let count = out.column("count").map_err(perr)?.cast(&DataType::UInt64).map_err(perr)?;
        let count = count.u64().map_err(perr)?.clone();
        let mut key_series = Vec::new();
        for i in 0..keys.len() {
            key_series.push(out.column(format!("k{i}").as_str()).map_err(perr)?.as_materialized_series().rechunk());
        }
        let mut val_series = Vec::new();
        for (name, _) in &agg_names {
            let s = out.column(name.as_str()).map_err(perr)?.cast(&DataType::Float64).map_err(perr)?;
            val_series.push(s.f64().map_err(perr)?.clone());
        }
        let mut rows = Vec::with_capacity(n);
        for r in 0..n {
            let c = count.get(r).unwrap_or(0);
            if keys.is_empty() && c == 0 {
                continue;
            }
            let key = key_series
                .iter()
                .zip(&decoders)
                .map(|(s, d)| d.decode(ds.tables(), s.get(r).unwrap_or(AnyValue::Null)))
                .collect();
            let values = val_series.iter().map(|s| s.get(r)).collect();
            rows.push(GroupRow { key, count: c, values });
        }
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| cmp_keys(&a.key, &b.key)));
        Ok(GroupTable {
            keys: keys.iter().map(GroupKey::name).collect(),
            aggs: agg_names.into_iter().map(|(_, n)| n).collect(),
            rows,
        })
    }
}

impl View {
    /// A count-only group-by whose keys are all call-site keys or the
    /// thread, from [`View::code_counts`]: the per-(call site, thread)
    /// counts are summed by the keys' codes (a call-site key's code is its
    /// value's index in the small dictionary of [`site_dictionary`]; a
    /// thread's its thread code, as in the general path), then decoded.
    /// `None` when the request needs the rows (a time or field key, an
    /// aggregate of a field).
    fn group_by_codes(&self, keys: &[GroupKey], aggs: &[Agg]) -> Option<GroupTable> {
        if aggs.iter().any(|a| a.field.is_some()) {
            return None;
        }
        groups_of_codes(self.dataset().tables(), keys, self.code_counts())
    }
}

/// A count-only group-by whose keys are all call-site keys or the thread,
/// from events counted per (call-site code, thread code) pair: the counts
/// are summed by the keys' codes (a call-site key's code is its value's
/// index in the small dictionary of [`site_dictionary`]; a thread's its
/// thread code), then decoded. `None` when a key needs the rows (a time or
/// field key) or there is none.
pub(crate) fn groups_of_codes(tables: &Tables, keys: &[GroupKey], counts: &[CodeCount]) -> Option<GroupTable> {
    if keys.is_empty() {
        return None;
    }
    enum Code {
        Site(Vec<u32>, Vec<KeyValue>),
        Thread,
    }
    let mut codes = Vec::with_capacity(keys.len());
    for key in keys {
        codes.push(match key {
            GroupKey::Key(Key::Thread) => Code::Thread,
            GroupKey::Key(Key::Field(_)) | GroupKey::Time(_) => return None,
            GroupKey::Key(k) => {
                let (lookup, values) = site_dictionary(tables, k);
                Code::Site(lookup, values)
            }
        });
    }
    let mut groups: HashMap<Vec<u32>, u64> = HashMap::new();
    for c in counts {
        let key = codes
            .iter()
            .map(|code| match code {
                Code::Site(lookup, _) => lookup[c.cs as usize],
                Code::Thread => tables.thread_canon[c.th as usize],
            })
            .collect();
        *groups.entry(key).or_default() += c.n;
    }
    let mut rows: Vec<(Vec<u32>, GroupRow)> = groups
        .into_iter()
        .map(|(codes_of_row, count)| {
            let key = codes_of_row
                .iter()
                .zip(&codes)
                .map(|(&k, code)| match code {
                    Code::Site(_, values) => values[k as usize].clone(),
                    Code::Thread => KeyValue::Str(Arc::from(tables.threads[k as usize].label().as_str())),
                })
                .collect();
            (codes_of_row, GroupRow { key, count, values: Vec::new() })
        })
        .collect();
    // Most events first, then by key; equal keys (two threads of the
    // same name) by code, so the order is always the same.
    rows.sort_by(|(ca, a), (cb, b)| {
        b.count.cmp(&a.count).then_with(|| cmp_keys(&a.key, &b.key)).then_with(|| ca.cmp(cb))
    });
    let rows = rows.into_iter().map(|(_, r)| r).collect();
    Some(GroupTable { keys: keys.iter().map(GroupKey::name).collect(), aggs: Vec::new(), rows })
}

pub(crate) fn cmp_keys(a: &[KeyValue], b: &[KeyValue]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Distinct values of a call-site key: (code of each call site, value of
/// each code).
pub(crate) fn site_dictionary(tables: &Tables, key: &Key) -> (Vec<u32>, Vec<KeyValue>) {
    let mut index: HashMap<KeyValue, u32> = HashMap::new();
    let mut values = Vec::new();
    let lookup = tables
        .sites
        .iter()
        .map(|s| {
            let src = &tables.sources[s.source as usize];
            let v = match key {
                Key::Level => KeyValue::Level(s.info.level),
                Key::Target => KeyValue::Str(Arc::clone(&s.info.target)),
                Key::Message => KeyValue::Str(Arc::clone(&s.info.message)),
                Key::File => KeyValue::Str(Arc::clone(&s.info.file)),
                Key::Line => KeyValue::U64(u64::from(s.info.line)),
                Key::Service => KeyValue::Str(Arc::clone(&src.service)),
                Key::Host => KeyValue::Str(Arc::clone(&src.hostname)),
                Key::Pid => KeyValue::U64(u64::from(src.pid)),
                Key::Thread | Key::Field(_) => unreachable!("not a call-site key"),
            };
            *index.entry(v.clone()).or_insert_with(|| {
                values.push(v);
                values.len() as u32 - 1
            })
        })
        .collect();
    (lookup, values)
}

enum Decoder {
    Time,
    Thread,
    Field,
    Table(Vec<KeyValue>),
}

impl Decoder {
    fn decode(&self, tables: &Tables, v: AnyValue<'_>) -> KeyValue {
        match (self, v) {
            (_, AnyValue::Null) => KeyValue::Null,
            (Decoder::Time, AnyValue::Int64(t)) => KeyValue::Time(t),
            (Decoder::Thread, AnyValue::UInt32(th)) => {
                KeyValue::Str(Arc::from(tables.threads[th as usize].label().as_str()))
            }
            (Decoder::Table(values), AnyValue::UInt32(c)) => values[c as usize].clone(),
            (_, AnyValue::Boolean(b)) => KeyValue::Bool(b),
            (_, AnyValue::UInt64(x)) => KeyValue::U64(x),
            (_, AnyValue::Int64(x)) => KeyValue::I64(x),
            (_, AnyValue::Float32(x)) => KeyValue::F64(f64::from(x)),
            (_, AnyValue::Float64(x)) => KeyValue::F64(x),
            (_, AnyValue::String(s)) => KeyValue::Str(Arc::from(s)),
            (_, AnyValue::StringOwned(s)) => KeyValue::Str(Arc::from(s.as_str())),
            (_, other) => KeyValue::Str(Arc::from(other.to_string().as_str())),
        }
    }
}

/// A group-by key: any filter key, or `time:DURATION` buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    /// Level, target, message, thread, file, line, service, host, pid or a
    /// field.
    Key(Key),
    /// Buckets of this many nanoseconds (`time:1s`), by start time.
    Time(i64),
}

impl GroupKey {
    /// Parses `target`, `user_id`, `time:1s`, `time:5m`, ….
    ///
    /// # Errors
    /// A bad bucket duration.
    pub fn parse(s: &str) -> Result<GroupKey, GroupError> {
        let s = s.trim();
        if let Some(d) = s.strip_prefix("time:") {
            return match crate::time::parse_duration(d) {
                Some(ns) if ns > 0 => Ok(GroupKey::Time(ns)),
                _ => Err(GroupError(format!("time bucket '{d}': expected a duration such as 1s, 1m, 500ms"))),
            };
        }
        if s.is_empty() {
            return Err(GroupError("empty group-by key".into()));
        }
        Ok(GroupKey::Key(Key::from_name(s)))
    }

    /// The key's name in output (`target`, `time`).
    pub fn name(&self) -> String {
        match self {
            GroupKey::Key(k) => k.name().to_owned(),
            GroupKey::Time(_) => "time".to_owned(),
        }
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggFn {
    /// Number of events.
    Count,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Mean.
    Mean,
    /// Sum.
    Sum,
    /// A quantile in 0..=1 (linear interpolation).
    Quantile(f64),
}

/// An aggregate of `--agg`: `count`, or `FUNC:FIELD` with FUNC one of min,
/// max, mean, sum, pNN (p50, p90, p99, p999 = 99.9 %).
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    /// The function.
    pub func: AggFn,
    /// The numeric field it reads (`None` for count).
    pub field: Option<String>,
}

impl Agg {
    /// Parses `count`, `p99:latency_us`, `mean:price`, ….
    ///
    /// ```
    /// use ttlog_cli::{Agg, AggFn};
    /// assert_eq!(Agg::parse("p99:latency_us").unwrap().func, AggFn::Quantile(0.99));
    /// assert_eq!(Agg::parse("p999:x").unwrap().func, AggFn::Quantile(0.999));
    /// assert!(Agg::parse("p99").is_err());
    /// ```
    ///
    /// # Errors
    /// Unknown function, missing field.
    pub fn parse(s: &str) -> Result<Agg, GroupError> {
        let s = s.trim();
        if s == "count" {
            return Ok(Agg { func: AggFn::Count, field: None });
        }
        let (f, field) = s.split_once(':').ok_or_else(|| {
            GroupError(format!(
                "aggregate '{s}': expected count or FUNC:FIELD (min, max, mean, sum, p50, p90, p99, p999)"
            ))
        })?;
        if field.is_empty() {
            return Err(GroupError(format!("aggregate '{s}': no field named")));
        }
        let func = match f {
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "mean" | "avg" => AggFn::Mean,
            "sum" => AggFn::Sum,
            p if p.len() >= 2 && p.starts_with('p') && p[1..].bytes().all(|b| b.is_ascii_digit()) => {
                // p5 = 5 %, p50, p99; three or more digits read as a fraction: p999 = 99.9 %.
                let digits = &p[1..];
                let q: f64 = match digits.len() {
                    1 | 2 => f64::from(digits.parse::<u8>().unwrap_or(0)) / 100.0,
                    _ if digits == "100" => 1.0,
                    _ => format!("0.{digits}").parse().map_err(|_| GroupError(format!("bad quantile '{p}'")))?,
                };
                AggFn::Quantile(q)
            }
            _ => {
                return Err(GroupError(format!(
                    "aggregate '{s}': unknown function '{f}' (count, min, max, mean, sum, p50, p90, p99, p999)"
                )));
            }
        };
        Ok(Agg { func, field: Some(field.to_owned()) })
    }

    /// The output name: `count`, `p99_latency_us`, `mean_price`.
    pub fn name(&self) -> String {
        let f = match self.func {
            AggFn::Count => return "count".into(),
            AggFn::Min => "min".to_owned(),
            AggFn::Max => "max".to_owned(),
            AggFn::Mean => "mean".to_owned(),
            AggFn::Sum => "sum".to_owned(),
            AggFn::Quantile(q) => {
                let pct = q * 100.0;
                if (pct - pct.round()).abs() < 1e-9 {
                    format!("p{}", pct.round() as u64)
                } else {
                    format!("p{}", format!("{q}").trim_start_matches("0."))
                }
            }
        };
        format!("{f}_{}", self.field.as_deref().unwrap_or(""))
    }
}

/// The result of a group-by: one row per distinct key, most events first.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTable {
    /// Key names (`target`, `time`, a field name).
    pub keys: Vec<String>,
    /// Aggregate names, in the order of [`GroupRow::values`].
    pub aggs: Vec<String>,
    /// The groups.
    pub rows: Vec<GroupRow>,
}

/// The order of a group table's rows (`--sort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSort {
    /// Most events first.
    Count,
    /// By key, ascending (time buckets in time order).
    Key,
    /// By an aggregate's value (its output name, `p99_latency_us`), largest
    /// first; groups without a value last.
    Agg(String),
}

impl GroupSort {
    /// `count`, `key`, or an aggregate as written in `--agg`
    /// (`p99:latency_us`) or as printed (`p99_latency_us`).
    ///
    /// ```
    /// use ttlog_cli::stats::GroupSort;
    /// assert_eq!(GroupSort::parse("key").unwrap(), GroupSort::Key);
    /// assert_eq!(GroupSort::parse("p99:latency_us").unwrap(), GroupSort::Agg("p99_latency_us".into()));
    /// assert_eq!(GroupSort::parse("max_qty").unwrap(), GroupSort::Agg("max_qty".into()));
    /// assert!(GroupSort::parse("").is_err());
    /// ```
    ///
    /// # Errors
    /// An empty order, or an aggregate that does not parse.
    pub fn parse(s: &str) -> Result<GroupSort, GroupError> {
        match s.trim() {
            "count" => Ok(GroupSort::Count),
            "key" => Ok(GroupSort::Key),
            "" => Err(GroupError("--sort: expected count, key or an aggregate of --agg".into())),
            a if a.contains(':') => Ok(GroupSort::Agg(Agg::parse(a)?.name())),
            a => Ok(GroupSort::Agg(a.to_owned())),
        }
    }
}

impl GroupTable {
    /// Orders the rows by `sort`, or by default by time when the first key
    /// is a time bucket and most events first otherwise; `reverse` turns
    /// the order around. Ties are broken by key, so the order is always
    /// the same.
    ///
    /// # Errors
    /// An aggregate that the table does not have.
    pub fn order(&mut self, sort: Option<&GroupSort>, reverse: bool) -> Result<(), GroupError> {
        let timed = self.rows.first().is_some_and(|r| matches!(r.key.first(), Some(KeyValue::Time(_))));
        let sort = sort.cloned().unwrap_or(if timed { GroupSort::Key } else { GroupSort::Count });
        let by_key = |a: &GroupRow, b: &GroupRow| cmp_keys(&a.key, &b.key);
        match &sort {
            GroupSort::Count => self.rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| by_key(a, b))),
            GroupSort::Key => self.rows.sort_by(by_key),
            GroupSort::Agg(name) => {
                let i = self.aggs.iter().position(|n| n == name).ok_or_else(|| {
                    GroupError(format!(
                        "--sort {name}: not an aggregate of --agg (these are: count{})",
                        self.aggs.iter().map(|n| format!(", {n}")).collect::<String>()
                    ))
                })?;
                // Largest first, groups without a value last.
                self.rows.sort_by(|a, b| match (a.values[i], b.values[i]) {
                    (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| by_key(a, b)),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => by_key(a, b),
                });
            }
        }
        if reverse {
            self.rows.reverse();
        }
        Ok(())
    }
}

/// One group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// Its key values, in the order of [`GroupTable::keys`].
    pub key: Vec<KeyValue>,
    /// Events in the group.
    pub count: u64,
    /// Aggregates, in the order of [`GroupTable::aggs`] (`None` when no
    /// event of the group has the field).
    pub values: Vec<Option<f64>>,
}

/// A value of a group key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// Events without the field.
    Null,
    /// A level.
    Level(Level),
    /// Text.
    Str(Arc<str>),
    /// An unsigned number.
    U64(u64),
    /// A signed number.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// The start of a time bucket, UTC ns.
    Time(i64),
}

impl Eq for KeyValue {}

impl std::hash::Hash for KeyValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            KeyValue::Null => {}
            KeyValue::Level(l) => l.hash(state),
            KeyValue::Str(s) => s.hash(state),
            KeyValue::U64(v) => v.hash(state),
            KeyValue::I64(v) | KeyValue::Time(v) => v.hash(state),
            KeyValue::F64(v) => v.to_bits().hash(state),
            KeyValue::Bool(v) => v.hash(state),
        }
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &KeyValue) -> Option<Ordering> {
        use KeyValue::*;
        Some(match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Level(a), Level(b)) => a.cmp(b),
            (Str(a), Str(b)) => a.cmp(b),
            (U64(a), U64(b)) => a.cmp(b),
            (I64(a), I64(b)) | (Time(a), Time(b)) => a.cmp(b),
            (F64(a), F64(b)) => a.total_cmp(b),
            (Bool(a), Bool(b)) => a.cmp(b),
            _ => self.to_string().cmp(&other.to_string()),
        })
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Null => f.write_str("(none)"),
            KeyValue::Level(l) => f.write_str(l.as_str()),
            KeyValue::Str(s) => f.write_str(s),
            KeyValue::U64(v) => write!(f, "{v}"),
            KeyValue::I64(v) => write!(f, "{v}"),
            KeyValue::F64(v) => write!(f, "{v}"),
            KeyValue::Bool(v) => write!(f, "{v}"),
            KeyValue::Time(t) => f.write_str(&ttlog_core::time::format_rfc3339(*t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_sites_are_the_largest_by_bytes_and_by_records() {
        let site = |site, events, bytes| RingSite { site, events, bytes };
        // Most bytes first, as the file lists them; site 9 writes many
        // small records.
        let sites = vec![site(1, 10, 4000), site(2, 20, 3000), site(3, 5, 2000), site(9, 90, 1440)];
        let p = RingPressure {
            thread: 0,
            written: 125,
            overwritten: 0,
            capacity: Some(16384),
            kept_bytes: Some(10_440),
            window: None,
            sites,
        };
        let ids = |v: Vec<&RingSite>| v.iter().map(|s| s.site).collect::<Vec<_>>();
        assert_eq!(ids(p.top_sites(1)), [1, 9], "the most bytes and the most records");
        assert_eq!(ids(p.top_sites(2)), [1, 2, 9]);
        assert_eq!(ids(p.top_sites(9)), [1, 2, 3, 9]);
    }
    use crate::dataset::{Engine, Input};

    #[test]
    fn count_by_codes_is_the_general_group_by() {
        let inputs: Vec<Input> = crate::testdata_files().into_iter().map(Input::File).collect();
        let ds = Engine::new().load(&inputs).unwrap();
        let filtered = ds.filter(&crate::Filter::parse("level>=info").unwrap()).unwrap();
        for view in [ds.all(), filtered, ds.all().head(0)] {
            for keys in [
                "target",
                "level",
                "message",
                "file",
                "line",
                "service",
                "host",
                "pid",
                "thread",
                "service,level",
                "thread,target",
                "level,line,host",
            ] {
                let keys: Vec<GroupKey> = keys.split(',').map(|k| GroupKey::parse(k).unwrap()).collect();
                let aggs = [Agg::parse("count").unwrap()];
                let fast = view.group_by_codes(&keys, &aggs).expect("a count by call-site keys");
                let mut general = view.group_by_rows(&keys, &aggs).unwrap();
                // The general path leaves equal keys (threads of one name) in
                // any order; compare as sets of rows there.
                let mut fast_rows = fast.rows.clone();
                let key = |r: &GroupRow| (std::cmp::Reverse(r.count), format!("{:?}", r.key));
                fast_rows.sort_by_key(key);
                general.rows.sort_by_key(key);
                assert_eq!(fast_rows, general.rows, "{keys:?}");
                assert_eq!((fast.keys, fast.aggs), (general.keys, general.aggs));
                assert_eq!(fast.rows.iter().map(|r| r.count).sum::<u64>(), view.len() as u64);
            }
        }
        let view = ds.all();
        assert!(view.group_by_codes(&[GroupKey::parse("time:1s").unwrap()], &[]).is_none());
        assert!(view.group_by_codes(&[GroupKey::parse("qty").unwrap()], &[]).is_none());
        assert!(
            view.group_by_codes(&[GroupKey::parse("target").unwrap()], &[Agg::parse("max:qty").unwrap()]).is_none()
        );
    }

    #[test]
    fn agg_names() {
        assert_eq!(Agg::parse("p99:lat").unwrap().name(), "p99_lat");
        assert_eq!(Agg::parse("p50:lat").unwrap().name(), "p50_lat");
        assert_eq!(Agg::parse("p5:lat").unwrap().func, AggFn::Quantile(0.05));
        assert_eq!(Agg::parse("p5:lat").unwrap().name(), "p5_lat");
        assert_eq!(Agg::parse("p999:lat").unwrap().name(), "p999_lat");
        assert_eq!(Agg::parse("mean:x").unwrap().name(), "mean_x");
        assert!(Agg::parse("median:x").is_err());
        assert_eq!(GroupKey::parse("time:1s").unwrap(), GroupKey::Time(1_000_000_000));
        assert!(GroupKey::parse("time:0s").is_err());
    }
}
