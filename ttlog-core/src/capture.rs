//! What a read of the rings returns: [`Capture`], with raw records per thread
//! (for the snapshot writer) and decoded [`Event`]s in time order (for
//! everybody else).

use crate::callsite::CallSiteInfo;
use crate::clock::Calibration;
use crate::level::Level;
use crate::ring::{RECORD_HEADER_WORDS, RingRead, unpack_header};
use crate::value::{self, Value};
use std::sync::Arc;

/// A thread that logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Process-unique id, assigned in order of each thread's first event.
    pub id: u64,
    /// The thread's name, if it has one.
    pub name: Option<Arc<str>>,
}

/// Events dropped instead of recorded, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Larger than a ring record can be (far beyond the per-string limit).
    pub too_large: u64,
    /// Logged from inside a field's `Display`/`Debug` while another event of
    /// the same thread was being written.
    pub reentrant: u64,
    /// Logged while the thread was exiting (its thread-locals were gone).
    pub thread_exit: u64,
    /// Their call site could not be registered (more than 4 M call sites).
    pub callsite_overflow: u64,
    /// Logged after the level was enabled but with no recorder installed.
    pub not_installed: u64,
}

impl Dropped {
    /// All causes together.
    pub fn total(&self) -> u64 {
        [self.reentrant, self.thread_exit, self.callsite_overflow, self.not_installed]
            .into_iter()
            .fold(self.too_large, u64::saturating_add)
    }
}

/// One raw record as it sits in a ring.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Sequence number within its ring (gap-free per ring).
    pub seq: u64,
    /// Clock ticks; see [`Calibration::to_utc_ns`].
    pub ticks: u64,
    /// Call-site id.
    pub callsite: u32,
    /// The encoded field values.
    pub payload: &'a [u64],
}

/// The records read from one thread's ring.
#[derive(Debug, Clone)]
pub struct ThreadCapture {
    /// Who wrote them.
    pub thread: ThreadInfo,
    words: Vec<u64>,
    starts: Vec<u32>,
    /// Records this ring lost to overwriting before the first one here.
    pub overwritten: u64,
    /// Records ever written to this ring (`overwritten + len()`).
    pub written: u64,
    /// Events of this thread dropped as too large.
    pub dropped_too_large: u64,
}

impl ThreadCapture {
    pub(crate) fn new(thread: ThreadInfo, read: RingRead, dropped_too_large: u64) -> ThreadCapture {
        ThreadCapture {
            thread,
            words: read.words,
            starts: read.starts,
            overwritten: read.overwritten,
            written: read.written,
            dropped_too_large,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bytes of ring memory the records took.
    pub fn ring_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl ExactSizeIterator<Item = RawRecord<'_>> + '_ {
        self.starts.iter().enumerate().map(move |(i, &s)| {
            let s = s as usize;
            let header = unpack_header(self.words[s]);
            RawRecord {
                seq: self.overwritten + i as u64,
                ticks: self.words[s + 1],
                callsite: header.callsite,
                payload: &self.words[s + RECORD_HEADER_WORDS..s + header.len_words],
            }
        })
    }
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UTC nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Severity.
    pub level: Level,
    /// Target.
    pub target: Arc<str>,
    /// Message.
    pub message: Arc<str>,
    /// Source file.
    pub file: Arc<str>,
    /// Source line.
    pub line: u32,
    /// Module path.
    pub module_path: Arc<str>,
    /// Id of the thread that logged it ([`ThreadInfo::id`]).
    pub thread_id: u64,
    /// Name of that thread.
    pub thread_name: Option<Arc<str>>,
    /// Sequence number within the thread's ring.
    pub seq: u64,
    /// Call-site id.
    pub callsite: u32,
    /// Field names and values, in call-site order.
    pub fields: Vec<(Arc<str>, Value)>,
}

impl Event {
    /// The message to show: the call site's, or, for bridged events whose
    /// message varies (`tracing::info!("took {ms} ms")`), whose call site's
    /// message is empty, the text of their `message` field.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ttlog_core::{Event, Level, Value};
    /// # let mut e = Event { timestamp_ns: 0, level: Level::Info, target: "t".into(), message: "".into(),
    /// #     file: "f".into(), line: 1, module_path: "t".into(), thread_id: 1, thread_name: None, seq: 0,
    /// #     callsite: 1, fields: vec![(Arc::from("message"), Value::Str("took 5 ms".into()))] };
    /// assert_eq!(e.display_message(), "took 5 ms");
    /// ```
    pub fn display_message(&self) -> &str {
        if self.message.is_empty()
            && let Some(Value::Str(m)) = self.field("message")
        {
            return m;
        }
        &self.message
    }

    /// The value of the field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }
}

/// Every ring's contents at one moment, with what is needed to decode them.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Turns record ticks into UTC.
    pub calibration: Calibration,
    /// The call-site table (index `id - 1`).
    pub callsites: Vec<Arc<CallSiteInfo>>,
    /// One entry per ring.
    pub threads: Vec<ThreadCapture>,
    /// Events dropped, by cause (including each ring's `too_large`).
    pub dropped: Dropped,
    /// String values cut to the length limit.
    pub truncated: u64,
}

impl Capture {
    pub(crate) fn new(
        calibration: Calibration,
        callsites: Vec<Arc<CallSiteInfo>>,
        threads: Vec<ThreadCapture>,
        mut dropped: Dropped,
        truncated: u64,
    ) -> Capture {
        dropped.too_large = threads.iter().map(|t| t.dropped_too_large).fold(0, u64::saturating_add);
        Capture { calibration, callsites, threads, dropped, truncated }
    }

