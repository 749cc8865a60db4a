//! End to end: the real viewer binary (the `view` example, on
//! `MemorySource`) in a real terminal, tmux, driven with `send-keys` and
//! read with `capture-pane`. Checks loading, filtering, search, the detail
//! pane, group-by, a snapshot appearing in a watched directory, and that
//! the terminal is restored after `q` and after Ctrl-C.
//!
//! Needs tmux; without it the test says so and passes, except under CI
//! (`CI` set), where `.ci/run` installs tmux and its absence is a failure.

use std::path::{Path, PathBuf};
use ttlog_testkit::tmux::{Session, shell_line, skip_without_tmux, tmux};

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

/// The shell line that runs the viewer, then reports its exit status and
/// whether the terminal is back in canonical (cooked) mode.
fn command(args: &str) -> String {
    shell_line(&viewer(), args)
}

#[test]
fn viewer_in_tmux() {
    if skip_without_tmux() {
        return;
    }
    assert!(viewer().exists(), "{} not built", viewer().display());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("normal.bin"), dir.path().join("normal.bin")).unwrap();

    let s = Session::start("tui-main", (120, 32), &command(&format!("{}", dir.path().display())));
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
    // Escape and q sent together may arrive as one Alt-q: wait in between.
    s.keys(&["Escape"]);
    s.wait_gone("any key closes");
    s.keys(&["q"]);
    let screen = s.wait_exit_restored(0);
    assert!(!screen.contains("ttlog-view "), "alternate screen not left:\n{screen}");
}

#[test]
fn ctrl_c_restores_the_terminal() {
    if skip_without_tmux() {
        return;
    }
    let s = Session::start("tui-ctrlc", (120, 32), &command(&format!("{}", testdata("chunked.bin").display())));
    s.wait_for(&["events 1 000"]);
    s.keys(&["f"]);
    s.keys(&["C-c"]);
    s.wait_exit_restored(0);
}

#[test]
fn escape_sequences_in_log_text_are_shown_escaped() {
    if skip_without_tmux() {
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
    let s = Session::start("tui-escape", (120, 32), &command(&format!("{}", path.display())));
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
    if skip_without_tmux() {
        return;
    }
    let faulty = example("faulty_source");
    let input = testdata("normal.bin");
    // On a worker thread: the viewer ends with an error.
    let s = Session::start("tui-panic-load", (120, 32), &shell_line(&faulty, &format!("load {}", input.display())));
    let screen = s.wait_exit_restored(1);
    assert!(screen.contains("faulty source: panic while loading"), "{screen}");
    assert!(screen.contains("a thread of the viewer panicked"), "{screen}");
    drop(s);
    // On the UI thread, after the first screen: the process dies of it.
    let s = Session::start("tui-panic-rows", (120, 32), &shell_line(&faulty, &format!("rows {}", input.display())));
    s.wait_for(&["events 43", "row 1/43"]);
    s.keys(&["PageDown"]);
    let screen = s.wait_exit_restored(101);
    assert!(screen.contains("faulty source: panic fetching rows"), "{screen}");
    assert!(!screen.contains("row 1/43"), "alternate screen not left:\n{screen}");
}
