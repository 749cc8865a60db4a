//! `ttlog-view -i` end to end: the real binary in a real terminal (tmux,
//! driven with `send-keys`, read with `capture-pane`), on the polars
//! engine: loading a watched directory, the filter language checked as
//! typed, search, the detail pane, group-by, a new snapshot appearing,
//! export, and the terminal restored after `q`.
//!
//! Needs tmux; without it the test says so and passes, except under CI
//! (`CI` set), where `.ci/run` installs it and its absence is a failure.

use super::td;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// A tmux session running one shell command, killed when dropped.
struct Session {
    name: String,
}

impl Session {
    /// Runs `ttlog-view ARGS`, then prints its exit status and whether the
    /// terminal is back in canonical mode.
    fn start(tag: &str, args: &str) -> Session {
        let name = format!("ttlog-view-e2e-{tag}-{}", std::process::id());
        let command = format!(
            "{} {args}; echo \"EXIT=$?.\"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE=/'; sleep 60",
            env!("CARGO_BIN_EXE_ttlog-view")
        );
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "130", "-y", "34", &command])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux new-session");
        assert!(status.success());
        Session { name }
    }

    fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            tmux(&["send-keys", "-t", &self.name, k]);
        }
    }

    fn text(&self, text: &str) {
        tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }

    #[track_caller]
    fn wait_for(&self, want: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if want.iter().all(|w| s.contains(w)) {
                return s;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "waited 30 s for {want:?}; the screen is:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[track_caller]
    fn wait_gone(&self, gone: &str) {
        let start = Instant::now();
        while self.screen().contains(gone) {
            assert!(start.elapsed() < Duration::from_secs(30), "{gone:?} still shown:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.name]);
    }
}

#[test]
fn interactive_viewer_in_tmux() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(td("normal.bin"), dir.path().join("normal.bin")).unwrap();
    let s = Session::start("main", &format!("-i {}", dir.path().display()));
    s.wait_for(&["ttlog-view", "normal.bin", "events 43", "shown 43", "row 1/43"]);

    // The --filter language, checked as typed, errors inline.
    s.keys(&["f"]);
    s.text("level>=wa");
    s.wait_for(&["unknown level"]);
    s.text("rn and target=risk");
    s.keys(&["Enter"]);
    s.wait_for(&["shown 1 ", "filter level>=warn and target=risk"]);
    s.keys(&["f", "C-u"]);
    s.text("nosuchfield=1");
    s.wait_for(&["no event has a field"]);
    s.keys(&["C-u", "Enter"]);
    s.wait_for(&["shown 43 ", "filter none"]);

    // Search and the detail pane.
    s.keys(&["/"]);
    s.text("disk");
    s.keys(&["Enter"]);
    s.wait_for(&["search /disk"]);
    s.keys(&["Enter"]);
    s.wait_for(&["message   disk full", "fields"]);
    s.keys(&["Enter"]);
    s.wait_gone("message   disk full");

    // Group by target; Enter on the first group filters to it.
    s.keys(&["b"]);
    s.wait_for(&["group by", "target"]);
    s.keys(&["j", "Enter"]);
    let groups = s.wait_for(&["groups by target"]);
    assert!(groups.contains("orders"), "{groups}");
    s.keys(&["Enter"]);
    // The status line shows the new filter before its result arrives: wait
    // for the count to change (it stays at 43 if the filter keeps all).
    s.wait_for(&["filter target="]);
    s.wait_gone("shown 43 ");
    s.keys(&["f", "C-u", "Enter"]);
    s.wait_for(&["shown 43 "]);

    // Export the shown events.
    let out = dir.path().join("out.ndjson");
    s.keys(&["x", "C-u"]);
    s.text(&out.display().to_string());
    s.keys(&["Enter"]);
    s.wait_for(&["exported 43 events"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 43);

    // A snapshot appearing in the watched directory is loaded and announced.
    let tmp = dir.path().join("many.tmp");
    std::fs::copy(td("many-threads.bin"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("many-threads.bin")).unwrap();
    s.wait_for(&["new snapshot many-threads.bin", "events 843", "2 inputs"]);

    s.keys(&["q"]);
    let screen = s.wait_for(&["EXIT=0.", "MODE="]);
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
    assert!(!screen.contains("row 1/"), "alternate screen not left:\n{screen}");
}

#[test]
fn interactive_viewer_starts_with_the_given_filter() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        return;
    }
    let s = Session::start("filter", &format!("-i --filter 'level>=warn' {}", td("normal.bin")));
    s.wait_for(&["shown 2 ", "filter level>=warn"]);
    s.keys(&["C-c"]);
    let screen = s.wait_for(&["EXIT=0.", "MODE="]);
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
    assert!(Path::new(&td("normal.bin")).exists());
}
