//! Turning a [`Capture`] into snapshot bytes ([`encode`]) and putting them on
//! disk atomically and privately ([`write_file`]), with the retention policy
//! ([`Retention`]).

use super::format::{self, ChunkWire, ColumnWire, Counters, Header, encoding};
use crate::capture::{Capture, RawRecord};
use crate::value::{Kind, str_words};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Who wrote a snapshot and why; the parts of the header a [`Capture`] does
/// not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Service name.
    pub service: String,
    /// Why it is taken.
    pub reason: String,
    /// Host name (default: this machine's).
    pub hostname: String,
    /// Process id (default: this process's).
    pub pid: u32,
    /// Creation time, UTC nanoseconds (default: now).
    pub created_at_ns: i64,
    /// The panic that caused it, if one did.
    pub panic: Option<super::PanicEntry>,
    /// The process instance (default: this process's, [`process_instance`]);
    /// `None` when it is unknown (rings recovered from an older library).
    pub instance: Option<String>,
}

impl SnapshotMeta {
    /// Metadata for this process, now.
    ///
    /// ```
    /// let meta = ttlog_core::snapshot::SnapshotMeta::new("pricing", "manual");
    /// assert_eq!(meta.pid, std::process::id());
    /// ```
    pub fn new(service: impl Into<String>, reason: impl Into<String>) -> SnapshotMeta {
        SnapshotMeta {
            service: service.into(),
            reason: reason.into(),
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            created_at_ns: now_utc_ns(),
            panic: None,
            instance: Some(process_instance()),
        }
    }
}

/// This process's instance id: 32 hex digits drawn from the operating
/// system's random source the first time it is asked for, then the same for
/// the life of the process (a child made by `fork` draws its own). It tells
/// the snapshots of this process from those of any other, including an
/// earlier or later process with the same pid.
///
/// ```
/// let id = ttlog_core::snapshot::process_instance();
/// assert_eq!(id.len(), 32);
/// assert_eq!(id, ttlog_core::snapshot::process_instance());
/// ```
pub fn process_instance() -> String {
    static DRAWN: std::sync::Mutex<Option<(u32, String)>> = std::sync::Mutex::new(None);
    let pid = std::process::id();
    let mut drawn = DRAWN.lock().unwrap_or_else(|e| e.into_inner());
    match &*drawn {
        Some((p, id)) if *p == pid => id.clone(),
        _ => {
            let mut bytes = [0u8; 16];
            if getrandom::fill(&mut bytes).is_err() {
                // No random source: the time and the pid still tell processes apart.
                bytes[..8].copy_from_slice(&now_utc_ns().to_le_bytes());
                bytes[8..12].copy_from_slice(&pid.to_le_bytes());
            }
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            *drawn = Some((pid, id.clone()));
            id
        }
    }
}

/// The wall clock, UTC nanoseconds since the Unix epoch.
pub(crate) fn now_utc_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// One record on its way into a chunk.
#[derive(Debug, Clone, Copy)]
struct Row<'a> {
    ts: i64,
    thread: u32,
    seq: u64,
    callsite: u32,
    payload: &'a [u64],
}

/// Words the fields of `kinds` take at the start of `payload`, or `None` if
/// the payload is too short for them.
fn fields_len(kinds: impl Iterator<Item = Kind>, payload: &[u64]) -> Option<usize> {
    let mut off = 0usize;
    for k in kinds {
        let n = match k {
            Kind::U128 | Kind::I128 => 2,
            Kind::Str => str_words((*payload.get(off)? & 0xffff) as usize),
            _ => 1,
        };
        off += n;
        if off > payload.len() {
            return None;
        }
    }
    Some(off)
}

/// A field column being built.
#[derive(Debug, Default)]
struct ColumnBuilder {
    used: bool,
    kind: u8,
    ints: Vec<u64>,
    v: Vec<u8>,
    l: Vec<u8>,
}

impl ColumnBuilder {
    fn reset(&mut self, kind: Kind) {
        self.used = true;
        self.kind = kind as u8;
        self.ints.clear();
        self.v.clear();
        self.l.clear();
    }

