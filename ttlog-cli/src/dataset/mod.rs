//! Loading snapshots into one polars frame ([`Engine`], [`Dataset`]), and
//! the filtered, ordered subsets of it ([`View`]).
//!
//! # The frame
//!
//! Every event is one row of four numeric columns, in time order:
//!
//! | column | type | what |
//! | --- | --- | --- |
//! | `ts` | `i64` | UTC nanoseconds |
//! | `cs` | `u32` | call-site code: index into [`Dataset::sites`] |
//! | `th` | `u32` | thread code: index into [`Dataset::threads`] |
//! | `ev` | `u32` | event number: where the event's field values are |
//!
//! Level, target, message, file, line, and the service, host and pid of the
//! snapshot live once per call site in [`Dataset::sites`] (each site belongs
//! to one snapshot file), never once per row: a term on them is evaluated on
//! that small table and becomes `cs IN {codes}`. Field values stay in the
//! decoded chunks and become a typed polars column (one per field name,
//! null where an event has no such field) only when a filter, group-by or
//! export names them.

mod frame;

use crate::catalog::{Catalog, ChunkKeep, Differing, OpenOptions, Process};
use crate::compile::Compiler;
use crate::filter::{Filter, FilterError};
pub use crate::tables::{FieldInfo, Site, SourceInfo, Tables, ThreadRef};
use frame::assemble;
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use ttlog_core::snapshot::{ChunkColumns, SnapshotError, Values};
use ttlog_core::{Level, Value};

/// How many field columns a dataset keeps built (see [`Dataset::field_column`]).
const FIELD_CACHE_COLUMNS: usize = 2;

/// Column names of the frame.
pub mod cols {
    /// UTC nanoseconds, `i64`.
    pub const TS: &str = "ts";
    /// Call-site code, `u32`.
    pub const CS: &str = "cs";
    /// Thread code, `u32`.
    pub const TH: &str = "th";
    /// Event number, `u32` (polars' index type).
    pub const EV: &str = "ev";
}

/// Where to read snapshots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A snapshot file.
    File(PathBuf),
    /// Standard input (one snapshot).
    Stdin,
}

impl Input {
    /// Expands command-line inputs: a file, a directory (its `*.bin` files,
    /// sorted by name), a glob pattern (`/var/tmp/ttlog/*-panic.bin`), or `-`
    /// for standard input.
    ///
    /// ```
    /// use ttlog_cli::Input;
    /// assert_eq!(Input::expand(&["-".to_string()]).unwrap(), vec![Input::Stdin]);
    /// assert!(Input::expand(&["/no/such/file.bin".to_string()]).is_err());
    /// ```
    ///
    /// # Errors
    /// A path that does not exist, a bad pattern, a pattern or directory
    /// that names no snapshot.
    pub fn expand(args: &[String]) -> Result<Vec<Input>, LoadError> {
        let mut out = Vec::new();
        for a in args {
            if a == "-" {
                out.push(Input::Stdin);
                continue;
            }
            let p = Path::new(a);
            if p.is_dir() {
                let rd = std::fs::read_dir(p).map_err(|e| LoadError::Input(format!("{a}: {e}")))?;
                let mut bins: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "bin"))
                    .collect();
                bins.sort();
                if bins.is_empty() {
                    return Err(LoadError::Input(format!("{a}: no *.bin snapshot files in this directory")));
                }
                out.extend(bins.into_iter().map(Input::File));
            } else if p.exists() {
                out.push(Input::File(p.to_path_buf()));
            } else if a.contains(['*', '?', '[']) {
                let paths = glob::glob(a).map_err(|e| LoadError::Input(format!("{a}: bad pattern: {e}")))?;
                let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
                found.sort();
                if found.is_empty() {
                    return Err(LoadError::Input(format!("{a}: no file matches this pattern")));
                }
                out.extend(found.into_iter().map(Input::File));
            } else {
                return Err(LoadError::Input(format!("{a}: no such file or directory")));
            }
        }
        Ok(out)
    }
}

/// Why [`Engine::load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An input argument names nothing readable.
    #[error("{0}")]
    Input(String),
    /// No input could be opened as a snapshot; each reason is listed.
    #[error("no snapshot could be read: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    NothingReadable(Vec<SnapshotError>),
    /// `strict` is set and an input is damaged.
    #[error("damaged input (strict mode): {0}")]
    Damaged(SnapshotError),
    /// More events than the frame's index type can address.
    #[error("{0} events: more than the 4 294 967 295 one frame holds")]
    TooMany(u64),
    /// Reading standard input failed.
    #[error("reading standard input: {0}")]
    Stdin(std::io::Error),
    /// An error of the polars engine.
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

/// Loads snapshots into a [`Dataset`].
///
/// ```
/// use ttlog_cli::{Engine, Input};
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
/// let ds = Engine::new().load(&[Input::File(dir)]).unwrap();
/// assert_eq!(ds.len(), 43);
/// ```
#[derive(Default, Clone)]
pub struct Engine {
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    strict: bool,
    keep_duplicates: bool,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("progress", &self.progress.is_some()).field("strict", &self.strict).finish()
    }
}

