//! The interactive viewer's data side on this crate's engine: `ttlog-tui`
//! defines [`Source`](ttlog_tui::Source) and [`View`](ttlog_tui::View);
//! [`EngineSource`] implements them with [`Engine`], [`Dataset`] and the
//! `--filter` language, so `ttlog-view -i` filters, counts and groups with
//! polars.
//!
//! Two ways to hold the inputs, one engine:
//!
//! - up to [`INDEX_ABOVE`] events, the events are loaded into a [`Dataset`]
//!   (50–80 bytes per event): every filter, page and group is immediate;
//! - above, the inputs stay in their files behind a [`Index`] of
//!   their time order (about 9 bytes per event): pages decode their chunks,
//!   filters run the streaming engine's plan over the chunks, counts and
//!   groups are the streaming engine's answers.
//!
//! Rows of a view are fetched one screen at a time ([`View::rows`] of
//! this crate); histogram, stats, search and time lookups read the view's
//! `ts` / `cs` / `ev` code columns directly, never building a row per
//! event.

use crate::browse::{Index, Selection};
use crate::catalog::Catalog;
use crate::dataset::{Dataset, Engine, Input, View, cols, events_in};
use crate::filter::Filter;
use crate::stats::{GroupKey, KeyValue};
use crate::tables::Tables;
use polars::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use ttlog_core::Level;
use ttlog_core::snapshot::Snapshot;
use ttlog_tui as tui;

/// Snapshots loaded with the polars engine, as a [`tui::Source`].
///
/// Adding an input reloads every input into a new [`Dataset`] (the engine
/// builds one time-ordered frame), so views made before stay valid.
#[derive(Debug, Default)]
pub struct EngineSource {
    state: RwLock<State>,
    /// Events of a large input shown before the rest ([`PARTIAL_EVENTS`];
    /// 0 for that default, tests set fewer).
    first_part: u64,
    /// Inputs of more events than this are indexed, not loaded
    /// ([`INDEX_ABOVE`]; 0 for that default).
    index_above: u64,
    /// The memory limit of its loads and indexes; `None`: the
    /// process-wide one ([`crate::memory`]).
    memory_limit: Option<u64>,
}

/// Inputs of more events than this stay in their files behind an index
/// (about 9 bytes per event) instead of being loaded (50–80).
pub const INDEX_ABOVE: u64 = 20_000_000;

#[derive(Debug, Default, Clone)]
struct State {
    paths: Vec<PathBuf>,
    dataset: Option<Dataset>,
    index: Option<Index>,
    inputs: Vec<tui::InputInfo>,
}

/// Warnings of polars held while the viewer owns the terminal (see
/// [`hold_warning`]).
static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A `polars::error::set_warning_function` callback that keeps each
/// distinct warning for later instead of printing it over the viewer.
pub fn hold_warning(message: &str, kind: polars::error::PolarsWarning) {
    let text = format!("{kind:?}: {message}");
    let mut held = WARNINGS.lock().unwrap_or_else(|e| e.into_inner());
    if !held.contains(&text) && held.len() < 100 {
        held.push(text);
    }
}

