//! Fault injection: bursts of snapshot requests, snapshots during heavy
//! logging, the snapshot directory removed, a symlink planted where the temp
//! file goes, a full disk and a read-only directory. In every case: no panic, no deadlock, exact
//! accounting, no partial or temp file, a clear error where one is due.
//!
//! One recorder per process: the tests share it and run one at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use ttlog_core::snapshot::{Retention, Snapshot};
use ttlog_core::{Trace, Value, info};

struct Fixture {
    trace: Trace,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("snaps");
        let trace = Trace::builder()
            .service("faults")
            .capacity_bytes(64 * 1024)
            .storage_path(&dir)
            .snapshot_on_signals(false)
            .snapshot_on_panic(false)
            .snapshot_interval(None)
            .snapshot_retention(Retention { max_files: Some(2_000), max_bytes: None })
            .install()
            .unwrap();
        Fixture { trace, dir, _tmp: tmp }
    })
}

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn no_temp_files(dir: &Path) {
    let temps: Vec<_> = entries(dir).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(temps.is_empty(), "temp files left behind: {temps:?}");
}

/// Events written by `log_pattern` carry `check == n * 31` and a tag derived
/// from `n`: a torn event breaks one of the two.
fn log_pattern(n: u64) {
    let tag = ["alpha", "beta-longer-than-six", "g"][(n % 3) as usize];
    info!(target: "faults", "pattern", n, check = n.wrapping_mul(31), tag);
}

fn check_file(path: &Path) -> u64 {
    let snap = Snapshot::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(snap.problems().is_empty(), "{:?}", snap.problems());
    let mut n = 0;
    for e in snap.events() {
        let e = e.unwrap();
        if &*e.target != "faults" {
            continue;
        }
        let (Some(Value::U64(v)), Some(Value::U64(c)), Some(Value::Str(tag))) =
            (e.field("n"), e.field("check"), e.field("tag"))
        else {
            panic!("event with missing fields: {e:?}")
        };
        assert_eq!(*c, v.wrapping_mul(31), "torn event in {}", path.display());
        assert_eq!(tag, ["alpha", "beta-longer-than-six", "g"][(v % 3) as usize]);
        n += 1;
    }
    let c = &snap.header().counters;
    assert_eq!(c.in_snapshot, snap.event_count());
    n
}

#[test]
fn thousand_snapshot_requests_in_a_burst_while_logging() {
    let _s = serial();
    let f = fixture();
    let stop = Arc::new(AtomicBool::new(false));
    let loggers: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    log_pattern(n);
                    n += 1;
                }
            })
        })
        .collect();
    let before = f.trace.metrics().snapshots_written;
    let requesters: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                (0..125)
                    .map(|i| fixture().trace.request_snapshot(&format!("burst-{t}-{i}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut paths: Vec<PathBuf> = requesters.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    for l in loggers {
        l.join().unwrap();
    }
    assert_eq!(paths.len(), 1000);
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 1000, "two requests got the same file");
    assert_eq!(f.trace.metrics().snapshots_written - before, 1000);
    for p in paths.iter().step_by(50) {
        check_file(p);
    }
    no_temp_files(&f.dir);
    for p in &paths {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn snapshots_during_heavy_logging_are_whole_and_account_exactly() {
    let _s = serial();
    let f = fixture();
    let stop = Arc::new(AtomicBool::new(false));
    let loggers: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
                    log_pattern(n);
                    n += 1;
                }
            })
        })
        .collect();
    let mut seen = 0;
    for i in 0..20 {
        let p = f.trace.request_snapshot(&format!("heavy-{i}")).unwrap();
        seen += check_file(&p);
        std::fs::remove_file(p).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for l in loggers {
        l.join().unwrap();
    }
    assert!(seen > 0);
    // Quiet now: a last snapshot accounts for every event exactly.
    let m = f.trace.metrics();
    let p = f.trace.request_snapshot("quiet").unwrap();
    let snap = Snapshot::open(&p).unwrap();
    let c = &snap.header().counters;
    assert_eq!(c.logged, m.logged);
    assert_eq!(c.logged, c.in_snapshot + c.unreadable + c.overwritten + c.dropped());
    std::fs::remove_file(p).unwrap();
    no_temp_files(&f.dir);
}

