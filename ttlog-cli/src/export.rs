//! Writing views, stats and group tables: aligned text, JSON, NDJSON, CSV,
//! Parquet (one file, or a Hive-partitioned dataset directory).
//!
//! # The event object (JSON, NDJSON)
//!
//! Exactly these keys, in this order:
//!
//! ```json
//! {"timestamp":"2026-11-22T00:27:23.123456789Z","level":"INFO","target":"orders",
//!  "message":"order filled","fields":{"id":3,"price":153.25,"symbol":"AAPL","ok":false},
//!  "thread":"main","file":"src/orders.rs","line":42,"service":"pricing",
//!  "hostname":"box-7","pid":4242}
//! ```
//!
//! Field values keep their type: integers (also 128-bit ones, written
//! exactly) and floats are numbers, booleans are booleans, chars and text
//! are strings; a float that is NaN or infinite is the string `"NaN"`,
//! `"inf"` or `"-inf"`. `thread` is the thread's name, or `#` and its id
//! (`"#3"`) when it has none, as in every output.

use crate::dataset::{EventRef, FieldRef, View, cols};
use crate::stats::{GroupTable, KeyValue, Stats};
use crate::tables::Tables;
use polars::prelude::*;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;
use ttlog_core::Level;
use ttlog_core::snapshot::{SnapshotError, Values};
use ttlog_core::text::{push_escaped, push_field_value};
use ttlog_core::time::{format_rfc3339, push_rfc3339};

/// How often (in events) buffered output is flushed to the writer.
const BATCH: usize = 4096;

/// Appends `s` as a JSON string (quotes included); see [`ttlog_core::json`].
pub use ttlog_core::json::push_str as push_json_str;

/// The message to show, as [`ttlog_core::Event::display_message`] has it:
/// the call site's, or, for bridged events whose message varies
/// (`tracing::info!("took {ms} ms")`, whose call site's message is empty),
/// their `message` field; then `true`: that field is the message and is
/// not repeated among the fields.
fn display_message<'a>(e: &EventRef<'a>) -> (&'a str, bool) {
    let site: &'a str = &e.site.info.message;
    if site.is_empty()
        && let Some((_, FieldRef::Str(m))) = e.fields().find(|(n, _)| *n == "message")
    {
        return (m, true);
    }
    (site, false)
}

/// Appends one event as a JSON object (see the [module docs](self)).
pub fn push_event_json(out: &mut String, e: &EventRef<'_>) {
    let i = &e.site.info;
    out.push_str("{\"timestamp\":\"");
    push_rfc3339(out, e.ts);
    out.push_str("\",\"level\":\"");
    out.push_str(i.level.as_str());
    out.push_str("\",\"target\":");
    push_json_str(out, &i.target);
    out.push_str(",\"message\":");
    let (message, skip) = display_message(e);
    push_json_str(out, message);
    out.push_str(",\"fields\":{");
    for (k, (name, v)) in e.fields().filter(|(n, _)| !(skip && *n == "message")).enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_json_str(out, name);
        out.push(':');
        ttlog_core::json::push_value(out, v);
    }
    out.push_str("},\"thread\":");
    match &e.thread.name {
        Some(n) => push_json_str(out, n),
        None => {
            out.push_str("\"#");
            out.push_str(itoa::Buffer::new().format(e.thread.id));
            out.push('"');
        }
    }
    out.push_str(",\"file\":");
    push_json_str(out, &i.file);
    out.push_str(",\"line\":");
    out.push_str(itoa::Buffer::new().format(i.line));
    out.push_str(",\"service\":");
    push_json_str(out, &e.source.service);
    out.push_str(",\"hostname\":");
    push_json_str(out, &e.source.hostname);
    out.push_str(",\"pid\":");
    out.push_str(itoa::Buffer::new().format(e.source.pid));
    out.push('}');
}

/// Writes the view as NDJSON (one object per line) or as one JSON array.
///
/// # Errors
/// Errors of the writer.
pub fn write_json(view: &View, w: &mut dyn Write, array: bool) -> io::Result<()> {
    let mut buf = String::with_capacity(1 << 16);
    let mut first = true;
    if array {
        buf.push('[');
    }
    let mut n = 0usize;
    view.try_for_each(0..view.len(), |e| {
        if array {
            buf.push_str(if first { "\n" } else { ",\n" });
            first = false;
        }
        push_event_json(&mut buf, &e);
        if !array {
            buf.push('\n');
        }
        n += 1;
        if n.is_multiple_of(BATCH) {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
        Ok::<(), io::Error>(())
    })?;
    if array {
        buf.push_str(if first { "]\n" } else { "\n]\n" });
    }
    w.write_all(buf.as_bytes())?;
    w.flush()
}

/// Appends `s` as one CSV cell, the one rule of every CSV output (events,
/// group tables, SQL answers): its text escaped as for a terminal
/// ([`ttlog_core::text::escape`]: C0 and C1 controls, DEL, the
/// bidirectional controls and U+2028 / U+2029, so no cell holds a raw line
/// break, escape sequence or reordering mark), then quoted as RFC 4180 says
/// when it holds `,` or `"`. With `formula_guard` (`--csv-safe`), a cell
/// that starts with `=`, `+`, `-` or `@` (or a tab or CR) gets a `'` in
/// front, so that a spreadsheet shows it as text instead of evaluating it;
/// negative numbers then read `'-5`.
///
/// ```
/// # use ttlog_cli::export::push_csv;
/// let mut out = String::new();
/// push_csv(&mut out, "a,\x1b[2Jb\u{2028}", false);
/// out.push(',');
/// push_csv(&mut out, "=SUM(A1:A9)", true);
/// out.push(',');
/// push_csv(&mut out, "=HYPERLINK(\"x\")", true);
/// assert_eq!(out, r#""a,\x1b[2Jb\u{2028}",'=SUM(A1:A9),"'=HYPERLINK(""x"")""#);
/// ```
pub fn push_csv(out: &mut String, s: &str, formula_guard: bool) {
    let s = ttlog_core::text::escape(s);
    let guard = formula_guard && s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if guard {
            out.push('\'');
        }
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        if guard {
            out.push('\'');
        }
        out.push_str(&s);
    }
}

