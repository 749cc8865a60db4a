//! `--sql`: polars SQL over the table `events`.
//!
//! `events` has the columns of the Parquet export (`docs/PARQUET.md`):
//! `timestamp`, `timestamp_ns`, `level`, …, `pid`, then `field_<name>`. It
//! is a polars anonymous scan over the catalog: polars pushes the columns
//! the query uses down into the scan, which streams the events of the
//! inputs (each once, filtered by `--filter`, `--since`, `--until`) and
//! decodes the fields only of the field columns asked for. polars then
//! runs the query on those columns.
//!
//! ```
//! use ttlog_cli::catalog::{Catalog, OpenOptions};
//! use ttlog_cli::sql::Events;
//! let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
//! let catalog = Catalog::open(&[ttlog_cli::Input::File(p)], OpenOptions::default(), &|_| ()).unwrap();
//! let events = Events::new(catalog, Default::default());
//! let df = events.query("SELECT target, count(*) AS n FROM events GROUP BY target ORDER BY n DESC, target").unwrap();
//! assert_eq!(df.column("n").unwrap().get(0).unwrap().try_extract::<u32>().unwrap(), 22);
//! ```

use crate::catalog::Catalog;
use crate::export::{OutOfRange, field_columns, rows_frame};
use crate::stream::{Decoded, EventQuestion, Sink, Stream, Streamed};
use crate::tables::Tables;
use polars::prelude::*;
use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};

/// Rows gathered before they become a frame of the asked columns.
const BATCH: usize = 1 << 16;

/// The table `events` over a catalog, for SQL.
pub struct Events {
    scan: Arc<Scan>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("schema", &self.scan.schema).finish()
    }
}

/// Which events of the catalog the table holds.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Events for which this filter holds.
    pub filter: crate::Filter,
    /// At or after (UTC ns).
    pub since: Option<i64>,
    /// At or before (UTC ns).
    pub until: Option<i64>,
    /// A damaged chunk is an error, not a warning.
    pub strict: bool,
}

/// What the scans of one query did.
#[derive(Debug, Default)]
pub struct Scanned {
    /// The stream of each scan (its problems: damaged chunks).
    pub streamed: Vec<Streamed>,
    /// The columns each scan produced.
    pub columns: Vec<Vec<String>>,
    /// Values written as null because their column cannot hold them.
    pub out_of_range: OutOfRange,
}

