//! Reading snapshot files: [`Snapshot`] opens a file (this format or the
//! original `ttlog` 0.1 one), checks its framing, and decodes chunks either
//! into columns ([`ChunkColumns`], for the viewer) or into [`Event`]s.
//!
//! Decoding is bounded: every length read from the file is checked against
//! the bytes that remain and against fixed caps before anything is allocated
//! for it, so a hostile or damaged file costs at most about its own size in
//! memory (plus one chunk of at most [`MAX_CHUNK_RAW_LEN`](super::format::MAX_CHUNK_RAW_LEN)).

use super::format::{self, CallSiteEntry, ChunkStats, ChunkWire, Header, Varints, encoding};
use super::legacy;
use crate::callsite::{CallSiteInfo, RateLimitInfo};
use crate::capture::{Event, ThreadInfo};
use crate::level::Level;
use crate::value::{Kind, Value};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The bytes of a stream of unknown length (a pipe, standard input, a
/// device) that should hold one snapshot, `name` used in errors: at most
/// [`MAX_SNAPSHOT_LEN`](super::format::MAX_SNAPSHOT_LEN) bytes, and none
/// past the first eight if they can start no snapshot.
///
/// ```
/// let e = ttlog_core::snapshot::read_stream(std::io::repeat(0), "zeros").unwrap_err();
/// assert!(e.to_string().starts_with("zeros: byte 0: not a TTLog snapshot"), "{e}");
/// ```
///
/// # Errors
/// When the stream cannot be read, holds more than `MAX_SNAPSHOT_LEN`
/// bytes, or starts with bytes that no snapshot starts with.
pub fn read_stream(reader: impl std::io::Read, name: &str) -> Result<Vec<u8>, SnapshotError> {
    read_capped(reader, name, format::MAX_SNAPSHOT_LEN, crate::memory::limit())
}

/// [`read_stream`] with a cap of `max` bytes, or `memory_limit` if less.
fn read_capped(
    reader: impl std::io::Read,
    name: &str,
    max: u64,
    memory_limit: Option<u64>,
) -> Result<Vec<u8>, SnapshotError> {
    use std::io::Read;
    let by_memory = memory_limit.is_some_and(|l| l < max);
    let max = memory_limit.map_or(max, |l| l.min(max));
    let err = |offset: u64, problem: Problem| SnapshotError { file: name.to_owned(), offset, problem };
    let io = |e: std::io::Error| err(0, Problem::Io(e.to_string()));
    let mut limited = reader.take(max + 1);
    let mut data = Vec::new();
    (&mut limited).take(8).read_to_end(&mut data).map_err(io)?;
    if data.len() == 8 && data[..] != format::MAGIC {
        let size = format::le_u32(&data, 0) as usize;
        if size == 0 || size > legacy::MAX_LEGACY_RAW_LEN {
            return Err(err(
                0,
                Problem::NotASnapshot(format!(
                    "no TTLOGSNP magic, and not a ttlog 0.1 snapshot: its first bytes declare {size} bytes"
                )),
            ));
        }
    }
    limited.read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > max && by_memory {
        let what = format!(
            "a pipe or device is read into memory whole, and this one goes on past {}",
            crate::memory::size_text(max)
        );
        return Err(err(max, Problem::MemoryLimit { what, limit: max }));
    }
    if data.len() as u64 > max {
        return Err(err(
            max,
            Problem::Invalid(format!("more than {} bytes (the most read from a pipe or device): not a snapshot", max)),
        ));
    }
    Ok(data)
}

/// Which format a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVersion {
    /// This crate's chunked format, with its major and minor version.
    Chunked {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A snapshot of the original `ttlog` 0.1 crate (one LZ4 block of CBOR).
    Legacy,
}

/// What is wrong with a snapshot file, or a part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// Neither this format's magic bytes nor a legacy snapshot.
    #[error("not a TTLog snapshot ({0})")]
    NotASnapshot(String),
    /// A major version this reader does not know.
    #[error("unsupported format version {major}.{minor} (this reader knows major version {known})", known = format::VERSION_MAJOR)]
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
    },
    /// The file ends inside something.
    #[error("file cut short: {what} needs {need} bytes, {have} remain")]
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes it needs.
        need: u64,
        /// Bytes left in the file.
        have: u64,
    },
    /// A checksum does not match.
    #[error("{what}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Crc {
        /// What the checksum covers.
        what: String,
        /// CRC in the file.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A structure is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Reading it would pass the memory limit ([`crate::memory`]).
    #[error("{what}: more than the memory limit of {}", crate::memory::size_text(*.limit))]
    MemoryLimit {
        /// What would need the memory, and about how much.
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },
}

/// An error in a snapshot file: which file, where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: byte {offset}: {problem}")]
pub struct SnapshotError {
    /// The file (or the name given to [`Snapshot::from_bytes`]).
    pub file: String,
    /// Byte offset in the file where the problem is.
    pub offset: u64,
    /// What is wrong.
    pub problem: Problem,
}

/// Where a chunk is and what its frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Position among the file's intact chunks.
    pub index: usize,
    /// Byte offset of the chunk's frame.
    pub offset: u64,
    /// Bytes of LZ4 data after the frame.
    pub compressed_len: u32,
    /// Bytes of CBOR once decompressed.
    pub raw_len: u32,
    /// Events in the chunk.
    pub events: u32,
    /// CRC-32 of the LZ4 data.
    pub crc: u32,
}

/// The text values of a column: UTF-8 bytes back to back and the offset of
/// each value (one more offset than values).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrColumn {
    /// `offsets[i]..offsets[i + 1]` is value `i` in `data` (always on char
    /// boundaries).
    pub offsets: Vec<u32>,
    /// The text.
    pub data: String,
}

impl StrColumn {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`. Panics if `i >= len()`.
    pub fn get(&self, i: usize) -> &str {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub(crate) fn push(&mut self, s: &str) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.data.push_str(s);
        self.offsets.push(self.data.len() as u32);
    }
}

/// The values of one field column, typed.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Values {
    Bool(Vec<bool>),
    Char(Vec<char>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    U128(Vec<u128>),
    I128(Vec<i128>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Str(StrColumn),
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::Bool(v) => v.len(),
            Values::Char(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::U128(v) => v.len(),
            Values::I128(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of the values.
    pub fn kind(&self) -> Kind {
        match self {
            Values::Bool(_) => Kind::Bool,
            Values::Char(_) => Kind::Char,
            Values::U64(_) => Kind::U64,
            Values::I64(_) => Kind::I64,
            Values::U128(_) => Kind::U128,
            Values::I128(_) => Kind::I128,
            Values::F32(_) => Kind::F32,
            Values::F64(_) => Kind::F64,
            Values::Str(_) => Kind::Str,
        }
    }

    /// Value `i` as a [`Value`], if in range.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Values::Bool(v) => Value::Bool(*v.get(i)?),
            Values::Char(v) => Value::Char(*v.get(i)?),
            Values::U64(v) => Value::U64(*v.get(i)?),
            Values::I64(v) => Value::I64(*v.get(i)?),
            Values::U128(v) => Value::U128(*v.get(i)?),
            Values::I128(v) => Value::I128(*v.get(i)?),
            Values::F32(v) => Value::F32(*v.get(i)?),
            Values::F64(v) => Value::F64(*v.get(i)?),
            Values::Str(v) => {
                if i >= v.len() {
                    return None;
                }
                Value::Str(v.get(i).to_owned())
            }
        })
    }
}

/// The values of field `field` of call site `callsite` in one chunk, in the
/// order of that call site's events.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldColumn {
    /// Call-site id.
    pub callsite: u32,
    /// Field index within the call site.
    pub field: u32,
    /// The values.
    pub values: Values,
}

/// One chunk decoded into columns: one entry per event in each of
/// `timestamps`, `callsites`, `threads`, `seqs` and `ranks`; field values in
/// per-(call site, field) columns. Event `i`'s value of field `f` is
/// `column(callsites[i], f).values[ranks[i]]`.
///
/// ```
/// use ttlog_core::snapshot::{Snapshot, SnapshotMeta, Values, encode};
/// let _t = ttlog_core::Trace::builder().install();
/// for i in 0..3u64 {
///     ttlog_core::info!("fill", qty = 10 * i);
/// }
/// let snap = Snapshot::from_bytes(encode(&ttlog_core::capture(), &SnapshotMeta::new("doc", "x")), "mem").unwrap();
/// let cols = snap.decode_chunk(0).unwrap();
/// let site = snap.callsites().iter().find(|c| &*c.message == "fill").unwrap();
/// assert_eq!(cols.column(site.id, 0).unwrap().values, Values::U64(vec![0, 10, 20]));
/// let row = cols.callsites.iter().position(|&c| c == site.id).unwrap();
/// assert_eq!(cols.value(row, 0), Some(ttlog_core::Value::U64(0)));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkColumns {
    /// UTC nanoseconds since the Unix epoch.
    pub timestamps: Vec<i64>,
    /// Call-site ids (index `id - 1` of [`Snapshot::callsites`]).
    pub callsites: Vec<u32>,
    /// Thread indices into [`Snapshot::threads`].
    pub threads: Vec<u32>,
    /// Sequence number of each event within its thread's ring.
    pub seqs: Vec<u64>,
    /// Position of each event among the chunk's events of its call site.
    pub ranks: Vec<u32>,
    /// Field columns, sorted by call site then field.
    pub columns: Vec<FieldColumn>,
}

