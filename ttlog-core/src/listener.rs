//! Live listeners: print or forward events while they are recorded, beside
//! the rings, without ever slowing a producer.
//!
//! # How they read
//!
//! Each listener runs on its own background thread (`ttlog-listener-NAME`).
//! Every interval (20 ms by default) it reads, from every thread's ring, the
//! records written since its last pass — the ring's incremental read, which
//! copies only what is new and never blocks the producer — decodes them into
//! [`Event`]s, and hands them to the listener in time order. Producers do not
//! know listeners exist: a slow listener only falls behind. What it falls so
//! far behind on that the ring overwrote it first is *missed*: counted per
//! listener ([`ListenerMetrics::missed`], in [`crate::Metrics::listeners`])
//! and never delivered. A bigger ring or a shorter interval misses less.
//!
//! # Sinks
//!
//! [`StdoutListener`] (human-readable lines, colours on a terminal unless
//! `NO_COLOR` is set), [`FileListener`] (appends, rotates by size) and
//! [`NdjsonListener`] (one JSON object per line, for log shippers and `jq`);
//! implement [`Listener`] for anything else.
//!
//! ```
//! use ttlog_core::{Event, Listener, Trace};
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Debug, Clone, Default)]
//! struct Collect(Arc<Mutex<Vec<String>>>);
//!
//! impl Listener for Collect {
//!     fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
//!         self.0.lock().unwrap().push(event.display_message().to_owned());
//!         Ok(())
//!     }
//! }
//!
//! let seen = Collect::default();
//! let trace = Trace::builder().listener(seen.clone()).install().unwrap();
//! ttlog_core::info!("hello", n = 1u64);
//! trace.shutdown(); // delivers what is left, then stops the listeners
//! assert_eq!(*seen.0.lock().unwrap(), ["hello"]);
//! ```

use crate::callsite::{self, CallSiteInfo};
use crate::capture::{Event, ThreadInfo};
use crate::clock::Calibration;
use crate::level::Level;
use crate::recorder;
use crate::ring::{RECORD_HEADER_WORDS, Ring, unpack_header};
use crate::text::{push_escaped, push_field_value};
use crate::time::format_rfc3339;
use crate::value::{self, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The default time between two passes of a listener over the rings.
pub const DEFAULT_LISTENER_INTERVAL: Duration = Duration::from_millis(20);

/// A live sink for events; see the [module documentation](self).
///
/// Runs on its own thread, so it may block (write to disk, to a socket):
/// only this listener falls behind.
pub trait Listener: Send + 'static {
    /// Handles one event. An error is counted in
    /// [`ListenerMetrics::errors`] (the first one is also printed on stderr)
    /// and the listener goes on with the next event.
    fn on_event(&mut self, event: &Event) -> io::Result<()>;

    /// Called after each pass that delivered events, and before the listener
    /// stops.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// A short name for metrics and the thread name (default `"listener"`).
    fn name(&self) -> &str {
        "listener"
    }

    /// The least severe level this listener wants (default: everything that
    /// is recorded).
    fn min_level(&self) -> Level {
        Level::Trace
    }
}

/// Counters of one listener, in [`crate::Metrics::listeners`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerMetrics {
    /// [`Listener::name`].
    pub name: String,
    /// Events handed to the listener.
    pub delivered: u64,
    /// Events overwritten in their ring before this listener read them.
    pub missed: u64,
    /// Events below [`Listener::min_level`], read and not delivered.
    pub skipped: u64,
    /// Errors returned by the listener.
    pub errors: u64,
    /// Events written to the rings that the listener had not yet read at
    /// the end of its last pass: how far behind it runs.
    pub lag: u64,
}

#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    missed: AtomicU64,
    skipped: AtomicU64,
    errors: AtomicU64,
    lag: AtomicU64,
}

#[derive(Debug)]
struct Running {
    name: String,
    stats: Arc<Stats>,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<Running>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts `listener` on its own thread.
pub(crate) fn start(listener: Box<dyn Listener>, interval: Duration) -> io::Result<()> {
    let name = listener.name().to_owned();
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel();
    let thread_stats = Arc::clone(&stats);
    let thread_name: String = format!("ttlog-listener-{name}").chars().take(60).collect();
    let handle = std::thread::Builder::new().name(thread_name).spawn(move || {
        let mut reader = Reader::new(listener, thread_stats);
        loop {
            let stop = !matches!(rx.recv_timeout(interval), Err(RecvTimeoutError::Timeout));
            // A listener that panics must not take the process down with it.
            let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.pass()));
            if pass.is_err() || stop {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.finish()));
                return;
            }
        }
    })?;
    running().push(Running { name, stats, stop: Some(tx), handle: Some(handle) });
    Ok(())
}

