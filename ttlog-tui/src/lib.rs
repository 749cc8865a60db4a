//! # ttlog-tui: the interactive front end of `ttlog-view`
//!
//! A terminal viewer for TTLog snapshots: a header with what was loaded, a
//! timeline of the shown events with errors and warnings coloured, a
//! virtualised event table (only the visible rows are ever fetched, so
//! ten million events scroll like ten), a detail pane, live filtering,
//! regex search with highlighting, stats, group-by with bar charts, marks,
//! a jump to a time and export.
//!
//! This crate presents; it does not analyse. The data side sits behind
//! the [`Source`] and [`View`] traits defined here (see [`source`]):
//! `ttlog-cli` implements them with its polars engine (the one engine of
//! every `ttlog-view` question) and starts the viewer with `ttlog-view -i`:
//!
//! ```sh
//! ttlog-view -i testdata/normal.bin
//! ```
//!
//! The screens are tested there, on that engine and real snapshot files
//! (`ttlog-cli/tests/it/screens.rs`), so that what is tested is what users
//! see.
//!
//! # Structure
//!
//! The Elm shape, as in gitui: one message enum [`Msg`] (keys, mouse,
//! resize, ticks, results of background work) arriving at one select
//! point; [`App::update`] changes the state and is tested without a
//! terminal; [`render`] draws the state and changes nothing, and is tested
//! in ratatui's `TestBackend` with insta snapshots. Slow work (loading,
//! filtering, histograms, stats, group-by, search, export) becomes
//! [`Task`]s run on worker threads, so keys are answered while ten million
//! events load. [`run`] owns the terminal and restores it on every way
//! out.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ttlog_tui::{Options, Source};
//! # fn engine() -> Arc<dyn Source> { unimplemented!() }
//! let source: Arc<dyn Source> = engine(); // e.g. ttlog-cli's EngineSource
//! ttlog_tui::run(source, Options { inputs: vec!["snapshots/".into()], ..Options::default() })?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod app;
pub mod source;
mod terminal;
mod text;
mod ui;

pub use app::{App, Msg, ScreenKind, Search, Task};
pub use source::{
    Bucket, Direction, ExportFormat, FilterError, Group, Groups, Histogram, InputInfo, LevelSet, LoadError, Needle,
    Progress, Query, RingPressure, RingSite, Row, Source, Stats, Summary, ThreadLast, View, bucket_index,
    histogram_of_sorted, last_moments,
};
pub use terminal::{Options, run};
pub use text::{count_text, fields_text, time_of_day, value_text};
pub use ui::render;