/// `json` (JSON text) with the characters JSON allows raw but a terminal
/// or spreadsheet should not get ([`ttlog_core::text::needs_escape`]: the
/// bidirectional controls, U+2028, U+2029) written as `\uXXXX`: the same
/// JSON value, safe in a CSV cell.
fn json_for_csv(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.chars().any(ttlog_core::text::needs_escape) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if ttlog_core::text::needs_escape(c) {
            // All of them are in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The CSV header of [`write_csv`].
pub const CSV_HEADER: &str = "timestamp,level,target,message,fields,thread,file,line,service,hostname,pid";

/// Writes the view as CSV (RFC 4180): the event keys as columns, `fields`
/// as a JSON object; every cell as [`push_csv`] writes it (without the
/// formula guard).
///
/// # Errors
/// Errors of the writer.
pub fn write_csv(view: &View, w: &mut dyn Write) -> io::Result<()> {
    let mut buf = String::with_capacity(1 << 16);
    buf.push_str(CSV_HEADER);
    buf.push('\n');
    let mut fields = String::new();
    let mut n = 0usize;
    view.try_for_each(0..view.len(), |e| {
        push_event_csv(&mut buf, &mut fields, &e, false);
        n += 1;
        if n.is_multiple_of(BATCH) {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
        Ok::<(), io::Error>(())
    })?;
    w.write_all(buf.as_bytes())?;
    w.flush()
}

/// Appends one event as a CSV line (with its newline), each cell as
/// [`push_csv`] writes it; `fields` is scratch space.
pub(crate) fn push_event_csv(buf: &mut String, fields: &mut String, e: &EventRef<'_>, guard: bool) {
    let i = &e.site.info;
    push_rfc3339(buf, e.ts);
    buf.push(',');
    buf.push_str(i.level.as_str());
    buf.push(',');
    push_csv(buf, &i.target, guard);
    buf.push(',');
    let (message, skip) = display_message(e);
    push_csv(buf, message, guard);
    buf.push(',');
    fields.clear();
    fields.push('{');
    for (k, (name, v)) in e.fields().filter(|(n, _)| !(skip && *n == "message")).enumerate() {
        if k > 0 {
            fields.push(',');
        }
        push_json_str(fields, name);
        fields.push(':');
        ttlog_core::json::push_value(fields, v);
    }
    fields.push('}');
    push_csv(buf, &json_for_csv(fields), guard);
    buf.push(',');
    push_csv(buf, &e.thread.label(), guard);
    buf.push(',');
    push_csv(buf, &i.file, guard);
    buf.push(',');
    buf.push_str(itoa::Buffer::new().format(i.line));
    buf.push(',');
    push_csv(buf, &e.source.service, guard);
    buf.push(',');
    push_csv(buf, &e.source.hostname, guard);
    buf.push(',');
    buf.push_str(itoa::Buffer::new().format(e.source.pid));
    buf.push('\n');
}

/// ANSI styles of the text output (all empty without colour).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    dim: &'static str,
    target: &'static str,
    reset: &'static str,
    colored: bool,
}

impl Palette {
    pub(crate) fn new(color: bool) -> Palette {
        if color {
            Palette { dim: "\x1b[2m", target: "\x1b[36m", reset: "\x1b[0m", colored: true }
        } else {
            Palette { dim: "", target: "", reset: "", colored: false }
        }
    }

    fn level(&self, l: Level) -> &'static str {
        if !self.colored {
            return "";
        }
        match l {
            Level::Trace => "\x1b[2m",
            Level::Debug => "\x1b[34m",
            Level::Info => "\x1b[32m",
            Level::Warn => "\x1b[33m",
            Level::Error => "\x1b[1;31m",
        }
    }
}

/// The width of the target column of text output: the widest target
/// (escaped), at most 24 characters.
pub(crate) fn target_width(tables: &Tables) -> usize {
    tables.sites.iter().map(|s| ttlog_core::text::escape(&s.info.target).chars().count()).max().unwrap_or(0).min(24)
}

/// Appends one event as a line of text output (with its newline).
pub(crate) fn push_text_line(buf: &mut String, e: &EventRef<'_>, p: &Palette, width: usize, many_sources: bool) {
    let i = &e.site.info;
    buf.push_str(p.dim);
    push_rfc3339(buf, e.ts);
    buf.push_str(p.reset);
    buf.push(' ');
    buf.push_str(p.level(i.level));
    let level = i.level.as_str();
    buf.push_str(level);
    for _ in level.len()..5 {
        buf.push(' ');
    }
    buf.push_str(p.reset);
    buf.push(' ');
    buf.push_str(p.target);
    let target = ttlog_core::text::escape(&i.target);
    buf.push_str(&target);
    buf.push_str(p.reset);
    for _ in target.chars().count()..width {
        buf.push(' ');
    }
    buf.push(' ');
    let (message, skip) = display_message(e);
    push_escaped(buf, message);
    for (name, v) in e.fields().filter(|(n, _)| !(skip && *n == "message")) {
        buf.push(' ');
        buf.push_str(p.dim);
        push_escaped(buf, name);
        buf.push('=');
        buf.push_str(p.reset);
        match v {
            FieldRef::Str(s) => push_field_value(buf, s),
            FieldRef::Char(c) => push_field_value(buf, c.encode_utf8(&mut [0; 4])),
            number => {
                let _ = write!(buf, "{number}");
            }
        }
    }
    buf.push_str(p.dim);
    buf.push_str("  thread=");
    push_field_value(buf, &e.thread.label());
    if many_sources {
        buf.push_str(" service=");
        push_field_value(buf, &e.source.service);
        let _ = write!(buf, " pid={}", e.source.pid);
    }
    buf.push_str(p.reset);
    buf.push('\n');
}

/// The view as the typed polars frame that Parquet exports hold (the
/// schema of `docs/PARQUET.md`): `timestamp` (datetime, µs, UTC),
/// `timestamp_ns` (i64, exact), `level`, `target`, `message`, `thread`,
/// `file`, `line` (i64), `service`, `hostname`, `pid` (i64), then one typed
/// column per field name ([`field_columns`]), null where an event lacks it.
/// Values of an unsigned 64-bit field above `i64::MAX` are null in its
/// signed column and counted in `out_of_range` by column name.
///
/// # Errors
/// Errors of polars.
pub fn event_frame(view: &View, out_of_range: &mut OutOfRange) -> PolarsResult<DataFrame> {
    let ds = view.dataset();
    let f = view.frame();
    let ts = f.column(cols::TS)?.i64()?.clone();
    let cs: IdxCa = f.column(cols::CS)?.cast(&IDX_DTYPE)?.idx()?.clone();
    let th: IdxCa = f.column(cols::TH)?.cast(&IDX_DTYPE)?.idx()?.clone();
    let mut members = Vec::new();
    for fi in ds.fields() {
        if let Some(c) = view.field_column(&fi.name) {
            members.push(c.into_column());
        }
    }
    frame_of(ds.tables(), ts, &cs, &th, &members, out_of_range)
}

/// Per column, the values that its Parquet type cannot hold (an unsigned
/// 64-bit field above `i64::MAX`), written as null.
pub type OutOfRange = std::collections::BTreeMap<String, u64>;

/// The event frame of [`event_frame`] from its parts: timestamps, call-site
/// and thread codes, and one column per field name (in the order of the
/// tables' fields, named by [`field_columns`]).
///
/// Text columns (level, target, message, thread, file, service, hostname)
/// are dictionary-encoded (polars `Enum`) straight from the codes: their
/// values are the distinct values of the small tables, each row a code.
/// Parquet writes them as dictionary pages without hashing a value per row.
///
/// # Errors
/// Errors of polars (columns of different lengths).
pub(crate) fn frame_of(
    tables: &Tables,
    ts: Int64Chunked,
    cs: &IdxCa,
    th: &IdxCa,
    members: &[Column],
    out_of_range: &mut OutOfRange,
) -> PolarsResult<DataFrame> {
    let h = ts.len();
    // A text column: each call site's (or thread's) value as a code into
    // the distinct values, gathered by the rows' codes.
    let dictionary = |name: &str, values: Vec<String>, codes: &IdxCa| -> PolarsResult<Column> {
        let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let lookup: Vec<u32> = values
            .iter()
            .map(|v| {
                *index.entry(v.as_str()).or_insert_with(|| {
                    distinct.push(v.as_str());
                    distinct.len() as u32 - 1
                })
            })
            .collect();
        let dtype = DataType::from_frozen_categories(FrozenCategories::new(distinct.iter().copied())?);
        // Each row's category, in the physical type polars picked for this
        // many values.
        let series = match dtype.cat_physical()? {
            CategoricalPhysical::U8 => {
                let c = gather::<UInt8Type>(
                    lookup.iter().map(|&v| u8::try_from(v).unwrap_or_default()).collect(),
                    codes,
                    name,
                )?;
                CategoricalChunked::<Categorical8Type>::from_cats_and_dtype(c, dtype).into_series()
            }
            CategoricalPhysical::U16 => {
                let c = gather::<UInt16Type>(
                    lookup.iter().map(|&v| u16::try_from(v).unwrap_or_default()).collect(),
                    codes,
                    name,
                )?;
                CategoricalChunked::<Categorical16Type>::from_cats_and_dtype(c, dtype).into_series()
            }
            CategoricalPhysical::U32 => {
                let c = gather::<UInt32Type>(lookup, codes, name)?;
                CategoricalChunked::<Categorical32Type>::from_cats_and_dtype(c, dtype).into_series()
            }
        };
        Ok(series.into_column())
    };
    let site_str = |name: &str, get: &dyn Fn(&crate::dataset::Site) -> String| -> PolarsResult<Column> {
        dictionary(name, tables.sites.iter().map(get).collect(), cs)
    };
    // Integers of the call site, as signed 64-bit: every engine reads them
    // the same (Spark and Trino have no unsigned types).
    let site_i64 = |name: &str, get: &dyn Fn(&crate::dataset::Site) -> u32| -> PolarsResult<Column> {
        let table: Vec<i64> = tables.sites.iter().map(|s| i64::from(get(s))).collect();
        Ok(gather::<Int64Type>(table, cs, name)?.into_column())
    };
    // Microseconds (rounded down), the finest time unit Spark reads, beside
    // the exact nanoseconds.
    let micros: Int64Chunked = ts.apply_values(|t| t.div_euclid(1000));
    let mut columns = vec![
        micros
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_series()
            .with_name("timestamp".into())
            .into_column(),
        ts.with_name("timestamp_ns".into()).into_column(),
        site_str("level", &|s| s.info.level.as_str().to_owned())?,
        site_str("target", &|s| s.info.target.to_string())?,
        site_str("message", &|s| s.info.message.to_string())?,
        dictionary("thread", tables.threads.iter().map(|t| t.label()).collect(), th)?,
        site_str("file", &|s| s.info.file.to_string())?,
        site_i64("line", &|s| s.info.line)?,
        site_str("service", &|s| tables.sources[s.source as usize].service.to_string())?,
        site_str("hostname", &|s| tables.sources[s.source as usize].hostname.to_string())?,
        site_i64("pid", &|s| tables.sources[s.source as usize].pid)?,
    ];
    for (m, (_, name)) in members.iter().zip(field_columns(tables)) {
        let m = if m.dtype() == &DataType::UInt64 {
            // Signed, as every engine reads it; what does not fit is null
            // and counted.
            let big = m.as_materialized_series().u64()?.iter().flatten().filter(|&v| v > i64::MAX as u64).count();
            if big > 0 {
                *out_of_range.entry(name.clone()).or_default() += big as u64;
            }
            m.cast_with_options(&DataType::Int64, polars::chunked_array::cast::CastOptions::NonStrict)?
        } else {
            m.clone()
        };
        columns.push(m.with_name(name.as_str().into()));
    }
    DataFrame::new(h, columns)
}

/// `table[code]` for each row's code: straight into one buffer, or (a null
/// code, which rows never have) through polars' gather, which keeps it null.
fn gather<T: PolarsNumericType>(table: Vec<T::Native>, codes: &IdxCa, name: &str) -> PolarsResult<ChunkedArray<T>> {
    if codes.null_count() == 0 {
        let v = codes.into_no_null_iter().map(|c| table[c as usize]).collect();
        return Ok(ChunkedArray::<T>::from_vec(name.into(), v));
    }
    ChunkedArray::<T>::from_vec(name.into(), table).take(codes)
}

/// The Parquet column of each field name (in the tables' order):
/// `field_` and the name, each character but ASCII letters, digits and `_`
/// replaced by `_`; a name that another field's takes already (ignoring
/// case, as Spark and Trino compare column names) gets `_2`, `_3`, ….
///
/// ```
/// # use ttlog_cli::catalog::{Catalog, OpenOptions};
/// # use ttlog_cli::{Input, tables::Tables};
/// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
/// let t = Tables::of(&Catalog::open(&[Input::File(p)], OpenOptions::default(), &|_| ()).unwrap());
/// let cols = ttlog_cli::export::field_columns(&t);
/// assert!(cols.iter().any(|(f, c)| &**f == "qty" && c == "field_qty"));
/// ```
pub fn field_columns(tables: &Tables) -> Vec<(std::sync::Arc<str>, String)> {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    tables
        .fields
        .keys()
        .map(|f| {
            let base: String = std::iter::once("field_".to_owned())
                .chain(
                    f.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_string() } else { "_".into() }),
                )
                .collect();
            let mut name = base.clone();
            let mut k = 1;
            while !taken.insert(name.to_ascii_lowercase()) {
                k += 1;
                name = format!("{base}_{k}");
            }
            (std::sync::Arc::clone(f), name)
        })
        .collect()
}