/// Delivers what is left and stops every listener; returns once they have.
pub(crate) fn stop_all() {
    stop_all_within(None);
}

/// Like [`stop_all`], but waits at most `limit` for the listeners to finish
/// (the signal path: a listener stuck on a full pipe must not keep a
/// terminating process alive). Returns whether all of them finished.
pub(crate) fn stop_all_within(limit: Option<Duration>) -> bool {
    type Stop = (Option<mpsc::Sender<()>>, Option<JoinHandle<()>>);
    let stopping: Vec<Stop> = running().iter_mut().map(|r| (r.stop.take(), r.handle.take())).collect();
    // Ask them all first, so that they drain in parallel.
    for (tx, _) in &stopping {
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
    }
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    let mut all = true;
    for (_, handle) in stopping {
        let Some(h) = handle else { continue };
        if h.thread().id() == std::thread::current().id() {
            continue;
        }
        if let Some(deadline) = deadline {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !h.is_finished() {
                all = false;
                continue;
            }
        }
        let _ = h.join();
    }
    all
}

/// Counters of every listener started in this process.
pub(crate) fn metrics() -> Vec<ListenerMetrics> {
    running()
        .iter()
        .map(|r| ListenerMetrics {
            name: r.name.clone(),
            delivered: r.stats.delivered.load(Ordering::Relaxed),
            missed: r.stats.missed.load(Ordering::Relaxed),
            skipped: r.stats.skipped.load(Ordering::Relaxed),
            errors: r.stats.errors.load(Ordering::Relaxed),
            lag: r.stats.lag.load(Ordering::Relaxed),
        })
        .collect()
}

/// Where a listener is in one ring.
#[derive(Debug)]
struct Cursor {
    pos: u64,
    /// The sequence number of the next record this listener expects; `None`
    /// for a ring that already held records when the listener started (it
    /// gets what is still there, nothing counts as missed).
    next_seq: Option<u64>,
}

struct Reader {
    listener: Box<dyn Listener>,
    stats: Arc<Stats>,
    min_level: Level,
    cursors: HashMap<usize, Cursor>,
    /// Rings that existed before the listener's first pass.
    preexisting: HashSet<usize>,
    first_pass: bool,
    callsites: Vec<Arc<CallSiteInfo>>,
    reported: bool,
}

impl Reader {
    fn new(listener: Box<dyn Listener>, stats: Arc<Stats>) -> Reader {
        let min_level = listener.min_level();
        Reader {
            listener,
            stats,
            min_level,
            cursors: HashMap::new(),
            preexisting: HashSet::new(),
            first_pass: true,
            callsites: Vec::new(),
            reported: false,
        }
    }

    fn callsite(&mut self, id: u32) -> Option<Arc<CallSiteInfo>> {
        if id as usize > self.callsites.len() {
            self.callsites = callsite::callsites();
        }
        self.callsites.get((id as usize).checked_sub(1)?).cloned()
    }