/// The warnings [`hold_warning`] kept, emptied.
pub fn held_warnings() -> Vec<String> {
    std::mem::take(&mut *WARNINGS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Events of a large input decoded and shown before the rest (the first
/// chunks of a snapshot).
const PARTIAL_EVENTS: u64 = 100_000;

/// What the header shows of each input of a dataset.
fn input_infos(dataset: &Dataset) -> Vec<tui::InputInfo> {
    let mut problems: Vec<Vec<String>> = vec![Vec::new(); dataset.sources().len()];
    for p in dataset.problems() {
        if let Some(i) = dataset.sources().iter().position(|s| s.path == p.file) {
            problems[i].push(p.to_string());
        }
    }
    dataset
        .sources()
        .iter()
        .zip(problems)
        .map(|(s, problems)| tui::InputInfo {
            path: PathBuf::from(&s.path),
            service: s.service.to_string(),
            hostname: s.hostname.to_string(),
            pid: s.pid,
            reason: s.reason.clone(),
            created_at_ns: s.created_at_ns,
            events: s.events_loaded,
            overwritten: s.counters.overwritten,
            dropped: s.counters.dropped(),
            problems,
            cause: s.cause().map(|c| c.to_string()),
            panic_thread: s.panic.as_ref().and_then(|p| p.thread.clone()),
        })
        .collect()
}

/// Keys every dataset can be grouped by, before its field names.
const BUILTIN_KEYS: [&str; 9] = ["level", "target", "message", "thread", "file", "line", "service", "host", "pid"];

impl EngineSource {
    /// An empty source.
    pub fn new() -> EngineSource {
        EngineSource::default()
    }

    /// An empty source that indexes inputs of more than `events` events
    /// instead of loading them (the default is [`INDEX_ABOVE`]; 0 keeps it).
    pub fn indexing_above(events: u64) -> EngineSource {
        EngineSource { index_above: events, ..EngineSource::default() }
    }

    /// The same source, refusing inputs whose events would need more than
    /// `bytes` of memory loaded or indexed (instead of the process-wide
    /// limit): the load fails with a message naming the input and the
    /// figures, and what was shown stays.
    pub fn memory_limit(mut self, bytes: u64) -> EngineSource {
        self.memory_limit = Some(bytes);
        self
    }

    /// Loads `paths` (opened as `catalog`): the events into a dataset, or
    /// above the threshold an index of them. Returns what the header shows
    /// of each input; on failure or cancellation the state stays as it was.
    fn load(
        &self,
        engine: &Engine,
        paths: Vec<PathBuf>,
        catalog: Catalog,
        decoded: &AtomicU64,
        progress: &tui::Progress,
    ) -> Result<Vec<tui::InputInfo>, String> {
        progress.set_total(events_in(&catalog));
        let before = self.state();
        let restore = |message: String| {
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = before.clone();
            Err(message)
        };
        let above = if self.index_above == 0 { INDEX_ABOVE } else { self.index_above };
        if catalog.events_kept() > above {
            let events = catalog.events_kept();
            let need = events.saturating_mul(crate::memory::INDEX_BYTES_PER_EVENT);
            let limit = self.memory_limit.or_else(ttlog_core::memory::limit);
            if let Err(over) = ttlog_core::memory::check_against(need, limit) {
                let inputs = crate::memory::inputs_name(catalog.snapshots.iter().map(|s| (s.name(), s.event_count())));
                let what = format!("an index of {events} events needs about {}", ttlog_core::memory::size_text(need));
                let e = crate::LoadError::MemoryLimit { inputs, what, limit: over.limit };
                return restore(load_message(&e, catalog.snapshots.len()));
            }
            // Indexed: the first part is published as soon as it is merged.
            let mut publish = |first: Index| {
                let inputs = index_infos(&first);
                *self.state.write().unwrap_or_else(|e| e.into_inner()) =
                    State { paths: paths.clone(), dataset: None, index: Some(first), inputs };
            };
            let built = Index::build(catalog, &mut publish, &|n| progress.add(n), &|| progress.is_cancelled());
            return match built {
                Ok(_) if progress.is_cancelled() => restore("cancelled".into()),
                Ok(index) => {
                    let infos = index_infos(&index);
                    *self.state.write().unwrap_or_else(|e| e.into_inner()) =
                        State { paths, dataset: None, index: Some(index), inputs: infos.clone() };
                    Ok(infos)
                }
                Err(e) => restore(format!("{e:#}")),
            };
        }
        if let Some(first) = self.first_part(&catalog, &paths) {
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = first;
            if progress.is_cancelled() {
                return restore("cancelled".into());
            }
        }
        let done = AtomicBool::new(false);
        let dataset = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let now = decoded.load(Ordering::Relaxed);
                    progress.add(now.saturating_sub(progress.done()));
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let r = engine.load_opened(&catalog);
            done.store(true, Ordering::Relaxed);
            r
        });
        let dataset = match dataset {
            Ok(_) if progress.is_cancelled() => return restore("cancelled".into()),
            Ok(d) => d,
            Err(e) => return restore(load_message(&e, catalog.snapshots.len())),
        };
        let infos = input_infos(&dataset);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) =
            State { paths, dataset: Some(dataset), index: None, inputs: infos.clone() };
        Ok(infos)
    }

    fn state(&self) -> State {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What to show while the last of the catalog's snapshots (the input
    /// being added) loads: every other input and the first chunks of that
    /// one. `None` when it is small, or when the inputs already loaded
    /// (decoded again for this) hold more events than its rest, so that the
    /// first part would not come much before the whole.
    fn first_part(&self, catalog: &Catalog, paths: &[PathBuf]) -> Option<State> {
        let snaps = &catalog.snapshots;
        let part = if self.first_part == 0 { PARTIAL_EVENTS } else { self.first_part };
        let rest = snaps.last().map_or(0, Snapshot::event_count).saturating_sub(part);
        let others: u64 = snaps.iter().rev().skip(1).map(Snapshot::event_count).sum();
        if rest == 0 || others >= rest {
            return None;
        }
        // Not counted in the load's progress, which counts every event.
        let first = Engine::new().load_prefix(catalog, part).ok()?;
        let inputs = input_infos(&first);
        Some(State { paths: paths.to_vec(), dataset: Some(first), index: None, inputs })
    }
}

/// A failed load of `inputs` snapshots as the viewer says it after the
/// input's name: a memory limit names the inputs only when there are
/// several.
fn load_message(e: &crate::LoadError, inputs: usize) -> String {
    match e {
        crate::LoadError::MemoryLimit { what, limit, .. } if inputs == 1 => {
            format!("{what}: more than the memory limit of {}", ttlog_core::memory::size_text(*limit))
        }
        e => format!("{e:#}"),
    }
}

fn filter_error(e: crate::filter::FilterError) -> tui::FilterError {
    // The engine counts columns from 1, the TUI from 0.
    tui::FilterError::new(e.column.saturating_sub(1), e.message)
}

/// The filter of a query: the expression and the levels kept.
fn query_filter(query: &tui::Query) -> Result<Filter, tui::FilterError> {
    let expr = Filter::parse(&query.expr).map_err(filter_error)?;
    if query.levels.is_all() {
        return Ok(expr);
    }
    let kept: Vec<String> = Level::ALL
        .iter()
        .filter(|l| query.levels.contains(**l))
        .map(|l| format!("level={}", l.as_str().to_ascii_lowercase()))
        .collect();
    let levels = if kept.is_empty() { "level>error".to_owned() } else { kept.join(" or ") };
    let levels = Filter::parse(&levels).map_err(filter_error)?;
    Ok(Filter::all_of([expr, levels]))
}

/// `value` as a filter value: bare when it is a plain word, else quoted.
fn quote(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_alphanumeric() || "._-/:@".contains(c)) {
        return value.to_owned();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl tui::Source for EngineSource {
    fn summary(&self) -> tui::Summary {
        tui::Summary { inputs: self.state.read().unwrap_or_else(|e| e.into_inner()).inputs.clone() }
    }

    fn add_input(&self, path: &Path, progress: &tui::Progress) -> Result<tui::InputInfo, tui::LoadError> {
        self.add_inputs(&[path.to_owned()], progress).pop().expect("one result per input")
    }

    fn add_inputs(&self, new: &[PathBuf], progress: &tui::Progress) -> Vec<Result<tui::InputInfo, tui::LoadError>> {
        let fail_all = |message: String| {
            new.iter().map(|p| Err(tui::LoadError { path: p.clone(), message: message.clone() })).collect()
        };
        let mut paths = self.state().paths;
        paths.extend(new.iter().cloned());
        let inputs: Vec<Input> = paths.iter().cloned().map(Input::File).collect();
        // The engine reports progress from its decoding threads through a
        // 'static callback: count into an atomic, copied into `progress`.
        let decoded = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&decoded);
        let mut engine = Engine::new().on_progress(move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
        });
        if let Some(bytes) = self.memory_limit {
            engine = engine.memory_limit(bytes);
        }
        let catalog = match engine.open(&inputs) {
            Ok(c) => c,
            Err(e) => return fail_all(format!("{e:#}")),
        };
        // New inputs that cannot be read are reported and left out.
        let failed: Vec<(PathBuf, String)> = catalog
            .failed
            .iter()
            .filter_map(|f| new.iter().find(|p| Path::new(&f.file) == p.as_path()).map(|p| (p.clone(), f.to_string())))
            .collect();
        if !failed.is_empty() {
            paths.retain(|p| !failed.iter().any(|(f, _)| f == p));
        }
        let loaded = self.load(&engine, paths, catalog, &decoded, progress);
        crate::sys::release_free_memory();
        new.iter()
            .map(|p| {
                if let Some((_, message)) = failed.iter().find(|(f, _)| f == p) {
                    return Err(tui::LoadError { path: p.clone(), message: message.clone() });
                }
                match &loaded {
                    Ok(infos) => infos
                        .iter()
                        .rev()
                        .find(|i| &i.path == p)
                        .cloned()
                        .ok_or_else(|| tui::LoadError { path: p.clone(), message: "no events".into() }),
                    Err(message) => Err(tui::LoadError { path: p.clone(), message: message.clone() }),
                }
            })
            .collect()
    }

    fn check(&self, expr: &str) -> Result<(), tui::FilterError> {
        let filter = Filter::parse(expr).map_err(filter_error)?;
        // Keys and values are checked against the data on an empty view:
        // an unknown field shows while typing, at no cost.
        let state = self.state();
        if let Some(ds) = state.dataset {
            ds.all().head(0).filter(&filter).map_err(filter_error)?;
        } else if let Some(index) = state.index {
            crate::compile::PairFilter::new(index.tables(), &filter).map_err(filter_error)?;
        }
        Ok(())
    }

    fn filter(&self, query: &tui::Query, progress: &tui::Progress) -> Result<Arc<dyn tui::View>, tui::FilterError> {
        let state = self.state();
        let filter = query_filter(query)?;
        let view: Arc<dyn tui::View> = if let Some(index) = state.index {
            Arc::new(IndexView::new(index, filter, query.expr.trim().to_owned(), progress)?)
        } else {
            match &state.dataset {
                Some(ds) => {
                    Arc::new(EngineView::new(ds.filter(&filter).map_err(filter_error)?, query.expr.trim().to_owned()))
                }
                None => return Ok(Arc::new(Empty)),
            }
        };
        // What deciding the rows decoded and freed goes back to the system
        // (glibc keeps it otherwise: see `sys`).
        crate::sys::release_free_memory();
        Ok(view)
    }

    fn group_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = BUILTIN_KEYS.iter().map(|k| (*k).to_owned()).collect();
        // Time buckets: events per second, minute and hour, in time order.
        keys.extend(["time:1s", "time:1m", "time:1h"].map(str::to_owned));
        let state = self.state();
        if let Some(ds) = state.dataset {
            keys.extend(ds.fields().map(|f| f.name.to_string()));
        } else if let Some(index) = state.index {
            keys.extend(index.tables().fields.keys().map(|f| f.to_string()));
        }
        keys
    }
}