/// Events to decode of opened inputs (each copy once, unless duplicates are
/// kept): what a progress bar should count to.
pub fn events_in(catalog: &Catalog) -> u64 {
    catalog.events_kept()
}

impl Engine {
    /// An engine with no progress reporting that tolerates damage.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Calls `f(events)` from decoding threads each time a chunk of
    /// `events` events is decoded.
    pub fn on_progress(mut self, f: impl Fn(u64) + Send + Sync + 'static) -> Engine {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Makes any damage (an unreadable input, a bad chunk, a cut-off file) an
    /// error instead of a [`Dataset::problems`] entry.
    pub fn strict(mut self, strict: bool) -> Engine {
        self.strict = strict;
        self
    }

    /// Keeps every copy of every event that overlapping snapshots of one
    /// process hold (`--keep-duplicates`, for forensics), instead of each
    /// event once (see [`crate::catalog`]).
    pub fn keep_duplicates(mut self, keep: bool) -> Engine {
        self.keep_duplicates = keep;
        self
    }

    /// Opens the inputs (in parallel) without decoding their chunks: the
    /// [`Catalog`] of their chunks' statistics and of the copies to keep.
    /// Inputs that cannot be opened are in [`Catalog::failed`].
    ///
    /// # Errors
    /// Reading standard input failed.
    pub fn open(&self, inputs: &[Input]) -> Result<Catalog, LoadError> {
        Catalog::open(inputs, OpenOptions { keep_duplicates: self.keep_duplicates }, &|_| ())
    }

    /// Opens and decodes the inputs into one time-ordered [`Dataset`].
    ///
    /// # Errors
    /// No input could be opened, or (strict) an input is damaged.
    pub fn load(&self, inputs: &[Input]) -> Result<Dataset, LoadError> {
        let catalog = self.open(inputs)?;
        self.load_opened(&catalog)
    }

    /// Decodes the inputs opened with [`Engine::open`] (so a caller can size
    /// a progress bar with [`events_in`] first).
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_opened(&self, catalog: &Catalog) -> Result<Dataset, LoadError> {
        self.load_chunks(catalog, &|_, _| true)
    }

    /// Decodes every chunk of every snapshot but the last, and of the last
    /// only its first chunks, up to the first that brings it to `events`
    /// events: the first part of a large input, to show while the whole of
    /// it loads (the TUI's first screen). The result is the dataset that a
    /// file cut after those chunks would give; its [`SourceInfo::events_loaded`]
    /// counts the events decoded.
    ///
    /// ```
    /// use ttlog_cli::{Engine, Input};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/chunked.bin");
    /// let engine = Engine::new();
    /// let catalog = engine.open(&[Input::File(p)]).unwrap();
    /// let first = engine.load_prefix(&catalog, 1).unwrap();
    /// assert!(first.len() > 0 && first.len() < 1000);
    /// ```
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_prefix(&self, catalog: &Catalog, events: u64) -> Result<Dataset, LoadError> {
        let snaps = &catalog.snapshots;
        let last = snaps.len().saturating_sub(1);
        // The number of leading chunks of the last snapshot to decode.
        let mut sum = 0u64;
        let head = snaps.last().map_or(0, |s| {
            s.chunks()
                .iter()
                .take_while(|c| {
                    let more = sum < events;
                    sum += u64::from(c.events);
                    more
                })
                .count()
        });
        self.load_chunks(catalog, &|si, c| si < last || c < head)
    }

    /// Decodes the chunks `(snapshot, chunk)` for which `keep` holds, each
    /// event once (see [`Catalog::keep`]).
    fn load_chunks(
        &self,
        catalog: &Catalog,
        keep: &(dyn Fn(usize, usize) -> bool + Sync),
    ) -> Result<Dataset, LoadError> {
        let snaps = &catalog.snapshots;
        let failed = catalog.failed.clone();
        if snaps.is_empty() {
            return Err(LoadError::NothingReadable(failed));
        }
        if self.strict {
            if let Some(e) = failed.first() {
                return Err(LoadError::Damaged(e.clone()));
            }
            if let Some(e) = snaps.iter().flat_map(|s| s.problems()).next() {
                return Err(LoadError::Damaged(e.clone()));
            }
        }
        let mut problems = failed;
        let mut tables = Tables::of(catalog);
        for s in snaps {
            problems.extend(s.problems().iter().cloned());
        }
        // Chunks whose statistics could not be computed failed to decode.
        let mut duplicates = vec![0u64; snaps.len()];
        for (si, stats) in catalog.stats.iter().enumerate() {
            for (c, st) in stats.iter().enumerate() {
                match (st, &catalog.keep[si][c]) {
                    (Err(e), _) if keep(si, c) => {
                        if self.strict {
                            return Err(LoadError::Damaged(e.clone()));
                        }
                        problems.push(e.clone());
                    }
                    (Ok(st), ChunkKeep::None) if keep(si, c) => duplicates[si] += u64::from(st.events),
                    _ => {}
                }
            }
        }
        // Decode every chunk with events to keep, in parallel.
        let jobs: Vec<(usize, usize)> = snaps
            .iter()
            .enumerate()
            .flat_map(|(si, s)| (0..s.chunks().len()).map(move |c| (si, c)))
            .filter(|&(si, c)| keep(si, c) && catalog.stats[si][c].is_ok() && catalog.keep[si][c] != ChunkKeep::None)
            .collect();
        let lengths: Vec<usize> = jobs.iter().map(|&(si, c)| snaps[si].chunks()[c].events as usize).collect();
        let total: usize = lengths.iter().sum();
        if total as u64 > u64::from(IdxSize::MAX) {
            return Err(LoadError::TooMany(total as u64));
        }
        let (filled, decoded) = frame::decode_into(
            &lengths,
            &tables.sources,
            |j| jobs[j].0,
            |j| {
                let (si, c) = jobs[j];
                let r = snaps[si].decode_chunk(c).map(|mut cols| {
                    let dropped = catalog.keep[si][c].retain(&mut cols);
                    (cols, dropped)
                });
                if let Some(p) = &self.progress {
                    p(lengths[j] as u64);
                }
                r
            },
        );

        // Number the events in input order (chunk by chunk), which is where
        // their field values are: `ev` is that number.
        let mut pending = Vec::with_capacity(decoded.len());
        let mut base = 0u64;
        let mut loaded = vec![0u64; tables.sources.len()];
        let mut damaged = vec![0u64; tables.sources.len()];
        for ((&(si, _), r), &n) in jobs.iter().zip(decoded).zip(&lengths) {
            match r {
                Ok((cols, dropped)) => {
                    let n = cols.len() as u64;
                    loaded[si] += n;
                    duplicates[si] += dropped;
                    pending.push((si, base, cols));
                    base += n;
                }
                Err(e) => {
                    if self.strict {
                        return Err(LoadError::Damaged(e));
                    }
                    damaged[si] += n as u64;
                    problems.push(e);
                }
            }
        }
        for (i, s) in tables.sources.iter_mut().enumerate() {
            if let Some(s) = Arc::get_mut(s) {
                s.events_loaded = loaded[i];
                s.duplicates = duplicates[i];
                s.damaged += damaged[i];
            }
        }
        let (frame, ev_in_order) = assemble(filled)?;
        let chunks: Vec<Chunk> =
            pending.into_iter().map(|(si, base, cols)| Chunk { base, source: si as u32, cols }).collect();
        Ok(Dataset {
            inner: Arc::new(
                Inner {
                    tables,
                    chunks,
                    chunk_bases: Vec::new(),
                    frame,
                    ev_in_order,
                    problems,
                    field_cache: Mutex::new(Vec::new()),
                }
                .with_bases(),
            ),
        })
    }
}

/// Field values of one decoded chunk (its timestamps and threads are in
/// the frame).
#[derive(Debug)]
struct Chunk {
    /// Event number of the chunk's first event.
    base: u64,
    source: u32,
    cols: ChunkColumns,
}

struct Inner {
    tables: Tables,
    chunks: Vec<Chunk>,
    chunk_bases: Vec<u64>,
    frame: DataFrame,
    /// Whether the frame's `ev` column is `0..len`: time order was input
    /// order (so a field column in `ev` order is in frame order too).
    ev_in_order: bool,
    problems: Vec<SnapshotError>,
    /// Field columns in event-number order, built on first use: the
    /// [`FIELD_CACHE_COLUMNS`] used last, least recently used first (a
    /// column costs 8 to 16 bytes per event; keeping every field an
    /// interactive session has filtered on would pass the memory target).
    field_cache: Mutex<Vec<(Arc<str>, Series)>>,
}

impl Inner {
    fn with_bases(mut self) -> Inner {
        self.chunk_bases = self.chunks.iter().map(|c| c.base).collect();
        self
    }
}

/// Every event of the loaded snapshots, in time order, with the tables
/// that its codes refer to. Cheap to clone (shared).
///
/// ```
/// use ttlog_cli::{Engine, Filter, Input};
/// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
/// let ds = Engine::new().load(&[Input::File(p)]).unwrap();
/// let view = ds.filter(&Filter::parse("target=orders and qty>=1000").unwrap()).unwrap();
/// assert_eq!(view.len(), 10);
/// let rows = view.rows(0..2);
/// assert_eq!(&*rows[0].message, "order filled");
/// ```
#[derive(Clone)]
pub struct Dataset {
    inner: Arc<Inner>,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("events", &self.len())
            .field("sources", &self.inner.tables.sources.len())
            .field("sites", &self.inner.tables.sites.len())
            .field("problems", &self.inner.problems.len())
            .finish()
    }
}

