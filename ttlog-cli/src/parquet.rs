//! `--format parquet`: streamed events written to one Parquet file or to a
//! Hive-partitioned dataset directory, a row group at a time, with the
//! schema of the event frame ([`crate::export::event_frame`],
//! `docs/PARQUET.md`).
//!
//! The pages are encoded here, straight from the rows' codes, not from a
//! polars frame. Nine of an event's columns are its call site's or its
//! thread's (`level`, `target`, `message`, `file`, `line`, `service`,
//! `hostname`, `pid`, `thread`): a row group writes each as a dictionary
//! page of the values its rows use and a page of indices, one table lookup
//! per row, no text copied or hashed; columns whose keys agree (a call
//! site's target and file often do) share one encoded key stream.
//! Timestamps and integer fields go into DELTA_BINARY_PACKED pages (a few
//! bits per event, as the rows come in time order per process), text
//! fields into dictionary pages (PLAIN past 65,536 distinct values
//! in a column chunk), floats and booleans into PLAIN pages; every page's
//! statistics (minimum, maximum, nulls) are computed on the way. polars'
//! Parquet writer still writes each file around the pages: the schema, the
//! column-chunk metadata and the footer; `polars_parquet` compresses the
//! pages (zstd level 1).
//!
//! The columns of a row group are encoded in parallel on a rayon pool of
//! the writer's own, while the stream decodes and merges the next rows.

use crate::export::{OutOfRange, PARTITION_KEYS, Resolved, field_columns, rows_frame};
use crate::tables::{FieldInfo, Tables};
use polars::prelude::*;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::encoding::{bitpacked, hybrid_rle, uleb128, zigzag_leb128};
use polars_parquet::parquet::metadata::Descriptor;
use polars_parquet::parquet::page::{DataPage, DataPageHeader, DataPageHeaderV1, DictPage, Page};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::schema::types::PrimitiveType;
use polars_parquet::parquet::statistics::{
    BinaryStatistics, BooleanStatistics, ParquetStatistics, PrimitiveStatistics,
};
use polars_parquet::write::{CompressedPage, CompressionOptions, ZstdLevel};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ttlog_core::snapshot::Values;
use ttlog_core::time::format_date;

/// Rows gathered before a Parquet row group is written.
const ROW_GROUP: usize = 1 << 18;

/// A data page closes when its values reach this many bytes.
const PAGE_BYTES: usize = 1 << 20;

/// The version of the Parquet schema (`docs/PARQUET.md`), in each file's
/// footer as `ttlog.schema_version`.
pub const PARQUET_SCHEMA_VERSION: u32 = 1;

/// Rows on their way to a row group: each a decoded chunk and a row of it.
type Rows = Vec<(Arc<crate::stream::Decoded>, u32)>;

/// Writes streamed events to one Parquet file, or to a Hive-style dataset
/// directory partitioned by keys of [`PARTITION_KEYS`] (one file per
/// partition). Rows are gathered until a row group of `ROW_GROUP` (262,144)
/// events and handed to a writer thread, which encodes the group's columns
/// (in parallel) while the stream reads and merges the next rows: memory
/// is a few row groups and the chunks their rows come from.
pub struct ParquetSink {
    target: PathBuf,
    keys: Vec<String>,
    pending: Rows,
    writer: Option<Writer>,
    written: Vec<PathBuf>,
    out_of_range: OutOfRange,
}

/// The writer thread and the way to it: a queue of one row group, so that
/// one is written while one waits and the next is gathered (either side
/// takes longer now and then: with a bare hand-over each waited for the
/// other a tenth of the time), and no more are held with their chunks.
struct Writer {
    tx: std::sync::mpsc::SyncSender<Rows>,
    handle: std::thread::JoinHandle<PolarsResult<(Vec<PathBuf>, OutOfRange)>>,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink").field("target", &self.target).field("keys", &self.keys).finish()
    }
}

impl ParquetSink {
    /// A sink writing one file at `path`, or a dataset under `path`
    /// partitioned by `keys` (`host` means `hostname`).
    ///
    /// # Errors
    /// An unknown key.
    pub fn new(path: &Path, keys: &[String]) -> PolarsResult<ParquetSink> {
        let keys: Vec<String> =
            keys.iter().map(|k| if k == "host" { "hostname".to_owned() } else { k.clone() }).collect();
        for k in &keys {
            if !PARTITION_KEYS.contains(&k.as_str()) {
                polars_bail!(InvalidOperation: "cannot partition by '{k}' (use {})", PARTITION_KEYS.join(", "));
            }
        }
        Ok(ParquetSink {
            target: path.to_path_buf(),
            keys,
            pending: Vec::new(),
            writer: None,
            written: Vec::new(),
            out_of_range: OutOfRange::new(),
        })
    }

    /// The files written (after [`Sink::finish`](crate::stream::Sink::finish)).
    pub fn files(&self) -> &[PathBuf] {
        &self.written
    }

    /// The values written as null because their column's type cannot hold
    /// them, by column (after [`Sink::finish`](crate::stream::Sink::finish)).
    pub fn out_of_range(&self) -> &OutOfRange {
        &self.out_of_range
    }

    /// Hands the pending rows to the writer thread (started on first use).
    fn send(&mut self, tables: &Tables) -> io::Result<()> {
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Rows>(1);
                let mut files = Files::new(tables, &self.target, &self.keys).map_err(io::Error::other)?;
                let tables = tables.clone();
                // The writer encodes on its own pool: on the global one, the
                // stream's decoding of the next chunks would queue behind a
                // whole row group's columns (rayon's workers take their own
                // work before what comes from outside), and the two would
                // take turns instead of sharing the cores.
                let threads = rayon::current_num_threads();
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("ttlog-parquet-{i}"))
                    .build()
                    .map_err(io::Error::other)?;
                let handle = std::thread::Builder::new().name("ttlog-parquet".into()).spawn(move || {
                    pool.install(|| {
                        for rows in rx {
                            files.write(&tables, &rows)?;
                        }
                        files.finish()
                    })
                })?;
                self.writer.insert(Writer { tx, handle })
            }
        };
        let rows = std::mem::take(&mut self.pending);
        if writer.tx.send(rows).is_err() {
            // The writer stopped on an error: report it.
            return Err(self.join().err().unwrap_or_else(|| io::Error::other("the Parquet writer stopped")));
        }
        Ok(())
    }

    /// Waits for the writer thread to write what it was given.
    fn join(&mut self) -> io::Result<(Vec<PathBuf>, OutOfRange)> {
        let Some(Writer { tx, handle }) = self.writer.take() else { return Ok(Default::default()) };
        drop(tx);
        match handle.join() {
            Ok(done) => done.map_err(io::Error::other),
            Err(_) => Err(io::Error::other("the Parquet writer panicked")),
        }
    }
}