impl ChunkColumns {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.callsites.len()
    }

    /// Whether the chunk holds no events.
    pub fn is_empty(&self) -> bool {
        self.callsites.is_empty()
    }

    /// The bytes of memory its buffers hold (their capacity): what keeping
    /// it costs, for a memory budget ([`crate::memory`]).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        fn cap<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        let values = |v: &Values| match v {
            Values::Bool(v) => cap(v),
            Values::Char(v) => cap(v),
            Values::U64(v) => cap(v),
            Values::I64(v) => cap(v),
            Values::U128(v) => cap(v),
            Values::I128(v) => cap(v),
            Values::F32(v) => cap(v),
            Values::F64(v) => cap(v),
            Values::Str(s) => cap(&s.offsets) + s.data.capacity(),
        };
        cap(&self.timestamps)
            + cap(&self.callsites)
            + cap(&self.threads)
            + cap(&self.seqs)
            + cap(&self.ranks)
            + cap(&self.columns)
            + self.columns.iter().map(|c| values(&c.values)).sum::<usize>()
            + size_of_val(self)
    }

    /// The column of field `field` of call site `callsite`.
    pub fn column(&self, callsite: u32, field: u32) -> Option<&FieldColumn> {
        let i = self.columns.binary_search_by_key(&(callsite, field), |c| (c.callsite, c.field)).ok()?;
        Some(&self.columns[i])
    }

    /// The value of field `field` of event `row`.
    pub fn value(&self, row: usize, field: u32) -> Option<Value> {
        let col = self.column(*self.callsites.get(row)?, field)?;
        col.values.get(*self.ranks.get(row)? as usize)
    }
}

/// An opened snapshot file.
///
/// ```no_run
/// use ttlog_core::snapshot::Snapshot;
/// let snap = Snapshot::open("/var/tmp/ttlog/ttlog-pricing-1-20261122T002723.123Z-panic.bin")?;
/// println!("{} events from {}", snap.header().counters.in_snapshot, snap.header().service);
/// for problem in snap.problems() {
///     eprintln!("{problem}");
/// }
/// for event in snap.events() {
///     let event = event?;
///     println!("{} {} {:?}", event.level, event.message, event.fields);
/// }
/// # Ok::<(), ttlog_core::snapshot::SnapshotError>(())
/// ```
pub struct Snapshot {
    name: String,
    data: Data,
    version: FormatVersion,
    /// Bytes of the CBOR header (0 for legacy files).
    header_len: usize,
    header: Header,
    sites: Vec<Arc<CallSiteInfo>>,
    threads: Vec<ThreadInfo>,
    chunks: Vec<ChunkInfo>,
    /// Per intact chunk, its entry in the header's chunk index, if any.
    indexed: Vec<Option<u32>>,
    /// Entries of the header's chunk index that match no intact chunk.
    lost: Vec<u32>,
    problems: Vec<SnapshotError>,
    complete: bool,
    legacy: Option<ChunkColumns>,
    /// The panic's event, for a file written before the panic hook logged
    /// it (see [`Snapshot::with_panic_event`]): the last chunk of
    /// `chunks`, held decoded, with its statistics.
    panic_event: Option<(ChunkColumns, ChunkStats)>,
}

/// Where a snapshot's chunk bytes are.
enum Data {
    /// All of the file, in memory.
    Bytes(Vec<u8>),
    /// In the file, read chunk by chunk when decoded (a file whose header
    /// indexes its chunks and whose length and end marker agree with it).
    File(std::path::PathBuf),
}

/// Which columns [`Snapshot::decode_chunk_with`] decodes. Call-site ids are
/// always decoded; the columns left out stay empty in the [`ChunkColumns`].
///
/// ```
/// use ttlog_core::snapshot::{FieldSet, Projection};
/// let p = Projection { timestamps: true, threads: false, seqs: false, fields: FieldSet::None };
/// assert!(Projection::ALL.fields.contains(1, 0));
/// assert!(!p.fields.contains(1, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Timestamps.
    pub timestamps: bool,
    /// Thread indices.
    pub threads: bool,
    /// Sequence numbers (thread indices are decoded with them).
    pub seqs: bool,
    /// Field columns (and the ranks that index them).
    pub fields: FieldSet,
}

impl Projection {
    /// Every column.
    pub const ALL: Projection = Projection { timestamps: true, threads: true, seqs: true, fields: FieldSet::All };
}

/// The field columns of a [`Projection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    /// None.
    None,
    /// Every one.
    All,
    /// These `(call-site id, field index)` columns, sorted.
    Only(Vec<(u32, u32)>),
}

impl FieldSet {
    /// Whether the column of field `field` of call site `callsite` is in
    /// the set.
    pub fn contains(&self, callsite: u32, field: u32) -> bool {
        match self {
            FieldSet::None => false,
            FieldSet::All => true,
            FieldSet::Only(v) => v.binary_search(&(callsite, field)).is_ok(),
        }
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("name", &self.name)
            .field("version", &self.version)
            .field(
                "data",
                &match &self.data {
                    Data::Bytes(b) => format!("{} bytes in memory", b.len()),
                    Data::File(p) => format!("read from {} chunk by chunk", p.display()),
                },
            )
            .field("chunks", &self.chunks.len())
            .field("problems", &self.problems)
            .finish()
    }
}

