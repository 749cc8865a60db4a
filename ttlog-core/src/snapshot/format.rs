//! The byte layout of a snapshot file (version 1), shared by the writer and
//! the reader. `docs/FORMAT.md` is the normative description; the constants
//! and types here are its executable form.
//!
//! ```text
//! preamble  : magic "TTLOGSNP" | major u16 | minor u16 | header_len u32 | header_crc u32   (20 bytes)
//! header    : CBOR map (Header), header_len bytes
//! chunk*    : frame "CHNK" | compressed_len u32 | raw_len u32 | events u32 | payload_crc u32 | frame_crc u32
//!             (24 bytes) + compressed_len bytes of LZ4 block holding the CBOR map of one Chunk
//! end       : "TEND" | chunks u32 | events u64 | 0u32 | frame_crc u32   (24 bytes)
//! ```
//!
//! All integers are little-endian; every CRC is CRC-32 (IEEE, as zlib).

use serde::{Deserialize, Serialize};

/// First eight bytes of every snapshot file of this format.
pub const MAGIC: [u8; 8] = *b"TTLOGSNP";
/// Major version: a reader refuses files with a major version it does not
/// know.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version: additions a reader of the same major version may ignore.
/// 1.1 added the process instance and the chunk index with statistics
/// ([`Header::instance`], [`Header::chunks`]); 1.2 the rate limits of call
/// sites and what they suppressed ([`CallSiteEntry::limit`]), and what
/// filled each thread's ring ([`ThreadEntry::ring`]).
pub const VERSION_MINOR: u16 = 2;
/// Bytes before the CBOR header.
pub const PREAMBLE_LEN: usize = 20;
/// Bytes of a chunk frame (and of the end frame).
pub const FRAME_LEN: usize = 24;
/// Magic of a chunk frame.
pub const CHUNK_MAGIC: [u8; 4] = *b"CHNK";
/// Magic of the end frame.
pub const END_MAGIC: [u8; 4] = *b"TEND";

/// The largest header a reader accepts (a call-site table of a million
/// entries fits).
pub const MAX_HEADER_LEN: usize = 256 << 20;
/// The largest uncompressed chunk a reader accepts: above the most the
/// writer can produce (it closes a chunk at [`MAX_CHUNK_EVENTS`] events or
/// once its estimate of the raw size, 16 bytes per event plus 8 per payload
/// word, reaches 4 MiB; the actual raw size is at most 5.25 times that
/// estimate, which happens only for events of many one-byte fields each in a
/// column of its own). A frame claiming more is rejected, so no chunk,
/// hostile or not, decompresses into more than this.
pub const MAX_CHUNK_RAW_LEN: usize = 24 << 20;
/// The most bytes read from a stream of unknown length (a pipe, standard
/// input, a device) as one snapshot: 1 GiB, about 250 M events of a
/// service log. Regular files are read in full or by chunk, whatever their
/// size, since their bytes exist.
pub const MAX_SNAPSHOT_LEN: u64 = 1 << 30;
/// The most events a chunk may hold: the writer closes a chunk at this many
/// events, and a reader rejects a frame claiming more, so that no per-event
/// buffer of a chunk grows beyond it whatever the frame says.
pub const MAX_CHUNK_EVENTS: usize = 65_536;
/// Fewest raw bytes one event takes in a chunk (one byte each for the
/// timestamp delta, call site, thread and sequence delta), so `events` can be
/// checked against `raw_len`.
pub const MIN_EVENT_RAW_LEN: usize = 4;
/// The longest text value a file may hold, in bytes (the ring stores string
/// lengths in 16 bits).
pub const MAX_STR_LEN: usize = u16::MAX as usize;
/// Most raw bytes one event takes outside its field values: timestamp and
/// sequence varints (10 bytes each), call site and thread (4 bytes each).
pub const MAX_EVENT_FIXED_RAW_LEN: usize = 28;
/// CBOR bytes a chunk may take beyond its column contents: the map keys and
/// headers of the chunk, plus this much per field column.
pub const CHUNK_CBOR_OVERHEAD: usize = 256;
/// See [`CHUNK_CBOR_OVERHEAD`].
pub const COLUMN_CBOR_OVERHEAD: usize = 64;

/// Most raw bytes one value of `kind` takes in a column.
pub const fn max_value_raw_len(kind: crate::Kind) -> usize {
    match kind {
        crate::Kind::Bool => 1,
        crate::Kind::Char | crate::Kind::F32 => 4,
        crate::Kind::F64 => 8,
        crate::Kind::U64 | crate::Kind::I64 => 10,
        crate::Kind::U128 | crate::Kind::I128 => 16,
        crate::Kind::Str => MAX_STR_LEN + 3,
    }
}

