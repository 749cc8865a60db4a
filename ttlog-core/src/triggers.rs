//! When snapshots are taken: on request, on a panic in any thread, on
//! SIGINT/SIGTERM/SIGQUIT/SIGHUP, periodically, and at shutdown.
//!
//! One process-wide [`Snapshotter`] holds the configuration given to
//! [`crate::Builder`]. Snapshots are serialised by a mutex (two triggers at
//! once write two files, one after the other); producers are never stopped:
//! the rings are read as [`crate::capture`] reads them.
//!
//! - Panic: the hook installed first runs the previous hook (its message is
//!   printed as before), then writes the snapshot with the panic's message,
//!   location and thread, before returning, so the file is on disk before an
//!   unwinding panic goes on or a `panic = "abort"` process aborts.
//! - Signals: a dedicated thread waits on `signal_hook::iterator::Signals`
//!   (the signal handler itself only writes to a pipe). On a signal it
//!   writes the snapshot, then restores the default action and re-raises the
//!   signal (`emulate_default_handler`), so the process ends as it would have
//!   without TTLog and a supervisor sees the signal in the exit status.
//!   Between the two, the live listeners get up to 250 ms to deliver what
//!   they have not yet printed.
//! - Periodic: a thread wakes every interval and writes a snapshot if events
//!   were logged since the last snapshot.
//! - Failures (full disk, read-only or vanished directory, no permission):
//!   counted in [`crate::Metrics::snapshot_errors`], reported once on stderr;
//!   the service goes on logging and no partial file is left.