impl Snapshot {
    /// Opens and checks the framing of the snapshot at `path` (both this
    /// format and the original `ttlog` 0.1 one).
    ///
    /// # Errors
    /// When the file cannot be read, is no snapshot, or its header is
    /// damaged. Damage further in (a cut-off end, a bad chunk) is not an
    /// error here: see [`Snapshot::problems`].
    pub fn open(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io =
            |e: std::io::Error| SnapshotError { file: name.clone(), offset: 0, problem: Problem::Io(e.to_string()) };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if let Some(s) = Snapshot::open_indexed(&mut file, len, path, &name).map_err(io)? {
            return Ok(s.with_panic_event());
        }
        if file.metadata().map_err(io)?.is_file() {
            // A regular file's bytes exist: reading them costs their size.
            crate::memory::check(len).map_err(|over| SnapshotError {
                file: name.clone(),
                offset: 0,
                problem: Problem::MemoryLimit {
                    what: format!(
                        "this file has no chunk index, so it is read whole: {}",
                        crate::memory::size_text(len)
                    ),
                    limit: over.limit,
                },
            })?;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).map_err(io)?;
            Snapshot::from_bytes(data, name)
        } else {
            Snapshot::from_reader(file, name)
        }
    }

    /// Like [`Snapshot::open`], for a stream of unknown length (a pipe,
    /// standard input, a device): reads at most
    /// [`MAX_SNAPSHOT_LEN`](super::format::MAX_SNAPSHOT_LEN) bytes, and
    /// stops at the first bytes if they can start no snapshot (`/dev/zero`
    /// fails at once rather than fill memory).
    ///
    /// ```
    /// use ttlog_core::snapshot::Snapshot;
    /// let e = Snapshot::from_reader(std::io::repeat(0), "zeros").unwrap_err();
    /// assert!(e.to_string().starts_with("zeros: byte 0: not a TTLog snapshot"), "{e}");
    /// ```
    ///
    /// # Errors
    /// As [`Snapshot::open`], and when the stream holds more than
    /// `MAX_SNAPSHOT_LEN` bytes.
    pub fn from_reader(reader: impl std::io::Read, name: impl Into<String>) -> Result<Snapshot, SnapshotError> {
        let name = name.into();
        Snapshot::from_bytes(read_stream(reader, &name)?, name)
    }

    /// Opens a file of format 1.1 or later whose header indexes its chunks,
    /// reading only its preamble, header and end marker: its chunks are read
    /// when decoded. `None` (and the file rewound) when the file is of
    /// another format or its length or end marker disagree with the index:
    /// the caller reads and scans all of it.
    fn open_indexed(file: &mut std::fs::File, len: u64, path: &Path, name: &str) -> std::io::Result<Option<Snapshot>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut pre = [0u8; format::PREAMBLE_LEN];
        let indexed = (|| -> std::io::Result<Option<Snapshot>> {
            if len < (format::PREAMBLE_LEN + format::FRAME_LEN) as u64 {
                return Ok(None);
            }
            file.read_exact(&mut pre)?;
            let header_len = format::le_u32(&pre, 12) as u64;
            if pre[..8] != format::MAGIC
                || u16::from_le_bytes([pre[8], pre[9]]) != format::VERSION_MAJOR
                || header_len > format::MAX_HEADER_LEN as u64
                || format::PREAMBLE_LEN as u64 + header_len + format::FRAME_LEN as u64 > len
            {
                return Ok(None);
            }
            let mut head = pre.to_vec();
            head.resize(format::PREAMBLE_LEN + header_len as usize, 0);
            file.read_exact(&mut head[format::PREAMBLE_LEN..])?;
            let mut end = [0u8; format::FRAME_LEN];
            file.seek(SeekFrom::Start(len - format::FRAME_LEN as u64))?;
            file.read_exact(&mut end)?;
            let Ok(mut s) = Snapshot::parse_chunked(head, name.to_owned(), false) else { return Ok(None) };
            Ok(s.take_index(len, &end).then(|| {
                s.data = Data::File(path.to_path_buf());
                s
            }))
        })()?;
        if indexed.is_none() {
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(indexed)
    }

    /// For a snapshot parsed from its preamble and header only: takes the
    /// header's chunk index as the list of chunks if the file's length and
    /// end marker (`end`, its last bytes) agree with it and every entry is
    /// possible. Returns whether it did.
    fn take_index(&mut self, file_len: u64, end: &[u8; format::FRAME_LEN]) -> bool {
        let Some(index) = &self.header.chunks else { return false };
        let limits = ChunkLimits::new(&self.sites);
        let base = (format::PREAMBLE_LEN + self.header_len) as u64;
        let mut at = 0u64;
        let mut events = 0u64;
        let mut chunks = Vec::with_capacity(index.len());
        for (i, e) in index.iter().enumerate() {
            let sane = e.at == at && limits.check(e.stats.events, e.raw, e.len).is_ok();
            if !sane {
                return false;
            }
            chunks.push(ChunkInfo {
                index: i,
                offset: base + at,
                compressed_len: e.len,
                raw_len: e.raw,
                events: e.stats.events,
                crc: e.crc,
            });
            at += format::FRAME_LEN as u64 + u64::from(e.len);
            events += u64::from(e.stats.events);
        }
        let end_ok = end[..4] == format::END_MAGIC
            && crc32fast::hash(&end[..20]) == format::le_u32(end, 20)
            && format::le_u32(end, 4) as usize == index.len()
            && u64::from_le_bytes(end[8..16].try_into().expect("8 bytes")) == events;
        // The index must agree with the header's own count, as a writer's
        // does: a crafted index that claims more is not trusted (the chunks
        // are scanned and decoded for their statistics instead).
        if !end_ok || base + at + format::FRAME_LEN as u64 != file_len || events != self.header.counters.in_snapshot {
            return false;
        }
        self.indexed = (0..chunks.len() as u32).map(Some).collect();
        self.chunks = chunks;
        self.complete = true;
        true
    }

    /// Like [`Snapshot::open`], for bytes in memory; `name` is used in
    /// errors.
    ///
    /// # Errors
    /// As [`Snapshot::open`].
    pub fn from_bytes(data: Vec<u8>, name: impl Into<String>) -> Result<Snapshot, SnapshotError> {
        let name = name.into();
        if data.len() >= 8 && data[..8] == format::MAGIC {
            return Snapshot::parse_chunked(data, name, true).map(Snapshot::with_panic_event);
        }
        match legacy::parse(&data) {
            Ok((header, columns)) => {
                let (sites, threads) = tables(&header).map_err(|p| SnapshotError {
                    file: name.clone(),
                    offset: 0,
                    problem: Problem::Invalid(p),
                })?;
                let info = ChunkInfo {
                    index: 0,
                    offset: 0,
                    compressed_len: data.len() as u32,
                    raw_len: 0,
                    events: columns.len() as u32,
                    crc: 0,
                };
                Ok(Snapshot {
                    name,
                    data: Data::Bytes(Vec::new()),
                    version: FormatVersion::Legacy,
                    header_len: 0,
                    header,
                    sites,
                    threads,
                    chunks: vec![info],
                    indexed: vec![None],
                    lost: Vec::new(),
                    problems: Vec::new(),
                    complete: true,
                    legacy: Some(columns),
                    panic_event: None,
                })
            }
            Err((offset, problem)) => Err(SnapshotError { file: name, offset, problem }),
        }
    }

    /// Parses the preamble and header of `data`, then (`scan`) walks its
    /// chunk frames; without `scan`, `data` may end after the header.
    fn parse_chunked(data: Vec<u8>, name: String, scan_chunks: bool) -> Result<Snapshot, SnapshotError> {
        let err =
            |offset: usize, problem: Problem| SnapshotError { file: name.clone(), offset: offset as u64, problem };
        if data.len() < format::PREAMBLE_LEN {
            return Err(err(
                data.len(),
                Problem::Truncated {
                    what: "the preamble".into(),
                    need: format::PREAMBLE_LEN as u64,
                    have: data.len() as u64,
                },
            ));
        }
        let major = u16::from_le_bytes([data[8], data[9]]);
        let minor = u16::from_le_bytes([data[10], data[11]]);
        if major != format::VERSION_MAJOR {
            return Err(err(8, Problem::UnsupportedVersion { major, minor }));
        }
        let header_len = format::le_u32(&data, 12) as usize;
        let header_crc = format::le_u32(&data, 16);
        let have = data.len() - format::PREAMBLE_LEN;
        if header_len > format::MAX_HEADER_LEN {
            return Err(err(12, Problem::Invalid(format!("header length {header_len} is above the limit"))));
        }
        if header_len > have {
            return Err(err(
                format::PREAMBLE_LEN,
                Problem::Truncated { what: "the header".into(), need: header_len as u64, have: have as u64 },
            ));
        }
        let hb = &data[format::PREAMBLE_LEN..format::PREAMBLE_LEN + header_len];
        let computed = crc32fast::hash(hb);
        if computed != header_crc {
            return Err(err(
                format::PREAMBLE_LEN,
                Problem::Crc { what: "header".into(), stored: header_crc, computed },
            ));
        }
        let header: Header = serde_cbor::from_slice(hb)
            .map_err(|e| err(format::PREAMBLE_LEN, Problem::Invalid(format!("header is not valid CBOR: {e}"))))?;
        let (sites, threads) = tables(&header).map_err(|p| err(format::PREAMBLE_LEN, Problem::Invalid(p)))?;

        let limits = ChunkLimits::new(&sites);
        let (chunks, problems, complete) = if scan_chunks {
            scan(&data, format::PREAMBLE_LEN + header_len, &name, limits)
        } else {
            (Vec::new(), Vec::new(), false)
        };
        // Match the intact chunks to the header's index by position and CRC.
        let index = header.chunks.as_deref().unwrap_or(&[]);
        let base = (format::PREAMBLE_LEN + header_len) as u64;
        let find = |c: &ChunkInfo| {
            let at = c.offset.checked_sub(base)?;
            let i = index.binary_search_by_key(&at, |e| e.at).ok()?;
            let e = &index[i];
            (e.len == c.compressed_len && e.raw == c.raw_len && e.crc == c.crc && e.stats.events == c.events)
                .then_some(i as u32)
        };
        let indexed: Vec<Option<u32>> = chunks.iter().map(find).collect();
        let lost = if scan_chunks {
            (0..index.len() as u32).filter(|i| !indexed.contains(&Some(*i))).collect()
        } else {
            Vec::new()
        };
        Ok(Snapshot {
            name,
            data: Data::Bytes(if scan_chunks { data } else { Vec::new() }),
            version: FormatVersion::Chunked { major, minor },
            header_len,
            header,
            sites,
            threads,
            chunks,
            indexed,
            lost,
            problems,
            complete,
            legacy: None,
            panic_event: None,
        })
    }

    /// A snapshot taken by the panic hook holds the panic as the panicking
    /// thread's last event (level ERROR, target `panic`, fields `message`
    /// and `location`), so that every output sees it. Files written before
    /// the hook logged it have the panic in their header only: this gives
    /// them (format 1.0 and 1.1) the same event, as one more chunk held
    /// decoded, after the last: at the time of the file's newest event, with
    /// the thread's next sequence number, its call site at the panic's
    /// location. The header is left as the file has it.
    fn with_panic_event(mut self) -> Snapshot {
        // Writers of format 1.2 log the event whenever the hook runs.
        let before_1_2 = matches!(self.version, FormatVersion::Chunked { major: 1, minor } if minor < 2);
        let Some(panic) = self.header.panic.clone().filter(|_| before_1_2) else { return self };
        let logged = |c: &Arc<CallSiteInfo>| {
            &*c.target == "panic"
                && &*c.message == "panic"
                && c.fields.iter().map(|(n, _)| &**n).eq(["message", "location"])
        };
        if self.sites.iter().any(logged) || self.sites.len() >= crate::ring::MAX_CALLSITE_ID as usize {
            return self;
        }
        // At the newest event of the file (the panic came after the
        // thread's last event and before the snapshot, which may have
        // taken a while): from the chunk index, else the last chunk's times.
        let newest = (0..self.chunks.len())
            .filter_map(|i| self.chunk_stats(i).map(|st| st.max_ts))
            .max()
            .or_else(|| {
                let last = self.chunks.len().checked_sub(1)?;
                let only = Projection { timestamps: true, threads: false, seqs: false, fields: FieldSet::None };
                self.decode_chunk_with(last, &only).ok()?.timestamps.into_iter().max()
            })
            .unwrap_or(self.header.created_at_ns);
        // The call site is the panic's location (`file:line:column`).
        let (file, line) = panic
            .location
            .as_deref()
            .and_then(|l| {
                let mut parts = l.rsplitn(3, ':');
                let (_column, line, file) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
                Some((file.to_owned(), line))
            })
            .unwrap_or_default();
        let id = self.sites.len() as u32 + 1;
        self.sites.push(Arc::new(CallSiteInfo {
            id,
            level: Level::Error,
            target: Arc::from("panic"),
            message: Arc::from("panic"),
            file: Arc::from(file.as_str()),
            line,
            module_path: Arc::from(""),
            fields: vec![(Arc::from("message"), Kind::Str), (Arc::from("location"), Kind::Str)],
            rate_limit: None,
        }));
        let named = |t: &ThreadInfo| panic.thread.is_some() && t.name.as_deref() == panic.thread.as_deref();
        let thread = match self.threads.iter().position(named) {
            Some(i) => i,
            None => {
                let id = self.threads.iter().map(|t| t.id).max().map_or(1, |m| m.saturating_add(1));
                self.threads.push(ThreadInfo { id, name: panic.thread.as_deref().map(Arc::from) });
                self.threads.len() - 1
            }
        };
        let seq = self.header.threads.get(thread).map_or(0, |t| t.written);
        let text = |s: &str| {
            let mut c = StrColumn::default();
            c.push(s);
            Values::Str(c)
        };
        let cols = ChunkColumns {
            timestamps: vec![newest],
            callsites: vec![id],
            threads: vec![thread as u32],
            seqs: vec![seq],
            ranks: vec![0],
            columns: vec![
                FieldColumn { callsite: id, field: 0, values: text(&panic.message) },
                FieldColumn { callsite: id, field: 1, values: text(panic.location.as_deref().unwrap_or("")) },
            ],
        };
        let stats = ChunkStats::of(&cols.timestamps, &cols.callsites, &cols.threads, &cols.seqs);
        self.panic_event = Some((cols, stats));
        let end = self.chunks.last().map_or(0, |c| c.offset + format::FRAME_LEN as u64 + u64::from(c.compressed_len));
        self.chunks.push(ChunkInfo {
            index: self.chunks.len(),
            offset: end,
            compressed_len: 0,
            raw_len: 0,
            events: 1,
            crc: 0,
        });
        self.indexed.push(None);
        self
    }

    /// The panic's event of [`Snapshot::with_panic_event`] if `index` is
    /// its chunk, with the columns `projection` names.
    fn panic_chunk(&self, index: usize, projection: &Projection) -> Option<ChunkColumns> {
        let (cols, _) = self.panic_event.as_ref().filter(|_| index + 1 == self.chunks.len())?;
        let mut cols = cols.clone();
        if !projection.timestamps {
            cols.timestamps.clear();
        }
        if !projection.seqs {
            cols.seqs.clear();
            if !projection.threads {
                cols.threads.clear();
            }
        }
        if projection.fields == FieldSet::None {
            cols.ranks.clear();
        }
        cols.columns.retain(|c| projection.fields.contains(c.callsite, c.field));
        Some(cols)
    }

    /// The file name (or the name given to [`Snapshot::from_bytes`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format the file was written in.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The call-site table (index `id - 1`).
    pub fn callsites(&self) -> &[Arc<CallSiteInfo>] {
        &self.sites
    }

    /// The call site with this id.
    pub fn callsite(&self, id: u32) -> Option<&Arc<CallSiteInfo>> {
        self.sites.get((id as usize).checked_sub(1)?)
    }

    /// The thread table (chunks refer to it by index).
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// The intact chunk frames, in file order.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// Damage found while opening: a cut-off end, bad frames, bytes that are
    /// not a chunk. Chunks listed in [`Snapshot::chunks`] are still readable.
    pub fn problems(&self) -> &[SnapshotError] {
        &self.problems
    }

    /// Whether the file ended with its end marker and no damage was found
    /// while opening (chunk contents are checked by [`Snapshot::decode_chunk`]).
    pub fn is_complete(&self) -> bool {
        self.complete && self.problems.is_empty()
    }

    /// Total events in the intact chunk frames.
    pub fn event_count(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.events)).sum()
    }

    /// Decodes chunk `index` (of [`Snapshot::chunks`]) into columns. Chunks
    /// are independent: decode them in parallel if you like (`Snapshot` is
    /// `Sync`).
    ///
    /// # Errors
    /// When the chunk's CRC, compression, CBOR or columns are damaged; the
    /// error gives the chunk frame's offset. `index` out of range is an
    /// error too.
    pub fn decode_chunk(&self, index: usize) -> Result<ChunkColumns, SnapshotError> {
        self.decode_chunk_with(index, &Projection::ALL)
    }

    /// Decodes the columns `projection` names of chunk `index` (call-site
    /// ids always): a reader that needs a few columns of a chunk skips the
    /// work of the others. The whole chunk is still checked against its CRC
    /// and decompressed.
    ///
    /// ```
    /// use ttlog_core::snapshot::{FieldSet, Projection, Snapshot};
    /// let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/normal.bin");
    /// let snap = Snapshot::open(p).unwrap();
    /// let only = Projection { timestamps: true, threads: false, seqs: false, fields: FieldSet::None };
    /// let cols = snap.decode_chunk_with(0, &only).unwrap();
    /// assert_eq!((cols.len(), cols.timestamps.len(), cols.seqs.len(), cols.columns.len()), (43, 43, 0, 0));
    /// ```
    ///
    /// # Errors
    /// As [`Snapshot::decode_chunk`].
    pub fn decode_chunk_with(&self, index: usize, projection: &Projection) -> Result<ChunkColumns, SnapshotError> {
        if let Some(cols) = &self.legacy {
            self.chunk_info(index)?;
            return Ok(cols.clone());
        }
        if let Some(cols) = self.panic_chunk(index, projection) {
            return Ok(cols);
        }
        let (info, payload) = self.chunk_payload(index)?;
        let err = |problem: Problem| SnapshotError { file: self.name.clone(), offset: info.offset, problem };
        let raw = lz4::block::decompress(&payload, Some(info.raw_len as i32))
            .map_err(|e| err(Problem::Invalid(format!("chunk {index}: LZ4 data is damaged: {e}"))))?;
        if raw.len() != info.raw_len as usize {
            return Err(err(Problem::Invalid(format!(
                "chunk {index}: LZ4 data gives {} bytes, the frame says {}",
                raw.len(),
                info.raw_len
            ))));
        }
        let wire: ChunkWire<'_> = serde_cbor::from_slice(&raw)
            .map_err(|e| err(Problem::Invalid(format!("chunk {index}: CBOR is damaged: {e}"))))?;
        if wire.n != info.events {
            return Err(err(Problem::Invalid(format!(
                "chunk {index}: holds {} events, the frame says {}",
                wire.n, info.events
            ))));
        }
        decode_wire(&wire, &self.sites, self.threads.len(), projection)
            .map_err(|m| err(Problem::Invalid(format!("chunk {index}: {m}"))))
    }

    /// Checks chunk `index` against its CRC without decompressing it: what a
    /// reader that answers from [`Snapshot::chunk_stats`] does to be sure the
    /// chunk is intact.
    ///
    /// # Errors
    /// As [`Snapshot::decode_chunk`], for the frame and the CRC.
    pub fn verify_chunk(&self, index: usize) -> Result<(), SnapshotError> {
        if self.legacy.is_some() || (self.panic_event.is_some() && index + 1 == self.chunks.len()) {
            return self.chunk_info(index).map(|_| ());
        }
        self.chunk_payload(index).map(|_| ())
    }

    fn chunk_info(&self, index: usize) -> Result<&ChunkInfo, SnapshotError> {
        self.chunks.get(index).ok_or_else(|| SnapshotError {
            file: self.name.clone(),
            offset: 0,
            problem: Problem::Invalid(format!("no chunk {index} (the file has {})", self.chunks.len())),
        })
    }

    /// The LZ4 data of chunk `index`, checked against its CRC (and, for a
    /// chunk read from the file, its frame against the index).
    fn chunk_payload(&self, index: usize) -> Result<(&ChunkInfo, std::borrow::Cow<'_, [u8]>), SnapshotError> {
        let info = self.chunk_info(index)?;
        let err = |problem: Problem| SnapshotError { file: self.name.clone(), offset: info.offset, problem };
        let payload: std::borrow::Cow<'_, [u8]> = match &self.data {
            Data::Bytes(data) => {
                let start = info.offset as usize + format::FRAME_LEN;
                std::borrow::Cow::Borrowed(&data[start..start + info.compressed_len as usize])
            }
            Data::File(path) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut buf = vec![0u8; format::FRAME_LEN + info.compressed_len as usize];
                std::fs::File::open(path)
                    .and_then(|mut f| {
                        f.seek(SeekFrom::Start(info.offset))?;
                        f.read_exact(&mut buf)
                    })
                    .map_err(|e| err(Problem::Io(format!("chunk {index}: {e}"))))?;
                let frame = &buf[..format::FRAME_LEN];
                let (stored, computed) = (format::le_u32(frame, 20), crc32fast::hash(&frame[..20]));
                if frame[..4] != format::CHUNK_MAGIC {
                    return Err(err(Problem::Invalid(format!("chunk {index}: no chunk frame where the index says"))));
                }
                if stored != computed {
                    return Err(err(Problem::Crc { what: format!("chunk {index} frame"), stored, computed }));
                }
                let said = [info.compressed_len, info.raw_len, info.events, info.crc];
                let found = [4, 8, 12, 16].map(|at| format::le_u32(frame, at));
                if said != found {
                    return Err(err(Problem::Invalid(format!(
                        "chunk {index}: the frame says {found:?} (compressed, raw, events, CRC), the index {said:?}"
                    ))));
                }
                buf.drain(..format::FRAME_LEN);
                std::borrow::Cow::Owned(buf)
            }
        };
        let computed = crc32fast::hash(&payload);
        if computed != info.crc {
            return Err(err(Problem::Crc { what: format!("chunk {index} data"), stored: info.crc, computed }));
        }
        Ok((info, payload))
    }

    /// The statistics of chunk `index` stored in the file (format 1.1; and
    /// those of the panic's event that the reader adds to files before 1.2),
    /// or `None` (files of format 1.0 and legacy files carry none: compute
    /// them from the decoded chunk with [`ChunkStats::of`]).
    pub fn chunk_stats(&self, index: usize) -> Option<&ChunkStats> {
        if let Some((_, stats)) = self.panic_event.as_ref().filter(|_| index + 1 == self.chunks.len()) {
            return Some(stats);
        }
        let i = (*self.indexed.get(index)?)?;
        Some(&self.header.chunks.as_ref()?[i as usize].stats)
    }

    /// The statistics of the chunks the header's index lists but that are
    /// not intact in the file (cut off, or their frame damaged): what was
    /// lost, by call site and thread.
    pub fn lost_chunks(&self) -> impl Iterator<Item = &ChunkStats> + '_ {
        let index = self.header.chunks.as_deref().unwrap_or(&[]);
        self.lost.iter().map(move |&i| &index[i as usize].stats)
    }

    /// Whether the chunks are read from the file as they are decoded (the
    /// file is indexed and was not read whole when opened).
    pub fn reads_lazily(&self) -> bool {
        matches!(self.data, Data::File(_))
    }

    /// Turns event `row` of a decoded chunk into an [`Event`] (`None` if the
    /// row is out of range).
    pub fn event(&self, cols: &ChunkColumns, row: usize) -> Option<Event> {
        let cs = *cols.callsites.get(row)?;
        let site = self.callsite(cs)?;
        let thread = self.threads.get(*cols.threads.get(row)? as usize)?;
        let rank = *cols.ranks.get(row)? as usize;
        let mut fields = Vec::with_capacity(site.fields.len());
        for (f, (name, _)) in site.fields.iter().enumerate() {
            let v = cols.column(cs, f as u32)?.values.get(rank)?;
            fields.push((Arc::clone(name), v));
        }
        Some(Event {
            timestamp_ns: cols.timestamps[row],
            level: site.level,
            target: Arc::clone(&site.target),
            message: Arc::clone(&site.message),
            file: Arc::clone(&site.file),
            line: site.line,
            module_path: Arc::clone(&site.module_path),
            thread_id: thread.id,
            thread_name: thread.name.clone(),
            seq: cols.seqs[row],
            callsite: cs,
            fields,
        })
    }

    /// Every event of every intact chunk, in file order (time order for
    /// files of this crate), then the problems found while opening. A
    /// damaged chunk yields one error in its place and the iteration goes
    /// on.
    pub fn events(&self) -> Events<'_> {
        Events { snap: self, chunk: 0, cols: None, row: 0, problem: 0 }
    }
}

