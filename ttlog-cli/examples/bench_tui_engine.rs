//! The TUI's targets on 10 M events (DESIGN.md §4: first screen ≤ 1 s,
//! filter change ≤ 200 ms, ≤ 100 bytes of memory per loaded event) and at
//! fleet scale (issue 16: 87.5 M events from a directory, first screen
//! ≤ 1 s, filter change ≤ 2 s, ≤ 16 bytes per event), measured
//! on the polars engine that `ttlog-view -i` uses ([`EngineSource`]), through
//! the app itself: tasks on worker threads, one draw per message into a
//! 160×50 `TestBackend`, as the terminal runner does.
//!
//! ```sh
//! cargo run --release -p ttlog-cli --example bench_tui_engine     # writes target/ttlog-tui-bench/10m.bin once
//! cargo run --release -p ttlog-cli --example bench_tui_engine -- FILE    # any snapshot
//! cargo run --release -p ttlog-cli --example bench_tui_engine -- DIR 'target=http and latency_us>4900' …
//! ```
//!
//! A directory's snapshots are given to the app together, as `ttlog-view -i
//! DIR` does; filters after the path replace the default ones (which fit
//! the generated order service).
//!
//! The default file is written by this program's generator in a child
//! process, so that its rings do not count in the memory measured here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ttlog_cli::EngineSource;
use ttlog_core::{Trace, debug, error, info, warn};
use ttlog_tui::{App, Msg, Progress, Query, Source, render};

const EVENTS: u64 = 10_000_000;
const THREADS: u64 = 2;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--generate") {
        let events = args.get(2).map_or(EVENTS, |n| n.parse().expect("a number of events"));
        generate(Path::new(&args[1]), events);
        return;
    }
    let filters: Vec<String> = args.iter().skip(1).cloned().collect();
    let path = match args.first() {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
            let p = target.join("ttlog-tui-bench/10m.bin");
            if !p.exists() {
                eprintln!("writing {} (10 M events, once)…", p.display());
                let status = std::process::Command::new(std::env::current_exe().expect("current exe"))
                    .arg("--generate")
                    .arg(&p)
                    .status()
                    .expect("run the generator");
                assert!(status.success());
            }
            p
        }
    };
    measure(&path, &filters);
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// CPU time of every thread of this process so far (10 ms resolution).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at 3.
    let field = |i: usize| f.get(i - 3).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((field(14) + field(15)) * 10)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn draw(app: &App, t: &mut Terminal<TestBackend>) {
    t.draw(|f| render(app, f)).expect("draw");
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn measure(path: &Path, filters: &[String]) {
    let inputs: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read the directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let disk: u64 = inputs.iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    let size = (160u16, 50u16);
    let mut term = Terminal::new(TestBackend::new(size.0, size.1)).expect("terminal");
    let rss0 = rss();

    // First screen: the first events in the table; then everything loaded.
    let t = Instant::now();
    let source = Arc::new(EngineSource::new());
    let mut app = App::new(source.clone(), "", size);
    for p in &inputs {
        app.update(Msg::Input(p.clone()));
    }
    app.inputs_given();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut first = None;
    let mut peak = 0;
    loop {
        for task in app.take_tasks() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(task.run());
            });
        }
        draw(&app, &mut term);
        if first.is_none() && app.shown() > 0 {
            first = Some((t.elapsed(), app.shown()));
        }
        peak = peak.max(rss());
        if !app.busy() && app.shown() as u64 == source.summary().total_events() && app.shown() > 0 {
            break;
        }
        let msg = rx.recv_timeout(Duration::from_millis(250)).unwrap_or(Msg::Tick);
        app.update(msg);
    }
    let full = t.elapsed();
    let (first, first_rows) = first.expect("a first screen");
    let events = app.shown() as u64;
    let rss1 = rss();
    // Issue 16's targets: the loaded engine up to 20 M events, the index
    // above.
    let indexed = events > ttlog_cli::tui_source::INDEX_ABOVE;
    let (memory_target, filter_target) = if indexed { ("16", "2 s") } else { ("100", "200 ms") };
    println!(
        "input                  {} ({} files, {} events once each, {:.1} bytes/event on disk)",
        path.display(),
        inputs.len(),
        events,
        disk as f64 / events as f64
    );
    println!("first screen           {}   ({first_rows} events shown, the rest loading; target ≤ 1 s)", ms(first));
    println!("everything loaded      {}   (all events shown)", ms(full));
    println!(
        "memory                 {:.1} bytes/event   ({} MB resident for {} events, all shown; peak while loading {:.1} bytes/event; target ≤ {memory_target})",
        (rss1 - rss0) as f64 / events as f64,
        (rss1 - rss0) >> 20,
        events,
        (peak - rss0) as f64 / events as f64
    );

    // Filter changes through the app: Enter in the prompt to the new page
    // on screen; then the timeline, which comes after.
    let default = [
        "level>=warn",
        "symbol=NVDA",
        "qty>=4000",
        "target=risk and level=warn",
        "target=risk and level=warn and used>0.95",
        "req<1000",
        "",
    ];
    let mut exprs: Vec<&str> = filters.iter().map(String::as_str).collect();
    if exprs.is_empty() {
        exprs = default.to_vec();
    } else {
        exprs.push("");
    }
    for expr in exprs {
        key(&mut app, KeyCode::Char('f'));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        for c in expr.chars() {
            key(&mut app, KeyCode::Char(c));
        }
        let t = Instant::now();
        let c = cpu();
        key(&mut app, KeyCode::Enter);
        for task in app.take_tasks() {
            let m = task.run();
            app.update(m);
        }
        draw(&app, &mut term);
        let table = t.elapsed();
        let table_cpu = cpu() - c;
        app.run_tasks_inline();
        draw(&app, &mut term);
        let all = t.elapsed();
        println!(
            "filter {:<42} {:>9} shown: table {:>6} (CPU {:>6}), with timeline {:>6}   (target ≤ {filter_target}; then {:.0} bytes/event)",
            format!("{expr:?}"),
            app.shown(),
            ms(table),
            ms(table_cpu),
            ms(all),
            (rss() - rss0) as f64 / events as f64
        );
    }
    println!("memory after filters   {:.1} bytes/event", (rss() - rss0) as f64 / events as f64);

    // Searches through the app from the top: Enter to the hit on screen,
    // then the hit count ("hit 1 of N"), which is counted after the jump.
    let searches: Vec<&str> =
        if filters.is_empty() { vec!["NVDA", "giving up", "no such text"] } else { vec!["no such text"] };
    for text in searches {
        key(&mut app, KeyCode::Home);
        key(&mut app, KeyCode::Char('/'));
        for c in text.chars() {
            key(&mut app, KeyCode::Char(c));
        }
        let t = Instant::now();
        key(&mut app, KeyCode::Enter);
        let mut found = None;
        loop {
            let tasks = app.take_tasks();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                let m = task.run();
                let is_found = matches!(m, Msg::Found { .. });
                app.update(m);
                draw(&app, &mut term);
                if is_found && found.is_none() {
                    found = Some(t.elapsed());
                }
            }
        }
        println!(
            "search {:<41} {}   (then {} until \"{}\")",
            format!("/{text}"),
            ms(found.unwrap_or_default()),
            ms(t.elapsed()),
            app.message().unwrap_or("")
        );
    }

    // Loading alone (after the filters: the memory a second dataset leaves
    // with the allocator would count in theirs).
    let t = Instant::now();
    let c = cpu();
    let alone = EngineSource::new();
    for r in alone.add_inputs(&inputs, &Progress::new()) {
        r.expect("load");
    }
    let load = t.elapsed();
    let load_cpu = cpu() - c;
    drop(alone);
    println!(
        "load alone             {}   ({:.1} M events/s; CPU {} on 2 threads)",
        ms(load),
        events as f64 / load.as_secs_f64() / 1e6,
        ms(load_cpu)
    );

    let view = source.filter(&Query::new(""), &Progress::new()).expect("no filter");
    let t = Instant::now();
    key(&mut app, KeyCode::End);
    draw(&app, &mut term);
    key(&mut app, KeyCode::PageUp);
    draw(&app, &mut term);
    key(&mut app, KeyCode::Home);
    draw(&app, &mut term);
    println!("End, PgUp, Home        {:.2} ms for the three, drawn", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let _ = view.stats();
    println!("stats                  {}", ms(t.elapsed()));
    let keys = if filters.is_empty() { ["target", "symbol"] } else { ["target", "level"] };
    for key in keys {
        let t = Instant::now();
        let g = view.group_by(key, 500).expect("group-by");
        println!("group by {key:<13} {}   ({} groups)", ms(t.elapsed()), g.groups.len());
    }
}

