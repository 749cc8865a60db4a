//! Persistent rings: surviving what a panic hook cannot (`kill -9`, the OOM
//! killer, `SIGSEGV`, `abort`), and recovering them afterwards.
//!
//! With [`Builder::persist_dir`](crate::Builder::persist_dir), every thread
//! ring lives in a file mapped into memory (`MAP_SHARED`) instead of on the
//! heap. The producer writes exactly as before (same code, same stores); the
//! kernel's page cache holds the words, so when the process dies for any
//! reason whatever it had logged is still there, in the same state as at the
//! instant it died. Unless the machine itself goes down before the kernel
//! writes the pages back, nothing is lost (put the directory on a tmpfs such
//! as `/dev/shm` to never touch the disk; then a reboot loses it too).
//!
//! # The directory
//!
//! `{persist_dir}/ttlog-{service}-{pid}-{start}/` (0700), where `start` is
//! the install time in UTC nanoseconds, holds:
//!
//! - `process.cbor`: service, host, pid, the process's start time and the
//!   machine's boot id (to tell whether the process is still alive), the
//!   library version and the clock calibration (refreshed as the process runs);
//! - `callsites`: the call-site table, appended as call sites register, in
//!   frames `[len: u32 LE][crc32: u32 LE][CBOR CallSiteEntry]`;
//! - `ring-00000`, `ring-00001`, …: one file per ring (0600), laid out exactly
//!   as the ring in memory: a header of 64 words (magic, version, capacity,
//!   owner thread id and name, the cursors `head`, `tail`, `next_seq`,
//!   `overwritten`, `dropped_too_large`, `truncated`) then the data words.
//!
//! `docs/FORMAT.md` ("Ring files") specifies the layout. A clean shutdown
//! ([`Trace::shutdown`](crate::Trace::shutdown), or dropping the guard)
//! removes the directory after the final snapshot.
//!
//! # Recovery
//!
//! [`recover`] (and `ttlog-view recover DIR`) turns the directory of a dead
//! process into a normal snapshot with reason `recovered`: it checks that the
//! process is gone (refusing politely otherwise), reads each ring between
//! its `tail` and `head` (by the ring's protocol only whole records lie
//! there; each is checked again, and a damaged ring keeps the records before
//! the damage), writes the snapshot atomically and removes the directory.
//!
//! # What is and is not saved
//!
//! Saved: every event whose record was complete when the process died (the
//! record being written at that instant is not: at most one event per thread),
//! the per-ring counters (written, overwritten, too large, truncated), the
//! call sites, the thread names. Not saved: the process-wide drop counters
//! (re-entrant, thread exit, call-site overflow, not installed), which live
//! on the heap; and anything, if the machine itself crashes before the page
//! cache reaches the disk.

use crate::callsite::CallSiteInfo;
use crate::capture::{Capture, Dropped, ThreadCapture, ThreadInfo};
use crate::clock::{Calibration, ClockSource};
use crate::ring::{
    MAX_NAME_BYTES, MIN_RING_WORDS, RECORD_HEADER_WORDS, RING_HEADER_WORDS, RING_MAGIC, RING_VERSION, Ring, RingRead,
    W_CAPACITY, W_DROPPED_TOO_LARGE, W_HEAD, W_MAGIC, W_NAME, W_NAME_LEN, W_NEXT_SEQ, W_OVERWRITTEN, W_TAIL,
    W_THREAD_ID, W_TRUNCATED, W_VERSION, unpack_header, widen_seq,
};
use crate::snapshot::{CallSiteEntry, ClockEntry, SnapshotMeta, clock_entry, ctx};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Name of the process description file in a rings directory.
pub const PROCESS_FILE: &str = "process.cbor";
/// Name of the call-site table file in a rings directory.
pub const CALLSITES_FILE: &str = "callsites";
/// Prefix of ring file names (`ring-00000`, …).
pub const RING_PREFIX: &str = "ring-";
/// Version of `process.cbor`.
const PROCESS_FORMAT: u32 = 1;
/// Largest cursor or counter value a ring file may hold.
const MAX_COUNTER: u64 = 1 << 52;
/// Largest `process.cbor` or call-site frame read back.
const MAX_META_BYTES: usize = 1 << 20;

