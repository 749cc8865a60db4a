//! Events in time order, streamed: what `ttlog-view` prints and exports
//! (text, JSON, NDJSON, CSV, Parquet) without holding the events.
//!
//! # Time order without a sort of everything
//!
//! The chunks of a snapshot are each in time order, and a chunk's
//! statistics give its time range. The stream is a k-way merge of the
//! chunks, in windows:
//!
//! 1. The chunks that can contribute (not copies, in the time bounds, the
//!    filter not false for all their call sites and threads) are sorted by
//!    their first timestamp.
//! 2. The next chunks are decoded (a few at a time, in parallel) and their
//!    matching rows selected: the *active* set. The window ends where the
//!    next chunk not yet decoded begins: no event before that time can
//!    come from a chunk not yet read.
//! 3. The active rows before the window's end are merged (by time, then
//!    input order: the order a stable sort of all events would give) and
//!    handed to the sink; chunks whose rows are all out leave the set.
//!
//! Memory is the active set: the chunks that overlap the time being written
//! (about one per process whose events interleave there), never the input.
//! `--reverse` runs the same from the end; `--tail N` runs it backwards
//! until N events, then hands them over forwards; `--limit N` stops after
//! N.

use crate::catalog::{Catalog, ChunkKeep};
use crate::compile::{PairFilter, Tri};
use crate::dataset::EventRef;
use crate::filter::Filter;
use crate::query::{QueryError, Selector, Skip};
use crate::tables::Tables;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::fmt::Write as _;
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, FieldSet, Projection, SnapshotError};

/// Which events, in which order.
#[derive(Debug, Clone, Default)]
pub struct EventQuestion {
    /// Events for which the filter holds.
    pub filter: Filter,
    /// At or after (UTC ns).
    pub since: Option<i64>,
    /// At or before (UTC ns).
    pub until: Option<i64>,
    /// Newest first.
    pub reverse: bool,
    /// Only the first N (in time order).
    pub limit: Option<usize>,
    /// Only the last N (in time order).
    pub tail: Option<usize>,
    /// Decode only these fields' columns (`None`: every field), besides
    /// those the filter needs.
    pub fields: Option<std::collections::BTreeSet<Arc<str>>>,
}

/// A chunk that can contribute events.
#[derive(Debug, Clone)]
struct Live {
    s: usize,
    c: usize,
    min_ts: i64,
    max_ts: i64,
    seqs: bool,
    row_filter: bool,
    fields: FieldSet,
}

/// A decoded chunk and its matching rows, in time order (then row order).
#[derive(Debug)]
pub struct Decoded {
    /// Snapshot.
    pub s: usize,
    /// Chunk.
    pub c: usize,
    /// Its columns.
    pub cols: ChunkColumns,
    /// The rows to output, by time.
    pub rows: Vec<u32>,
}

impl Decoded {
    fn ts(&self, i: usize) -> i64 {
        self.cols.timestamps[self.rows[i] as usize]
    }

    /// The memory it holds.
    fn bytes(&self) -> u64 {
        (self.cols.heap_bytes() + self.rows.capacity() * std::mem::size_of::<u32>()) as u64
    }
}

/// One event of a batch: a decoded chunk and a row of it (a sink that
/// keeps rows beyond the batch clones the `Arc`).
pub type RowRef<'a> = (&'a Arc<Decoded>, u32);

