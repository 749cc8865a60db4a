//! The interactive viewer's engine for inputs too large to load: the events
//! stay in their snapshot files and a view is a selection of positions in
//! one time-ordered index.
//!
//! - **Index** ([`Index::build`]): the streaming engine's k-way merge
//!   ([`Stream`]) over every chunk, each event once, decoding only
//!   timestamps, call sites, threads and sequences. Per event it keeps where
//!   the event is (chunk and row, 8 bytes) and its level (1 byte); every
//!   [`SAMPLE`]th event's timestamp. About 9 bytes per event, where loading
//!   the events takes 50–80. The first [`FIRST_PART`] events are published
//!   as soon as they are merged, so the first screen does not wait.
//! - **Rows on demand**: a page of the table decodes the chunks of its rows
//!   (whole, with their fields) and keeps the last [`CACHED_CHUNKS`].
//! - **Filters** ([`Selection::of`]): the streaming engine's plan skips
//!   chunks by their statistics and tests the rest in parallel with only the
//!   columns the filter reads; the matches become one bit per position of
//!   the index, with a count per 64 positions to find the n-th.
//! - **Counts**: stats and group-bys are the streaming engine's answers
//!   ([`crate::query`]); the timeline comes from the sampled timestamps and
//!   the levels.

use crate::catalog::Catalog;
use crate::filter::Filter;
use crate::query::QueryError;
use crate::stream::{Decoded, EventQuestion, RowRef, Sink, Stream};
use crate::tables::Tables;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use ttlog_core::Level;
use ttlog_core::snapshot::{ChunkColumns, FieldSet, Projection, SnapshotError};

/// One timestamp kept per this many events of the index (one bitmap word).
pub const SAMPLE: usize = 64;

/// Events merged before the index's first part is published.
pub const FIRST_PART: usize = 1 << 18;

/// Decoded chunks kept for the rows of the pages shown.
pub const CACHED_CHUNKS: usize = 64;

/// What an index is over: the catalog, its tables, and the chunks.
#[derive(Debug)]
struct Shared {
    catalog: Catalog,
    tables: Tables,
    /// Per snapshot, the id of its first chunk.
    chunk_base: Vec<u32>,
    /// Per chunk id, (snapshot, chunk).
    chunks: Vec<(u32, u32)>,
    /// Decoded chunks, most recently used last.
    cache: Mutex<VecDeque<(u32, Arc<ChunkColumns>)>>,
}

/// The most events whose room [`Index::build`] reserves before it has read
/// them (16 Mi, 144 MiB): beyond, the index grows with the events decoded.
const RESERVE_MAX: usize = 1 << 24;

/// The time order of the events of a catalog (or its first part while it
/// is built), cheap to clone.
#[derive(Debug, Clone)]
pub struct Index {
    shared: Arc<Shared>,
    /// `(chunk id << 32) | row`, in time order.
    order: Arc<Vec<u64>>,
    /// The level of each event of `order`.
    levels: Arc<Vec<u8>>,
    /// The timestamp of `order[k * SAMPLE]`.
    samples: Arc<Vec<i64>>,
    /// Events of each snapshot in `order`.
    per_source: Arc<Vec<u64>>,
    /// Problems found while merging (damaged chunks).
    problems: Arc<Vec<SnapshotError>>,
    /// Whether every event is in `order`.
    complete: bool,
}

/// The index's merge as a [`Sink`].
struct Builder<'a> {
    shared: &'a Shared,
    order: Vec<u64>,
    levels: Vec<u8>,
    samples: Vec<i64>,
    per_source: Vec<u64>,
    /// Called once with the first part.
    first: Option<&'a mut dyn FnMut(Index)>,
    arc: &'a Arc<Shared>,
    cancelled: &'a (dyn Fn() -> bool + Sync),
}