    /// Reads what is new in every ring and delivers it.
    fn pass(&mut self) {
        let Some(rec) = recorder::recorder() else { return };
        let rings: Vec<(Arc<Ring>, ThreadInfo)> = rec.rings();
        if self.first_pass {
            self.preexisting = rings.iter().map(|(r, _)| Arc::as_ptr(r) as usize).collect();
            self.first_pass = false;
        }
        let calibration = Calibration::now();
        let mut events = Vec::new();
        let mut lag = 0u64;
        for (ring, thread) in &rings {
            let key = Arc::as_ptr(ring) as usize;
            let pre = self.preexisting.contains(&key);
            let cursor =
                self.cursors.entry(key).or_insert(Cursor { pos: 0, next_seq: if pre { None } else { Some(0) } });
            let read = ring.read_from(cursor.pos);
            cursor.pos = read.end_pos;
            // Only a read that returned records has exact sequence numbers
            // (see `Ring::read_from`); records overwritten behind an empty
            // read show as a gap before the next record read.
            if !read.starts.is_empty() {
                if let Some(expected) = cursor.next_seq
                    && read.overwritten > expected
                {
                    self.stats.missed.fetch_add(read.overwritten - expected, Ordering::Relaxed);
                }
                cursor.next_seq = Some(read.written);
            }
            let read_upto = cursor.next_seq.unwrap_or(read.written);
            for (k, &s) in read.starts.iter().enumerate() {
                let s = s as usize;
                let header = unpack_header(read.words[s]);
                // Records of a read are consecutive in sequence number.
                let seq = read.overwritten + k as u64;
                let Some(site) = self.callsite(header.callsite) else { continue };
                if site.level < self.min_level {
                    self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let payload = &read.words[s + RECORD_HEADER_WORDS..s + header.len_words];
                let Some(fields) = decode_fields(&site, payload) else { continue };
                events.push(Event {
                    timestamp_ns: calibration.to_utc_ns(read.words[s + 1]),
                    level: site.level,
                    target: Arc::clone(&site.target),
                    message: Arc::clone(&site.message),
                    file: Arc::clone(&site.file),
                    line: site.line,
                    module_path: Arc::clone(&site.module_path),
                    thread_id: thread.id,
                    thread_name: thread.name.clone(),
                    seq,
                    callsite: header.callsite,
                    fields,
                });
            }
            lag += ring.written().saturating_sub(read_upto);
        }
        self.stats.lag.store(lag, Ordering::Relaxed);
        if events.is_empty() {
            return;
        }
        events.sort_by_key(|e| (e.timestamp_ns, e.thread_id, e.seq));
        for e in &events {
            let r = self.listener.on_event(e);
            self.count(r, true);
        }
        let r = self.listener.flush();
        self.count(r, false);
    }

    fn count(&mut self, r: io::Result<()>, event: bool) {
        match r {
            Ok(()) if event => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                if !self.reported {
                    self.reported = true;
                    eprintln!(
                        "ttlog: listener {:?} failed: {e} (later errors are counted in Metrics::listeners, not printed)",
                        self.listener.name()
                    );
                }
            }
        }
    }

    fn finish(&mut self) {
        self.pass();
        let r = self.listener.flush();
        self.count(r, false);
    }
}

fn decode_fields(site: &CallSiteInfo, payload: &[u64]) -> Option<Vec<(Arc<str>, Value)>> {
    let mut fields = Vec::with_capacity(site.fields.len());
    let mut off = 0;
    for (name, kind) in &site.fields {
        let (v, n) = value::decode(*kind, payload.get(off..)?)?;
        off += n;
        fields.push((Arc::clone(name), v));
    }
    Some(fields)
}

// ---------------------------------------------------------------------------
// Text formatting shared by the sinks.

/// Appends a field value as `key=value` text: numbers as they are, text and
/// characters as [`push_field_value`] writes them (quoted when not one
/// simple word).
fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Str(s) => push_field_value(out, s),
        Value::Char(c) => push_field_value(out, c.encode_utf8(&mut [0; 4])),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// UTC time with microseconds: `2026-11-22T01:02:03.123456Z`.
fn time_text(ns: i64) -> String {
    let full = format_rfc3339(ns);
    // `…:SS.nnnnnnnnnZ` → keep six digits.
    match full.len().checked_sub(4) {
        Some(cut) => format!("{}Z", &full[..cut]),
        None => full,
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::Trace => "\x1b[35m",
        Level::Debug => "\x1b[34m",
        Level::Info => "\x1b[32m",
        Level::Warn => "\x1b[33m",
        Level::Error => "\x1b[31m",
    }
}

