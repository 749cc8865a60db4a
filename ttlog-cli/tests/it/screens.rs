//! The interactive viewer (`ttlog_tui::App`) on the polars engine
//! (`EngineSource`), driven through `update` (no terminal, no sleeping), its
//! screens rendered into ratatui's `TestBackend` and compared with insta
//! snapshots. The events are written into a real snapshot file with exact
//! timestamps (`Capture::from_events`), so every screen is the one a user
//! of `ttlog-view -i` sees.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use ttlog_cli::tui_source::EngineSource;
use ttlog_core::snapshot::{SnapshotMeta, encode};
use ttlog_core::{Capture, Event, Level, Value};
use ttlog_tui::{App, InputInfo, Msg, Progress, ScreenKind, Source, render};

/// An event at `ts` with a call site made from `target` and `message`.
fn event(ts: i64, level: Level, target: &str, message: &str, fields: Vec<(&str, Value)>) -> Event {
    Event {
        timestamp_ns: ts,
        level,
        target: target.into(),
        message: message.into(),
        file: format!("src/{target}.rs").into(),
        line: 10 + message.len() as u32,
        module_path: format!("svc::{target}").into(),
        thread_id: 1,
        thread_name: Some("main".into()),
        seq: 0,
        callsite: 1,
        fields: fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect(),
    }
}

/// 2026-11-22T00:37:25Z.
const BASE: i64 = 1_795_307_845_000_000_000;
const SIZE: (u16, u16) = (110, 30);

/// 200 events over 10 s from three threads: order fills, warnings, a disk
/// error every second, cache misses, and a request whose text carries
/// terminal escape sequences.
fn events() -> Vec<Event> {
    const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "NVDA"];
    (0..200i64)
        .map(|i| {
            let ts = BASE + i * 50_000_000;
            let mut e = match i % 20 {
                0 => event(
                    ts,
                    Level::Error,
                    "db",
                    "disk full",
                    vec![("dev", Value::Str("sda".into())), ("free", Value::U64(0))],
                ),
                5 | 15 => event(
                    ts,
                    Level::Warn,
                    "risk",
                    "limit near",
                    vec![("used", Value::F64(0.9 + i as f64 / 10_000.0)), ("desk", Value::Str("fx options".into()))],
                ),
                7 => event(ts, Level::Debug, "cache", "miss", vec![("key", Value::Str(format!("k{i}")))]),
                13 => event(
                    ts,
                    Level::Info,
                    "http",
                    "request \x1b[31mred\x1b[0m",
                    vec![("path", Value::Str("/v1/\x07bell\u{202e}".into())), ("status", Value::U64(200))],
                ),
                17 => event(ts, Level::Trace, "gc", "arena reset", vec![]),
                _ => event(
                    ts,
                    Level::Info,
                    "orders",
                    "order filled",
                    vec![
                        ("id", Value::U64(i as u64)),
                        ("qty", Value::U64((i as u64 * 10) % 70)),
                        ("px", Value::F64(150.25 + i as f64)),
                        ("symbol", Value::Str(SYMBOLS[i as usize % 3].into())),
                    ],
                ),
            };
            e.thread_id = 1 + (i % 3) as u64;
            e.thread_name = Some(["main", "worker-1", "worker-2"][(i % 3) as usize].into());
            e
        })
        .collect()
}

/// The snapshot of [`events`]: service `pricing` on `box-1`, pid 4242,
/// taken by a panic 10 s after the first event; 1,500 events of the first
/// thread overwritten and 3 dropped. Written once per test run.
fn snapshot() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &FILE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let mut capture = Capture::from_events(&events());
            capture.threads[0].overwritten = 1500;
            capture.threads[0].written += 1500;
            // Rings of 16 KiB, as a recorder's: the snapshot stores what
            // filled them.
            for t in &mut capture.threads {
                t.capacity_bytes = Some(16 << 10);
            }
            capture.dropped.reentrant = 3;
            let meta = SnapshotMeta {
                hostname: "box-1".into(),
                pid: 4242,
                created_at_ns: BASE + 10_000_000_000,
                instance: Some("0123456789abcdef0123456789abcdef".into()),
                panic: Some(ttlog_core::snapshot::PanicEntry {
                    message: "index out of bounds".into(),
                    location: Some("src/book.rs:42:9".into()),
                    thread: Some("worker-2".into()),
                }),
                ..SnapshotMeta::new("pricing", "panic")
            };
            let path = dir.path().join("ttlog-pricing-4242-20261122T003735Z-panic.bin");
            std::fs::write(&path, encode(&capture, &meta)).unwrap();
            (dir, path)
        })
        .1
}

