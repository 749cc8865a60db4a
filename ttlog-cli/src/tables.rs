//! The small tables that an event's codes refer to ([`Tables`]): the
//! snapshot files, their call sites and threads, the field names across
//! them, and the processes. Built once from a [`Catalog`], before anything
//! is decoded, and shared by the in-memory [`Dataset`](crate::Dataset) and
//! the streaming engine ([`crate::query`]).
//!
//! Codes are global across the inputs: call site `id` of snapshot `s` has
//! code `sources[s].site_offset + id - 1`, thread index `t` of snapshot `s`
//! code `sources[s].thread_offset + t`.

use crate::catalog::{Catalog, Differing, Process};
use polars::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, Counters, FormatVersion, SnapshotError, Values};
use ttlog_core::{CallSiteInfo, Kind};

/// One snapshot file among the inputs.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The path as given (`<stdin>` for standard input).
    pub path: String,
    /// Service name.
    pub service: Arc<str>,
    /// Host name.
    pub hostname: Arc<str>,
    /// Process id.
    pub pid: u32,
    /// Why the snapshot was taken.
    pub reason: String,
    /// For a snapshot taken by the panic hook: the panic's message,
    /// location and thread.
    pub panic: Option<ttlog_core::snapshot::PanicEntry>,
    /// When it was taken (UTC ns).
    pub created_at_ns: i64,
    /// Its newest event (UTC ns), from its chunks' statistics; `None`
    /// when no chunk could be read.
    pub last_event_ns: Option<i64>,
    /// The library that wrote it.
    pub library: String,
    /// File format.
    pub version: FormatVersion,
    /// The event accounting of the header (overwritten, dropped, …).
    pub counters: Counters,
    /// Events in the intact chunk frames.
    pub events_in_frames: u64,
    /// Events decoded (into a dataset, or by a question).
    pub events_loaded: u64,
    /// Events of its intact chunks left out as copies of events that a newer
    /// snapshot of the same process holds.
    pub duplicates: u64,
    /// Events in its chunks that cannot be read (a bad CRC, damaged
    /// contents, a frame cut off or destroyed): counted from the chunk frame,
    /// or from the header's chunk index where the frame is gone (format 1.1).
    pub damaged: u64,
    /// Its process: index into [`Tables::processes`].
    pub process: usize,
    /// Damage found while opening (chunk decoding errors are reported
    /// beside).
    pub problems: Vec<SnapshotError>,
    /// Code of its call site 1.
    pub(crate) site_offset: u32,
    /// Code of its thread index 0.
    pub(crate) thread_offset: u32,
}

/// Why a snapshot's process stopped or was looked at, when its reason says
/// more than "a snapshot was asked for": a panic, a signal, a recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The panic hook took the snapshot.
    Panic {
        /// The panic's message.
        message: String,
        /// `file:line:column`, if known.
        location: Option<String>,
        /// The panicking thread's name, if it has one.
        thread: Option<String>,
    },
    /// A signal took it (`SIGTERM`, …).
    Signal(String),
    /// The process died without a snapshot; `ttlog-view recover` made this
    /// one from its persistent rings.
    Recovered {
        /// When its last event was written (UTC ns), if any was read.
        last_event_ns: Option<i64>,
    },
}