/// Iterator of [`Snapshot::events`].
#[derive(Debug)]
pub struct Events<'a> {
    snap: &'a Snapshot,
    chunk: usize,
    cols: Option<ChunkColumns>,
    row: usize,
    problem: usize,
}

impl Iterator for Events<'_> {
    type Item = Result<Event, SnapshotError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cols) = &self.cols {
                if self.row < cols.len() {
                    let row = self.row;
                    self.row += 1;
                    match self.snap.event(cols, row) {
                        Some(e) => return Some(Ok(e)),
                        None => continue,
                    }
                }
                self.cols = None;
            }
            if self.chunk < self.snap.chunks.len() {
                let i = self.chunk;
                self.chunk += 1;
                self.row = 0;
                match self.snap.decode_chunk(i) {
                    Ok(c) => self.cols = Some(c),
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            let p = self.snap.problems.get(self.problem)?;
            self.problem += 1;
            return Some(Err(p.clone()));
        }
    }
}

/// The call-site and thread tables of a header.
fn tables(header: &Header) -> Result<(Vec<Arc<CallSiteInfo>>, Vec<ThreadInfo>), String> {
    let mut sites = Vec::with_capacity(header.callsites.len());
    for (i, c) in header.callsites.iter().enumerate() {
        if c.id as usize != i + 1 {
            return Err(format!("call site #{i} has id {} (ids must be 1, 2, 3, …)", c.id));
        }
        sites.push(Arc::new(callsite_info(c)?));
    }
    let threads =
        header.threads.iter().map(|t| ThreadInfo { id: t.id, name: t.name.as_deref().map(Arc::from) }).collect();
    Ok((sites, threads))
}