struct Scan {
    catalog: Catalog,
    tables: Tables,
    selection: Selection,
    schema: SchemaRef,
    /// Column name of each field name.
    field_of_column: std::collections::HashMap<String, Arc<str>>,
    scanned: Mutex<Scanned>,
    /// Called with the number of events of each chunk decoded.
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Events {
    /// The table of the events of `catalog` that `selection` selects.
    pub fn new(catalog: Catalog, selection: Selection) -> Events {
        let tables = Tables::of(&catalog);
        let schema = rows_frame(&tables, &[], &mut OutOfRange::new())
            .map(|df| df.schema().clone())
            .unwrap_or_else(|_| Arc::new(Schema::default()));
        let field_of_column = field_columns(&tables).into_iter().map(|(f, c)| (c, f)).collect();
        Events {
            scan: Arc::new(Scan {
                catalog,
                tables,
                selection,
                schema,
                field_of_column,
                scanned: Mutex::new(Scanned::default()),
                progress: None,
            }),
        }
    }

    /// Calls `progress` with the number of events of each chunk that a
    /// scan decodes (for a progress bar; a scan reads every selected chunk
    /// once).
    pub fn on_progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Events {
        if let Some(scan) = Arc::get_mut(&mut self.scan) {
            scan.progress = Some(Arc::new(progress));
        }
        self
    }

    /// The tables of the inputs.
    pub fn tables(&self) -> &Tables {
        &self.scan.tables
    }

    /// The catalog of the inputs.
    pub fn catalog(&self) -> &Catalog {
        &self.scan.catalog
    }

    /// Runs `sql` over the table `events`.
    ///
    /// # Errors
    /// The query does not parse or does not fit the table (polars' message
    /// says what and where), or reading the inputs failed.
    pub fn query(&self, sql: &str) -> PolarsResult<DataFrame> {
        let events = LazyFrame::anonymous_scan(
            self.scan.clone(),
            ScanArgsAnonymous { schema: Some(self.scan.schema.clone()), name: "events", ..Default::default() },
        )?;
        let mut ctx = polars::sql::SQLContext::new();
        ctx.register("events", events);
        ctx.execute(sql)?.collect()
    }

    /// What the scans of the queries so far did.
    pub fn scanned(&self) -> std::sync::MutexGuard<'_, Scanned> {
        self.scan.scanned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl polars::prelude::AnonymousScan for Scan {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn schema(&self, _infer_schema_length: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn allows_projection_pushdown(&self) -> bool {
        true
    }

    fn scan(&self, args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let columns: Vec<String> = match &args.with_columns {
            Some(c) => c.iter().map(|c| c.to_string()).collect(),
            None => self.schema.iter_names().map(|c| c.to_string()).collect(),
        };
        let fields: BTreeSet<Arc<str>> =
            columns.iter().filter_map(|c| self.field_of_column.get(c.as_str()).cloned()).collect();
        let s = &self.selection;
        let question = EventQuestion {
            filter: s.filter.clone(),
            since: s.since,
            until: s.until,
            reverse: false,
            limit: args.n_rows,
            tail: None,
            fields: Some(fields),
        };
        let stream = Stream::new(&self.catalog, question).map_err(|e| polars_err!(ComputeError: "{e}"))?;
        let mut sink = Frames {
            columns: columns.clone(),
            pending: Vec::new(),
            parts: Vec::new(),
            out: OutOfRange::new(),
            bytes: 0,
            rows: 0,
        };
        let progress = |n: u64| {
            if let Some(p) = &self.progress {
                p(n);
            }
        };
        let streamed = stream.run(&mut sink, s.strict, &progress).map_err(|e| polars_err!(ComputeError: "{e}"))?;
        let mut df = match sink.parts.len() {
            0 => DataFrame::empty_with_schema(&self.schema.try_project(columns.iter().map(String::as_str))?),
            _ => {
                let mut parts = sink.parts.into_iter();
                let mut df = parts.next().expect("one part");
                for p in parts {
                    df.vstack_mut_owned(p)?;
                }
                df
            }
        };
        df.rechunk_mut();
        let mut scanned = self.scanned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        scanned.streamed.push(streamed);
        scanned.columns.push(columns);
        for (c, n) in sink.out {
            *scanned.out_of_range.entry(c).or_default() += n;
        }
        Ok(df)
    }
}

/// A sink that builds frames of some columns of the rows it is given.
struct Frames {
    columns: Vec<String>,
    pending: Vec<(Arc<Decoded>, u32)>,
    parts: Vec<DataFrame>,
    out: OutOfRange,
    /// The parts' size and rows: the table polars queries is held whole,
    /// so it is checked against the memory limit as it grows.
    bytes: u64,
    rows: u64,
}

impl Frames {
    fn flush(&mut self, tables: &Tables) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let df = rows_frame(tables, &rows, &mut self.out)
            .and_then(|df| df.select(self.columns.iter().map(String::as_str)))
            .map_err(io::Error::other)?;
        self.bytes = self.bytes.saturating_add(df.estimated_size() as u64);
        self.rows += df.height() as u64;
        if let Err(over) = ttlog_core::memory::check(self.bytes) {
            return Err(io::Error::other(format!(
                "the events table of the query's columns ({}) needs more than {} at {} rows: more than the memory limit of {}",
                self.columns.join(", "),
                ttlog_core::memory::size_text(self.bytes),
                self.rows,
                ttlog_core::memory::size_text(over.limit)
            )));
        }
        self.parts.push(df);
        Ok(())
    }
}

impl Sink for Frames {
    fn batch(&mut self, tables: &Tables, rows: &[crate::stream::RowRef<'_>]) -> io::Result<()> {
        self.pending.extend(rows.iter().map(|&(d, r)| (Arc::clone(d), r)));
        if self.pending.len() >= BATCH {
            self.flush(tables)?;
        }
        Ok(())
    }

    fn finish(&mut self, tables: &Tables) -> io::Result<()> {
        self.flush(tables)
    }
}

/// One value of an answer, ready to print.
enum Cell {
    Null,
    Bool(bool),
    I(i64),
    U(u64),
    F(f64),
    S(String),
}

/// The cells of each column of `df`.
fn cells(df: &DataFrame) -> PolarsResult<Vec<Vec<Cell>>> {
    let mut out = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let col: Vec<Cell> = match s.dtype() {
            DataType::Boolean => s.bool()?.iter().map(|v| v.map_or(Cell::Null, Cell::Bool)).collect(),
            d if d.is_signed_integer() => {
                s.cast(&DataType::Int64)?.i64()?.iter().map(|v| v.map_or(Cell::Null, Cell::I)).collect()
            }
            d if d.is_unsigned_integer() => {
                s.cast(&DataType::UInt64)?.u64()?.iter().map(|v| v.map_or(Cell::Null, Cell::U)).collect()
            }
            d if d.is_float() => {
                s.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.map_or(Cell::Null, Cell::F)).collect()
            }
            DataType::Datetime(unit, _) => {
                // RFC 3339 with the unit's digits.
                let (per_ns, cut) = match unit {
                    TimeUnit::Nanoseconds => (1, 0),
                    TimeUnit::Microseconds => (1_000, 3),
                    TimeUnit::Milliseconds => (1_000_000, 6),
                };
                let text = |ns: i64| {
                    let mut t = ttlog_core::time::format_rfc3339(ns);
                    if let Some(dot) = t.rfind('.')
                        && t.len() == dot + 11
                    {
                        t.replace_range(dot + 10 - cut..dot + 10, "");
                    }
                    t
                };
                s.cast(&DataType::Int64)?
                    .i64()?
                    .iter()
                    .map(|v| {
                        v.map_or(Cell::Null, |v| match v.checked_mul(per_ns) {
                            Some(ns) => Cell::S(text(ns)),
                            None => Cell::I(v),
                        })
                    })
                    .collect()
            }
            _ => match s.cast(&DataType::String) {
                Ok(t) => t.str()?.iter().map(|v| v.map_or(Cell::Null, |v| Cell::S(v.to_owned()))).collect(),
                Err(_) => (0..s.len())
                    .map(|i| match s.get(i) {
                        Ok(AnyValue::Null) | Err(_) => Cell::Null,
                        Ok(v) => Cell::S(v.to_string()),
                    })
                    .collect(),
            },
        };
        out.push(col);
    }
    Ok(out)
}

impl Cell {
    /// As text (null empty), control characters escaped.
    fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::I(v) => v.to_string(),
            Cell::U(v) => v.to_string(),
            Cell::F(v) => v.to_string(),
            Cell::S(s) => ttlog_core::text::escape(s).into_owned(),
        }
    }

    fn json(&self, out: &mut String) {
        use ttlog_core::ValueRef;
        match self {
            Cell::Null => out.push_str("null"),
            Cell::Bool(b) => ttlog_core::json::push_value(out, ValueRef::Bool(*b)),
            Cell::I(v) => ttlog_core::json::push_value(out, ValueRef::I64(*v)),
            Cell::U(v) => ttlog_core::json::push_value(out, ValueRef::U64(*v)),
            Cell::F(v) => ttlog_core::json::push_value(out, ValueRef::F64(*v)),
            Cell::S(s) => ttlog_core::json::push_str(out, s),
        }
    }
}