impl SourceInfo {
    /// The snapshot's cause, if its reason is a panic, a signal or a
    /// recovery (not for periodic, manual or shutdown snapshots).
    pub fn cause(&self) -> Option<Cause> {
        match self.reason.as_str() {
            "panic" => Some(match &self.panic {
                Some(p) => {
                    Cause::Panic { message: p.message.clone(), location: p.location.clone(), thread: p.thread.clone() }
                }
                None => Cause::Panic { message: String::new(), location: None, thread: None },
            }),
            "recovered" => Some(Cause::Recovered { last_event_ns: self.last_event_ns }),
            r if r.len() > 3 && r.starts_with("sig") && r[3..].bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Some(Cause::Signal(r.to_ascii_uppercase()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Panic { message, location, thread } => {
                write!(f, "panic")?;
                if let Some(t) = thread {
                    write!(f, " in thread {t}")?;
                }
                if let Some(l) = location {
                    write!(f, " at {l}")?;
                }
                if message.is_empty() { Ok(()) } else { write!(f, ": {message}") }
            }
            Cause::Signal(name) => write!(f, "signal {name}"),
            Cause::Recovered { last_event_ns } => {
                write!(f, "the process died without a snapshot: recovered from its persistent rings")?;
                match last_event_ns {
                    Some(t) => write!(f, "; its last event at {}", ttlog_core::time::format_rfc3339(*t)),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A call site of one snapshot: the row of the small table that `cs` codes
/// index.
#[derive(Debug, Clone)]
pub struct Site {
    /// Index into the sources.
    pub source: u32,
    /// Level, target, message, file, line, fields.
    pub info: Arc<CallSiteInfo>,
}

/// A thread of one snapshot: the row that `th` codes index.
#[derive(Debug, Clone)]
pub struct ThreadRef {
    /// Index into the sources.
    pub source: u32,
    /// Process-unique thread id.
    pub id: u64,
    /// Thread name.
    pub name: Option<Arc<str>>,
    /// Records ever written to its ring.
    pub written: u64,
    /// Records of its ring lost to overwriting.
    pub overwritten: u64,
    /// Its events dropped as too large.
    pub dropped_too_large: u64,
    /// What filled its ring (format 1.2; `None` in older files).
    pub ring: Option<Arc<ttlog_core::snapshot::RingEntry>>,
}

impl ThreadRef {
    /// The name, or `#id` for unnamed threads: the one label of a thread in
    /// every output (text, JSON, CSV, Parquet, group keys, the viewer).
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.to_string(),
            None => format!("#{}", self.id),
        }
    }
}

/// A field name across the call sites of the inputs.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    /// Field name.
    pub name: Arc<str>,
    /// The kinds it has at its call sites.
    pub kinds: Vec<Kind>,
    /// The polars type of its column.
    pub dtype: DataType,
    /// (call-site code, field index) of every call site that has it.
    pub sites: Vec<(u32, u32)>,
}

/// The polars type of a field that has these kinds at its call sites:
/// one kind keeps its type (`u128`, `i128` and `char` become text); mixed
/// numbers become `f64`; anything mixed with text or booleans becomes text.
pub(crate) fn unified_dtype(kinds: &[Kind]) -> DataType {
    let one = |k: Kind| match k {
        Kind::Bool => DataType::Boolean,
        Kind::U64 => DataType::UInt64,
        Kind::I64 => DataType::Int64,
        Kind::F32 => DataType::Float32,
        Kind::F64 => DataType::Float64,
        Kind::Char | Kind::U128 | Kind::I128 | Kind::Str => DataType::String,
    };
    match kinds {
        [k] => one(*k),
        ks if ks.iter().all(|k| matches!(k, Kind::U64 | Kind::I64 | Kind::F32 | Kind::F64)) => DataType::Float64,
        _ => DataType::String,
    }
}

/// The tables of the inputs (see the [module docs](self)). Their size is
/// that of the headers: files, call sites, threads, field names; never
/// events.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// The snapshot files, in input order.
    pub sources: Vec<Arc<SourceInfo>>,
    /// Call sites by code.
    pub sites: Vec<Site>,
    /// Threads by code.
    pub threads: Vec<ThreadRef>,
    /// Per thread code, the code of the same thread (same process, same
    /// thread id) in the newest snapshot of its process that has it: one
    /// thread of a process is one thread in counts and groups, whichever
    /// of its snapshots its events come from.
    pub thread_canon: Vec<u32>,
    /// Field names.
    pub fields: BTreeMap<Arc<str>, FieldInfo>,
    /// The processes, each with its files newest first.
    pub processes: Vec<Process>,
    /// Files of one process found to hold different events.
    pub differing: Vec<Differing>,
    /// Whether every copy of every event is kept.
    pub keeps_duplicates: bool,
}

impl Tables {
    /// The tables of a catalog's snapshots.
    pub fn of(catalog: &Catalog) -> Tables {
        let mut t = Tables {
            processes: catalog.processes.clone(),
            differing: catalog.differing.clone(),
            keeps_duplicates: catalog.keeps_duplicates,
            ..Tables::default()
        };
        for (si, s) in catalog.snapshots.iter().enumerate() {
            let h = s.header();
            t.sources.push(Arc::new(SourceInfo {
                path: s.name().to_owned(),
                service: Arc::from(h.service.as_str()),
                hostname: Arc::from(h.hostname.as_str()),
                pid: h.pid,
                reason: h.reason.clone(),
                panic: h.panic.clone(),
                created_at_ns: h.created_at_ns,
                last_event_ns: catalog.stats[si].iter().filter_map(|st| st.as_ref().ok().map(|st| st.max_ts)).max(),
                library: h.library.clone(),
                version: s.version(),
                counters: h.counters,
                events_in_frames: s.event_count(),
                events_loaded: 0,
                duplicates: 0,
                damaged: catalog.damaged_events(si),
                process: catalog.process_of[si],
                problems: s.problems().to_vec(),
                site_offset: t.sites.len() as u32,
                thread_offset: t.threads.len() as u32,
            }));
            for info in s.callsites() {
                t.sites.push(Site { source: si as u32, info: Arc::clone(info) });
            }
            for (ti, th) in s.threads().iter().enumerate() {
                let e = h.threads.get(ti);
                t.threads.push(ThreadRef {
                    source: si as u32,
                    id: th.id,
                    name: th.name.clone(),
                    written: e.map_or(0, |e| e.written),
                    overwritten: e.map_or(0, |e| e.overwritten),
                    dropped_too_large: e.map_or(0, |e| e.dropped_too_large),
                    ring: e.and_then(|e| e.ring.clone()).map(Arc::new),
                });
            }
        }
        t.thread_canon = (0..t.threads.len() as u32).collect();
        for p in &t.processes {
            let mut first: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
            for &s in &p.sources {
                let src = &t.sources[s];
                let n = t.threads.iter().filter(|th| th.source as usize == s).count() as u32;
                for code in src.thread_offset..src.thread_offset + n {
                    let canon = *first.entry(t.threads[code as usize].id).or_insert(code);
                    t.thread_canon[code as usize] = canon;
                }
            }
        }
        for (code, site) in t.sites.iter().enumerate() {
            for (fi, (name, kind)) in site.info.fields.iter().enumerate() {
                let e = t.fields.entry(Arc::clone(name)).or_insert_with(|| FieldInfo {
                    name: Arc::clone(name),
                    kinds: Vec::new(),
                    dtype: DataType::Null,
                    sites: Vec::new(),
                });
                if !e.kinds.contains(kind) {
                    e.kinds.push(*kind);
                }
                e.sites.push((code as u32, fi as u32));
            }
        }
        for f in t.fields.values_mut() {
            f.dtype = unified_dtype(&f.kinds);
        }
        t
    }

    /// The site of call-site code `cs`, and its snapshot.
    pub fn site(&self, cs: u32) -> (&Site, &SourceInfo) {
        let s = &self.sites[cs as usize];
        (s, &self.sources[s.source as usize])
    }

    /// The code of call site `id` (1-based) of snapshot `source`.
    pub fn site_code(&self, source: usize, id: u32) -> u32 {
        self.sources[source].site_offset + id - 1
    }

    /// The code of thread index `index` of snapshot `source`.
    pub fn thread_code(&self, source: usize, index: u32) -> u32 {
        self.sources[source].thread_offset + index
    }

    /// The number of threads of snapshot `source`.
    pub(crate) fn sources_threads(&self, source: usize) -> u32 {
        let start = self.sources[source].thread_offset;
        let end = self.sources.get(source + 1).map_or(self.threads.len() as u32, |n| n.thread_offset);
        end - start
    }

    /// The number of call sites of snapshot `source`.
    pub(crate) fn sources_sites(&self, source: usize) -> u32 {
        let start = self.sources[source].site_offset;
        let end = self.sources.get(source + 1).map_or(self.sites.len() as u32, |n| n.site_offset);
        end - start
    }

    /// For each call-site id of snapshot `source` (index `id`; 0 unused),
    /// the column of field `info` in the decoded chunk `c`, if it has one.
    pub(crate) fn columns_of<'c>(
        &self,
        info: &FieldInfo,
        source: usize,
        c: &'c ChunkColumns,
    ) -> Vec<Option<&'c Values>> {
        let src = &self.sources[source];
        let n_sites = self.sources_sites(source) as usize;
        let mut by_site: Vec<Option<&Values>> = vec![None; n_sites + 1];
        for &(code, fi) in &info.sites {
            if self.sites[code as usize].source as usize == source {
                let local = code - src.site_offset + 1;
                by_site[local as usize] = c.column(local, fi).map(|col| &col.values);
            }
        }
        by_site
    }

    /// The values of field `info` for every row of the decoded chunk `c` of
    /// snapshot `source`, typed as [`FieldInfo::dtype`], null where a row's
    /// call site has no such field (or its column was not decoded).
    pub fn field_series(&self, info: &FieldInfo, source: usize, c: &ChunkColumns) -> Series {
        let by_site = self.columns_of(info, source, c);
        let n = c.len();
        let name: PlSmallStr = info.name.as_ref().into();
        let get = |i: usize| by_site[c.callsites[i] as usize].map(|v| (v, c.ranks[i] as usize));
        match info.dtype {
            DataType::Boolean => {
                let v: BooleanChunked = (0..n)
                    .map(|i| {
                        get(i).and_then(|(v, r)| match v {
                            Values::Bool(b) => b.get(r).copied(),
                            _ => None,
                        })
                    })
                    .collect();
                v.with_name(name).into_series()
            }
            DataType::UInt64 => numeric::<UInt64Type>(name, n, |i| {
                get(i).and_then(|(v, r)| match v {
                    Values::U64(b) => b.get(r).copied(),
                    _ => None,
                })
            }),
            DataType::Int64 => numeric::<Int64Type>(name, n, |i| {
                get(i).and_then(|(v, r)| match v {
                    Values::I64(b) => b.get(r).copied(),
                    _ => None,
                })
            }),
            DataType::Float32 => numeric::<Float32Type>(name, n, |i| {
                get(i).and_then(|(v, r)| match v {
                    Values::F32(b) => b.get(r).copied(),
                    _ => None,
                })
            }),
            DataType::Float64 => numeric::<Float64Type>(name, n, |i| get(i).and_then(|(v, r)| as_f64(v, r))),
            _ => {
                let mut b = StringChunkedBuilder::new(name, n);
                let mut buf = String::new();
                for i in 0..n {
                    match get(i) {
                        Some((Values::Str(s), r)) if r < s.len() => b.append_value(s.get(r)),
                        Some((v, r)) => match v.get(r) {
                            Some(val) => {
                                buf.clear();
                                use std::fmt::Write as _;
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
        }
    }
}

/// A numeric column of `n` values built into one buffer of values and one
/// of validity (not value by value through a builder).
fn numeric<T: PolarsNumericType>(name: PlSmallStr, n: usize, get: impl Fn(usize) -> Option<T::Native>) -> Series {
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

/// Value `r` of a numeric column as `f64` (`None` for other kinds).
#[inline]
pub(crate) fn as_f64(v: &Values, r: usize) -> Option<f64> {
    match v {
        Values::U64(b) => b.get(r).map(|&x| x as f64),
        Values::I64(b) => b.get(r).map(|&x| x as f64),
        Values::F32(b) => b.get(r).map(|&x| f64::from(x)),
        Values::F64(b) => b.get(r).copied(),
        _ => None,
    }
}
