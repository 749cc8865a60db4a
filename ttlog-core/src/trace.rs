//! [`Trace`]: installing the recorder and talking to it.

use crate::capture::{Capture, Dropped, Event};
use crate::filter::Filter;
use crate::level::Level;
use crate::listener::{self, DEFAULT_LISTENER_INTERVAL, Listener, ListenerMetrics};
use crate::recorder::{self, RingConfig};
use crate::ring::MIN_RING_WORDS;
use crate::snapshot::Retention;
use crate::triggers;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// The environment variable read by [`Builder::install`] for per-target
/// levels (`TTLOG=info,db=debug`), see [`Builder::filter`].
pub const FILTER_ENV: &str = "TTLOG";

/// Ring bytes budgeted per event when a capacity is given in events: the
/// size of a message with three fields (u64, f64, short string).
pub const BYTES_PER_EVENT: usize = 40;

/// Why installing or using the recorder failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A recorder is already installed in this process.
    #[error("a ttlog recorder is already installed in this process")]
    AlreadyInstalled,
    /// A builder setting is out of range.
    #[error("invalid ttlog configuration: {0}")]
    Config(String),
    /// A snapshot could not be written.
    #[error("snapshot failed: {0}")]
    Snapshot(#[from] std::io::Error),
    /// The persistent-ring directory could not be set up.
    #[error("persistent rings: {0}")]
    Persist(std::io::Error),
}

/// Counters of the recorder, from [`Trace::metrics`].
///
/// Every event that passed the level check is in exactly one place:
/// `logged == in_ring + overwritten + dropped.total()` (exactly, once
/// producers are quiet; each counter is read without stopping them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Events logged (passed the level check).
    pub logged: u64,
    /// Events readable in the rings now.
    pub in_ring: u64,
    /// Events overwritten by newer ones (the flight recorder keeps the newest).
    pub overwritten: u64,
    /// Events dropped, by cause.
    pub dropped: Dropped,
    /// String values cut to the length limit (the events were kept).
    pub truncated: u64,
    /// Ring bytes holding readable events.
    pub bytes_in_use: u64,
    /// Ring bytes in all rings.
    pub bytes_capacity: u64,
    /// Memory the rings take, headers included.
    pub memory_bytes: u64,
    /// Rings allocated (live threads plus idle rings of exited threads).
    pub rings: usize,
    /// Rings owned by a live thread.
    pub live_threads: usize,
    /// Snapshot files written.
    pub snapshots_written: u64,
    /// Snapshots that failed (full disk, read-only directory, …).
    pub snapshot_errors: u64,
    /// Rings that could not be placed in a file under
    /// [`Builder::persist_dir`] (they went to memory) and call sites that
    /// could not be appended there.
    pub persist_errors: u64,
    /// The directory of this process's persistent rings, if any.
    pub persist_dir: Option<PathBuf>,
    /// Rings that live in files there.
    pub persistent_rings: usize,
    /// Rings whose data lives in memory handed to the kernel for
    /// transparent huge pages (`MADV_HUGEPAGE`, Linux): whether it is backed
    /// by 2 MiB pages depends on `/sys/kernel/mm/transparent_hugepage`.
    /// Persistent rings live in their files' pages instead.
    pub huge_page_rings: usize,
    /// Each live listener's deliveries, misses, errors and lag.
    pub listeners: Vec<ListenerMetrics>,
}

