//! Opened inputs, before anything is decoded: the snapshot files, the
//! statistics of each of their chunks, the process each file belongs to,
//! and which of the events each chunk holds are the copies to keep
//! ([`Catalog`]).
//!
//! # Every event once
//!
//! An event is identified by (process, thread id, sequence number). The
//! process is the header's `instance` (format 1.1), else (service, host
//! name, pid) for files of format 1.0, else, for files of the original
//! `ttlog` 0.1 (whose sequence numbers are made up by the reader), the
//! snapshot itself (service, host, pid, creation time, event count), so
//! that only copies of one such file are recognised.
//!
//! Periodic snapshots of one process overlap: each holds the whole ring.
//! The files of a process are ranked newest first (creation time, then the
//! most events, then the order of the inputs). For each thread, a file
//! *claims* the sequence numbers its intact chunks span (per chunk, from its
//! smallest to its largest); it *owns* what it claims and no newer file
//! does. Each event is kept from the one file that owns it. So a chunk is
//! kept whole, skipped whole, or (where newer files begin) filtered by
//! sequence number: [`ChunkKeep`]. A process's counters (logged,
//! overwritten, dropped) are those of its newest file.
//!
//! Copies should be equal. Where two files of a process overlap, the event
//! at the last sequence number both hold is compared (call site, thread,
//! field values, and time to within a second: each snapshot converts clock
//! ticks with the calibration of its moment); if it differs, the newer file's events are kept, the
//! older file's events in the overlap are counted as differing copies, and
//! a warning names both files ([`Catalog::differing`]).

use crate::dataset::{Input, LoadError};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use ttlog_core::snapshot::{ChunkColumns, ChunkStats, FieldSet, FormatVersion, Projection, Snapshot, SnapshotError};

/// Sets of sequence numbers, as sorted disjoint inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqRanges(Vec<(u64, u64)>);

/// How much of a range a [`SeqRanges`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// All of it.
    All,
    /// None of it.
    None,
    /// Part of it.
    Some,
}

impl SeqRanges {
    /// The ranges, sorted, disjoint and not adjacent.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Adds `lo..=hi`.
    pub fn insert(&mut self, lo: u64, hi: u64) {
        let i = self.0.partition_point(|&(_, h)| h.saturating_add(1) < lo);
        let (mut lo, mut hi) = (lo, hi);
        let mut j = i;
        while j < self.0.len() && self.0[j].0 <= hi.saturating_add(1) {
            lo = lo.min(self.0[j].0);
            hi = hi.max(self.0[j].1);
            j += 1;
        }
        self.0.splice(i..j, [(lo, hi)]);
    }

    /// Adds every range of `other`.
    pub fn union(&mut self, other: &SeqRanges) {
        for &(lo, hi) in &other.0 {
            self.insert(lo, hi);
        }
    }