/// The keys `--partition-by` accepts.
pub const PARTITION_KEYS: [&str; 5] = ["service", "hostname", "pid", "level", "date"];

// ---- stats and group tables ----

const TOP: usize = 10;

/// Writes `--stats` as text.
///
/// # Errors
/// Errors of the writer.
pub fn write_stats_text(
    stats: &Stats,
    tables: &Tables,
    problems: &[SnapshotError],
    w: &mut dyn Write,
) -> io::Result<()> {
    let esc = |s: &str| ttlog_core::text::escape(s).into_owned();
    let mut o = String::new();
    // What crashed (or stopped) first: a panic, a signal, a recovery.
    let causes: Vec<_> = tables.sources.iter().filter_map(|s| s.cause().map(|c| (c, &s.path))).collect();
    for (i, (cause, path)) in causes.iter().enumerate() {
        let label = if i == 0 { "cause     " } else { "          " };
        let _ = writeln!(o, "{label} {}  ({})", esc(&cause.to_string()), esc(path));
    }
    if !causes.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(o, "events     {}", stats.events);
    if let Some((a, b)) = stats.span {
        let _ = write!(
            o,
            "span       {} .. {} ({:.3} s",
            format_rfc3339(a),
            format_rfc3339(b),
            crate::stats::span_seconds(a, b)
        );
        match stats.rate() {
            Some(r) => {
                let _ = writeln!(o, ", {r:.1} events/s)");
            }
            None => o.push_str(")\n"),
        }
    }
    o.push_str("levels    ");
    for (l, n) in &stats.levels {
        let _ = write!(o, " {l} {n}");
    }
    o.push('\n');
    let _ = writeln!(o, "\ntop targets ({} in all)", stats.targets.len());
    for (t, n) in stats.targets.iter().take(TOP) {
        let _ = writeln!(o, "  {n:>10}  {}", esc(t));
    }
    let _ = writeln!(o, "\ntop messages ({} in all)", stats.messages.len());
    for m in stats.messages.iter().take(TOP) {
        let _ = writeln!(o, "  {:>10}  {:<5} {}: {}", m.count, m.level.as_str(), esc(&m.target), esc(&m.message));
    }
    if !stats.limited.is_empty() {
        let suppressed: u64 = stats.limited.iter().map(|l| l.suppressed).fold(0, u64::saturating_add);
        let _ = writeln!(
            o,
            "\nrate-limited call sites ({} in all, {suppressed} events suppressed)\n  {:>10}  {:>10}  {:>9}",
            stats.limited.len(),
            "written",
            "suppressed",
            "limit"
        );
        for l in stats.limited.iter().take(TOP) {
            let limit = l.per_second.map_or_else(|| "lifted".to_owned(), |n| format!("{n}/s"));
            let _ = writeln!(
                o,
                "  {:>10}  {:>10}  {limit:>9}  {:<5} {}: {}",
                l.written,
                l.suppressed,
                l.level.as_str(),
                esc(&l.target),
                esc(&l.message)
            );
        }
    }
    write_pressure_text(tables, &stats.pressure, &mut o);
    let _ = writeln!(o, "\nthreads ({} in all)", stats.threads.len());
    for t in stats.threads.iter().take(TOP) {
        let th = tables.threads.iter().find(|x| x.source as usize == t.source && x.id == t.id);
        let label = th.map(|x| x.label()).unwrap_or_else(|| format!("#{}", t.id));
        let file = &tables.sources[t.source].path;
        let _ = writeln!(o, "  {:>10}  {} (id {}, {})", t.count, esc(&label), t.id, esc(file));
    }
    write_processes_text(tables, &stats.files, &mut o);
    o.push_str("\nfiles\n");
    for f in &stats.files {
        let s = &f.source;
        let c = &s.counters;
        let dropped = c.dropped();
        let _ = writeln!(o, "  {}", esc(&s.path));
        let _ = writeln!(
            o,
            "      service {}, host {}, pid {}, reason {}, taken {}, {}",
            esc(&s.service),
            esc(&s.hostname),
            s.pid,
            esc(&s.reason),
            format_rfc3339(s.created_at_ns),
            esc(&s.library)
        );
        let _ = writeln!(
            o,
            "      {} events shown, {} decoded, {} in the file's header, {} copies of newer snapshots' events skipped, {} in damaged chunks; logged {}, overwritten {}, dropped {}, unreadable {}{}",
            f.events,
            s.events_loaded,
            c.in_snapshot,
            s.duplicates,
            s.damaged,
            c.logged,
            c.overwritten,
            dropped,
            c.unreadable,
            inconsistent(c)
        );
    }
    if !problems.is_empty() {
        let _ = writeln!(o, "\nproblems ({}; the events of intact chunks are counted above)", problems.len());
        for p in problems.iter().take(crate::dataset::LISTED_PROBLEMS) {
            let _ = writeln!(o, "  {}", esc(&p.to_string()));
        }
        if problems.len() > crate::dataset::LISTED_PROBLEMS {
            let _ = writeln!(o, "  … and {} more", problems.len() - crate::dataset::LISTED_PROBLEMS);
        }
    }
    w.write_all(o.as_bytes())?;
    w.flush()
}