/// Configures and installs the recorder; from [`Trace::builder`].
///
/// ```no_run
/// use ttlog_core::{Level, Trace};
/// let trace = Trace::builder()
///     .service("pricing")
///     .capacity_events(8192)
///     .level(Level::Debug)
///     .storage_path("/var/tmp/ttlog")
///     .install()
///     .expect("no other recorder installed");
/// ttlog_core::debug!("ready", shards = 8u32);
/// assert_eq!(trace.metrics().logged, 1);
/// ```
pub struct Builder {
    service: String,
    ring_bytes: usize,
    filter: Option<Filter>,
    filter_text: Option<String>,
    env_filter: bool,
    storage_path: Option<PathBuf>,
    persist_dir: Option<PathBuf>,
    recover_on_start: bool,
    max_idle_rings: usize,
    huge_pages: bool,
    snapshot: triggers::Options,
    listeners: Vec<Box<dyn Listener>>,
    listener_interval: Duration,
    self_report: Option<Duration>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("service", &self.service)
            .field("ring_bytes", &self.ring_bytes)
            .field("filter", &self.filter)
            .field("filter_text", &self.filter_text)
            .field("env_filter", &self.env_filter)
            .field("storage_path", &self.storage_path)
            .field("persist_dir", &self.persist_dir)
            .field("recover_on_start", &self.recover_on_start)
            .field("max_idle_rings", &self.max_idle_rings)
            .field("huge_pages", &self.huge_pages)
            .field("snapshot", &self.snapshot)
            .field("listeners", &self.listeners.iter().map(|l| l.name().to_owned()).collect::<Vec<_>>())
            .field("listener_interval", &self.listener_interval)
            .field("self_report", &self.self_report)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        let service = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "service".to_owned());
        Builder {
            service,
            ring_bytes: 4096 * BYTES_PER_EVENT,
            filter: None,
            filter_text: None,
            env_filter: true,
            storage_path: None,
            persist_dir: None,
            recover_on_start: true,
            max_idle_rings: 64,
            huge_pages: true,
            snapshot: triggers::Options::default(),
            listeners: Vec::new(),
            listener_interval: DEFAULT_LISTENER_INTERVAL,
            self_report: None,
        }
    }
}

impl Builder {
    /// The service name written into snapshots (default: the executable's
    /// name).
    pub fn service(mut self, name: impl Into<String>) -> Builder {
        self.service = name.into();
        self
    }

    /// Ring size per thread, in events of [`BYTES_PER_EVENT`] bytes (default
    /// 4096). Rounded up to a power of two bytes, at least 16 KiB.
    pub fn capacity_events(mut self, events: usize) -> Builder {
        self.ring_bytes = events.saturating_mul(BYTES_PER_EVENT);
        self
    }

    /// Ring size per thread, in bytes. Rounded up to a power of two, at least
    /// 16 KiB.
    pub fn capacity_bytes(mut self, bytes: usize) -> Builder {
        self.ring_bytes = bytes;
        self
    }

    /// The least severe level recorded, for every target (default:
    /// [`Level::Info`], or what [`crate::set_level`] or [`crate::set_filter`]
    /// set before). Replaces an earlier [`Builder::filter`].
    pub fn level(mut self, level: Level) -> Builder {
        self.filter = Some(Filter::new(level));
        self.filter_text = None;
        self
    }

    /// Per-target levels in `RUST_LOG` syntax, e.g. `"info,db=debug,hyper=warn"`
    /// (see [`Filter`]). Checked by [`Builder::install`]. Replaces an earlier
    /// [`Builder::level`].
    ///
    /// The `TTLOG` environment variable, when set and not empty, overrides
    /// both (so operators can change levels without a rebuild) unless
    /// [`Builder::env_filter`] turned that off; an invalid `TTLOG` is
    /// reported once on stderr and ignored.
    ///
    /// ```
    /// let trace = ttlog_core::Trace::builder().filter("warn,billing=debug").env_filter(false).install().unwrap();
    /// ttlog_core::debug!(target: "billing::invoice", "draft", id = 7u64);
    /// ttlog_core::info!(target: "http", "hidden");
    /// assert_eq!(trace.metrics().logged, 1);
    /// ```
    pub fn filter(mut self, directives: &str) -> Builder {
        self.filter_text = Some(directives.to_owned());
        self.filter = None;
        self
    }

    /// Whether the `TTLOG` environment variable overrides the builder's level
    /// or filter (default: yes).
    pub fn env_filter(mut self, on: bool) -> Builder {
        self.env_filter = on;
        self
    }

    /// Directory for snapshot files (default: `$TTLOG_DIR`, else `ttlog` in
    /// the temporary directory; created with mode 0700 if missing).
    pub fn storage_path(mut self, path: impl Into<PathBuf>) -> Builder {
        self.storage_path = Some(path.into());
        self
    }