/// The hits of the last text search of a view, computed once per regex:
/// `n`/`N` and the hit count then need no other pass.
#[derive(Debug, Default)]
struct HitCache(std::sync::Mutex<Option<(String, Arc<Vec<u32>>)>>);

impl HitCache {
    /// The hits of `re`, if they are known.
    fn known(&self, re: &regex::Regex) -> Option<Arc<Vec<u32>>> {
        let cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|(text, _)| text == re.as_str()).map(|(_, hits)| Arc::clone(hits))
    }

    /// The hits of `re`: known, or found by `search` and kept (`None` when
    /// `search` gives none, as when it is cancelled).
    fn get(&self, re: &regex::Regex, search: impl FnOnce() -> Option<Vec<u32>>) -> Option<Arc<Vec<u32>>> {
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((text, hits)) = cached.as_ref()
            && text == re.as_str()
        {
            return Some(Arc::clone(hits));
        }
        let hits = Arc::new(search()?);
        *cached = Some((re.as_str().to_owned(), Arc::clone(&hits)));
        Some(hits)
    }
}

/// Which hit `position` is among `hits`, and how many there are.
fn rank_among(hits: &[u32], position: usize) -> Option<(usize, usize)> {
    let i = hits.binary_search(&u32::try_from(position).ok()?).ok()?;
    Some((i, hits.len()))
}