/// The engine with [`snapshot`] loaded.
fn source() -> Arc<EngineSource> {
    let source = EngineSource::new();
    source.add_input(snapshot(), &Progress::new()).unwrap();
    Arc::new(source)
}

/// An app on `source` showing [`snapshot`], all background work done.
fn app_on(source: Arc<dyn Source>, filter: &str) -> App {
    let mut app = App::new(source, filter, SIZE);
    app.update(Msg::Input(snapshot().to_path_buf()));
    app.inputs_given();
    app.run_tasks_inline();
    app
}

/// An app showing [`events`] on the engine, all background work done.
fn app() -> App {
    app_on(Arc::new(EngineSource::new()), "")
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    app.run_tasks_inline();
}

/// A quarter of a second passes: a filter typed in the prompt applies.
fn tick(app: &mut App) {
    app.update(Msg::Tick);
    app.run_tasks_inline();
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        let code = if c == '\n' { KeyCode::Enter } else { KeyCode::Char(c) };
        key(app, code);
    }
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(app.size().0, app.size().1)).unwrap();
    t.draw(|f| render(app, f)).unwrap();
    t.backend().to_string()
}

fn selected_message(app: &App) -> String {
    app.selected_row().map(|r| r.message.to_string()).unwrap_or_default()
}

#[test]
fn main_screen() {
    let app = app();
    assert_eq!(app.shown(), 200);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn navigation_keys() {
    let mut app = app();
    let page = app.rows_on_screen();
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected(), 2);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected(), 1);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected(), 1 + page);
    assert_eq!(app.selected_row().unwrap().id, 1 + page as u64);
    key(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected(), 1);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected(), 199);
    assert_eq!(app.offset(), 200 - page);
    assert_eq!(app.page().len(), page);
    key(&mut app, KeyCode::Home);
    assert_eq!((app.selected(), app.offset()), (0, 0));
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected(), 199);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.selected(), 0);
}

#[test]
fn only_the_visible_rows_are_fetched() {
    let app = app();
    assert_eq!(app.page().len(), app.rows_on_screen());
    assert!(app.page().len() < 30);
}

#[test]
fn detail_pane() {
    let mut app = app();
    keys(&mut app, "jjjjjjjjjjjjj"); // the request with escape sequences
    key(&mut app, KeyCode::Enter);
    assert!(app.detail_open());
    let s = screen(&app);
    assert!(s.contains("request \\x1b[31mred\\x1b[0m"), "{s}");
    assert!(s.contains("/v1/\\x07bell\\u{202e}"), "{s}");
    insta::assert_snapshot!(s);
    // Esc closes the pane; on the table it does not quit (q does).
    key(&mut app, KeyCode::Esc);
    assert!(!app.detail_open() && !app.should_quit());
    key(&mut app, KeyCode::Esc);
    assert!(!app.should_quit());
    keys(&mut app, "q");
    assert!(app.should_quit());
}

#[test]
fn log_text_never_reaches_the_terminal_raw() {
    let mut app = app();
    keys(&mut app, "jjjjjjjjjjjjj\n");
    let mut t = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap();
    t.draw(|f| render(&app, f)).unwrap();
    for cell in t.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(|c| c.is_control() || c == '\u{202e}'), "{:?}", cell.symbol());
    }
}

#[test]
fn filter_is_checked_as_typed_and_applied_when_valid() {
    let mut app = app();
    keys(&mut app, "flevel>=wa");
    tick(&mut app);
    // Invalid: the error shows inline, the view stays as it was.
    assert_eq!(app.shown(), 200);
    insta::assert_snapshot!("filter_error", screen(&app));
    keys(&mut app, "rn");
    assert_eq!(app.shown(), 200, "applied after a pause in typing");
    tick(&mut app);
    assert_eq!(app.shown(), 30, "applied as typed");
    assert_eq!(app.filter(), "level>=warn");
    keys(&mut app, " and desk~fx");
    tick(&mut app);
    assert_eq!(app.shown(), 20);
    key(&mut app, KeyCode::Enter);
    assert!(!app.prompt_open());
    insta::assert_snapshot!("filter_applied", screen(&app));
    // Esc while editing puts the previous filter back.
    keys(&mut app, "f");
    key(&mut app, KeyCode::Backspace);
    keys(&mut app, "zzz");
    tick(&mut app);
    assert_eq!(app.shown(), 0);
    key(&mut app, KeyCode::Esc);
    assert_eq!((app.filter(), app.shown()), ("level>=warn and desk~fx", 20));
    // `:` opens the same prompt; Ctrl-U clears it.
    keys(&mut app, ":");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    app.run_tasks_inline();
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.shown(), 200);
}