    /// Keep the thread rings in memory-mapped files under `dir` (default:
    /// off, rings on the heap), so that what was logged survives any death
    /// of the process (`kill -9`, the OOM killer, `SIGSEGV`, `abort`) in the
    /// page cache. `ttlog-view recover DIR` (or [`crate::persist::recover`])
    /// turns the rings of a dead process into a snapshot. The hot path is
    /// the same code writing to the same kind of memory; see
    /// [`crate::persist`] for the files, what is saved and the cost.
    ///
    /// ```no_run
    /// let _trace = ttlog_core::Trace::builder()
    ///     .service("pricing")
    ///     .persist_dir("/dev/shm/ttlog")
    ///     .install()
    ///     .expect("rings directory created");
    /// ttlog_core::info!("survives kill -9");
    /// ```
    pub fn persist_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.persist_dir = Some(dir.into());
        self
    }

    /// With [`Builder::persist_dir`]: at install, recover in the background
    /// the rings that earlier runs of this service left there when they
    /// died, each into a `recovered` snapshot in the snapshot directory
    /// (default: on). A service restarted after an OOM kill finds the
    /// events of its last moments among its snapshots.
    pub fn recover_on_start(mut self, on: bool) -> Builder {
        self.recover_on_start = on;
        self
    }

    /// Rings of exited threads kept readable before the one idle the longest
    /// is reused, unread events counted as overwritten (default 64).
    pub fn max_idle_rings(mut self, n: usize) -> Builder {
        self.max_idle_rings = n;
        self
    }

    /// Whether thread rings live in transparent huge pages (default: yes,
    /// on Linux; elsewhere rings are always on the heap).
    ///
    /// A producer stores into its ring page after page. With 4 KiB pages the
    /// first store into each page (every ~100 events of 40 bytes) often
    /// waits for a page walk, because the TLB has dropped the page since the
    /// last lap round the ring; in a virtual machine that walk costs hundreds
    /// of nanoseconds, and it made the slowest 0.1 % of events. A 2 MiB page
    /// covers 512 of them.
    ///
    /// Rings are cut from 2 MiB blocks (a ring of 256 KiB takes an eighth of
    /// one), so the first ring of the process makes its resident memory grow
    /// by up to 2 MiB rather than by the ring's size. Whether the kernel
    /// backs them with huge pages depends on
    /// `/sys/kernel/mm/transparent_hugepage` (`madvise` or `always`);
    /// [`Metrics::huge_page_rings`] counts the rings placed there.
    /// Persistent rings ([`Builder::persist_dir`]) live in their files.
    pub fn huge_pages(mut self, yes: bool) -> Builder {
        self.huge_pages = yes;
        self
    }

    /// Write a snapshot when any thread panics (default: on). The panic hook
    /// installed before [`Builder::install`] still runs first; a hook set
    /// later with `std::panic::set_hook` replaces TTLog's (take it with
    /// `take_hook` and call it from yours to keep both).
    pub fn snapshot_on_panic(mut self, on: bool) -> Builder {
        self.snapshot.on_panic = on;
        self
    }

    /// Write a snapshot on SIGINT, SIGTERM, SIGQUIT and SIGHUP, then end the
    /// process by that signal as its default action would (default: on).
    /// Turn it off if the service handles these signals itself, and call
    /// [`Trace::request_snapshot`] from its handler.
    pub fn snapshot_on_signals(mut self, on: bool) -> Builder {
        self.snapshot.on_signals = on;
        self
    }

    /// Write a snapshot every `interval` when events were logged since the
    /// last one (default: every 60 s; `None` turns it off).
    pub fn snapshot_interval(mut self, interval: Option<Duration>) -> Builder {
        self.snapshot.interval = interval;
        self
    }

    /// Write a final snapshot at [`Trace::shutdown`] or when the [`Trace`]
    /// is dropped (default: off).
    pub fn snapshot_on_shutdown(mut self, on: bool) -> Builder {
        self.snapshot.on_shutdown = on;
        self
    }

    /// How many snapshot files of this service the directory keeps (default
    /// 50 files, 1 GiB); the oldest are removed first.
    pub fn snapshot_retention(mut self, retention: Retention) -> Builder {
        self.snapshot.retention = retention;
        self
    }

    /// Adds a live listener (printing, forwarding) that reads the rings behind
    /// the producers on its own thread; see [`Listener`].
    pub fn listener(mut self, listener: impl Listener) -> Builder {
        self.listeners.push(Box::new(listener));
        self
    }

    /// Time between two passes of each listener over the rings (default
    /// 20 ms). Shorter: fresher output and fewer misses under heavy logging;
    /// longer: less work when idle.
    pub fn listener_interval(mut self, interval: Duration) -> Builder {
        self.listener_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Logs the recorder's own counters every `interval` as an `info` event
    /// of target `ttlog`, message `metrics` (default: off).
    pub fn self_report(mut self, interval: Option<Duration>) -> Builder {
        self.self_report = interval.filter(|d| !d.is_zero());
        self
    }

    /// Installs the recorder for the whole process.
    ///
    /// # Errors
    /// [`Error::AlreadyInstalled`] if one is installed already;
    /// [`Error::Config`] for a ring above 1 GiB or an invalid
    /// [`Builder::filter`]; [`Error::Persist`] when the
    /// [`Builder::persist_dir`] cannot be created.
    pub fn install(self) -> Result<Trace, Error> {
        if self.ring_bytes > 1 << 30 {
            return Err(Error::Config(format!("ring of {} bytes per thread is above 1 GiB", self.ring_bytes)));
        }
        let mut filter = match &self.filter_text {
            Some(text) => Some(text.parse::<Filter>().map_err(|e| Error::Config(e.to_string()))?),
            None => self.filter.clone(),
        };
        if self.env_filter
            && let Ok(text) = std::env::var(FILTER_ENV)
            && !text.trim().is_empty()
        {
            match text.parse::<Filter>() {
                Ok(f) => filter = Some(f),
                Err(e) => eprintln!("ttlog: ignoring {FILTER_ENV}: {e}"),
            }
        }
        let ring_words = (self.ring_bytes.div_ceil(8)).max(MIN_RING_WORDS).next_power_of_two();
        let config = RingConfig { ring_words, max_idle_rings: self.max_idle_rings, huge_pages: self.huge_pages };
        if recorder::recorder().is_some() {
            return Err(Error::AlreadyInstalled);
        }
        if let Some(dir) = &self.persist_dir {
            // Before the recorder: every ring, from the first, goes to a file.
            let p = crate::persist::Persist::create(&self.service, dir).map_err(Error::Persist)?;
            if !crate::persist::activate(p) {
                return Err(Error::AlreadyInstalled);
            }
        }
        if !recorder::install(config) {
            return Err(Error::AlreadyInstalled);
        }
        crate::control::start_recording(filter);
        triggers::install(&self.service, self.storage_path.clone(), self.snapshot);
        if let Some(root) = self.persist_dir.clone().filter(|_| self.recover_on_start) {
            let out = self.storage_path.clone().unwrap_or_else(crate::snapshot::default_dir);
            crate::persist::recover_previous_runs(root, self.service.clone(), out);
        }
        for l in self.listeners {
            let name = l.name().to_owned();
            if let Err(e) = listener::start(l, self.listener_interval) {
                eprintln!("ttlog: cannot start listener {name:?}: {e}");
            }
        }
        if let Some(interval) = self.self_report {
            start_self_report(interval);
        }
        Ok(Trace { service: self.service, storage_path: self.storage_path, owner: true })
    }
}