impl Dataset {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.inner.frame.height()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The snapshot files, in input order.
    pub fn sources(&self) -> &[Arc<SourceInfo>] {
        &self.inner.tables.sources
    }

    /// The tables the codes refer to.
    pub fn tables(&self) -> &Tables {
        &self.inner.tables
    }

    /// The call-site table (`cs` codes index it).
    pub fn sites(&self) -> &[Site] {
        &self.inner.tables.sites
    }

    /// The thread table (`th` codes index it).
    pub fn threads(&self) -> &[ThreadRef] {
        &self.inner.tables.threads
    }

    /// Field names, with their kinds and column types.
    pub fn fields(&self) -> impl Iterator<Item = &FieldInfo> {
        self.inner.tables.fields.values()
    }

    /// Every problem found: inputs that could not be opened, damage in
    /// files, chunks that failed to decode. Their events are missing; all
    /// others are there.
    pub fn problems(&self) -> &[SnapshotError] {
        &self.inner.problems
    }

    /// The processes whose snapshots were loaded, each with its files newest
    /// first (the first holds its counters). Events of one process that
    /// several of its snapshots hold are in the dataset once.
    pub fn processes(&self) -> &[Process] {
        &self.inner.tables.processes
    }

    /// Files of one process that were found to hold different events under
    /// the same identity (the newer file's were kept).
    pub fn differing(&self) -> &[Differing] {
        &self.inner.tables.differing
    }