impl Builder<'_> {
    fn snapshot(&self, complete: bool, problems: Vec<SnapshotError>) -> Index {
        Index {
            shared: Arc::clone(self.arc),
            order: Arc::new(self.order.clone()),
            levels: Arc::new(self.levels.clone()),
            samples: Arc::new(self.samples.clone()),
            per_source: Arc::new(self.per_source.clone()),
            problems: Arc::new(problems),
            complete,
        }
    }
}

impl Sink for Builder<'_> {
    fn batch(&mut self, tables: &Tables, rows: &[RowRef<'_>]) -> std::io::Result<()> {
        if (self.cancelled)() {
            return Err(std::io::Error::other("cancelled"));
        }
        for &(d, row) in rows {
            if self.order.len().is_multiple_of(SAMPLE) {
                self.samples.push(d.cols.timestamps[row as usize]);
            }
            let id = self.shared.chunk_base[d.s] + d.c as u32;
            self.order.push((u64::from(id) << 32) | u64::from(row));
            let site = &tables.sites[tables.site_code(d.s, d.cols.callsites[row as usize]) as usize];
            self.levels.push(site.info.level as u8);
            self.per_source[d.s] += 1;
        }
        if self.order.len() >= FIRST_PART
            && let Some(first) = self.first.take()
        {
            first(self.snapshot(false, Vec::new()));
        }
        Ok(())
    }

    fn finish(&mut self, _: &Tables) -> std::io::Result<()> {
        Ok(())
    }
}