/// The installed recorder: metrics, reads, and (as a guard) shutdown.
///
/// ```
/// let trace = ttlog_core::Trace::builder().service("doc").install().unwrap();
/// ttlog_core::info!("Trade executed", symbol = "AAPL", qty = 1000u64, price = 150.25, ok = true);
/// let events = trace.events();
/// assert_eq!(&*events[0].message, "Trade executed");
/// assert_eq!(events[0].field("qty"), Some(&ttlog_core::Value::U64(1000)));
/// ```
pub struct Trace {
    service: String,
    storage_path: Option<PathBuf>,
    owner: bool,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace").field("service", &self.service).field("storage_path", &self.storage_path).finish()
    }
}

impl Trace {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Installs the recorder as the original `ttlog` did: `capacity` events
    /// per thread ring, the service name and an optional snapshot directory.
    /// `channel_capacity` is accepted for compatibility; TTLog has no event
    /// channel (threads write their own rings).
    ///
    /// If a recorder is installed already this does not panic: it prints one
    /// line on stderr and returns a handle to the installed recorder.
    pub fn init(capacity: usize, channel_capacity: usize, service_name: &str, storage_path: Option<&str>) -> Trace {
        let _ = channel_capacity;
        let mut b = Trace::builder().service(service_name).capacity_events(capacity);
        if let Some(p) = storage_path {
            b = b.storage_path(p);
        }
        match b.install() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("ttlog: {e}; using the installed one");
                Trace { service: service_name.to_owned(), storage_path: storage_path.map(PathBuf::from), owner: false }
            }
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The snapshot directory, if one was configured.
    pub fn storage_path(&self) -> Option<&std::path::Path> {
        self.storage_path.as_deref()
    }