/// `process.cbor`: who the rings belong to and how to read their clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ProcessFile {
    format: u32,
    service: String,
    hostname: String,
    pid: u32,
    /// Install time, UTC nanoseconds.
    started_at_ns: i64,
    /// `/proc/sys/kernel/random/boot_id` at install (empty if unknown).
    boot_id: String,
    /// Field 22 of `/proc/self/stat` (start time in clock ticks since
    /// boot), which tells this process from a later one with the same pid.
    start_ticks: Option<u64>,
    library: String,
    /// Words of a ring file's header.
    ring_header_words: u32,
    clock: ClockEntry,
    /// The process instance of its snapshots
    /// ([`process_instance`](crate::snapshot::process_instance)), so that a
    /// recovered ring and the snapshots of the same process share it. Empty
    /// in files of earlier versions.
    #[serde(default)]
    instance: String,
}

/// The persistent-ring directory of this process, once installed.
#[derive(Debug)]
pub(crate) struct Persist {
    dir: PathBuf,
    meta: ProcessFile,
    callsites: Mutex<Option<fs::File>>,
    /// Rings that could not be placed in a file (they went to the heap) and
    /// call sites that could not be appended.
    errors: AtomicU64,
    reported: AtomicBool,
    retired: AtomicBool,
}

static PERSIST: OnceLock<Persist> = OnceLock::new();

/// The installed persistent-ring directory, if any.
#[inline]
pub(crate) fn active() -> Option<&'static Persist> {
    PERSIST.get()
}

/// Writes `bytes` to `dir/name` through a temp file and a rename.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = crate::snapshot::open_exclusive(&tmp, false).map_err(|e| ctx("cannot create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| ctx("cannot write", &tmp, e))?;
    drop(f);
    let to = dir.join(name);
    fs::rename(&tmp, &to).map_err(|e| ctx("cannot rename to", &to, e))
}