/// Writes an answer as aligned text columns under a header (numbers to the
/// right), a null as nothing.
///
/// # Errors
/// Errors of the writer or of polars.
pub fn write_text(df: &DataFrame, w: &mut dyn io::Write) -> io::Result<()> {
    let cols = cells(df).map_err(io::Error::other)?;
    let names: Vec<String> = df.get_column_names().iter().map(|n| ttlog_core::text::escape(n).into_owned()).collect();
    let texts: Vec<Vec<String>> = cols.iter().map(|c| c.iter().map(Cell::text).collect()).collect();
    let right: Vec<bool> = df.dtypes().iter().map(|d| d.is_primitive_numeric()).collect();
    let widths: Vec<usize> = names
        .iter()
        .zip(&texts)
        .map(|(n, c)| c.iter().map(|t| t.chars().count()).max().unwrap_or(0).max(n.chars().count()))
        .collect();
    let line = |w: &mut dyn io::Write, cells: &mut dyn Iterator<Item = &String>| -> io::Result<()> {
        let mut s = String::new();
        for (i, t) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = widths[i].saturating_sub(t.chars().count());
            if right[i] {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(t);
            } else {
                s.push_str(t);
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, &mut names.iter())?;
    for r in 0..df.height() {
        line(w, &mut texts.iter().map(|c| &c[r]))?;
    }
    Ok(())
}

/// Writes an answer as CSV: each cell as
/// [`push_csv`](crate::export::push_csv) writes it (escaped, RFC 4180
/// quoting, with `formula_guard` the `--csv-safe` guard); a null is an
/// empty field.
///
/// # Errors
/// Errors of the writer or of polars.
pub fn write_csv(df: &DataFrame, w: &mut dyn io::Write, formula_guard: bool) -> io::Result<()> {
    let cols = cells(df).map_err(io::Error::other)?;
    let mut line = String::new();
    let mut row = |line: &mut String, texts: &mut dyn Iterator<Item = String>| -> io::Result<()> {
        line.clear();
        for (i, t) in texts.enumerate() {
            if i > 0 {
                line.push(',');
            }
            crate::export::push_csv(line, &t, formula_guard);
        }
        line.push('\n');
        w.write_all(line.as_bytes())
    };
    row(&mut line, &mut df.get_column_names().iter().map(|n| n.to_string()))?;
    for r in 0..df.height() {
        row(&mut line, &mut cols.iter().map(|c| c[r].text()))?;
    }
    Ok(())
}

/// Writes an answer as JSON: one array of objects (one per row, keys the
/// column names) or, with `lines`, one object per line.
///
/// # Errors
/// Errors of the writer or of polars.
pub fn write_json(df: &DataFrame, w: &mut dyn io::Write, lines: bool) -> io::Result<()> {
    let cols = cells(df).map_err(io::Error::other)?;
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    if !lines {
        write!(w, "[")?;
    }
    let mut s = String::new();
    for r in 0..df.height() {
        s.clear();
        if !lines && r > 0 {
            s.push(',');
        }
        s.push('{');
        for (i, (n, c)) in names.iter().zip(&cols).enumerate() {
            if i > 0 {
                s.push(',');
            }
            ttlog_core::json::push_str(&mut s, n);
            s.push(':');
            c[r].json(&mut s);
        }
        s.push('}');
        if lines {
            s.push('\n');
        }
        w.write_all(s.as_bytes())?;
    }
    if !lines {
        writeln!(w, "]")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::OpenOptions;

    #[test]
    fn a_query_decodes_only_the_columns_it_uses() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
        let catalog = Catalog::open(&[crate::Input::File(p)], OpenOptions::default(), &|_| ()).unwrap();
        let events = Events::new(catalog, Selection::default());
        events.query("SELECT target, count(*) FROM events GROUP BY target").unwrap();
        let top = events.query("SELECT max(field_qty) AS top FROM events WHERE level = 'INFO'").unwrap();
        assert_eq!(top.column("top").unwrap().get(0).unwrap().try_extract::<i64>().unwrap(), 1900);
        let s = events.scanned();
        let mut columns = s.columns.clone();
        for c in &mut columns {
            c.sort();
        }
        assert_eq!(columns, [vec!["target"], vec!["field_qty", "level"]]);
    }
}