    /// Sets the least severe level recorded; see [`crate::set_level`].
    pub fn set_level(&self, level: Level) {
        crate::set_level(level);
    }

    /// Replaces the per-target filter; see [`crate::set_filter`].
    ///
    /// # Errors
    /// [`Error::Config`] when `directives` is not a valid filter (the filter
    /// in force is kept).
    pub fn set_filter(&self, directives: &str) -> Result<(), Error> {
        let f = directives.parse::<Filter>().map_err(|e| Error::Config(e.to_string()))?;
        crate::set_filter(f);
        Ok(())
    }

    /// The recorder's counters.
    pub fn metrics(&self) -> Metrics {
        let Some(rec) = recorder::recorder() else { return Metrics::default() };
        let t = rec.totals();
        let mut dropped = recorder::dropped_outside_rings();
        dropped.too_large = t.dropped_too_large;
        Metrics {
            logged: t.written + dropped.total(),
            in_ring: t.written - t.overwritten.min(t.written),
            overwritten: t.overwritten,
            dropped,
            truncated: t.truncated,
            bytes_in_use: t.used_bytes,
            bytes_capacity: t.capacity_bytes,
            memory_bytes: t.memory_bytes,
            rings: t.rings,
            live_threads: t.live,
            snapshots_written: triggers::counters().0,
            snapshot_errors: triggers::counters().1,
            persist_errors: crate::persist::active().map_or(0, crate::persist::Persist::errors),
            persist_dir: crate::persist::active().map(|p| p.dir().to_path_buf()),
            persistent_rings: t.mapped,
            huge_page_rings: t.huge,
            listeners: listener::metrics(),
        }
    }

    /// Fraction of ring space holding readable events, 0.0 to 1.0.
    pub fn buffer_utilization(&self) -> f64 {
        let m = self.metrics();
        if m.bytes_capacity == 0 { 0.0 } else { m.bytes_in_use as f64 / m.bytes_capacity as f64 }
    }

    /// Bytes of each thread's ring.
    pub fn ring_bytes(&self) -> usize {
        recorder::recorder().map_or(0, recorder::Recorder::ring_bytes)
    }

    /// Reads every ring without stopping the producers.
    pub fn capture(&self) -> Capture {
        recorder::capture()
    }

    /// Every readable event, decoded, in time order.
    pub fn events(&self) -> Vec<Event> {
        self.capture().events()
    }

    /// Writes a snapshot of every ring now and returns its path, once the
    /// file is on disk. Producers keep logging meanwhile. `reason` goes into
    /// the header and (sanitised) the file name.
    ///
    /// # Errors
    /// [`Error::Snapshot`] when the file cannot be written (counted in
    /// [`Metrics::snapshot_errors`]; no partial file is left).
    ///
    /// ```no_run
    /// let trace = ttlog_core::Trace::builder().service("pricing").install().unwrap();
    /// ttlog_core::info!("about to rebalance");
    /// let path = trace.request_snapshot("before-rebalance").unwrap();
    /// println!("snapshot in {}", path.display());
    /// ```
    pub fn request_snapshot(&self, reason: &str) -> Result<PathBuf, Error> {
        Ok(triggers::take(reason, None, (&self.service, self.storage_path.as_deref()))?)
    }

