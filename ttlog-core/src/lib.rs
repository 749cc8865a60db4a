//! # ttlog-core: a flight recorder for Rust services
//!
//! `ttlog-core` records, persists and reads the TTLog format. A logging call
//! costs a few nanoseconds, never blocks and never allocates after a
//! thread's first event: it stores a timestamp, the call site's id and the
//! raw field values in the calling thread's lock-free ring, which always
//! keeps the newest events (older ones are overwritten and counted).
//!
//! ```
//! use ttlog_core::{Trace, info, warn};
//!
//! let trace = Trace::builder().service("pricing").install().unwrap();
//! info!("Trade executed", symbol = "AAPL", qty = 1000u64, price = 150.25, ok = true);
//! warn!(target: "risk", "limit near", used = 0.93);
//! info!("started");
//!
//! let m = trace.metrics();
//! assert_eq!(m.logged, 3);
//! assert_eq!(m.logged, m.in_ring + m.overwritten + m.dropped.total());
//! let events = trace.events();
//! assert_eq!(&*events[1].target, "risk");
//! ```
//!
//! # Field values
//!
//! Every integer width, `f32`/`f64`, `bool`, `char`, `&str`/`String` (copied
//! into the event; longer than [`MAX_STR_BYTES`] they are cut and end with
//! [`TRUNCATION_MARKER`]), `%value` (its `Display`) and `?value` (its
//! `Debug`). Names may be dotted (`http.status = 200`) or string literals;
//! `name` alone records the variable `name`. Up to 24 fields per event.
//!
//! # Services that log through `tracing` or `log`
//!
//! One line records their events too, typed, with their spans:
//! `tracing_subscriber::registry().with(ttlog_core::layer()).init()`
//! ([`tracing_layer`], feature `tracing`, on by default), or
//! `ttlog_core::log_bridge::init()` (feature `log`).
//!
//! # Filters, listeners, metrics
//!
//! - [`Filter`]: per-target levels as in `RUST_LOG` (`info,db=debug`), from
//!   [`Builder::filter`], the `TTLOG` environment variable, or
//!   [`set_filter`] at run time. A disabled event costs one relaxed load and
//!   a branch.
//! - [`listener`]: live output beside the ring ([`StdoutListener`],
//!   [`FileListener`], [`NdjsonListener`], or your own [`Listener`]), read
//!   behind the producers on background threads: a slow listener never slows
//!   a producer; what it misses is counted.
//! - [`Metrics`]: logged, in the rings, overwritten, dropped by cause,
//!   snapshots written and failed, per-listener deliveries, misses and lag;
//!   optionally logged periodically ([`Builder::self_report`]).
//!
//! # Crate layout
//!
//! - [`callsite`]: static metadata, registered once per call site, and its
//!   cached filter interest.
//! - the ring (private): the per-thread overwrite ring and its proof.
//! - [`Trace`]: install, metrics, [`Capture`] of every ring.
//! - [`set_filter`], [`set_level`] (the control module, private): what is
//!   recorded, changed at run time.
//! - [`snapshot`]: snapshot files: the writer and the reader.
//! - [`memory`]: the memory limit a reading program sets, checked before
//!   allocations whose size comes from a file.
//! - the triggers (private): when snapshots are taken (request, panic,
//!   signal, timer, shutdown).
//! - [`bridge`], [`tracing_layer`], [`log_bridge`](crate#services-that-log-through-tracing-or-log):
//!   recording events of other logging libraries.
//! - [`listener`]: live listeners.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]

pub mod bridge;
pub mod callsite;
mod capture;
mod clock;
mod control;
mod filter;
#[doc(hidden)]
pub mod fuzz;
pub mod json;
mod level;
pub mod limit;
pub mod listener;
#[cfg(feature = "log")]
pub mod log_bridge;
mod macros;
pub mod memory;
pub mod persist;
mod recorder;
mod ring;
pub mod snapshot;
mod sync;
// The crate's only unsafe code: small blocks, each with the invariant it
// relies on (see the module's documentation).
#[allow(unsafe_code)]
mod sys;
pub mod text;
pub mod time;
mod trace;
#[cfg(feature = "tracing")]
pub mod tracing_layer;
mod triggers;
mod value;

pub use callsite::{CallSite, CallSiteInfo, Metadata, RateLimitInfo, callsites, register_dynamic};
pub use capture::{Capture, Dropped, Event, RawRecord, SiteUse, ThreadCapture, ThreadInfo};
pub use clock::{Calibration, ClockSource};
pub use control::{filter, level, set_filter, set_level};
pub use filter::{Filter, ParseFilterError};
pub use level::{Level, ParseLevelError};
pub use listener::{
    DEFAULT_LISTENER_INTERVAL, FileListener, Listener, ListenerMetrics, NdjsonListener, StdoutListener, format_json,
    format_line,
};
pub use recorder::capture;
pub use ring::RecordWriter;
pub use trace::{BYTES_PER_EVENT, Builder, Error, FILTER_ENV, Metrics, Trace};
#[cfg(feature = "tracing")]
pub use tracing_layer::{TracingLayer, layer};
pub use value::{Encode, Kind, MAX_STR_BYTES, TRUNCATION_MARKER, Value, ValueRef};

/// Macro internals. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::callsite::{CallSite, Metadata};
    pub use crate::level::enabled;
    pub use crate::limit::RateLimit;
    pub use crate::recorder::{FieldSet, record};
    pub use crate::value::FmtBuf;
}