#[test]
fn removed_directory_is_recreated_private() {
    use std::os::unix::fs::PermissionsExt;
    let _s = serial();
    let f = fixture();
    info!(target: "faults-removal", "before removal");
    std::fs::remove_dir_all(&f.dir).ok();
    let p = f.trace.request_snapshot("after-removal").unwrap();
    assert!(p.starts_with(&f.dir));
    assert_eq!(std::fs::metadata(&f.dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    Snapshot::open(&p).unwrap();
    std::fs::remove_file(p).unwrap();
}

#[test]
fn planted_symlink_is_never_followed() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let name = ttlog_core::snapshot::file_name("faults", std::process::id(), 0, "planted");
    let stem = name.trim_end_matches(".bin");
    // Every temp name this process could pick next.
    for counter in 0..100_000 {
        let tmp_name = dir.join(format!(".{stem}.{}.{counter}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, tmp_name).unwrap();
    }
    let err = ttlog_core::snapshot::write_file(&dir, &name, b"attacker wants this in the victim").unwrap_err();
    assert!(err.to_string().contains(".tmp"), "the error names the file: {err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(!dir.join(&name).exists(), "no file under the final name");
}

#[test]
fn full_disk_is_counted_reported_and_leaves_nothing() {
    let _s = serial();
    let f = fixture();
    std::fs::create_dir_all(&f.dir).unwrap();
    // A one-page tmpfs over the snapshot directory (needs root; skipped
    // otherwise, with a note).
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4k,mode=0700", "tmpfs"])
        .arg(&f.dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("full_disk test skipped: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(&f.dir);
    // Values that do not compress: the snapshot cannot fit in one page.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..50_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        log_pattern(x);
    }
    let before = f.trace.metrics();
    let err = f.trace.request_snapshot("full").unwrap_err();
    assert!(err.to_string().contains(&*f.dir.to_string_lossy()), "the error names the path: {err}");
    let after = f.trace.metrics();
    assert_eq!(after.snapshot_errors, before.snapshot_errors + 1);
    assert!(entries(&f.dir).is_empty(), "left behind: {:?}", entries(&f.dir));
    // Logging goes on.
    log_pattern(7);
    assert_eq!(f.trace.metrics().logged, after.logged + 1);
}

/// Makes a directory read-only for as long as it lives: as root (whom
/// permissions do not stop) a read-only tmpfs mounted over it, else a
/// read-only bind mount of it; as anyone else mode 0500. Undone on drop.
struct ReadOnly<'a> {
    dir: &'a Path,
    mounted: bool,
}

impl<'a> ReadOnly<'a> {
    /// `Err` says why the directory could not be made read-only.
    fn make(dir: &'a Path) -> Result<ReadOnly<'a>, String> {
        use std::os::unix::fs::PermissionsExt;
        let mount = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // SAFETY: `geteuid` only reads the process's credentials.
        let root = unsafe { libc::geteuid() } == 0;
        let ro = if !root {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).map_err(|e| e.to_string())?;
            ReadOnly { dir, mounted: false }
        } else if mount(&["-t", "tmpfs", "-o", "ro,size=64k,mode=0700", "tmpfs"]) {
            ReadOnly { dir, mounted: true }
        } else if mount(&["--bind"]) {
            let ro = ReadOnly { dir, mounted: true };
            if !mount(&["-o", "remount,bind,ro"]) {
                return Err("root, but cannot remount a bind mount read-only".to_owned());
            }
            ro
        } else {
            return Err("root, but cannot mount here (no CAP_SYS_ADMIN?)".to_owned());
        };
        // Whatever was done must really stop a write by this process.
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"").is_ok() {
            let _ = std::fs::remove_file(&probe);
            return Err(format!("{} is still writable", dir.display()));
        }
        Ok(ro)
    }
}

impl Drop for ReadOnly<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.mounted {
            let _ = std::process::Command::new("umount").arg(self.dir).status();
        } else {
            let _ = std::fs::set_permissions(self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

#[test]
fn read_only_directory_is_counted_reported_and_leaves_nothing() {
    let _s = serial();
    let f = fixture();
    std::fs::create_dir_all(&f.dir).unwrap();
    let ro = match ReadOnly::make(&f.dir) {
        Ok(ro) => ro,
        Err(why) => {
            eprintln!("read-only directory test skipped: {why}");
            return;
        }
    };
    let listed = entries(&f.dir);
    for n in 0..1_000 {
        log_pattern(n);
    }
    let before = f.trace.metrics();
    let err = f.trace.request_snapshot("read-only").unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&*f.dir.to_string_lossy()), "the error names the path: {text}");
    let ttlog_core::Error::Snapshot(io) = &err else { panic!("not a snapshot error: {err:?}") };
    assert!(
        matches!(io.kind(), std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied),
        "the error says why: {:?} {text}",
        io.kind()
    );
    let after = f.trace.metrics();
    assert_eq!(after.snapshot_errors, before.snapshot_errors + 1);
    assert_eq!(after.snapshots_written, before.snapshots_written);
    assert_eq!(entries(&f.dir), listed, "no temp or partial file");
    // Logging goes on, and the events are still there for a later snapshot.
    info!(target: "faults-read-only", "after the failure", n = 7u64);
    assert_eq!(f.trace.metrics().logged, after.logged + 1);
    drop(ro);
    let p = f.trace.request_snapshot("writable-again").unwrap();
    let snap = Snapshot::open(&p).unwrap();
    assert!(snap.events().any(|e| &*e.unwrap().message == "after the failure"));
    std::fs::remove_file(p).unwrap();
}