/// Call sites listed per thread in the ring-pressure section, by bytes and
/// again by records.
const RING_SITES_SHOWN: usize = 5;

/// The ring-pressure section of `--stats`: per thread (most overwritten
/// first) its ring, what it wrote and lost, the time it still held, and the
/// call sites that filled it.
fn write_pressure_text(tables: &Tables, pressure: &[crate::stats::RingPressure], o: &mut String) {
    use ttlog_core::memory::size_text;
    if pressure.is_empty() {
        return;
    }
    let esc = |s: &str| ttlog_core::text::escape(s).into_owned();
    let _ = writeln!(
        o,
        "\nring pressure (what filled each thread's ring, newest snapshot of each process; {} thread{})",
        pressure.len(),
        if pressure.len() == 1 { "" } else { "s" }
    );
    // Threads whose ring lost events or whose file says what filled it;
    // the others are counted at the end.
    let listed: Vec<&crate::stats::RingPressure> =
        pressure.iter().filter(|p| p.capacity.is_some() || p.overwritten > 0).take(TOP).collect();
    for p in listed.iter().copied() {
        let th = &tables.threads[p.thread as usize];
        let src = &tables.sources[th.source as usize];
        let _ = write!(
            o,
            "  {} (id {}; {} pid {}, {}): ",
            esc(&th.label()),
            th.id,
            esc(&src.service),
            src.pid,
            esc(&src.path)
        );
        if let Some(cap) = p.capacity {
            let _ = write!(o, "ring {}, ", size_text(cap));
        }
        let _ = write!(
            o,
            "written {}, overwritten {} ({:.1} %); kept {}",
            p.written,
            p.overwritten,
            100.0 * p.overwritten_share(),
            p.kept()
        );
        match (p.kept_bytes, p.window) {
            (Some(bytes), Some((a, b))) => {
                let _ = writeln!(
                    o,
                    " in {}, {} .. {} ({})",
                    size_text(bytes),
                    format_rfc3339(a),
                    format_rfc3339(b),
                    ttlog_core::time::span_text(a, b)
                );
            }
            (Some(bytes), None) => {
                let _ = writeln!(o, " in {}", size_text(bytes));
            }
            _ => {
                o.push_str("; what filled its ring is not in this file (writers of format 1.2 record it)\n");
                continue;
            }
        }
        let kept = p.kept().max(1) as f64;
        let bytes = p.kept_bytes.unwrap_or(0).max(1) as f64;
        let _ = writeln!(o, "      {:>10}  {:>6}  {:>10}  {:>6}  call site", "records", "share", "bytes", "share");
        let top = p.top_sites(RING_SITES_SHOWN);
        for site in &top {
            let (s, _) = tables.site(site.site);
            let i = &s.info;
            let _ = writeln!(
                o,
                "      {:>10}  {:>5.1} %  {:>10}  {:>5.1} %  {:<5} {}: {} ({}:{})",
                site.events,
                100.0 * site.events as f64 / kept,
                size_text(site.bytes),
                100.0 * site.bytes as f64 / bytes,
                i.level.as_str(),
                esc(&i.target),
                esc(&i.message),
                esc(&i.file),
                i.line
            );
        }
        if p.sites.len() > top.len() {
            let _ = writeln!(o, "      … and {} more call sites", p.sites.len() - top.len());
        }
    }
    let rest = pressure.len() - listed.len();
    if rest > 0 {
        let lost =
            pressure.iter().filter(|p| p.overwritten > 0).count() - listed.iter().filter(|p| p.overwritten > 0).count();
        let _ = writeln!(o, "  … and {rest} more threads ({lost} of them overwrote events)");
    }
}

