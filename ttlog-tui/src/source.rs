//! The data side of the viewer, as the TUI needs it.
//!
//! The TUI is a presentation layer: it never decodes a snapshot or
//! evaluates a filter itself. It talks to two narrow traits:
//!
//! - a [`Source`] owns the loaded events. It loads inputs
//!   ([`Source::add_input`]), checks filter expressions as the user types
//!   ([`Source::check`]) and applies them ([`Source::filter`]), which gives
//! - a [`View`]: the events that pass a filter, in time order, immutable.
//!   Everything the screen shows is asked of the current view: a page of
//!   rows ([`View::rows`], so only the visible rows are ever materialised),
//!   the timeline ([`View::histogram`]), [`View::stats`],
//!   [`View::group_by`], searches ([`View::find`]), the row of a time
//!   ([`View::position_of_time`]) and [`View::export`].
//!
//! `ttlog-cli` implements both with its polars engine and its filter
//! language, the same engine and language as every other `ttlog-view`
//! question.
//!
//! # Threads
//!
//! Both traits are `Send + Sync` and take `&self`: the app calls the slow
//! methods ([`Source::add_input`], [`Source::filter`], [`View::histogram`],
//! [`View::stats`], [`View::group_by`], [`View::find`], [`View::export`])
//! on worker threads, possibly several at once, and the fast ones
//! ([`Source::check`], [`View::len`], [`View::rows`] of one screen) on the
//! UI thread. A slow method gets a [`Progress`] to report into and to poll
//! for cancellation. A view must stay valid while inputs are added to its
//! source (views are snapshots; the app asks for a new one after a load).

use regex::Regex;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use ttlog_core::{Level, Value};

/// Owner of the loaded events: loads inputs and applies filters.
///
/// ```
/// use ttlog_tui::{Progress, Query, Source};
///
/// /// The errors of `source` over `input`.
/// fn errors(source: &dyn Source, input: &std::path::Path) -> usize {
///     source.add_input(input, &Progress::new()).expect("readable");
///     assert!(source.check("level=").is_err(), "checked as the user types");
///     source.filter(&Query::new("level=error"), &Progress::new()).map_or(0, |view| view.len())
/// }
/// ```
pub trait Source: Send + Sync {
    /// What is loaded: the inputs and their counters.
    fn summary(&self) -> Summary;

    /// Loads one snapshot file and adds its events. Slow: runs on a worker
    /// thread, reports into `progress` and stops early (with an error) when
    /// [`Progress::is_cancelled`]. Views made before stay as they were.
    ///
    /// A source may make the first part of a large input visible before
    /// the load ends (in [`Source::summary`] and to filters made then), so
    /// the first screen need not wait for ten million events: the app
    /// filters again whenever the summary's event count grows.
    ///
    /// # Errors
    /// When the file cannot be read at all. A damaged file that still
    /// gives some events is not an error: its problems go into
    /// [`InputInfo::problems`].
    fn add_input(&self, path: &Path, progress: &Progress) -> Result<InputInfo, LoadError>;

    /// Loads several snapshot files at once, one result per path, in order:
    /// what the app asks for the inputs given at start and for files that
    /// appear together, so that a source that reloads or re-indexes on each
    /// addition does it once. The default adds them one by one.
    fn add_inputs(&self, paths: &[PathBuf], progress: &Progress) -> Vec<Result<InputInfo, LoadError>> {
        paths.iter().map(|p| self.add_input(p, progress)).collect()
    }

    /// Checks a filter expression without applying it, fast enough to run
    /// on every key stroke.
    ///
    /// # Errors
    /// Where the expression is wrong and why.
    fn check(&self, expr: &str) -> Result<(), FilterError>;

    /// The events of every input that pass `query`, in time order. Slow:
    /// runs on a worker thread and may give up when `progress` is cancelled.
    ///
    /// # Errors
    /// When the expression is invalid, or the filter was cancelled.
    fn filter(&self, query: &Query, progress: &Progress) -> Result<Arc<dyn View>, FilterError>;

    /// The keys events can be grouped by ([`View::group_by`]): built-in
    /// columns first (`level`, `target`, …), then field names.
    fn group_keys(&self) -> Vec<String>;
}

/// The events that pass one filter, in time order. Immutable.
pub trait View: Send + Sync {
    /// Number of events.
    fn len(&self) -> usize;

    /// Whether the view holds no event.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events at positions `range` (clamped to [`View::len`]). Called
    /// on the UI thread for one screen of rows: must be fast at any
    /// position.
    fn rows(&self, range: Range<usize>) -> Vec<Row>;