/// Receives the events in order, a batch at a time.
pub trait Sink {
    /// The next events.
    ///
    /// # Errors
    /// Errors of the output.
    fn batch(&mut self, tables: &Tables, rows: &[RowRef<'_>]) -> std::io::Result<()>;

    /// No more events.
    ///
    /// # Errors
    /// Errors of the output.
    fn finish(&mut self, tables: &Tables) -> std::io::Result<()>;
}

/// A sink that drops the events (`--explain` runs the stream into it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Sink for Discard {
    fn batch(&mut self, _: &Tables, _: &[RowRef<'_>]) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _: &Tables) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a stream did.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    /// Chunks skipped, by why (see [`Skip`]).
    pub skipped: [u64; 4],
    /// Chunks decoded.
    pub decoded: u64,
    /// Rows of the decoded chunks.
    pub rows_decoded: u64,
    /// Events handed to the sink.
    pub events: u64,
    /// Most chunks decoded at once (the active set).
    pub most_active: usize,
    /// Problems found while decoding (damaged chunks).
    pub problems: Vec<SnapshotError>,
}

/// A planned stream of events (see the [module docs](self)).
#[derive(Debug)]
pub struct Stream<'c> {
    catalog: &'c Catalog,
    tables: Tables,
    pairs: PairFilter,
    question: EventQuestion,
    live: Vec<Live>,
    skipped: [u64; 4],
}

/// Chunks decoded at a time when the active set needs more.
fn decode_batch() -> usize {
    crate::worker_stacks();
    rayon::current_num_threads().max(1) * 2
}

impl<'c> Stream<'c> {
    /// Plans the stream of `question`'s events over the catalog's chunks.
    ///
    /// # Errors
    /// A filter that does not fit the data.
    pub fn new(catalog: &'c Catalog, question: EventQuestion) -> Result<Stream<'c>, QueryError> {
        let tables = Tables::of(catalog);
        let pairs = PairFilter::new(&tables, &question.filter)?;
        let mut live = Vec::new();
        let mut skipped = [0u64; 4];
        let filter_fields: BTreeSet<&str> = pairs.field_terms().iter().map(|t| t.key.name()).collect();
        let (lo, hi) = (question.since.unwrap_or(i64::MIN), question.until.unwrap_or(i64::MAX));
        for (s, stats) in catalog.stats.iter().enumerate() {
            for (c, st) in stats.iter().enumerate() {
                let Ok(st) = st else {
                    skipped[Skip::Unreadable as usize] += 1;
                    continue;
                };
                let keep = &catalog.keep[s][c];
                if *keep == ChunkKeep::None {
                    skipped[Skip::Copies as usize] += 1;
                    continue;
                }
                if st.max_ts < lo || st.min_ts > hi {
                    skipped[Skip::Time as usize] += 1;
                    continue;
                }
                // The fields of the call sites whose events may be output.
                let mut sites: Vec<u32> = Vec::new();
                let mut unknown = false;
                for sc in &st.counts {
                    match pairs.test(tables.site_code(s, sc.callsite), tables.thread_code(s, sc.thread)) {
                        Tri::False => {}
                        t => {
                            unknown |= t == Tri::Unknown;
                            sites.push(sc.callsite);
                        }
                    }
                }
                if sites.is_empty() {
                    skipped[Skip::Filter as usize] += 1;
                    continue;
                }
                sites.sort_unstable();
                sites.dedup();
                let snap = &catalog.snapshots[s];
                let mut fields = Vec::new();
                for &site in &sites {
                    let Some(info) = snap.callsite(site) else { continue };
                    for (f, (name, _)) in info.fields.iter().enumerate() {
                        // Rows the filter decides by field values need the
                        // filter's fields too.
                        let wanted = question.fields.as_ref().is_none_or(|w| w.contains(&**name))
                            || (unknown && filter_fields.contains(&**name));
                        if wanted {
                            fields.push((site, f as u32));
                        }
                    }
                }
                live.push(Live {
                    s,
                    c,
                    min_ts: st.min_ts,
                    max_ts: st.max_ts,
                    seqs: matches!(keep, ChunkKeep::Some(_)),
                    row_filter: unknown,
                    fields: FieldSet::Only(fields),
                });
            }
        }
        Ok(Stream { catalog, tables, pairs, question, live, skipped })
    }

    /// The tables of the inputs.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The plan as text.
    pub fn explain(&self) -> String {
        let mut o = String::new();
        let q = &self.question;
        let chunks: usize = self.catalog.stats.iter().map(Vec::len).sum();
        let _ = writeln!(o, "plan");
        let _ = writeln!(
            o,
            "  scan       {} files, {} chunks, {} events in them ({} once each)",
            self.catalog.snapshots.len(),
            chunks,
            self.catalog.events_in_files(),
            self.catalog.events_kept()
        );
        let _ = writeln!(o, "             columns decoded: all, of the call sites whose events may be shown");
        let _ = writeln!(o, "  dedupe     by (process, thread, sequence): {} processes", self.tables.processes.len());
        if q.since.is_some() || q.until.is_some() {
            let b = |t: Option<i64>| t.map_or("…".to_owned(), ttlog_core::time::format_rfc3339);
            let _ = writeln!(o, "  time       {} .. {}", b(q.since), b(q.until));
        }
        if !q.filter.is_empty() {
            let _ = writeln!(o, "  filter     {}", q.filter);
        }
        let order = if q.reverse { "newest first" } else { "oldest first" };
        let cut = match (q.limit, q.tail) {
            (Some(n), _) => format!(", the first {n}"),
            (_, Some(n)) => format!(", the last {n}"),
            _ => String::new(),
        };
        let _ = writeln!(o, "  merge      k-way by time over the chunks, {order}{cut}");
        let _ = writeln!(
            o,
            "  chunks     {} to decode ({} with a row filter), {} skipped (copies {}, time {}, filter {}, unreadable {})",
            self.live.len(),
            self.live.iter().filter(|l| l.row_filter).count(),
            self.skipped.iter().sum::<u64>(),
            self.skipped[Skip::Copies as usize],
            self.skipped[Skip::Time as usize],
            self.skipped[Skip::Filter as usize],
            self.skipped[Skip::Unreadable as usize],
        );
        o
    }

    fn selector(&self) -> Selector<'_> {
        Selector {
            catalog: self.catalog,
            tables: &self.tables,
            pairs: &self.pairs,
            since: self.question.since,
            until: self.question.until,
        }
    }

    /// Decodes a live chunk and selects its rows, in time order.
    fn decode(&self, l: &Live) -> Result<Decoded, SnapshotError> {
        self.decode_with(l, true)
    }

    /// [`Stream::decode`]; without `timestamps` (when the time bounds do not
    /// need them) the column stays empty and the rows in the chunk's order.
    fn decode_with(&self, l: &Live, timestamps: bool) -> Result<Decoded, SnapshotError> {
        let snap = &self.catalog.snapshots[l.s];
        let projection = Projection { timestamps, threads: true, seqs: l.seqs, fields: l.fields.clone() };
        let cols = snap.decode_chunk_with(l.c, &projection)?;
        let (mask, _) = self.selector().mask(l.s, l.c, &cols, l.row_filter).map_err(|e| SnapshotError {
            file: snap.name().to_owned(),
            offset: snap.chunks()[l.c].offset,
            problem: ttlog_core::snapshot::Problem::Invalid(format!("evaluating the filter: {e}")),
        })?;
        let mut rows: Vec<u32> = mask.iter().enumerate().filter(|(_, m)| **m).map(|(r, _)| r as u32).collect();
        let ts = &cols.timestamps;
        if timestamps && !rows.windows(2).all(|w| ts[w[0] as usize] <= ts[w[1] as usize]) {
            // Only files of the original ttlog 0.1 are not in time order.
            rows.sort_by_key(|&r| ts[r as usize]);
        }
        Ok(Decoded { s: l.s, c: l.c, cols, rows })
    }

    /// Decodes every chunk that may hold events of the question, in
    /// parallel and in no order, and gives each (with its selected rows,
    /// possibly none) to `f`. Damaged chunks are left out (the merge reports
    /// them). For front ends that keep their own order of the events
    /// ([`crate::browse`]): the rows are in the chunk's order, and its
    /// timestamps are decoded only where the time bounds need them (the
    /// column is empty otherwise).
    ///
    /// # Errors
    /// Cancelled (as an I/O error).
    pub fn chunks<T: Send>(
        &self,
        progress: &(dyn Fn(u64) + Sync),
        cancelled: &(dyn Fn() -> bool + Sync),
        f: &(dyn Fn(&Decoded) -> T + Sync),
    ) -> Result<Vec<T>, QueryError> {
        let timed = self.question.since.is_some() || self.question.until.is_some();
        let out: Vec<Option<T>> = self
            .live
            .par_iter()
            .map(|l| {
                if cancelled() {
                    return None;
                }
                let d = self.decode_with(l, timed).ok()?;
                progress(d.cols.len() as u64);
                Some(f(&d))
            })
            .collect();
        if cancelled() {
            return Err(QueryError::Io(std::io::Error::other("cancelled")));
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Runs the stream into `sink`. `progress(events)` is called as chunks
    /// are decoded.
    ///
    /// The chunks held at once (the active set, and with `--tail` those
    /// that hold the rows kept) are checked against the memory limit
    /// ([`crate::memory`]) as each is decoded: chunks that all overlap in
    /// time would otherwise all be held.
    ///
    /// # Errors
    /// Errors of the sink; damage with `strict`; more chunks held at once
    /// than the memory limit allows.
    pub fn run(
        &self,
        sink: &mut dyn Sink,
        strict: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Streamed, QueryError> {
        let q = &self.question;
        let mut done = Streamed { skipped: self.skipped, ..Streamed::default() };
        // --limit takes the first events, --tail the last (read backwards);
        // either is then given in the order asked.
        let backward = if q.limit.is_some() { false } else { q.tail.is_some() || q.reverse };
        let want = q.limit.or(q.tail).unwrap_or(usize::MAX);
        let collect = (q.limit.is_some() && q.reverse) || (q.tail.is_some() && !q.reverse);
        // The order chunks are read in: by first timestamp (by last, backwards).
        let mut order: Vec<usize> = (0..self.live.len()).collect();
        if backward {
            order.sort_by_key(|&i| (Reverse(self.live[i].max_ts), Reverse(i)));
        } else {
            order.sort_by_key(|&i| (self.live[i].min_ts, i));
        }
        let begins = |i: usize| if backward { self.live[i].max_ts } else { self.live[i].min_ts };
        let mut collected: Vec<(Arc<Decoded>, u32)> = Vec::new();
        let mut active: Vec<(Arc<Decoded>, usize)> = Vec::new();
        let mut next = 0;
        let mut left = want;
        let limit = ttlog_core::memory::limit();
        // Bytes of the chunks in `active` or in `collected`.
        let mut held = 0u64;
        while left > 0 && (next < order.len() || !active.is_empty()) {
            let take = &order[next..(next + decode_batch()).min(order.len())];
            next += take.len();
            let decoded: Vec<Result<Decoded, SnapshotError>> =
                take.par_iter().map(|&i| self.decode(&self.live[i])).collect();
            for d in decoded {
                match d {
                    Ok(d) => {
                        done.decoded += 1;
                        done.rows_decoded += d.cols.len() as u64;
                        progress(d.cols.len() as u64);
                        if !d.rows.is_empty() {
                            held += d.bytes();
                            if let Err(over) = ttlog_core::memory::check_against(held, limit) {
                                let what = format!(
                                    "merging in time order holds {} chunks at once (read in parallel, or overlapping in time) and needs about {}",
                                    active.len() + 1,
                                    ttlog_core::memory::size_text(held)
                                );
                                let inputs = self.catalog.snapshots[d.s].name().to_owned();
                                return Err(
                                    crate::dataset::LoadError::MemoryLimit { inputs, what, limit: over.limit }.into()
                                );
                            }
                            active.push((Arc::new(d), 0));
                        }
                    }
                    Err(e) if strict => return Err(crate::dataset::LoadError::Damaged(e).into()),
                    Err(e) => done.problems.push(e),
                }
            }
            done.most_active = done.most_active.max(active.len());
            // The window ends where the next chunk not yet read begins: its
            // time, and its place in input order for the events at that
            // time (chunks that all begin at one instant are then written
            // one after the other, not all held until the last is read).
            let end = order.get(next).map(|&i| (begins(i), (self.live[i].s, self.live[i].c)));
            let batch = window(&mut active, end, backward, left);
            left -= batch.len();
            if collect {
                collected.extend(batch.iter().map(|&(a, r)| (Arc::clone(&active[a].0), r)));
            } else if !batch.is_empty() {
                let rows: Vec<RowRef<'_>> = batch.iter().map(|&(a, r)| (&active[a].0, r)).collect();
                done.events += rows.len() as u64;
                sink.batch(&self.tables, &rows)?;
            }
            active.retain(|(d, p)| {
                let keep = *p < d.rows.len();
                // Every row of a chunk that leaves the active set was
                // handed over; when they are collected, it stays held.
                if !keep && !collect {
                    held -= d.bytes();
                }
                keep
            });
        }
        if collect {
            collected.reverse();
            for part in collected.chunks(1 << 16) {
                let rows: Vec<RowRef<'_>> = part.iter().map(|(d, r)| (d, *r)).collect();
                done.events += rows.len() as u64;
                sink.batch(&self.tables, &rows)?;
            }
        }
        sink.finish(&self.tables)?;
        done.problems.sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
        Ok(done)
    }
}

/// Takes from the active chunks, in order, their rows before `end`
/// (after it, backwards; all of them when `None`), at most `left`, as
/// (active index, row). `end` is the first timestamp of the next chunk to
/// read (its last, backwards) and its (snapshot, chunk): rows at that time
/// of chunks before it in input order come before it (after it,
/// backwards). Each chunk's position counts the rows it gave: from its
/// first row forwards, from its last backwards. Ties of time go by input
/// order (snapshot, chunk, row), backwards reversed: the order a stable
/// sort of all events would give.
fn window(
    active: &mut [(Arc<Decoded>, usize)],
    end: Option<(i64, (usize, usize))>,
    backward: bool,
    left: usize,
) -> Vec<(usize, u32)> {
    type Key = (i64, (usize, usize), usize);
    let before = |k: &Key| match end {
        None => true,
        Some(e) => {
            if backward {
                (k.0, k.1) > e
            } else {
                (k.0, k.1) < e
            }
        }
    };
    let key = |d: &Decoded, p: usize| -> Key {
        let i = if backward { d.rows.len() - 1 - p } else { p };
        (d.ts(i), (d.s, d.c), i)
    };
    // One heap for both directions: forwards the smallest key first,
    // backwards the largest (keys negated in order by Reverse or not).
    let mut fwd: BinaryHeap<(Reverse<Key>, usize)> = BinaryHeap::new();
    let mut bwd: BinaryHeap<(Key, usize)> = BinaryHeap::new();
    let push = |fwd: &mut BinaryHeap<(Reverse<Key>, usize)>, bwd: &mut BinaryHeap<(Key, usize)>, k: Key, a: usize| {
        if before(&k) {
            if backward { bwd.push((k, a)) } else { fwd.push((Reverse(k), a)) }
        }
    };
    for (a, (d, p)) in active.iter().enumerate() {
        if *p < d.rows.len() {
            push(&mut fwd, &mut bwd, key(d, *p), a);
        }
    }
    let mut out = Vec::new();
    while out.len() < left {
        let popped = if backward { bwd.pop() } else { fwd.pop().map(|(Reverse(k), a)| (k, a)) };
        let Some((k, a)) = popped else { break };
        let (d, p) = &mut active[a];
        out.push((a, d.rows[k.2]));
        *p += 1;
        if *p < d.rows.len() {
            let k = key(d, *p);
            push(&mut fwd, &mut bwd, k, a);
        }
    }
    out
}

/// The [`EventRef`] of a row of a decoded chunk.
pub(crate) fn event_ref<'a>(tables: &'a Tables, d: &'a Decoded, row: u32) -> EventRef<'a> {
    EventRef::of(tables, d.s, &d.cols, row as usize)
}

/// The streamed events against the in-memory engine's view (one frame of
/// every event, filtered, bounded, cut and ordered): the same lines.
#[cfg(test)]
pub(crate) mod equivalence {
    use super::*;
    use crate::catalog::OpenOptions;
    use crate::dataset::{Engine, Input};

    /// Streams `q` over `inputs` as NDJSON.
    fn streamed(catalog: &Catalog, q: EventQuestion) -> String {
        let stream = Stream::new(catalog, q).expect("plan");
        let mut out = Vec::new();
        {
            let mut sink = crate::export::LineSink::new(&mut out, crate::export::Lines::Ndjson, stream.tables());
            stream.run(&mut sink, false, &|_| ()).expect("run");
        }
        String::from_utf8(out).unwrap()
    }

    /// Compares both engines on `inputs` for a set of filters, bounds,
    /// limits and orders.
    pub(crate) fn check(inputs: &[Input]) {
        let ds = Engine::new().load(inputs).expect("load");
        let catalog = Catalog::open(inputs, OpenOptions::default(), &|_| ()).expect("open");
        let range = ds.all().time_range();
        let mut bounds = vec![(None, None)];
        if let Some((a, b)) = range {
            bounds.push((Some(a + (b - a) / 3), Some(b - (b - a) / 3)));
        }
        for filter in ["", "level>=info", "qty>100 or n<50", "not target=orders"] {
            let filter = Filter::parse(filter).unwrap();
            let Ok(all) = ds.filter(&filter) else { continue };
            for &(since, until) in &bounds {
                for (limit, tail, reverse) in [
                    (None, None, false),
                    (None, None, true),
                    (Some(7), None, false),
                    (Some(7), None, true),
                    (None, Some(9), false),
                    (None, Some(9), true),
                    (Some(0), None, false),
                ] {
                    let mut view = all.between(since, until);
                    if let Some(n) = limit {
                        view = view.head(n);
                    }
                    if let Some(n) = tail {
                        view = view.tail(n);
                    }
                    if reverse {
                        view = view.reversed();
                    }
                    let mut want = Vec::new();
                    crate::export::write_json(&view, &mut want, false).unwrap();
                    let q = EventQuestion { filter: filter.clone(), since, until, reverse, limit, tail, fields: None };
                    let got = streamed(&catalog, q);
                    assert!(
                        got == String::from_utf8(want.clone()).unwrap(),
                        "{inputs:?} filter {filter} since {since:?} until {until:?} limit {limit:?} tail {tail:?} reverse {reverse}: {} lines streamed, {} in the view",
                        got.lines().count(),
                        want.split(|&b| b == b'\n').count() - 1
                    );
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