/// The largest LZ4 expansion ratio: LZ4 cannot expand a block by more than
/// 255 times (plus a small constant).
pub const LZ4_MAX_RATIO: usize = 255;

/// Events per chunk the writer aims for.
pub(crate) const CHUNK_EVENTS: usize = MAX_CHUNK_EVENTS;
/// Raw bytes per chunk at which the writer closes a chunk early.
pub(crate) const CHUNK_RAW_TARGET: usize = 4 << 20;

/// Column encodings (`e` of a field column).
pub mod encoding {
    /// Fixed width little-endian values (bool 1 byte, char/f32 4, u64/i64/f64
    /// 8, u128/i128 16 bytes).
    pub const FIXED: u8 = 0;
    /// LEB128 varints (zig-zag first for signed kinds).
    pub const VARINT: u8 = 1;
    /// Zig-zag LEB128 varints of the wrapping difference to the previous value
    /// of the column (the first to 0).
    pub const DELTA_VARINT: u8 = 2;
    /// Strings: `v` holds the UTF-8 bytes back to back, `l` one LEB128 varint
    /// length per value.
    pub const STR: u8 = 3;
}

/// The CBOR header: everything needed to interpret the chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Service name as configured.
    pub service: String,
    /// Host name of the machine that wrote the file.
    pub hostname: String,
    /// Process id.
    pub pid: u32,
    /// Why the snapshot was taken (`panic`, `sigterm`, `periodic`, …).
    pub reason: String,
    /// When it was taken, UTC nanoseconds since the Unix epoch.
    pub created_at_ns: i64,
    /// The library that wrote it (`"ttlog-core 0.2.0"`).
    pub library: String,
    /// The clock calibration used to turn ticks into the UTC timestamps of
    /// the chunks (kept for diagnosis; chunk timestamps are already UTC).
    pub clock: ClockEntry,
    /// The thread table; chunks refer to threads by index into it.
    pub threads: Vec<ThreadEntry>,
    /// The call-site table; entry `i` has id `i + 1`.
    pub callsites: Vec<CallSiteEntry>,
    /// Event accounting at the time of the snapshot.
    pub counters: Counters,
    /// The panic that triggered the snapshot, if one did.
    #[serde(default)]
    pub panic: Option<PanicEntry>,
    /// The process instance that wrote it (format 1.1): 32 hex digits drawn
    /// at random once per process, so that snapshots of one process can be
    /// told from those of another with the same pid (pid reuse, a restart).
    /// `None` in files of format 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The chunk index (format 1.1): where each chunk is and its
    /// statistics, in file order. `None` in files of format 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<ChunkIndexEntry>>,
}

/// One chunk in the header's chunk index: where it is, what its frame says,
/// and its [`ChunkStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIndexEntry {
    /// Byte offset of the chunk's frame from the end of the header (the
    /// first chunk is at 0).
    pub at: u64,
    /// `compressed_len` of the frame.
    pub len: u32,
    /// `raw_len` of the frame.
    pub raw: u32,
    /// `payload_crc` of the frame.
    pub crc: u32,
    /// What the chunk holds.
    pub stats: ChunkStats,
}

/// What a chunk holds, without decoding it: enough to skip it for a time
/// range or a call-site predicate, to count its events by call site, level,
/// target or thread, and to tell which events of a process it holds.
///
/// ```
/// use ttlog_core::snapshot::{ChunkStats, SiteCount, ThreadSeqs};
/// // Three events: call site 1 twice on thread 0 (seqs 7, 8), call site 2 once on thread 1 (seq 0).
/// let s = ChunkStats::of(&[10, 20, 30], &[1, 2, 1], &[0, 1, 0], &[7, 0, 8]);
/// assert_eq!((s.events, s.min_ts, s.max_ts), (3, 10, 30));
/// assert_eq!(s.threads, vec![ThreadSeqs { thread: 0, first_seq: 7, last_seq: 8, events: 2 },
///                            ThreadSeqs { thread: 1, first_seq: 0, last_seq: 0, events: 1 }]);
/// assert_eq!(s.counts, vec![SiteCount { callsite: 1, thread: 0, events: 2 },
///                           SiteCount { callsite: 2, thread: 1, events: 1 }]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStats {
    /// Events in the chunk.
    #[serde(rename = "n")]
    pub events: u32,
    /// The smallest timestamp (UTC ns).
    #[serde(rename = "t0")]
    pub min_ts: i64,
    /// The largest timestamp (UTC ns).
    #[serde(rename = "t1")]
    pub max_ts: i64,
    /// Per thread with events in the chunk, by thread index: its smallest
    /// and largest sequence number and its events.
    #[serde(rename = "th")]
    pub threads: Vec<ThreadSeqs>,
    /// Events per (call site, thread) pair, by call-site id then thread
    /// index; pairs without events are left out.
    #[serde(rename = "cs")]
    pub counts: Vec<SiteCount>,
}