/// Writes a snapshot of `events` events from `THREADS` threads of a
/// simulated order service to `path` (6 call sites per request, 3–4 fields
/// each; also the demo data of `scripts/screenshots.sh`).
fn generate(path: &Path, events: u64) {
    let dir = path.parent().expect("a directory");
    std::fs::create_dir_all(dir).expect("create the directory");
    let per_thread = events / THREADS;
    let trace = Trace::builder()
        .service("orders")
        .level(ttlog_core::Level::Debug)
        .capacity_events(per_thread as usize + 1000)
        .storage_path(dir)
        .snapshot_on_signals(false)
        .snapshot_interval(None)
        .install()
        .expect("install");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut rnd = move |n: u64| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % n
                };
                const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "NFLX"];
                const VENUES: [&str; 4] = ["XNAS", "XNYS", "BATS", "IEXG"];
                let mut n = 0;
                let mut req = t << 40;
                while n < per_thread {
                    req += 1;
                    let sym = SYMBOLS[rnd(8) as usize];
                    let qty = 100 * (1 + rnd(50));
                    info!(target: "http", "request accepted", req = req, path = "/v1/orders", bytes = 180 + rnd(64));
                    debug!(target: "risk", "risk ok", req = req, used = rnd(1000) as f64 / 1000.0);
                    info!(target: "orders", "order received", req = req, symbol = sym, qty = qty, price = 100.0 + rnd(10_000) as f64 / 100.0);
                    match rnd(40) {
                        0 => error!(target: "fix", "reject", req = req, venue = VENUES[rnd(4) as usize], code = 11u32),
                        1..=3 => warn!(target: "risk", "limit near", req = req, used = 0.9 + rnd(100) as f64 / 1000.0),
                        _ => info!(target: "orders", "filled", req = req, qty = qty, venue = VENUES[rnd(4) as usize]),
                    }
                    debug!(target: "db", "fill stored", req = req, table = "fills", us = 50 + rnd(400));
                    info!(target: "http", "response sent", req = req, status = 200u16, us = 300 + rnd(3000));
                    n += 6;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("generator thread");
    }
    let written = trace.request_snapshot("bench").expect("snapshot");
    std::fs::rename(&written, path).expect("rename");
}