/// The machine's boot id (Linux), or empty.
fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Field 22 of `/proc/{pid}/stat`: the process's start time since boot.
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Persist {
    /// Creates `{root}/ttlog-{service}-{pid}-{start}/` and its
    /// `process.cbor`. Nothing is active until [`activate`].
    pub(crate) fn create(service: &str, root: &Path) -> io::Result<Persist> {
        crate::snapshot::ensure_dir(root).map_err(|e| ctx("cannot create directory", root, e))?;
        let started_at_ns = crate::snapshot::now_utc_ns();
        let pid = std::process::id();
        let name = format!("ttlog-{}-{pid}-{started_at_ns}", crate::snapshot::sanitize(service, true, 64, "service"));
        let dir = root.join(name);
        let mut b = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir).map_err(|e| ctx("cannot create directory", &dir, e))?;
        crate::clock::init();
        let meta = ProcessFile {
            format: PROCESS_FORMAT,
            service: service.to_owned(),
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            pid,
            started_at_ns,
            boot_id: boot_id(),
            start_ticks: start_ticks("self"),
            library: concat!("ttlog-core ", env!("CARGO_PKG_VERSION")).to_owned(),
            ring_header_words: RING_HEADER_WORDS as u32,
            clock: clock_entry(&Calibration::quick()),
            instance: crate::snapshot::process_instance(),
        };
        let p = Persist {
            dir,
            meta,
            callsites: Mutex::new(None),
            errors: AtomicU64::new(0),
            reported: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        };
        let cs = p.dir.join(CALLSITES_FILE);
        let file = (|| {
            p.write_process_file()?;
            crate::snapshot::open_exclusive(&cs, false).map_err(|e| ctx("cannot create", &cs, e))
        })();
        match file {
            Ok(f) => {
                *p.callsites.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
                Ok(p)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&p.dir);
                Err(e)
            }
        }
    }

    fn write_process_file(&self) -> io::Result<()> {
        let bytes = serde_cbor::to_vec(&self.meta).map_err(io::Error::other)?;
        replace_file(&self.dir, PROCESS_FILE, &bytes)
    }

    /// The directory of this process's ring files.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rings or call sites that could not be persisted.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    #[cold]
    fn fail(&self, e: &io::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!("ttlog: persistent rings: {e} (events still go to memory; further errors are only counted)");
        }
    }

    /// A new ring in a file: never under loom.
    #[cfg(loom)]
    pub(crate) fn new_ring(&self, _index: usize, _ring_words: usize) -> Option<Ring> {
        // Under loom the atomics are the model checker's, not plain memory.
        None
    }

    /// A new ring in the file `ring-{index}`, or `None` (counted and
    /// reported once) if the file cannot be made: the caller falls back to
    /// a heap ring.
    #[cfg(not(loom))]
    pub(crate) fn new_ring(&self, index: usize, ring_words: usize) -> Option<Ring> {
        let path = self.dir.join(format!("{RING_PREFIX}{index:05}"));
        let r = (|| {
            let words = Ring::memory_words(ring_words);
            let file = crate::snapshot::open_exclusive(&path, true).map_err(|e| ctx("cannot create", &path, e))?;
            file.set_len((words * 8) as u64).map_err(|e| ctx("cannot size", &path, e))?;
            // Reserve the blocks now, so that a full disk shows here and not
            // as a SIGBUS on the hot path.
            crate::sys::reserve_blocks(&file, (words * 8) as u64).map_err(|e| ctx("cannot allocate", &path, e))?;
            let map = memmap2::MmapOptions::new().populate().map_raw(&file).map_err(|e| ctx("cannot map", &path, e))?;
            let words = crate::sys::Words::mapped(map)
                .ok_or_else(|| ctx("cannot map", &path, io::Error::other("misaligned mapping")))?;
            Ring::mapped(words).ok_or_else(|| ctx("cannot map", &path, io::Error::other("unexpected size")))
        })();
        match r {
            Ok(ring) => Some(ring),
            Err(e) => {
                let _ = fs::remove_file(&path);
                self.fail(&e);
                None
            }
        }
    }

    /// Appends one call site to `callsites`; called under the registry
    /// lock, as the call site registers (before any event can carry its id).
    pub(crate) fn append_callsite(&self, info: &CallSiteInfo) {
        let entry = crate::snapshot::callsite_entry(info);
        let Ok(body) = serde_cbor::to_vec(&entry) else { return };
        let mut frame = Vec::with_capacity(body.len() + 8);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        let mut g = self.callsites.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = g.as_mut()
            && let Err(e) = f.write_all(&frame)
        {
            // A torn frame would hide every later one: stop appending.
            *g = None;
            drop(g);
            self.fail(&ctx("cannot append to", &self.dir.join(CALLSITES_FILE), e));
        }
    }

    /// Rewrites `process.cbor` with a fresh clock calibration.
    fn refresh_clock(&self) {
        let mut meta = self.meta.clone();
        meta.clock = clock_entry(&Calibration::now());
        if let Ok(bytes) = serde_cbor::to_vec(&meta) {
            let _ = replace_file(&self.dir, PROCESS_FILE, &bytes);
        }
    }

    /// Removes the directory: the process is ending cleanly and its final
    /// snapshot (if any) is written. Later events still go to the (now
    /// unlinked) mappings. Only the first call does anything.
    pub(crate) fn retire(&self) {
        if self.retired.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.callsites.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("ttlog: cannot remove the persistent rings in {}: {e}", self.dir.display());
        }
    }
}

/// Makes `p` the process's persistent-ring directory: writes the call
/// sites registered so far and appends every later one (through the call
/// sites' registration hook, which sees both under the registry lock, so
/// none is missed), then refreshes the clock calibration in the background.
/// `false` if one was active already.
pub(crate) fn activate(p: Persist) -> bool {
    if PERSIST.set(p).is_err() {
        return false;
    }
    let watching = crate::callsite::watch_registrations(append_to_active);
    debug_assert!(watching, "the only hook, installed once");
    let _ = std::thread::Builder::new().name("ttlog-persist".into()).spawn(|| {
        // The tick rate is measured more precisely the longer the
        // interval; a crash recovered later uses the latest one.
        for secs in [0.05, 1.0, 10.0].into_iter().chain(std::iter::repeat(300.0)) {
            std::thread::sleep(Duration::from_secs_f64(secs));
            match active() {
                Some(p) if !p.retired.load(Ordering::Acquire) => p.refresh_clock(),
                _ => return,
            }
        }
    });
    true
}