    /// Picks the integer encoding that takes fewer bytes and writes it to `v`.
    fn finish_ints(&mut self, signed: bool) -> u8 {
        let plain = |x: u64| if signed { format::zigzag(x as i64) } else { x };
        let (mut direct, mut delta, mut prev) = (0usize, 0usize, 0u64);
        for &x in &self.ints {
            direct += format::varint_len(plain(x));
            delta += format::varint_len(format::zigzag(x.wrapping_sub(prev) as i64));
            prev = x;
        }
        self.v.reserve(direct.min(delta));
        if delta < direct {
            let mut prev = 0u64;
            for &x in &self.ints {
                format::put_varint(&mut self.v, format::zigzag(x.wrapping_sub(prev) as i64));
                prev = x;
            }
            encoding::DELTA_VARINT
        } else {
            for &x in &self.ints {
                format::put_varint(&mut self.v, plain(x));
            }
            encoding::VARINT
        }
    }
}

/// Appends the bytes of the string value whose first word is `words[0]`.
#[inline]
fn push_str_bytes(words: &[u64], out: &mut Vec<u8>) -> usize {
    let len = (words[0] & 0xffff) as usize;
    let first = words[0].to_le_bytes();
    out.extend_from_slice(&first[2..2 + len.min(6)]);
    let mut left = len.saturating_sub(6);
    for w in &words[1..str_words(len)] {
        let take = left.min(8);
        out.extend_from_slice(&w.to_le_bytes()[..take]);
        left -= take;
    }
    len
}

/// Reusable buffers of the chunk encoder.
#[derive(Debug, Default)]
struct ChunkEncoder {
    /// First column slot of each call site (`field_base[id - 1]`), and the
    /// total at the end.
    field_base: Vec<usize>,
    columns: Vec<ColumnBuilder>,
    ts: Vec<u8>,
    cs: Vec<u8>,
    th: Vec<u8>,
    seq: Vec<u8>,
    last_seq: Vec<u64>,
    raw: Vec<u8>,
    stats: format::StatsBuilder,
}

fn width_for(max: u32) -> u8 {
    if max <= u8::MAX as u32 {
        1
    } else if max <= u16::MAX as u32 {
        2
    } else {
        4
    }
}

fn put_uint(out: &mut Vec<u8>, v: u32, width: u8) {
    out.extend_from_slice(&v.to_le_bytes()[..width as usize]);
}

impl ChunkEncoder {
    fn new(capture: &Capture) -> ChunkEncoder {
        let mut field_base = Vec::with_capacity(capture.callsites.len() + 1);
        let mut total = 0;
        for site in &capture.callsites {
            field_base.push(total);
            total += site.fields.len();
        }
        field_base.push(total);
        let columns = (0..total).map(|_| ColumnBuilder::default()).collect();
        ChunkEncoder {
            field_base,
            columns,
            last_seq: vec![0; capture.threads.len()],
            stats: format::StatsBuilder::new(capture.callsites.len(), capture.threads.len()),
            ..ChunkEncoder::default()
        }
    }