#[test]
fn filtering_keeps_the_selected_moment() {
    let mut app = app();
    keys(&mut app, "G");
    let ts = app.selected_row().unwrap().timestamp_ns;
    keys(&mut app, "flevel=error\n");
    let now = app.selected_row().unwrap().timestamp_ns;
    assert!(now <= ts && ts - now < 1_000_000_000, "{now} vs {ts}");
}

#[test]
fn level_keys_toggle_levels() {
    let mut app = app();
    keys(&mut app, "5");
    assert_eq!(app.shown(), 190);
    assert!(app.page().iter().all(|r| r.level != Level::Error));
    keys(&mut app, "1234");
    assert_eq!(app.shown(), 0);
    assert!(screen(&app).contains("no event matches"));
    keys(&mut app, "12345");
    assert_eq!(app.shown(), 200);
}

#[test]
fn search_highlights_and_moves_between_matches() {
    let mut app = app();
    keys(&mut app, "/disk");
    assert!(app.highlighting(), "highlighting starts as you type");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.selected(), 0, "the selected row matches");
    // Ten disk errors: the status says which hit this is.
    assert_eq!(app.message(), Some("/disk: hit 1 of 10"));
    keys(&mut app, "n");
    assert_eq!(app.selected(), 20);
    keys(&mut app, "n");
    assert_eq!(app.selected(), 40);
    assert_eq!(app.message(), Some("/disk: hit 3 of 10"));
    keys(&mut app, "NN");
    assert_eq!(app.selected(), 0);
    keys(&mut app, "N");
    assert_eq!(app.selected(), 180, "wraps to the bottom");
    assert_eq!(app.message(), Some("/disk: hit top, went on at the bottom (hit 10 of 10)"));
    // A search that finds nothing says so; the next search clears that
    // at once, not when it ends.
    keys(&mut app, "/no such text\n");
    assert_eq!(app.message(), Some("/no such text: not found"));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    assert_eq!(app.message(), None, "a stale 'not found' while searching");
    app.run_tasks_inline();
    // From the first event, one pass sees them all: no wrapped retry (at
    // fleet scale a pass reads every chunk).
    keys(&mut app, "g/zzz");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let finds = app.take_tasks();
    assert_eq!(finds.len(), 1);
    for t in finds {
        app.update(t.run());
    }
    assert!(app.take_tasks().is_empty(), "no second pass");
    assert_eq!(app.message(), Some("/zzz: not found"));
    // Errors (e) count too.
    keys(&mut app, "ge");
    assert_eq!(app.message(), Some("next error: hit 2 of 10"));
    // Matches in fields count too.
    keys(&mut app, "/NVDA\n");
    assert!(app.selected_row().unwrap().fields.iter().any(|(_, v)| v == &Value::Str("NVDA".into())));
    // Highlighted cells have the search style.
    let mut t = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap();
    t.draw(|f| render(&app, f)).unwrap();
    let highlighted = t.backend().buffer().content().iter().filter(|c| c.bg == ratatui::style::Color::Yellow).count();
    assert!(highlighted >= 4, "{highlighted}");
    // A bad regex shows its error and keeps the prompt open.
    keys(&mut app, "/(\n");
    assert!(app.prompt_error().is_some());
    key(&mut app, KeyCode::Esc);
    assert!(!app.prompt_open());
}