impl crate::stream::Sink for ParquetSink {
    fn batch(&mut self, tables: &Tables, rows: &[crate::stream::RowRef<'_>]) -> io::Result<()> {
        self.pending.extend(rows.iter().map(|&(d, r)| (Arc::clone(d), r)));
        if self.pending.len() >= ROW_GROUP {
            self.send(tables)?;
        }
        Ok(())
    }

    fn finish(&mut self, tables: &Tables) -> io::Result<()> {
        if !self.pending.is_empty() || self.writer.is_none() {
            self.send(tables)?;
        }
        (self.written, self.out_of_range) = self.join()?;
        Ok(())
    }
}

/// The footer metadata of an export's files: the schema version, the
/// writer, and the snapshot files the events come from (a JSON array).
fn file_metadata(tables: &Tables) -> KeyValueMetadata {
    let sources: Vec<&str> = tables.sources.iter().map(|s| s.path.as_str()).collect();
    KeyValueMetadata::from_static(vec![
        ("ttlog.schema_version".into(), PARQUET_SCHEMA_VERSION.to_string()),
        ("ttlog.writer".into(), format!("ttlog-view {}", env!("CARGO_PKG_VERSION"))),
        ("ttlog.sources".into(), serde_json::Value::from(sources).to_string()),
    ])
}

/// Percent-encodes what Hive path values cannot hold (as Hive does).
fn hive_escape(s: &str) -> String {
    if s.is_empty() {
        return "__HIVE_DEFAULT_PARTITION__".into();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(c, '/' | '\\' | '=' | '%' | ':' | '"' | '#' | '\'' | '*' | '?' | '[' | ']' | '{' | '}' | '^')
        {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

// ---- the files of an export ----

/// The files of one export, on the writer thread.
struct Files {
    target: PathBuf,
    keys: Vec<String>,
    /// Each partition's values (as in its path) and file.
    files: Vec<(Vec<String>, File)>,
    /// The schema of every file (the event frame's, without the partition
    /// keys), its footer metadata and how its columns are encoded.
    schema: Schema,
    metadata: KeyValueMetadata,
    columns: Vec<Leaf>,
    /// With partition keys: for each call site, its partition values other
    /// than the date (an index into `site_values`), and whether `date` is
    /// a key.
    site_key: Vec<u32>,
    site_values: Vec<Vec<String>>,
    by_date: bool,
    out_of_range: OutOfRange,
}

/// One file of an export, opened at its first row group.
struct File {
    path: PathBuf,
    writer: Option<polars::io::parquet::write::BatchedWriter<io::BufWriter<std::fs::File>>>,
    /// The leaf descriptor of each column, in order.
    descriptors: Vec<Descriptor>,
}

impl Files {
    fn new(tables: &Tables, target: &Path, keys: &[String]) -> PolarsResult<Files> {
        let mut frame = rows_frame(tables, &[], &mut OutOfRange::new())?;
        for k in keys {
            if frame.schema().contains(k) {
                frame.drop_in_place(k)?;
            }
        }
        let schema = frame.schema().as_ref().clone();
        let columns = layout(tables, &schema)?;
        // Each call site's partition values but the date, numbered.
        let (site_key, site_values) = if keys.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            distinct(tables.sites.iter().map(|site| {
                let source = &tables.sources[site.source as usize];
                keys.iter()
                    .filter_map(|k| match k.as_str() {
                        "service" => Some(source.service.to_string()),
                        "hostname" => Some(source.hostname.to_string()),
                        "pid" => Some(source.pid.to_string()),
                        "level" => Some(site.info.level.as_str().to_owned()),
                        _ => None,
                    })
                    .collect::<Vec<String>>()
            }))
        };
        Ok(Files {
            target: target.to_path_buf(),
            keys: keys.to_vec(),
            files: Vec::new(),
            schema,
            metadata: file_metadata(tables),
            columns,
            site_key,
            site_values,
            by_date: keys.iter().any(|k| k == "date"),
            out_of_range: OutOfRange::new(),
        })
    }

    /// The file of partition `values` (of the one file without keys),
    /// added at first use.
    fn file(&mut self, values: Vec<String>) -> usize {
        if let Some(i) = self.files.iter().position(|(v, _)| *v == values) {
            return i;
        }
        let path = if self.keys.is_empty() {
            self.target.clone()
        } else {
            let mut path = self.target.clone();
            for (k, v) in self.keys.iter().zip(&values) {
                path.push(format!("{k}={}", hive_escape(v)));
            }
            path.push("part-0.parquet");
            path
        };
        self.files.push((values, File { path, writer: None, descriptors: Vec::new() }));
        self.files.len() - 1
    }

    /// Writes `rows` as a row group (of each partition they fall in).
    fn write(&mut self, tables: &Tables, rows: &Rows) -> PolarsResult<()> {
        use rayon::prelude::*;
        if rows.is_empty() {
            return Ok(());
        }
        let resolved = Resolved::new(tables, rows);
        // Each partition's rows, in order.
        let parts: Vec<(usize, Option<Resolved<'_>>)> = if self.keys.is_empty() {
            vec![(self.file(Vec::new()), None)]
        } else {
            const DAY: i64 = 86_400_000_000_000;
            let mut index: std::collections::HashMap<(u32, i64), usize> = std::collections::HashMap::new();
            let mut rows_of: Vec<((u32, i64), Vec<u32>)> = Vec::new();
            for i in 0..resolved.len() {
                let day = if self.by_date { crate::stats::bucket_start(resolved.ts[i], DAY) } else { 0 };
                let key = (self.site_key[resolved.cs[i] as usize], day);
                let p = *index.entry(key).or_insert_with(|| {
                    rows_of.push((key, Vec::new()));
                    rows_of.len() - 1
                });
                rows_of[p].1.push(i as u32);
            }
            let mut parts = Vec::with_capacity(rows_of.len());
            for ((site, day), at) in rows_of {
                let mut site_values = self.site_values[site as usize].iter();
                let values: Vec<String> =
                    self.keys
                        .iter()
                        .map(|k| {
                            if k == "date" { format_date(day) } else { site_values.next().cloned().unwrap_or_default() }
                        })
                        .collect();
                parts.push((self.file(values), Some(resolved.select(&at))));
            }
            parts
        };
        for (i, _) in &parts {
            self.files[*i].1.open(&self.schema, &self.metadata)?;
        }
        // The key streams of every partition's dictionary columns, then
        // every column of every partition, encoded in parallel.
        let rows_of = |p: usize| parts[p].1.as_ref().unwrap_or(&resolved);
        let columns = &self.columns;
        let prepared: Vec<Prepared> =
            (0..parts.len()).into_par_iter().map(|p| Prepared::new(tables, columns, rows_of(p))).collect();
        let streams: Vec<(usize, usize)> =
            prepared.iter().enumerate().flat_map(|(p, pr)| (0..pr.streams.len()).map(move |s| (p, s))).collect();
        let streams: Vec<Vec<u8>> = streams.par_iter().map(|&(p, s)| prepared[p].stream(s)).collect();
        let mut streams = streams.into_iter();
        let streams: Vec<Vec<Vec<u8>>> =
            prepared.iter().map(|pr| streams.by_ref().take(pr.streams.len()).collect()).collect();
        let jobs: Vec<(usize, usize)> =
            (0..parts.len()).flat_map(|p| (0..columns.len()).map(move |c| (p, c))).collect();
        let files = &self.files;
        let encoded: Vec<Encoded> = jobs
            .par_iter()
            .map(|&(p, c)| {
                let desc = &files[parts[p].0].1.descriptors[c];
                match &prepared[p].dicts[c] {
                    Some(dict) => Ok(Encoded {
                        pages: dict.pages(desc, &columns[c].what, &streams[p], rows_of(p).len())?,
                        out_of_range: 0,
                    }),
                    None => columns[c].encode(tables, desc, rows_of(p)),
                }
            })
            .collect::<PolarsResult<_>>()?;
        let mut encoded = encoded.into_iter();
        for (f, rows) in &parts {
            let n = rows.as_ref().unwrap_or(&resolved).len();
            let mut pages = Vec::with_capacity(self.columns.len());
            for (c, e) in self.columns.iter().zip(encoded.by_ref().take(self.columns.len())) {
                if e.out_of_range > 0 {
                    *self.out_of_range.entry(c.name.clone()).or_default() += e.out_of_range;
                }
                pages.push(e.pages);
            }
            self.files[*f].1.writer.as_mut().expect("opened").write_row_group(n as u64, &pages)?;
        }
        Ok(())
    }

    /// Closes every file (with no event at all, one empty file with the
    /// schema, or an empty dataset directory) and names them.
    fn finish(mut self) -> PolarsResult<(Vec<PathBuf>, OutOfRange)> {
        if self.keys.is_empty() {
            let i = self.file(Vec::new());
            self.files[i].1.open(&self.schema, &self.metadata)?;
        } else {
            std::fs::create_dir_all(&self.target)?;
        }
        let mut written = Vec::with_capacity(self.files.len());
        for (_, f) in &mut self.files {
            if let Some(w) = &f.writer {
                w.finish()?;
            }
            written.push(f.path.clone());
        }
        Ok((written, self.out_of_range))
    }
}

impl File {
    /// Creates the file and its writer, if not yet done.
    fn open(&mut self, schema: &Schema, metadata: &KeyValueMetadata) -> PolarsResult<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::File::create(&self.path)?;
        let mut writer = ParquetWriter::new(io::BufWriter::new(f))
            .with_compression(compression())
            .with_key_value_metadata(Some(metadata.clone()))
            .batched(schema)?;
        self.descriptors = writer.parquet_schema().columns().iter().map(|c| c.descriptor.clone()).collect();
        polars_ensure!(
            self.descriptors.len() == schema.len(),
            ComputeError: "the Parquet schema has {} leaf columns for {} columns", self.descriptors.len(), schema.len()
        );
        self.writer = Some(writer);
        Ok(())
    }
}

/// The compression of every page: zstd at its fastest level, as the pages
/// are already dense (bit-packed keys, delta timestamps) and the default
/// level 3 took a third of the export's time.
fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(ZstdLevel::try_new(1).ok())
}

// ---- the columns ----

/// A column of the files (a leaf of the Parquet schema) and what it holds.
struct Leaf {
    name: String,
    what: What,
}

enum What {
    /// `timestamp`: microseconds since the epoch, rounded down.
    Micros,
    /// `timestamp_ns`: nanoseconds.
    Nanos,
    /// A value of the row's call site (with `by_thread`, of its thread):
    /// `index[code]` is the code's value in `values`.
    Dict { by_thread: bool, index: Vec<u32>, values: DictValues },
    /// A field: its index among the tables' fields, and its type.
    Field(usize, DataType),
}

/// The distinct values of a dictionary column.
enum DictValues {
    Text(Vec<String>),
    Int(Vec<i64>),
}

/// `values` numbered by distinct value: each one's number, and the
/// distinct values in order of first appearance.
fn distinct<T: std::hash::Hash + Eq + Clone>(values: impl Iterator<Item = T>) -> (Vec<u32>, Vec<T>) {
    let mut seen: std::collections::HashMap<T, u32> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let index = values
        .map(|v| {
            let n = out.len() as u32;
            *seen.entry(v.clone()).or_insert_with(|| {
                out.push(v);
                n
            })
        })
        .collect();
    (index, out)
}

/// How each column of `schema` (the event frame's columns, maybe without
/// partition keys) is encoded.
fn layout(tables: &Tables, schema: &Schema) -> PolarsResult<Vec<Leaf>> {
    let site_text = |get: &dyn Fn(&crate::tables::Site) -> String| {
        let (index, values) = distinct(tables.sites.iter().map(get));
        What::Dict { by_thread: false, index, values: DictValues::Text(values) }
    };
    let site_int = |get: &dyn Fn(&crate::tables::Site) -> i64| {
        let (index, values) = distinct(tables.sites.iter().map(get));
        What::Dict { by_thread: false, index, values: DictValues::Int(values) }
    };
    let source = |s: &crate::tables::Site| &tables.sources[s.source as usize];
    let fields: std::collections::HashMap<String, usize> =
        field_columns(tables).into_iter().enumerate().map(|(i, (_, column))| (column, i)).collect();
    let infos: Vec<&FieldInfo> = tables.fields.values().collect();
    schema
        .iter()
        .map(|(name, dtype)| {
            let what = match name.as_str() {
                "timestamp" => What::Micros,
                "timestamp_ns" => What::Nanos,
                "level" => site_text(&|s| s.info.level.as_str().to_owned()),
                "target" => site_text(&|s| s.info.target.to_string()),
                "message" => site_text(&|s| s.info.message.to_string()),
                "file" => site_text(&|s| s.info.file.to_string()),
                "service" => site_text(&|s| source(s).service.to_string()),
                "hostname" => site_text(&|s| source(s).hostname.to_string()),
                "line" => site_int(&|s| i64::from(s.info.line)),
                "pid" => site_int(&|s| i64::from(source(s).pid)),
                "thread" => {
                    let (index, values) = distinct(tables.threads.iter().map(|t| t.label()));
                    What::Dict { by_thread: true, index, values: DictValues::Text(values) }
                }
                other => match fields.get(other) {
                    // A u64 field's column is signed (what does not fit is
                    // null and counted).
                    Some(&i) => What::Field(i, infos[i].dtype.clone()),
                    None => polars_bail!(ComputeError: "no encoder for the Parquet column {other} ({dtype})"),
                },
            };
            Ok(Leaf { name: name.to_string(), what })
        })
        .collect()
}

/// A column chunk's pages, and the values it wrote as null because the
/// column's type cannot hold them.
struct Encoded {
    pages: Vec<CompressedPage>,
    out_of_range: u64,
}

impl Leaf {
    /// The pages of this column for `rows`.
    fn encode(&self, tables: &Tables, desc: &Descriptor, rows: &Resolved<'_>) -> PolarsResult<Encoded> {
        let mut out_of_range = 0;
        let pages = match &self.what {
            What::Micros => delta(desc, rows.ts.iter().map(|&t| t.div_euclid(1000)))?,
            What::Nanos => delta(desc, rows.ts.iter().copied())?,
            What::Dict { .. } => unreachable!("dictionary columns are encoded from their Prepared key streams"),
            What::Field(i, dtype) => {
                let info = tables.fields.values().nth(*i).expect("a field of the tables");
                let by_slot = rows.field_slots(tables, info);
                let value = |i: usize| rows.field_value(&by_slot, i);
                let n = rows.len();
                match dtype {
                    DataType::Boolean => {
                        let mut p = Plain::<Bool>::new(desc);
                        for i in 0..n {
                            match value(i) {
                                Some((Values::Bool(b), r)) if r < b.len() => p.push(b[r])?,
                                _ => p.null()?,
                            }
                        }
                        p.finish()?
                    }
                    DataType::Int64 | DataType::UInt64 => {
                        let mut p = Plain::<I64>::new(desc);
                        for i in 0..n {
                            match value(i) {
                                Some((Values::I64(b), r)) if r < b.len() => p.push(b[r])?,
                                Some((Values::U64(b), r)) if r < b.len() => match i64::try_from(b[r]) {
                                    Ok(v) => p.push(v)?,
                                    Err(_) => {
                                        out_of_range += 1;
                                        p.null()?;
                                    }
                                },
                                _ => p.null()?,
                            }
                        }
                        p.finish()?
                    }
                    DataType::Float32 => {
                        let mut p = Plain::<F32>::new(desc);
                        for i in 0..n {
                            match value(i) {
                                Some((Values::F32(b), r)) if r < b.len() => p.push(b[r])?,
                                _ => p.null()?,
                            }
                        }
                        p.finish()?
                    }
                    DataType::Float64 => {
                        let mut p = Plain::<F64>::new(desc);
                        for i in 0..n {
                            match value(i).and_then(|(v, r)| crate::tables::as_f64(v, r)) {
                                Some(v) => p.push(v)?,
                                None => p.null()?,
                            }
                        }
                        p.finish()?
                    }
                    _ => {
                        let mut p = Text::new(desc);
                        let mut text = String::new();
                        for i in 0..n {
                            match value(i) {
                                Some((Values::Str(s), r)) if r < s.len() => p.push(s.get(r).as_bytes())?,
                                Some((v, r)) => match v.get(r) {
                                    Some(val) => {
                                        text.clear();
                                        let _ = write!(text, "{val}");
                                        p.push(text.as_bytes())?;
                                    }
                                    None => p.null()?,
                                },
                                None => p.null()?,
                            }
                        }
                        p.finish()?
                    }
                }
            }
        };
        Ok(Encoded { pages, out_of_range })
    }
}

// ---- pages ----

/// Whether the column has definition levels (it may hold nulls).
fn optional(desc: &Descriptor) -> bool {
    desc.primitive_type.field_info.repetition == Repetition::Optional
}

/// Appends the definition levels of a V1 data page of `n` rows: their
/// length, then the RLE/bit-packed levels (1 for a value, 0 for a null;
/// `valid` says which, unless there are no nulls).
fn push_def_levels(buf: &mut Vec<u8>, n: usize, valid: &[bool], nulls: usize) -> io::Result<()> {
    buf.extend([0; 4]);
    let start = buf.len();
    if nulls == 0 {
        <bool as hybrid_rle::Encoder<bool>>::run_length_encode(buf, n, true, 1)?;
    } else {
        push_run_header(buf, n.div_ceil(8));
        push_lsb_first(buf, valid);
    }
    let len = (buf.len() - start) as u32;
    buf[start - 4..start].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The bit width of dictionary keys up to `max`: at least one bit (a
/// dictionary of one value is written as keys of width 1, all 0, which
/// every reader takes).
fn key_bits(max: u32) -> usize {
    (u32::BITS - max.leading_zeros()).max(1) as usize
}

/// Appends `bits` (each 0 or 1) packed eight to a byte, the first in the
/// lowest bit, as PLAIN booleans and bit-packed levels of width 1 are.
fn push_lsb_first<T: Copy + Into<u8>>(buf: &mut Vec<u8>, bits: &[T]) {
    buf.extend(bits.chunks(8).map(|c| c.iter().rev().fold(0u8, |acc, &b| (acc << 1) | b.into())));
}

/// Appends the header of a bit-packed run of `groups` groups of 8 values
/// (of the RLE/bit-packing hybrid encoding).
fn push_run_header(buf: &mut Vec<u8>, groups: usize) {
    let mut leb = [0u8; 10];
    let k = uleb128::encode(((groups as u64) << 1) | 1, &mut leb);
    buf.extend_from_slice(&leb[..k]);
}

/// Appends `n` values of `bits` bits (each below `1 << bits`) as one
/// bit-packed run of the RLE/bit-packing hybrid encoding, the last group
/// padded with zeros. Keys of a merged stream of many processes change
/// from row to row: runs would seldom pay, and zstd takes what repeats.
fn push_bit_packed(buf: &mut Vec<u8>, values: impl Iterator<Item = u32>, n: usize, bits: usize) {
    const PACK: usize = 32;
    push_run_header(buf, n.div_ceil(8));
    let end = buf.len() + n.div_ceil(8) * bits;
    let mut pack = [0u32; PACK];
    let mut filled = 0;
    let flush = |buf: &mut Vec<u8>, pack: &[u32; PACK]| {
        let start = buf.len();
        buf.resize(start + PACK * bits / 8, 0);
        bitpacked::encode(pack, bits, &mut buf[start..]);
    };
    for v in values {
        pack[filled] = v;
        filled += 1;
        if filled == PACK {
            flush(buf, &pack);
            filled = 0;
        }
    }
    if filled > 0 {
        pack[filled..].fill(0);
        flush(buf, &pack);
    }
    buf.truncate(end);
}

/// A V1 data page of `n` rows (values and nulls), compressed.
fn data_page(
    desc: &Descriptor,
    buffer: Vec<u8>,
    n: usize,
    encoding: Encoding,
    statistics: ParquetStatistics,
) -> PolarsResult<CompressedPage> {
    let header = DataPageHeader::V1(DataPageHeaderV1 {
        num_values: i32::try_from(n).map_err(|_| polars_err!(ComputeError: "a Parquet page of {n} rows"))?,
        encoding: encoding.into(),
        definition_level_encoding: Encoding::Rle.into(),
        repetition_level_encoding: Encoding::Rle.into(),
        statistics: Some(statistics),
    });
    let page = DataPage::new(header, CowBuffer::Owned(buffer), desc.clone(), n);
    compress(Page::Data(page))
}

fn compress(page: Page) -> PolarsResult<CompressedPage> {
    let options: CompressionOptions = compression().into();
    Ok(polars_parquet::write::compress(page, Vec::new(), options)?)
}

/// The timestamps of a row group as one DELTA_BINARY_PACKED page (rows
/// come in time order: most deltas take a few bits where PLAIN takes 64).
fn delta(desc: &Descriptor, values: impl ExactSizeIterator<Item = i64> + Clone) -> PolarsResult<Vec<CompressedPage>> {
    let n = values.len();
    let mut bounds = I64::default();
    for v in values.clone() {
        bounds.add(v);
    }
    let mut buf = Vec::with_capacity(n + 64);
    if optional(desc) {
        push_def_levels(&mut buf, n, &[], 0)?;
    }
    delta_binary_packed(values, &mut buf);
    let statistics = bounds.statistics(&desc.primitive_type, 0);
    Ok(vec![data_page(desc, buf, n, Encoding::DeltaBinaryPacked, statistics)?])
}

/// Parquet's DELTA_BINARY_PACKED encoding of `values` onto `buf`: blocks of
/// 256 values, each with its least delta and four miniblocks of 64 deltas
/// bit-packed at their own width. Timestamps sorted within a process give
/// small, steady deltas, a few bits each.
fn delta_binary_packed(mut values: impl ExactSizeIterator<Item = i64>, buf: &mut Vec<u8>) {
    const BLOCK: usize = 256;
    const MINI: usize = 64;
    let mut leb = [0u8; 10];
    for v in [BLOCK, BLOCK / MINI, values.len()] {
        let k = uleb128::encode(v as u64, &mut leb);
        buf.extend_from_slice(&leb[..k]);
    }
    let push_zigzag = |buf: &mut Vec<u8>, v: i64| {
        let (bytes, k) = zigzag_leb128::encode(v);
        buf.extend_from_slice(&bytes[..k]);
    };
    let first = values.next().unwrap_or(0);
    push_zigzag(buf, first);
    let mut prev = first;
    let mut deltas = [0i64; BLOCK];
    let mut unpacked = [0u64; MINI];
    loop {
        let mut len = 0;
        for v in values.by_ref().take(BLOCK) {
            deltas[len] = v.wrapping_sub(prev);
            prev = v;
            len += 1;
        }
        if len == 0 {
            return;
        }
        let least = deltas[..len].iter().copied().min().unwrap_or(0);
        push_zigzag(buf, least);
        let widths = buf.len();
        // Widths of miniblocks past the last value stay zero, as the format asks.
        buf.extend_from_slice(&[0u8; BLOCK / MINI]);
        for (m, mini) in deltas[..len].chunks(MINI).enumerate() {
            unpacked.fill(0);
            let mut any = 0u64;
            for (u, d) in unpacked.iter_mut().zip(mini) {
                *u = d.wrapping_sub(least) as u64;
                any |= *u;
            }
            let bits = (64 - any.leading_zeros()) as usize;
            buf[widths + m] = bits as u8;
            if bits > 0 {
                let start = buf.len();
                buf.resize(start + MINI * bits / 8, 0);
                bitpacked::encode(&unpacked, bits, &mut buf[start..]);
            }
        }
    }
}

/// The call sites (or threads) that a row group's rows use, in order of
/// first use, and each row's place among them.
struct Used {
    codes: Vec<u32>,
    of_row: Vec<u32>,
}

impl Used {
    /// Of `codes`, each below `n`.
    fn new(codes: impl Iterator<Item = u32>, n: usize) -> Used {
        let mut place = vec![u32::MAX; n];
        let mut used = Vec::new();
        let of_row = codes
            .map(|c| {
                let p = &mut place[c as usize];
                if *p == u32::MAX {
                    *p = used.len() as u32;
                    used.push(c);
                }
                *p
            })
            .collect();
        Used { codes: used, of_row }
    }
}

/// A row group's dictionary columns, prepared: the call sites and threads
/// its rows use; per dictionary column the values those use (in the order
/// of first use: the dictionary) and its key stream. Columns that number
/// the used call sites alike (`message` and `line`, say, where each call
/// site has its own) share one stream: it is encoded once.
struct Prepared {
    sites: Used,
    threads: Used,
    /// Per column: for a dictionary column, its dictionary.
    dicts: Vec<Option<Dict>>,
    /// The distinct key streams: by thread (or call site), the key of
    /// each used thread (or call site).
    streams: Vec<(bool, Vec<u32>)>,
}

/// A dictionary column of a row group: the values its rows use (indices
/// into the column's [`DictValues`], in key order) and its key stream.
struct Dict {
    values: Vec<u32>,
    stream: usize,
}

impl Prepared {
    fn new(tables: &Tables, columns: &[Leaf], rows: &Resolved<'_>) -> Prepared {
        let (sites, threads) = rayon::join(
            || Used::new(rows.cs.iter().copied(), tables.sites.len()),
            || Used::new(rows.th.iter().copied(), tables.threads.len()),
        );
        let mut streams: Vec<(bool, Vec<u32>)> = Vec::new();
        let dicts = columns
            .iter()
            .map(|c| {
                let What::Dict { by_thread, index, values } = &c.what else { return None };
                let used = if *by_thread { &threads } else { &sites };
                let n_values = match values {
                    DictValues::Text(v) => v.len(),
                    DictValues::Int(v) => v.len(),
                };
                // The values the used codes name, in order of first use: the
                // dictionary, and each used code's key.
                let Used { codes: dict, of_row: keys } =
                    Used::new(used.codes.iter().map(|&code| index[code as usize]), n_values);
                let stream = match streams.iter().position(|(t, k)| t == by_thread && *k == keys) {
                    Some(s) => s,
                    None => {
                        streams.push((*by_thread, keys));
                        streams.len() - 1
                    }
                };
                Some(Dict { values: dict, stream })
            })
            .collect();
        Prepared { sites, threads, dicts, streams }
    }

    /// Key stream `s`: its bit width (one byte), then each row's key,
    /// bit-packed.
    fn stream(&self, s: usize) -> Vec<u8> {
        let (by_thread, keys) = &self.streams[s];
        let used = if *by_thread { &self.threads } else { &self.sites };
        let bits = key_bits(keys.iter().copied().max().unwrap_or(0));
        let n = used.of_row.len();
        let mut buf = Vec::with_capacity(n * bits / 8 + 16);
        buf.push(bits as u8);
        push_bit_packed(&mut buf, used.of_row.iter().map(|&u| keys[u as usize]), n, bits);
        buf
    }
}

impl Dict {
    /// The column chunk: its dictionary page, and its data page (every
    /// row has a value) of keys from its stream (of `streams`).
    fn pages(
        &self,
        desc: &Descriptor,
        what: &What,
        streams: &[Vec<u8>],
        n: usize,
    ) -> PolarsResult<Vec<CompressedPage>> {
        let What::Dict { values, .. } = what else { unreachable!("a dictionary column") };
        let (dict, statistics) = match values {
            DictValues::Text(v) => {
                let mut buf = Vec::new();
                let mut bounds = Bytes::default();
                for &u in &self.values {
                    let s = v[u as usize].as_bytes();
                    Bytes::put(s, &mut buf);
                    bounds.add(s);
                }
                (buf, bounds.statistics(&desc.primitive_type, 0))
            }
            DictValues::Int(v) => {
                let mut buf = Vec::new();
                let mut bounds = I64::default();
                for &u in &self.values {
                    I64::put(v[u as usize], &mut buf);
                    bounds.add(v[u as usize]);
                }
                (buf, bounds.statistics(&desc.primitive_type, 0))
            }
        };
        let dict = compress(Page::Dict(DictPage::new(CowBuffer::Owned(dict), self.values.len(), false)))?;
        let stream = &streams[self.stream];
        let mut buf = Vec::with_capacity(stream.len() + 16);
        if optional(desc) {
            push_def_levels(&mut buf, n, &[], 0)?;
        }
        buf.extend_from_slice(stream);
        let data = data_page(desc, buf, n, Encoding::RleDictionary, statistics)?;
        Ok(vec![dict, data])
    }
}

/// A kind of PLAIN-encoded value, and the bounds its statistics keep.
trait Kind: Default {
    type V<'v>: Copy;
    /// Appends a value's PLAIN encoding (booleans: one byte, packed to
    /// bits when the page closes).
    fn put(v: Self::V<'_>, out: &mut Vec<u8>);
    /// Counts a value in the bounds.
    fn add(&mut self, v: Self::V<'_>);
    /// The page statistics.
    fn statistics(&self, ty: &PrimitiveType, nulls: usize) -> ParquetStatistics;
    /// Appends a closed page's values (`plain`, as [`Kind::put`] wrote
    /// them) in the page's encoding, and names the encoding.
    fn encode_page(plain: &[u8], out: &mut Vec<u8>) -> Encoding {
        out.extend_from_slice(plain);
        Encoding::Plain
    }
}

/// Integers as DELTA_BINARY_PACKED: a field's integers (counts, codes,
/// durations, ids) take a few bits each where PLAIN takes 64, which leaves
/// zstd far less to read.
fn delta_page(plain: &[u8], out: &mut Vec<u8>) -> Encoding {
    let values = plain.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")));
    delta_binary_packed(values, out);
    Encoding::DeltaBinaryPacked
}

#[derive(Default)]
struct I64(Option<(i64, i64)>);
#[derive(Default)]
struct F32(Option<(f32, f32)>);
#[derive(Default)]
struct F64(Option<(f64, f64)>);
#[derive(Default)]
struct Bool(Option<(bool, bool)>);
#[derive(Default)]
struct Bytes(Option<(Vec<u8>, Vec<u8>)>);

/// Widens `bounds` to hold `v` (NaN, which has no order, is left out, as
/// the Parquet format asks).
#[inline]
fn widen<T: PartialOrd + Copy>(bounds: &mut Option<(T, T)>, v: T) {
    #[allow(clippy::eq_op)]
    if v != v {
        return;
    }
    match bounds {
        None => *bounds = Some((v, v)),
        Some((lo, hi)) => {
            if v < *lo {
                *lo = v;
            }
            if v > *hi {
                *hi = v;
            }
        }
    }
}

macro_rules! primitive_kind {
    ($kind:ident, $t:ty) => {
        primitive_kind!($kind, $t, |plain: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(plain);
            Encoding::Plain
        });
    };
    ($kind:ident, $t:ty, $encode:expr) => {
        impl Kind for $kind {
            type V<'v> = $t;
            #[inline]
            fn put(v: $t, out: &mut Vec<u8>) {
                out.extend_from_slice(&v.to_le_bytes());
            }
            #[inline]
            fn add(&mut self, v: $t) {
                widen(&mut self.0, v);
            }
            fn statistics(&self, ty: &PrimitiveType, nulls: usize) -> ParquetStatistics {
                PrimitiveStatistics::<$t> {
                    primitive_type: ty.clone(),
                    null_count: Some(nulls as i64),
                    distinct_count: None,
                    min_value: self.0.map(|b| b.0),
                    max_value: self.0.map(|b| b.1),
                }
                .serialize()
            }
            fn encode_page(plain: &[u8], out: &mut Vec<u8>) -> Encoding {
                $encode(plain, out)
            }
        }
    };
}
primitive_kind!(I64, i64, delta_page);
primitive_kind!(F32, f32);
primitive_kind!(F64, f64);

impl Kind for Bool {
    type V<'v> = bool;
    #[inline]
    fn put(v: bool, out: &mut Vec<u8>) {
        out.push(u8::from(v));
    }
    #[inline]
    fn add(&mut self, v: bool) {
        widen(&mut self.0, v);
    }
    /// PLAIN booleans: one bit each, the first in the lowest bit.
    fn encode_page(plain: &[u8], out: &mut Vec<u8>) -> Encoding {
        push_lsb_first(out, plain);
        Encoding::Plain
    }
    fn statistics(&self, _: &PrimitiveType, nulls: usize) -> ParquetStatistics {
        BooleanStatistics {
            null_count: Some(nulls as i64),
            distinct_count: None,
            min_value: self.0.map(|b| b.0),
            max_value: self.0.map(|b| b.1),
        }
        .serialize()
    }
}

impl Kind for Bytes {
    type V<'v> = &'v [u8];
    #[inline]
    fn put(v: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
    #[inline]
    fn add(&mut self, v: &[u8]) {
        match &mut self.0 {
            None => self.0 = Some((v.to_vec(), v.to_vec())),
            Some((lo, hi)) => {
                if v < lo.as_slice() {
                    lo.clear();
                    lo.extend_from_slice(v);
                }
                if v > hi.as_slice() {
                    hi.clear();
                    hi.extend_from_slice(v);
                }
            }
        }
    }
    fn statistics(&self, ty: &PrimitiveType, nulls: usize) -> ParquetStatistics {
        BinaryStatistics {
            primitive_type: ty.clone(),
            null_count: Some(nulls as i64),
            distinct_count: None,
            min_value: self.0.as_ref().map(|b| b.0.clone()),
            max_value: self.0.as_ref().map(|b| b.1.clone()),
        }
        .serialize()
    }
}

/// A text column chunk as it fills: dictionary-encoded (a dictionary page
/// of its distinct values, then pages of bit-packed keys) while it has at
/// most [`DICT_VALUES`] distinct values, PLAIN from there on, as Parquet's
/// own writers fall back. A text field mostly repeats a few values (paths,
/// names, states): one lookup per value, and the bounds and zstd see each
/// value once.
struct Text<'a> {
    desc: &'a Descriptor,
    optional: bool,
    dict: PlHashMap<Vec<u8>, u32>,
    /// The dictionary's values by key.
    values: Vec<Vec<u8>>,
    /// The page being filled: its keys, and which rows have a value.
    keys: Vec<u32>,
    valid: Vec<bool>,
    nulls: usize,
    /// The data pages written (the dictionary page goes before them), and
    /// their rows.
    pages: Vec<CompressedPage>,
    rows: usize,
    /// Past [`DICT_VALUES`]: the PLAIN pages of the rest of the chunk.
    plain: Option<Plain<'a, Bytes>>,
}

/// The most distinct values a text column chunk dictionary-encodes.
const DICT_VALUES: usize = if cfg!(test) { 1000 } else { 1 << 16 };

/// The most keys in a page of a dictionary-encoded text column.
const DICT_PAGE_ROWS: usize = 1 << 17;

impl<'a> Text<'a> {
    fn new(desc: &'a Descriptor) -> Text<'a> {
        Text {
            desc,
            optional: optional(desc),
            dict: PlHashMap::default(),
            values: Vec::new(),
            keys: Vec::new(),
            valid: Vec::new(),
            nulls: 0,
            pages: Vec::new(),
            rows: 0,
            plain: None,
        }
    }

    #[inline]
    fn push(&mut self, v: &[u8]) -> PolarsResult<()> {
        if let Some(plain) = &mut self.plain {
            return plain.push(v);
        }
        let key = match self.dict.get(v) {
            Some(&k) => k,
            None if self.values.len() < DICT_VALUES => {
                let k = self.values.len() as u32;
                self.dict.insert(v.to_vec(), k);
                self.values.push(v.to_vec());
                k
            }
            None => {
                self.close()?;
                let mut plain = Plain::<Bytes>::new(self.desc);
                plain.push(v)?;
                self.plain = Some(plain);
                return Ok(());
            }
        };
        self.keys.push(key);
        self.valid.push(true);
        if self.valid.len() >= DICT_PAGE_ROWS {
            self.close()?;
        }
        Ok(())
    }

    #[inline]
    fn null(&mut self) -> PolarsResult<()> {
        if let Some(plain) = &mut self.plain {
            return plain.null();
        }
        polars_ensure!(self.optional, ComputeError: "a null in the required Parquet column {}", self.desc.primitive_type.field_info.name);
        self.valid.push(false);
        self.nulls += 1;
        if self.valid.len() >= DICT_PAGE_ROWS {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the page of keys being filled (if it has rows).
    fn close(&mut self) -> PolarsResult<()> {
        let n = self.valid.len();
        if n == 0 {
            return Ok(());
        }
        // The page's bounds, over the distinct values its keys name.
        let mut seen = vec![false; self.values.len()];
        let mut bounds = Bytes::default();
        for &k in &self.keys {
            if !std::mem::replace(&mut seen[k as usize], true) {
                bounds.add(&self.values[k as usize]);
            }
        }
        let mut buf = Vec::with_capacity(self.keys.len() * 2 + 64);
        if self.optional {
            push_def_levels(&mut buf, n, &self.valid, self.nulls)?;
        }
        let bits = key_bits(self.values.len().saturating_sub(1) as u32);
        buf.push(bits as u8);
        push_bit_packed(&mut buf, self.keys.iter().copied(), self.keys.len(), bits);
        let statistics = bounds.statistics(&self.desc.primitive_type, self.nulls);
        self.pages.push(data_page(self.desc, buf, n, Encoding::RleDictionary, statistics)?);
        self.rows += n;
        self.keys.clear();
        self.valid.clear();
        self.nulls = 0;
        Ok(())
    }

    /// The column chunk's pages: the dictionary page, its pages of keys,
    /// then any PLAIN pages (with no value at all, PLAIN pages of nulls).
    fn finish(mut self) -> PolarsResult<Vec<CompressedPage>> {
        self.close()?;
        if self.values.is_empty() {
            // Only nulls, or no row (the PLAIN fallback needs values).
            let mut nulls = Plain::<Bytes>::new(self.desc);
            for _ in 0..self.rows {
                nulls.null()?;
            }
            return nulls.finish();
        }
        let plain = match self.plain.take() {
            Some(plain) => plain.finish()?,
            None => Vec::new(),
        };
        let mut buf = Vec::new();
        for v in &self.values {
            Bytes::put(v, &mut buf);
        }
        let dict = compress(Page::Dict(DictPage::new(CowBuffer::Owned(buf), self.values.len(), false)))?;
        let mut pages = Vec::with_capacity(1 + self.pages.len() + plain.len());
        pages.push(dict);
        pages.append(&mut self.pages);
        pages.extend(plain);
        Ok(pages)
    }
}

/// A PLAIN-encoded column chunk as it fills: each page's definition levels
/// (of an optional column), values and bounds; a page closes at
/// [`PAGE_BYTES`] of values.
struct Plain<'a, K: Kind> {
    desc: &'a Descriptor,
    optional: bool,
    valid: Vec<bool>,
    nulls: usize,
    values: Vec<u8>,
    bounds: K,
    pages: Vec<CompressedPage>,
}

impl<'a, K: Kind> Plain<'a, K> {
    fn new(desc: &'a Descriptor) -> Plain<'a, K> {
        Plain {
            desc,
            optional: optional(desc),
            valid: Vec::new(),
            nulls: 0,
            values: Vec::new(),
            bounds: K::default(),
            pages: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, v: K::V<'_>) -> PolarsResult<()> {
        self.valid.push(true);
        K::put(v, &mut self.values);
        self.bounds.add(v);
        if self.values.len() >= PAGE_BYTES {
            self.close()?;
        }
        Ok(())
    }

    #[inline]
    fn null(&mut self) -> PolarsResult<()> {
        polars_ensure!(self.optional, ComputeError: "a null in the required Parquet column {}", self.desc.primitive_type.field_info.name);
        self.valid.push(false);
        self.nulls += 1;
        Ok(())
    }

    /// Closes the page being filled.
    fn close(&mut self) -> PolarsResult<()> {
        let n = self.valid.len();
        let mut buf = Vec::with_capacity(self.values.len() + 64);
        if self.optional {
            push_def_levels(&mut buf, n, &self.valid, self.nulls)?;
        }
        let encoding = K::encode_page(&self.values, &mut buf);
        let statistics = self.bounds.statistics(&self.desc.primitive_type, self.nulls);
        self.pages.push(data_page(self.desc, buf, n, encoding, statistics)?);
        self.valid.clear();
        self.values.clear();
        self.nulls = 0;
        self.bounds = K::default();
        Ok(())
    }

    /// The column chunk's pages (at least one).
    fn finish(mut self) -> PolarsResult<Vec<CompressedPage>> {
        if !self.valid.is_empty() || self.pages.is_empty() {
            self.close()?;
        }
        Ok(self.pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, OpenOptions};
    use crate::stream::{Decoded, EventQuestion, RowRef, Sink, Stream};
    use ttlog_core::{Event, Value};

    /// Keeps every streamed row.
    #[derive(Default)]
    struct Collect(Rows);

    impl Sink for Collect {
        fn batch(&mut self, _: &Tables, rows: &[RowRef<'_>]) -> io::Result<()> {
            self.0.extend(rows.iter().map(|&(d, r): &(&Arc<Decoded>, u32)| (Arc::clone(d), r)));
            Ok(())
        }
        fn finish(&mut self, _: &Tables) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every column as text (categories, NaN and nulls alike on both sides).
    fn as_text(df: &DataFrame) -> DataFrame {
        let columns: Vec<Column> =
            df.columns().iter().map(|c| c.cast(&DataType::String).unwrap().with_name(c.name().clone())).collect();
        DataFrame::new(df.height(), columns).unwrap()
    }

    /// A snapshot of `n` events of service `service`: call sites whose
    /// fields have every kind (a u64 beyond `i64::MAX`, NaN, 128-bit
    /// integers, a char, text), one field name with two kinds, three
    /// threads, times out of order across threads.
    fn snapshot(service: &str, n: u64, t0: i64) -> Vec<u8> {
        let site = |i: u64| -> (u32, &'static str, Vec<(Arc<str>, Value)>) {
            match i % 5 {
                0 => (
                    1,
                    "http",
                    vec![
                        (
                            "latency_us".into(),
                            Value::U64(if i.is_multiple_of(1000) { u64::MAX - i } else { i * 7 % 5000 }),
                        ),
                        ("path".into(), Value::Str(format!("/api/{}", i % 13))),
                        ("ok".into(), Value::Bool(i.is_multiple_of(3))),
                    ],
                ),
                1 => (
                    2,
                    "db",
                    vec![
                        ("rows".into(), Value::I64(-(i as i64))),
                        ("ratio".into(), Value::F32(i as f32 / 3.0)),
                        ("mixed".into(), Value::U64(i)),
                    ],
                ),
                2 => (
                    3,
                    "db",
                    vec![
                        ("mixed".into(), Value::F64(if i.is_multiple_of(7) { f64::NAN } else { i as f64 * 0.5 })),
                        ("big".into(), Value::U128(u128::MAX - u128::from(i))),
                        ("sign".into(), Value::Char('é')),
                    ],
                ),
                3 => (4, "cache", vec![("key with spaces.and dots".into(), Value::I128(-(i as i128)))]),
                _ => (5, "main", Vec::new()),
            }
        };
        let events: Vec<Event> = (0..n)
            .map(|i| {
                let (callsite, target, fields) = site(i);
                Event {
                    timestamp_ns: t0 + (i as i64) * 997 - (i % 3) as i64 * 50_000,
                    level: [
                        ttlog_core::Level::Info,
                        ttlog_core::Level::Warn,
                        ttlog_core::Level::Error,
                        ttlog_core::Level::Info,
                        ttlog_core::Level::Debug,
                    ][callsite as usize - 1],
                    target: target.into(),
                    message: format!("site {callsite}").into(),
                    file: "src/main.rs".into(),
                    line: callsite * 10,
                    module_path: "svc".into(),
                    thread_id: 1 + i % 3,
                    thread_name: (i % 3 != 2).then(|| format!("worker-{}", i % 3).into()),
                    seq: i / 3,
                    callsite,
                    fields,
                }
            })
            .collect();
        let mut meta = ttlog_core::snapshot::SnapshotMeta::new(service, "manual");
        // Another process than the other service's, or the two would be
        // one process's overlapping snapshots.
        meta.instance = Some(format!("{:0>32}", service.len()));
        ttlog_core::snapshot::encode(&ttlog_core::Capture::from_events(&events), &meta)
    }

    /// The inputs: two services, one of them past two row groups, whose
    /// days differ.
    fn inputs(dir: &Path) -> Vec<crate::Input> {
        let a = dir.join("a.bin");
        let b = dir.join("b.bin");
        std::fs::write(&a, snapshot("alpha", 300_000, 1_795_307_845_000_000_000)).unwrap();
        std::fs::write(&b, snapshot("beta/../x", 20_000, 1_795_307_845_000_000_000 + 86_400_000_000_000)).unwrap();
        vec![crate::Input::File(a), crate::Input::File(b)]
    }

    fn stream(catalog: &Catalog, sink: &mut dyn Sink) {
        let stream = Stream::new(catalog, EventQuestion::default()).unwrap();
        stream.run(sink, false, &|_| ()).unwrap();
    }

    #[test]
    fn the_pages_hold_what_the_event_frame_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = crate::testdata_files();
        files.retain(|f| !f.to_string_lossy().contains("damaged"));
        let mut cases: Vec<Vec<crate::Input>> = files.into_iter().map(|f| vec![crate::Input::File(f)]).collect();
        cases.push(inputs(dir.path()));
        for inputs in cases {
            let catalog = Catalog::open(&inputs, OpenOptions::default(), &|_| ()).unwrap();
            let mut rows = Collect::default();
            stream(&catalog, &mut rows);
            let tables = Tables::of(&catalog);
            let mut want_out = OutOfRange::new();
            let want = rows_frame(&tables, &rows.0, &mut want_out).unwrap();

            let out = dir.path().join("out.parquet");
            let mut sink = ParquetSink::new(&out, &[]).unwrap();
            stream(&catalog, &mut sink);
            assert_eq!(sink.out_of_range(), &want_out, "{inputs:?}");
            let got = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
            assert_eq!(got.schema(), want.schema(), "{inputs:?}");
            assert!(as_text(&got).equals_missing(&as_text(&want)), "{inputs:?}:\n{got}\n{want}");
        }
    }

    #[test]
    fn statistics_let_readers_skip_row_groups_rightly() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&inputs(dir.path()), OpenOptions::default(), &|_| ()).unwrap();
        let out = dir.path().join("out.parquet");
        let mut sink = ParquetSink::new(&out, &[]).unwrap();
        stream(&catalog, &mut sink);
        let all = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
        assert_eq!(all.height(), 320_000);
        let meta = ParquetReader::new(std::fs::File::open(&out).unwrap()).get_metadata().unwrap().clone();
        assert!(meta.row_groups.len() >= 2, "{} row groups", meta.row_groups.len());
        // polars prunes row groups by their statistics: wrong bounds would
        // lose rows.
        let mid = all.column("timestamp_ns").unwrap().i64().unwrap().get(200_000).unwrap();
        for (predicate, name) in [
            (col("timestamp_ns").gt_eq(lit(mid)), "timestamp_ns"),
            (col("field_latency_us").gt(lit(4_990i64)), "latency_us"),
            (col("field_rows").lt(lit(-299_000i64)), "rows"),
            (col("field_path").eq(lit("/api/12")), "path"),
            (col("service").eq(lit("beta/../x")), "service"),
            (col("field_ok").eq(lit(true)), "ok"),
        ] {
            let want = all.clone().lazy().filter(predicate.clone()).collect().unwrap().height();
            let scanned = LazyFrame::scan_parquet(PlRefPath::try_from_path(&out).unwrap(), ScanArgsParquet::default())
                .unwrap()
                .filter(predicate)
                .collect()
                .unwrap()
                .height();
            assert!(want > 0, "{name}");
            assert_eq!(scanned, want, "{name}");
        }
    }

    #[test]
    fn partitions_hold_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&inputs(dir.path()), OpenOptions::default(), &|_| ()).unwrap();
        let out = dir.path().join("ds");
        let mut sink = ParquetSink::new(&out, &["service".into(), "date".into(), "level".into()]).unwrap();
        stream(&catalog, &mut sink);
        let mut total = 0;
        for f in sink.files() {
            let rel = f.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
            let df = ParquetReader::new(std::fs::File::open(f).unwrap()).finish().unwrap();
            assert!(df.column("service").is_err() && df.column("level").is_err(), "{rel}");
            let levels = ["DEBUG", "INFO", "WARN", "ERROR"];
            assert!(levels.iter().any(|l| rel.contains(&format!("level={l}"))), "{rel}");
            let ts = df.column("timestamp_ns").unwrap().i64().unwrap();
            let day = format_date(crate::stats::bucket_start(ts.get(0).unwrap(), 86_400_000_000_000));
            assert!(rel.contains(&format!("date={day}")), "{rel}");
            assert!(
                ts.into_no_null_iter().all(|t| format_date(crate::stats::bucket_start(t, 86_400_000_000_000)) == day)
            );
            total += df.height();
        }
        assert_eq!(total, 320_000);
        // Two services, a day each, four levels.
        assert_eq!(sink.files().len(), 2 * 4, "{:?}", sink.files());
        assert!(sink.files().iter().any(|f| f.starts_with(out.join("service=beta%2F..%2Fx"))), "{:?}", sink.files());
    }
}