/// A call site as stored in a file, checked.
pub(crate) fn callsite_info(c: &CallSiteEntry) -> Result<CallSiteInfo, String> {
    let level = Level::from_u8(c.level).ok_or_else(|| format!("call site {} has unknown level {}", c.id, c.level))?;
    let mut fields = Vec::with_capacity(c.fields.len());
    for f in &c.fields {
        let kind = Kind::from_u8(f.kind)
            .ok_or_else(|| format!("call site {} field {:?} has unknown kind {}", c.id, f.name, f.kind))?;
        fields.push((Arc::from(f.name.as_str()), kind));
    }
    Ok(CallSiteInfo {
        id: c.id,
        level,
        target: Arc::from(c.target.as_str()),
        message: Arc::from(c.message.as_str()),
        file: Arc::from(c.file.as_str()),
        line: c.line,
        module_path: Arc::from(c.module_path.as_str()),
        fields,
        rate_limit: c.limit.map(|l| RateLimitInfo { per_second: l.per_second, suppressed: l.suppressed }),
    })
}

/// What the header allows a chunk frame to claim.
#[derive(Debug, Clone, Copy)]
struct ChunkLimits {
    /// Most raw bytes one event can take.
    max_event: usize,
    /// Most raw bytes of CBOR structure besides the values.
    overhead: usize,
}