/// The first of a view's `n` positions from `from` on in `direction` (to
/// the last, or back to the first) for which `hit` holds; progress by
/// blocks, `None` when cancelled or there is none.
fn scan_positions(
    n: usize,
    from: usize,
    direction: tui::Direction,
    progress: &tui::Progress,
    hit: impl Fn(usize) -> bool,
) -> Option<usize> {
    const BLOCK: usize = 4096;
    let positions: Box<dyn Iterator<Item = usize>> = match direction {
        tui::Direction::Forward => Box::new(from..n),
        tui::Direction::Backward => Box::new((0..=from).rev()),
    };
    progress.set_total(match direction {
        tui::Direction::Forward => (n - from) as u64,
        tui::Direction::Backward => from as u64 + 1,
    });
    for (checked, pos) in positions.enumerate() {
        if checked % BLOCK == 0 {
            progress.add(if checked == 0 { 0 } else { BLOCK as u64 });
            if progress.is_cancelled() {
                return None;
            }
        }
        if hit(pos) {
            return Some(pos);
        }
    }
    None
}

/// Rows fetched at a time by text searches.
const SEARCH_BLOCK: usize = 4096;
/// Positions a text search scans (in parallel blocks) before it looks for
/// a hit: near hits come at once, far ones at the speed of both cores.
const SEARCH_SEGMENT: usize = 16 * SEARCH_BLOCK;

/// The positions of `range` of `view` whose text `re` matches, in order:
/// blocks of rows fetched and matched in parallel; `decided(position)`
/// answers without the row where it can (`None`: read the row). `None`
/// when `progress` is cancelled.
fn text_hits_in(
    view: &dyn tui::View,
    re: &regex::Regex,
    range: Range<usize>,
    decided: &(dyn Fn(usize) -> Option<bool> + Sync),
    progress: &tui::Progress,
) -> Option<Vec<u32>> {
    use rayon::prelude::*;
    let needle = tui::Needle::Text(re.clone());
    let blocks: Vec<Option<Vec<u32>>> = (range.start..range.end)
        .step_by(SEARCH_BLOCK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            if progress.is_cancelled() {
                return None;
            }
            let block = start..(start + SEARCH_BLOCK).min(range.end);
            let mut out = Vec::new();
            if block.clone().all(|p| decided(p).is_some()) {
                out.extend(block.clone().filter(|&p| decided(p) == Some(true)).map(|p| p as u32));
            } else {
                let rows = view.rows(block.clone());
                for (p, row) in block.clone().zip(&rows) {
                    if decided(p).unwrap_or_else(|| needle.matches(row)) {
                        out.push(p as u32);
                    }
                }
            }
            progress.add(block.len() as u64);
            Some(out)
        })
        .collect();
    Some(blocks.into_iter().collect::<Option<Vec<_>>>()?.into_iter().flatten().collect())
}

/// The first hit of `re` at or after `from` (at or before it, backward):
/// from a known list of hits at once; else the segment at `from` is
/// scanned (near hits come at once), then `all_hits` gives every hit of the
/// view in one parallel pass, kept for the next search and the hit count
/// (so a search that finds nothing, and its wrapped retry, cost one pass);
/// where it gives nothing, the scan goes on segment by segment.
#[allow(clippy::too_many_arguments)]
fn find_text(
    view: &dyn tui::View,
    re: &regex::Regex,
    from: usize,
    direction: tui::Direction,
    known: Option<&[u32]>,
    all_hits: &dyn Fn() -> Option<Arc<Vec<u32>>>,
    decided: &(dyn Fn(usize) -> Option<bool> + Sync),
    progress: &tui::Progress,
) -> Option<usize> {
    let n = view.len();
    let pick = |hits: &[u32], lo: usize, hi: usize| match direction {
        tui::Direction::Forward => {
            hits.get(hits.partition_point(|&p| (p as usize) < lo)).map(|&p| p as usize).filter(|&p| p < hi)
        }
        tui::Direction::Backward => {
            hits.partition_point(|&p| (p as usize) < hi).checked_sub(1).map(|i| hits[i] as usize).filter(|&p| p >= lo)
        }
    };
    if let Some(hits) = known {
        return match direction {
            tui::Direction::Forward => pick(hits, from, n),
            tui::Direction::Backward => pick(hits, 0, from + 1),
        };
    }
    progress.set_total(match direction {
        tui::Direction::Forward => (n - from) as u64,
        tui::Direction::Backward => from as u64 + 1,
    });
    let mut at = from;
    loop {
        let segment = match direction {
            tui::Direction::Forward if at < n => at..(at + SEARCH_SEGMENT).min(n),
            tui::Direction::Backward => (at + 1).saturating_sub(SEARCH_SEGMENT)..at + 1,
            _ => return None,
        };
        let hits = text_hits_in(view, re, segment.clone(), decided, progress)?;
        if let Some(p) = pick(&hits, segment.start, segment.end) {
            return Some(p);
        }
        if at == from
            && let Some(all) = all_hits()
        {
            return match direction {
                tui::Direction::Forward => pick(&all, from, n),
                tui::Direction::Backward => pick(&all, 0, from + 1),
            };
        }
        match direction {
            tui::Direction::Forward => at = segment.end,
            tui::Direction::Backward if segment.start == 0 => return None,
            tui::Direction::Backward => at = segment.start - 1,
        }
    }
}

/// The view of a source with nothing loaded.
#[derive(Debug)]
struct Empty;