    /// Encodes `rows` as one chunk and appends its frame and payload to
    /// `out`; returns its index entry, `at` its offset in `out`.
    fn encode(&mut self, capture: &Capture, rows: &[Row<'_>], out: &mut Vec<u8>) -> format::ChunkIndexEntry {
        self.ts.clear();
        self.cs.clear();
        self.th.clear();
        self.seq.clear();
        self.last_seq.iter_mut().for_each(|s| *s = 0);
        for c in &mut self.columns {
            c.used = false;
        }
        let csw = width_for(rows.iter().map(|r| r.callsite).max().unwrap_or(0));
        let thw = width_for(rows.iter().map(|r| r.thread).max().unwrap_or(0));
        let t0 = rows.first().map_or(0, |r| r.ts);
        let mut prev_ts = t0;
        for r in rows {
            format::put_varint(&mut self.ts, format::zigzag(r.ts.wrapping_sub(prev_ts)));
            prev_ts = r.ts;
            put_uint(&mut self.cs, r.callsite, csw);
            put_uint(&mut self.th, r.thread, thw);
            self.stats.add(r.ts, r.callsite, r.thread, r.seq);
            let last = &mut self.last_seq[r.thread as usize];
            format::put_varint(&mut self.seq, format::zigzag(r.seq.wrapping_sub(*last) as i64));
            *last = r.seq;

            let idx = r.callsite as usize - 1;
            let site = &capture.callsites[idx];
            let base = self.field_base[idx];
            let mut off = 0;
            for (f, (_, kind)) in site.fields.iter().enumerate() {
                let col = &mut self.columns[base + f];
                if !col.used {
                    col.reset(*kind);
                }
                let w = &r.payload[off..];
                off += match kind {
                    Kind::Bool => {
                        col.v.push((w[0] != 0) as u8);
                        1
                    }
                    Kind::Char => {
                        col.v.extend_from_slice(&(w[0] as u32).to_le_bytes());
                        1
                    }
                    Kind::U64 | Kind::I64 => {
                        col.ints.push(w[0]);
                        1
                    }
                    Kind::U128 | Kind::I128 => {
                        col.v.extend_from_slice(&w[0].to_le_bytes());
                        col.v.extend_from_slice(&w[1].to_le_bytes());
                        2
                    }
                    Kind::F32 => {
                        col.v.extend_from_slice(&(w[0] as u32).to_le_bytes());
                        1
                    }
                    Kind::F64 => {
                        col.v.extend_from_slice(&w[0].to_le_bytes());
                        1
                    }
                    Kind::Str => {
                        let len = push_str_bytes(w, &mut col.v);
                        format::put_varint(&mut col.l, len as u64);
                        str_words(len)
                    }
                };
            }
        }

        // Finish the columns in call-site order, so the file does not depend
        // on hash order.
        let mut encodings = Vec::new();
        for (idx, site) in capture.callsites.iter().enumerate() {
            for f in 0..site.fields.len() {
                let col = &mut self.columns[self.field_base[idx] + f];
                if !col.used {
                    continue;
                }
                let e = match Kind::from_u8(col.kind) {
                    Some(Kind::U64) => col.finish_ints(false),
                    Some(Kind::I64) => col.finish_ints(true),
                    Some(Kind::Str) => encoding::STR,
                    _ => encoding::FIXED,
                };
                encodings.push((idx, f, e));
            }
        }
        let cols = encodings
            .iter()
            .map(|&(idx, f, e)| {
                let col = &self.columns[self.field_base[idx] + f];
                ColumnWire { cs: idx as u32 + 1, f: f as u32, k: col.kind, e, v: &col.v, l: &col.l }
            })
            .collect();
        let wire = ChunkWire {
            n: rows.len() as u32,
            t0,
            ts: &self.ts,
            csw,
            cs: &self.cs,
            thw,
            th: &self.th,
            seq: &self.seq,
            cols,
        };
        self.raw.clear();
        // Serialising into a Vec cannot fail: every type here is plain data.
        serde_cbor::to_writer(&mut self.raw, &wire).expect("CBOR encoding of a chunk");
        let compressed = lz4::block::compress(&self.raw, Some(lz4::block::CompressionMode::DEFAULT), false)
            .expect("LZ4 compression of a chunk below the size limit");
        let entry = format::ChunkIndexEntry {
            at: out.len() as u64,
            len: compressed.len() as u32,
            raw: self.raw.len() as u32,
            crc: crc32fast::hash(&compressed),
            stats: self.stats.finish(),
        };
        out.extend_from_slice(&format::chunk_frame(entry.len, entry.raw, rows.len() as u32, entry.crc));
        out.extend_from_slice(&compressed);
        entry
    }
}

/// The header of a snapshot of `capture`.
fn header(
    capture: &Capture,
    meta: &SnapshotMeta,
    in_snapshot: u64,
    unreadable: u64,
    chunks: Vec<format::ChunkIndexEntry>,
) -> Header {
    Header {
        service: meta.service.clone(),
        hostname: meta.hostname.clone(),
        pid: meta.pid,
        reason: meta.reason.clone(),
        created_at_ns: meta.created_at_ns,
        library: concat!("ttlog-core ", env!("CARGO_PKG_VERSION")).to_owned(),
        clock: clock_entry(&capture.calibration),
        threads: capture
            .threads
            .iter()
            .map(|t| super::ThreadEntry {
                id: t.thread.id,
                name: t.thread.name.as_deref().map(str::to_owned),
                written: t.written,
                overwritten: t.overwritten,
                dropped_too_large: t.dropped_too_large,
                ring: ring_entry(t, &capture.calibration),
            })
            .collect(),
        callsites: capture.callsites.iter().map(|c| callsite_entry(c)).collect(),
        counters: Counters {
            logged: capture.logged(),
            in_snapshot,
            unreadable,
            overwritten: capture.overwritten(),
            dropped_too_large: capture.dropped.too_large,
            dropped_reentrant: capture.dropped.reentrant,
            dropped_thread_exit: capture.dropped.thread_exit,
            dropped_callsite_overflow: capture.dropped.callsite_overflow,
            dropped_not_installed: capture.dropped.not_installed,
            truncated: capture.truncated,
        },
        panic: meta.panic.clone(),
        instance: meta.instance.clone(),
        chunks: Some(chunks),
    }
}

/// What filled a thread's ring: its capacity, the span and bytes of the
/// records read, and the call sites that wrote most of them (the top
/// [`format::RING_SITES_MAX`] by bytes and the top as many by events).
fn ring_entry(t: &crate::ThreadCapture, cal: &crate::Calibration) -> Option<format::RingEntry> {
    let capacity = t.capacity_bytes?;
    let mut used = t.site_use();
    let kept_bytes = used.iter().map(|u| u.bytes).sum();
    if used.len() > 2 * format::RING_SITES_MAX {
        // Most bytes first: the first RING_SITES_MAX stay; of the rest, the
        // RING_SITES_MAX with the most events join them.
        let mut rest = used.split_off(format::RING_SITES_MAX);
        rest.sort_by(|a, b| b.events.cmp(&a.events).then(a.callsite.cmp(&b.callsite)));
        rest.truncate(format::RING_SITES_MAX);
        used.extend(rest);
        used.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.callsite.cmp(&b.callsite)));
    }
    let span = t.ticks_span().map(|(a, b)| (cal.to_utc_ns(a), cal.to_utc_ns(b)));
    Some(format::RingEntry {
        capacity,
        kept_bytes,
        oldest_ns: span.map(|s| s.0),
        newest_ns: span.map(|s| s.1),
        sites: used
            .into_iter()
            .map(|u| format::RingSiteEntry { callsite: u.callsite, events: u.events, bytes: u.bytes })
            .collect(),
    })
}