    /// This set without `other`.
    pub fn minus(&self, other: &SeqRanges) -> SeqRanges {
        let mut out = Vec::new();
        for &(lo, hi) in &self.0 {
            let mut lo = lo;
            let mut done = false;
            for &(a, b) in &other.0 {
                if b < lo || a > hi {
                    continue;
                }
                if a > lo {
                    out.push((lo, a - 1));
                }
                if b >= hi {
                    done = true;
                    break;
                }
                lo = b + 1;
            }
            if !done {
                out.push((lo, hi));
            }
        }
        SeqRanges(out)
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        let i = self.0.partition_point(|&(_, h)| h < seq);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= seq)
    }

    /// How much of `lo..=hi` the set covers.
    pub fn cover(&self, lo: u64, hi: u64) -> Cover {
        let i = self.0.partition_point(|&(_, h)| h < lo);
        match self.0.get(i) {
            Some(&(a, b)) if a <= lo && b >= hi => Cover::All,
            Some(&(a, _)) if a <= hi => Cover::Some,
            _ => Cover::None,
        }
    }

    /// How many numbers of `lo..=hi` are in the set.
    pub fn count_in(&self, lo: u64, hi: u64) -> u64 {
        self.0.iter().filter(|&&(a, b)| b >= lo && a <= hi).map(|&(a, b)| b.min(hi) - a.max(lo) + 1).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which events of a chunk are the copies to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkKeep {
    /// Every event.
    All,
    /// None: newer snapshots of the process hold them all.
    None,
    /// Per thread index of the snapshot, the sequence numbers to keep (a
    /// thread without an entry: none).
    Some(Vec<(u32, SeqRanges)>),
}

impl ChunkKeep {
    /// Whether the event of thread index `thread` with sequence number `seq`
    /// is kept.
    pub fn keeps(&self, thread: u32, seq: u64) -> bool {
        match self {
            ChunkKeep::All => true,
            ChunkKeep::None => false,
            ChunkKeep::Some(per) => per.iter().find(|(t, _)| *t == thread).is_some_and(|(_, r)| r.contains(seq)),
        }
    }
}

impl ChunkKeep {
    /// Leaves out of `cols` (a chunk decoded with its threads and sequence
    /// numbers) the events not kept; returns how many. Field columns stay
    /// as they are: the kept events' ranks still index them.
    pub fn retain(&self, cols: &mut ChunkColumns) -> u64 {
        let before = cols.len();
        match self {
            ChunkKeep::All => return 0,
            ChunkKeep::None => {
                *cols = ChunkColumns::default();
                return before as u64;
            }
            ChunkKeep::Some(_) => {}
        }
        let keep: Vec<bool> = (0..before).map(|r| self.keeps(cols.threads[r], cols.seqs[r])).collect();
        fn retain<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
            if v.len() == keep.len() {
                let mut k = keep.iter();
                v.retain(|_| *k.next().expect("one flag per row"));
            }
        }
        retain(&mut cols.timestamps, &keep);
        retain(&mut cols.callsites, &keep);
        retain(&mut cols.threads, &keep);
        retain(&mut cols.seqs, &keep);
        retain(&mut cols.ranks, &keep);
        (before - cols.len()) as u64
    }
}

/// Who wrote a snapshot, for telling copies of its events apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The header's process instance (format 1.1).
    Instance(String),
    /// Service, host name and pid (format 1.0).
    Process {
        /// Service.
        service: String,
        /// Host name.
        hostname: String,
        /// Pid.
        pid: u32,
    },
    /// One snapshot of the original `ttlog` 0.1: service, host, pid,
    /// creation time and event count.
    Legacy(String, String, u32, i64, u64),
}

impl Identity {
    fn of(s: &Snapshot) -> Identity {
        let h = s.header();
        match (&h.instance, s.version()) {
            (_, FormatVersion::Legacy) => {
                Identity::Legacy(h.service.clone(), h.hostname.clone(), h.pid, h.created_at_ns, s.event_count())
            }
            (Some(i), _) => Identity::Instance(i.clone()),
            (None, _) => Identity::Process { service: h.service.clone(), hostname: h.hostname.clone(), pid: h.pid },
        }
    }
}

/// One process: the files it wrote among the inputs.
#[derive(Debug, Clone)]
pub struct Process {
    /// Its identity.
    pub identity: Identity,
    /// Its snapshot files (indices into [`Catalog::snapshots`]), newest
    /// first: the first holds the process's counters.
    pub sources: Vec<usize>,
}

/// Two files of one process that hold different events under the same
/// identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Differing {
    /// The newer file, whose events were kept.
    pub kept: usize,
    /// The older file.
    pub other: usize,
    /// The thread id and sequence number where they were found to differ.
    pub thread: u64,
    /// The sequence number compared.
    pub seq: u64,
    /// Events of the older file in the overlap (skipped).
    pub events: u64,
}

/// The statistics of a chunk, or why they could not be had.
pub type StatsOf = Result<Arc<ChunkStats>, SnapshotError>;

/// How [`Catalog::open`] treats copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Keep every copy of every event (`--keep-duplicates`, for forensics).
    pub keep_duplicates: bool,
}