impl tui::View for Empty {
    fn len(&self) -> usize {
        0
    }
    fn rows(&self, _: Range<usize>) -> Vec<tui::Row> {
        Vec::new()
    }
    fn histogram(&self, _: usize) -> tui::Histogram {
        tui::Histogram::default()
    }
    fn stats(&self) -> tui::Stats {
        tui::Stats::default()
    }
    fn group_by(&self, key: &str, _: usize) -> Result<tui::Groups, tui::FilterError> {
        Err(tui::FilterError::new(0, format!("nothing loaded to group by {key}")))
    }
    fn find(&self, _: usize, _: tui::Direction, _: &tui::Needle, _: &tui::Progress) -> Option<usize> {
        None
    }
    fn position_of_time(&self, _: i64) -> usize {
        0
    }
    fn export(&self, path: &Path, format: tui::ExportFormat, _: &tui::Progress) -> std::io::Result<u64> {
        // No events: an empty array, or an empty file.
        let empty: &[u8] = if format == tui::ExportFormat::Json { b"[]\n" } else { b"" };
        std::fs::write(path, empty)?;
        Ok(0)
    }
}

/// The viewer's stats of the engine's.
fn tui_stats(s: &crate::stats::Stats, tables: &Tables) -> tui::Stats {
    let mut per_level = [0u64; 5];
    for (l, n) in &s.levels {
        per_level[*l as usize] = *n;
    }
    tui::Stats {
        events: s.events,
        span_ns: s.span,
        per_level,
        top_messages: s
            .messages
            .iter()
            .take(20)
            .map(|m| (m.level, Arc::clone(&m.target), Arc::clone(&m.message), m.count))
            .collect(),
        per_thread: s
            .threads
            .iter()
            .map(|t| (t.name.clone().unwrap_or_else(|| Arc::from(format!("#{}", t.id))), t.count))
            .collect(),
        threads: s.threads.len(),
        rings: s.pressure.iter().map(|p| tui_ring(tables, p)).collect(),
    }
}

/// The viewer's ring pressure of one thread.
fn tui_ring(tables: &Tables, p: &crate::stats::RingPressure) -> tui::RingPressure {
    let th = &tables.threads[p.thread as usize];
    let src = &tables.sources[th.source as usize];
    tui::RingPressure {
        thread: th.label(),
        process: format!("{} pid {}", src.service, src.pid),
        pid: src.pid,
        thread_id: th.id,
        capacity: p.capacity,
        written: p.written,
        overwritten: p.overwritten,
        kept_bytes: p.kept_bytes,
        window_ns: p.window,
        sites: p
            .top_sites(3)
            .into_iter()
            .map(|site| {
                let i = &tables.site(site.site).0.info;
                tui::RingSite {
                    level: i.level,
                    target: Arc::clone(&i.target),
                    message: Arc::clone(&i.message),
                    events: site.events,
                    bytes: site.bytes,
                }
            })
            .collect(),
    }
}

/// The viewer's groups of a one-key group table of the view filtered by
/// `expr`: each group with the filter that selects it, the first `limit`.
fn tui_groups(mut table: crate::stats::GroupTable, key: &str, expr: &str, limit: usize) -> tui::Groups {
    // Most events first; time buckets in time order.
    let _ = table.order(None, false);
    let mut groups = Vec::new();
    let mut missing = 0;
    for row in &table.rows {
        if let KeyValue::Time(t) = row.key[0] {
            let value = ttlog_core::time::format_rfc3339(t);
            groups.push(tui::Group { value, count: row.count, filter: expr.to_owned(), at: Some(t) });
            continue;
        }
        let value = match &row.key[0] {
            KeyValue::Null => {
                missing += row.count;
                continue;
            }
            KeyValue::Level(l) => l.as_str().to_ascii_lowercase(),
            KeyValue::Str(s) => s.to_string(),
            KeyValue::U64(n) => n.to_string(),
            KeyValue::I64(n) => n.to_string(),
            KeyValue::F64(x) => x.to_string(),
            KeyValue::Bool(b) => b.to_string(),
            KeyValue::Time(t) => t.to_string(),
        };
        let term = format!("{key}={}", quote(&value));
        let filter = if expr.is_empty() { term } else { format!("({expr}) and {term}") };
        groups.push(tui::Group { value, count: row.count, filter, at: None });
    }
    let more = groups.len().saturating_sub(limit);
    groups.truncate(limit);
    tui::Groups { key: key.to_owned(), groups, missing, more }
}

/// The viewer's row of an engine row at index position `id`.
fn tui_row(id: u64, r: crate::Row, module_path: Arc<str>) -> tui::Row {
    tui::Row {
        id,
        timestamp_ns: r.timestamp_ns,
        level: r.level,
        thread: r.thread_name.clone().unwrap_or_else(|| Arc::from(format!("#{}", r.thread_id))),
        thread_id: r.thread_id,
        target: r.target,
        message: r.message,
        module_path,
        file: r.file,
        line: r.line,
        input: r.source,
        fields: r.fields,
    }
}

/// What the header shows of each input of an index.
fn index_infos(index: &Index) -> Vec<tui::InputInfo> {
    index
        .tables()
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut problems: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
            problems.extend(index.problems().iter().filter(|p| p.file == s.path).map(ToString::to_string));
            tui::InputInfo {
                path: PathBuf::from(&s.path),
                service: s.service.to_string(),
                hostname: s.hostname.to_string(),
                pid: s.pid,
                reason: s.reason.clone(),
                created_at_ns: s.created_at_ns,
                events: index.events_of(i),
                overwritten: s.counters.overwritten,
                dropped: s.counters.dropped(),
                problems,
                cause: s.cause().map(|c| c.to_string()),
                panic_thread: s.panic.as_ref().and_then(|p| p.thread.clone()),
            }
        })
        .collect()
}

/// A view of an [`Index`]: the positions a filter selects.
struct IndexView {
    index: Index,
    selection: Selection,
    filter: Filter,
    expr: String,
    /// The positions the last counted text search matches.
    hits: HitCache,
}

