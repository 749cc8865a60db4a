//! What a read of the rings returns: [`Capture`], with raw records per thread
//! (for the snapshot writer) and decoded [`Event`]s in time order (for
//! everybody else).

use crate::callsite::CallSiteInfo;
use crate::clock::Calibration;
use crate::clock::ClockSource;
use crate::level::Level;
use crate::ring::{MAX_RECORD_WORDS, RECORD_HEADER_WORDS, RingRead, pack_header, unpack_header};
use crate::value::{self, Kind, Value};
use std::collections::HashMap;
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
    /// The capacity of the ring, bytes (`None` for records that never were
    /// in a ring: [`Capture::from_events`]).
    pub capacity_bytes: Option<u64>,
}

/// One call site's share of a thread's capture: see
/// [`ThreadCapture::site_use`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteUse {
    /// Call-site id.
    pub callsite: u32,
    /// Records of the call site.
    pub events: u64,
    /// Ring bytes they take.
    pub bytes: u64,
}

impl ThreadCapture {
    pub(crate) fn new(
        thread: ThreadInfo,
        read: RingRead,
        dropped_too_large: u64,
        capacity_bytes: Option<u64>,
    ) -> ThreadCapture {
        ThreadCapture {
            thread,
            words: read.words,
            starts: read.starts,
            overwritten: read.overwritten,
            written: read.written,
            dropped_too_large,
            capacity_bytes,
        }
    }