    /// Whether every copy of every event was loaded (`--keep-duplicates`).
    pub fn keeps_duplicates(&self) -> bool {
        self.inner.tables.keeps_duplicates
    }

    /// The whole frame (columns of [`cols`](mod@cols)).
    pub fn frame(&self) -> &DataFrame {
        &self.inner.frame
    }

    /// Every event, as a [`View`].
    pub fn all(&self) -> View {
        View::new(self.clone(), self.inner.frame.clone())
    }

    /// The events for which `filter` holds.
    ///
    /// # Errors
    /// A key or value that does not fit the data (an unknown field, text
    /// where a number is needed, a bad regular expression).
    pub fn filter(&self, filter: &Filter) -> Result<View, FilterError> {
        self.all().filter(filter)
    }

    /// The site of call-site code `cs`, and its snapshot.
    pub fn site(&self, cs: u32) -> (&Site, &SourceInfo) {
        self.inner.tables.site(cs)
    }

    /// The column of field `name` for every event, in event-number (`ev`)
    /// order: typed as [`FieldInfo::dtype`], null where an event has no such
    /// field. Built (in parallel over chunks) on first use; the two used
    /// last are kept.
    pub fn field_column(&self, name: &str) -> Option<Series> {
        let info = self.inner.tables.fields.get(name)?;
        {
            let mut cache = self.inner.field_cache.lock().expect("field cache");
            if let Some(i) = cache.iter().position(|(n, _)| &**n == name) {
                let hit = cache.remove(i);
                let column = hit.1.clone();
                cache.push(hit);
                return Some(column);
            }
        }
        let name_: PlSmallStr = name.into();
        let out = match info.dtype {
            DataType::UInt64 => self
                .numeric_field::<UInt64Type>(info, |v, r| match v {
                    Values::U64(b) => b.get(r).copied(),
                    _ => None,
                })
                .with_name(name_)
                .into_series(),
            DataType::Int64 => self
                .numeric_field::<Int64Type>(info, |v, r| match v {
                    Values::I64(b) => b.get(r).copied(),
                    _ => None,
                })
                .with_name(name_)
                .into_series(),
            DataType::Float64 => self
                .numeric_field::<Float64Type>(info, |v, r| match v {
                    Values::U64(b) => b.get(r).map(|&x| x as f64),
                    Values::I64(b) => b.get(r).map(|&x| x as f64),
                    Values::F32(b) => b.get(r).map(|&x| f64::from(x)),
                    Values::F64(b) => b.get(r).copied(),
                    _ => None,
                })
                .with_name(name_)
                .into_series(),
            _ => {
                let parts: Vec<Series> = self.inner.chunks.par_iter().map(|c| self.field_part(info, c)).collect();
                let mut out = Series::new_empty(name_, &info.dtype);
                for p in &parts {
                    out.append(p).expect("same dtype");
                }
                out.rechunk()
            }
        };
        let mut cache = self.inner.field_cache.lock().expect("field cache");
        if !cache.iter().any(|(n, _)| &**n == name) {
            cache.push((Arc::clone(&info.name), out.clone()));
            if cache.len() > FIELD_CACHE_COLUMNS {
                drop(cache.remove(0));
            }
        }
        Some(out)
    }