/// One event as a human-readable line (with a trailing newline):
/// `2026-11-22T01:02:03.123456Z  INFO worker-1 db::pool: acquired conn=7 wait_us=12`.
/// Log text is escaped for the terminal as [`crate::text`] says (control
/// and bidirectional characters as `\n`, `\x1b`, `\u{202e}`, …).
///
/// ```
/// let trace = ttlog_core::Trace::builder().install().unwrap();
/// ttlog_core::info!(target: "db", "acquired", conn = 7u64, who = "a b");
/// let e = &trace.events()[0];
/// let line = ttlog_core::format_line(e, false);
/// assert!(line.ends_with(" INFO main db: acquired conn=7 who=\"a b\"\n") || line.contains("db: acquired conn=7 who=\"a b\""), "{line}");
/// ```
pub fn format_line(event: &Event, colours: bool) -> String {
    let mut out = String::with_capacity(128);
    let (c, dim, bold, reset) = if colours { (level_colour(event.level), DIM, BOLD, RESET) } else { ("", "", "", "") };
    let _ = write!(out, "{dim}{}{reset} {c}{:>5}{reset} ", time_text(event.timestamp_ns), event.level.as_str());
    match &event.thread_name {
        Some(n) => {
            out.push_str(dim);
            push_escaped(&mut out, n);
            out.push_str(reset);
        }
        None => {
            let _ = write!(out, "{dim}thread-{}{reset}", event.thread_id);
        }
    }
    out.push(' ');
    out.push_str(dim);
    push_escaped(&mut out, &event.target);
    out.push(':');
    out.push_str(reset);
    out.push(' ');
    out.push_str(bold);
    push_escaped(&mut out, event.display_message());
    out.push_str(reset);
    let skip_message = event.message.is_empty();
    for (name, v) in &event.fields {
        if skip_message && &**name == "message" {
            continue;
        }
        out.push(' ');
        out.push_str(dim);
        push_escaped(&mut out, name);
        out.push('=');
        out.push_str(reset);
        push_value(&mut out, v);
    }
    out.push('\n');
    out
}

/// One event as a JSON object on one line (with a trailing newline), keys
/// `time`, `ts_ns`, `level`, `target`, `message`, `fields` (an object, in
/// call-site order), `file`, `line`, `module`, `thread`, `thread_id`, `seq`.
/// Values are written by [`crate::json`] (exact integers; NaN and
/// infinities as the strings `"NaN"`, `"inf"`, `"-inf"`), as
/// `ttlog-view --format ndjson` writes them.
///
/// ```
/// let trace = ttlog_core::Trace::builder().install().unwrap();
/// ttlog_core::warn!(target: "risk", "limit", used = 0.5, desk = "fx");
/// let line = ttlog_core::format_json(&trace.events()[0]);
/// assert!(line.contains(r#""level":"WARN","target":"risk","message":"limit","fields":{"used":0.5,"desk":"fx"}"#), "{line}");
/// ```
pub fn format_json(event: &Event) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"time\":");
    crate::json::push_str(&mut out, &format_rfc3339(event.timestamp_ns));
    let _ = write!(out, ",\"ts_ns\":{},\"level\":\"{}\",\"target\":", event.timestamp_ns, event.level.as_str());
    crate::json::push_str(&mut out, &event.target);
    out.push_str(",\"message\":");
    crate::json::push_str(&mut out, event.display_message());
    out.push_str(",\"fields\":{");
    let skip_message = event.message.is_empty();
    let mut first = true;
    for (name, v) in &event.fields {
        if skip_message && &**name == "message" {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        crate::json::push_str(&mut out, name);
        out.push(':');
        crate::json::push_value(&mut out, v.as_value_ref());
    }
    out.push_str("},\"file\":");
    crate::json::push_str(&mut out, &event.file);
    let _ = write!(out, ",\"line\":{},\"module\":", event.line);
    crate::json::push_str(&mut out, &event.module_path);
    out.push_str(",\"thread\":");
    match &event.thread_name {
        Some(n) => crate::json::push_str(&mut out, n),
        None => out.push_str("null"),
    }
    let _ = writeln!(out, ",\"thread_id\":{},\"seq\":{}}}", event.thread_id, event.seq);
    out
}

// ---------------------------------------------------------------------------
// The sinks.

/// Human-readable lines on standard output ([`format_line`]), in colour when
/// stdout is a terminal and `NO_COLOR` is not set.
///
/// ```no_run
/// let trace = ttlog_core::Trace::builder().listener(ttlog_core::StdoutListener::new()).install().unwrap();
/// ttlog_core::info!("printed within about 20 ms, and kept in the ring");
/// ```
#[derive(Debug, Clone)]
pub struct StdoutListener {
    colours: bool,
    min_level: Level,
}