/// The sequence numbers of one thread in one chunk. The chunk holds every
/// sequence number from `first_seq` to `last_seq` when `last_seq - first_seq
/// + 1 == events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u32, u64, u64, u32)", into = "(u32, u64, u64, u32)")]
pub struct ThreadSeqs {
    /// Index into the header's thread table.
    pub thread: u32,
    /// Its smallest sequence number in the chunk.
    pub first_seq: u64,
    /// Its largest sequence number in the chunk.
    pub last_seq: u64,
    /// Its events in the chunk.
    pub events: u32,
}

impl From<(u32, u64, u64, u32)> for ThreadSeqs {
    fn from((thread, first_seq, last_seq, events): (u32, u64, u64, u32)) -> ThreadSeqs {
        ThreadSeqs { thread, first_seq, last_seq, events }
    }
}

impl From<ThreadSeqs> for (u32, u64, u64, u32) {
    fn from(t: ThreadSeqs) -> (u32, u64, u64, u32) {
        (t.thread, t.first_seq, t.last_seq, t.events)
    }
}

/// Events of one call site on one thread in one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u32, u32, u32)", into = "(u32, u32, u32)")]
pub struct SiteCount {
    /// Call-site id (1-based).
    pub callsite: u32,
    /// Index into the header's thread table.
    pub thread: u32,
    /// Events.
    pub events: u32,
}

impl From<(u32, u32, u32)> for SiteCount {
    fn from((callsite, thread, events): (u32, u32, u32)) -> SiteCount {
        SiteCount { callsite, thread, events }
    }
}

impl From<SiteCount> for (u32, u32, u32) {
    fn from(c: SiteCount) -> (u32, u32, u32) {
        (c.callsite, c.thread, c.events)
    }
}

/// Above this many (call site, thread) pairs, [`StatsBuilder`] counts pairs
/// by sorting instead of in a dense table.
const DENSE_PAIRS: usize = 1 << 16;

/// Builds the [`ChunkStats`] of chunks one event at a time, reusing its
/// buffers from chunk to chunk (the writer's and the reader's way).
#[derive(Debug, Default)]
pub(crate) struct StatsBuilder {
    threads: Vec<Option<ThreadSeqs>>,
    touched_threads: Vec<u32>,
    /// Dense pair counts `[callsite - 1][thread]` when they fit, else empty.
    dense: Vec<u32>,
    n_threads: usize,
    touched_pairs: Vec<u32>,
    /// Pair keys `callsite << 32 | thread` to sort when not dense.
    keys: Vec<u64>,
    events: u32,
    min_ts: i64,
    max_ts: i64,
}

impl StatsBuilder {
    /// A builder for chunks of a file with these many call sites and threads.
    pub(crate) fn new(n_sites: usize, n_threads: usize) -> StatsBuilder {
        let pairs = n_sites.saturating_mul(n_threads);
        StatsBuilder {
            threads: vec![None; n_threads],
            dense: if pairs <= DENSE_PAIRS { vec![0; pairs] } else { Vec::new() },
            n_threads,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            ..StatsBuilder::default()
        }
    }

    /// Adds one event (call-site id 1-based and in the table, thread index in
    /// the table: checked by the caller).
    #[inline]
    pub(crate) fn add(&mut self, ts: i64, callsite: u32, thread: u32, seq: u64) {
        self.events += 1;
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        match &mut self.threads[thread as usize] {
            Some(t) => {
                t.first_seq = t.first_seq.min(seq);
                t.last_seq = t.last_seq.max(seq);
                t.events += 1;
            }
            slot @ None => {
                *slot = Some(ThreadSeqs { thread, first_seq: seq, last_seq: seq, events: 1 });
                self.touched_threads.push(thread);
            }
        }
        if self.dense.is_empty() {
            self.keys.push(u64::from(callsite) << 32 | u64::from(thread));
        } else {
            let i = (callsite as usize - 1) * self.n_threads + thread as usize;
            if self.dense[i] == 0 {
                self.touched_pairs.push(i as u32);
            }
            self.dense[i] += 1;
        }
    }

