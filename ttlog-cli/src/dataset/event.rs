//! One event of a [`Dataset`](super::Dataset), borrowed from its decoded chunk
//! ([`EventRef`], what exports write) or owned ([`Row`], what a table
//! shows).

use super::{Site, SourceInfo, Tables, ThreadRef};
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, Values};
use ttlog_core::{Level, Value};

/// One event, borrowed from a [`Dataset`](super::Dataset): the fast path for exports.
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
    pub(super) chunk: &'a ChunkColumns,
    pub(super) row: usize,
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
    /// Index into [`Dataset::sources`](super::Dataset::sources) (the snapshot file).
    pub source: usize,
    /// Sequence number within its thread's ring.
    pub seq: u64,
    /// Call-site code (index into [`Dataset::sites`](super::Dataset::sites)).
    pub callsite: u32,
}