use crate::recorder;
use crate::snapshot::{self, PanicEntry, Retention, SnapshotMeta, default_dir};
use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Snapshot settings of [`crate::Builder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) on_panic: bool,
    pub(crate) on_signals: bool,
    pub(crate) interval: Option<Duration>,
    pub(crate) on_shutdown: bool,
    pub(crate) retention: Retention,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            on_panic: true,
            on_signals: true,
            interval: Some(Duration::from_secs(60)),
            on_shutdown: false,
            retention: Retention::default(),
        }
    }
}

#[derive(Debug)]
struct Snapshotter {
    service: String,
    dir: PathBuf,
    options: Options,
    /// Serialises snapshots.
    lock: Mutex<()>,
    /// Events logged as of the last snapshot written.
    last_logged: AtomicU64,
    periodic: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    shut_down: AtomicBool,
}

static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
static WRITTEN: AtomicU64 = AtomicU64::new(0);
static ERRORS: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread writes a snapshot, so a panic inside it does not
    /// try to write another (and deadlock on the lock).
    static IN_SNAPSHOT: Cell<bool> = const { Cell::new(false) };
}

/// `(snapshots written, snapshot errors)` since the process started.
pub(crate) fn counters() -> (u64, u64) {
    (WRITTEN.load(Ordering::Relaxed), ERRORS.load(Ordering::Relaxed))
}

/// Events logged so far (without reading the rings).
fn logged_now() -> u64 {
    // The same sum as `Capture::logged` (and `Metrics::logged`), so that an
    // idle process compares equal to its last snapshot.
    let (written, too_large) = recorder::recorder().map_or((0, 0), |r| {
        let t = r.totals();
        (t.written, t.dropped_too_large)
    });
    written + too_large + recorder::dropped_outside_rings().total()
}

/// Sets up the snapshot triggers; called once, by the installing builder.
pub(crate) fn install(service: &str, dir: Option<PathBuf>, options: Options) {
    let s = Snapshotter {
        service: service.to_owned(),
        dir: dir.unwrap_or_else(default_dir),
        options,
        lock: Mutex::new(()),
        last_logged: AtomicU64::new(0),
        periodic: Mutex::new(None),
        shut_down: AtomicBool::new(false),
    };
    if SNAPSHOTTER.set(s).is_err() {
        return;
    }
    if options.on_panic {
        install_panic_hook();
    }
    #[cfg(unix)]
    if options.on_signals
        && let Err(e) = install_signal_thread()
    {
        eprintln!("ttlog: cannot watch signals for snapshots: {e}");
    }
    if let Some(interval) = options.interval.filter(|d| !d.is_zero()) {
        start_periodic(interval);
    }
}

/// Takes a snapshot now and returns its path. Uses the installed
/// configuration, or `fallback` (service, directory) if none is installed.
pub(crate) fn take(reason: &str, panic: Option<PanicEntry>, fallback: (&str, Option<&Path>)) -> io::Result<PathBuf> {
    if IN_SNAPSHOT.with(Cell::get) {
        return Err(io::Error::new(io::ErrorKind::WouldBlock, "a snapshot is already being written by this thread"));
    }
    /// Clears the flag however `take_inner` ends, unwinding included.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_SNAPSHOT.with(|f| f.set(false));
        }
    }
    IN_SNAPSHOT.with(|f| f.set(true));
    let _reset = Reset;
    take_inner(reason, panic, fallback)
}

fn take_inner(reason: &str, panic: Option<PanicEntry>, fallback: (&str, Option<&Path>)) -> io::Result<PathBuf> {
    let installed = SNAPSHOTTER.get();
    let (service, dir, retention) = match installed {
        Some(s) => (s.service.as_str(), s.dir.clone(), s.options.retention),
        None => (fallback.0, fallback.1.map_or_else(default_dir, Path::to_path_buf), Retention::default()),
    };
    static FALLBACK_LOCK: Mutex<()> = Mutex::new(());
    let lock = installed.map_or(&FALLBACK_LOCK, |s| &s.lock);
    // A panic while the lock was held left nothing half-done that matters:
    // each snapshot is self-contained.
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());

    let capture = recorder::capture();
    let mut meta = SnapshotMeta::new(service, reason);
    meta.panic = panic;
    let bytes = snapshot::encode(&capture, &meta);
    let name = snapshot::file_name(service, meta.pid, meta.created_at_ns, reason);
    match snapshot::write_file(&dir, &name, &bytes) {
        Ok(path) => {
            WRITTEN.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = installed {
                s.last_logged.store(capture.logged(), Ordering::Relaxed);
            }
            // Retention problems do not fail the snapshot just written.
            let _ = snapshot::apply_retention(&dir, service, retention, &path);
            Ok(path)
        }
        Err(e) => {
            ERRORS.fetch_add(1, Ordering::Relaxed);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "ttlog: snapshot failed: {e} (logging goes on; later failures are counted in Metrics::snapshot_errors, not printed)"
                );
            }
            Err(e)
        }
    }
}

/// The text of a panic payload.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The previous hook first: its message must not be lost, whatever
        // happens while writing the snapshot.
        previous(info);
        if IN_SNAPSHOT.with(Cell::get) {
            return;
        }
        let entry = PanicEntry {
            message: payload_text(info.payload()),
            location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            thread: std::thread::current().name().map(str::to_owned),
        };
        // The panic is the panicking thread's last event (level ERROR,
        // target `panic`, its message and location as fields), so that
        // filters, group-bys and every export of the snapshot see it.
        crate::error!(
            target: "panic",
            "panic",
            message = entry.message.as_str(),
            location = entry.location.as_deref().unwrap_or("")
        );
        let service = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        if let Ok(path) = take("panic", Some(entry), (&service, None)) {
            eprintln!("ttlog: panic snapshot written to {}", path.display());
        }
    }));
}

/// How long a terminating signal waits for the listeners' last pass.
#[cfg(unix)]
const SIGNAL_LISTENER_WAIT: Duration = Duration::from_millis(250);

#[cfg(unix)]
fn install_signal_thread() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP])?;
    std::thread::Builder::new().name("ttlog-signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let reason = match sig {
                SIGINT => "sigint",
                SIGTERM => "sigterm",
                SIGQUIT => "sigquit",
                _ => "sighup",
            };
            // Whatever happens while writing, the signal's default action
            // must follow: a panic here must not leave the process running.
            let taken = std::panic::catch_unwind(|| take(reason, None, ("", None)));
            if let Ok(Ok(path)) = taken {
                eprintln!("ttlog: {reason} snapshot written to {}", path.display());
            }
            // Let the live listeners print their last pass, but never wait
            // long: one stuck on a full pipe must not keep the process alive.
            let _ = std::panic::catch_unwind(|| crate::listener::stop_all_within(Some(SIGNAL_LISTENER_WAIT)));
            // Default action: for these four, end the process by the signal.
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            // Only reached if the signal could not be re-raised.
            std::process::exit(128 + sig);
        }
    })?;
    Ok(())
}

fn start_periodic(interval: Duration) {
    let Some(s) = SNAPSHOTTER.get() else { return };
    let (tx, rx) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("ttlog-periodic".into()).spawn(move || {
        loop {
            match rx.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => {
                    if logged_now() != s.last_logged.load(Ordering::Relaxed) {
                        // A panic while writing must not end periodic snapshots.
                        let _ = std::panic::catch_unwind(|| take("periodic", None, ("", None)));
                    }
                }
                _ => return,
            }
        }
    });
    match spawned {
        Ok(handle) => *s.periodic.lock().unwrap_or_else(|e| e.into_inner()) = Some((tx, handle)),
        Err(e) => eprintln!("ttlog: cannot start periodic snapshots: {e}"),
    }
}

/// Stops the periodic snapshots and writes the final snapshot if so
/// configured; once per process. Returns the final snapshot's result.
pub(crate) fn shutdown() -> Option<io::Result<PathBuf>> {
    let s = SNAPSHOTTER.get()?;
    if s.shut_down.swap(true, Ordering::AcqRel) {
        return None;
    }
    if let Some((tx, handle)) = s.periodic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        drop(tx);
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
    }
    s.options.on_shutdown.then(|| take("shutdown", None, ("", None)))
}