#[test]
fn errors_and_marks() {
    let mut app = app();
    keys(&mut app, "e");
    assert_eq!(app.selected(), 20);
    keys(&mut app, "e");
    assert_eq!(app.selected(), 40);
    keys(&mut app, "E");
    assert_eq!(app.selected(), 20);
    assert_eq!(selected_message(&app), "disk full");
    keys(&mut app, "m");
    keys(&mut app, "jjjm");
    keys(&mut app, "g'");
    assert_eq!(app.selected(), 20);
    keys(&mut app, "'");
    assert_eq!(app.selected(), 23);
    keys(&mut app, "'");
    assert_eq!(app.selected(), 20, "wraps around");
    assert!(screen(&app).contains("2 marked"));
    keys(&mut app, "m");
    assert_eq!(app.marks(), 1);
}

#[test]
fn time_jump() {
    let mut app = app();
    keys(&mut app, "t");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "00:37:30\n");
    assert_eq!(app.selected(), 100);
    keys(&mut app, "t");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "2026-11-22T00:37:26.025Z\n");
    assert_eq!(app.selected(), 21);
    keys(&mut app, "t");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "99:00\n");
    assert!(app.prompt_error().is_some());
}

#[test]
fn stats_screen() {
    let mut app = app();
    keys(&mut app, "s");
    insta::assert_snapshot!(screen(&app));
    // At its end, what filled each ring: main lost 1,500 events.
    keys(&mut app, "G");
    let s = screen(&app);
    let main =
        s.lines().find(|l| l.starts_with("\"main (pricing pid 4242) ring 16.0 KiB")).unwrap_or_else(|| panic!("{s}"));
    assert!(main.contains("written 1 567, overwritten 1 500 (95.7 %)"), "{main}");
    assert!(s.contains("orders order filled"), "{s}");
    keys(&mut app, "s");
    assert!(app.screen() == ScreenKind::Main);
}

#[test]
fn last_moments_screen() {
    let mut app = app();
    keys(&mut app, "L");
    assert!(app.screen() == ScreenKind::Last);
    let s = screen(&app);
    insta::assert_snapshot!(s);
    // Every thread under its heading, the one that went quiet first at the
    // top; each with its own last events only.
    let heads: Vec<&str> = s.lines().filter(|l| l.starts_with("\"── ")).collect();
    assert_eq!(heads.len(), 3, "{s}");
    // Events 197, 198 and 199 are the last of worker-2, main and worker-1.
    assert!(heads[0].contains("── worker-2 ") && heads[0].contains("panicked"), "{s}");
    assert!(heads[1].contains("── main ") && heads[2].contains("── worker-1 "), "{s}");
    assert!(heads[1].contains("its ring kept 67, overwrote 1 500"), "what its ring kept and lost: {s}");
    // Scrolling stops at the end; q goes back.
    for _ in 0..100 {
        keys(&mut app, "j");
    }
    assert!(screen(&app).contains("── worker-1 "), "the last thread stays in sight");
    keys(&mut app, "q");
    assert!(app.screen() == ScreenKind::Main);
    // Filtered to one thread, only that thread.
    let mut app = app_on(source(), "thread=worker-1");
    keys(&mut app, "L");
    let s = screen(&app);
    assert_eq!(s.lines().filter(|l| l.starts_with("\"── ")).count(), 1, "{s}");
}

#[test]
fn group_by_screen_and_filtering_to_a_group() {
    let mut app = app();
    keys(&mut app, "b");
    let keys_list = source().group_keys();
    let target = keys_list.iter().position(|k| k == "target").unwrap();
    for _ in 0..target {
        keys(&mut app, "j");
    }
    keys(&mut app, "\n");
    insta::assert_snapshot!(screen(&app));
    // Enter on the second group (`risk`: 20 events) filters to it.
    keys(&mut app, "j\n");
    assert!(app.screen() == ScreenKind::Main);
    assert_eq!(app.filter(), "target=risk");
    assert_eq!(app.shown(), 20);
    // A group of a filtered view keeps the filter.
    keys(&mut app, "b");
    let symbol = keys_list.iter().position(|k| k == "desk").unwrap();
    for _ in 0..symbol {
        keys(&mut app, "j");
    }
    keys(&mut app, "\n\n");
    assert_eq!(app.filter(), "(target=risk) and desk=\"fx options\"");
    assert_eq!(app.shown(), 20);
}

#[test]
fn help_screen() {
    let mut app = app();
    keys(&mut app, "?");
    insta::assert_snapshot!(screen(&app));
    // Other keys do not close it (nor act behind it); q, Esc and ? do.
    keys(&mut app, "x");
    assert!(app.screen() == ScreenKind::Help && !app.prompt_open());
    keys(&mut app, "q");
    assert!(app.screen() == ScreenKind::Main && !app.should_quit());
    keys(&mut app, "?");
    key(&mut app, KeyCode::Esc);
    assert!(app.screen() == ScreenKind::Main && !app.should_quit());
}