/// Views of the index count the hits of a text search up to this many
/// events (above, a count would decode every chunk: "hit N of M" is left
/// out; the search itself still runs).
const INDEX_COUNTS_HITS_UP_TO: usize = 5_000_000;

impl std::fmt::Debug for IndexView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexView").field("events", &self.selection.len()).field("expr", &self.expr).finish()
    }
}

impl IndexView {
    /// Every hit of a text search, once per regex, up to
    /// [`INDEX_COUNTS_HITS_UP_TO`] events (`None` above, or when cancelled).
    fn text_hits(&self, re: &regex::Regex, progress: &tui::Progress) -> Option<Arc<Vec<u32>>> {
        let n = tui::View::len(self);
        if n > INDEX_COUNTS_HITS_UP_TO {
            return None;
        }
        self.hits.get(re, || {
            progress.set_total(n as u64);
            text_hits_in(self, re, 0..n, &|_| None, progress)
        })
    }

    fn new(
        index: Index,
        filter: Filter,
        expr: String,
        progress: &tui::Progress,
    ) -> Result<IndexView, tui::FilterError> {
        progress.set_total(index.catalog().events_in_files());
        let selection =
            Selection::of(&index, &filter, &|n| progress.add(n), &|| progress.is_cancelled()).map_err(|e| match e {
                crate::query::QueryError::Filter(e) => filter_error(e),
                _ if progress.is_cancelled() => tui::FilterError::cancelled(),
                e => tui::FilterError::new(0, e.to_string()),
            })?;
        Ok(IndexView { index, selection, filter, expr, hits: HitCache::default() })
    }

    /// The streaming engine's answer to a question over this view's events.
    fn ask(&self, stats: bool, group: Option<GroupKey>) -> Result<crate::query::Answer, crate::query::QueryError> {
        let question = crate::query::Question {
            filter: self.filter.clone(),
            since: None,
            until: None,
            stats,
            group: group.map(|k| (vec![k], Vec::new())),
        };
        crate::query::Plan::new(self.index.catalog(), question)?.run(false, &|_| {})
    }
}

impl tui::View for IndexView {
    fn len(&self) -> usize {
        self.selection.len()
    }

    fn rows(&self, range: Range<usize>) -> Vec<tui::Row> {
        let end = range.end.min(self.len());
        let positions: Vec<usize> = (range.start.min(end)..end).map(|n| self.selection.position(n)).collect();
        let sites = &self.index.tables().sites;
        self.index
            .rows(&positions)
            .into_iter()
            .map(|(p, r)| {
                let module = Arc::clone(&sites[r.callsite as usize].info.module_path);
                tui_row(p as u64, r, module)
            })
            .collect()
    }

    fn histogram(&self, buckets: usize) -> tui::Histogram {
        let n = self.len();
        if n == 0 {
            return tui::Histogram::default();
        }
        let ends = self.rows(0..1).into_iter().chain(self.rows(n - 1..n)).map(|r| r.timestamp_ns).collect::<Vec<_>>();
        let (Some(&start_ns), Some(&end_ns)) = (ends.first(), ends.last()) else {
            return tui::Histogram::default();
        };
        // Each event at its block's sampled time (at most its own).
        let index = &self.index;
        let events = self.selection.blocks().flat_map(|(base, bits)| {
            let ts = index.sampled_ts(base).clamp(start_ns, end_ns);
            (0..64).filter(move |i| bits >> i & 1 == 1).map(move |i| (ts, index.level(base + i)))
        });
        tui::histogram_of_sorted(start_ns, end_ns, buckets, events)
    }

    fn stats(&self) -> tui::Stats {
        match self.ask(true, None) {
            Ok(a) => a.stats.as_ref().map(|st| tui_stats(st, self.index.tables())).unwrap_or_default(),
            Err(_) => tui::Stats::default(),
        }
    }

    fn group_by(&self, key: &str, limit: usize) -> Result<tui::Groups, tui::FilterError> {
        let k = GroupKey::parse(key).map_err(|e| tui::FilterError::new(0, e.0))?;
        let answer = self.ask(false, Some(k)).map_err(|e| tui::FilterError::new(0, e.to_string()))?;
        let table = answer.groups.ok_or_else(|| tui::FilterError::new(0, format!("no groups by {key}")))?;
        Ok(tui_groups(table, key, &self.expr, limit))
    }

    fn find(
        &self,
        from: usize,
        direction: tui::Direction,
        needle: &tui::Needle,
        progress: &tui::Progress,
    ) -> Option<usize> {
        let n = self.len();
        if from >= n {
            return None;
        }
        if let tui::Needle::Ids(ids) = needle {
            // Ids are index positions: their ranks are view positions.
            let ranks = ids
                .iter()
                .filter(|&&id| self.selection.contains(id as usize))
                .map(|&id| self.selection.rank(id as usize));
            return match direction {
                tui::Direction::Forward => ranks.filter(|&r| r >= from).min(),
                tui::Direction::Backward => ranks.filter(|&r| r <= from).max(),
            };
        }
        if let tui::Needle::Text(re) = needle {
            let known = self.hits.known(re);
            let all = || self.text_hits(re, progress);
            return find_text(self, re, from, direction, known.as_deref().map(|v| &v[..]), &all, &|_| None, progress);
        }
        let tui::Needle::Level(l) = needle else { return None };
        scan_positions(n, from, direction, progress, |pos| self.index.level(self.selection.position(pos)) >= *l)
    }