/// The registration hook: appends a new call site to the active
/// directory's `callsites` file.
fn append_to_active(info: &CallSiteInfo) {
    if let Some(p) = active() {
        p.append_callsite(info);
    }
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

/// Why a rings directory could not be recovered.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// A file could not be read, or the snapshot not written.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The path holds no rings directory.
    #[error("{}: no persistent rings here (expected {PROCESS_FILE} in it or in its ttlog-* subdirectories)", .0.display())]
    NotRings(PathBuf),
    /// The process that owns the rings is still running.
    #[error("{}: process {pid} ({service}) is still running; its rings are live, not recovering them", .dir.display())]
    Alive {
        /// The rings directory.
        dir: PathBuf,
        /// Its process.
        pid: u32,
        /// Its service.
        service: String,
    },
    /// `process.cbor` is unreadable, so nothing can be attributed.
    #[error("{}: {what}", .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// How [`recover`] works.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// Where the snapshot goes (default: the directory that holds the rings
    /// directory).
    pub out_dir: Option<PathBuf>,
    /// Keep the ring files after a successful recovery.
    pub keep: bool,
    /// Only the rings of this service.
    pub service: Option<String>,
}

/// One recovered process.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The rings directory it came from.
    pub rings_dir: PathBuf,
    /// The snapshot written.
    pub snapshot: PathBuf,
    /// Service of the dead process.
    pub service: String,
    /// Its pid.
    pub pid: u32,
    /// Events recovered.
    pub events: u64,
    /// Rings with events.
    pub threads: usize,
    /// Events overwritten before the process died.
    pub overwritten: u64,
    /// Damage found (each names the file): the intact part was kept.
    pub problems: Vec<String>,
}

/// The bytes of one rings directory, for [`recover_bytes`].
#[derive(Debug, Clone, Copy)]
pub struct RingFiles<'a> {
    /// `process.cbor`.
    pub process: &'a [u8],
    /// `callsites`.
    pub callsites: &'a [u8],
    /// Each ring file, with its name.
    pub rings: &'a [(&'a str, &'a [u8])],
}

/// What [`recover_bytes`] makes of a rings directory.
#[derive(Debug, Clone)]
pub struct RecoveredCapture {
    /// The rings' contents, as if captured when the process died.
    pub capture: Capture,
    /// Who wrote them (reason `recovered`).
    pub meta: SnapshotMeta,
    /// Damage found; the intact part is in `capture`.
    pub problems: Vec<String>,
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// The rings directories of dead processes, each now a snapshot.
    pub recovered: Vec<Recovered>,
    /// Rings directories left alone because their process still runs
    /// (given a `persist_dir` holding several: a restarted service's own
    /// directory is one).
    pub live: Vec<LiveRings>,
}

/// A rings directory whose process is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRings {
    /// The directory.
    pub dir: PathBuf,
    /// Its process.
    pub pid: u32,
    /// Its service.
    pub service: String,
}

/// Recovers every rings directory at `path` (a rings directory itself, or a
/// `persist_dir` holding several) whose process is gone: writes one snapshot
/// (reason `recovered`) for each and removes its directory unless
/// `options.keep`. Directories of live processes are left alone and listed
/// in [`Recovery::live`].
///
/// # Errors
/// [`RecoverError::Alive`] when every rings directory there belongs to a
/// live process (nothing is touched); [`RecoverError::NotRings`] if `path`
/// holds no rings directory (of `options.service`, if set); I/O errors and
/// a damaged `process.cbor`, which leave nothing to attribute. Damage
/// inside rings keeps their intact records and is reported in
/// [`Recovered::problems`].
pub fn recover(path: &Path, options: &RecoverOptions) -> Result<Recovery, RecoverError> {
    let dirs = if path.join(PROCESS_FILE).is_file() { vec![path.to_path_buf()] } else { rings_dirs(path)? };
    // Read and check them all first: an error stops everything before any change.
    let mut dead = Vec::with_capacity(dirs.len());
    let mut live = Vec::new();
    for dir in dirs {
        let process = read_bounded(&dir.join(PROCESS_FILE), MAX_META_BYTES)?;
        let meta =
            parse_process(&process).map_err(|what| RecoverError::Damaged { path: dir.join(PROCESS_FILE), what })?;
        if options.service.as_ref().is_some_and(|s| *s != meta.service) {
            continue;
        }
        if is_alive(&meta) {
            live.push(LiveRings { dir, pid: meta.pid, service: meta.service });
        } else {
            dead.push((dir, process));
        }
    }
    if dead.is_empty() {
        return Err(match live.into_iter().next() {
            Some(l) => RecoverError::Alive { dir: l.dir, pid: l.pid, service: l.service },
            None => RecoverError::NotRings(path.to_path_buf()),
        });
    }
    let mut recovered = Vec::with_capacity(dead.len());
    for (dir, process) in dead {
        recovered.push(recover_dir(&dir, &process, options)?);
    }
    Ok(Recovery { recovered, live })
}

