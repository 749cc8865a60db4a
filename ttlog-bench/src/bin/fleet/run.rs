//! Running a command as a child process and measuring it: wall time and
//! peak resident memory (`ru_maxrss` of `wait4`), as `/usr/bin/time`
//! reports them.

use std::process::Command;
use std::time::{Duration, Instant};

/// What a run took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) wall: Duration,
    /// Peak resident set size, bytes.
    pub(crate) peak_rss: u64,
}

impl Measured {
    pub(crate) fn cell(&self) -> String {
        format!("{:.2} s, {} MB", self.wall.as_secs_f64(), self.peak_rss / (1 << 20))
    }
}

/// Runs `cmd` to completion (its stdout and stderr discarded unless
/// `keep_output`), returning what it took and its stdout. Panics with its
/// stderr if it fails.
pub(crate) fn measure(cmd: &mut Command, keep_output: bool) -> (Measured, String) {
    use std::process::Stdio;
    cmd.stdin(Stdio::null()).stdout(if keep_output { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
    let start = Instant::now();
    #[allow(clippy::zombie_processes, reason = "reaped by `wait` (wait4, for its peak RSS)")]
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let (status, rss) = wait(child.id() as libc::pid_t);
    let wall = start.elapsed();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    assert!(status == 0, "{cmd:?} failed ({status}): {stderr}");
    (Measured { wall, peak_rss: rss }, stdout)
}

/// Waits for `pid`; its exit status and peak RSS in bytes.
fn wait(pid: libc::pid_t) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: `rusage` is plain data, all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are to
    // live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    (code, usage.ru_maxrss as u64 * 1024)
}
