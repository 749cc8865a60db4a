//! Snapshot files: writing what the rings hold to disk, and reading it back.
//!
//! # The format
//!
//! A snapshot starts with magic bytes and a format version, then a CBOR
//! [`Header`] (service, host, pid, reason, time, clock calibration, thread
//! and call-site tables, counters, panic), then independent chunks of
//! events, each LZ4-compressed CBOR with its lengths, event count and CRC,
//! and an end marker. Inside a chunk events are laid out by column:
//! delta-encoded timestamps, call-site ids, thread indices, sequence numbers
//! and one packed typed column per (call site, field). `docs/FORMAT.md` in
//! the repository is the full specification; [`format`](mod@format) holds its constants.
//!
//! # Writing
//!
//! [`crate::Trace::request_snapshot`] writes one now; the triggers in
//! [`crate::Builder`] write them on panics, signals, periodically and at
//! shutdown. [`encode`] and [`write_file`] are the two steps, usable on
//! their own. Files are written atomically (exclusive temp file, fsync,
//! link to the final name, directory fsync) and privately (0600 in a 0700
//! directory), named `ttlog-{service}-{pid}-{UTC time}-{reason}.bin`, and
//! kept within a [`Retention`] policy.
//!
//! # Reading
//!
//! [`Snapshot::open`] reads this format and the original `ttlog` 0.1 one.
//! Decode chunks into columns with [`Snapshot::decode_chunk`] (in parallel
//! if you like), or iterate [`Event`](crate::Event)s with
//! [`Snapshot::events`]. A damaged or cut-off file still gives every intact
//! chunk, and errors name the file and byte offset.
//!
//! ```
//! use ttlog_core::snapshot::{Snapshot, SnapshotMeta, encode};
//!
//! let _trace = ttlog_core::Trace::builder().service("doc").install();
//! ttlog_core::info!("order filled", qty = 5u64, venue = "XNAS");
//! let bytes = encode(&ttlog_core::capture(), &SnapshotMeta::new("doc", "manual"));
//!
//! let snap = Snapshot::from_bytes(bytes, "in memory").unwrap();
//! assert!(snap.is_complete());
//! let events: Vec<_> = snap.events().collect::<Result<_, _>>().unwrap();
//! let e = events.iter().find(|e| &*e.message == "order filled").unwrap();
//! assert_eq!(e.field("venue"), Some(&ttlog_core::Value::Str("XNAS".into())));
//! ```

pub mod format;
mod legacy;
mod reader;
pub(crate) mod writer;

pub use format::{
    CallSiteEntry, ChunkIndexEntry, ChunkStats, ClockEntry, Counters, FieldEntry, Header, LimitEntry, PanicEntry,
    RING_SITES_MAX, RingEntry, RingSiteEntry, SiteCount, ThreadEntry, ThreadSeqs,
};
pub use legacy::MAX_LEGACY_RAW_LEN;
pub(crate) use reader::callsite_info;
pub use reader::{
    ChunkColumns, ChunkInfo, Events, FieldColumn, FieldSet, FormatVersion, Problem, Projection, Snapshot,
    SnapshotError, StrColumn, Values, read_stream,
};
pub use writer::{
    Retention, SnapshotMeta, apply_retention, default_dir, encode, encode_chunked, file_name, process_instance,
    write_file,
};
pub(crate) use writer::{callsite_entry, clock_entry, ctx, ensure_dir, now_utc_ns, open_exclusive, sanitize};