#[test]
fn help_fits_or_scrolls() {
    // Wide enough for the longest line at 80 columns: nothing is cut.
    let mut app = app();
    app.update(Msg::Resize(80, 40));
    keys(&mut app, "?");
    let full = screen(&app);
    for needle in ["click the timeline jumps", "Ctrl-D Ctrl-U", "Ctrl-C", "q Esc ? close"] {
        assert!(full.contains(needle), "{needle} missing:\n{full}");
    }
    // Too low for every line: it scrolls, and says where it is.
    app.update(Msg::Resize(80, 12));
    let top = screen(&app);
    assert!(top.contains("next / previous event") && !top.contains("quits from anywhere"), "{top}");
    assert!(top.contains("1-10 of"), "{top}");
    keys(&mut app, "G");
    let bottom = screen(&app);
    assert!(bottom.contains("quits from anywhere") && !bottom.contains("next / previous event"), "{bottom}");
    keys(&mut app, "k");
    assert!(app.screen() == ScreenKind::Help);
}

#[test]
fn q_and_esc_go_back_one_level_and_q_quits_from_the_table() {
    let mut app = app();
    // The detail pane: q and Esc close it.
    keys(&mut app, "\n");
    assert!(app.detail_open());
    keys(&mut app, "q");
    assert!(!app.detail_open() && !app.should_quit());
    keys(&mut app, "\n");
    key(&mut app, KeyCode::Esc);
    assert!(!app.detail_open() && !app.should_quit());
    // Esc on the table does not quit; it says what does.
    key(&mut app, KeyCode::Esc);
    assert!(!app.should_quit());
    assert_eq!(app.message(), Some("q quits"));
    // Groups: q goes from the groups to the keys, then to the table.
    keys(&mut app, "b\n");
    assert!(app.screen() == ScreenKind::Groups);
    keys(&mut app, "q");
    assert!(app.screen() == ScreenKind::Groups && !app.should_quit(), "back to the keys");
    keys(&mut app, "q");
    assert!(app.screen() == ScreenKind::Main && !app.should_quit());
    keys(&mut app, "s");
    keys(&mut app, "q");
    assert!(app.screen() == ScreenKind::Main && !app.should_quit());
    keys(&mut app, "q");
    assert!(app.should_quit());
}

#[test]
fn the_cause_is_a_banner_and_bang_shows_the_panicking_thread() {
    let mut app = app();
    let s = screen(&app);
    assert!(s.contains("panic in thread worker-2 at src/book.rs:42:9: index out of bounds"), "{s}");
    keys(&mut app, "!");
    assert_eq!(app.filter(), "thread=\"worker-2\"");
    let rows = app.shown();
    assert!(rows > 0 && rows < 200, "{rows}");
    assert_eq!(app.selected(), rows - 1, "at the thread's last event");
    assert_eq!(&*app.selected_row().unwrap().thread, "worker-2");
}

#[test]
fn horizontal_scroll_shows_the_rest_of_long_lines() {
    let mut app = app();
    app.update(Msg::Resize(80, 30));
    let row = app.selected_row().unwrap().clone();
    let line = format!("{}  {}", row.message, ttlog_tui::fields_text(&row.fields));
    let before = screen(&app);
    assert!(before.contains(" message ") && !before.contains("(→"), "{before}");
    keys(&mut app, "ll");
    let after = screen(&app);
    assert!(after.contains("message and fields (→ 16)"), "{after}");
    let rest: String = line.chars().skip(16).take(20).collect();
    assert!(after.contains(&rest), "{rest:?} not on screen:\n{after}");
    key(&mut app, KeyCode::Left);
    assert!(screen(&app).contains("(→ 8)"));
    key(&mut app, KeyCode::Esc);
    assert!(screen(&app).contains(" message "), "Esc scrolls back");
}