impl StdoutListener {
    /// Colours if stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn new() -> StdoutListener {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        StdoutListener { colours: !no_color && io::stdout().is_terminal(), min_level: Level::Trace }
    }

    /// Forces colours on or off.
    pub fn colours(mut self, on: bool) -> StdoutListener {
        self.colours = on;
        self
    }

    /// Prints only events at `level` or above.
    pub fn min_level(mut self, level: Level) -> StdoutListener {
        self.min_level = level;
        self
    }
}

impl Default for StdoutListener {
    fn default() -> StdoutListener {
        StdoutListener::new()
    }
}

impl Listener for StdoutListener {
    fn on_event(&mut self, event: &Event) -> io::Result<()> {
        io::stdout().lock().write_all(format_line(event, self.colours).as_bytes())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
    fn name(&self) -> &str {
        "stdout"
    }
    fn min_level(&self) -> Level {
        self.min_level
    }
}

/// Appends human-readable lines ([`format_line`], no colours) to a file,
/// rotating it by size: when a line would take it past `max_bytes`, `FILE`
/// becomes `FILE.1` (`FILE.1` becomes `FILE.2`, …, up to `keep` old files)
/// and a new `FILE` is started. Files are created with mode 0600.
///
/// ```no_run
/// use ttlog_core::{FileListener, Trace};
/// let file = FileListener::open("/var/log/pricing/ttlog.log")?.rotate(64 << 20, 5);
/// let trace = Trace::builder().listener(file).install().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FileListener {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    max_bytes: Option<u64>,
    keep: usize,
    min_level: Level,
    json: bool,
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

impl FileListener {
    /// Opens (creating if needed) `path` for appending; no rotation.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<FileListener> {
        let path = path.into();
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(FileListener {
            path,
            out: BufWriter::new(file),
            size,
            max_bytes: None,
            keep: 0,
            min_level: Level::Trace,
            json: false,
        })
    }

    /// Rotates at `max_bytes`, keeping `keep` old files.
    pub fn rotate(mut self, max_bytes: u64, keep: usize) -> FileListener {
        self.max_bytes = Some(max_bytes.max(1));
        self.keep = keep;
        self
    }

    /// Writes JSON lines ([`format_json`]) instead of text.
    pub fn json(mut self, on: bool) -> FileListener {
        self.json = on;
        self
    }