    /// The statistics of the events added since the last call; the builder
    /// is empty again.
    pub(crate) fn finish(&mut self) -> ChunkStats {
        self.touched_threads.sort_unstable();
        let threads = self.touched_threads.drain(..).filter_map(|t| self.threads[t as usize].take()).collect();
        let mut counts = Vec::new();
        if self.dense.is_empty() {
            self.keys.sort_unstable();
            for run in self.keys.chunk_by(|a, b| a == b) {
                let k = run[0];
                counts.push(SiteCount { callsite: (k >> 32) as u32, thread: k as u32, events: run.len() as u32 });
            }
            self.keys.clear();
        } else {
            self.touched_pairs.sort_unstable();
            for &i in &self.touched_pairs {
                let i = i as usize;
                let (site, thread) = (i / self.n_threads, i % self.n_threads);
                counts.push(SiteCount {
                    callsite: site as u32 + 1,
                    thread: thread as u32,
                    events: std::mem::take(&mut self.dense[i]),
                });
            }
            self.touched_pairs.clear();
        }
        let stats = ChunkStats {
            events: self.events,
            min_ts: if self.events == 0 { 0 } else { self.min_ts },
            max_ts: if self.events == 0 { 0 } else { self.max_ts },
            threads,
            counts,
        };
        self.events = 0;
        self.min_ts = i64::MAX;
        self.max_ts = i64::MIN;
        stats
    }
}

impl ChunkStats {
    /// The statistics of a chunk's events, given as columns (call-site ids
    /// 1-based; thread indices into the header's table). A reader computes
    /// them this way for files of format 1.0, which carry none.
    ///
    /// # Panics
    /// If the columns differ in length.
    pub fn of(timestamps: &[i64], callsites: &[u32], threads: &[u32], seqs: &[u64]) -> ChunkStats {
        let n = timestamps.len();
        assert!(callsites.len() == n && threads.len() == n && seqs.len() == n, "columns of one chunk");
        let n_sites = callsites.iter().copied().max().unwrap_or(0) as usize;
        let n_threads = threads.iter().copied().max().map_or(0, |t| t as usize + 1);
        let mut b = StatsBuilder::new(n_sites, n_threads);
        for i in 0..n {
            b.add(timestamps[i], callsites[i], threads[i], seqs[i]);
        }
        b.finish()
    }

    /// Events of call site `callsite` (1-based id) in the chunk.
    pub fn site_events(&self, callsite: u32) -> u64 {
        self.counts.iter().filter(|c| c.callsite == callsite).map(|c| u64::from(c.events)).sum()
    }
}

/// Clock calibration, see [`crate::Calibration`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockEntry {
    /// `"tsc"`, `"monotonic"` (or `"legacy-ms"` for converted 0.1 files).
    pub source: String,
    /// A tick value…
    pub ticks: u64,
    /// …and the UTC nanoseconds it stands for.
    pub utc_ns: i64,
    /// Nanoseconds per tick.
    pub ns_per_tick: f64,
}

/// One thread (one ring) of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadEntry {
    /// Process-unique thread id ([`crate::ThreadInfo::id`]).
    pub id: u64,
    /// Thread name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Records ever written to the ring.
    #[serde(default)]
    pub written: u64,
    /// Records of the ring lost to overwriting.
    #[serde(default)]
    pub overwritten: u64,
    /// Events of the thread dropped as too large.
    #[serde(default)]
    pub dropped_too_large: u64,
    /// What filled the ring (format 1.2): its capacity, the span and bytes
    /// of what it still held, and the call sites that wrote it. Absent in
    /// older files and for events that never were in a ring (converted
    /// files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<RingEntry>,
}

/// What filled one thread's ring when the snapshot was taken (format 1.2):
/// counted by the snapshot writer over the records it read, never on the
/// hot path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingEntry {
    /// The ring's capacity, bytes.
    pub capacity: u64,
    /// Bytes of the ring that the kept records take (header, timestamp and
    /// payload words).
    pub kept_bytes: u64,
    /// Timestamps (UTC ns) of the oldest and the newest kept record; absent
    /// when the ring held none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_ns: Option<i64>,
    /// See `oldest_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_ns: Option<i64>,
    /// The call sites that wrote the kept records, most bytes first: at
    /// most [`RING_SITES_MAX`] by bytes and as many by events (the rest are
    /// `kept_bytes` and the thread's kept events minus these).
    #[serde(default)]
    pub sites: Vec<RingSiteEntry>,
}

