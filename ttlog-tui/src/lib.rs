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
//! `ttlog-cli` implements them with its polars engine and starts the
//! viewer with `ttlog-view -i`; [`MemorySource`] implements them over
//! events in memory, for the tests and the example:
//!
//! ```sh
//! cargo run -p ttlog-tui --example view -- testdata/normal.bin
//! ```
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
//! use ttlog_tui::{MemorySource, Options};
//! ttlog_tui::run(Arc::new(MemorySource::new()), Options { inputs: vec!["snapshots/".into()], ..Options::default() })?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod app;
pub mod export;
mod memory;
pub mod source;
mod terminal;
mod text;
mod ui;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use app::{App, Msg, Search, Task};
pub use memory::MemorySource;
pub use source::{
    Bucket, Direction, ExportFormat, FilterError, Group, Groups, Histogram, InputInfo, LevelSet, LoadError, Needle,
    Progress, Query, Row, Source, Stats, Summary, View, bucket_index, histogram_of_sorted,
};
pub use terminal::{Options, run};
pub use text::{count_text, fields_text, time_of_day, value_text};
pub use ui::render;