/// The `ttlog-*` rings directories in `root`, sorted.
fn rings_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = fs::read_dir(root).map_err(|e| ctx("cannot list", root, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ttlog-"))
                && p.join(PROCESS_FILE).is_file()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// At install with a `persist_dir`: recovers, in the background, the rings
/// that earlier runs of `service` left in `root` when they died (a crash,
/// the OOM killer), writing each as a `recovered` snapshot into `out_dir`
/// and saying so on stderr. Live directories (this process's, a sibling
/// instance's) are left alone.
pub(crate) fn recover_previous_runs(root: PathBuf, service: String, out_dir: PathBuf) {
    let spawned = std::thread::Builder::new().name("ttlog-recover".into()).spawn(move || {
        let options = RecoverOptions { out_dir: Some(out_dir), keep: false, service: Some(service) };
        match recover(&root, &options) {
            Ok(r) => {
                for r in r.recovered {
                    eprintln!(
                        "ttlog: recovered {} events of an earlier run (pid {}) from {} into {}",
                        r.events,
                        r.pid,
                        r.rings_dir.display(),
                        r.snapshot.display()
                    );
                    for p in r.problems {
                        eprintln!("ttlog: recovery: {p}");
                    }
                }
            }
            Err(RecoverError::Alive { .. } | RecoverError::NotRings(_)) => {}
            Err(e) => eprintln!("ttlog: cannot recover earlier runs: {e}"),
        }
    });
    match spawned {
        Ok(h) => *RECOVERING.lock().unwrap_or_else(|e| e.into_inner()) = Some(h),
        Err(e) => eprintln!("ttlog: cannot start recovering earlier runs: {e}"),
    }
}

static RECOVERING: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Waits for [`recover_previous_runs`] to finish (at shutdown: a process
/// that ends quickly still finishes writing what it recovers).
pub(crate) fn wait_recovery() {
    let h = RECOVERING.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(h) = h {
        let _ = h.join();
    }
}

fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let len = fs::symlink_metadata(path).map_err(|e| ctx("cannot read", path, e))?.len();
    if len > max as u64 {
        return Err(ctx("cannot read", path, io::Error::other(format!("{len} bytes is more than the {max} allowed"))));
    }
    fs::read(path).map_err(|e| ctx("cannot read", path, e))
}

fn recover_dir(dir: &Path, process: &[u8], options: &RecoverOptions) -> Result<Recovered, RecoverError> {
    let callsites = match read_bounded(&dir.join(CALLSITES_FILE), 256 << 20) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| ctx("cannot list", dir, e))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(RING_PREFIX))
        .collect();
    names.sort();
    let mut ring_bytes = Vec::with_capacity(names.len());
    for n in &names {
        // A ring file is at most 1 GiB of data plus its header.
        ring_bytes.push(read_bounded(&dir.join(n), (1 << 30) + RING_HEADER_WORDS * 8)?);
    }
    let rings: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(ring_bytes.iter().map(Vec::as_slice)).collect();
    let rc = recover_bytes(&RingFiles { process, callsites: &callsites, rings: &rings })
        .map_err(|what| RecoverError::Damaged { path: dir.join(PROCESS_FILE), what })?;
    let problems: Vec<String> = rc.problems.iter().map(|p| format!("{}/{p}", dir.display())).collect();
    let out_dir = match &options.out_dir {
        Some(d) => d.clone(),
        None => dir.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let bytes = crate::snapshot::encode(&rc.capture, &rc.meta);
    let name = crate::snapshot::file_name(&rc.meta.service, rc.meta.pid, rc.meta.created_at_ns, "recovered");
    let snapshot = crate::snapshot::write_file(&out_dir, &name, &bytes)?;
    if !options.keep {
        fs::remove_dir_all(dir).map_err(|e| ctx("recovered, but cannot remove", dir, e))?;
    }
    Ok(Recovered {
        rings_dir: dir.to_path_buf(),
        snapshot,
        service: rc.meta.service.clone(),
        pid: rc.meta.pid,
        events: rc.capture.len() as u64,
        threads: rc.capture.threads.iter().filter(|t| !t.is_empty()).count(),
        overwritten: rc.capture.overwritten(),
        problems,
    })
}

fn parse_process(bytes: &[u8]) -> Result<ProcessFile, String> {
    let p: ProcessFile =
        serde_cbor::from_slice(bytes).map_err(|e| format!("not a rings directory description: {e}"))?;
    if p.format != PROCESS_FORMAT {
        return Err(format!("unsupported rings directory format {}", p.format));
    }
    if p.ring_header_words as usize != RING_HEADER_WORDS {
        return Err(format!("ring header of {} words (this version reads {RING_HEADER_WORDS})", p.ring_header_words));
    }
    Ok(p)
}

/// Whether the process described by `p` still runs. Same boot and a process
/// with that pid and start time: alive. A pid that exists but cannot be
/// identified (no `/proc`) counts as alive: recovering live rings would
/// race their writers.
fn is_alive(p: &ProcessFile) -> bool {
    if p.pid == std::process::id() {
        return true;
    }
    let boot = boot_id();
    if !boot.is_empty() && !p.boot_id.is_empty() && boot != p.boot_id {
        return false;
    }
    if let (Some(then), Some(now)) = (p.start_ticks, start_ticks(&p.pid.to_string())) {
        return then == now;
    }
    crate::sys::pid_exists(p.pid)
}

/// Recovers the contents of a rings directory from its files' bytes (no
/// file system access, never panics, allocates at most in proportion to the
/// input: what [`recover`] does after reading, and what the fuzzer drives).
///
/// # Errors
/// When `process` is not a valid `process.cbor`: nothing can be attributed.
pub fn recover_bytes(files: &RingFiles<'_>) -> Result<RecoveredCapture, String> {
    let p = parse_process(files.process)?;
    let mut problems = Vec::new();
    let callsites = parse_callsites(files.callsites, &mut problems);
    let source = match p.clock.source.as_str() {
        "tsc" => ClockSource::Tsc,
        _ => ClockSource::Monotonic,
    };
    let ns_per_tick =
        if p.clock.ns_per_tick.is_finite() && p.clock.ns_per_tick > 0.0 { p.clock.ns_per_tick } else { 1.0 };
    let calibration = Calibration { source, ticks: p.clock.ticks, utc_ns: p.clock.utc_ns, ns_per_tick };
    let mut threads = Vec::with_capacity(files.rings.len());
    let mut threads_truncated = 0u64;
    for (name, bytes) in files.rings {
        match parse_ring(bytes) {
            Ok((t, problem)) => {
                threads_truncated = threads_truncated.saturating_add(header_word(bytes, W_TRUNCATED).unwrap_or(0));
                if let Some(problem) = problem {
                    problems.push(format!("{name}: {problem}"));
                }
                if t.written > 0 || t.dropped_too_large > 0 {
                    threads.push(t);
                }
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    let truncated = threads_truncated;
    let capture = Capture::new(calibration, callsites, threads, Dropped::default(), truncated);
    let meta = SnapshotMeta {
        service: p.service,
        reason: "recovered".to_owned(),
        hostname: p.hostname,
        pid: p.pid,
        created_at_ns: crate::snapshot::now_utc_ns(),
        panic: None,
        instance: (!p.instance.is_empty()).then_some(p.instance),
    };
    Ok(RecoveredCapture { capture, meta, problems })
}

/// The call-site frames of `bytes`, up to the first damaged one (reported).
fn parse_callsites(bytes: &[u8], problems: &mut Vec<String>) -> Vec<Arc<CallSiteInfo>> {
    let mut sites = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let damaged = |what: String| format!("{CALLSITES_FILE}: byte {off}: {what}; later call sites are lost");
        let Some(head) = bytes.get(off..off + 8) else {
            problems.push(damaged("cut-off frame".into()));
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let Some(body) = bytes.get(off + 8..(off + 8).saturating_add(len)) else {
            problems.push(damaged(format!("frame of {len} bytes runs past the end")));
            break;
        };
        if crc32fast::hash(body) != crc {
            problems.push(damaged("checksum mismatch".into()));
            break;
        }
        let entry: CallSiteEntry = match serde_cbor::from_slice(body) {
            Ok(e) => e,
            Err(e) => {
                problems.push(damaged(format!("bad call site: {e}")));
                break;
            }
        };
        if entry.id as usize != sites.len() + 1 {
            problems.push(damaged(format!("call site id {} where {} was expected", entry.id, sites.len() + 1)));
            break;
        }
        match crate::snapshot::callsite_info(&entry) {
            Ok(info) => sites.push(Arc::new(info)),
            Err(e) => {
                problems.push(damaged(e));
                break;
            }
        }
        off += 8 + len;
    }
    sites
}

fn header_word(bytes: &[u8], i: usize) -> Option<u64> {
    let b = bytes.get(i * 8..i * 8 + 8)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// The whole records of one ring file, oldest first, and the damage found
/// (the records before it are kept).
fn parse_ring(bytes: &[u8]) -> Result<(ThreadCapture, Option<String>), String> {
    let word = |i: usize| header_word(bytes, i).unwrap_or(0);
    if bytes.len() < RING_HEADER_WORDS * 8 || word(W_MAGIC) != RING_MAGIC {
        return Err("not a ring file (bad magic)".into());
    }
    if word(W_VERSION) != RING_VERSION {
        return Err(format!("unsupported ring file version {}", word(W_VERSION)));
    }
    let cap = word(W_CAPACITY);
    let expect = (cap as u128 + RING_HEADER_WORDS as u128) * 8;
    if !cap.is_power_of_two() || cap < MIN_RING_WORDS as u64 || expect != bytes.len() as u128 {
        return Err(format!("capacity of {cap} words does not match a file of {} bytes", bytes.len()));
    }
    let name = match word(W_NAME_LEN) {
        u64::MAX => None,
        n if n as usize <= MAX_NAME_BYTES => {
            let raw = &bytes[W_NAME * 8..W_NAME * 8 + n as usize];
            Some(Arc::from(String::from_utf8_lossy(raw).as_ref()))
        }
        n => return Err(format!("thread name of {n} bytes")),
    };
    let thread = ThreadInfo { id: word(W_THREAD_ID), name };
    let (head, tail, next_seq) = (word(W_HEAD), word(W_TAIL), word(W_NEXT_SEQ));
    let dropped_too_large = word(W_DROPPED_TOO_LARGE);
    // No ring counts anywhere near this (2^52 events: 4.7 years at 30 M
    // events/s); larger values are damage, and refusing them keeps every
    // sum over rings far from overflowing.
    let counters = [head, tail, next_seq, word(W_OVERWRITTEN), dropped_too_large, word(W_TRUNCATED)];
    if counters.iter().any(|&c| c > MAX_COUNTER) {
        return Err(format!("counters out of range ({counters:?})"));
    }
    if tail > head || head - tail > cap {
        return Err(format!("cursors out of range (tail {tail}, head {head}, capacity {cap})"));
    }
    let data = &bytes[RING_HEADER_WORDS * 8..];
    let at = |pos: u64| {
        let i = (pos & (cap - 1)) as usize * 8;
        u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"))
    };
    let mut words = Vec::with_capacity((head - tail) as usize);
    let mut starts = Vec::new();
    let mut first_seq = None;
    let mut problem = None;
    let mut pos = tail;
    while pos < head {
        let h = unpack_header(at(pos));
        let len = h.len_words as u64;
        if len < RECORD_HEADER_WORDS as u64 || pos + len > head {
            problem = Some(format!("record at word {pos}: bad length {len}; {} whole records kept", starts.len()));
            break;
        }
        let seq = match first_seq {
            None => {
                // The first record's number: the newest one's is next_seq - 1
                // (or next_seq, if the process died between storing head and
                // next_seq); this one is at most 2^31 before it.
                let s = widen_seq(h.seq_lo, next_seq);
                first_seq = Some(s);
                s
            }
            Some(f) => f + starts.len() as u64,
        };
        if h.seq_lo != seq as u32 {
            problem = Some(format!(
                "record at word {pos}: sequence number {} where {} was expected; {} whole records kept",
                h.seq_lo,
                seq as u32,
                starts.len()
            ));
            break;
        }
        starts.push(words.len() as u32);
        for p in pos..pos + len {
            words.push(at(p));
        }
        pos += len;
    }
    let kept = starts.len() as u64;
    let (overwritten, written) = match first_seq {
        Some(f) if kept > 0 => (f, f + kept),
        // An empty ring: everything it ever held was overwritten.
        _ => (word(W_OVERWRITTEN).max(next_seq), word(W_OVERWRITTEN).max(next_seq)),
    };
    let read = RingRead { words, starts, overwritten, written, end_pos: pos };
    Ok((ThreadCapture::new(thread, read, dropped_too_large, Some(cap * 8)), problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_of_self_is_read() {
        if cfg!(target_os = "linux") {
            assert!(start_ticks("self").is_some());
        }
    }

    #[test]
    fn damaged_callsite_frames_keep_the_intact_prefix() {
        let entry = |id| CallSiteEntry {
            id,
            level: 2,
            target: "t".into(),
            message: "m".into(),
            file: "f.rs".into(),
            line: 1,
            module_path: "t".into(),
            fields: vec![],
            limit: None,
        };
        let mut bytes = Vec::new();
        for id in 1..=3 {
            let body = serde_cbor::to_vec(&entry(id)).unwrap();
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            bytes.extend_from_slice(&body);
        }
        let mut problems = Vec::new();
        assert_eq!(parse_callsites(&bytes, &mut problems).len(), 3);
        assert!(problems.is_empty());
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let sites = parse_callsites(&bytes, &mut problems);
        assert_eq!(sites.len(), 2);
        assert!(problems[0].contains("checksum mismatch"), "{problems:?}");
        problems.clear();
        assert_eq!(parse_callsites(&bytes[..bytes.len() - 3], &mut problems).len(), 2);
        assert!(problems[0].contains("runs past the end"), "{problems:?}");
    }

    #[test]
    fn a_ring_file_is_the_ring() {
        // A heap ring has the file layout: its words, as bytes, parse back.
        let ring = Arc::new(Ring::new(MIN_RING_WORDS));
        ring.set_owner(7, Some("worker-7"));
        let mut p = ring.producer();
        for i in 0..1000u64 {
            assert!(p.write(1, 100 + i, 1, |w| w.push(i)));
        }
        let bytes = ring.to_bytes();
        let (t, problem) = parse_ring(&bytes).unwrap();
        assert_eq!(problem, None);
        assert_eq!(t.thread, ThreadInfo { id: 7, name: Some("worker-7".into()) });
        assert_eq!(t.written, 1000);
        let seqs: Vec<u64> = t.records().map(|r| r.seq).collect();
        assert_eq!(seqs.first().copied(), Some(t.overwritten));
        assert_eq!(seqs.last().copied(), Some(999));
        assert!(t.records().all(|r| r.payload == [r.seq] && r.ticks == 100 + r.seq));

        // A damaged header in the middle keeps the records before it.
        let mut bad = bytes.clone();
        let tail = header_word(&bytes, W_TAIL).unwrap();
        let victim = tail + 3 * 10; // the 11th record (3 words each)
        let off = RING_HEADER_WORDS * 8 + (victim & (MIN_RING_WORDS as u64 - 1)) as usize * 8;
        bad[off..off + 8].copy_from_slice(&0u64.to_le_bytes());
        let (t, problem) = parse_ring(&bad).unwrap();
        assert_eq!(t.len(), 10);
        assert!(problem.unwrap().contains("bad length 0; 10 whole records kept"));

        // Cut or foreign files are refused with a reason.
        assert!(parse_ring(&bytes[..bytes.len() - 8]).unwrap_err().contains("does not match"));
        assert!(parse_ring(b"hello").unwrap_err().contains("bad magic"));
    }
}