    /// A numeric field column built into one buffer of values and one of
    /// validity, each chunk filling its part in parallel (no column per
    /// chunk, no concatenation).
    fn numeric_field<T>(
        &self,
        info: &FieldInfo,
        get: impl Fn(&Values, usize) -> Option<T::Native> + Sync,
    ) -> ChunkedArray<T>
    where
        T: PolarsNumericType,
    {
        let n = self.inner.chunks.iter().map(|c| c.cols.len()).sum();
        let mut values = vec![T::Native::default(); n];
        let mut valid = vec![false; n];
        let mut parts = Vec::with_capacity(self.inner.chunks.len());
        let (mut v_rest, mut ok_rest) = (&mut values[..], &mut valid[..]);
        for c in &self.inner.chunks {
            let k = c.cols.len();
            let (v, r) = std::mem::take(&mut v_rest).split_at_mut(k);
            v_rest = r;
            let (ok, r) = std::mem::take(&mut ok_rest).split_at_mut(k);
            ok_rest = r;
            parts.push((c, v, ok));
        }
        parts.into_par_iter().for_each(|(c, v, ok)| {
            let by_site = self.inner.tables.columns_of(info, c.source as usize, &c.cols);
            let c = &c.cols;
            for (i, (v, ok)) in v.iter_mut().zip(ok).enumerate() {
                if let Some(x) = by_site[c.callsites[i] as usize].and_then(|col| get(col, c.ranks[i] as usize)) {
                    *v = x;
                    *ok = true;
                }
            }
        });
        let validity = (!valid.iter().all(|&b| b)).then(|| valid.into_iter().collect());
        ChunkedArray::from_vec_validity(PlSmallStr::EMPTY, values, validity)
    }

    fn field_part(&self, info: &FieldInfo, c: &Chunk) -> Series {
        self.inner.tables.field_series(info, c.source as usize, &c.cols)
    }

    /// Where event number `ev` is: its chunk and row in it.
    fn locate(&self, ev: u64) -> (&Chunk, usize) {
        let i = self.inner.chunk_bases.partition_point(|&b| b <= ev) - 1;
        let c = &self.inner.chunks[i];
        (c, (ev - c.base) as usize)
    }

    /// The event at frame position `ts`/`cs`/`th`/`ev`.
    fn event(&self, ts: i64, cs: u32, th: u32, ev: u64) -> EventRef<'_> {
        let (chunk, row) = self.locate(ev);
        let t = &self.inner.tables;
        let site = &t.sites[cs as usize];
        EventRef {
            ts,
            cs,
            site,
            source: &t.sources[site.source as usize],
            thread: &t.threads[th as usize],
            chunk: &chunk.cols,
            row,
        }
    }
}

/// One event, borrowed from a [`Dataset`]: the fast path for exports.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    /// UTC nanoseconds.
    pub ts: i64,
    /// Call-site code.
    pub cs: u32,
    /// Its call site.
    pub site: &'a Site,
    /// Its snapshot.
    pub source: &'a SourceInfo,
    /// Its thread.
    pub thread: &'a ThreadRef,
    chunk: &'a ChunkColumns,
    row: usize,
}

/// A field value borrowed from the decoded chunk: ttlog-core's
/// [`ValueRef`](ttlog_core::ValueRef), which also writes it as JSON
/// ([`ttlog_core::json`]) and displays it.
pub type FieldRef<'a> = ttlog_core::ValueRef<'a>;

impl<'a> EventRef<'a> {
    /// The event of row `row` of the decoded chunk `cols` of snapshot
    /// `source` (its timestamps and threads decoded).
    pub(crate) fn of(tables: &'a Tables, source: usize, cols: &'a ChunkColumns, row: usize) -> EventRef<'a> {
        let cs = tables.site_code(source, cols.callsites[row]);
        EventRef {
            ts: cols.timestamps[row],
            cs,
            site: &tables.sites[cs as usize],
            source: &tables.sources[source],
            thread: &tables.threads[tables.thread_code(source, cols.threads[row]) as usize],
            chunk: cols,
            row,
        }
    }

    /// Sequence number within its thread's ring.
    pub fn seq(&self) -> u64 {
        self.chunk.seqs[self.row]
    }

    /// The fields, in recording order (a field whose column is damaged is
    /// left out).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, FieldRef<'a>)> + 'a {
        let chunk = self.chunk;
        let local = chunk.callsites[self.row];
        let rank = chunk.ranks[self.row] as usize;
        self.site.info.fields.iter().enumerate().filter_map(move |(f, (name, _))| {
            let col = chunk.column(local, f as u32)?;
            let v = match &col.values {
                Values::Bool(v) => FieldRef::Bool(*v.get(rank)?),
                Values::Char(v) => FieldRef::Char(*v.get(rank)?),
                Values::U64(v) => FieldRef::U64(*v.get(rank)?),
                Values::I64(v) => FieldRef::I64(*v.get(rank)?),
                Values::U128(v) => FieldRef::U128(*v.get(rank)?),
                Values::I128(v) => FieldRef::I128(*v.get(rank)?),
                Values::F32(v) => FieldRef::F32(*v.get(rank)?),
                Values::F64(v) => FieldRef::F64(*v.get(rank)?),
                Values::Str(s) => {
                    if rank >= s.len() {
                        return None;
                    }
                    FieldRef::Str(s.get(rank))
                }
            };
            Some((&**name, v))
        })
    }

    /// The owned [`Row`].
    pub fn to_row(&self) -> Row {
        let i = &self.site.info;
        Row {
            timestamp_ns: self.ts,
            level: i.level,
            target: Arc::clone(&i.target),
            message: Arc::clone(&i.message),
            fields: self.fields().map(|(n, v)| (Arc::from(n), v.to_value())).collect(),
            thread_id: self.thread.id,
            thread_name: self.thread.name.clone(),
            file: Arc::clone(&i.file),
            line: i.line,
            service: Arc::clone(&self.source.service),
            hostname: Arc::clone(&self.source.hostname),
            pid: self.source.pid,
            source: self.site.source as usize,
            seq: self.seq(),
            callsite: self.cs,
        }
    }
}