    /// Events per time bucket over the view's time span, `buckets` equal
    /// buckets (the app asks for one per terminal column).
    fn histogram(&self, buckets: usize) -> Histogram;

    /// Counts and time span of the view.
    fn stats(&self) -> Stats;

    /// Events per distinct value of `key` (one of [`Source::group_keys`]),
    /// most frequent first, at most `limit` groups.
    ///
    /// # Errors
    /// When `key` is not a known key.
    fn group_by(&self, key: &str, limit: usize) -> Result<Groups, FilterError>;

    /// The position of the first event at or after position `from` (at or
    /// before it, for [`Direction::Backward`]) that `needle` matches, not
    /// wrapping around. `None` when there is none, `from` is out of range,
    /// or `progress` was cancelled.
    fn find(&self, from: usize, direction: Direction, needle: &Needle, progress: &Progress) -> Option<usize>;

    /// For a position that `needle` matches: which hit it is (0-based) and
    /// how many events of the view `needle` matches, for "hit 3 of 10".
    /// `None` when the view does not count hits (the default) or
    /// `progress` was cancelled.
    fn hit_rank(&self, needle: &Needle, position: usize, progress: &Progress) -> Option<(usize, usize)> {
        let _ = (needle, position, progress);
        None
    }

    /// The position of the first event at or after `timestamp_ns` (UTC
    /// nanoseconds), [`View::len`] if none.
    fn position_of_time(&self, timestamp_ns: i64) -> usize;

    /// Writes every event of the view to `path` in `format`; returns how
    /// many were written.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    fn export(&self, path: &Path, format: ExportFormat, progress: &Progress) -> std::io::Result<u64>;
}

/// What was loaded, for the header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The loaded inputs, in load order; [`Row::input`] indexes this.
    pub inputs: Vec<InputInfo>,
}

impl Summary {
    /// Events of every input.
    pub fn total_events(&self) -> u64 {
        self.inputs.iter().map(|i| i.events).fold(0, u64::saturating_add)
    }

    /// Events overwritten in the rings before the snapshots, all inputs
    /// (saturating: headers may hold any counts).
    pub fn overwritten(&self) -> u64 {
        self.inputs.iter().map(|i| i.overwritten).fold(0, u64::saturating_add)
    }

    /// Events dropped before reaching a ring, all inputs (saturating).
    pub fn dropped(&self) -> u64 {
        self.inputs.iter().map(|i| i.dropped).fold(0, u64::saturating_add)
    }
}

/// One loaded snapshot file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputInfo {
    /// Where it was read from.
    pub path: PathBuf,
    /// Service name from the header.
    pub service: String,
    /// Host name.
    pub hostname: String,
    /// Process id.
    pub pid: u32,
    /// Why the snapshot was taken (`panic`, `signal-SIGTERM`, `manual`, …).
    pub reason: String,
    /// When it was taken, UTC nanoseconds.
    pub created_at_ns: i64,
    /// Events loaded from it.
    pub events: u64,
    /// Events overwritten in the rings before the snapshot.
    pub overwritten: u64,
    /// Events dropped before reaching a ring.
    pub dropped: u64,
    /// Damage found while reading (the intact parts are loaded).
    pub problems: Vec<String>,
    /// What ended the process, when the snapshot says: a panic with its
    /// message, location and thread, a signal, a recovery. Shown as a
    /// banner.
    pub cause: Option<String>,
    /// The thread that panicked, for a snapshot taken by the panic hook
    /// (`!` shows its last events).
    pub panic_thread: Option<String>,
}

impl InputInfo {
    /// The file name, or the whole path if it has none.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// One event, as shown in the table and the detail pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Identifies the event among all loaded ones, stable across filters
    /// (marks use it).
    pub id: u64,
    /// UTC nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Severity.
    pub level: Level,
    /// Name of the thread that logged it (or `#id`).
    pub thread: Arc<str>,
    /// Id of that thread.
    pub thread_id: u64,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Module path.
    pub module_path: Arc<str>,
    /// Source file.
    pub file: Arc<str>,
    /// Source line.
    pub line: u32,
    /// Index of the input it came from in [`Summary::inputs`].
    pub input: usize,
    /// Field names and values, in call-site order.
    pub fields: Vec<(Arc<str>, Value)>,
}

/// A filter to apply: an expression in the source's filter language and
/// the levels shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The expression (empty: everything).
    pub expr: String,
    /// Levels to keep.
    pub levels: LevelSet,
}

impl Query {
    /// `expr` with every level shown.
    pub fn new(expr: impl Into<String>) -> Query {
        Query { expr: expr.into(), levels: LevelSet::ALL }
    }
}