impl ChunkLimits {
    fn new(sites: &[Arc<CallSiteInfo>]) -> ChunkLimits {
        let per_site =
            |s: &Arc<CallSiteInfo>| -> usize { s.fields.iter().map(|(_, k)| format::max_value_raw_len(*k) + 10).sum() };
        let max_fields = sites.iter().map(per_site).max().unwrap_or(0);
        let columns: usize = sites.iter().map(|s| s.fields.len()).sum();
        ChunkLimits {
            max_event: format::MAX_EVENT_FIXED_RAW_LEN + max_fields,
            overhead: format::CHUNK_CBOR_OVERHEAD.saturating_add(columns.saturating_mul(format::COLUMN_CBOR_OVERHEAD)),
        }
    }

    /// Whether a chunk of `events` events can take `raw_len` raw bytes
    /// stored in `compressed_len` bytes; if not, why not.
    fn check(&self, events: u32, raw_len: u32, compressed_len: u32) -> Result<(), String> {
        let (n, raw, packed) = (events as usize, raw_len as usize, compressed_len as usize);
        let sizes = format!("{compressed_len} compressed bytes, {raw_len} raw bytes, {events} events");
        if n == 0 {
            Err(format!("impossible sizes ({sizes}): a chunk holds at least one event"))
        } else if n > format::MAX_CHUNK_EVENTS {
            Err(format!("claims {events} events, more than the {} a writer puts in a chunk", format::MAX_CHUNK_EVENTS))
        } else if raw > format::MAX_CHUNK_RAW_LEN {
            Err(format!(
                "claims {raw_len} bytes once decompressed, more than the {} a writer puts in a chunk",
                format::MAX_CHUNK_RAW_LEN
            ))
        } else if raw > packed.saturating_mul(format::LZ4_MAX_RATIO) + 16 {
            Err(format!("impossible sizes ({sizes}): LZ4 expands at most {} times", format::LZ4_MAX_RATIO))
        } else if n.saturating_mul(format::MIN_EVENT_RAW_LEN) > raw {
            Err(format!("impossible sizes ({sizes}): an event takes at least {} raw bytes", format::MIN_EVENT_RAW_LEN))
        } else if raw > n.saturating_mul(self.max_event).saturating_add(self.overhead) {
            Err(format!("impossible sizes ({sizes}): more raw bytes than the call sites' events can take"))
        } else {
            Ok(())
        }
    }
}