    /// Writes only events at `level` or above.
    pub fn min_level(mut self, level: Level) -> FileListener {
        self.min_level = level;
        self
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate_now(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            fs::rename(&self.path, self.rotated(1))?;
        }
        self.out = BufWriter::new(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

impl Listener for FileListener {
    fn on_event(&mut self, event: &Event) -> io::Result<()> {
        let line = if self.json { format_json(event) } else { format_line(event, false) };
        if let Some(max) = self.max_bytes
            && self.size > 0
            && self.size + line.len() as u64 > max
        {
            self.rotate_now()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    fn name(&self) -> &str {
        "file"
    }
    fn min_level(&self) -> Level {
        self.min_level
    }
}

/// One JSON object per line ([`format_json`]) to any writer: stdout by
/// default, or a file, a socket, a pipe.
///
/// ```no_run
/// let ndjson = ttlog_core::NdjsonListener::new(std::io::stderr());
/// let trace = ttlog_core::Trace::builder().listener(ndjson).install().unwrap();
/// ```
pub struct NdjsonListener {
    out: Box<dyn Write + Send>,
    min_level: Level,
}

impl std::fmt::Debug for NdjsonListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonListener").field("min_level", &self.min_level).finish_non_exhaustive()
    }
}

impl NdjsonListener {
    /// Writes to `out` (buffered; flushed after every pass).
    pub fn new(out: impl Write + Send + 'static) -> NdjsonListener {
        NdjsonListener { out: Box::new(BufWriter::new(out)), min_level: Level::Trace }
    }

    /// Writes to standard output.
    pub fn stdout() -> NdjsonListener {
        NdjsonListener::new(io::stdout())
    }

    /// Writes only events at `level` or above.
    pub fn min_level(mut self, level: Level) -> NdjsonListener {
        self.min_level = level;
        self
    }
}

impl Listener for NdjsonListener {
    fn on_event(&mut self, event: &Event) -> io::Result<()> {
        self.out.write_all(format_json(event).as_bytes())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    fn name(&self) -> &str {
        "ndjson"
    }
    fn min_level(&self) -> Level {
        self.min_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str, fields: Vec<(&str, Value)>) -> Event {
        Event {
            timestamp_ns: 1_795_307_845_033_000_123,
            level: Level::Warn,
            target: "db::pool".into(),
            message: message.into(),
            file: "src/x.rs".into(),
            line: 7,
            module_path: "db::pool".into(),
            thread_id: 3,
            thread_name: Some("worker\u{1b}[31m".into()),
            seq: 9,
            callsite: 1,
            fields: fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
        }
    }

    #[test]
    fn lines_escape_control_characters_and_quote_text() {
        let e = event("bad\u{1b}]0;x\u{7}", vec![("k", Value::Str("a \"b\"".into())), ("n", Value::U64(5))]);
        let line = format_line(&e, false);
        assert_eq!(
            line,
            "2026-11-22T00:37:25.033000Z  WARN worker\\x1b[31m db::pool: bad\\x1b]0;x\\x07 k=\"a \\\"b\\\"\" n=5\n"
        );
        assert!(!line[..line.len() - 1].chars().any(char::is_control));
        let coloured = format_line(&e, true);
        assert!(coloured.contains("\x1b[33m WARN\x1b[0m"));
    }

    #[test]
    fn lines_escape_bidi_controls_and_quote_chars_as_text() {
        // The one terminal escaping of `crate::text`, as `ttlog-view` prints.
        let e = event(
            "a\u{202e}b\u{2066}",
            vec![("c", Value::Char(' ')), ("d", Value::Char('\n')), ("e", Value::Char('x'))],
        );
        let line = format_line(&e, false);
        assert!(line.ends_with("db::pool: a\\u{202e}b\\u{2066} c=\" \" d=\"\\n\" e=x\n"), "{line}");
    }

    #[test]
    fn formatted_messages_show_as_the_message() {
        let e = event("", vec![("message", Value::Str("tick 3".into())), ("i", Value::U64(3))]);
        assert!(format_line(&e, false).ends_with("db::pool: tick 3 i=3\n"));
        let j = format_json(&e);
        assert!(j.contains(r#""message":"tick 3","fields":{"i":3}"#), "{j}");
    }

    #[test]
    fn file_listener_appends_rotates_and_writes_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "old line\n").unwrap();
        let mut f = FileListener::open(&path).unwrap().rotate(600, 2).json(true);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        for i in 0..6u64 {
            f.on_event(&event("m", vec![("i", Value::U64(i))])).unwrap();
        }
        f.flush().unwrap();
        // About 260 bytes a line: two lines a file, so two rotations.
        let (live, one, two) = (read("app.log"), read("app.log.1"), read("app.log.2"));
        assert!(two.starts_with("old line\n"), "appended to the existing file first: {two}");
        assert!([&live, &one, &two].iter().all(|f| f.len() <= 600));
        let all: Vec<serde_json::Value> = [&two, &one, &live]
            .iter()
            .flat_map(|f| f.lines())
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let ids: Vec<u64> = all.iter().map(|v| v["fields"]["i"].as_u64().unwrap()).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        f.on_event(&event("m", vec![("i", Value::U64(6))])).unwrap();
        f.on_event(&event("m", vec![("i", Value::U64(7))])).unwrap();
        f.flush().unwrap();
        assert!(!dir.path().join("app.log.3").exists(), "keeps two old files");
        assert!(!read("app.log.2").contains("old line"), "the oldest file went");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("app.log")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn json_is_valid_and_escaped() {
        let e = event(
            "m\"\n\u{1b}",
            vec![
                ("f", Value::F64(f64::NAN)),
                ("x", Value::F64(1.5)),
                ("b", Value::Bool(false)),
                ("c", Value::Char('\'')),
                ("big", Value::I128(-1)),
            ],
        );
        let j = format_json(&e);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["message"], "m\"\n\u{1b}");
        assert_eq!(v["fields"]["f"], "NaN");
        assert_eq!(v["fields"]["x"], 1.5);
        assert_eq!(v["fields"]["big"], -1);
        assert_eq!(v["thread"], "worker\u{1b}[31m");
        assert_eq!(v["seq"], 9);
        assert!(!j.trim_end().chars().any(char::is_control));
    }
}
