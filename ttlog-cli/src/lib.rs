//! # ttlog-cli: the analysis engine of `ttlog-view`
//!
//! `ttlog-cli` answers questions about TTLog snapshot files: filter,
//! count, group, export. The `ttlog-view` binary is a thin command line
//! over this library. It has two engines over one catalog of the inputs:
//!
//! - the **streaming engine** of the command line ([`query`] for `--stats`
//!   and `--group-by`, [`stream`] for events in time order and exports),
//!   which plans each question over the chunks (skip, answer from
//!   statistics, or decode only the columns needed) and never holds the
//!   events;
//! - the **in-memory engine** of the interactive viewer ([`Engine`],
//!   [`Dataset`], [`View`]), which loads every event once into a polars
//!   frame so that any filter, page or group is immediate.
//!
//! Both keep each event once across overlapping snapshots ([`catalog`]),
//! use one filter language ([`Filter`], compiled by [`compile`]) and give
//! the same answers (the tests compare them).
//!
//! ```
//! use ttlog_cli::{Agg, Engine, Filter, GroupKey, Input};
//!
//! let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
//! // Decode every chunk of every input in parallel into one time-ordered frame.
//! let dataset = Engine::new().load(&[Input::File(file)])?;
//! // Filters are parsed once, then compiled to polars expressions per view.
//! let view = dataset.filter(&Filter::parse("level>=info and qty>1000")?)?;
//! assert_eq!(view.len(), 9);
//! // Rows of a range, for a page of a table…
//! let rows = view.rows(0..5);
//! assert_eq!(&*rows[0].target, "orders");
//! // …counts and group-bys, computed over numeric codes.
//! assert_eq!(view.stats().events, 9);
//! let by_target = view.group_by(&[GroupKey::parse("target")?], &[Agg::parse("max:qty")?])?;
//! assert_eq!(by_target.rows[0].values[0], Some(1900.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Driving the engine from a front end (the TUI data source)
//!
//! Everything a table/detail/histogram front end needs, without touching
//! polars:
//!
//! | need | call | cost on 10 M events |
//! | --- | --- | --- |
//! | open inputs | [`Input::expand`], [`Engine::load`] (or [`Engine::open`] + [`Engine::load_opened`] with [`Engine::on_progress`] for a progress bar) | decode at tens of M events/s |
//! | apply a filter typed by the user | [`Filter::parse`] (syntax; [`FilterError::column`] for the caret) then [`Dataset::filter`] or [`View::filter`] (keys and values; same error type) | one polars filter |
//! | time window, order | [`View::between`], [`View::head`], [`View::tail`], [`View::reversed`] | slices |
//! | one page of the table | [`View::rows`]`(start..end)` → [`Row`] (owned, typed fields) | per row |
//! | status bar / side panel | [`View::len`], [`View::time_range`], [`View::stats`] | one group-by over codes, shared with count-only group-bys |
//! | histogram | [`View::group_by`] with [`GroupKey::Time`] | one group-by |
//! | damaged inputs | [`Dataset::problems`], [`SourceInfo::problems`] | — |
//!
//! [`Dataset`] and [`View`] are cheap to clone (shared), `Send` and `Sync`, so
//! a front end can keep the current view in its state and compute the next
//! one on a worker thread.
//!
//! # Layout
//!
//! The rooms of the engine, in the order a question passes through them.
//! A name in `code` is a private file: read its source.
//!
//! **Inputs**
//! - [`catalog`]: opens the inputs: their chunks' statistics, the processes,
//!   and which copies of each event to keep.
//! - [`tables`]: the call-site, thread, file and field tables that an
//!   event's codes refer to.
//!
//! **The filter**
//! - [`filter`]: the language: [`Filter`], and [`FilterError`] with the
//!   column of the mistake.
//!   - `filter/lex.rs`: the lexer: text to tokens, with tables of the
//!     operators, symbols and keywords.
//!   - `filter/parse.rs`: the parser: tokens to the syntax tree
//!     ([`filter::Expr`] of [`filter::Term`]s).
//! - [`compile`]: the filter compiler: the syntax tree against the tables,
//!   to polars expressions and to a verdict per (call site, thread) pair.
//!
//! **The streaming engine** (the command line; never holds the events)
//! - [`query`]: the planner: a question becomes a [`query::Plan`] over the
//!   chunks (skip, answer from statistics, or decode only the columns
//!   needed) that `--explain` prints.
//!   - `query/run.rs`: scan and decode: runs the plan over the chunks in
//!     parallel.
//!   - `query/select.rs`: which rows of a decoded chunk count (copies,
//!     time bounds, filter).
//!   - `query/partial.rs`: the operators: partial counts, groups and
//!     aggregates that merge associatively.
//! - [`stream`]: events in time order, decoded chunk by chunk and merged,
//!   for printing and exports.
//! - [`sql`]: `--sql`: polars SQL over a scan of the streamed events.
//!
//! **The viewer's engines** (the interactive viewer)
//! - [`dataset`]: every event loaded once into one polars frame.
//!   - `dataset/load.rs`: [`Engine`]: opens the inputs and decodes their
//!     chunks in parallel, each event once.
//!   - `dataset/frame.rs`: the decoded chunks merged into one time-ordered
//!     frame.
//!   - `dataset/mod.rs`: [`Dataset`]: the frame, its tables, and field
//!     columns built on demand.
//!   - `dataset/view.rs`: [`View`]: an ordered subset (filter, time
//!     bounds, head/tail, reverse), its rows and its counts per code.
//!   - `dataset/event.rs`: one event, borrowed ([`EventRef`]) or owned
//!     ([`Row`]).
//! - [`stats`]: the operators on a view: [`Stats`] and group-by tables.
//! - [`browse`]: for inputs above 20 M events, an index of the time order
//!   (8 bytes and a level per event) instead of the frame: rows decoded on
//!   demand from their chunks, filters run by the streaming engine.
//!
//! **Output and front ends**
//! - [`export`]: text, JSON, NDJSON, CSV and Parquet writers.
//! - [`last`]: `--last N`, the last events of every thread.
//! - [`diff`]: `ttlog-view diff A B`, per call site.
//! - [`cli`]: the `ttlog-view` command line ([`cli::run`]).
//! - [`memory`]: `--memory-limit`, and what each engine estimates it needs
//!   before it builds what grows with the events.
//! - [`tui_source`]: [`EngineSource`], the data side of the interactive
//!   viewer (`ttlog-view -i`, the `ttlog-tui` crate) on this engine.
//! - `sys.rs`: the one unsafe call (giving freed memory back to the
//!   system after the viewer's loads and filters).
//! - [`time`]: the `--since` / `--until` arguments. RFC 3339 times, terminal-safe
//!   text and JSON values come from [`ttlog_core::time`], [`ttlog_core::text`] and
//!   [`ttlog_core::json`], as in every TTLog tool.