/// Why a filter expression is wrong, for showing inline while it is typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Character offset in the expression where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    /// An error at `column`.
    pub fn new(column: usize, message: impl Into<String>) -> FilterError {
        FilterError { column, message: message.into() }
    }

    /// The error a cancelled filter returns.
    pub fn cancelled() -> FilterError {
        FilterError::new(0, "cancelled")
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column + 1, self.message)
    }
}

impl std::error::Error for FilterError {}

/// An input that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The input.
    pub path: PathBuf,
    /// Why, with its causes.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for LoadError {}

/// Event counts per time bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Start of the first bucket, UTC nanoseconds.
    pub start_ns: i64,
    /// End of the last bucket (inclusive), UTC nanoseconds.
    pub end_ns: i64,
    /// Equal-width buckets from `start_ns` to `end_ns`.
    pub buckets: Vec<Bucket>,
}

impl Histogram {
    /// The bucket a timestamp falls in, if within the span.
    ///
    /// ```
    /// use ttlog_tui::{Bucket, Histogram};
    /// let h = Histogram { start_ns: 0, end_ns: 99, buckets: vec![Bucket::default(); 10] };
    /// assert_eq!(h.bucket_of(0), Some(0));
    /// assert_eq!(h.bucket_of(55), Some(5));
    /// assert_eq!(h.bucket_of(99), Some(9));
    /// assert_eq!(h.bucket_of(100), None);
    /// ```
    pub fn bucket_of(&self, timestamp_ns: i64) -> Option<usize> {
        bucket_index(self.start_ns, self.end_ns, self.buckets.len(), timestamp_ns)
    }
}

/// Index of the bucket of `ts` among `n` equal buckets covering
/// `start..=end`; `None` outside. Shared by every [`View::histogram`].
pub fn bucket_index(start: i64, end: i64, n: usize, ts: i64) -> Option<usize> {
    if n == 0 || ts < start || ts > end {
        return None;
    }
    let span = (end as i128 - start as i128 + 1) as u128;
    let off = (ts as i128 - start as i128) as u128;
    Some(((off * n as u128) / span) as usize)
}

/// The histogram of events given in time order as (timestamp, level), over
/// `start_ns..=end_ns` in `buckets` buckets: what a [`View::histogram`] of
/// a time-ordered view can return. Walks the bucket boundaries instead of
/// dividing per event; an event out of order still lands in its bucket.
///
/// ```
/// use ttlog_core::Level;
/// use ttlog_tui::{Histogram, histogram_of_sorted};
/// let events = [(0, Level::Info), (5, Level::Warn), (9, Level::Error), (9, Level::Info)];
/// let h = histogram_of_sorted(0, 9, 2, events.into_iter());
/// assert_eq!((h.buckets[0].total, h.buckets[0].warn), (1, 0));
/// assert_eq!((h.buckets[1].total, h.buckets[1].warn, h.buckets[1].error), (3, 1, 1));
/// ```
pub fn histogram_of_sorted(
    start_ns: i64,
    end_ns: i64,
    buckets: usize,
    events: impl Iterator<Item = (i64, Level)>,
) -> Histogram {
    let mut h = Histogram { start_ns, end_ns, buckets: vec![Bucket::default(); buckets] };
    if buckets == 0 || end_ns < start_ns {
        return h;
    }
    let n = buckets as i128;
    let span = i128::from(end_ns) - i128::from(start_ns) + 1;
    // First timestamp of bucket `b`: the least ts with (ts - start) * n / span >= b.
    let first = |b: usize| i128::from(start_ns) + (span * b as i128 + n - 1) / n;
    let (mut b, mut lo, mut hi) = (0usize, first(0), first(1));
    for (ts, level) in events {
        let t = i128::from(ts);
        let i = if t >= lo && t < hi {
            b
        } else if t >= hi && t <= i128::from(end_ns) {
            while t >= hi {
                b += 1;
                (lo, hi) = (hi, first(b + 1));
            }
            b
        } else {
            match bucket_index(start_ns, end_ns, buckets, ts) {
                Some(i) => i,
                None => continue,
            }
        };
        let bucket = &mut h.buckets[i];
        bucket.total += 1;
        match level {
            Level::Warn => bucket.warn += 1,
            Level::Error => bucket.error += 1,
            _ => {}
        }
    }
    h
}

/// Counts in one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Every event.
    pub total: u64,
    /// Of which warnings.
    pub warn: u64,
    /// Of which errors.
    pub error: u64,
}