    fn hit_rank(&self, needle: &tui::Needle, position: usize, progress: &tui::Progress) -> Option<(usize, usize)> {
        let n = self.len();
        match needle {
            tui::Needle::Text(re) => rank_among(&self.text_hits(re, progress)?, position),
            tui::Needle::Level(l) => {
                let severe = |p: usize| self.index.level(self.selection.position(p)) >= *l;
                let before = (0..position.min(n)).filter(|&p| severe(p)).count();
                Some((before, before + (position.min(n)..n).filter(|&p| severe(p)).count()))
            }
            _ => None,
        }
    }

    fn position_of_time(&self, timestamp_ns: i64) -> usize {
        self.selection.rank(self.index.first_at_or_after(timestamp_ns))
    }

    fn export(&self, path: &Path, format: tui::ExportFormat, progress: &tui::Progress) -> std::io::Result<u64> {
        // The streaming engine's exporters: the same JSON and CSV as `--format`.
        let question = crate::stream::EventQuestion { filter: self.filter.clone(), ..Default::default() };
        let stream = crate::stream::Stream::new(self.index.catalog(), question).map_err(std::io::Error::other)?;
        let file = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(file);
        progress.set_total(self.index.catalog().events_in_files());
        let lines = match format {
            tui::ExportFormat::Json => crate::export::Lines::Json,
            tui::ExportFormat::Ndjson => crate::export::Lines::Ndjson,
            tui::ExportFormat::Csv => crate::export::Lines::Csv { formula_guard: false },
        };
        let result = {
            let mut sink = crate::export::LineSink::new(&mut w, lines, stream.tables());
            stream.run(&mut sink, false, &|n| progress.add(n))
        };
        let result = result.map_err(std::io::Error::other).and_then(|d| {
            std::io::Write::flush(&mut w)?;
            Ok(d.events)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}

/// A filtered view of the engine, with its code columns at hand (the
/// view's own columns, one chunk each: no copy per view).
struct EngineView {
    view: View,
    expr: String,
    ts: Series,
    cs: Series,
    ev: Series,
    /// The positions the last text search's regex matches, found in one
    /// parallel pass.
    hits: HitCache,
}

impl std::fmt::Debug for EngineView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineView").field("events", &self.view.len()).field("expr", &self.expr).finish()
    }
}

impl EngineView {
    fn new(view: View, expr: String) -> EngineView {
        let column = |name: &str| view.frame().column(name).expect("frame column").as_materialized_series().rechunk();
        let (ts, cs, ev) = (column(cols::TS), column(cols::CS), column(cols::EV));
        EngineView { view, expr, ts, cs, ev, hits: HitCache::default() }
    }

    /// The positions whose text `re` matches, in order; computed once per
    /// regex ([`text_hits_in`] over the whole view). `None` when cancelled.
    fn text_hits(&self, re: &regex::Regex, progress: &tui::Progress) -> Option<Arc<Vec<u32>>> {
        self.hits.get(re, || {
            let n = tui::View::len(self);
            progress.set_total(n as u64);
            let sites = self.site_verdicts(re);
            let cs = self.cs();
            text_hits_in(self, re, 0..n, &|p| sites[cs[p] as usize], progress)
        })
    }

    /// Per call-site code, whether `re` decides its events alone: `Some(true)`
    /// when it matches the target or message, `Some(false)` when it does not
    /// and the call site has no fields; `None` when the fields must be read.
    fn site_verdicts(&self, re: &regex::Regex) -> Vec<Option<bool>> {
        self.view
            .dataset()
            .sites()
            .iter()
            .map(|s| {
                if re.is_match(&s.info.target) || re.is_match(&s.info.message) {
                    Some(true)
                } else if s.info.fields.is_empty() {
                    Some(false)
                } else {
                    None
                }
            })
            .collect()
    }

    fn ts(&self) -> &[i64] {
        self.ts.i64().expect("ts is i64").cont_slice().expect("ts: one chunk, no nulls")
    }

    fn cs(&self) -> &[u32] {
        self.cs.u32().expect("cs is u32").cont_slice().expect("cs: one chunk, no nulls")
    }

    fn ev(&self) -> &[IdxSize] {
        self.ev.idx().expect("ev is idx").cont_slice().expect("ev: one chunk, no nulls")
    }

    /// The level of each call-site code.
    fn levels(&self) -> Vec<Level> {
        self.view.dataset().sites().iter().map(|s| s.info.level).collect()
    }
}

impl tui::View for EngineView {
    fn len(&self) -> usize {
        self.view.len()
    }

    fn rows(&self, range: Range<usize>) -> Vec<tui::Row> {
        let start = range.start.min(self.len());
        let rows = self.view.rows(range);
        rows.into_iter()
            .enumerate()
            .map(|(i, r)| tui::Row {
                id: u64::from(self.ev()[start + i]),
                timestamp_ns: r.timestamp_ns,
                level: r.level,
                thread: r.thread_name.clone().unwrap_or_else(|| Arc::from(format!("#{}", r.thread_id))),
                thread_id: r.thread_id,
                target: r.target,
                message: r.message,
                module_path: Arc::clone(&self.view.dataset().site(r.callsite).0.info.module_path),
                file: r.file,
                line: r.line,
                input: r.source,
                fields: r.fields,
            })
            .collect()
    }

    fn histogram(&self, buckets: usize) -> tui::Histogram {
        let (ts, cs) = (self.ts(), self.cs());
        let (Some(&start_ns), Some(&end_ns)) = (ts.first(), ts.last()) else {
            return tui::Histogram::default();
        };
        let levels = self.levels();
        let events = ts.iter().zip(cs).map(|(&t, &c)| (t, levels[c as usize]));
        tui::histogram_of_sorted(start_ns, end_ns, buckets, events)
    }

    fn stats(&self) -> tui::Stats {
        tui_stats(&self.view.stats(), self.view.dataset().tables())
    }