/// A clock calibration as stored in files (snapshot headers and the
/// `process.cbor` of persistent rings).
pub(crate) fn clock_entry(cal: &crate::Calibration) -> super::ClockEntry {
    super::ClockEntry {
        source: cal.source.as_str().to_owned(),
        ticks: cal.ticks,
        utc_ns: cal.utc_ns,
        ns_per_tick: cal.ns_per_tick,
    }
}

/// A call site as stored in files.
pub(crate) fn callsite_entry(c: &crate::CallSiteInfo) -> super::CallSiteEntry {
    super::CallSiteEntry {
        id: c.id,
        level: c.level as u8,
        target: c.target.to_string(),
        message: c.message.to_string(),
        file: c.file.to_string(),
        line: c.line,
        module_path: c.module_path.to_string(),
        fields: c.fields.iter().map(|(n, k)| super::FieldEntry { name: n.to_string(), kind: *k as u8 }).collect(),
        limit: c.rate_limit.map(|l| super::LimitEntry { per_second: l.per_second, suppressed: l.suppressed }),
    }
}

/// Encodes `capture` as a complete snapshot file (format version 1).
///
/// Events are stored in time order (ties by thread, then sequence). Records
/// whose call site is unknown or whose payload does not match it are left out
/// and counted in [`Counters::unreadable`].
///
/// ```
/// use ttlog_core::snapshot::{Snapshot, SnapshotMeta, encode};
/// let capture = ttlog_core::capture();
/// let bytes = encode(&capture, &SnapshotMeta::new("doc", "manual"));
/// let snap = Snapshot::from_bytes(bytes, "memory").unwrap();
/// assert_eq!(snap.header().reason, "manual");
/// ```
pub fn encode(capture: &Capture, meta: &SnapshotMeta) -> Vec<u8> {
    encode_chunked(capture, meta, format::CHUNK_EVENTS)
}