/// Counts of a view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Events.
    pub events: u64,
    /// First and last timestamp, if any event.
    pub span_ns: Option<(i64, i64)>,
    /// Events per level, indexed by `Level as usize`.
    pub per_level: [u64; 5],
    /// The most frequent messages (call sites): (level, target, message,
    /// count), most frequent first.
    pub top_messages: Vec<(Level, Arc<str>, Arc<str>, u64)>,
    /// Events per thread name, most first.
    pub per_thread: Vec<(Arc<str>, u64)>,
    /// Threads in the view (one thread of a process across its snapshots
    /// is one; threads of one name in several processes are several).
    pub threads: usize,
    /// What filled each thread's ring, newest snapshot of each process,
    /// most overwritten first (the same whatever the filter).
    pub rings: Vec<RingPressure>,
}

/// What filled one thread's ring: its capacity, what it wrote and lost,
/// the time it still held, and the call sites that wrote what it held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RingPressure {
    /// Thread name (or `#id`).
    pub thread: String,
    /// Service and pid of its process.
    pub process: String,
    /// Its process's pid and its id there: what a [`ThreadLast`] is
    /// matched on.
    pub pid: u32,
    /// See `pid`.
    pub thread_id: u64,
    /// The ring's capacity, bytes (`None`: the file predates it).
    pub capacity: Option<u64>,
    /// Records ever written.
    pub written: u64,
    /// Records lost to overwriting.
    pub overwritten: u64,
    /// Ring bytes the kept records take.
    pub kept_bytes: Option<u64>,
    /// The oldest and newest kept record (UTC ns).
    pub window_ns: Option<(i64, i64)>,
    /// The call sites that wrote most of the kept records (the largest by
    /// bytes and by records), most bytes first.
    pub sites: Vec<RingSite>,
}

/// One call site's share of a ring.
#[derive(Debug, Clone, PartialEq)]
pub struct RingSite {
    /// Level.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Its records in the ring.
    pub events: u64,
    /// The ring bytes they take.
    pub bytes: u64,
}

/// The last events of one thread (see [`last_moments`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadLast {
    /// Thread name (or `#id`).
    pub thread: Arc<str>,
    /// Its id in its process.
    pub thread_id: u64,
    /// The input of its newest event ([`Summary::inputs`]).
    pub input: usize,
    /// Its last events, oldest first.
    pub rows: Vec<Row>,
    /// Records its ring kept and overwrote, when the stats know its ring
    /// ([`Stats::rings`]).
    pub ring: Option<(u64, u64)>,
}

/// Rows read per step by [`last_moments`].
const LAST_BLOCK: usize = 4096;

/// The last `n` events of every thread of `view`, threads ordered by their
/// last event (the one that went quiet first at the top, the last to write
/// at the bottom). Reads the view backwards a block at a time and stops as
/// soon as each of its `threads` threads has `n` events, so a busy view
/// costs a few blocks; it reads at most `max_rows` rows (a thread that went
/// quiet before them is not found: the caller says so). One thread is one
/// (pid, host, thread id), across the snapshots of its process.
pub fn last_moments(
    view: &dyn View,
    summary: &Summary,
    threads: usize,
    n: usize,
    max_rows: usize,
    progress: &Progress,
) -> Vec<ThreadLast> {
    use std::collections::HashMap;
    let mut found: HashMap<(u32, &str, u64), ThreadLast> = HashMap::new();
    let mut full = 0;
    let mut end = view.len();
    let stop = end.saturating_sub(max_rows);
    progress.set_total((end - stop) as u64);
    while end > stop && (full < threads || found.len() < threads) && n > 0 && !progress.is_cancelled() {
        let start = end.saturating_sub(LAST_BLOCK).max(stop);
        for row in view.rows(start..end).into_iter().rev() {
            let input = summary.inputs.get(row.input);
            let key = (input.map_or(0, |i| i.pid), input.map_or("", |i| i.hostname.as_str()), row.thread_id);
            let t = found.entry(key).or_insert_with(|| ThreadLast {
                thread: Arc::clone(&row.thread),
                thread_id: row.thread_id,
                input: row.input,
                rows: Vec::new(),
                ring: None,
            });
            if t.rows.len() < n {
                t.rows.push(row);
                if t.rows.len() == n {
                    full += 1;
                }
            }
        }
        progress.add((end - start) as u64);
        end = start;
    }
    let mut out: Vec<ThreadLast> = found
        .into_values()
        .map(|mut t| {
            t.rows.reverse();
            t
        })
        .collect();
    out.sort_by_key(|t| (t.rows.last().map_or(i64::MIN, |r| r.timestamp_ns), t.rows.last().map_or(0, |r| r.id)));
    out
}