#[test]
fn group_by_time_buckets_in_time_order_and_enter_goes_there() {
    let mut app = app();
    let keys_list = source().group_keys();
    let at = keys_list.iter().position(|k| k == "time:1s").expect("time buckets offered");
    keys(&mut app, "b");
    for _ in 0..at {
        keys(&mut app, "j");
    }
    keys(&mut app, "\n");
    let text = screen(&app);
    // Ten seconds of events: ten buckets, in time order.
    let starts: Vec<usize> =
        (25..35).map(|s| text.find(&format!("00:37:{s}")).unwrap_or_else(|| panic!("{s}:\n{text}"))).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{text}");
    // Enter on the third bucket: its first event, no filter.
    keys(&mut app, "jj\n");
    assert!(app.screen() == ScreenKind::Main);
    assert_eq!(app.filter(), "");
    assert_eq!(app.shown(), 200);
    let ts = app.selected_row().unwrap().timestamp_ns;
    assert_eq!(ts, BASE + 2_000_000_000);
}

#[test]
fn export_writes_the_shown_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app();
    keys(&mut app, "flevel=error\n");
    for format in ["json", "ndjson", "csv"] {
        let path = dir.path().join(format!("out.{format}"));
        keys(&mut app, "x");
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        keys(&mut app, &format!("{}\n", path.display()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("disk full").count(), 10, "{format}");
        let msg = app.message().unwrap().replace(&dir.path().display().to_string(), "[TMP]");
        insta::with_settings!({filters => vec![(r"out\.\w+", "out.EXT")]}, {
            insta::assert_snapshot!("export_message", msg);
        });
    }
    keys(&mut app, "x");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    keys(&mut app, "out.txt\n");
    assert!(app.prompt_error().is_some());
}

#[test]
fn mouse_scrolls_and_selects() {
    let mut app = app();
    let mouse = |kind, column, row| Msg::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE });
    app.update(mouse(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(app.selected(), 3);
    app.update(mouse(MouseEventKind::ScrollUp, 10, 10));
    assert_eq!(app.selected(), 0);
    // Header 3 rows (with the panic's banner), timeline 4, column titles 1:
    // row 8 is the first event.
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), 30, 8 + 4));
    assert_eq!(app.selected(), 4);
    // A click on the timeline goes to that moment.
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), SIZE.0 / 2, 4));
    assert!((98..=102).contains(&app.selected()), "{}", app.selected());
}

#[test]
fn resizing_changes_the_page() {
    let mut app = app();
    let before = app.page().len();
    app.update(Msg::Resize(80, 50));
    app.run_tasks_inline();
    assert_eq!(app.page().len(), before + 20);
    assert_eq!(app.histogram().unwrap().buckets.len(), 80);
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn keys_are_answered_while_loading() {
    let data = crate::testdata();
    let mut app = App::new(Arc::new(EngineSource::new()), "", (80, 16));
    app.update(Msg::Input(data.join("chunked.bin")));
    app.inputs_given();
    // The load is a task not run yet: the screen says so, keys work.
    assert!(app.busy());
    assert!(screen(&app).contains("loading chunked.bin"));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)));
    assert!(app.screen() == ScreenKind::Help);
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    app.run_tasks_inline();
    assert_eq!(app.shown(), 1000);
    assert!(!app.busy());
    assert_eq!(app.message(), None, "inputs given at start are not announced");
    // A snapshot that appears later is announced and shown.
    app.update(Msg::Input(data.join("normal.bin")));
    app.run_tasks_inline();
    assert_eq!(app.shown(), 1043);
    assert!(app.message().unwrap().starts_with("new snapshot normal.bin"), "{:?}", app.message());
    // The same file again is not loaded twice.
    app.update(Msg::Input(data.join("normal.bin")));
    assert!(app.take_tasks().is_empty());
}

#[test]
fn damaged_input_is_reported() {
    let data = crate::testdata();
    let mut app = App::new(Arc::new(EngineSource::new()), "", (80, 16));
    app.update(Msg::Input(data.join("damaged").join("truncated.bin")));
    app.update(Msg::Input(data.join("README.md")));
    app.inputs_given();
    app.run_tasks_inline();
    assert_eq!(app.shown(), 300);
    assert!(app.message().unwrap().contains("README.md"), "{:?}", app.message());
    assert!(screen(&app).contains("damaged part(s) skipped"));
}