/// Walks the chunk frames from `pos`: the intact ones, the problems, and
/// whether the end marker was reached.
fn scan(data: &[u8], mut pos: usize, name: &str, limits: ChunkLimits) -> (Vec<ChunkInfo>, Vec<SnapshotError>, bool) {
    let mut chunks = Vec::new();
    let mut problems = Vec::new();
    // Chunk frames with a valid CRC seen, intact or not.
    let mut frames = 0usize;
    let problem =
        |offset: usize, problem: Problem| SnapshotError { file: name.to_owned(), offset: offset as u64, problem };
    // Magic first: the CRC is computed only where a frame could start.
    let frame_ok = |at: usize| {
        at + format::FRAME_LEN <= data.len()
            && (data[at..at + 4] == format::CHUNK_MAGIC || data[at..at + 4] == format::END_MAGIC)
            && crc32fast::hash(&data[at..at + 20]) == format::le_u32(data, at + 20)
    };
    // The next intact frame after a damaged spot, if any.
    let resync = |from: usize| (from..data.len().saturating_sub(format::FRAME_LEN - 1)).find(|&at| frame_ok(at));
    loop {
        let have = data.len() - pos;
        if have == 0 {
            problems.push(problem(pos, Problem::Truncated { what: "the end marker".into(), need: 24, have: 0 }));
            return (chunks, problems, false);
        }
        if have < format::FRAME_LEN {
            problems.push(problem(
                pos,
                Problem::Truncated { what: "a chunk frame".into(), need: format::FRAME_LEN as u64, have: have as u64 },
            ));
            return (chunks, problems, false);
        }
        let magic = &data[pos..pos + 4];
        if magic != format::CHUNK_MAGIC && magic != format::END_MAGIC {
            problems.push(problem(pos, Problem::Invalid("expected a chunk frame or the end marker".into())));
            match resync(pos + 1) {
                Some(at) => {
                    pos = at;
                    continue;
                }
                None => return (chunks, problems, false),
            }
        }
        let stored = format::le_u32(data, pos + 20);
        let computed = crc32fast::hash(&data[pos..pos + 20]);
        if stored != computed {
            problems.push(problem(pos, Problem::Crc { what: "chunk frame".into(), stored, computed }));
            match resync(pos + 1) {
                Some(at) => {
                    pos = at;
                    continue;
                }
                None => return (chunks, problems, false),
            }
        }
        if magic == format::END_MAGIC {
            let n_chunks = format::le_u32(data, pos + 4) as usize;
            let n_events = u64::from_le_bytes(data[pos + 8..pos + 16].try_into().expect("8 bytes"));
            let found: u64 = chunks.iter().map(|c: &ChunkInfo| u64::from(c.events)).sum();
            if n_chunks != chunks.len() || n_events != found {
                problems.push(problem(
                    pos,
                    Problem::Invalid(format!(
                        "the end marker counts {n_chunks} chunks of {n_events} events; {} intact chunks of {found} events were found",
                        chunks.len()
                    )),
                ));
            }
            if pos + format::FRAME_LEN != data.len() {
                problems.push(problem(
                    pos + format::FRAME_LEN,
                    Problem::Invalid(format!("{} bytes after the end marker", data.len() - pos - format::FRAME_LEN)),
                ));
            }
            return (chunks, problems, true);
        }
        let compressed_len = format::le_u32(data, pos + 4);
        let raw_len = format::le_u32(data, pos + 8);
        let events = format::le_u32(data, pos + 12);
        let crc = format::le_u32(data, pos + 16);
        let body = have - format::FRAME_LEN;
        if compressed_len as usize > body {
            problems.push(problem(
                pos,
                Problem::Truncated {
                    what: format!("chunk {}", chunks.len()),
                    need: u64::from(compressed_len),
                    have: body as u64,
                },
            ));
            return (chunks, problems, false);
        }
        frames += 1;
        if let Err(why) = limits.check(events, raw_len, compressed_len) {
            problems.push(problem(pos, Problem::Invalid(format!("chunk frame {}: {why}", frames - 1))));
        } else {
            chunks.push(ChunkInfo { index: chunks.len(), offset: pos as u64, compressed_len, raw_len, events, crc });
        }
        pos += format::FRAME_LEN + compressed_len as usize;
    }
}

/// Reads `n` little-endian unsigned integers of `width` bytes.
fn read_uints(bytes: &[u8], width: u8, n: usize, what: &str) -> Result<Vec<u32>, String> {
    if !matches!(width, 1 | 2 | 4) {
        return Err(format!("{what} column has width {width} (1, 2 or 4 expected)"));
    }
    let w = width as usize;
    if bytes.len() != n * w {
        return Err(format!("{what} column has {} bytes, {n} values of {w} bytes expected", bytes.len()));
    }
    // One loop per width: a fixed-size read per value, no copy of a
    // variable length (this is one of the hottest loops of a reader).
    Ok(match width {
        1 => bytes.iter().map(|&b| u32::from(b)).collect(),
        2 => bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect(),
        _ => bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
    })
}

/// Decodes `n` varints, mapping each through `f` as it goes.
fn read_varints_map<T>(bytes: &[u8], n: usize, what: &str, mut f: impl FnMut(u64) -> T) -> Result<Vec<T>, String> {
    // Each varint takes at least one byte, so `n` is bounded by the input.
    if n > bytes.len() {
        return Err(format!("{what} column has {} bytes for {n} values", bytes.len()));
    }
    let mut r = Varints::new(bytes);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = r.next_u64().ok_or_else(|| format!("{what} column ends inside a value"))?;
        out.push(f(v));
    }
    if !r.at_end() {
        return Err(format!("{what} column has bytes after its {n} values"));
    }
    Ok(out)
}

/// Decodes `n` varints.
fn read_varints(bytes: &[u8], n: usize, what: &str) -> Result<Vec<u64>, String> {
    read_varints_map(bytes, n, what, |v| v)
}

fn fixed<const W: usize, T>(v: &[u8], n: usize, what: &str, f: impl Fn([u8; W]) -> T) -> Result<Vec<T>, String> {
    if v.len() != n.checked_mul(W).ok_or("too many values")? {
        return Err(format!("{what}: {} bytes for {n} values of {W} bytes", v.len()));
    }
    Ok(v.chunks_exact(W).map(|c| f(c.try_into().expect("chunks_exact"))).collect())
}

fn ints(v: &[u8], n: usize, e: u8, signed: bool, what: &str) -> Result<Vec<u64>, String> {
    match e {
        encoding::FIXED => fixed::<8, u64>(v, n, what, u64::from_le_bytes),
        encoding::VARINT if signed => read_varints_map(v, n, what, |x| format::unzigzag(x) as u64),
        encoding::VARINT => read_varints(v, n, what),
        encoding::DELTA_VARINT => {
            let mut prev = 0u64;
            read_varints_map(v, n, what, |x| {
                prev = prev.wrapping_add(format::unzigzag(x) as u64);
                prev
            })
        }
        _ => Err(format!("{what}: unknown encoding {e}")),
    }
}

