//! The in-memory engine: snapshots loaded into one polars frame
//! ([`Engine`], [`Dataset`]), and the filtered, ordered subsets of it
//! ([`View`]).
//!
//! - `load.rs`: [`Input`] and [`Engine`]: opens the inputs and decodes
//!   their chunks in parallel, each event once;
//! - `frame.rs`: the decoded chunks merged into one time-ordered frame;
//! - `mod.rs` (here): [`Dataset`]: the frame, the tables its codes refer
//!   to, and field columns built from the decoded chunks on demand;
//! - `view.rs`: [`View`]: an ordered subset (filter, time bounds,
//!   head/tail, reverse), its rows and its counts per code;
//! - `event.rs`: one event, borrowed ([`EventRef`]) or owned ([`Row`]).
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

mod event;
mod frame;
mod load;
mod view;

use crate::catalog::{Differing, Process};
use crate::filter::{Filter, FilterError};
pub use crate::tables::{FieldInfo, Site, SourceInfo, Tables, ThreadRef};
pub use event::{EventRef, FieldRef, Row};
pub use load::{Engine, Input, LISTED_PROBLEMS, LoadError, events_in};
use polars::prelude::*;
use rayon::prelude::*;
use std::fmt;
use std::sync::{Arc, Mutex};
use ttlog_core::snapshot::{ChunkColumns, SnapshotError, Values};
pub(crate) use view::CodeCount;
pub use view::View;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

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