/// How many call sites a [`RingEntry`] lists by bytes, and again by
/// events: enough to name what filled a ring, bounded whatever the number
/// of call sites.
pub const RING_SITES_MAX: usize = 32;

/// One call site's share of a ring (format 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingSiteEntry {
    /// Call-site id (index into `callsites` plus one).
    pub callsite: u32,
    /// Its records kept in the ring.
    pub events: u64,
    /// The ring bytes they take.
    pub bytes: u64,
}

/// One call site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSiteEntry {
    /// Id (1-based, equal to the index in the table plus one).
    pub id: u32,
    /// Level code ([`crate::Level`] as `u8`: 0 trace … 4 error).
    pub level: u8,
    /// Target.
    pub target: String,
    /// Message.
    pub message: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// Module path.
    pub module_path: String,
    /// Field names and kinds, in recording order.
    pub fields: Vec<FieldEntry>,
    /// Its rate limit and what it suppressed (format 1.2), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitEntry>,
}

/// A call site's rate limit as stored (format 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitEntry {
    /// Events a second written at most, when the limit was snapshotted
    /// (`None`: the limit was lifted after it suppressed events).
    pub per_second: Option<u32>,
    /// Events not written because of the limit, since the process started.
    pub suppressed: u64,
}

/// One field of a call site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldEntry {
    /// Field name.
    pub name: String,
    /// [`crate::Kind`] code.
    pub kind: u8,
}

/// Event accounting. `logged == in_snapshot + unreadable + overwritten +
/// dropped (all causes)` for the moment the rings were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events logged since the recorder was installed.
    pub logged: u64,
    /// Events stored in this file.
    pub in_snapshot: u64,
    /// Events read from the rings but not stored (unknown call site or
    /// malformed record).
    #[serde(default)]
    pub unreadable: u64,
    /// Events overwritten by newer ones before the snapshot.
    pub overwritten: u64,
    /// Dropped: larger than a ring record can be.
    pub dropped_too_large: u64,
    /// Dropped: logged re-entrantly from a field's formatting.
    pub dropped_reentrant: u64,
    /// Dropped: logged while the thread was exiting.
    pub dropped_thread_exit: u64,
    /// Dropped: call site beyond the id space.
    pub dropped_callsite_overflow: u64,
    /// Dropped: logged with no recorder installed.
    pub dropped_not_installed: u64,
    /// String values cut to the length limit (events kept).
    pub truncated: u64,
}

impl Counters {
    /// All drop causes together, saturating at `u64::MAX` (a header may
    /// hold any values; see [`Counters::consistent`]).
    ///
    /// ```
    /// use ttlog_core::snapshot::Counters;
    /// let c = Counters { dropped_too_large: u64::MAX - 4, dropped_reentrant: 9, ..Counters::default() };
    /// assert_eq!(c.dropped(), u64::MAX);
    /// ```
    pub fn dropped(&self) -> u64 {
        [self.dropped_reentrant, self.dropped_thread_exit, self.dropped_callsite_overflow, self.dropped_not_installed]
            .into_iter()
            .fold(self.dropped_too_large, u64::saturating_add)
    }

    /// Whether the counters can be true: their parts (`in_snapshot`,
    /// `unreadable`, `overwritten` and every `dropped_*`) add up, without
    /// overflowing 64 bits, to at most `logged` (exactly `logged` in files
    /// of this writer). A crafted or damaged header may hold anything.
    ///
    /// ```
    /// use ttlog_core::snapshot::Counters;
    /// assert!(Counters { logged: 10, in_snapshot: 7, overwritten: 3, ..Counters::default() }.consistent());
    /// assert!(!Counters { logged: 10, in_snapshot: 7, overwritten: 4, ..Counters::default() }.consistent());
    /// assert!(!Counters { logged: u64::MAX, dropped_too_large: u64::MAX, dropped_reentrant: 1, ..Counters::default() }.consistent());
    /// ```
    pub fn consistent(&self) -> bool {
        [
            self.in_snapshot,
            self.unreadable,
            self.overwritten,
            self.dropped_too_large,
            self.dropped_reentrant,
            self.dropped_thread_exit,
            self.dropped_callsite_overflow,
            self.dropped_not_installed,
        ]
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .is_some_and(|parts| parts <= self.logged)
    }
}