/// [`encode`] with at most `chunk_events` events per chunk (at least 1; the
/// default is 65 536). Smaller chunks decode in parallel better and lose less
/// to damage, at some cost in size.
pub fn encode_chunked(capture: &Capture, meta: &SnapshotMeta, chunk_events: usize) -> Vec<u8> {
    let chunk_events = chunk_events.clamp(1, format::CHUNK_EVENTS);
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(capture.len());
    let mut unreadable = 0u64;
    for (ti, t) in capture.threads.iter().enumerate() {
        for r in t.records() {
            let RawRecord { seq, ticks, callsite, payload } = r;
            let readable = capture
                .callsite(callsite)
                .and_then(|site| fields_len(site.fields.iter().map(|(_, k)| *k), payload))
                .is_some();
            if !readable {
                unreadable += 1;
                continue;
            }
            rows.push(Row { ts: capture.calibration.to_utc_ns(ticks), thread: ti as u32, seq, callsite, payload });
        }
    }
    // Each thread's rows are already in time order: the sort merges runs.
    rows.sort_by_key(|r| (r.ts, r.thread, r.seq));

    // The chunks first: the header that comes before them holds their index.
    let mut enc = ChunkEncoder::new(capture);
    let mut body = Vec::with_capacity(rows.len() * 8 + 4096);
    let mut index = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        // Close a chunk at CHUNK_EVENTS events or about CHUNK_RAW_TARGET raw bytes.
        let mut end = start;
        let mut raw = 0usize;
        while end < rows.len() && end - start < chunk_events && raw < format::CHUNK_RAW_TARGET {
            raw += 16 + rows[end].payload.len() * 8;
            end += 1;
        }
        index.push(enc.encode(capture, &rows[start..end], &mut body));
        start = end;
    }
    let chunks = index.len() as u32;
    let header = header(capture, meta, rows.len() as u64, unreadable, index);
    assemble(&header, &body, chunks, rows.len() as u64)
}

/// A snapshot file of `header` and the chunk frames of `body` (`chunks` of
/// them, `events` in all): the preamble (magic, version, header length and
/// CRC), the header, the body, the end frame.
pub(crate) fn assemble(header: &format::Header, body: &[u8], chunks: u32, events: u64) -> Vec<u8> {
    let header_bytes = serde_cbor::to_vec(header).expect("CBOR encoding of the header");
    let mut out = Vec::with_capacity(format::PREAMBLE_LEN + header_bytes.len() + body.len() + format::FRAME_LEN);
    out.extend_from_slice(&format::MAGIC);
    out.extend_from_slice(&format::VERSION_MAJOR.to_le_bytes());
    out.extend_from_slice(&format::VERSION_MINOR.to_le_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&header_bytes).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(body);
    out.extend_from_slice(&format::end_frame(chunks, events));
    out
}

/// How many snapshot files of a service a directory keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many files (the newest are kept).
    pub max_files: Option<usize>,
    /// At most this many bytes in them (the newest file is always kept).
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    /// 50 files and 1 GiB per service.
    fn default() -> Retention {
        Retention { max_files: Some(50), max_bytes: Some(1 << 30) }
    }
}

/// Replaces anything but `[A-Za-z0-9_]` (and `-` when `dash`) with `_`, and
/// bounds the length, so the result is safe in a file name.
pub(crate) fn sanitize(s: &str, dash: bool, max: usize, empty: &str) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || (dash && c == '-') { c } else { '_' })
        .collect();
    if out.is_empty() { empty.to_owned() } else { out }
}

/// The snapshot directory used when none is configured: `$TTLOG_DIR`, else
/// `ttlog` in the system's temporary directory.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("TTLOG_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("ttlog"),
    }
}