/// The result of [`View::group_by`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Groups {
    /// The key grouped by.
    pub key: String,
    /// Groups, most events first.
    pub groups: Vec<Group>,
    /// Events in the view that have no value for the key.
    pub missing: u64,
    /// Groups left out beyond the limit.
    pub more: usize,
}

/// One group of events sharing a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The value, as text.
    pub value: String,
    /// Events with it.
    pub count: u64,
    /// A filter expression in the source's language that selects the
    /// events of the view that are in this group: the view's own filter
    /// and the group's condition (`level>=warn target=db`). Enter on a
    /// group applies it.
    pub filter: String,
    /// For a time bucket (`time:1m`): its start, UTC nanoseconds. Enter on
    /// the group goes to its first event instead of filtering.
    pub at: Option<i64>,
}

/// Search direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards later events.
    Forward,
    /// Towards earlier events.
    Backward,
}

/// What [`View::find`] looks for.
#[derive(Debug, Clone)]
pub enum Needle {
    /// Events whose text (message, target and `name=value` fields, as the
    /// table shows them) the regex matches.
    Text(Regex),
    /// Events of this level or a more severe one.
    Level(Level),
    /// Events with one of these [`Row::id`]s.
    Ids(Arc<BTreeSet<u64>>),
}

impl Needle {
    /// Whether `row` matches. A [`View`] may use it or match its own way,
    /// with the same result.
    pub fn matches(&self, row: &Row) -> bool {
        match self {
            Needle::Text(re) => re.is_match(&row.message) || re.is_match(&row.target) || row_fields_match(re, row),
            Needle::Level(l) => row.level >= *l,
            Needle::Ids(ids) => ids.contains(&row.id),
        }
    }
}

fn row_fields_match(re: &Regex, row: &Row) -> bool {
    if row.fields.is_empty() {
        return false;
    }
    re.is_match(&crate::text::fields_text(&row.fields))
}

/// File formats of [`View::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header; fields as `name=value` pairs
    /// in one column.
    Csv,
}

impl ExportFormat {
    /// The format named by a file's extension (`.json`, `.ndjson` /
    /// `.jsonl`, `.csv`).
    ///
    /// ```
    /// use ttlog_tui::ExportFormat;
    /// assert_eq!(ExportFormat::from_path("out/x.ndjson".as_ref()), Some(ExportFormat::Ndjson));
    /// assert_eq!(ExportFormat::from_path("x.txt".as_ref()), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<ExportFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(ExportFormat::Json),
            "ndjson" | "jsonl" => Some(ExportFormat::Ndjson),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
        }
    }
}

/// Progress of a slow operation, shared between the worker doing it and
/// the UI showing it; also how the UI cancels it.
///
/// ```
/// use ttlog_tui::Progress;
/// let p = Progress::new();
/// p.set_total(200);
/// p.add(50);
/// assert_eq!(p.fraction(), Some(0.25));
/// p.cancel();
/// assert!(p.is_cancelled());
/// ```
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// No progress yet, total unknown.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Sets the amount of work (any unit).
    pub fn set_total(&self, total: u64) {
        // Relaxed: a progress figure, read only for display.
        self.total.store(total, Ordering::Relaxed);
    }

    /// Records `n` more units done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Done / total, when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done() as f64 / total as f64).min(1.0))
    }

    /// Asks the operation to stop.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// A set of levels: which ones the table shows (keys 1–5 toggle them).
///
/// ```
/// use ttlog_core::Level;
/// use ttlog_tui::LevelSet;
/// let mut s = LevelSet::ALL;
/// s.toggle(Level::Debug);
/// assert!(!s.contains(Level::Debug) && s.contains(Level::Error));
/// assert_eq!(s.to_string(), "T-IWE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelSet(u8);

impl LevelSet {
    /// Every level.
    pub const ALL: LevelSet = LevelSet(0b1_1111);
    /// No level.
    pub const NONE: LevelSet = LevelSet(0);

    /// Whether `level` is in the set.
    pub fn contains(self, level: Level) -> bool {
        self.0 & (1 << level as u8) != 0
    }

    /// Adds `level` if absent, removes it if present.
    pub fn toggle(&mut self, level: Level) {
        self.0 ^= 1 << level as u8;
    }

    /// Whether every level of `self` is in `other`.
    pub fn is_subset(self, other: LevelSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether every level is in the set.
    pub fn is_all(self) -> bool {
        self == LevelSet::ALL
    }
}

impl Default for LevelSet {
    fn default() -> LevelSet {
        LevelSet::ALL
    }
}

impl fmt::Display for LevelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in Level::ALL {
            let c = if self.contains(l) { l.as_str().as_bytes()[0] as char } else { '-' };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