impl Index {
    /// Merges the events of `catalog` into an index. `first` gets the first
    /// [`FIRST_PART`] events as soon as they are merged; `progress(n)` is
    /// called as chunks are decoded; `cancelled` stops the build.
    ///
    /// # Errors
    /// Cancelled (as an I/O error), or an error of the merge.
    pub fn build(
        catalog: Catalog,
        first: &mut dyn FnMut(Index),
        progress: &(dyn Fn(u64) + Sync),
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Index, QueryError> {
        let tables = Tables::of(&catalog);
        let mut chunk_base = Vec::with_capacity(catalog.snapshots.len());
        let mut chunks = Vec::new();
        for (s, snap) in catalog.snapshots.iter().enumerate() {
            chunk_base.push(chunks.len() as u32);
            chunks.extend((0..snap.chunks().len()).map(|c| (s as u32, c as u32)));
        }
        let sources = catalog.snapshots.len();
        let shared = Arc::new(Shared { catalog, tables, chunk_base, chunks, cache: Mutex::new(VecDeque::new()) });
        let question = EventQuestion { fields: Some(BTreeSet::new()), ..EventQuestion::default() };
        let stream = Stream::new(&shared.catalog, question)?;
        // The count the files declare, reserved up to a cap: their frames
        // are checked, their data only when decoded.
        let expected = (shared.catalog.events_kept() as usize).min(RESERVE_MAX);
        let mut builder = Builder {
            shared: &shared,
            order: Vec::with_capacity(expected),
            levels: Vec::with_capacity(expected),
            samples: Vec::new(),
            per_source: vec![0; sources],
            first: Some(first),
            arc: &shared,
            cancelled,
        };
        let done = stream.run(&mut builder, false, progress)?;
        let Builder { order, levels, samples, per_source, .. } = builder;
        Ok(Index {
            shared: Arc::clone(&shared),
            order: Arc::new(order),
            levels: Arc::new(levels),
            samples: Arc::new(samples),
            per_source: Arc::new(per_source),
            problems: Arc::new(done.problems),
            complete: true,
        })
    }

    /// Events in the index.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the index holds no event.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether every event of the catalog is in the index.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The catalog indexed.
    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// Its tables.
    pub fn tables(&self) -> &Tables {
        &self.shared.tables
    }

    /// Events of snapshot `s` in the index.
    pub fn events_of(&self, s: usize) -> u64 {
        self.per_source.get(s).copied().unwrap_or(0)
    }

    /// Problems found while merging.
    pub fn problems(&self) -> &[SnapshotError] {
        &self.problems
    }

    /// The level of the event at `pos`.
    pub fn level(&self, pos: usize) -> Level {
        Level::ALL[usize::from(self.levels[pos])]
    }

    /// The sampled timestamp of the block of `pos` (exact for
    /// `pos % SAMPLE == 0`, at most the event's own otherwise).
    pub fn sampled_ts(&self, pos: usize) -> i64 {
        self.samples[pos / SAMPLE]
    }

    /// Memory the index holds, bytes.
    pub fn heap_bytes(&self) -> usize {
        self.order.capacity() * 8 + self.levels.capacity() + self.samples.capacity() * 8
    }

    /// The decoded chunk `id` (every column), from the cache or decoded now.
    fn chunk(&self, id: u32) -> Result<Arc<ChunkColumns>, SnapshotError> {
        {
            let mut cache = self.shared.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = cache.iter().position(|(c, _)| *c == id) {
                let hit = cache.remove(i).expect("present");
                let cols = Arc::clone(&hit.1);
                cache.push_back(hit);
                return Ok(cols);
            }
        }
        let (s, c) = self.shared.chunks[id as usize];
        let projection = Projection { timestamps: true, threads: true, seqs: true, fields: FieldSet::All };
        let cols = Arc::new(self.shared.catalog.snapshots[s as usize].decode_chunk_with(c as usize, &projection)?);
        let mut cache = self.shared.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.push_back((id, Arc::clone(&cols)));
        while cache.len() > CACHED_CHUNKS {
            cache.pop_front();
        }
        Ok(cols)
    }

    /// The events at `positions` (ascending or not), each with its
    /// snapshot; a position in a chunk that can no longer be decoded is
    /// left out.
    pub fn rows(&self, positions: &[usize]) -> Vec<(usize, crate::Row)> {
        let mut wanted: Vec<u32> = positions.iter().map(|&p| (self.order[p] >> 32) as u32).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let decoded: HashMap<u32, Arc<ChunkColumns>> =
            wanted.par_iter().filter_map(|&id| self.chunk(id).ok().map(|c| (id, c))).collect();
        positions
            .iter()
            .filter_map(|&p| {
                let (id, row) = ((self.order[p] >> 32) as u32, self.order[p] as u32 as usize);
                let cols = decoded.get(&id)?;
                let s = self.shared.chunks[id as usize].0 as usize;
                Some((p, crate::EventRef::of(&self.shared.tables, s, cols, row).to_row()))
            })
            .collect()
    }

    /// The first position whose event is at or after `ts`.
    pub fn first_at_or_after(&self, ts: i64) -> usize {
        // The samples find the block; the block's rows find the event.
        let block = self.samples.partition_point(|&t| t < ts).saturating_sub(1);
        let start = block * SAMPLE;
        let end = (start + 2 * SAMPLE).min(self.len());
        let positions: Vec<usize> = (start..end).collect();
        let rows = self.rows(&positions);
        rows.iter().find(|(_, r)| r.timestamp_ns >= ts).map_or(end, |(p, _)| *p)
    }
}

/// The positions of the index a view shows.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every event of the index.
    All(usize),
    /// The positions whose bit is set.
    Bits {
        /// One bit per position of the index.
        words: Vec<u64>,
        /// Set bits before each word.
        ranks: Vec<u32>,
        /// Set bits in all.
        len: usize,
    },
}

