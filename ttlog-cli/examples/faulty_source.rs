//! The viewer on the engine wrapped in a [`Source`] that panics, as a buggy
//! engine would: for the end-to-end test that the terminal is restored after
//! a panic on a worker thread (`load`) or on the UI thread (`rows`, when the
//! user pages down).
//!
//! ```sh
//! cargo run -p ttlog-cli --example faulty_source -- load testdata/normal.bin
//! cargo run -p ttlog-cli --example faulty_source -- rows testdata/normal.bin
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ttlog_cli::EngineSource;
use ttlog_tui::{
    Direction, ExportFormat, FilterError, Groups, Histogram, InputInfo, LoadError, Needle, Options, Progress, Query,
    Row, Source, Stats, Summary, View,
};

#[derive(Debug)]
struct Faulty {
    inner: EngineSource,
    panic_in_load: bool,
}

impl Source for Faulty {
    fn summary(&self) -> Summary {
        self.inner.summary()
    }

    fn add_input(&self, path: &Path, progress: &Progress) -> Result<InputInfo, LoadError> {
        assert!(!self.panic_in_load, "faulty source: panic while loading {}", path.display());
        self.inner.add_input(path, progress)
    }

    fn check(&self, expr: &str) -> Result<(), FilterError> {
        self.inner.check(expr)
    }

    fn filter(&self, query: &Query, progress: &Progress) -> Result<Arc<dyn View>, FilterError> {
        Ok(Arc::new(FaultyView(self.inner.filter(query, progress)?)))
    }

    fn group_keys(&self) -> Vec<String> {
        self.inner.group_keys()
    }
}

/// Panics when asked for rows past the first screen.
struct FaultyView(Arc<dyn View>);

impl View for FaultyView {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn rows(&self, range: Range<usize>) -> Vec<Row> {
        assert!(range.start == 0, "faulty source: panic fetching rows {range:?}");
        self.0.rows(range)
    }

    fn histogram(&self, buckets: usize) -> Histogram {
        self.0.histogram(buckets)
    }

    fn stats(&self) -> Stats {
        self.0.stats()
    }

    fn group_by(&self, key: &str, limit: usize) -> Result<Groups, FilterError> {
        self.0.group_by(key, limit)
    }

    fn find(&self, from: usize, direction: Direction, needle: &Needle, progress: &Progress) -> Option<usize> {
        self.0.find(from, direction, needle, progress)
    }

    fn position_of_time(&self, timestamp_ns: i64) -> usize {
        self.0.position_of_time(timestamp_ns)
    }

    fn export(&self, path: &Path, format: ExportFormat, progress: &Progress) -> std::io::Result<u64> {
        self.0.export(path, format, progress)
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let panic_in_load = match args.next().as_deref() {
        Some("load") => true,
        Some("rows") => false,
        _ => {
            eprintln!("usage: faulty_source load|rows FILE...");
            return ExitCode::from(2);
        }
    };
    let inputs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let source = Faulty { inner: EngineSource::new(), panic_in_load };
    match ttlog_tui::run(Arc::new(source), Options { inputs, ..Options::default() }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faulty_source: {e}");
            ExitCode::from(1)
        }
    }
}