/// One event, owned: what a table or detail pane shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// UTC nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Severity.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Field names and typed values, in recording order.
    pub fields: Vec<(Arc<str>, Value)>,
    /// Thread id (process-unique).
    pub thread_id: u64,
    /// Thread name.
    pub thread_name: Option<Arc<str>>,
    /// Source file of the logging statement.
    pub file: Arc<str>,
    /// Source line.
    pub line: u32,
    /// Service of the snapshot.
    pub service: Arc<str>,
    /// Host of the snapshot.
    pub hostname: Arc<str>,
    /// Process id of the snapshot.
    pub pid: u32,
    /// Index into [`Dataset::sources`] (the snapshot file).
    pub source: usize,
    /// Sequence number within its thread's ring.
    pub seq: u64,
    /// Call-site code (index into [`Dataset::sites`]).
    pub callsite: u32,
}

/// An ordered subset of a [`Dataset`]'s events: the result of filters,
/// time bounds, head/tail and reversal. Cheap to clone.
#[derive(Clone)]
pub struct View {
    ds: Dataset,
    frame: DataFrame,
    /// Events per (call-site code, thread code), computed on first use:
    /// stats and call-site group-bys of the same view share it.
    code_counts: Arc<OnceLock<Vec<CodeCount>>>,
    /// Newest first ([`View::reversed`]); otherwise in time order.
    reversed: bool,
}

/// Events of one call site on one thread, in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeCount {
    /// Call-site code.
    pub(crate) cs: u32,
    /// Thread code.
    pub(crate) th: u32,
    /// Events.
    pub(crate) n: u64,
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View").field("events", &self.len()).finish()
    }
}

impl View {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.frame.height()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset it is a view of.
    pub fn dataset(&self) -> &Dataset {
        &self.ds
    }

    /// Its frame (columns of [`cols`](mod@cols)).
    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    fn new(ds: Dataset, frame: DataFrame) -> View {
        View { ds, frame, code_counts: Arc::default(), reversed: false }
    }

    /// A view of the same order over `frame` (a subset of this one's rows
    /// in this one's order).
    fn with_frame(&self, frame: DataFrame) -> View {
        View { reversed: self.reversed, ..View::new(self.ds.clone(), frame) }
    }

    /// Events per (call-site code, thread code) pair, computed once per
    /// view. Every count by a call-site property or a thread derives from
    /// it (the join after grouping of the frame's design).
    ///
    /// The codes are dense indices into small tables, so this counts into
    /// an array indexed by the pair, in parallel over slices of the rows:
    /// one pass. A polars group-by materialises the row indices of every
    /// group instead: about 80 ms per `u32` key (300 ms for a combined
    /// `u64` key) on 10 M rows here, against about 10 ms.
    pub(crate) fn code_counts(&self) -> &[CodeCount] {
        self.code_counts.get_or_init(|| count_codes(&self.ds, &self.frame))
    }