#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

/// Every committed sample snapshot, the clean ones of `testdata/` and the
/// damaged ones of `testdata/damaged/`, sorted: the unit tests' inputs.
#[cfg(test)]
pub(crate) fn testdata_files() -> Vec<std::path::PathBuf> {
    let td = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut files: Vec<_> = [td.clone(), td.join("damaged")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
}

pub mod browse;
pub mod catalog;
pub mod cli;
pub mod compile;
pub mod dataset;
pub mod diff;
pub mod export;
pub mod filter;
pub mod last;
pub mod memory;
pub mod parquet;
pub mod query;
pub mod sql;
pub mod stats;
pub mod stream;
// The engine's only unsafe code: one call into the C library.
#[allow(unsafe_code)]
mod sys;
pub mod tables;
pub mod time;
pub mod tui_source;

/// The reader end to end into the engine, for fuzzing and for the tests
/// that replay crafted files: `bytes` opened as a snapshot, then loaded
/// into a dataset (stats, a group-by over a time bucket and the target with
/// a quantile) and streamed as CSV. Returns the events loaded. Not part of
/// the API.
///
/// # Panics
/// Never for any input: a panic is a bug the fuzzer is to find.
#[doc(hidden)]
pub fn fuzz_snapshot(bytes: Vec<u8>) -> usize {
    let Ok(snapshot) = ttlog_core::snapshot::Snapshot::from_bytes(bytes, "fuzz") else { return 0 };
    let catalog = catalog::Catalog::of_snapshots(vec![snapshot], Vec::new(), catalog::OpenOptions::default());
    let mut loaded = 0;
    if let Ok(ds) = Engine::new().load_opened(&catalog) {
        let view = ds.all();
        loaded = view.len();
        let _ = view.stats();
        let keys = [GroupKey::parse("time:1s"), GroupKey::parse("target")];
        let aggs = [Agg::parse("p99:n")];
        if let ([Ok(a), Ok(b)], [Ok(p99)]) = (keys, aggs) {
            let _ = view.group_by(&[a, b], &[p99]);
        }
    }
    if let Ok(stream) = stream::Stream::new(&catalog, stream::EventQuestion::default()) {
        let mut out = std::io::sink();
        let mut sink = export::LineSink::new(&mut out, export::Lines::Csv { formula_guard: true }, stream.tables());
        let _ = stream.run(&mut sink, false, &|_| {});
    }
    loaded
}

pub use dataset::{
    Dataset, Engine, EventRef, FieldInfo, FieldRef, Input, LoadError, Row, Site, SourceInfo, ThreadRef, View,
};
pub use filter::{Filter, FilterError};
pub use stats::{Agg, AggFn, GroupError, GroupKey, GroupRow, GroupTable, KeyValue, LimitedCount, Stats};
pub use tui_source::EngineSource;

/// The stack of each thread of rayon's global pool, which runs the
/// engine's parallel decoding and merging.
const WORKER_STACK: usize = 64 << 20;

/// Gives rayon's global pool (unless it already runs) threads with
/// [`WORKER_STACK`]-byte stacks. A worker that waits for a job runs other
/// jobs on its own stack, so when several questions run at once (the
/// Parquet writer beside the stream, a front end beside a load, tests) the
/// nesting can pass rayon's default 2 MiB in a debug build. The stack is
/// address space; only the pages a thread touches are memory.
pub(crate) fn worker_stacks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when the pool was built already (by the program).
        let _ = rayon::ThreadPoolBuilder::new().stack_size(WORKER_STACK).build_global();
    });
}