    /// What each call site took of the records here: records and ring
    /// bytes per call site, most bytes first (ties by id). One pass over
    /// the record headers, at snapshot time.
    pub fn site_use(&self) -> Vec<SiteUse> {
        let mut by_site: std::collections::HashMap<u32, (u64, u64)> = std::collections::HashMap::new();
        for &s in &self.starts {
            let header = unpack_header(self.words[s as usize]);
            let e = by_site.entry(header.callsite).or_default();
            e.0 += 1;
            e.1 += header.len_words as u64 * 8;
        }
        let mut out: Vec<SiteUse> =
            by_site.into_iter().map(|(callsite, (events, bytes))| SiteUse { callsite, events, bytes }).collect();
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.callsite.cmp(&b.callsite)));
        out
    }

    /// Clock ticks of the oldest and the newest record, if any.
    pub fn ticks_span(&self) -> Option<(u64, u64)> {
        let first = *self.starts.first()? as usize;
        let last = *self.starts.last()? as usize;
        Some((self.words[first + 1], self.words[last + 1]))
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

    /// A capture holding `events` as if they had been recorded: one ring per
    /// thread id (events in the order given, sequence numbers from 0), one
    /// call site per distinct level, target, message, file, line, module
    /// path and field names and kinds, timestamps kept to the nanosecond.
    /// String values are cut to [`MAX_STR_BYTES`](crate::MAX_STR_BYTES) as on
    /// the recording path; an event whose fields do not fit one record is
    /// left out and counted in `dropped.too_large`.
    ///
    /// For tools that write snapshots of events from elsewhere and for tests
    /// that need exact timestamps:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use ttlog_core::{Capture, Event, Level, Value};
    /// let e = Event { timestamp_ns: 1_700_000_000_000_000_000, level: Level::Warn, target: "db".into(),
    ///     message: "slow".into(), file: "src/db.rs".into(), line: 7, module_path: "svc::db".into(),
    ///     thread_id: 3, thread_name: Some("io".into()), seq: 0, callsite: 0,
    ///     fields: vec![(Arc::from("ms"), Value::U64(250))] };
    /// let capture = Capture::from_events(std::slice::from_ref(&e));
    /// let back = &capture.events()[0];
    /// assert_eq!((back.timestamp_ns, back.field("ms")), (e.timestamp_ns, Some(&Value::U64(250))));
    /// ```
    pub fn from_events(events: &[Event]) -> Capture {
        type SiteKey = (Level, Arc<str>, Arc<str>, Arc<str>, u32, Arc<str>, Vec<(Arc<str>, Kind)>);
        // Ticks are nanoseconds from the middle of the events' range, offset
        // by 2^63: every timestamp, `i64::MIN` to `i64::MAX`, maps to a tick
        // and back exactly.
        let (lo, hi) =
            events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.timestamp_ns), hi.max(e.timestamp_ns)));
        let base = if lo > hi { 0 } else { ((i128::from(lo) + i128::from(hi)) / 2) as i64 };
        let calibration =
            Calibration { source: ClockSource::Monotonic, ticks: 1 << 63, utc_ns: base, ns_per_tick: 1.0 };
        let mut sites: HashMap<SiteKey, u32> = HashMap::new();
        let mut callsites = Vec::new();
        let mut threads: Vec<(ThreadInfo, RingRead)> = Vec::new();
        let mut ring_of: HashMap<u64, usize> = HashMap::new();
        let mut dropped = Dropped::default();
        for e in events {
            let fields: Vec<(Arc<str>, Kind)> = e.fields.iter().map(|(n, v)| (Arc::clone(n), v.kind())).collect();
            let key = (
                e.level,
                Arc::clone(&e.target),
                Arc::clone(&e.message),
                Arc::clone(&e.file),
                e.line,
                Arc::clone(&e.module_path),
                fields,
            );
            let mut payload = Vec::new();
            for (_, v) in &e.fields {
                value::put_value(v, &mut payload);
            }
            let len_words = RECORD_HEADER_WORDS + payload.len();
            if len_words > MAX_RECORD_WORDS {
                dropped.too_large += 1;
                continue;
            }
            let next = callsites.len() as u32 + 1;
            let id = *sites.entry(key).or_insert_with_key(|k| {
                callsites.push(Arc::new(CallSiteInfo {
                    id: next,
                    level: k.0,
                    target: Arc::clone(&k.1),
                    message: Arc::clone(&k.2),
                    file: Arc::clone(&k.3),
                    line: k.4,
                    module_path: Arc::clone(&k.5),
                    fields: k.6.clone(),
                    rate_limit: None,
                }));
                next
            });
            let ring = *ring_of.entry(e.thread_id).or_insert_with(|| {
                let thread = ThreadInfo { id: e.thread_id, name: e.thread_name.clone() };
                let read = RingRead { words: Vec::new(), starts: Vec::new(), overwritten: 0, written: 0, end_pos: 0 };
                threads.push((thread, read));
                threads.len() - 1
            });
            let read = &mut threads[ring].1;
            read.starts.push(read.words.len() as u32);
            read.words.push(pack_header(read.written, len_words, id));
            read.words.push((e.timestamp_ns.wrapping_sub(base) as u64).wrapping_add(1 << 63));
            read.words.extend_from_slice(&payload);
            read.written += 1;
            read.end_pos = read.words.len() as u64;
        }
        let threads = threads.into_iter().map(|(t, r)| ThreadCapture::new(t, r, 0, None)).collect();
        let mut capture = Capture::new(calibration, callsites, threads, Dropped::default(), 0);
        capture.dropped.too_large = dropped.too_large;
        capture
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Snapshot, SnapshotMeta, encode};

    fn event(ts: i64, thread: u64, target: &str, fields: Vec<(&str, Value)>) -> Event {
        Event {
            timestamp_ns: ts,
            level: if fields.is_empty() { Level::Warn } else { Level::Info },
            target: target.into(),
            message: format!("{target} happened").into(),
            file: "src/x.rs".into(),
            line: 9,
            module_path: "svc::x".into(),
            thread_id: thread,
            thread_name: (thread == 1).then(|| "main".into()),
            seq: 0,
            callsite: 0,
            fields: fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
        }
    }

    #[test]
    fn events_survive_a_snapshot_file_exactly() {
        let every_kind = vec![
            ("b", Value::Bool(true)),
            ("c", Value::Char('é')),
            ("u", Value::U64(u64::MAX)),
            ("i", Value::I64(i64::MIN)),
            ("uu", Value::U128(u128::MAX - 1)),
            ("ii", Value::I128(i128::MIN + 1)),
            ("f", Value::F32(1.5)),
            ("d", Value::F64(-0.25)),
            ("s", Value::Str("a string longer than one word".into())),
            ("t", Value::Str("abc".into())),
        ];
        let events = vec![
            event(1_795_307_845_000_000_001, 1, "a", every_kind),
            event(1_795_307_845_000_000_002, 2, "b", vec![]),
            event(1_795_307_845_050_000_000, 1, "a", vec![("u", Value::U64(7))]),
            event(1_795_307_845_050_000_000, 2, "b", vec![]),
        ];
        let capture = Capture::from_events(&events);
        assert_eq!(capture.threads.len(), 2);
        assert_eq!(capture.callsites.len(), 3, "the two fields of `a` differ: two call sites");
        let snap = Snapshot::from_bytes(encode(&capture, &SnapshotMeta::new("svc", "manual")), "x.bin").unwrap();
        let back: Vec<Event> = snap.events().map(Result::unwrap).collect();
        let key = |e: &Event| {
            (
                e.timestamp_ns,
                e.level,
                e.target.clone(),
                e.message.clone(),
                e.thread_id,
                e.thread_name.clone(),
                e.fields.clone(),
            )
        };
        let mut want: Vec<_> = events.iter().map(key).collect();
        let mut got: Vec<_> = back.iter().map(key).collect();
        want.sort_by_key(|k| (k.0, k.4));
        got.sort_by_key(|k| (k.0, k.4));
        assert_eq!(got, want);
        // Sequence numbers per thread from 0.
        assert!(back.iter().filter(|e| e.thread_id == 2).map(|e| e.seq).eq([0, 1]));
    }

    #[test]
    fn an_event_too_large_for_a_record_is_counted() {
        let big: Vec<(&str, Value)> = (0..300).map(|_| ("s", Value::Str("x".repeat(40)))).collect();
        let capture = Capture::from_events(&[event(5, 1, "a", big), event(6, 1, "a", vec![])]);
        assert_eq!((capture.len(), capture.dropped.too_large), (1, 1));
    }
}