    /// The first and last timestamps (by position, so the first is the
    /// latest of a reversed view).
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        if self.is_empty() {
            return None;
        }
        let ts = self.frame.column(cols::TS).ok()?.i64().ok()?;
        Some((ts.get(0)?, ts.get(self.len() - 1)?))
    }

    /// The earliest and latest timestamps.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        // A view is in time order (newest first when reversed): its ends.
        let (first, last) = self.time_bounds()?;
        Some(if self.reversed { (last, first) } else { (first, last) })
    }

    /// The events with `since <= ts <= until` (either bound optional).
    pub fn between(&self, since: Option<i64>, until: Option<i64>) -> View {
        let mut pred = lit(true);
        if let Some(s) = since {
            pred = pred.and(col(cols::TS).gt_eq(lit(s)));
        }
        if let Some(u) = until {
            pred = pred.and(col(cols::TS).lt_eq(lit(u)));
        }
        let f = self.frame.clone().lazy().filter(pred).collect().expect("time filter on the ts column");
        self.with_frame(f)
    }

    /// The first `n` events.
    pub fn head(&self, n: usize) -> View {
        self.with_frame(self.frame.head(Some(n)))
    }

    /// The last `n` events.
    pub fn tail(&self, n: usize) -> View {
        self.with_frame(self.frame.tail(Some(n)))
    }

    /// The same events in the opposite order.
    pub fn reversed(&self) -> View {
        View { reversed: !self.reversed, ..View::new(self.ds.clone(), self.frame.reverse()) }
    }

    /// The events of this view for which `filter` holds, in the same order.
    ///
    /// # Errors
    /// See [`Dataset::filter`].
    pub fn filter(&self, filter: &Filter) -> Result<View, FilterError> {
        if filter.is_empty() {
            return Ok(self.clone());
        }
        let field = |name: &str| self.field_column(name);
        let mut c = Compiler { tables: self.ds.tables(), field: &field, extra: Vec::new() };
        let mut pred = lit(true);
        for (_, e) in filter.parts() {
            pred = pred.and(c.expr(e)?);
        }
        let extra = std::mem::take(&mut c.extra);
        let base: Vec<Expr> = [cols::TS, cols::CS, cols::TH, cols::EV].into_iter().map(col).collect();
        let frame = self
            .frame
            .hstack(&extra)
            .and_then(|f| f.lazy().filter(pred).select(base).collect())
            .map_err(|e| FilterError { column: 1, message: format!("evaluating the filter: {e}") })?;
        Ok(self.with_frame(frame))
    }

    /// The column of field `name` for this view's events, in view order
    /// (null where an event lacks the field). `None` for an unknown field.
    pub fn field_column(&self, name: &str) -> Option<Series> {
        let all = self.ds.field_column(name)?;
        // Every event in frame order, which is event-number order: no gather.
        if self.ds.inner.ev_in_order && !self.reversed && self.len() == self.ds.len() {
            return Some(all);
        }
        let ev = self.frame.column(cols::EV).ok()?.idx().ok()?.clone();
        all.take(&ev).ok()
    }

    /// Calls `f` for each event in `range` (positions in the view), in view
    /// order, without allocating per event. Stops at the first error.
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_for_each<E>(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(EventRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let part = self.frame.slice(start as i64, end - start);
        let get = |name: &str| part.column(name).expect("frame column").as_materialized_series().rechunk();
        let (ts, cs, th, ev) = (get(cols::TS), get(cols::CS), get(cols::TH), get(cols::EV));
        let ts = ts.i64().expect("i64");
        let cs = cs.u32().expect("u32");
        let th = th.u32().expect("u32");
        let ev = ev.idx().expect("idx");
        for (((t, c), h), e) in
            ts.into_no_null_iter().zip(cs.into_no_null_iter()).zip(th.into_no_null_iter()).zip(ev.into_no_null_iter())
        {
            f(self.ds.event(t, c, h, u64::from(e)))?;
        }
        Ok(())
    }

    /// The events at positions `range` of the view (clamped to its length).
    pub fn rows(&self, range: Range<usize>) -> Vec<Row> {
        let mut out = Vec::with_capacity(range.len().min(self.len()));
        let _ = self.try_for_each::<()>(range, |e| {
            out.push(e.to_row());
            Ok(())
        });
        out
    }
}

/// Events per (call-site code, thread code) pair of `frame` (see
/// [`View::code_counts`]).
fn count_codes(ds: &Dataset, frame: &DataFrame) -> Vec<CodeCount> {
    count_codes_up_to(ds, frame, 1 << 18)
}