#[test]
fn results_of_superseded_work_are_dropped() {
    let mut app = app();
    // Two filter edits; run the second one's result first, then the first.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE)));
    keys_no_run(&mut app, "message~d");
    app.update(Msg::Tick);
    keys_no_run(&mut app, "isk");
    app.update(Msg::Tick);
    let tasks = app.take_tasks();
    assert_eq!(tasks.len(), 2);
    let results: Vec<Msg> = tasks.into_iter().map(ttlog_tui::Task::run).collect();
    for m in results.into_iter().rev() {
        app.update(m);
    }
    app.run_tasks_inline();
    assert_eq!(app.filter(), "message~disk");
    assert_eq!(app.shown(), 10);
}

fn keys_no_run(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
}

#[test]
fn quit_keys() {
    let mut app = app();
    keys(&mut app, "q");
    assert!(app.should_quit());
    let mut app = self::app();
    keys(&mut app, "f");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(app.should_quit(), "Ctrl-C quits even while editing");
    let mut app = self::app();
    app.update(Msg::Quit);
    assert!(app.should_quit());
}

#[test]
fn tiny_terminals_do_not_break_any_screen() {
    for (w, h) in [(1, 1), (2, 3), (10, 4), (20, 8), (40, 12), (300, 100)] {
        let mut app = app();
        app.update(Msg::Resize(w, h));
        app.run_tasks_inline();
        for keys_typed in ["", "\n", "?", "s", "b", "b\n", "fzz", "/x", "t", "x", "G\n"] {
            let mut a = self::app();
            a.update(Msg::Resize(w, h));
            a.run_tasks_inline();
            keys(&mut a, keys_typed);
            let _ = screen(&a);
            let click = |column, row| {
                Msg::Mouse(MouseEvent {
                    kind: MouseEventKind::Down(MouseButton::Left),
                    column,
                    row,
                    modifiers: KeyModifiers::NONE,
                })
            };
            for (c, r) in [(0, 0), (w.saturating_sub(1), h.saturating_sub(1)), (w / 2, 3), (w / 2, h / 2)] {
                a.update(click(c, r));
            }
            let _ = screen(&a);
        }
        let _ = screen(&app);
    }
}

#[test]
fn a_bad_filter_at_start_shows_everything() {
    let app = app_on(Arc::new(EngineSource::new()), "level=");
    assert_eq!(app.shown(), 200);
    assert_eq!(app.filter(), "");
    assert!(app.message().unwrap().contains("showing every event"), "{:?}", app.message());
    let app = app_on(Arc::new(EngineSource::new()), "level>=error");
    assert_eq!(app.shown(), 10);
}

/// The engine, with filters that fail on application for one expression
/// though `check` passed (as a filter can when an input added meanwhile
/// holds the field with another type).
#[derive(Debug)]
struct Picky(Arc<EngineSource>);

impl Source for Picky {
    fn summary(&self) -> ttlog_tui::Summary {
        self.0.summary()
    }
    fn add_input(&self, path: &Path, progress: &ttlog_tui::Progress) -> Result<InputInfo, ttlog_tui::LoadError> {
        self.0.add_input(path, progress)
    }
    fn check(&self, expr: &str) -> Result<(), ttlog_tui::FilterError> {
        self.0.check(expr)
    }
    fn filter(
        &self,
        query: &ttlog_tui::Query,
        progress: &ttlog_tui::Progress,
    ) -> Result<Arc<dyn ttlog_tui::View>, ttlog_tui::FilterError> {
        if query.expr.contains("qty>50") {
            return Err(ttlog_tui::FilterError::new(4, "qty is a number"));
        }
        self.0.filter(query, progress)
    }
    fn group_keys(&self) -> Vec<String> {
        self.0.group_keys()
    }
}

#[test]
fn a_filter_failing_when_applied_keeps_the_view_and_its_filter() {
    let mut app = app_on(Arc::new(Picky(Arc::new(EngineSource::new()))), "");
    keys(&mut app, "flevel=error\n");
    assert_eq!(app.shown(), 10);
    keys(&mut app, "f and qty>50\n");
    assert_eq!(app.shown(), 10);
    assert_eq!(app.filter(), "level=error");
    assert!(app.message().unwrap().contains("qty is a number"), "{:?}", app.message());
    // While typing, the error shows in the prompt.
    keys(&mut app, "f and qty>50");
    tick(&mut app);
    assert_eq!(app.prompt_error().unwrap().column, 4);
}