    /// Adds a live listener now; see [`Builder::listener`]. It starts with
    /// what the rings hold.
    ///
    /// # Errors
    /// When its thread cannot be started.
    pub fn add_listener(&self, listener: impl Listener) -> Result<(), Error> {
        Ok(listener::start(Box::new(listener), DEFAULT_LISTENER_INTERVAL)?)
    }

    /// Stops recording: writes the final snapshot if
    /// [`Builder::snapshot_on_shutdown`] asked for one, stops periodic
    /// snapshots and the self-report, lets every listener deliver what is
    /// left and stops it, and disables later events (one load and a branch).
    /// What the rings hold stays readable. Only the first call does anything.
    pub fn shutdown(&self) {
        if self.owner {
            let r = triggers::shutdown();
            retire_persist(r.as_ref());
            stop_self_report();
            listener::stop_all();
            recorder::disable();
        }
    }

    /// [`Trace::shutdown`], returning the final snapshot's path when one was
    /// written (only [`Builder::snapshot_on_shutdown`] asks for one).
    ///
    /// # Errors
    /// [`Error::Snapshot`] when the final snapshot could not be written.
    pub fn shutdown_with_snapshot(&self) -> Result<Option<PathBuf>, Error> {
        if !self.owner {
            return Ok(None);
        }
        let r = triggers::shutdown();
        retire_persist(r.as_ref());
        let r = r.transpose();
        stop_self_report();
        listener::stop_all();
        recorder::disable();
        Ok(r?)
    }
}

/// At a clean shutdown, removes the persistent rings, unless the final
/// snapshot that should have saved them failed (then they stay, for
/// `ttlog-view recover`).
fn retire_persist(final_snapshot: Option<&std::io::Result<PathBuf>>) {
    let Some(p) = crate::persist::active() else { return };
    crate::persist::wait_recovery();
    match final_snapshot {
        Some(Err(_)) => eprintln!(
            "ttlog: the final snapshot failed; keeping the persistent rings in {} for `ttlog-view recover`",
            p.dir().display()
        ),
        _ => p.retire(),
    }
}

static SELF_REPORT: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>> = Mutex::new(None);

fn start_self_report(interval: Duration) {
    let (tx, rx) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("ttlog-self-report".into()).spawn(move || {
        let trace = Trace { service: String::new(), storage_path: None, owner: false };
        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
            let m = trace.metrics();
            let missed: u64 = m.listeners.iter().map(|l| l.missed).sum();
            let listener_errors: u64 = m.listeners.iter().map(|l| l.errors).sum();
            crate::info!(
                target: "ttlog",
                "metrics",
                logged = m.logged,
                in_ring = m.in_ring,
                overwritten = m.overwritten,
                dropped = m.dropped.total(),
                truncated = m.truncated,
                snapshots_written = m.snapshots_written,
                snapshot_errors = m.snapshot_errors,
                listener_missed = missed,
                listener_errors,
                bytes_in_use = m.bytes_in_use,
                live_threads = m.live_threads as u64
            );
        }
    });
    match spawned {
        Ok(h) => *SELF_REPORT.lock().unwrap_or_else(|e| e.into_inner()) = Some((tx, h)),
        Err(e) => eprintln!("ttlog: cannot start the self-report: {e}"),
    }
}

fn stop_self_report() {
    let taken = SELF_REPORT.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((tx, h)) = taken {
        drop(tx);
        let _ = h.join();
    }
}

impl Drop for Trace {
    /// Dropping the guard that installed the recorder writes the final
    /// snapshot (if so configured), stops periodic snapshots and the
    /// self-report, and lets the listeners deliver what is left and stop;
    /// recording goes on.
    fn drop(&mut self) {
        if self.owner {
            let r = triggers::shutdown();
            retire_persist(r.as_ref());
            stop_self_report();
            listener::stop_all();
        }
    }
}