    /// Records readable in this capture.
    pub fn len(&self) -> usize {
        self.threads.iter().map(ThreadCapture::len).sum()
    }

    /// Whether no record was readable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records lost to overwriting, over all rings.
    pub fn overwritten(&self) -> u64 {
        // Saturating: a capture may come from damaged files (recovery).
        self.threads.iter().map(|t| t.overwritten).fold(0, u64::saturating_add)
    }

    /// Events logged: readable + overwritten + dropped.
    pub fn logged(&self) -> u64 {
        (self.len() as u64).saturating_add(self.overwritten()).saturating_add(self.dropped.total())
    }

    /// The call site with this id.
    pub fn callsite(&self, id: u32) -> Option<&Arc<CallSiteInfo>> {
        self.callsites.get((id as usize).checked_sub(1)?)
    }

    /// Decodes one record's fields (`None` if its call site is unknown or
    /// its payload malformed).
    pub fn decode_fields(&self, record: &RawRecord<'_>) -> Option<Vec<(Arc<str>, Value)>> {
        let site = self.callsite(record.callsite)?;
        let mut fields = Vec::with_capacity(site.fields.len());
        let mut off = 0;
        for (name, kind) in &site.fields {
            let (v, n) = value::decode(*kind, record.payload.get(off..)?)?;
            off += n;
            fields.push((Arc::clone(name), v));
        }
        Some(fields)
    }

    /// Every readable event, decoded, in time order (ties by thread, then
    /// sequence). Records whose call site is unknown are skipped.
    pub fn events(&self) -> Vec<Event> {
        let mut out = Vec::with_capacity(self.len());
        for t in &self.threads {
            for r in t.records() {
                let Some(site) = self.callsite(r.callsite) else { continue };
                let Some(fields) = self.decode_fields(&r) else { continue };
                out.push(Event {
                    timestamp_ns: self.calibration.to_utc_ns(r.ticks),
                    level: site.level,
                    target: Arc::clone(&site.target),
                    message: Arc::clone(&site.message),
                    file: Arc::clone(&site.file),
                    line: site.line,
                    module_path: Arc::clone(&site.module_path),
                    thread_id: t.thread.id,
                    thread_name: t.thread.name.clone(),
                    seq: r.seq,
                    callsite: r.callsite,
                    fields,
                });
            }
        }
        out.sort_by_key(|e| (e.timestamp_ns, e.thread_id, e.seq));
        out
    }
}