impl Selection {
    /// The events of `index` for which `filter` holds (every event for an
    /// empty filter), found with the streaming engine's plan: chunks
    /// skipped by their statistics, the others decoded in parallel with the
    /// filter's columns only.
    ///
    /// # Errors
    /// A filter that does not fit the data; cancelled (as an I/O error).
    pub fn of(
        index: &Index,
        filter: &Filter,
        progress: &(dyn Fn(u64) + Sync),
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Selection, QueryError> {
        if filter.is_empty() {
            return Ok(Selection::All(index.len()));
        }
        let question =
            EventQuestion { filter: filter.clone(), fields: Some(BTreeSet::new()), ..EventQuestion::default() };
        let stream = Stream::new(index.catalog(), question)?;
        // The matching rows of each chunk, as bits.
        let chunks = index.shared.chunks.len();
        let mut bits: Vec<Option<Vec<u64>>> = vec![None; chunks];
        let found = stream.chunks(progress, cancelled, &|d: &Decoded| {
            let mut b = vec![0u64; d.cols.len().div_ceil(64)];
            for &r in &d.rows {
                b[r as usize / 64] |= 1 << (r % 64);
            }
            (index.shared.chunk_base[d.s] + d.c as u32, b)
        })?;
        for (id, b) in found {
            bits[id as usize] = Some(b);
        }
        if cancelled() {
            return Err(QueryError::Io(std::io::Error::other("cancelled")));
        }
        // One word per SAMPLE positions of the index, in parallel.
        let order = &index.order;
        let words: Vec<u64> = (0..order.len().div_ceil(64))
            .into_par_iter()
            .map(|w| {
                let mut word = 0u64;
                for (i, &e) in order[w * 64..((w + 1) * 64).min(order.len())].iter().enumerate() {
                    let (id, row) = ((e >> 32) as usize, e as u32 as usize);
                    if bits[id].as_ref().is_some_and(|b| b[row / 64] >> (row % 64) & 1 == 1) {
                        word |= 1 << i;
                    }
                }
                word
            })
            .collect();
        let mut ranks = Vec::with_capacity(words.len());
        let mut len = 0usize;
        for w in &words {
            ranks.push(len as u32);
            len += w.count_ones() as usize;
        }
        Ok(Selection::Bits { words, ranks, len })
    }

    /// Positions selected.
    pub fn len(&self) -> usize {
        match self {
            Selection::All(n) => *n,
            Selection::Bits { len, .. } => *len,
        }
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index position of the `n`-th selected event.
    pub fn position(&self, n: usize) -> usize {
        match self {
            Selection::All(_) => n,
            Selection::Bits { words, ranks, .. } => {
                let w = ranks.partition_point(|&r| r as usize <= n) - 1;
                let mut word = words[w];
                for _ in 0..n - ranks[w] as usize {
                    word &= word - 1;
                }
                w * 64 + word.trailing_zeros() as usize
            }
        }
    }

    /// Selected events before index position `pos`.
    pub fn rank(&self, pos: usize) -> usize {
        match self {
            Selection::All(n) => pos.min(*n),
            Selection::Bits { words, ranks, len } => {
                let w = pos / 64;
                if w >= words.len() {
                    return *len;
                }
                ranks[w] as usize + (words[w] & ((1u64 << (pos % 64)) - 1)).count_ones() as usize
            }
        }
    }

    /// Whether index position `pos` is selected.
    pub fn contains(&self, pos: usize) -> bool {
        match self {
            Selection::All(n) => pos < *n,
            Selection::Bits { words, .. } => words.get(pos / 64).is_some_and(|w| w >> (pos % 64) & 1 == 1),
        }
    }

    /// The selected positions, ascending, with a block of the index at a
    /// time: `(first position of the block, bits of the block)`.
    pub fn blocks(&self) -> Box<dyn Iterator<Item = (usize, u64)> + '_> {
        match self {
            Selection::All(n) => Box::new((0..n.div_ceil(64)).map(move |w| {
                let in_block = (*n - w * 64).min(64);
                (w * 64, if in_block == 64 { u64::MAX } else { (1u64 << in_block) - 1 })
            })),
            Selection::Bits { words, .. } => Box::new(words.iter().enumerate().map(|(w, &b)| (w * 64, b))),
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Selection::All(_) => 0,
            Selection::Bits { words, ranks, .. } => words.capacity() * 8 + ranks.capacity() * 4,
        }
    }
}
