//! End to end: the real viewer binary (the `view` example, on
//! `MemorySource`) in a real terminal, tmux, driven with `send-keys` and
//! read with `capture-pane`. Checks loading, filtering, search, the detail
//! pane, group-by, a snapshot appearing in a watched directory, and that
//! the terminal is restored after `q` and after Ctrl-C.
//!
//! Needs tmux; without it the test says so and passes, except under CI
//! (`CI` set), where `.ci/run` installs tmux and its absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// `target/debug/examples/NAME`, built by `cargo test` with the tests.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn viewer() -> PathBuf {
    example("view")
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(name)
}

/// A tmux session running one command, killed when dropped.
struct Session {
    name: String,
}

impl Session {
    fn start(tag: &str, command: &str) -> Session {
        let name = format!("ttlog-tui-e2e-{tag}-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "32", command])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session");
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

    /// Waits until the screen contains every one of `want`.
    #[track_caller]
    fn wait_for(&self, want: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if want.iter().all(|w| s.contains(w)) {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("waited 20 s for {want:?}; the screen is:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Session {
    /// Waits until the screen no longer contains `gone`.
    #[track_caller]
    fn wait_gone(&self, gone: &str) {
        let start = Instant::now();
        while self.screen().contains(gone) {
            assert!(start.elapsed() < Duration::from_secs(20), "{gone:?} still shown:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.name]);
    }
}

/// The shell line that runs the viewer, then reports its exit status and
/// whether the terminal is back in canonical (cooked) mode.
fn command(args: &str) -> String {
    command_of(&viewer(), args)
}

fn command_of(program: &Path, args: &str) -> String {
    format!(
        "{} {args}; echo \"EXIT=$?.\"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE=/'; sleep 60",
        program.display()
    )
}

#[test]
fn viewer_in_tmux() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    assert!(viewer().exists(), "{} not built", viewer().display());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("normal.bin"), dir.path().join("normal.bin")).unwrap();

    let s = Session::start("main", &command(&format!("{}", dir.path().display())));
    s.wait_for(&["ttlog-view", "normal.bin", "events 43", "shown 43", "row 1/43"]);

    // The filter, checked as typed, applied.
    s.keys(&["f"]);
    s.text("level>=wa");
    s.wait_for(&["unknown level"]);
    s.text("rn");
    s.keys(&["Enter"]);
    let screen = s.wait_for(&["shown 2 ", "filter level>=warn"]);
    assert!(screen.contains("WARN") && screen.contains("ERROR"), "{screen}");

    // Back to everything; search and the detail pane.
    s.keys(&["f", "C-u", "Enter"]);
    s.wait_for(&["shown 43 ", "filter none"]);
    s.keys(&["/"]);
    s.text("disk");
    s.keys(&["Enter"]);
    s.wait_for(&["search /disk"]);
    s.keys(&["Enter"]);
    let screen = s.wait_for(&["message   disk full", "fields"]);
    assert!(screen.contains("event 43 of 43") || screen.contains(" of 43 "), "{screen}");

    // Group by level, then back. (Keys go one at a time where an Esc is
    // involved: ESC and the next key together read as Alt+key.)
    s.keys(&["Enter"]);
    s.wait_gone("message   disk full");
    s.keys(&["b"]);
    s.wait_for(&["group by", "level"]);
    s.keys(&["Enter"]);
    s.wait_for(&["groups by level", "info"]);
    s.keys(&["q"]);
    s.wait_for(&["? keys"]);

    // A snapshot written into the watched directory is announced and shown.
    let tmp = dir.path().join("many-threads.bin.tmp");
    std::fs::copy(testdata("many-threads.bin"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("many-threads.bin")).unwrap();
    s.wait_for(&["new snapshot many-threads.bin", "events 843", "2 inputs"]);

    // Help, then quit: the terminal is restored.
    s.keys(&["?"]);
    s.wait_for(&["any key closes"]);
    s.keys(&["Escape", "q"]);
    let screen = s.wait_for(&["EXIT=0.", "MODE="]);
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
    assert!(!screen.contains("ttlog-view "), "alternate screen not left:\n{screen}");
}

#[test]
fn ctrl_c_restores_the_terminal() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let s = Session::start("ctrlc", &command(&format!("{}", testdata("chunked.bin").display())));
    s.wait_for(&["events 1 000"]);
    s.keys(&["f"]);
    s.keys(&["C-c"]);
    let screen = s.wait_for(&["EXIT=0.", "MODE="]);
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
}

#[test]
fn escape_sequences_in_log_text_are_shown_escaped() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    // A snapshot whose message and field carry escape sequences: one that
    // would set the window title and one that would clear the screen.
    let dir = tempfile::tempdir().unwrap();
    let trace = ttlog_core::Trace::builder()
        .service("hostile")
        .storage_path(dir.path())
        .snapshot_on_signals(false)
        .snapshot_on_panic(false)
        .snapshot_interval(None)
        .install()
        .unwrap();
    let title = "\x1b]0;owned\x07";
    ttlog_core::warn!("payload", text = "before\x1b[2Jafter", title = title);
    let path = trace.request_snapshot("e2e").unwrap();
    let s = Session::start("escape", &command(&format!("{}", path.display())));
    let screen = s.wait_for(&["payload"]);
    assert!(screen.contains("before\\x1b[2Jafter"), "{screen}");
    assert!(screen.contains("\\x1b]0;owned\\x07"), "{screen}");
    let title = tmux(&["display-message", "-p", "-t", &s.name, "#{pane_title}"]);
    assert!(!title.contains("owned"), "the title was set from log text: {title}");
    s.keys(&["q"]);
    s.wait_for(&["EXIT=0."]);
}

#[test]
fn a_panic_restores_the_terminal() {
    if !have_tmux() {
        assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let faulty = example("faulty_source");
    let input = testdata("normal.bin");
    // On a worker thread: the viewer ends with an error.
    let s = Session::start("panic-load", &command_of(&faulty, &format!("load {}", input.display())));
    let screen = s.wait_for(&["EXIT=1.", "MODE="]);
    assert!(screen.contains("faulty source: panic while loading"), "{screen}");
    assert!(screen.contains("a thread of the viewer panicked"), "{screen}");
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
    drop(s);
    // On the UI thread, after the first screen: the process dies of it.
    let s = Session::start("panic-rows", &command_of(&faulty, &format!("rows {}", input.display())));
    s.wait_for(&["events 43", "row 1/43"]);
    s.keys(&["PageDown"]);
    let screen = s.wait_for(&["EXIT=101.", "MODE="]);
    assert!(screen.contains("faulty source: panic fetching rows"), "{screen}");
    assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
    assert!(!screen.contains("row 1/43"), "alternate screen not left:\n{screen}");
}
