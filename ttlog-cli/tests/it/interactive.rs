//! `ttlog-view -i` end to end: the real binary in a real terminal (tmux,
//! driven with `send-keys`, read with `capture-pane`), on the polars
//! engine: loading a watched directory, the filter language checked as
//! typed, search, the detail pane, group-by, a new snapshot appearing,
//! export, and the terminal restored after `q`.
//!
//! Needs tmux; without it the test says so and passes, except under CI
//! (`CI` set), where `.ci/run` installs it and its absence is a failure.

use super::td;
use std::path::{Path, PathBuf};
use ttlog_testkit::tmux::{Session, shell_line, skip_without_tmux, tmux};

/// Runs `ttlog-view ARGS` in a tmux session (see `ttlog_testkit::tmux`).
fn start(tag: &str, args: &str) -> Session {
    Session::start(&format!("view-{tag}"), (130, 34), &shell_line(Path::new(env!("CARGO_BIN_EXE_ttlog-view")), args))
}

#[test]
fn interactive_viewer_in_tmux() {
    if skip_without_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(td("normal.bin"), dir.path().join("normal.bin")).unwrap();
    let s = start("main", &format!("-i {}", dir.path().display()));
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
    s.wait_for(&["search /disk", "/disk: hit 1 of 1"]);
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
    // Time buckets: in time order, Enter goes to the bucket.
    s.keys(&["b"]);
    s.wait_for(&["time:1s"]);
    s.keys(&["q"]);
    s.wait_for(&["row "]);

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
    let screen = s.wait_exit_restored(0);
    assert!(!screen.contains("row 1/"), "alternate screen not left:\n{screen}");
}

#[test]
fn keys_go_back_one_level_scroll_sideways_and_help_fits_at_80_columns() {
    if skip_without_tmux() {
        return;
    }
    let s = Session::start(
        "view-levels",
        (80, 16),
        &shell_line(Path::new(env!("CARGO_BIN_EXE_ttlog-view")), &format!("-i {}", td("normal.bin"))),
    );
    // At 80 columns the status line keeps the row counter.
    s.wait_for(&["row 1/43 of 43", "? keys  q quit"]);
    // q in the detail pane closes it; Esc on the table does not quit.
    s.keys(&["Enter"]);
    s.wait_for(&["message  "]);
    s.keys(&["q"]);
    s.wait_for(&["row 1/43"]);
    s.keys(&["Escape"]);
    s.wait_for(&["q quits"]);
    // l scrolls the message and fields sideways, h back.
    s.keys(&["l"]);
    s.wait_for(&["message and fields (→ 8)"]);
    s.keys(&["h"]);
    s.wait_gone("(→ 8)");
    // The help fits 80 columns (nothing cut) and scrolls in 16 rows; q
    // closes it.
    s.keys(&["?"]);
    let help = s.wait_for(&["keys", "j k scroll"]);
    assert!(help.contains("next / previous event"), "{help}");
    s.keys(&["G"]);
    let end = s.wait_for(&["quits from anywhere"]);
    assert!(end.contains("click the timeline jumps"), "cut at 80 columns:\n{end}");
    s.keys(&["q"]);
    s.wait_gone("quits from anywhere");
    s.keys(&["q"]);
    s.wait_exit_restored(0);
}

#[test]
fn interactive_viewer_starts_with_the_given_filter() {
    if skip_without_tmux() {
        return;
    }
    let s = start("filter", &format!("-i --filter 'level>=warn' {}", td("normal.bin")));
    s.wait_for(&["shown 2 ", "filter level>=warn"]);
    s.keys(&["C-c"]);
    s.wait_exit_restored(0);
    assert!(Path::new(&td("normal.bin")).exists());
}

#[test]
fn escape_sequences_in_log_text_are_shown_escaped() {
    if skip_without_tmux() {
        return;
    }
    // Message and fields that would set the window title and clear the
    // screen (the fixture of the damaged-input tests).
    let file = crate::fixtures().join("evil.bin");
    let s = start("escape", &format!("-i {}", file.display()));
    let screen = s.wait_for(&["clear"]);
    assert!(screen.contains("\\x1b[31mred"), "{screen}");
    let title = tmux(&["display-message", "-p", "-t", &s.name, "#{pane_title}"]);
    assert!(!title.contains("pwned"), "the title was set from log text: {title}");
    s.keys(&["q"]);
    s.wait_exit_restored(0);
}

/// `target/debug/examples/NAME`, built by `cargo test` with the tests.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn a_panic_restores_the_terminal() {
    if skip_without_tmux() {
        return;
    }
    let faulty = example("faulty_source");
    assert!(faulty.exists(), "{} not built", faulty.display());
    let input = td("normal.bin");
    // Without a backtrace, which would push the message off the pane.
    let line = |args: String| format!("RUST_BACKTRACE=0 {}", shell_line(&faulty, &args));
    // On a worker thread: the viewer ends with an error.
    let s = Session::start("view-panic-load", (120, 32), &line(format!("load {input}")));
    let screen = s.wait_exit_restored(1);
    assert!(screen.contains("faulty source: panic while loading"), "{screen}");
    assert!(screen.contains("a thread of the viewer panicked"), "{screen}");
    drop(s);
    // On the UI thread, after the first screen: the process dies of it.
    let s = Session::start("view-panic-rows", (120, 32), &line(format!("rows {input}")));
    s.wait_for(&["events 43", "row 1/43"]);
    s.keys(&["PageDown"]);
    let screen = s.wait_exit_restored(101);
    assert!(screen.contains("faulty source: panic fetching rows"), "{screen}");
    assert!(!screen.contains("row 1/43"), "alternate screen not left:\n{screen}");
}

#[test]
fn long_exports_show_progress_on_a_terminal_only() {
    if skip_without_tmux() {
        return;
    }
    // A million events: the size from which ttlog-view shows a bar.
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("big.bin");
    std::fs::write(&snap, crate::ticks_snapshot(1_000_000)).unwrap();
    let out = dir.path().join("out.ndjson");
    // On a terminal: the bar, labelled, while the events are written.
    // Everything the program prints is piped to a log, since the bar is
    // cleared at the end.
    let log = dir.path().join("tty.log");
    let args = format!("{} --format ndjson -o {}", snap.display(), out.display());
    let s = Session::start(
        "progress",
        (120, 10),
        &format!("sleep 0.5; {}", shell_line(Path::new(env!("CARGO_BIN_EXE_ttlog-view")), &args)),
    );
    tmux(&["pipe-pane", "-o", "-t", &s.name, &format!("cat >> {}", log.display())]);
    s.wait_exit_restored(0);
    let tty = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(tty.contains("exporting") && tty.contains("1,000,000 events"), "no progress bar on the terminal:\n{tty}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1_000_000);
    // Not a terminal: nothing on stderr.
    let piped = crate::view(&[&snap.display().to_string(), "--format", "ndjson", "-o", &out.display().to_string()]);
    assert_eq!(piped.status.code(), Some(0));
    assert!(piped.stderr.is_empty(), "{}", String::from_utf8_lossy(&piped.stderr));
}