/// [`count_codes`], in an array when there are at most `dense` possible
/// pairs, else in hash maps.
fn count_codes_up_to(ds: &Dataset, frame: &DataFrame, dense: usize) -> Vec<CodeCount> {
    if frame.height() == 0 {
        return Vec::new();
    }
    let column = |name: &str| frame.column(name).expect("frame column").as_materialized_series().rechunk();
    let (cs, th) = (column(cols::CS), column(cols::TH));
    let cs = cs.u32().expect("cs is u32").cont_slice().expect("cs: one chunk, no nulls");
    let th = th.u32().expect("th is u32").cont_slice().expect("th: one chunk, no nulls");
    // A thread and a call site of one event belong to the same snapshot:
    // the pair's index is the site's code times the most threads of a
    // snapshot, plus the thread's place among its snapshot's threads.
    let inner = &ds.inner.tables;
    let first_thread: Vec<u32> = inner.sites.iter().map(|s| inner.sources[s.source as usize].thread_offset).collect();
    let mut per_source = vec![0u32; inner.sources.len()];
    for t in &inner.threads {
        per_source[t.source as usize] += 1;
    }
    let width = per_source.iter().copied().max().unwrap_or(1).max(1) as usize;
    let pairs = inner.sites.len() * width;
    const SLICE: usize = 1 << 16;
    let counted: Vec<(u64, u64)> = if pairs <= dense {
        let counts = cs
            .par_chunks(SLICE)
            .zip(th.par_chunks(SLICE))
            .fold(
                || vec![0u64; pairs],
                |mut acc, (cs, th)| {
                    for (&c, &t) in cs.iter().zip(th) {
                        acc[c as usize * width + (t - first_thread[c as usize]) as usize] += 1;
                    }
                    acc
                },
            )
            .reduce(
                || vec![0u64; pairs],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        counts.into_iter().enumerate().filter(|&(_, n)| n > 0).map(|(i, n)| (i as u64, n)).collect()
    } else {
        // Very many call sites and threads: count the pairs that occur.
        let counts = cs
            .par_chunks(SLICE)
            .zip(th.par_chunks(SLICE))
            .fold(HashMap::<u64, u64>::new, |mut acc, (cs, th)| {
                for (&c, &t) in cs.iter().zip(th) {
                    *acc.entry(c as u64 * width as u64 + u64::from(t - first_thread[c as usize])).or_default() += 1;
                }
                acc
            })
            .reduce(HashMap::new, |mut a, b| {
                for (k, n) in b {
                    *a.entry(k).or_default() += n;
                }
                a
            });
        counts.into_iter().collect()
    };
    counted
        .into_iter()
        .map(|(i, n)| {
            let cs = (i / width as u64) as u32;
            CodeCount { cs, th: (i % width as u64) as u32 + first_thread[cs as usize], n }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn counts_by_code_are_a_group_by_of_the_code_columns() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let ds = Engine::new().load(&Input::expand(&[dir.display().to_string()]).unwrap()).unwrap();
        let some = ds.filter(&Filter::parse("level>=info and thread!=main").unwrap()).unwrap();
        for view in [ds.all(), some.clone(), some.reversed(), ds.all().head(0)] {
            let g = view
                .frame()
                .clone()
                .lazy()
                .group_by([col(cols::CS), col(cols::TH)])
                .agg([len().alias("n")])
                .collect()
                .unwrap();
            let (cs, th) = (g.column(cols::CS).unwrap().u32().unwrap(), g.column(cols::TH).unwrap().u32().unwrap());
            let n = g.column("n").unwrap().cast(&DataType::UInt64).unwrap();
            let mut expected: Vec<CodeCount> = cs
                .into_no_null_iter()
                .zip(th.into_no_null_iter())
                .zip(n.u64().unwrap().into_no_null_iter())
                .map(|((cs, th), n)| CodeCount { cs, th, n })
                .collect();
            expected.sort_by_key(|c| (c.cs, c.th));
            for dense in [1 << 18, 0] {
                let mut got = count_codes_up_to(&ds, view.frame(), dense);
                got.sort_by_key(|c| (c.cs, c.th));
                assert_eq!(got, expected, "{view:?}, dense up to {dense}");
            }
            // The time range read off the ends of an ordered view.
            let ts = view.frame().column(cols::TS).unwrap().i64().unwrap().clone();
            assert_eq!(view.time_range(), ts.min().zip(ts.max()));
        }
    }

    #[test]
    fn field_columns_are_the_per_chunk_values_in_frame_order() {
        let td = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        for inputs in [vec![td.join("normal.bin")], vec![td.clone()]] {
            let args: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            let ds = Engine::new().load(&Input::expand(&args).unwrap()).unwrap();
            let names: Vec<String> = ds.fields().map(|f| f.name.to_string()).collect();
            assert!(!names.is_empty());
            for name in names {
                let info = ds.inner.tables.fields.get(name.as_str()).unwrap();
                // The general builder, one part per chunk, concatenated.
                let mut expected = Series::new_empty(name.as_str().into(), &info.dtype);
                for c in &ds.inner.chunks {
                    expected.append(&ds.field_part(info, c)).unwrap();
                }
                let column = ds.field_column(&name).unwrap();
                assert!(column.equals_missing(&expected), "{name}: {column:?} != {expected:?}");
                // A view's column is in its order, with or without a gather.
                let ev = ds.frame().column(cols::EV).unwrap().idx().unwrap().clone();
                let in_frame_order = expected.take(&ev).unwrap();
                assert!(ds.all().field_column(&name).unwrap().equals_missing(&in_frame_order), "{name}");
                let reversed = ds.all().reversed().field_column(&name).unwrap();
                assert!(reversed.equals_missing(&in_frame_order.reverse()), "{name}");
            }
        }
    }

    #[test]
    fn the_field_columns_used_last_are_kept() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
        let ds = Engine::new().load(&[Input::File(p)]).unwrap();
        let first: Vec<Series> = ["qty", "price", "symbol"].iter().map(|f| ds.field_column(f).unwrap()).collect();
        let kept = || ds.inner.field_cache.lock().unwrap().iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        assert_eq!(kept(), ["price", "symbol"]);
        // A use moves a column to the end; a rebuilt column is the same.
        assert!(ds.field_column("price").unwrap().equals_missing(&first[1]));
        assert_eq!(kept(), ["symbol", "price"]);
        assert!(ds.field_column("qty").unwrap().equals_missing(&first[0]));
        assert_eq!(kept(), ["price", "qty"]);
    }

    #[test]
    fn dataset_and_view_can_cross_threads() {
        assert_send_sync::<Dataset>();
        assert_send_sync::<View>();
        assert_send_sync::<Row>();
    }
}