/// `ttlog-{service}-{pid}-{YYYYMMDDTHHMMSS.mmmZ}-{reason}.bin` (UTC).
/// The service keeps `[A-Za-z0-9_-]` (64 characters at most), the reason
/// `[A-Za-z0-9_]` (48 at most); anything else becomes `_`, so the name has no
/// path separator, dot sequence or control character.
///
/// ```
/// let name = ttlog_core::snapshot::file_name("pricing-eu", 4242, 1_795_307_845_033_000_000, "../sig term");
/// assert_eq!(name, "ttlog-pricing-eu-4242-20261122T003725.033Z-___sig_term.bin");
/// ```
pub fn file_name(service: &str, pid: u32, created_at_ns: i64, reason: &str) -> String {
    let (y, mo, d, h, mi, s, n) = crate::time::civil_from_ns(created_at_ns);
    format!(
        "ttlog-{}-{pid}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{:03}Z-{}.bin",
        sanitize(service, true, 64, "service"),
        n / 1_000_000,
        sanitize(reason, false, 48, "snapshot"),
    )
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `dir` (mode 0700) if missing.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// `e` with what was being done and the path it concerns in its message
/// (`cannot create /var/tmp/ttlog/x.tmp: No space left on device`).
pub(crate) fn ctx(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Creates `path` exclusively (never an existing file, never through a
/// symlink), mode 0600, for writing and, if `read`, reading (a file to be
/// mapped). Snapshot temp files and persistent-ring files are made so.
pub(crate) fn open_exclusive(path: &Path, read: bool) -> io::Result<fs::File> {
    let mut o = fs::OpenOptions::new();
    o.read(read).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    o.open(path)
}

/// Writes `bytes` to `dir/name` atomically: a temp file created exclusively
/// (0600, no symlink followed), fsynced, then linked to its final name
/// (never replacing a file: on a clash `-2`, `-3`, … is added before
/// `.bin`), and the directory fsynced. On error no temp file is left.
/// Returns the final path.
///
/// # Errors
/// Any I/O error, with the path it concerns.
///
/// ```
/// use ttlog_core::snapshot::{Retention, apply_retention, file_name, write_file};
/// let dir = std::env::temp_dir().join(format!("ttlog-doc-{}", std::process::id()));
/// let a = write_file(&dir, &file_name("doc", 1, 0, "manual"), b"first")?;
/// let b = write_file(&dir, &file_name("doc", 1, 0, "manual"), b"second")?;
/// assert_ne!(a, b, "same second: a new name, never an overwrite");
/// let removed = apply_retention(&dir, "doc", Retention { max_files: Some(1), max_bytes: None }, &b)?;
/// assert_eq!(removed, vec![a]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    ensure_dir(dir).map_err(|e| ctx("cannot create directory", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.trim_end_matches(".bin"),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = open_exclusive(&tmp, false).map_err(|e| ctx("cannot create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| ctx("cannot write", &tmp, e))?;
        f.sync_all().map_err(|e| ctx("cannot fsync", &tmp, e))?;
        drop(f);
        let stem = name.trim_end_matches(".bin");
        let mut n = 1u32;
        let path = loop {
            let candidate = if n == 1 { dir.join(name) } else { dir.join(format!("{stem}-{n}.bin")) };
            match link_no_replace(&tmp, &candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(ctx("cannot create", &candidate, e)),
            }
        };
        let _ = fs::remove_file(&tmp);
        // Make the new name durable.
        if let Ok(d) = fs::File::open(dir) {
            d.sync_all().map_err(|e| ctx("cannot fsync directory", dir, e))?;
        }
        Ok(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Gives `tmp` the name `to` unless `to` exists: a hard link where the file
/// system has them, else a rename after an existence check.
fn link_no_replace(tmp: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(tmp, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(tmp, to)
        }
    }
}

/// Whether `name` is a snapshot file of `service` (as named by
/// [`file_name`]); returns the part from the timestamp on, which sorts by
/// time.
fn snapshot_key<'a>(name: &'a str, service: &str) -> Option<&'a str> {
    let rest = name.strip_prefix("ttlog-")?.strip_prefix(service)?.strip_prefix('-')?;
    if !rest.ends_with(".bin") {
        return None;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[digits..].strip_prefix('-').filter(|_| digits > 0)?;
    let b = rest.as_bytes();
    let stamp_ok = b.len() > 15 && b[..8].iter().all(u8::is_ascii_digit) && b[8] == b'T';
    stamp_ok.then_some(rest)
}

/// Removes the oldest snapshot files of `service` in `dir` beyond
/// `retention`, never `keep`. Returns the paths removed.
///
/// # Errors
/// When the directory cannot be listed.
pub fn apply_retention(dir: &Path, service: &str, retention: Retention, keep: &Path) -> io::Result<Vec<PathBuf>> {
    let service = sanitize(service, true, 64, "service");
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(key) = snapshot_key(name, &service) else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let stamp = key.split('-').next().unwrap_or(key).to_owned();
        files.push((stamp, meta.modified().ok(), meta.len(), entry.path()));
    }
    // Newest first (time in the name, then modification time), and the file
    // to keep before all others so it counts first against the limits.
    files.sort_by(|a, b| (b.3 == keep, &b.0, b.1, &b.3).cmp(&(a.3 == keep, &a.0, a.1, &a.3)));
    let mut removed = Vec::new();
    let mut bytes = 0u64;
    let mut kept = 0usize;
    for (_, _, len, path) in files {
        let is_keep = path == keep;
        let over_files = retention.max_files.is_some_and(|m| kept >= m);
        let over_bytes = retention.max_bytes.is_some_and(|m| kept > 0 && bytes + len > m);
        if !is_keep && (over_files || over_bytes) {
            if fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
            continue;
        }
        kept += 1;
        bytes += len;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::reader::{Values, decode_values};
    use proptest::prelude::*;

    proptest! {
        /// Whichever integer encoding the writer picks, the reader gets the
        /// values back.
        #[test]
        fn integer_columns_round_trip(values in proptest::collection::vec(any::<u64>(), 0..200), counter in any::<bool>(), signed in any::<bool>()) {
            let values: Vec<u64> = if counter {
                let start = values.first().copied().unwrap_or(0);
                (0..values.len() as u64).map(|i| start.wrapping_add(i * 3)).collect()
            } else {
                values
            };
            let mut col = ColumnBuilder::default();
            col.reset(if signed { Kind::I64 } else { Kind::U64 });
            col.ints.extend_from_slice(&values);
            let e = col.finish_ints(signed);
            // Large ids that step by 3: deltas take 1 byte, values 6 or more.
            if counter && values.len() > 2 && values[0] > 1 << 40 && values[0] < u64::MAX - 1000 {
                prop_assert_eq!(e, encoding::DELTA_VARINT);
            }
            let kind = if signed { Kind::I64 } else { Kind::U64 };
            let back = decode_values(kind, e, &col.v, &[], values.len(), "test").unwrap();
            let expected =
                if signed { Values::I64(values.iter().map(|&v| v as i64).collect()) } else { Values::U64(values) };
            prop_assert_eq!(back, expected);
        }
    }

    #[test]
    fn names_are_sanitised() {
        let n = file_name("../etc/pass wd", 42, 0, "sig/term\n..");
        assert_eq!(n, "ttlog-___etc_pass_wd-42-19700101T000000.000Z-sig_term___.bin");
        assert!(!file_name(&"x".repeat(1000), 1, 0, &"y".repeat(1000)).contains('/'));
        assert!(file_name(&"x".repeat(1000), 1, 0, &"y".repeat(1000)).len() < 160);
        assert_eq!(file_name("", 1, 0, ""), "ttlog-service-1-19700101T000000.000Z-snapshot.bin");
    }

    #[test]
    fn keys_match_only_the_service() {
        let n = file_name("a", 7, 0, "manual");
        assert!(snapshot_key(&n, "a").is_some());
        assert!(snapshot_key(&file_name("a-1", 7, 0, "manual"), "a").is_none());
        assert!(snapshot_key(".ttlog-a-7.tmp", "a").is_none());
    }
}