/// The panic that caused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicEntry {
    /// The panic message (payload as text).
    pub message: String,
    /// `file:line:column`, if known.
    #[serde(default)]
    pub location: Option<String>,
    /// Name of the panicking thread, if it has one.
    #[serde(default)]
    pub thread: Option<String>,
}

/// One chunk as it is serialised (before LZ4).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChunkWire<'a> {
    /// Events in the chunk.
    pub(crate) n: u32,
    /// Timestamp the first delta is taken from (UTC ns).
    pub(crate) t0: i64,
    /// Zig-zag varint timestamp deltas.
    #[serde(borrow, with = "serde_bytes")]
    pub(crate) ts: &'a [u8],
    /// Byte width of each call-site id (1, 2 or 4).
    pub(crate) csw: u8,
    /// Call-site ids, `csw` bytes each.
    #[serde(borrow, with = "serde_bytes")]
    pub(crate) cs: &'a [u8],
    /// Byte width of each thread index (1, 2 or 4).
    pub(crate) thw: u8,
    /// Thread indices, `thw` bytes each.
    #[serde(borrow, with = "serde_bytes")]
    pub(crate) th: &'a [u8],
    /// Zig-zag varints of each sequence number minus the previous one of the
    /// same thread in this chunk (0 for a thread's first).
    #[serde(borrow, with = "serde_bytes")]
    pub(crate) seq: &'a [u8],
    /// Field value columns.
    #[serde(borrow)]
    pub(crate) cols: Vec<ColumnWire<'a>>,
}

/// One field column of a chunk: the values of field `f` of call site `cs`,
/// in the order of that call site's events in the chunk.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ColumnWire<'a> {
    pub(crate) cs: u32,
    pub(crate) f: u32,
    pub(crate) k: u8,
    pub(crate) e: u8,
    #[serde(borrow, with = "serde_bytes")]
    pub(crate) v: &'a [u8],
    #[serde(borrow, with = "serde_bytes", default)]
    pub(crate) l: &'a [u8],
}

/// Appends `v` as an LEB128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `v` takes as an LEB128 varint.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Zig-zag: small magnitudes of either sign become small unsigned numbers.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over LEB128 varints.
#[derive(Debug)]
pub(crate) struct Varints<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Varints<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Varints<'a> {
        Varints { bytes, pos: 0 }
    }

    /// The next varint, or `None` if the bytes end inside one or it is longer
    /// than ten bytes.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> Option<u64> {
        // Most values (deltas, ids, small numbers) fit in one byte.
        if let Some(&b) = self.bytes.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Some(u64::from(b));
        }
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    /// Whether every byte was consumed.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// Builds a chunk frame.
pub(crate) fn chunk_frame(compressed_len: u32, raw_len: u32, events: u32, payload_crc: u32) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..4].copy_from_slice(&CHUNK_MAGIC);
    f[4..8].copy_from_slice(&compressed_len.to_le_bytes());
    f[8..12].copy_from_slice(&raw_len.to_le_bytes());
    f[12..16].copy_from_slice(&events.to_le_bytes());
    f[16..20].copy_from_slice(&payload_crc.to_le_bytes());
    let crc = crc32fast::hash(&f[0..20]);
    f[20..24].copy_from_slice(&crc.to_le_bytes());
    f
}

/// Builds the end frame.
pub(crate) fn end_frame(chunks: u32, events: u64) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..4].copy_from_slice(&END_MAGIC);
    f[4..8].copy_from_slice(&chunks.to_le_bytes());
    f[8..16].copy_from_slice(&events.to_le_bytes());
    let crc = crc32fast::hash(&f[0..20]);
    f[20..24].copy_from_slice(&crc.to_le_bytes());
    f
}

/// Reads a little-endian `u32` at `at` (the caller checked the bounds).
#[inline]
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// UTC nanoseconds as RFC 3339 text; see [`crate::time`], where it lives.
pub use crate::time::format_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let values = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX];
        let mut buf = Vec::new();
        for v in values {
            let before = buf.len();
            put_varint(&mut buf, v);
            assert_eq!(buf.len() - before, varint_len(v));
        }
        let mut r = Varints::new(&buf);
        for v in values {
            assert_eq!(r.next_u64(), Some(v));
        }
        assert!(r.at_end());
        assert_eq!(r.next_u64(), None);
        // Eleven continuation bytes are not a varint.
        assert_eq!(Varints::new(&[0xff; 11]).next_u64(), None);
        assert_eq!(Varints::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).next_u64(), None);
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