/// The `processes` section of `--stats`: per process, its snapshots, the
/// events shown once each, the copies skipped, and the counters of its
/// newest snapshot (counters are never summed over snapshots of one process:
/// each holds the process's totals so far).
/// A note after a file's counters when they cannot be true (see
/// [`Counters::consistent`](ttlog_core::snapshot::Counters::consistent)):
/// shown as they are, saturated sums, never wrapped ones.
fn inconsistent(c: &ttlog_core::snapshot::Counters) -> &'static str {
    if c.consistent() { "" } else { " (inconsistent: the counters' parts add up to more than logged)" }
}

fn write_processes_text(tables: &Tables, files: &[crate::stats::FileStats], o: &mut String) {
    let esc = |s: &str| ttlog_core::text::escape(s).into_owned();
    let copies: u64 = files.iter().map(|f| f.source.duplicates).sum();
    let _ = writeln!(
        o,
        "\nprocesses ({} in all; {copies} copies of events skipped{})",
        tables.processes.len(),
        if tables.keeps_duplicates { ", --keep-duplicates: none skipped" } else { "" }
    );
    for p in tables.processes.iter().take(TOP) {
        let newest = &files[p.sources[0]].source;
        let shown: u64 = p.sources.iter().map(|&s| files[s].events).sum();
        let skipped: u64 = p.sources.iter().map(|&s| files[s].source.duplicates).sum();
        let c = &newest.counters;
        let _ = writeln!(
            o,
            "  {:>10}  {} on {}, pid {}{}: {} snapshot{}, {skipped} copies skipped; newest {} ({}): logged {}, overwritten {}, dropped {}{}",
            shown,
            esc(&newest.service),
            esc(&newest.hostname),
            newest.pid,
            match &p.identity {
                crate::catalog::Identity::Instance(i) => format!(", instance {}", esc(&i[..i.len().min(8)])),
                _ => String::new(),
            },
            p.sources.len(),
            if p.sources.len() == 1 { "" } else { "s" },
            esc(&newest.path),
            esc(&newest.reason),
            c.logged,
            c.overwritten,
            c.dropped(),
            inconsistent(c)
        );
    }
    for d in &tables.differing {
        let _ = writeln!(
            o,
            "  differing copies: {} and {} hold different events for thread {} at sequence {}: kept the newer file's, {} events of the other skipped",
            esc(&tables.sources[d.other].path),
            esc(&tables.sources[d.kept].path),
            d.thread,
            d.seq,
            d.events
        );
    }
}

fn level_counts_json(stats: &Stats) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (l, n) in &stats.levels {
        m.insert(l.as_str().into(), (*n).into());
    }
    m.into()
}