/// The screen without its timeline (rows 2–5), which the index draws from
/// sampled timestamps.
fn screen_but_timeline(app: &App) -> String {
    let s = screen(app);
    s.lines().enumerate().filter(|(i, _)| !(2..6).contains(i)).map(|(_, l)| format!("{l}\n")).collect()
}

#[test]
fn the_index_shows_what_the_loaded_events_show() {
    // Inputs above the index threshold stay in their files: pages decode
    // their chunks, filters run over the chunks. Every screen but the
    // timeline is the same as with the events loaded.
    let sequences = [
        "",
        "jjjjjjjjjjjjj\n",
        "G",
        "G\n",
        "flevel>=warn and desk~fx\n",
        "flevel>=warn and desk~fx\nG",
        "f(target=db or target=cache) and not level=debug\n",
        "5",
        "12",
        "/disk\nnn",
        "/NVDA\nN",
        "eeE",
        "emjjjmg'",
        "s",
        "flevel=error\ns",
        "b",
        "bjjjjjjjjjjjjj\n",
        "b\n",
        "b\nj\n",
        "fid>100\nb\n",
        "t\x1500:37:30\n",
        "flevel>=info\nt\x1500:37:30\n",
        "?",
    ];
    for seq in sequences {
        let mut loaded = app_on(Arc::new(EngineSource::new()), "");
        let mut indexed = app_on(Arc::new(EngineSource::indexing_above(1)), "");
        for app in [&mut loaded, &mut indexed] {
            for c in seq.chars() {
                match c {
                    '\n' => key(app, KeyCode::Enter),
                    '\x15' => {
                        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
                        app.run_tasks_inline();
                    }
                    c => key(app, KeyCode::Char(c)),
                }
            }
        }
        assert_eq!(indexed.shown(), loaded.shown(), "{seq:?}");
        assert_eq!(indexed.selected(), loaded.selected(), "{seq:?}");
        assert_eq!(indexed.filter(), loaded.filter(), "{seq:?}");
        assert_eq!(indexed.marks(), loaded.marks(), "{seq:?}");
        assert_eq!(screen_but_timeline(&indexed), screen_but_timeline(&loaded), "{seq:?}");
    }
}

#[test]
fn the_index_exports_and_counts_as_the_loaded_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    for (i, source) in [EngineSource::new(), EngineSource::indexing_above(1)].into_iter().enumerate() {
        let mut app = app_on(Arc::new(source), "");
        keys(&mut app, "flevel>=warn\n");
        let path = dir.path().join(format!("out{i}.ndjson"));
        keys(&mut app, "x");
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        keys(&mut app, &format!("{}\n", path.display()));
        texts.push(std::fs::read_to_string(&path).unwrap());
        let h = app.histogram().expect("a timeline");
        assert_eq!(h.buckets.iter().map(|b| b.total).sum::<u64>(), 30);
        assert_eq!(h.buckets.iter().map(|b| b.error).sum::<u64>(), 10);
    }
    assert_eq!(texts[0].lines().count(), 30);
    assert_eq!(texts[0], texts[1]);
}

#[test]
fn last_moments_read_back_at_most_what_they_are_told() {
    let source = source();
    let progress = Progress::new();
    let view = source.filter(&ttlog_tui::Query::new(""), &progress).unwrap();
    let summary = source.summary();
    let all = ttlog_tui::last_moments(view.as_ref(), &summary, 3, 10, usize::MAX, &progress);
    let names: Vec<&str> = all.iter().map(|t| &*t.thread).collect();
    assert_eq!(names, ["worker-2", "main", "worker-1"], "quiet first, last to write at the bottom");
    for t in &all {
        assert_eq!(t.rows.len(), 10);
        assert!(t.rows.iter().all(|r| r.thread == t.thread));
        assert!(t.rows.windows(2).all(|w| w[0].timestamp_ns < w[1].timestamp_ns), "oldest first");
    }
    // Events 197, 198 and 199 are the last of worker-2, main and worker-1.
    assert_eq!(all[2].rows[9].timestamp_ns - all[0].rows[9].timestamp_ns, 2 * 50_000_000);
    // Two rows read back: the two threads that wrote them, one event each.
    let few = ttlog_tui::last_moments(view.as_ref(), &summary, 3, 10, 2, &progress);
    let names: Vec<(&str, usize)> = few.iter().map(|t| (&*t.thread, t.rows.len())).collect();
    assert_eq!(names, [("main", 1), ("worker-1", 1)]);
}