pub(crate) fn decode_values(kind: Kind, e: u8, v: &[u8], l: &[u8], n: usize, what: &str) -> Result<Values, String> {
    let expect_fixed = |e: u8| if e == encoding::FIXED { Ok(()) } else { Err(format!("{what}: unknown encoding {e}")) };
    Ok(match kind {
        Kind::Bool => {
            expect_fixed(e)?;
            Values::Bool(fixed::<1, bool>(v, n, what, |b| b[0] != 0)?)
        }
        Kind::Char => {
            expect_fixed(e)?;
            Values::Char(fixed::<4, char>(v, n, what, |b| {
                char::from_u32(u32::from_le_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
            })?)
        }
        Kind::U64 => Values::U64(ints(v, n, e, false, what)?),
        Kind::I64 => Values::I64(ints(v, n, e, true, what)?.into_iter().map(|x| x as i64).collect()),
        Kind::U128 => {
            expect_fixed(e)?;
            Values::U128(fixed::<16, u128>(v, n, what, u128::from_le_bytes)?)
        }
        Kind::I128 => {
            expect_fixed(e)?;
            Values::I128(fixed::<16, i128>(v, n, what, i128::from_le_bytes)?)
        }
        Kind::F32 => {
            expect_fixed(e)?;
            Values::F32(fixed::<4, f32>(v, n, what, f32::from_le_bytes)?)
        }
        Kind::F64 => {
            expect_fixed(e)?;
            Values::F64(fixed::<8, f64>(v, n, what, f64::from_le_bytes)?)
        }
        Kind::Str => {
            if e != encoding::STR {
                return Err(format!("{what}: unknown encoding {e}"));
            }
            let lens = read_varints(l, n, what)?;
            if lens.iter().any(|&len| len > format::MAX_STR_LEN as u64) {
                return Err(format!("{what}: a value is longer than {} bytes", format::MAX_STR_LEN));
            }
            let total = lens.iter().try_fold(0u64, |a, &x| a.checked_add(x)).unwrap_or(u64::MAX);
            if total != v.len() as u64 {
                return Err(format!("{what}: lengths add up to {total} bytes, the column has {}", v.len()));
            }
            let mut col = StrColumn { offsets: Vec::with_capacity(n + 1), data: String::new() };
            match std::str::from_utf8(v) {
                Ok(s) => {
                    let mut off = 0usize;
                    col.offsets.push(0);
                    for len in lens {
                        off += len as usize;
                        if !s.is_char_boundary(off) {
                            return Err(format!("{what}: a value ends inside a UTF-8 character"));
                        }
                        col.offsets.push(off as u32);
                    }
                    col.data = s.to_owned();
                }
                Err(_) => {
                    // Keep what can be kept, value by value.
                    let mut off = 0usize;
                    col.offsets.push(0);
                    for len in lens {
                        let part = &v[off..off + len as usize];
                        off += len as usize;
                        col.data.push_str(&String::from_utf8_lossy(part));
                        col.offsets.push(col.data.len() as u32);
                    }
                }
            }
            Values::Str(col)
        }
    })
}

/// Decodes the columns of one chunk that `projection` names against the
/// call-site and thread tables.
fn decode_wire(
    wire: &ChunkWire<'_>,
    sites: &[Arc<CallSiteInfo>],
    n_threads: usize,
    projection: &Projection,
) -> Result<ChunkColumns, String> {
    let n = wire.n as usize;
    let timestamps = if projection.timestamps {
        let mut t = wire.t0;
        read_varints_map(wire.ts, n, "timestamp", |d| {
            t = t.wrapping_add(format::unzigzag(d));
            t
        })?
    } else {
        Vec::new()
    };
    let callsites = read_uints(wire.cs, wire.csw, n, "call-site")?;
    if let Some((i, &cs)) = callsites.iter().enumerate().find(|&(_, &cs)| cs == 0 || cs as usize > sites.len()) {
        return Err(format!("event {i} names call site {cs}, the table has {}", sites.len()));
    }
    let want_threads = projection.threads || projection.seqs;
    let threads = if want_threads { read_uints(wire.th, wire.thw, n, "thread")? } else { Vec::new() };
    if let Some((i, &th)) = threads.iter().enumerate().find(|&(_, &th)| th as usize >= n_threads) {
        return Err(format!("event {i} names thread index {th}, the table has {n_threads}"));
    }
    let mut seqs = Vec::new();
    if projection.seqs {
        if n > wire.seq.len() {
            return Err(format!("sequence column has {} bytes for {n} values", wire.seq.len()));
        }
        let mut seq_deltas = Varints::new(wire.seq);
        let mut last = vec![0u64; n_threads];
        seqs.reserve(n);
        for &th in &threads {
            let d = seq_deltas.next_u64().ok_or("sequence column ends inside a value")?;
            let th = th as usize;
            last[th] = last[th].wrapping_add(format::unzigzag(d) as u64);
            seqs.push(last[th]);
        }
        if !seq_deltas.at_end() {
            return Err(format!("sequence column has bytes after its {n} values"));
        }
    }
    let mut counts = vec![0u32; sites.len()];
    let want_fields = projection.fields != FieldSet::None;
    let mut ranks = Vec::with_capacity(if want_fields { n } else { 0 });
    for &cs in &callsites {
        let c = &mut counts[cs as usize - 1];
        if want_fields {
            ranks.push(*c);
        }
        *c += 1;
    }
    let mut columns = Vec::new();
    let mut seen = Vec::with_capacity(wire.cols.len());
    for c in &wire.cols {
        let site = sites
            .get((c.cs as usize).wrapping_sub(1))
            .ok_or_else(|| format!("column of unknown call site {}", c.cs))?;
        let (name, kind) =
            site.fields.get(c.f as usize).ok_or_else(|| format!("column of call site {} field {}", c.cs, c.f))?;
        if *kind as u8 != c.k {
            return Err(format!(
                "column {name:?} of call site {} has kind {}, the header says {}",
                c.cs, c.k, *kind as u8
            ));
        }
        seen.push((c.cs, c.f));
        if !projection.fields.contains(c.cs, c.f) {
            continue;
        }
        let what = format!("field {name:?} of call site {}", c.cs);
        let values = decode_values(*kind, c.e, c.v, c.l, counts[c.cs as usize - 1] as usize, &what)?;
        columns.push(FieldColumn { callsite: c.cs, field: c.f, values });
    }
    columns.sort_by_key(|c| (c.callsite, c.field));
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err("a field column appears twice".into());
    }
    // Every field of every call site with events needs its column.
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        for f in 0..sites[i].fields.len() {
            if seen.binary_search(&(i as u32 + 1, f as u32)).is_err() {
                return Err(format!("no column for field {f} of call site {}", i + 1));
            }
        }
    }
    Ok(ChunkColumns { timestamps, callsites, threads, seqs, ranks, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(kinds: &[Kind]) -> Arc<CallSiteInfo> {
        Arc::new(CallSiteInfo {
            id: 1,
            level: Level::Info,
            target: "t".into(),
            message: "m".into(),
            file: "f".into(),
            line: 1,
            module_path: "t".into(),
            fields: kinds.iter().map(|k| (Arc::from("x"), *k)).collect(),
            rate_limit: None,
        })
    }

    #[test]
    fn chunk_limits_follow_the_call_site_table() {
        let l = ChunkLimits::new(&[site(&[Kind::U64, Kind::F64])]);
        assert_eq!(l.max_event, 28 + 20 + 18);
        let allows = |l: &ChunkLimits, n, raw| l.check(n, raw, u32::MAX).is_ok();
        assert!(allows(&l, 10, 40));
        assert!(!allows(&l, 10, 39), "fewer than 4 bytes per event");
        assert!(allows(&l, 10, 10 * 66 + 256 + 128));
        assert!(!allows(&l, 10, 10 * 66 + 256 + 129), "more than the call sites allow");
        assert!(!allows(&l, 0, 0));
        assert!(l.check(10, 271, 1).is_ok() && l.check(10, 272, 1).is_err(), "LZ4 expands at most 255 times");
        let l = ChunkLimits::new(&[site(&[Kind::Str])]);
        let e = l.check(u32::MAX, u32::MAX, u32::MAX).unwrap_err();
        assert!(e.contains("more than the 65536 a writer puts in a chunk"), "{e}");
        let e = l.check(65_536, 25 << 20, u32::MAX).unwrap_err();
        assert!(e.contains("more than the 25165824 a writer"), "{e}");
        assert!(allows(&l, 65_536, 24 << 20));
    }

    #[test]
    fn streams_are_read_up_to_the_cap() {
        let endless = std::io::Read::chain(&b"TTLOGSNP"[..], std::io::repeat(0));
        let e = read_capped(endless, "endless", 1000, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "endless: byte 1000: more than 1000 bytes (the most read from a pipe or device): not a snapshot"
        );
        assert_eq!(read_capped(&b"TTLOGSNP"[..], "short", 1000, None).unwrap(), b"TTLOGSNP");
        assert_eq!(read_capped(&[7u8; 1000][..], "legacy-like", 1000, None).unwrap().len(), 1000);
        let e = read_capped(std::io::repeat(0), "zeros", 1000, None).unwrap_err();
        assert!(e.to_string().starts_with("zeros: byte 0: not a TTLog snapshot (no TTLOGSNP magic"), "{e}");
    }

    #[test]
    fn a_memory_limit_below_the_cap_bounds_a_stream() {
        let endless = || std::io::Read::chain(&b"TTLOGSNP"[..], std::io::repeat(0));
        let e = read_capped(endless(), "pipe", 1 << 20, Some(4096)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pipe: byte 4096: a pipe or device is read into memory whole, and this one goes on past 4.0 KiB: more than the memory limit of 4.0 KiB"
        );
        assert!(matches!(e.problem, Problem::MemoryLimit { limit: 4096, .. }));
        // Up to the limit, the stream is read; a limit above the cap changes nothing.
        assert_eq!(read_capped(&[7u8; 4096][..], "fits", 1 << 20, Some(4096)).unwrap().len(), 4096);
        let e = read_capped(endless(), "endless", 1000, Some(1 << 30)).unwrap_err();
        assert!(e.to_string().contains("(the most read from a pipe or device): not a snapshot"), "{e}");
    }
}