/// The opened inputs: snapshots, chunk statistics, processes, and which
/// copies to keep. Nothing of the chunks' events is held.
#[derive(Debug)]
pub struct Catalog {
    /// The snapshots that opened, in input order.
    pub snapshots: Vec<Snapshot>,
    /// Inputs that could not be opened.
    pub failed: Vec<SnapshotError>,
    /// Per snapshot, per chunk: its statistics (from the file, or computed
    /// by decoding it for files that carry none), or why it cannot be read.
    pub stats: Vec<Vec<StatsOf>>,
    /// Per snapshot, per chunk: which of its events to keep.
    pub keep: Vec<Vec<ChunkKeep>>,
    /// The processes, in order of their first file among the inputs.
    pub processes: Vec<Process>,
    /// Per snapshot: its process (index into [`Catalog::processes`]).
    pub process_of: Vec<usize>,
    /// Files of one process found to differ.
    pub differing: Vec<Differing>,
    /// Whether copies are kept ([`OpenOptions::keep_duplicates`]).
    pub keeps_duplicates: bool,
}

impl Catalog {
    /// Opens `inputs` (in parallel; each file's header and index are read,
    /// its chunks are not, but for files without statistics, whose chunks
    /// are decoded once without their fields to compute them) and works out
    /// which copies of each event to keep. `progress(files)` is called as
    /// files open.
    ///
    /// ```
    /// use ttlog_cli::Input;
    /// use ttlog_cli::catalog::{Catalog, OpenOptions};
    /// let td = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    /// let inputs = [Input::File(td.join("periodic-1.bin")), Input::File(td.join("periodic-2-panic.bin"))];
    /// let c = Catalog::open(&inputs, OpenOptions::default(), &|_| ()).unwrap();
    /// assert_eq!(c.processes.len(), 1);
    /// // 659 events and the panic's (kept in the header by its 1.1 writer).
    /// assert_eq!(c.events_in_files(), 600 + 659 + 1);
    /// assert_eq!(c.events_kept(), 1002);
    /// ```
    ///
    /// # Errors
    /// None today: an input that cannot be read (standard input included,
    /// which is read up to
    /// [`MAX_SNAPSHOT_LEN`](ttlog_core::snapshot::format::MAX_SNAPSHOT_LEN)
    /// bytes) is listed among the failed inputs.
    pub fn open(inputs: &[Input], options: OpenOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<Catalog, LoadError> {
        crate::worker_stacks();
        // Bounded: standard input may be a pipe from anything.
        let stdin = inputs
            .contains(&Input::Stdin)
            .then(|| ttlog_core::snapshot::read_stream(std::io::stdin().lock(), "<stdin>"));
        let opened: Vec<Result<(Snapshot, Vec<StatsOf>), SnapshotError>> = inputs
            .par_iter()
            .map(|i| {
                let s = match i {
                    Input::File(p) => Snapshot::open(p),
                    Input::Stdin => Snapshot::from_bytes(stdin.clone().unwrap_or(Ok(Vec::new()))?, "<stdin>"),
                }?;
                let stats = chunk_stats(&s);
                progress(1);
                Ok((s, stats))
            })
            .collect();
        let mut snapshots = Vec::new();
        let mut stats = Vec::new();
        let mut failed = Vec::new();
        for o in opened {
            match o {
                Ok((s, st)) => {
                    snapshots.push(s);
                    stats.push(st);
                }
                Err(e) => failed.push(e),
            }
        }
        Ok(Catalog::plan(snapshots, stats, failed, options))
    }

    /// [`Catalog::open`] of snapshots already opened.
    pub fn of_snapshots(snapshots: Vec<Snapshot>, failed: Vec<SnapshotError>, options: OpenOptions) -> Catalog {
        let stats = snapshots.par_iter().map(chunk_stats).collect();
        Catalog::plan(snapshots, stats, failed, options)
    }

    fn plan(
        snapshots: Vec<Snapshot>,
        stats: Vec<Vec<StatsOf>>,
        failed: Vec<SnapshotError>,
        options: OpenOptions,
    ) -> Catalog {
        let mut processes: Vec<Process> = Vec::new();
        let mut process_of = Vec::with_capacity(snapshots.len());
        let mut by_identity: HashMap<Identity, usize> = HashMap::new();
        for (i, s) in snapshots.iter().enumerate() {
            let id = Identity::of(s);
            let p = *by_identity.entry(id.clone()).or_insert_with(|| {
                processes.push(Process { identity: id, sources: Vec::new() });
                processes.len() - 1
            });
            processes[p].sources.push(i);
            process_of.push(p);
        }
        for p in &mut processes {
            // Newest first; the most events first among equals; then input order.
            p.sources.sort_by_key(|&i| {
                let s = &snapshots[i];
                (std::cmp::Reverse(s.header().created_at_ns), std::cmp::Reverse(s.event_count()), i)
            });
        }
        let mut keep: Vec<Vec<ChunkKeep>> = stats.iter().map(|s| vec![ChunkKeep::All; s.len()]).collect();
        let mut catalog = Catalog {
            snapshots,
            failed,
            stats,
            keep: Vec::new(),
            processes,
            process_of,
            differing: Vec::new(),
            keeps_duplicates: options.keep_duplicates,
        };
        if !options.keep_duplicates {
            let mut overlaps = Vec::new();
            for p in 0..catalog.processes.len() {
                if catalog.processes[p].sources.len() > 1 {
                    catalog.dedupe(p, &mut keep, &mut overlaps);
                }
            }
            catalog.keep = keep;
            catalog.differing = catalog.compare_copies(&overlaps);
        } else {
            catalog.keep = keep;
        }
        catalog
    }

    /// Per thread id of snapshot `s`: the sequence numbers its intact
    /// chunks span.
    fn claims(&self, s: usize) -> HashMap<u64, SeqRanges> {
        let threads = self.snapshots[s].threads();
        let mut out: HashMap<u64, SeqRanges> = HashMap::new();
        for st in self.stats[s].iter().flatten() {
            for t in &st.threads {
                if let Some(th) = threads.get(t.thread as usize) {
                    out.entry(th.id).or_default().insert(t.first_seq, t.last_seq);
                }
            }
        }
        out
    }

    /// Works out the copies to keep of process `p`'s files, and notes each
    /// (older file, newer file, thread id, last sequence number both hold)
    /// to compare.
    fn dedupe(&self, p: usize, keep: &mut [Vec<ChunkKeep>], overlaps: &mut Vec<(usize, usize, u64, u64)>) {
        let sources = &self.processes[p].sources;
        // Per thread id: what newer files claim, and which one claims each range.
        let mut newer: HashMap<u64, Vec<(usize, SeqRanges)>> = HashMap::new();
        for &s in sources {
            let claims = self.claims(s);
            let mut owned: HashMap<u64, SeqRanges> = HashMap::new();
            for (&tid, claimed) in &claims {
                let before = newer.entry(tid).or_default();
                let mut taken = SeqRanges::default();
                for (_, r) in before.iter() {
                    taken.union(r);
                }
                // The last sequence number this file shares with newer ones,
                // and the newest file that holds it (whose copy is kept).
                let shared = claimed.minus(&claimed.minus(&taken));
                if let Some(&(_, hi)) = shared.ranges().last()
                    && let Some((by, _)) = before.iter().find(|(_, r)| r.contains(hi))
                {
                    overlaps.push((s, *by, tid, hi));
                }
                owned.insert(tid, claimed.minus(&taken));
                before.push((s, claimed.clone()));
            }
            let threads = self.snapshots[s].threads();
            for (c, st) in self.stats[s].iter().enumerate() {
                let Ok(st) = st else { continue };
                let mut all = true;
                let mut none = true;
                let mut per = Vec::new();
                for t in &st.threads {
                    let o = threads.get(t.thread as usize).and_then(|th| owned.get(&th.id));
                    let cover = o.map_or(Cover::None, |o| o.cover(t.first_seq, t.last_seq));
                    all &= cover == Cover::All;
                    none &= cover == Cover::None;
                    if cover != Cover::None {
                        let o = o.expect("covered");
                        let clip = SeqRanges(
                            o.ranges()
                                .iter()
                                .filter(|&&(a, b)| b >= t.first_seq && a <= t.last_seq)
                                .map(|&(a, b)| (a.max(t.first_seq), b.min(t.last_seq)))
                                .collect(),
                        );
                        per.push((t.thread, clip));
                    }
                }
                keep[s][c] = if all {
                    ChunkKeep::All
                } else if none {
                    ChunkKeep::None
                } else {
                    ChunkKeep::Some(per)
                };
            }
        }
        // One comparison per older file (its first thread's) is enough to
        // catch a forged or different file.
        overlaps.sort_by_key(|&(a, _, t, _)| (a, t));
        overlaps.dedup_by_key(|&mut (a, _, _, _)| a);
    }

    /// Compares, for each noted overlap, the event both files hold at its
    /// last shared sequence number.
    fn compare_copies(&self, overlaps: &[(usize, usize, u64, u64)]) -> Vec<Differing> {
        overlaps
            .par_iter()
            .filter_map(|&(older, newer, tid, seq)| {
                let a = self.event_at(older, tid, seq)?;
                let b = self.event_at(newer, tid, seq)?;
                if same_event(&a, &b) {
                    return None;
                }
                // The older file's events that newer files also claim.
                let p = &self.processes[self.process_of[older]];
                let mut taken = SeqRanges::default();
                for &s in p.sources.iter().take_while(|&&s| s != older) {
                    if let Some(r) = self.claims(s).get(&tid) {
                        taken.union(r);
                    }
                }
                let events = self
                    .claims(older)
                    .get(&tid)
                    .map_or(0, |r| r.ranges().iter().map(|&(lo, hi)| taken.count_in(lo, hi)).sum());
                Some(Differing { kept: newer, other: older, thread: tid, seq, events })
            })
            .collect()
    }

    /// The event of thread id `tid` with sequence number `seq` in snapshot
    /// `s`, if a readable chunk holds it.
    fn event_at(&self, s: usize, tid: u64, seq: u64) -> Option<ttlog_core::Event> {
        let snap = &self.snapshots[s];
        let index = snap.threads().iter().position(|t| t.id == tid)? as u32;
        for (c, st) in self.stats[s].iter().enumerate() {
            let Ok(st) = st else { continue };
            if !st.threads.iter().any(|t| t.thread == index && t.first_seq <= seq && seq <= t.last_seq) {
                continue;
            }
            // Find the row without the field columns, then decode those of
            // its call site only.
            let cheap = Projection { timestamps: true, threads: true, seqs: true, fields: FieldSet::None };
            let cols = snap.decode_chunk_with(c, &cheap).ok()?;
            let row = (0..cols.len()).find(|&r| cols.threads[r] == index && cols.seqs[r] == seq)?;
            let site = cols.callsites[row];
            let n_fields = snap.callsite(site)?.fields.len() as u32;
            let fields = FieldSet::Only((0..n_fields).map(|f| (site, f)).collect());
            let cols = snap.decode_chunk_with(c, &Projection { fields, ..Projection::ALL }).ok()?;
            return snap.event(&cols, row);
        }
        None
    }

    /// Events in the intact chunks of every file (copies included).
    pub fn events_in_files(&self) -> u64 {
        self.snapshots.iter().map(Snapshot::event_count).sum()
    }

    /// Events kept: each copy once (all of them with `keep_duplicates`),
    /// from the statistics (readable chunks only).
    pub fn events_kept(&self) -> u64 {
        (0..self.snapshots.len()).map(|s| self.kept_in(s)).sum()
    }

    /// Events of snapshot `s` that are kept (of its readable chunks).
    pub fn kept_in(&self, s: usize) -> u64 {
        self.stats[s]
            .iter()
            .zip(&self.keep[s])
            .map(|(st, k)| match (st, k) {
                (Err(_), _) | (_, ChunkKeep::None) => 0,
                (Ok(st), ChunkKeep::All) => u64::from(st.events),
                (Ok(st), ChunkKeep::Some(per)) => kept_of(st, per),
            })
            .sum()
    }

    /// Events of snapshot `s` known to be unreadable before anything is
    /// decoded: chunks whose statistics could not be computed (their
    /// frame's count), and chunks of the header's index that are not intact
    /// in the file (their statistics).
    pub fn damaged_events(&self, s: usize) -> u64 {
        let snap = &self.snapshots[s];
        let failed: u64 = self.stats[s]
            .iter()
            .zip(snap.chunks())
            .filter(|(st, _)| st.is_err())
            .map(|(_, c)| u64::from(c.events))
            .sum();
        failed + snap.lost_chunks().map(|st| u64::from(st.events)).sum::<u64>()
    }

    /// The events of the chunk whose frame is at byte `offset` of the file
    /// named `file` (as a problem names it), if one is.
    pub fn chunk_events_at(&self, file: &str, offset: u64) -> Option<u64> {
        self.snapshots
            .iter()
            .filter(|s| s.name() == file)
            .flat_map(|s| s.chunks())
            .find(|c| c.offset == offset && offset > 0)
            .map(|c| u64::from(c.events))
    }

    /// Whether snapshot `s`'s events are all kept, none are copies of others.
    pub fn keeps_all_of(&self, s: usize) -> bool {
        self.keep[s].iter().all(|k| *k == ChunkKeep::All)
    }
}

/// Events of a chunk a [`ChunkKeep::Some`] keeps, counted from the
/// statistics where a thread's run in the chunk has no gap (else an upper
/// bound; the engine counts exactly when it decodes).
pub fn kept_of(st: &ChunkStats, per: &[(u32, SeqRanges)]) -> u64 {
    per.iter()
        .map(|(th, r)| match st.threads.iter().find(|t| t.thread == *th) {
            Some(t) => r.count_in(t.first_seq, t.last_seq).min(u64::from(t.events)),
            None => 0,
        })
        .sum()
}

/// How far apart two copies of one event's timestamp may be. A snapshot
/// turns clock ticks into UTC with the calibration of its moment, which a
/// process refines as it runs: copies in two snapshots differ by a few
/// microseconds to milliseconds.
const COPY_CLOCK_SLACK_NS: i64 = 1_000_000_000;

/// Whether two copies of an event are the same: time (within
/// [`COPY_CLOCK_SLACK_NS`]), call site, thread and field values.
fn same_event(a: &ttlog_core::Event, b: &ttlog_core::Event) -> bool {
    a.timestamp_ns.abs_diff(b.timestamp_ns) <= COPY_CLOCK_SLACK_NS as u64
        && a.level == b.level
        && a.target == b.target
        && a.message == b.message
        && a.file == b.file
        && a.line == b.line
        && a.thread_name == b.thread_name
        && a.fields == b.fields
}

/// The statistics of every chunk of `s`: from its index, or computed from
/// the chunk decoded without its fields.
fn chunk_stats(s: &Snapshot) -> Vec<StatsOf> {
    let cheap =
        Projection { timestamps: true, threads: true, seqs: true, fields: ttlog_core::snapshot::FieldSet::None };
    (0..s.chunks().len())
        .map(|c| match s.chunk_stats(c) {
            Some(st) => Ok(Arc::new(st.clone())),
            None => s
                .decode_chunk_with(c, &cheap)
                .map(|d| Arc::new(ChunkStats::of(&d.timestamps, &d.callsites, &d.threads, &d.seqs))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(v: &[(u64, u64)]) -> SeqRanges {
        let mut r = SeqRanges::default();
        for &(a, b) in v {
            r.insert(a, b);
        }
        r
    }

    #[test]
    fn ranges_merge_subtract_and_cover() {
        let r = ranges(&[(10, 20), (30, 40), (21, 25), (0, 0)]);
        assert_eq!(r.ranges(), &[(0, 0), (10, 25), (30, 40)]);
        assert_eq!(ranges(&[(5, 9), (0, 4)]).ranges(), &[(0, 9)], "adjacent ranges join");
        assert_eq!(r.minus(&ranges(&[(12, 31)])).ranges(), &[(0, 0), (10, 11), (32, 40)]);
        assert_eq!(r.minus(&ranges(&[(0, 100)])).ranges(), &[] as &[(u64, u64)]);
        assert_eq!(r.minus(&SeqRanges::default()), r);
        assert_eq!(r.cover(12, 20), Cover::All);
        assert_eq!(r.cover(20, 30), Cover::Some);
        assert_eq!(r.cover(26, 29), Cover::None);
        assert_eq!(r.cover(41, 50), Cover::None);
        assert_eq!(r.count_in(0, 100), 1 + 16 + 11);
        assert_eq!(r.count_in(24, 31), 2 + 2);
        assert!(r.contains(25) && !r.contains(26) && r.contains(0) && !r.contains(41));
        let edge = ranges(&[(u64::MAX - 1, u64::MAX)]);
        assert!(edge.contains(u64::MAX));
        assert_eq!(edge.minus(&ranges(&[(u64::MAX, u64::MAX)])).ranges(), &[(u64::MAX - 1, u64::MAX - 1)]);
    }
}