/// `--stats` as one JSON object (shape in the README).
pub fn stats_json(stats: &Stats, tables: &Tables, problems: &[SnapshotError]) -> serde_json::Value {
    use serde_json::json;
    let (first, last) = match stats.span {
        Some((a, b)) => (json!(format_rfc3339(a)), json!(format_rfc3339(b))),
        None => (json!(null), json!(null)),
    };
    // What crashed (or stopped): a panic, a signal, a recovery, per file.
    let causes: Vec<serde_json::Value> = tables
        .sources
        .iter()
        .filter_map(|s| {
            s.cause().map(|c| match c {
                crate::tables::Cause::Panic { message, location, thread } => json!({
                    "file": s.path, "reason": "panic", "message": message, "location": location, "thread": thread,
                }),
                crate::tables::Cause::Signal(name) => json!({"file": s.path, "reason": s.reason, "signal": name}),
                crate::tables::Cause::Recovered { last_event_ns } => json!({
                    "file": s.path, "reason": "recovered",
                    "last_event": last_event_ns.map(ttlog_core::time::format_rfc3339),
                }),
            })
        })
        .collect();
    json!({
        "causes": causes,
        "events": stats.events,
        "first": first,
        "last": last,
        "span_seconds": stats.span_seconds(),
        "events_per_second": stats.rate(),
        "levels": level_counts_json(stats),
        "targets": stats.targets.iter().map(|(t, n)| json!({"target": &**t, "count": n})).collect::<Vec<_>>(),
        "messages": stats.messages.iter().map(|m| json!({
            "level": m.level.as_str(), "target": &*m.target, "message": &*m.message, "count": m.count
        })).collect::<Vec<_>>(),
        "rate_limited": stats.limited.iter().map(|l| json!({
            "level": l.level.as_str(), "target": &*l.target, "message": &*l.message,
            "limit_per_second": l.per_second, "written": l.written, "suppressed": l.suppressed,
        })).collect::<Vec<_>>(),
        "ring_pressure": stats.pressure.iter().map(|p| {
            let th = &tables.threads[p.thread as usize];
            let src = &tables.sources[th.source as usize];
            json!({
                "thread": th.label(),
                "thread_id": th.id,
                "service": &*src.service,
                "pid": src.pid,
                "file": src.path,
                "capacity_bytes": p.capacity,
                "written": p.written,
                "overwritten": p.overwritten,
                "kept": p.kept(),
                "kept_bytes": p.kept_bytes,
                "oldest": p.window.map(|w| format_rfc3339(w.0)),
                "newest": p.window.map(|w| format_rfc3339(w.1)),
                "window_seconds": p.window.map(|(a, b)| crate::stats::span_seconds(a, b)),
                "sites": p.sites.iter().map(|site| {
                    let i = &tables.site(site.site).0.info;
                    json!({
                        "level": i.level.as_str(), "target": &*i.target, "message": &*i.message,
                        "file": &*i.file, "line": i.line, "events": site.events, "bytes": site.bytes,
                    })
                }).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
        "threads": stats.threads.iter().map(|t| json!({
            "thread": t.name.as_deref().map(str::to_owned).unwrap_or_else(|| format!("#{}", t.id)),
            "id": t.id,
            "file": tables.sources[t.source].path,
            "count": t.count,
        })).collect::<Vec<_>>(),
        "duplicates_skipped": stats.files.iter().map(|f| f.source.duplicates).sum::<u64>(),
        "processes": tables.processes.iter().map(|p| {
            let newest = &stats.files[p.sources[0]].source;
            let c = &newest.counters;
            json!({
                "service": &*newest.service,
                "hostname": &*newest.hostname,
                "pid": newest.pid,
                "instance": match &p.identity {
                    crate::catalog::Identity::Instance(i) => json!(i),
                    _ => json!(null),
                },
                "files": p.sources.iter().map(|&s| &tables.sources[s].path).collect::<Vec<_>>(),
                "events": p.sources.iter().map(|&s| stats.files[s].events).sum::<u64>(),
                "duplicates_skipped": p.sources.iter().map(|&s| stats.files[s].source.duplicates).sum::<u64>(),
                "logged": c.logged,
                "overwritten": c.overwritten,
                "dropped": c.dropped(),
                "counters_consistent": c.consistent(),
            })
        }).collect::<Vec<_>>(),
        "differing_copies": tables.differing.iter().map(|d| json!({
            "kept": tables.sources[d.kept].path,
            "other": tables.sources[d.other].path,
            "thread": d.thread,
            "seq": d.seq,
            "events": d.events,
        })).collect::<Vec<_>>(),
        "files": stats.files.iter().map(|f| {
            let s = &f.source;
            let c = &s.counters;
            json!({
                "path": s.path,
                "service": &*s.service,
                "hostname": &*s.hostname,
                "pid": s.pid,
                "reason": s.reason,
                "created_at": format_rfc3339(s.created_at_ns),
                "library": s.library,
                "events": f.events,
                "events_decoded": s.events_loaded,
                "duplicates_skipped": s.duplicates,
                "events_damaged": s.damaged,
                "counters": {
                    "logged": c.logged,
                    "in_snapshot": c.in_snapshot,
                    "unreadable": c.unreadable,
                    "overwritten": c.overwritten,
                    "dropped_too_large": c.dropped_too_large,
                    "dropped_reentrant": c.dropped_reentrant,
                    "dropped_thread_exit": c.dropped_thread_exit,
                    "dropped_callsite_overflow": c.dropped_callsite_overflow,
                    "dropped_not_installed": c.dropped_not_installed,
                    "truncated": c.truncated,
                    "consistent": c.consistent(),
                },
                "problems": s.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
        "problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    })
}

/// A float JSON has no number for, as [`ttlog_core::json`] writes it.
fn non_finite_json(x: f64) -> serde_json::Value {
    let mut text = String::new();
    ttlog_core::json::push_value(&mut text, ttlog_core::ValueRef::F64(x));
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

fn key_json(v: &KeyValue) -> serde_json::Value {
    match v {
        KeyValue::Null => serde_json::Value::Null,
        KeyValue::Level(l) => l.as_str().into(),
        KeyValue::Str(s) => (&**s).into(),
        KeyValue::U64(x) => (*x).into(),
        KeyValue::I64(x) => (*x).into(),
        // As every JSON value is written (ttlog_core::json): NaN and
        // infinities as the strings "NaN", "inf", "-inf".
        KeyValue::F64(x) => serde_json::Number::from_f64(*x).map_or_else(|| non_finite_json(*x), Into::into),
        KeyValue::Bool(b) => (*b).into(),
        KeyValue::Time(t) => format_rfc3339(*t).into(),
    }
}

/// A group table as a JSON array of `{"key": …, "count": n, "<agg>": x}`
/// objects; a composite key is an object of its key names.
pub fn groups_json(t: &GroupTable) -> Vec<serde_json::Value> {
    t.rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            let key = if r.key.len() == 1 {
                key_json(&r.key[0])
            } else {
                t.keys
                    .iter()
                    .zip(&r.key)
                    .map(|(k, v)| (k.clone(), key_json(v)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            o.insert("key".into(), key);
            o.insert("count".into(), r.count.into());
            for (name, v) in t.aggs.iter().zip(&r.values) {
                let v = v.and_then(serde_json::Number::from_f64).map_or(serde_json::Value::Null, Into::into);
                o.insert(name.clone(), v);
            }
            serde_json::Value::Object(o)
        })
        .collect()
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// Writes a group table as aligned text (keys, count, aggregates).
///
/// # Errors
/// Errors of the writer.
pub fn write_groups_text(t: &GroupTable, w: &mut dyn Write) -> io::Result<()> {
    let mut header: Vec<String> = t.keys.clone();
    header.push("count".into());
    header.extend(t.aggs.iter().cloned());
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(t.rows.len());
    for r in &t.rows {
        let mut row: Vec<String> =
            r.key.iter().map(|k| ttlog_core::text::escape(&k.to_string()).into_owned()).collect();
        row.push(r.count.to_string());
        row.extend(r.values.iter().map(|v| fmt_num(*v)));
        cells.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| cells.iter().map(|r| r[c].chars().count()).chain([header[c].len()]).max().unwrap_or(0))
        .collect();
    let nkeys = t.keys.len();
    let mut o = String::new();
    let line = |o: &mut String, row: &[String]| {
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                o.push_str("  ");
            }
            let pad = widths[c] - cell.chars().count();
            if c < nkeys {
                o.push_str(cell);
                if c + 1 < row.len() {
                    o.push_str(&" ".repeat(pad));
                }
            } else {
                o.push_str(&" ".repeat(pad));
                o.push_str(cell);
            }
        }
        o.push('\n');
    };
    line(&mut o, &header);
    for r in &cells {
        line(&mut o, r);
    }
    w.write_all(o.as_bytes())?;
    w.flush()
}

/// Writes a group table as CSV with a header row.
///
/// # Errors
/// Errors of the writer.
pub fn write_groups_csv(t: &GroupTable, w: &mut dyn Write, formula_guard: bool) -> io::Result<()> {
    let mut o = String::new();
    let header: Vec<&str> =
        t.keys.iter().map(String::as_str).chain(["count"]).chain(t.aggs.iter().map(String::as_str)).collect();
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        push_csv(&mut o, h, formula_guard);
    }
    o.push('\n');
    for r in &t.rows {
        for k in &r.key {
            push_csv(&mut o, &k.to_string(), formula_guard);
            o.push(',');
        }
        let _ = write!(o, "{}", r.count);
        for v in &r.values {
            o.push(',');
            if let Some(v) = v {
                let _ = write!(o, "{v}");
            }
        }
        o.push('\n');
    }
    w.write_all(o.as_bytes())?;
    w.flush()
}

// ---- streamed outputs ----

/// The line formats of [`LineSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Aligned text, coloured or not.
    Text {
        /// ANSI colours.
        color: bool,
    },
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header row, every cell as [`push_csv`] writes it.
    Csv {
        /// `--csv-safe`: the formula guard of [`push_csv`].
        formula_guard: bool,
    },
}

/// Writes streamed events as lines (text, JSON, NDJSON, CSV): each batch is
/// formatted in parallel, in slices, then written in order.
pub struct LineSink<'w> {
    w: &'w mut dyn Write,
    format: Lines,
    palette: Palette,
    width: usize,
    many_sources: bool,
    started: bool,
    written: u64,
}

impl std::fmt::Debug for LineSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSink").field("format", &self.format).field("written", &self.written).finish()
    }
}

impl<'w> LineSink<'w> {
    /// A sink writing `format` to `w`.
    pub fn new(w: &'w mut dyn Write, format: Lines, tables: &Tables) -> LineSink<'w> {
        let color = matches!(format, Lines::Text { color: true });
        LineSink {
            w,
            format,
            palette: Palette::new(color),
            width: target_width(tables),
            many_sources: tables.sources.len() > 1,
            started: false,
            written: 0,
        }
    }
}

/// What a [`LineSink`]'s worker threads need to format a line.
#[derive(Debug, Clone, Copy)]
struct LineFormat {
    format: Lines,
    palette: Palette,
    width: usize,
    many_sources: bool,
}

impl LineFormat {
    fn push(&self, out: &mut String, scratch: &mut String, e: &EventRef<'_>, first: bool) {
        match self.format {
            Lines::Text { .. } => push_text_line(out, e, &self.palette, self.width, self.many_sources),
            Lines::Json => {
                out.push_str(if first { "\n" } else { ",\n" });
                push_event_json(out, e);
            }
            Lines::Ndjson => {
                push_event_json(out, e);
                out.push('\n');
            }
            Lines::Csv { formula_guard } => push_event_csv(out, scratch, e, formula_guard),
        }
    }
}

impl LineSink<'_> {
    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            match self.format {
                Lines::Json => self.w.write_all(b"[")?,
                Lines::Csv { .. } => writeln!(self.w, "{CSV_HEADER}")?,
                _ => {}
            }
        }
        Ok(())
    }
}

impl crate::stream::Sink for LineSink<'_> {
    fn batch(&mut self, tables: &Tables, rows: &[crate::stream::RowRef<'_>]) -> io::Result<()> {
        use rayon::prelude::*;
        self.start()?;
        let first = self.written == 0;
        const SLICE: usize = 4096;
        let fmt = LineFormat {
            format: self.format,
            palette: self.palette,
            width: self.width,
            many_sources: self.many_sources,
        };
        let this = &fmt;
        let texts: Vec<String> = rows
            .par_chunks(SLICE)
            .enumerate()
            .map(|(k, part)| {
                let mut out = String::with_capacity(part.len() * 160);
                let mut scratch = String::new();
                for (i, &(d, r)) in part.iter().enumerate() {
                    let e = crate::stream::event_ref(tables, d, r);
                    this.push(&mut out, &mut scratch, &e, first && k == 0 && i == 0);
                }
                out
            })
            .collect();
        for t in texts {
            self.w.write_all(t.as_bytes())?;
        }
        self.written += rows.len() as u64;
        Ok(())
    }

    fn finish(&mut self, _: &Tables) -> io::Result<()> {
        self.start()?;
        if self.format == Lines::Json {
            self.w.write_all(if self.written == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.w.flush()
    }
}

/// Streamed rows resolved against the tables, one column per part: each
/// row's time, call-site and thread codes, and where its field values are
/// (the slot of its chunk's call site, and its rank among that call site's
/// events in the chunk).
pub(crate) struct Resolved<'d> {
    /// The distinct chunks of the rows.
    chunks: Vec<&'d crate::stream::Decoded>,
    /// Where each chunk's call sites start in one flat table of (chunk,
    /// call site) slots.
    base: Vec<u32>,
    /// The number of slots.
    slots: u32,
    pub(crate) ts: Vec<i64>,
    pub(crate) cs: Vec<u32>,
    pub(crate) th: Vec<u32>,
    slot: Vec<u32>,
    rank: Vec<u32>,
}

impl<'d> Resolved<'d> {
    /// Resolves `rows` (in parallel, a range of rows at a time).
    pub(crate) fn new(tables: &Tables, rows: &'d [(Arc<crate::stream::Decoded>, u32)]) -> Resolved<'d> {
        use crate::stream::Decoded;
        use rayon::prelude::*;
        let n = rows.len();
        // Each row's chunk. Rows of a merge of many processes change chunk
        // at almost every row, among a few dozen chunks: a direct-mapped
        // cache by address answers before the map (hashing every row cost
        // more than the rest of the row's resolving).
        let mut chunks: Vec<&Decoded> = Vec::new();
        let mut index: std::collections::HashMap<*const Decoded, u32> = std::collections::HashMap::new();
        let mut chunk_of = Vec::with_capacity(n);
        const WAYS: usize = 256;
        let mut cache: [(*const Decoded, u32); WAYS] = [(std::ptr::null(), 0); WAYS];
        for (d, _) in rows {
            let p: *const Decoded = &**d;
            // Decoded values are far larger than 64 bytes apart.
            let way = &mut cache[(p as usize >> 6) % WAYS];
            if way.0 != p {
                let k = *index.entry(p).or_insert_with(|| {
                    chunks.push(d);
                    chunks.len() as u32 - 1
                });
                *way = (p, k);
            }
            chunk_of.push(way.1);
        }
        let mut base = Vec::with_capacity(chunks.len());
        let mut slots = 0u32;
        for d in &chunks {
            base.push(slots);
            slots += tables.sources_sites(d.s) + 1;
        }
        let (mut ts, mut cs, mut th, mut slot, mut rank) =
            (vec![0i64; n], vec![0u32; n], vec![0u32; n], vec![0u32; n], vec![0u32; n]);
        const RANGE: usize = 1 << 14;
        ts.par_chunks_mut(RANGE)
            .zip(cs.par_chunks_mut(RANGE))
            .zip(th.par_chunks_mut(RANGE))
            .zip(slot.par_chunks_mut(RANGE))
            .zip(rank.par_chunks_mut(RANGE))
            .enumerate()
            .for_each(|(k, ((((ts, cs), th), slot), rank))| {
                let start = k * RANGE;
                for j in 0..ts.len() {
                    let (d, r) = &rows[start + j];
                    let r = *r as usize;
                    let site = d.cols.callsites[r];
                    ts[j] = d.cols.timestamps[r];
                    cs[j] = tables.site_code(d.s, site);
                    th[j] = tables.thread_code(d.s, d.cols.threads[r]);
                    slot[j] = base[chunk_of[start + j] as usize] + site;
                    rank[j] = d.cols.ranks[r];
                }
            });
        Resolved { chunks, base, slots, ts, cs, th, slot, rank }
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// Per slot, the values of field `info` of its call site in its chunk
    /// (`None`: the call site has no such field).
    pub(crate) fn field_slots(&self, tables: &Tables, info: &crate::tables::FieldInfo) -> Vec<Option<&'d Values>> {
        let mut by_slot: Vec<Option<&Values>> = Vec::with_capacity(self.slots as usize);
        for d in &self.chunks {
            let of_chunk = tables.columns_of(info, d.s, &d.cols);
            debug_assert_eq!(of_chunk.len(), tables.sources_sites(d.s) as usize + 1);
            by_slot.extend(of_chunk);
        }
        by_slot
    }

    /// Row `i`'s values of a field (`by_slot` of [`Resolved::field_slots`])
    /// and its index there.
    #[inline]
    pub(crate) fn field_value<'v>(&self, by_slot: &[Option<&'v Values>], i: usize) -> Option<(&'v Values, usize)> {
        Some((by_slot[self.slot[i] as usize]?, self.rank[i] as usize))
    }

    /// The rows at `at`, in that order.
    pub(crate) fn select(&self, at: &[u32]) -> Resolved<'d> {
        fn pick<T: Copy>(v: &[T], at: &[u32]) -> Vec<T> {
            at.iter().map(|&i| v[i as usize]).collect()
        }
        Resolved {
            chunks: self.chunks.clone(),
            base: self.base.clone(),
            slots: self.slots,
            ts: pick(&self.ts, at),
            cs: pick(&self.cs, at),
            th: pick(&self.th, at),
            slot: pick(&self.slot, at),
            rank: pick(&self.rank, at),
        }
    }
}

/// The event frame (as [`event_frame`]) of streamed rows, its columns
/// built in parallel.
///
/// # Errors
/// Errors of polars.
pub(crate) fn rows_frame(
    tables: &Tables,
    rows: &[(Arc<crate::stream::Decoded>, u32)],
    out_of_range: &mut OutOfRange,
) -> PolarsResult<DataFrame> {
    use rayon::prelude::*;
    let resolved = Resolved::new(tables, rows);
    let n = resolved.len();
    let infos: Vec<&crate::tables::FieldInfo> = tables.fields.values().collect();
    let members: Vec<Column> = infos
        .par_iter()
        .map(|info| {
            let by_slot = resolved.field_slots(tables, info);
            let value = |i: usize| resolved.field_value(&by_slot, i);
            let name: PlSmallStr = info.name.as_ref().into();
            let series = match info.dtype {
                DataType::Boolean => (0..n)
                    .map(|i| value(i).and_then(|(v, r)| if let Values::Bool(b) = v { b.get(r).copied() } else { None }))
                    .collect::<BooleanChunked>()
                    .with_name(name)
                    .into_series(),
                DataType::UInt64 => numeric_of::<UInt64Type>(name, n, |i| {
                    value(i).and_then(|(v, r)| if let Values::U64(b) = v { b.get(r).copied() } else { None })
                }),
                DataType::Int64 => numeric_of::<Int64Type>(name, n, |i| {
                    value(i).and_then(|(v, r)| if let Values::I64(b) = v { b.get(r).copied() } else { None })
                }),
                DataType::Float32 => numeric_of::<Float32Type>(name, n, |i| {
                    value(i).and_then(|(v, r)| if let Values::F32(b) = v { b.get(r).copied() } else { None })
                }),
                DataType::Float64 => {
                    numeric_of::<Float64Type>(name, n, |i| value(i).and_then(|(v, r)| crate::tables::as_f64(v, r)))
                }
                _ => {
                    let mut b = StringChunkedBuilder::new(name, n);
                    let mut buf = String::new();
                    for i in 0..n {
                        match value(i) {
                            Some((Values::Str(s), r)) if r < s.len() => b.append_value(s.get(r)),
                            Some((v, r)) => match v.get(r) {
                                Some(val) => {
                                    buf.clear();
                                    let _ = write!(buf, "{val}");
                                    b.append_value(&buf);
                                }
                                None => b.append_null(),
                            },
                            None => b.append_null(),
                        }
                    }
                    b.finish().into_series()
                }
            };
            series.into_column()
        })
        .collect();
    let Resolved { ts, cs, th, .. } = resolved;
    frame_of(
        tables,
        Int64Chunked::from_vec("ts".into(), ts),
        &IdxCa::from_vec("cs".into(), cs),
        &IdxCa::from_vec("th".into(), th),
        &members,
        out_of_range,
    )
}

/// A numeric column of `n` values, built into one buffer of values and one
/// of validity.
fn numeric_of<T: PolarsNumericType>(name: PlSmallStr, n: usize, get: impl Fn(usize) -> Option<T::Native>) -> Series {
    let mut values = Vec::with_capacity(n);
    let mut valid = Vec::with_capacity(n);
    for i in 0..n {
        let v = get(i);
        valid.push(v.is_some());
        values.push(v.unwrap_or_default());
    }
    let validity = (!valid.iter().all(|&b| b)).then(|| valid.into_iter().collect());
    ChunkedArray::<T>::from_vec_validity(name, values, validity).into_series()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, OpenOptions};
    use std::path::Path;

    fn tables() -> Tables {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
        Tables::of(&Catalog::open(&[crate::Input::File(p)], OpenOptions::default(), &|_| ()).unwrap())
    }

    #[test]
    fn the_schema_every_engine_reads() {
        let t = tables();
        let ts = Int64Chunked::from_vec("ts".into(), vec![-1_500, 1_700_000_000_123_456_789]);
        let codes = IdxCa::from_vec("c".into(), vec![0, 0]);
        // One column per field, all null but `qty` (a u64 field): one value
        // beyond i64::MAX, one that fits.
        let members: Vec<Column> = t
            .fields
            .values()
            .map(|f| {
                if &*f.name == "qty" {
                    UInt64Chunked::from_slice("qty".into(), &[u64::MAX, 5]).into_column()
                } else {
                    Column::full_null(f.name.as_ref().into(), 2, &f.dtype)
                }
            })
            .collect();
        let mut out = OutOfRange::new();
        let df = frame_of(&t, ts, &codes, &codes, &members, &mut out).unwrap();
        assert_eq!(out.into_iter().collect::<Vec<_>>(), [("field_qty".to_owned(), 1)]);
        let qty = df.column("field_qty").unwrap().i64().unwrap();
        assert_eq!(qty.get(0), None);
        assert_eq!(qty.get(1), Some(5));
        // Microseconds rounded down (also before 1970), nanoseconds exact.
        let us = df.column("timestamp").unwrap();
        assert_eq!(us.dtype(), &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
        let us = us.cast(&DataType::Int64).unwrap();
        assert_eq!(us.i64().unwrap().to_vec(), [Some(-2), Some(1_700_000_000_123_456)]);
        let ns = df.column("timestamp_ns").unwrap().i64().unwrap();
        assert_eq!(ns.to_vec(), [Some(-1_500), Some(1_700_000_000_123_456_789)]);
        for c in ["line", "pid"] {
            assert_eq!(df.column(c).unwrap().dtype(), &DataType::Int64, "{c}");
        }
    }

    #[test]
    fn group_keys_are_json_values_as_fields_are() {
        // NaN and infinities as ttlog_core::json writes every field value.
        assert_eq!(key_json(&KeyValue::F64(f64::NAN)), serde_json::json!("NaN"));
        assert_eq!(key_json(&KeyValue::F64(f64::NEG_INFINITY)), serde_json::json!("-inf"));
        assert_eq!(key_json(&KeyValue::F64(0.5)), serde_json::json!(0.5));
    }
}