    fn group_by(&self, key: &str, limit: usize) -> Result<tui::Groups, tui::FilterError> {
        let k = GroupKey::parse(key).map_err(|e| tui::FilterError::new(0, e.0))?;
        let table = self.view.group_by(&[k], &[]).map_err(|e| tui::FilterError::new(0, e.0))?;
        Ok(tui_groups(table, key, &self.expr, limit))
    }

    fn find(
        &self,
        from: usize,
        direction: tui::Direction,
        needle: &tui::Needle,
        progress: &tui::Progress,
    ) -> Option<usize> {
        let n = self.len();
        if from >= n {
            return None;
        }
        if let tui::Needle::Text(re) = needle {
            let known = self.hits.known(re);
            let sites = self.site_verdicts(re);
            let cs = self.cs();
            let all = || self.text_hits(re, progress);
            let decided = |p: usize| sites[cs[p] as usize];
            return find_text(self, re, from, direction, known.as_deref().map(|v| &v[..]), &all, &decided, progress);
        }
        // Level and id searches read the code columns.
        let levels = self.levels();
        let (cs, ev) = (self.cs(), self.ev());
        scan_positions(n, from, direction, progress, |pos| match needle {
            tui::Needle::Level(l) => levels[cs[pos] as usize] >= *l,
            tui::Needle::Ids(ids) => ids.contains(&u64::from(ev[pos])),
            // Text searches are answered above.
            tui::Needle::Text(_) => false,
        })
    }

    fn hit_rank(&self, needle: &tui::Needle, position: usize, progress: &tui::Progress) -> Option<(usize, usize)> {
        match needle {
            tui::Needle::Text(re) => rank_among(&self.text_hits(re, progress)?, position),
            tui::Needle::Level(l) => {
                // One pass over the call-site codes.
                let severe: Vec<bool> = self.levels().iter().map(|x| x >= l).collect();
                let cs = self.cs();
                let before = cs[..position.min(cs.len())].iter().filter(|&&c| severe[c as usize]).count();
                Some((before, before + cs[position.min(cs.len())..].iter().filter(|&&c| severe[c as usize]).count()))
            }
            tui::Needle::Ids(_) => None,
        }
    }

    fn position_of_time(&self, timestamp_ns: i64) -> usize {
        self.ts().partition_point(|&t| t < timestamp_ns)
    }

    fn export(&self, path: &Path, format: tui::ExportFormat, progress: &tui::Progress) -> std::io::Result<u64> {
        // The engine's exporters: the same JSON and CSV as `--format`.
        let file = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(file);
        progress.set_total(self.len() as u64);
        let r = match format {
            tui::ExportFormat::Json => crate::export::write_json(&self.view, &mut w, true),
            tui::ExportFormat::Ndjson => crate::export::write_json(&self.view, &mut w, false),
            tui::ExportFormat::Csv => crate::export::write_csv(&self.view, &mut w),
        };
        let r = r.and_then(|()| std::io::Write::flush(&mut w));
        if r.is_err() {
            let _ = std::fs::remove_file(path);
        }
        r.map(|()| self.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tui::Source as _;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(name)
    }

    #[test]
    fn a_large_input_shows_its_first_chunks_first_then_all_of_it() {
        let source = EngineSource { first_part: 1, ..EngineSource::default() };
        let small = testdata("normal.bin");
        source.add_input(&small, &tui::Progress::new()).unwrap();
        let big = testdata("chunked.bin");
        let paths = vec![small.clone(), big.clone()];
        let inputs: Vec<Input> = paths.iter().cloned().map(Input::File).collect();
        let catalog = Engine::new().open(&inputs).unwrap();
        let snaps = &catalog.snapshots;
        let in_first_chunk = u64::from(snaps[1].chunks()[0].events);
        assert!(in_first_chunk < snaps[1].event_count(), "chunked.bin has several chunks");

        let first = source.first_part(&catalog, &paths).expect("a first part");
        let counts: Vec<u64> = first.inputs.iter().map(|i| i.events).collect();
        assert_eq!(counts, [43, in_first_chunk]);
        source.add_input(&big, &tui::Progress::new()).unwrap();
        let whole = source.state();
        assert_eq!(whole.inputs.iter().map(|i| i.events).collect::<Vec<_>>(), [43, 1000]);

        // The first part is the whole without the later chunks' events, in
        // the same order.
        let rows = |ds: &Dataset| -> Vec<(i64, u32, u64)> {
            let v = ds.all();
            v.rows(0..v.len()).iter().map(|r| (r.timestamp_ns, r.source as u32, r.seq)).collect()
        };
        let first_rows = rows(first.dataset.as_ref().unwrap());
        let first_seqs: std::collections::HashSet<u64> = first_rows.iter().filter(|r| r.1 == 1).map(|r| r.2).collect();
        let expected: Vec<(i64, u32, u64)> = rows(whole.dataset.as_ref().unwrap())
            .into_iter()
            .filter(|r| r.1 == 0 || first_seqs.contains(&r.2))
            .collect();
        assert_eq!(first_rows, expected);
        assert_eq!(first_seqs.len() as u64, in_first_chunk);

        // A small input, or one smaller than what is loaded, loads whole.
        let catalog = Engine::new().open(&inputs[..1]).unwrap();
        assert!(EngineSource::new().first_part(&catalog, &paths[..1]).is_none());
        let big_first = [big.clone(), small.clone()];
        let inputs: Vec<Input> = big_first.iter().cloned().map(Input::File).collect();
        let catalog = Engine::new().open(&inputs).unwrap();
        assert!(source.first_part(&catalog, &big_first).is_none(), "1000 events loaded, 42 to come");
    }
}
